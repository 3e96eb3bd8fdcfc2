// `hukuk dataset inspect` and the app's import/statistics: read a dataset, map its columns,
// split it, tokenize it with the chosen model's tokenizer and template, and summarize what
// the user must know before training (rows per split, skipped rows and why, duplicates,
// token lengths and what each max length would truncate).
import {
  datasetStats,
  detectColumns,
  SPLIT_NAMES,
  preparePairs,
  templateByName,
  tokenizeSplit,
  type ColumnMapping,
  type DatasetStats,
  type PreparedPairs,
  type PromptTemplate,
  type QaPair,
  type SkippedRow,
  type SplitName,
  type SplitOptions,
  type TokenizedSplit,
  type DuplicateGroup,
  type RowOrigin,
} from '../../../common/datasets';
import type { T5Tokenizer } from '../../../common/tokenizer';
import { AppError } from '../../../common/contract/errors';
import { loadTokenizer, type LoadedTokenizer } from '../tokenizers';
import { readDatasetPath, type DatasetSource } from './readers';

export interface InspectOptions {
  mapping?: Partial<ColumnMapping>;
  /** Folder, spiece.model or tokenizer.json; or an already loaded tokenizer. */
  tokenizer?: string | LoadedTokenizer;
  template?: string | PromptTemplate;
  split?: SplitOptions;
  /** Given test/validation files that override the folder's (or a file's) own. */
  splitFiles?: Partial<Record<SplitName, string>>;
  maxLengths?: { input?: number; target?: number };
  /** How many rows of each list to include (default 100); counts are always complete. */
  listLimit?: number;
}

export interface DatasetSummary {
  path: string;
  format: string;
  files: string[];
  columns: string[];
  mapping: ColumnMapping;
  template: PromptTemplate & { name?: string };
  rows: Partial<Record<SplitName, number>>;
  splitSource: PreparedPairs['splitSource'];
  skippedCount: number;
  skipped: SkippedRow[];
  duplicates: { sameQuestion: number; sameAnswer: number; sameQuestionGroups: DuplicateGroup[]; sameAnswerGroups: DuplicateGroup[] };
  preview: Array<{ question: string; answer: string; origin: RowOrigin }>;
  /** About the files as a whole (e.g. a CSV read as Windows-1254). */
  notes: string[];
  tokenizer?: { file: string; kind: string; hash: string };
  stats?: Omit<DatasetStats, 'overLong'> & { overLongCount: number; overLong: DatasetStats['overLong'] };
}

export interface InspectResult {
  summary: DatasetSummary;
  source: DatasetSource;
  prepared: PreparedPairs;
  tokenized?: Partial<Record<SplitName, TokenizedSplit>>;
  tokenizer?: T5Tokenizer;
}

function resolveTemplate(t: InspectOptions['template']): PromptTemplate & { name?: string } {
  if (t === undefined) return { name: 'default', ...templateByName('default') };
  if (typeof t === 'string') {
    try {
      return { name: t, ...templateByName(t) };
    } catch (e) {
      throw new AppError('invalid_payload', (e as Error).message);
    }
  }
  return t;
}

export async function inspectDataset(p: string, opts: InspectOptions = {}): Promise<InspectResult> {
  const source = await readDatasetPath(p, opts.splitFiles);
  const all = Object.values(source.tables).flat();
  const columns = Array.from(new Set(all.flatMap((t) => t!.columns)));
  let mapping: ColumnMapping | undefined;
  if (opts.mapping?.question || opts.mapping?.answer) {
    const auto = detectColumns(columns);
    const q = opts.mapping.question ?? auto?.question;
    const a = opts.mapping.answer ?? auto?.answer;
    if (!q || !a) throw new AppError('invalid_payload', `Give both columns (columns: ${columns.join(', ')}).`);
    mapping = { question: q, answer: a };
  }
  let prepared: PreparedPairs;
  try {
    prepared = preparePairs(source.tables, { mapping, split: opts.split });
  } catch (e) {
    throw new AppError('invalid_payload', (e as Error).message);
  }
  const template = resolveTemplate(opts.template);
  const limit = opts.listLimit ?? 100;
  const rows: DatasetSummary['rows'] = {};
  for (const k of SPLIT_NAMES) if (prepared.splits[k]) rows[k] = prepared.splits[k]!.length;
  const firstSplit = (prepared.splits.train ?? Object.values(prepared.splits)[0] ?? []) as QaPair[];
  const summary: DatasetSummary = {
    path: source.root,
    format: source.format,
    files: source.files,
    columns,
    mapping: prepared.mapping,
    template,
    rows,
    splitSource: prepared.splitSource,
    skippedCount: prepared.skipped.length,
    skipped: prepared.skipped.slice(0, limit),
    duplicates: {
      sameQuestion: prepared.duplicates.sameQuestion.length,
      sameAnswer: prepared.duplicates.sameAnswer.length,
      sameQuestionGroups: prepared.duplicates.sameQuestion.slice(0, limit),
      sameAnswerGroups: prepared.duplicates.sameAnswer.slice(0, limit),
    },
    preview: firstSplit.slice(0, 10).map((x) => ({ question: x.question, answer: x.answer, origin: x.origin })),
    notes: all.flatMap((t) => t!.notes ?? []),
  };
  const result: InspectResult = { summary, source, prepared };
  if (opts.tokenizer) {
    const loaded = typeof opts.tokenizer === 'string' ? loadTokenizer(opts.tokenizer) : opts.tokenizer;
    const tokenized: Partial<Record<SplitName, TokenizedSplit>> = {};
    for (const [name, pairs] of Object.entries(prepared.splits) as Array<[SplitName, QaPair[]]>) {
      tokenized[name] = tokenizeSplit(pairs, loaded.tokenizer, template);
    }
    const stats = datasetStats(tokenized, opts.maxLengths);
    summary.tokenizer = { file: loaded.file, kind: loaded.kind, hash: loaded.hash };
    summary.stats = { ...stats, overLongCount: stats.overLong.length, overLong: stats.overLong.slice(0, limit) };
    result.tokenized = tokenized;
    result.tokenizer = loaded.tokenizer;
  }
  return result;
}
