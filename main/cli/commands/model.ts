// hukuk model inspect <dir> [--json]        check a model folder the way the importer does
// hukuk model import <dir> [--reference] [--name N] [--json]
// hukuk model list [--json]
// hukuk model delete <id> --yes             removes the row, and the files only if the app copied them
import { parseArgs } from 'node:util';
import { AppError } from '../../../common/contract/errors';
import type { Model, ModelSummary } from '../../../common/contract/models';
import { summarize, ModelsService, sqliteModelStore } from '../../services/models';
import { inspectModelFolder } from '../../io/models/inspect';
import { openDatabase } from '../../store/db';
import { dataPaths } from '../../services';
import { withDataFolderLock } from '../../services/data-lock';
import type { CliContext } from '../types';

export const summary = 'model folders: inspect <dir> | import <dir> [--reference] | list | delete <id> --yes';

const USAGE = 'usage: hukuk model inspect <dir> [--json] | import <dir> [--reference] [--name N] [--json] | list [--json] | delete <id> --yes';

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n >= 100 ? 0 : 1)} ${units[i]}`;
}

export function formatParams(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

export function formatSummary(s: ModelSummary): string[] {
  return [
    `${s.name}  (${s.architecture}, model_type ${s.modelType})`,
    `  folder:      ${s.dir}`,
    `  weights:     ${s.format}: ${s.weightFiles.join(', ')} (${s.tensorCount} tensors, ${s.dtype})`,
    `  parameters:  ${formatParams(s.paramCount)} (${s.paramCount.toLocaleString('en-US')})`,
    `  layers:      ${s.numLayers} encoder + ${s.numDecoderLayers} decoder, d_model ${s.dModel}, d_ff ${s.dFf}, ${s.numHeads} heads x d_kv ${s.dKv}`,
    `  FFN:         ${s.feedForwardProj}; embeddings ${s.tieWordEmbeddings ? 'tied' : 'untied'}; relative attention ${s.relativeAttentionNumBuckets} buckets / ${s.relativeAttentionMaxDistance} max distance`,
    `  vocabulary:  ${s.vocabSize}; tokenizer: ${[s.tokenizer.spieceModel && 'spiece.model', s.tokenizer.tokenizerJson && 'tokenizer.json'].filter(Boolean).join(', ') || 'none'}`,
    `  disk:        ${formatBytes(s.diskBytes)}`,
    ...s.warnings.map((w) => `  warning:     ${w}`),
  ];
}

function formatModel(m: Model): string {
  const layers = m.numLayers != null ? `${m.numLayers}+${m.numDecoderLayers}L` : '?';
  return `${String(m.id).padStart(4)}  ${m.name.padEnd(36)} ${(m.modelType ?? '?').padEnd(4)} ${formatParams(m.paramCount ?? 0).padStart(7)} ${layers.padStart(7)} vocab ${String(m.vocabSize ?? '?').padStart(6)} ${(m.dtype ?? '?').padEnd(5)} ${formatBytes(m.diskBytes ?? 0).padStart(8)}  ${m.copied ? 'copy' : 'reference'}`;
}

/** The models service over the data folder's database; `write` (the default) holds the data
 *  folder's lock meanwhile, so the app or `hukuk serve` cannot be writing at the same time. */
export async function withService<T>(ctx: CliContext, fn: (s: ModelsService) => Promise<T>, o: { write?: boolean } = {}): Promise<T> {
  const paths = dataPaths(ctx.dataDir);
  const body = async () => {
    const db = openDatabase(paths.db);
    const svc = new ModelsService(sqliteModelStore(db), { dataDir: paths.root, modelsDir: paths.models });
    return fn(svc).finally(() => db.close());
  };
  return o.write === false ? body() : withDataFolderLock(paths.root, body);
}

export function progressLine(ctx: CliContext): (p: { phase: string; file?: string; bytesDone: number; bytesTotal: number | null }) => void {
  let last = 0;
  let lastPhase = '';
  return (p) => {
    const now = Date.now();
    if (p.phase === lastPhase && now - last < 1000 && p.phase !== 'done') return;
    last = now;
    lastPhase = p.phase;
    const pct = p.bytesTotal ? ` ${((100 * p.bytesDone) / p.bytesTotal).toFixed(0)}%` : '';
    ctx.stderr(`${p.phase}${p.file ? ` ${p.file}` : ''}: ${formatBytes(p.bytesDone)}${p.bytesTotal ? ` of ${formatBytes(p.bytesTotal)}` : ''}${pct}`);
  };
}

export async function run(args: string[], ctx: CliContext): Promise<number> {
  const [sub, ...rest] = args;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { json: { type: 'boolean' }, reference: { type: 'boolean' }, name: { type: 'string' }, yes: { type: 'boolean' } },
      strict: true,
    });
  } catch (e) {
    ctx.stderr(`hukuk model: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const print = (v: unknown, lines: () => string[]) => (values.json ? ctx.stdout(JSON.stringify(v, null, 2)) : lines().forEach((l) => ctx.stdout(l)));
  try {
    switch (sub) {
      case 'inspect': {
        if (positionals.length !== 1) break;
        const s = summarize(await inspectModelFolder(positionals[0]));
        print(s, () => formatSummary(s));
        return 0;
      }
      case 'import': {
        if (positionals.length !== 1) break;
        const r = await withService(ctx, (svc) =>
          svc.import({ path: positionals[0], mode: values.reference ? 'reference' : 'copy', name: values.name }, values.json ? undefined : progressLine(ctx)),
        );
        print(r, () => [`imported: ${formatModel(r.model)}`, `  stored at ${r.model.storedPath}`, ...r.warnings.map((w) => `  warning: ${w}`)]);
        return 0;
      }
      case 'list': {
        const list = await withService(ctx, async (svc) => svc.list(), { write: false });
        print(list, () => (list.length ? list.map(formatModel) : ['no models imported yet (hukuk model import <dir>, hukuk pull model <repo>)']));
        return 0;
      }
      case 'delete': {
        if (positionals.length !== 1 || !/^\d+$/.test(positionals[0])) break;
        if (!values.yes) {
          ctx.stderr('hukuk model delete: add --yes to confirm (files are removed only if the app copied them)');
          return 2;
        }
        const r = await withService(ctx, (svc) => svc.delete(Number(positionals[0])));
        print(r, () => [r.deletedFiles ? `deleted the model and its files (${r.storedPath})` : `deleted the model; the folder ${r.storedPath} is yours and was left as is`]);
        return 0;
      }
    }
  } catch (e) {
    ctx.stderr(`hukuk model ${sub}: ${e instanceof AppError ? e.message : String(e)}`);
    return 1;
  }
  ctx.stderr(USAGE);
  return 2;
}
