// From raw tables to question/answer pairs per split, with everything that was not used
// reported: rows the reader could not parse, rows with an empty or non-text question or
// answer (skipped, with the reason), and duplicates (kept, but listed). Nothing is dropped
// without an entry in `skipped`.
import { checkMapping, detectColumns } from './columns';
import { seededSplit } from './split';
import type { ColumnMapping, QaPair, RawTable, RowOrigin, SkippedRow, SplitName } from './types';

export interface SplitOptions {
  /** Held-out fraction taken from train when no test/validation file exists (default 0.1; 0 = none). */
  ratio?: number;
  seed?: number;
  /** Name of the held-out split made from train (default 'test'). */
  heldOutName?: Exclude<SplitName, 'train'>;
}

export interface DuplicateGroup {
  /** The repeated text (cut to 200 characters for display). */
  text: string;
  origins: RowOrigin[];
}

export interface PreparedPairs {
  mapping: ColumnMapping;
  splits: Partial<Record<SplitName, QaPair[]>>;
  /** How each split came to be. */
  splitSource: Partial<Record<SplitName, 'file' | 'seeded'>>;
  skipped: SkippedRow[];
  duplicates: {
    /** Same question (after trimming) more than once, across all splits. */
    sameQuestion: DuplicateGroup[];
    /** Same answer given to different questions. */
    sameAnswer: DuplicateGroup[];
  };
}

function cellText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  return null;
}

function toPairs(table: RawTable, mapping: ColumnMapping, skipped: SkippedRow[]): QaPair[] {
  const out: QaPair[] = [];
  table.rows.forEach((row, i) => {
    const origin = table.origins[i] ?? { file: table.file, row: i };
    const q = cellText(row[mapping.question]);
    const a = cellText(row[mapping.answer]);
    if (q === null || a === null) {
      const which = q === null ? mapping.question : mapping.answer;
      const v = row[which];
      skipped.push({ ...origin, reason: v === undefined || v === null ? `missing "${which}"` : `"${which}" is not text` });
      return;
    }
    if (q.trim() === '' || a.trim() === '') {
      skipped.push({ ...origin, reason: `empty "${q.trim() === '' ? mapping.question : mapping.answer}"` });
      return;
    }
    out.push({ question: q, answer: a, origin });
  });
  return out;
}

const cut = (s: string): string => (s.length > 200 ? s.slice(0, 199) + '…' : s);

export function findDuplicates(pairs: QaPair[]): PreparedPairs['duplicates'] {
  const byQ = new Map<string, QaPair[]>();
  const byA = new Map<string, QaPair[]>();
  for (const p of pairs) {
    const q = p.question.trim();
    const a = p.answer.trim();
    (byQ.get(q) ?? byQ.set(q, []).get(q)!).push(p);
    (byA.get(a) ?? byA.set(a, []).get(a)!).push(p);
  }
  const sameQuestion: DuplicateGroup[] = [];
  for (const [q, list] of byQ) if (list.length > 1) sameQuestion.push({ text: cut(q), origins: list.map((p) => p.origin) });
  const sameAnswer: DuplicateGroup[] = [];
  for (const [a, list] of byA) {
    if (list.length < 2) continue;
    const questions = new Set(list.map((p) => p.question.trim()));
    if (questions.size > 1) sameAnswer.push({ text: cut(a), origins: list.map((p) => p.origin) });
  }
  return { sameQuestion, sameAnswer };
}

/**
 * Builds the pairs of each split. `tables` maps a split name to the table(s) read for it
 * (a single file is 'train'). Mapping: the given one (checked), else detected from the first
 * table's columns; an error message names the columns when none is found.
 */
export function preparePairs(
  tables: Partial<Record<SplitName, RawTable[]>>,
  opts: { mapping?: ColumnMapping; split?: SplitOptions } = {},
): PreparedPairs {
  const all = Object.values(tables).flat() as RawTable[];
  if (all.length === 0) throw new Error('No data files were read.');
  const columns = Array.from(new Set(all.flatMap((t) => t.columns)));
  const mapping = opts.mapping ?? detectColumns(columns);
  if (!mapping) {
    throw new Error(
      `Cannot tell which columns hold the question and the answer (columns: ${columns.join(', ') || 'none'}). ` +
        'Choose them (--question-column / --answer-column).',
    );
  }
  const bad = checkMapping(columns, mapping);
  if (bad) throw new Error(bad);

  const skipped: SkippedRow[] = all.flatMap((t) => t.skipped);
  const splits: PreparedPairs['splits'] = {};
  const splitSource: PreparedPairs['splitSource'] = {};
  for (const [name, list] of Object.entries(tables) as Array<[SplitName, RawTable[]]>) {
    if (!list || list.length === 0) continue;
    splits[name] = list.flatMap((t) => toPairs(t, mapping, skipped));
    splitSource[name] = 'file';
  }
  const ratio = opts.split?.ratio ?? 0.1;
  const train = splits.train ?? [];
  if (!splits.test && !splits.validation && ratio > 0 && train.length >= 2) {
    const { train: keep, heldOut } = seededSplit(train.length, ratio, opts.split?.seed ?? 42);
    const name = opts.split?.heldOutName ?? 'test';
    splits[name] = heldOut.map((i) => train[i]);
    splitSource[name] = 'seeded';
    splits.train = keep.map((i) => train[i]);
    splitSource.train = 'seeded';
  }
  const everything = Object.values(splits).flat() as QaPair[];
  return { mapping, splits, splitSource, skipped, duplicates: findDuplicates(everything) };
}
