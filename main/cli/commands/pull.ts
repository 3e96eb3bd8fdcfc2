// hukuk pull model <owner/name> [--revision R] [--name N] [--token T] [--json]
// hukuk pull dataset <owner/name> [--revision R] [--name N] [--token T] [--question-column C
//                   --answer-column C] [--json]        (then imported like `datasets:import`)
// The only commands that go online. The endpoint is $HF_ENDPOINT (default huggingface.co);
// the token comes from --token or $HF_TOKEN and is never printed. An interrupted pull
// resumes where it stopped when run again.
import { parseArgs } from 'node:util';
import { AppError } from '../../../common/contract/errors';
import { redact } from '../../io/hub/client';
import { EnvTokenStore, resolveToken } from '../../io/hub/token-store';
import { dataPaths } from '../../services';
import { withDataFolderLock } from '../../services/data-lock';
import { pullDataset } from '../../services/datasets';
import { openDatabase } from '../../store/db';
import type { CliContext } from '../types';
import { formatBytes, progressLine, withService } from './model';

export const summary = 'download from the Hugging Face Hub: pull model|dataset <owner/name> (resumes; $HF_ENDPOINT, $HF_TOKEN)';

const USAGE =
  'usage: hukuk pull model|dataset <owner/name> [--revision R] [--name N] [--token T] [--json]\n' +
  '       (dataset: [--question-column C --answer-column C] when the columns are not recognized)';

export async function run(args: string[], ctx: CliContext): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        revision: { type: 'string' },
        name: { type: 'string' },
        token: { type: 'string' },
        json: { type: 'boolean' },
        'question-column': { type: 'string' },
        'answer-column': { type: 'string' },
      },
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
    // Datasets: download, then import like a local folder (hashed, measured, listed).
    const paths = dataPaths(ctx.dataDir);
    const r = await withDataFolderLock(paths.root, async () => {
      const db = openDatabase(paths.db);
      try {
        return await pullDataset({ db, datasetsDir: paths.datasets, dataDir: paths.root }, {
            repo,
            revision: values.revision,
            name: values.name,
            token,
            questionColumn: values['question-column'],
            answerColumn: values['answer-column'],
          },
          { onProgress: progress },
        );
      } finally {
        db.close();
      }
    });
    const out = { repo, dataset: r.dataset, files: r.files.map((f) => ({ path: f.path, bytes: f.bytes })), notes: r.summary.notes };
    if (values.json) ctx.stdout(JSON.stringify(out, null, 2));
    else {
      const d = r.dataset;
      const rows = [['train', d.trainRows], ['validation', d.validationRows], ['test', d.testRows]].filter(([, n]) => n != null).map(([k, n]) => `${k} ${n}`);
      ctx.stdout(`pulled dataset ${repo} as dataset ${d.id} "${d.name}": ${d.rowCount} rows (${rows.join(', ')}), ${d.skippedRows} skipped`);
      out.files.forEach((f) => ctx.stdout(`  ${f.path} (${formatBytes(f.bytes)})`));
      out.notes.forEach((n) => ctx.stdout(`  note: ${n}`));
      ctx.stdout(`  stored at ${d.storedPath}`);
    }
    return 0;
  } catch (e) {
    const msg = e instanceof AppError ? e.message : String((e as Error)?.message ?? e);
    ctx.stderr(`hukuk pull ${kind} ${repo}: ${redact(msg, token)}`);
    return 1;
  }
}
