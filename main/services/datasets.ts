// Datasets: inspect a path, import it (copy under <data>/datasets/<folder>/files, hash it,
// record it, measure it), preview, re-measure with another mapping/template/model, build the
// tokenized cache the trainer reads, delete. The app owns only what it copied: delete removes
// files only when the row says `copied` and they live under the data folder.
//
// Layout of one imported dataset:
//   <data>/datasets/<hash12>-<time36>/files/...   the copied file (or the folder's data files)
//   <data>/datasets/<hash12>-<time36>/cache/*.hktc tokenized caches (common/datasets/cache-format.ts)
// The folder name is not the row id: the row is written last, after every check passed.
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { ColumnMapping, PromptTemplate } from '../../common/datasets';
import { templateByName } from '../../common/datasets';
import { AppError } from '../../common/contract/errors';
import type { Dataset } from '../../common/contract/datasets';
import type { Db } from '../store/db';
import { deleteDataset, findModel, getDataset, insertDataset, listDatasets, updateDatasetPreparation } from '../store/repositories';
import {
  findTokenizedCache,
  inspectDataset,
  readDatasetPath,
  sha256Files,
  writeTokenizedCache,
  type DatasetSummary,
  type InspectOptions,
  type InspectResult,
} from '../io/datasets';
import { loadTokenizer, type LoadedTokenizer } from '../io/tokenizers';
import { pullRepo, type PullOptions, type PullProgress, type PullResult } from '../io/hub/pull';

export interface PrepareRequest {
  questionColumn?: string;
  answerColumn?: string;
  template?: 'default' | 'teknofest' | { input: string; target: string };
  modelId?: number;
  tokenizerPath?: string;
  splitRatio?: number;
  seed?: number;
  testFile?: string;
  validationFile?: string;
  maxInputLength?: number;
  maxTargetLength?: number;
}

export interface DatasetsContext {
  db: Db;
  /** <data>/datasets */
  datasetsDir: string;
}

function tokenizerFor(ctx: DatasetsContext, req: { modelId?: number; tokenizerPath?: string }): LoadedTokenizer | undefined {
  if (req.tokenizerPath) return loadTokenizer(req.tokenizerPath);
  if (req.modelId !== undefined) {
    const model = findModel(ctx.db, req.modelId);
    if (!model) throw new AppError('not_found', `Model ${req.modelId} does not exist.`);
    return loadTokenizer(model.storedPath);
  }
  return undefined;
}

function optionsOf(ctx: DatasetsContext, req: PrepareRequest): InspectOptions {
  const splitFiles: InspectOptions['splitFiles'] = {};
  if (req.testFile) splitFiles.test = req.testFile;
  if (req.validationFile) splitFiles.validation = req.validationFile;
  return {
    mapping: { question: req.questionColumn, answer: req.answerColumn },
    template: req.template,
    tokenizer: tokenizerFor(ctx, req),
    split: { ratio: req.splitRatio, seed: req.seed },
    splitFiles,
    maxLengths: { input: req.maxInputLength, target: req.maxTargetLength },
  };
}

export async function inspectDatasetPath(ctx: DatasetsContext, p: string, req: PrepareRequest = {}): Promise<DatasetSummary> {
  return (await inspectDataset(p, optionsOf(ctx, req))).summary;
}

/** What the database row keeps of a summary (lists are already cut to 100 by inspect). */
function statsForRow(s: DatasetSummary, split: { ratio?: number; seed?: number }): Record<string, unknown> {
  return {
    split: { ratio: split.ratio ?? 0.1, seed: split.seed ?? 42, source: s.splitSource },
    skipped: s.skipped,
    duplicates: s.duplicates,
    tokenizer: s.tokenizer ?? null,
    tokens: s.stats ?? null,
    files: s.files,
    columns: s.columns,
  };
}

/** <data>/datasets/<folder> of a stored dataset. */
export function datasetDir(d: Pick<Dataset, 'storedPath' | 'format'>): string {
  const files = d.format === 'hf-folder' ? d.storedPath : path.dirname(d.storedPath);
  return path.dirname(files);
}

/**
 * `origin.sourcePath` is what the row records as where the data came from when that is not
 * the path read (a Hub pull: hf://datasets/<repo>@<rev>, not the staging folder).
 */
