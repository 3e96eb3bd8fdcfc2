// Which columns hold the question and the answer. Known pairs are tried in order, names
// compared case-insensitively (and ignoring surrounding spaces); the user can always override.
import type { ColumnMapping } from './types';

export const KNOWN_COLUMN_PAIRS: ReadonlyArray<readonly [string, string]> = [
  ['soru', 'cevap'],
  ['question', 'answer'],
  ['input', 'target'],
  ['instruction', 'output'],
  ['prompt', 'completion'],
  ['query', 'response'],
  ['source', 'target'],
  ['input', 'output'],
  ['question', 'response'],
  ['soru', 'yanit'],
  ['soru', 'yanıt'],
];

/** The mapping for these columns, or null when no known pair is present. */
export function detectColumns(columns: readonly string[]): ColumnMapping | null {
  const byKey = new Map<string, string>();
  for (const c of columns) {
    const k = c.trim().toLocaleLowerCase('tr');
    if (!byKey.has(k)) byKey.set(k, c);
    const en = c.trim().toLowerCase();
    if (!byKey.has(en)) byKey.set(en, c);
  }
  for (const [q, a] of KNOWN_COLUMN_PAIRS) {
    const qc = byKey.get(q);
    const ac = byKey.get(a);
    if (qc !== undefined && ac !== undefined) return { question: qc, answer: ac };
  }
  return null;
}

/** Checks a user-chosen mapping against the columns; returns a message or null. */
export function checkMapping(columns: readonly string[], m: ColumnMapping): string | null {
  for (const [role, col] of [['question', m.question], ['answer', m.answer]] as const) {
    if (!columns.includes(col)) return `The ${role} column "${col}" is not in the file (columns: ${columns.join(', ') || 'none'}).`;
  }
  if (m.question === m.answer) return 'The question and answer columns must differ.';
  return null;
}
