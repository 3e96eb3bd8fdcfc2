// hukuk pull model <owner/name> [--revision R] [--name N] [--token T] [--json]
// hukuk pull dataset <owner/name> [--revision R] [--token T] [--json]
// The only commands that go online. The endpoint is $HF_ENDPOINT (default huggingface.co);
// the token comes from --token or $HF_TOKEN and is never printed. An interrupted pull
// resumes where it stopped when run again.
import { rename, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AppError } from '../../../common/contract/errors';
import { redact } from '../../io/hub/client';
import { pullRepo } from '../../io/hub/pull';
import { EnvTokenStore, resolveToken } from '../../io/hub/token-store';
import { dataPaths } from '../../services';
import type { CliContext } from '../types';
import { formatBytes, progressLine, withService } from './model';

export const summary = 'download from the Hugging Face Hub: pull model|dataset <owner/name> (resumes; $HF_ENDPOINT, $HF_TOKEN)';

const USAGE = 'usage: hukuk pull model|dataset <owner/name> [--revision R] [--name N] [--token T] [--json]';

export async function run(args: string[], ctx: CliContext): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { revision: { type: 'string' }, name: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean' } },
      strict: true,
    });
  } catch (e) {
    ctx.stderr(`hukuk pull: ${redact((e as Error).message)}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [kind, repo] = positionals;
  if ((kind !== 'model' && kind !== 'dataset') || !repo || positionals.length !== 2) {
    ctx.stderr(USAGE);
    return 2;
  }
  const token = await resolveToken(values.token, new EnvTokenStore());
  const progress = values.json ? undefined : progressLine(ctx);
  try {
    if (kind === 'model') {
      const r = await withService(ctx, (svc) => svc.pull({ repo, revision: values.revision, name: values.name, token }, progress));
      if (values.json) ctx.stdout(JSON.stringify(r, null, 2));
      else {
        ctx.stdout(`pulled ${repo} as model ${r.model.id} "${r.model.name}" (${formatBytes(r.model.diskBytes ?? 0)}) into ${r.model.storedPath}`);
        r.warnings.forEach((w) => ctx.stdout(`  warning: ${w}`));
      }
      return 0;
    }
    // Datasets: download, then keep the folder under <data>/datasets/ for `hukuk dataset inspect`.
    const result = await pullRepo({ kind: 'dataset', repo, revision: values.revision, dataDir: ctx.dataDir, token, onProgress: progress });
    const sha = result.listing.sha ? `-${result.listing.sha.slice(0, 8)}` : '';
    const dest = join(dataPaths(ctx.dataDir).datasets, `hf-${repo.replace('/', '--')}${sha}`);
    if (existsSync(dest)) await rm(dest, { recursive: true, force: true });
    await rename(result.dir, dest);
    const out = { repo, dir: dest, files: result.files.map((f) => ({ path: f.path, bytes: f.bytes })) };
    if (values.json) ctx.stdout(JSON.stringify(out, null, 2));
    else {
      ctx.stdout(`pulled dataset ${repo} into ${dest}:`);
      out.files.forEach((f) => ctx.stdout(`  ${f.path} (${formatBytes(f.bytes)})`));
      ctx.stdout(`next: hukuk dataset inspect ${dest}`);
    }
    return 0;
  } catch (e) {
    const msg = e instanceof AppError ? e.message : String((e as Error)?.message ?? e);
    ctx.stderr(`hukuk pull ${kind} ${repo}: ${redact(msg, token)}`);
    return 1;
  }
}
