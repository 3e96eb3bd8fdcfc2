// Reference decoders for the generation tests, written in TypeScript over a "logits of this
// prefix" function with NO cache (the engine's toy model recomputed from scratch), so they check
// the C++ search code, its KV-cache handling and its beam reordering independently:
//   - greedyChain: argmax chain (the definition of greedy decoding);
//   - hfBeamSearch: transformers' vectorized _beam_search (generation/utils.py, 4.50+/5.x)
//     transcribed loop by loop, with fp32 rounding (Math.fround) where torch works in fp32;
//   - bruteForceBest: exhaustive search over every sequence (ground truth for tiny vocabularies).
// The processors (repetition penalty, no-repeat-ngram, min-new-tokens) are re-implemented here too.

const f = Math.fround;
const MASK = f(-1e9);

export type PrefixLogits = (row: number, prefix: number[]) => Float32Array;

export interface RefOptions {
  maxNewTokens: number;
  minNewTokens?: number;
  numBeams?: number;
  lengthPenalty?: number;
  earlyStopping?: boolean | 'never';
  repetitionPenalty?: number;
  noRepeatNgramSize?: number;
  eos?: number;
  pad?: number;
  start?: number;
}

const eosOf = (o: RefOptions) => o.eos ?? 1;
const padOf = (o: RefOptions) => o.pad ?? 0;
const startOf = (o: RefOptions) => o.start ?? 0;

/** transformers' processors in their order (greedy/beam: no warpers). Works in place, fp32. */
export function processRow(s: Float32Array, seq: number[], o: RefOptions): void {
  const rp = o.repetitionPenalty ?? 1;
  if (rp !== 1) {
    const p = f(rp);
    for (const t of new Set(seq)) s[t] = s[t] < 0 ? f(s[t] * p) : f(s[t] / p);
  }
  const n = o.noRepeatNgramSize ?? 0;
  if (n > 0 && seq.length >= n) {
    const prefix = seq.slice(seq.length - (n - 1));
    for (let i = 0; i + n <= seq.length; i++) {
      let match = true;
      for (let k = 0; k < n - 1; k++) if (seq[i + k] !== prefix[k]) match = false;
      if (match) s[seq[i + n - 1]] = -Infinity;
    }
  }
  const minNew = o.minNewTokens ?? 0;
  if (minNew > 0 && seq.length - 1 < minNew) s[eosOf(o)] = -Infinity;
}

/** Same rounding steps as logits_process.cpp's log_softmax. */
export function logSoftmax(x: Float32Array): Float32Array {
  let mx = -Infinity;
  for (const v of x) mx = Math.max(mx, v);
  let sum = 0;
  for (const v of x) sum += Math.exp(f(v - mx));
  const lse = f(Math.log(sum));
  return Float32Array.from(x, (v) => f(f(v - mx) - lse));
}

export function argmax(s: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < s.length; i++) if (s[i] > s[best]) best = i;
  return best;
}

/** Greedy decoding of one row: the argmax chain, stopping at eos or maxNewTokens. */
export function greedyChain(logits: PrefixLogits, row: number, o: RefOptions): number[] {
  const seq = [startOf(o)];
  while (seq.length < 1 + o.maxNewTokens) {
    const s = Float32Array.from(logits(row, seq));
    processRow(s, seq, o);
    const t = argmax(s);
    seq.push(t);
    if (t === eosOf(o)) break;
  }
  return seq;
}

// indices of the k largest, descending; ties keep the lower index first (torch.topk as we model it)
function topk(s: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: s.length }, (_, i) => i);
  idx.sort((a, b) => (s[b] > s[a] ? 1 : s[b] < s[a] ? -1 : a - b));
  return idx.slice(0, k);
}

/**
 * transformers' _beam_search for `batch` rows, returning [batch][length] (decoder start included),
 * cropped to the longest best hypothesis and filled with `pad || eos` like transformers.
 */
