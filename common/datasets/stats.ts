// Token-length statistics after tokenization with the chosen model and template: how long
// inputs and targets are (p50/p95/p99/max), how many rows each candidate max length would
// truncate, a suggested max length, a histogram for the UI, and the over-long rows by origin.
import { applyTemplate, type PromptTemplate } from './templates';
import type { QaPair, RowOrigin, SplitName } from './types';

export interface TextEncoder_ {
  encode(text: string): number[];
}

export const CANDIDATE_MAX_LENGTHS = [32, 64, 128, 256, 512] as const;
/** The suggested max length is the smallest candidate that truncates at most this share of rows. */
export const SUGGEST_COVERAGE = 0.99;

export interface LengthStats {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
  /** candidate max length -> rows longer than it (they would be truncated) */
  truncatedAt: Record<string, number>;
  suggestedMaxLength: number;
  /** Histogram: bins of `binWidth` tokens from 0. */
  histogram: { binWidth: number; counts: number[] };
}

export interface TokenizedSplit {
  inputIds: number[][];
  targetIds: number[][];
  origins: RowOrigin[];
}

export interface DatasetStats {
  rows: Partial<Record<SplitName, number>>;
  input: LengthStats;
  target: LengthStats;
  /** Rows whose input or target is longer than the chosen max lengths (kept; truncated in training). */
  overLong: Array<RowOrigin & { inputTokens: number; targetTokens: number }>;
  maxInputLength: number;
  maxTargetLength: number;
}

/** Nearest-rank percentile of sorted values (p in 0..100). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function lengthStats(lengths: number[]): LengthStats {
  const sorted = Float64Array.from(lengths).sort();
  const n = sorted.length;
  const truncatedAt: Record<string, number> = {};
  let suggested: number = CANDIDATE_MAX_LENGTHS[CANDIDATE_MAX_LENGTHS.length - 1];
  let found = false;
  for (const L of CANDIDATE_MAX_LENGTHS) {
    let over = 0;
    for (let i = n - 1; i >= 0 && sorted[i] > L; i--) over++;
    truncatedAt[String(L)] = over;
    if (!found && n > 0 && (n - over) / n >= SUGGEST_COVERAGE) {
      suggested = L;
      found = true;
    }
  }
  const max = n ? sorted[n - 1] : 0;
  const binWidth = max <= 64 ? 4 : max <= 256 ? 8 : max <= 1024 ? 16 : Math.ceil(max / 64);
  const counts = new Array(Math.floor(max / binWidth) + 1).fill(0);
  for (let i = 0; i < n; i++) counts[Math.floor(sorted[i] / binWidth)]++;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  return {
    count: n,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max,
    mean: n ? Math.round((sum / n) * 10) / 10 : 0,
    truncatedAt,
    suggestedMaxLength: suggested,
    histogram: { binWidth, counts },
  };
}

export function tokenizeSplit(pairs: QaPair[], tok: TextEncoder_, template: PromptTemplate): TokenizedSplit {
  const inputIds: number[][] = [];
  const targetIds: number[][] = [];
  for (const p of pairs) {
    const { input, target } = applyTemplate(template, p.question, p.answer);
    inputIds.push(tok.encode(input));
    targetIds.push(tok.encode(target));
  }
  return { inputIds, targetIds, origins: pairs.map((p) => p.origin) };
}

/** Statistics over all splits (lengths include eos, as the trainer sees them). */
export function datasetStats(
  tokenized: Partial<Record<SplitName, TokenizedSplit>>,
  maxLengths: { input?: number; target?: number } = {},
): DatasetStats {
  const inLens: number[] = [];
  const tgLens: number[] = [];
  const rows: DatasetStats['rows'] = {};
  for (const [name, t] of Object.entries(tokenized) as Array<[SplitName, TokenizedSplit]>) {
    rows[name] = t.inputIds.length;
    for (const ids of t.inputIds) inLens.push(ids.length);
    for (const ids of t.targetIds) tgLens.push(ids.length);
  }
  const input = lengthStats(inLens);
  const target = lengthStats(tgLens);
  const maxIn = maxLengths.input ?? input.suggestedMaxLength;
  const maxTg = maxLengths.target ?? target.suggestedMaxLength;
  const overLong: DatasetStats['overLong'] = [];
  for (const t of Object.values(tokenized) as TokenizedSplit[]) {
    t.inputIds.forEach((ids, i) => {
      const tl = t.targetIds[i].length;
      if (ids.length > maxIn || tl > maxTg) overLong.push({ ...t.origins[i], inputTokens: ids.length, targetTokens: tl });
    });
  }
  return { rows, input, target, overLong, maxInputLength: maxIn, maxTargetLength: maxTg };
}