export async function importDataset(
  ctx: DatasetsContext,
  p: string,
  req: PrepareRequest & { name?: string } = {},
  origin: { sourcePath?: string } = {},
): Promise<{ dataset: Dataset; summary: DatasetSummary }> {
  // Everything is checked on the source before anything is copied or recorded.
  const opts = optionsOf(ctx, req);
  const first = await inspectDataset(p, opts);
  const src = first.source;
  const hash = await sha256Files(src.format === 'hf-folder' ? src.root : src.files[0], src.files);
  const dir = path.join(ctx.datasetsDir, `${hash.slice(0, 12)}-${Date.now().toString(36)}`);
  const filesDir = path.join(dir, 'files');
  mkdirSync(filesDir, { recursive: true });
  let storedPath: string;
  const splitFiles: Record<string, string> = {};
  try {
    const copyIn = (f: string, rel: string): string => {
      const to = path.join(filesDir, rel);
      mkdirSync(path.dirname(to), { recursive: true });
      copyFileSync(f, to);
      return to;
    };
    if (src.format === 'hf-folder') {
      for (const f of src.files) {
        const rel = path.relative(src.root, f);
        if (rel.startsWith('..')) splitFiles[f] = copyIn(f, path.join('_extra', path.basename(f)));
        else copyIn(f, rel);
      }
      storedPath = filesDir;
    } else {
      storedPath = copyIn(src.files[0], path.basename(src.files[0]));
      for (const f of src.files.slice(1)) splitFiles[f] = copyIn(f, path.join('_extra', path.basename(f)));
    }
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new AppError('io_error', `Cannot copy the dataset into ${dir}: ${(e as Error).message}`);
  }
  const summary = first.summary;
  const same = listDatasets(ctx.db).filter((d) => d.contentHash === hash);
  if (same.length) summary.notes.push(`The same content was already imported as ${same.map((d) => `“${d.name}” (#${d.id})`).join(', ')}.`);
  if (first.tokenized && summary.tokenizer && opts.tokenizer && typeof opts.tokenizer !== 'string') {
    const tok = opts.tokenizer.tokenizer;
    writeTokenizedCache(path.join(dir, 'cache'), { datasetHash: hash, tokenizerHash: summary.tokenizer.hash, template: summary.template, eosId: tok.eosId, padId: tok.padId }, first.tokenized);
  }
  const rows = summary.rows;
  const total = (rows.train ?? 0) + (rows.validation ?? 0) + (rows.test ?? 0);
  const template = { name: summary.template.name ?? 'custom', input: summary.template.input, target: summary.template.target };
  const dataset = insertDataset(ctx.db, {
    name: req.name?.trim() || path.basename(src.root).replace(/\.(json|jsonl|csv|parquet)$/i, ''),
    format: src.format,
    sourcePath: origin.sourcePath ?? src.root,
    storedPath,
    contentHash: hash,
    rowCount: total,
    trainRows: rows.train ?? null,
    validationRows: rows.validation ?? null,
    testRows: rows.test ?? null,
    skippedRows: summary.skippedCount,
    columnMapping: { ...summary.mapping },
    template,
    stats: { ...statsForRow(summary, { ratio: req.splitRatio, seed: req.seed }), extraSplitFiles: splitFiles },
    copied: true,
  });
  return { dataset, summary };
}

function storedMapping(d: Dataset): ColumnMapping {
  const m = d.columnMapping as Partial<ColumnMapping>;
  if (typeof m.question !== 'string' || typeof m.answer !== 'string') throw new AppError('internal', `Dataset ${d.id} has no column mapping.`);
  return { question: m.question, answer: m.answer };
}

function storedTemplate(d: Dataset): PromptTemplate & { name?: string } {
  const t = d.template as { name?: string; input?: string; target?: string };
  if (typeof t.input === 'string' && typeof t.target === 'string') return { name: t.name, input: t.input, target: t.target };
  return { name: 'default', ...templateByName('default') };
}

function storedSplit(d: Dataset): { ratio?: number; seed?: number; splitFiles: InspectOptions['splitFiles'] } {
  const s = (d.stats.split ?? {}) as { ratio?: number; seed?: number };
  const extra = (d.stats.extraSplitFiles ?? {}) as Record<string, string>;
  const splitFiles: InspectOptions['splitFiles'] = {};
  // A test/validation file given next to a single file was copied to files/_extra/.
  for (const copied of Object.values(extra)) {
    const base = path.basename(copied).toLowerCase();
    if (base.startsWith('test')) splitFiles.test = copied;
    else if (/^(validation|valid|val|dev)/.test(base)) splitFiles.validation = copied;
  }
  return { ratio: s.ratio, seed: s.seed, splitFiles };
}

function stored(ctx: DatasetsContext, id: number): Dataset {
  const d = getDataset(ctx.db, id);
  if (!existsSync(d.storedPath)) throw new AppError('not_found', `The files of dataset ${id} are missing (${d.storedPath}).`);
  return d;
}

export async function previewDataset(ctx: DatasetsContext, id: number, limit = 20) {
  const d = stored(ctx, id);
  const src = await readDatasetPath(d.storedPath);
  const table = (src.tables.train ?? Object.values(src.tables)[0] ?? [])[0];
  return {
    columns: table?.columns ?? [],
    mapping: storedMapping(d),
    rows: (table?.rows ?? []).slice(0, limit),
    origins: (table?.origins ?? []).slice(0, limit).map((o) => ({ ...o, file: path.basename(o.file) })),
  };
}

/** Re-reads a stored dataset with its stored (or new) mapping/template/model; updates the row. */
export async function recomputeStats(
  ctx: DatasetsContext,
  id: number,
  req: Omit<PrepareRequest, 'splitRatio' | 'seed' | 'testFile' | 'validationFile'> = {},
): Promise<{ dataset: Dataset; summary: DatasetSummary; result: InspectResult }> {
  const d = stored(ctx, id);
  const mapping = storedMapping(d);
  const split = storedSplit(d);
  const template = req.template ?? storedTemplate(d);
  const tokenizer = tokenizerFor(ctx, req) ?? (d.stats.tokenizer ? safeLoad((d.stats.tokenizer as { file: string }).file) : undefined);
  const result = await inspectDataset(d.storedPath, {
    mapping: { question: req.questionColumn ?? mapping.question, answer: req.answerColumn ?? mapping.answer },
    template,
    tokenizer,
    split: { ratio: split.ratio, seed: split.seed },
    splitFiles: split.splitFiles,
    maxLengths: { input: req.maxInputLength, target: req.maxTargetLength },
  });
  const s = result.summary;
  const dataset = updateDatasetPreparation(ctx.db, id, {
    columnMapping: { ...s.mapping },
    template: { name: s.template.name ?? 'custom', input: s.template.input, target: s.template.target },
    stats: { ...d.stats, ...statsForRow(s, split) },
  });
  return { dataset, summary: s, result };
}

function safeLoad(file: string): LoadedTokenizer | undefined {
  try {
    return existsSync(file) ? loadTokenizer(file) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The trainer's entry: the tokenized cache file of dataset `id` for the tokenizer at
 * `tokenizerPath` (a model folder) and the dataset's template (or the one given). Built on
 * first use, reused while the dataset, tokenizer and template hashes match.
 */
export async function ensureTokenizedCache(
  ctx: DatasetsContext,
  id: number,
  tokenizerPath: string,
  template?: PromptTemplate,
): Promise<string> {
  const d = stored(ctx, id);
  const tok = loadTokenizer(tokenizerPath);
  const t = template ?? storedTemplate(d);
  const cacheDir = path.join(datasetDir(d), 'cache');
  const hash = d.contentHash ?? 'nohash';
  const hit = findTokenizedCache(cacheDir, hash, tok.hash, t);
  if (hit) return hit;
  const split = storedSplit(d);
  const { tokenized } = await inspectDataset(d.storedPath, {
    mapping: storedMapping(d),
    template: t,
    tokenizer: tok,
    split: { ratio: split.ratio, seed: split.seed },
    splitFiles: split.splitFiles,
  });
  return writeTokenizedCache(cacheDir, { datasetHash: hash, tokenizerHash: tok.hash, template: t, eosId: tok.tokenizer.eosId, padId: tok.tokenizer.padId }, tokenized!);
}

export interface PullDatasetRequest extends PrepareRequest {
  repo: string;
  revision?: string;
  name?: string;
  token?: string;
}

/**
 * Downloads a Hub dataset repository (resumable, verified; main/io/hub/pull.ts) into
 * <data>/downloads/ and imports it like a local folder, so it is listed with its statistics.
 * The download is the app's own staging copy: removed once imported (the import keeps its
 * own copy), kept when the import fails so a second try does not download again.
 */
export async function pullDataset(
  ctx: DatasetsContext & { dataDir: string },
  req: PullDatasetRequest,
  hub: Pick<PullOptions, 'endpoint' | 'fetch' | 'signal'> & { onProgress?: (p: PullProgress) => void } = {},
): Promise<{ dataset: Dataset; summary: DatasetSummary; files: PullResult['files'] }> {
  const { repo, revision, name, token, ...prepare } = req;
  const pulled = await pullRepo({ kind: 'dataset', repo, revision, dataDir: ctx.dataDir, token, ...hub });
  const rev = pulled.listing.sha ? `${revision ?? 'main'}@${pulled.listing.sha.slice(0, 12)}` : (revision ?? 'main');
  const { dataset, summary } = await importDataset(ctx, pulled.dir, { ...prepare, name: name ?? repo }, { sourcePath: `hf://datasets/${repo}@${rev}` });
  await rm(pulled.dir, { recursive: true, force: true });
  return { dataset, summary, files: pulled.files };
}

export function removeDataset(ctx: DatasetsContext, id: number): { deleted: boolean; removedFiles: boolean } {
  const d = getDataset(ctx.db, id);
  deleteDataset(ctx.db, id);
  // Only the app's own copy, and only inside the data folder: never a user's file.
  const dir = datasetDir(d);
  const inside = path.resolve(dir).startsWith(path.resolve(ctx.datasetsDir) + path.sep);
  if (d.copied && inside && existsSync(dir)) {
    rmSync(dir, { recursive: true, force: true });
    return { deleted: true, removedFiles: true };
  }
  return { deleted: true, removedFiles: false };
}

export function listAllDatasets(ctx: DatasetsContext): Dataset[] {
  return listDatasets(ctx.db);
}