export function hfBeamSearch(logits: PrefixLogits, batch: number, o: RefOptions): number[][] {
  const nb = o.numBeams ?? 1;
  const K = 2 * nb;
  const maxLen = 1 + o.maxNewTokens;
  const lp = o.lengthPenalty ?? 1;
  const es = o.earlyStopping ?? false;
  const eos = eosOf(o);
  const fill = padOf(o) || eos;
  type Hyp = { seq: number[]; score: number; done: boolean; genLen: number };
  const running: { seq: number[]; score: number }[][] = [];
  const finished: Hyp[][] = [];
  const unsatisfied: boolean[] = [];
  for (let b = 0; b < batch; b++) {
    running.push(Array.from({ length: nb }, (_, j) => ({ seq: [startOf(o)], score: j === 0 ? 0 : MASK })));
    finished.push(Array.from({ length: nb }, () => ({ seq: [startOf(o)], score: MASK, done: false, genLen: 0 })));
    unsatisfied.push(true);
  }
  let cur = 1;
  for (;;) {
    let allHit = true;
    const denom = f(Math.pow(cur, lp));
    for (let b = 0; b < batch; b++) {
      const V = logits(b, running[b][0].seq).length;
      const acc = new Float32Array(nb * V);
      for (let j = 0; j < nb; j++) {
        const lsm = logSoftmax(logits(b, running[b][j].seq));
        processRow(lsm, running[b][j].seq, o);
        for (let v = 0; v < V; v++) acc[j * V + v] = f(lsm[v] + running[b][j].score);
      }
      const cand = topk(acc, K).map((flat) => {
        const beam = Math.floor(flat / V);
        const tok = flat % V;
        const hit = tok === eos || cur + 1 >= maxLen;
        return { seq: [...running[b][beam].seq, tok], score: acc[flat], hit };
      });
      if (cand.some((c) => !c.hit)) allHit = false;
      const masked = cand.map((c) => f(c.score + (c.hit ? MASK : 0)));
      const nextRunning = topk(masked, nb).map((k) => ({ seq: cand[k].seq, score: masked[k] }));
      const full = finished[b].every((h) => h.done) && es === true;
      const finalScores = cand.map((c, k) => {
        let s = f(c.score / denom);
        if (full) s = f(s + MASK);
        if (!unsatisfied[b]) s = f(s + MASK);
        if (!(c.hit && k < nb)) s = f(s + MASK);
        return s;
      });
      const merged: Hyp[] = [
        ...finished[b],
        ...cand.map((c, k) => ({ seq: c.seq, score: finalScores[k], done: c.hit && k < nb, genLen: cur })),
      ];
      finished[b] = topk(
        merged.map((h) => h.score),
        nb,
      ).map((i) => merged[i]);
      running[b] = nextRunning;
    }
    cur++;
    let improvementPossible = false;
    for (let b = 0; b < batch; b++) {
      const hypLen = es === 'never' && lp > 0 ? maxLen - 1 : cur - 1;
      const best = f(running[b][0].score / f(Math.pow(hypLen, lp)));
      const worst = Math.min(...finished[b].map((h) => h.score));
      const any = finished[b].some((h) => best > (h.done ? worst : MASK));
      unsatisfied[b] = unsatisfied[b] && any;
      improvementPossible = improvementPossible || unsatisfied[b];
    }
    const allFinished = finished.every((fs) => fs.every((h) => h.done));
    const existsOpen = !(allFinished && es === true);
    if (!(improvementPossible && existsOpen && !allHit)) break;
  }
  const len = 1 + Math.max(...finished.map((fs) => fs[0].genLen));
  return finished.map((fs) => {
    const s = fs[0].seq.slice(0, len);
    while (s.length < len) s.push(fill);
    return s;
  });
}

/**
 * Exhaustive search: the finished sequence (ending in eos, or reaching maxNewTokens) with the
 * highest sum of processed log-probs / generatedLength ** lengthPenalty, and that score.
 */
export function bruteForceBest(
  logits: PrefixLogits,
  row: number,
  o: RefOptions,
): { seq: number[]; score: number } {
  const maxLen = 1 + o.maxNewTokens;
  const lp = o.lengthPenalty ?? 1;
  let best = { seq: [] as number[], score: -Infinity };
  const visit = (seq: number[], sum: number) => {
    const lsm = logSoftmax(logits(row, seq));
    processRow(lsm, seq, o);
    for (let t = 0; t < lsm.length; t++) {
      if (lsm[t] === -Infinity) continue;
      const s = sum + lsm[t];
      const next = [...seq, t];
      if (t === eosOf(o) || next.length >= maxLen) {
        const score = s / Math.pow(next.length - 1, lp);
        if (score > best.score) best = { seq: next, score };
      } else {
        visit(next, s);
      }
    }
  };
  visit([startOf(o)], 0);
  return best;
}

/** Sum of processed log-probs of a sequence (decoder start first) under the same model. */
export function sequenceLogProb(logits: PrefixLogits, row: number, seq: number[], o: RefOptions): number {
  let sum = 0;
  for (let i = 1; i < seq.length; i++) {
    const prefix = seq.slice(0, i);
    const lsm = logSoftmax(logits(row, prefix));
    processRow(lsm, prefix, o);
    sum += lsm[seq[i]];
    if (seq[i] === eosOf(o)) break;
  }
  return sum;
}
