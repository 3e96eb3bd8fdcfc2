// From tokenized examples to padded batches, in pure TypeScript (runs in the worker; the run
// form uses the same functions to estimate steps and padding).
//   - truncation to the run's max lengths, keeping the final </s>;
//   - the epoch order: plain seeded shuffle, or transformers' group_by_length (shuffled
//     megabatches of 50 batches, each sorted by length, the longest batch first so an
//     out-of-memory shows up at step 1, not hours in);
//   - dynamic padding: each batch is padded to its own longest row (pad id 0, labels -100).
import { deriveSeed, SeededRng } from './rng';

export const PAD_ID = 0;
export const EOS_ID = 1;
export const IGNORE_INDEX = -100;

export interface TokenizedExample {
  inputIds: ArrayLike<number>;
  labels: ArrayLike<number>;
}

export interface PaddedBatch {
  /** [batch, srcLen] */
  inputIds: Int32Array;
  /** [batch, srcLen], 1 = token, 0 = padding */
  attentionMask: Int32Array;
  /** [batch, tgtLen], -100 = ignored */
  labels: Int32Array;
  batch: number;
  srcLen: number;
  tgtLen: number;
  /** real source + target tokens (what tokens/s counts) */
  realTokens: number;
  /** label tokens that count in the loss */
  labelTokens: number;
}

function truncateIds(ids: ArrayLike<number>, max: number, eos: number): Int32Array {
  if (ids.length <= max) return Int32Array.from(ids);
  const out = Int32Array.from(Array.prototype.slice.call(ids, 0, max) as number[]);
  // As the T5 tokenizer truncates with truncation=True: the sequence still ends in </s>.
  if (ids[ids.length - 1] === eos) out[max - 1] = eos;
  return out;
}

/** Truncates to the max lengths (keeping a final </s>) and stores the ids as Int32Array. */
export function prepareExamples(
  examples: readonly TokenizedExample[],
  maxSourceLength: number,
  maxTargetLength: number,
  eos = EOS_ID,
): { inputIds: Int32Array; labels: Int32Array }[] {
  return examples.map((e, i) => {
    if (e.inputIds.length === 0) throw new Error(`example ${i} has an empty input`);
    if (e.labels.length === 0) throw new Error(`example ${i} has an empty target`);
    return { inputIds: truncateIds(e.inputIds, maxSourceLength, eos), labels: truncateIds(e.labels, maxTargetLength, eos) };
  });
}

/** The length a batch is grouped by: source + target, since both are padded. */
export function exampleLength(e: TokenizedExample): number {
  return e.inputIds.length + e.labels.length;
}

/**
 * transformers' get_length_grouped_indices: a random permutation cut into megabatches of
 * megabatchMult * batchSize (megabatchMult = min(n / (4 * batchSize), 50), at least 1), each
 * sorted by length, longest first; then the megabatch holding the longest row swaps its head
 * with the first megabatch's head.
 */
export function lengthGroupedOrder(lengths: readonly number[], batchSize: number, rng: SeededRng): number[] {
  const n = lengths.length;
  const mult = Math.max(1, Math.min(Math.floor(n / (batchSize * 4)), 50));
  const megabatchSize = mult * batchSize;
  const perm = rng.permutation(n);
  const megabatches: number[][] = [];
  for (let i = 0; i < n; i += megabatchSize) {
    // stable sort by length descending (Python's sorted is stable too)
    megabatches.push(perm.slice(i, i + megabatchSize).sort((a, b) => lengths[b] - lengths[a]));
  }
  if (megabatches.length > 1) {
    let maxIdx = 0;
    for (let k = 1; k < megabatches.length; k++) {
      if (lengths[megabatches[k][0]] > lengths[megabatches[maxIdx][0]]) maxIdx = k;
    }
    const t = megabatches[0][0];
    megabatches[0][0] = megabatches[maxIdx][0];
    megabatches[maxIdx][0] = t;
  }
  return megabatches.flat();
}

/** The order of the training rows in one epoch; depends only on (seed, epoch). */
export function epochOrder(lengths: readonly number[], batchSize: number, seed: number, epoch: number, groupByLength: boolean): number[] {
  const rng = new SeededRng(deriveSeed(seed, 'epoch', epoch));
  return groupByLength ? lengthGroupedOrder(lengths, batchSize, rng) : rng.permutation(lengths.length);
}

/** Cuts an order into batches of batchSize (the last may be smaller). */
export function chunk<T>(order: readonly T[], batchSize: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < order.length; i += batchSize) out.push(order.slice(i, i + batchSize));
  return out;
}

/** Pads rows to the batch's longest source and target (dynamic padding). */
export function collate(rows: readonly { inputIds: ArrayLike<number>; labels: ArrayLike<number> }[], padId = PAD_ID): PaddedBatch {
  if (rows.length === 0) throw new Error('collate: empty batch');
  const batch = rows.length;
  let srcLen = 0;
  let tgtLen = 0;
  for (const r of rows) {
    srcLen = Math.max(srcLen, r.inputIds.length);
    tgtLen = Math.max(tgtLen, r.labels.length);
  }
  const inputIds = new Int32Array(batch * srcLen).fill(padId);
  const attentionMask = new Int32Array(batch * srcLen);
  const labels = new Int32Array(batch * tgtLen).fill(IGNORE_INDEX);
  let realTokens = 0;
  let labelTokens = 0;
  rows.forEach((r, b) => {
    for (let i = 0; i < r.inputIds.length; i++) {
      inputIds[b * srcLen + i] = r.inputIds[i];
      attentionMask[b * srcLen + i] = 1;
    }
    for (let i = 0; i < r.labels.length; i++) {
      labels[b * tgtLen + i] = r.labels[i];
      if (r.labels[i] !== IGNORE_INDEX) labelTokens++;
    }
    realTokens += r.inputIds.length + r.labels.length;
  });
  return { inputIds, attentionMask, labels, batch, srcLen, tgtLen, realTokens, labelTokens };
}

/** Padding overhead of a batching (0 = none): what length grouping saves, for the run form. */
export function paddingFraction(rows: readonly TokenizedExample[], batches: readonly number[][]): number {
  let real = 0;
  let padded = 0;
  for (const b of batches) {
    let s = 0;
    let t = 0;
    for (const i of b) {
      s = Math.max(s, rows[i].inputIds.length);
      t = Math.max(t, rows[i].labels.length);
      real += rows[i].inputIds.length + rows[i].labels.length;
    }
    padded += b.length * (s + t);
  }
  return padded === 0 ? 0 : 1 - real / padded;
}

/** A seeded split of row indices into train and validation (validation is at least 1 row when ratio > 0). */
export function splitIndices(n: number, ratio: number, seed: number): { train: number[]; validation: number[] } {
  if (ratio <= 0 || n < 2) return { train: Array.from({ length: n }, (_, i) => i), validation: [] };
  const perm = new SeededRng(deriveSeed(seed, 'split')).permutation(n);
  const nVal = Math.min(n - 1, Math.max(1, Math.round(n * ratio)));
  return { validation: perm.slice(0, nVal).sort((a, b) => a - b), train: perm.slice(nVal).sort((a, b) => a - b) };
}

/** The largest id in the examples (to check against the model's vocabulary before training). */
export function maxTokenId(examples: readonly TokenizedExample[]): number {
  let m = -1;
  for (const e of examples) {
    for (let i = 0; i < e.inputIds.length; i++) m = Math.max(m, e.inputIds[i]);
    for (let i = 0; i < e.labels.length; i++) m = Math.max(m, e.labels[i]);
  }
  return m;
}
