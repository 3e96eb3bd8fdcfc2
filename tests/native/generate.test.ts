// Generation (native/src/generate) on the toy model: every decoding option against a
// reference written independently in TypeScript (generate.reference.ts) over the toy's logits
// recomputed from scratch, so the C++ search, its KV-cache use and beam reordering are all checked.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type { Engine, GenerateOptions, ToySpec } from '../../native/index';
import {
  argmax,
  bruteForceBest,
  greedyChain,
  hfBeamSearch,
  logSoftmax,
  processRow,
  sequenceLogProb,
  type PrefixLogits,
  type RefOptions,
} from './generate.reference';

const require = createRequire(import.meta.url);
const { loadEngine } = require('../../native/index.cjs') as typeof import('../../native/index');
const engine: Engine = loadEngine();

// [batch][srcLen] -> flat Int32Array + mask (0 = padding on the right)
function inputs(rows: number[][]): { inputIds: Int32Array; attentionMask: Int32Array; batch: number } {
  const len = Math.max(...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * len);
  const mask = new Int32Array(rows.length * len);
  rows.forEach((r, b) => r.forEach((t, i) => ((ids[b * len + i] = t), (mask[b * len + i] = 1))));
  return { inputIds: ids, attentionMask: mask, batch: rows.length };
}

function toyLogits(toy: ToySpec, rows: number[][]): PrefixLogits {
  return (row, prefix) => {
    const r = rows[row];
    return engine._toyLogits(toy, Int32Array.from(r), null, Int32Array.from(prefix));
  };
}

function split(ids: Int32Array, batch: number): number[][] {
  const len = ids.length / batch;
  return Array.from({ length: batch }, (_, b) => Array.from(ids.subarray(b * len, (b + 1) * len)));
}

async function gen(toy: ToySpec, rows: number[][], opts: Omit<GenerateOptions, 'inputIds'>, onToken?: (t: number, r: number) => void) {
  return engine._generateToy(toy, { ...inputs(rows), ...opts }, onToken);
}

const SEEDS = [1, 2, 3, 5, 8, 13, 21, 34];

describe('generate: greedy', () => {
  it('is the argmax chain, stops at eos, runs the encoder once and one decoder step per token', async () => {
    let sawEos = 0;
    let sawMax = 0;
    for (const seed of SEEDS) {
      const toy = { vocab: 12, seed, eosBias: 0.8 };
      const rows = [[5, 6, 7, seed % 10]];
      const r = await gen(toy, rows, { maxNewTokens: 12 });
      const ref = greedyChain(toyLogits(toy, rows), 0, { maxNewTokens: 12 });
      expect(Array.from(r.ids)).toEqual(ref);
      expect(r.encoderPasses).toBe(1);
      expect(r.modelSteps).toBe(ref.length - 1);
      if (ref[ref.length - 1] === 1) sawEos++;
      if (ref.length === 13) sawMax++;
    }
    // the seeds cover both endings
    expect(sawEos).toBeGreaterThan(0);
    expect(sawMax).toBeGreaterThan(0);
  });

  it('batches rows of different lengths (attention mask), padding finished rows with pad', async () => {
    const toy = { vocab: 12, seed: 7, eosBias: 1.0 };
    const rows = [[3, 4, 5, 6, 7], [8, 2], [9, 9, 3], [4]];
    const r = await gen(toy, rows, { maxNewTokens: 10 });
    const got = split(r.ids, rows.length);
    const refs = rows.map((_, b) => greedyChain(toyLogits(toy, rows), b, { maxNewTokens: 10 }));
    expect(r.length).toBe(Math.max(...refs.map((s) => s.length)));
    refs.forEach((ref, b) => {
      expect(got[b].slice(0, ref.length)).toEqual(ref);
      expect(got[b].slice(ref.length).every((t) => t === 0)).toBe(true);
    });
    expect(new Set(refs.map((s) => s.length)).size).toBeGreaterThan(1);  // padding was exercised
    // the mask matters: the same ids without it (padding 0 read as tokens) decode differently somewhere
    const unmasked = await engine._generateToy(toy, { inputIds: inputs(rows).inputIds, batch: 4, maxNewTokens: 10 });
    expect(Array.from(unmasked.ids)).not.toEqual(Array.from(r.ids));
  });

  it('minNewTokens masks eos until that many tokens exist', async () => {
    const toy = { vocab: 10, seed: 4, eosBias: 3.0 };  // eos very likely
    const rows = [[2, 3, 4]];
    const plain = await gen(toy, rows, { maxNewTokens: 10 });
    expect(plain.ids.length).toBeLessThan(5);
    const r = await gen(toy, rows, { maxNewTokens: 10, minNewTokens: 5 });
    const ref = greedyChain(toyLogits(toy, rows), 0, { maxNewTokens: 10, minNewTokens: 5 });
    expect(Array.from(r.ids)).toEqual(ref);
    expect(Array.from(r.ids).slice(1, 6)).not.toContain(1);
  });

  it('repetitionPenalty and noRepeatNgramSize change greedy exactly as the processors say', async () => {
    // find a toy whose plain greedy output repeats a bigram
    let found = 0;
    let penaltyChanged = 0;
    for (let seed = 1; seed < 60 && found < 3; seed++) {
      const toy = { vocab: 6, seed, eosBias: -2 };
      const rows = [[1 + (seed % 5), 3]];
      const plain = Array.from((await gen(toy, rows, { maxNewTokens: 16 })).ids);
      const bigrams = plain.slice(0, -1).map((t, i) => `${t},${plain[i + 1]}`);
      if (new Set(bigrams).size === bigrams.length) continue;
      found++;
      const L = toyLogits(toy, rows);
      const nr = Array.from((await gen(toy, rows, { maxNewTokens: 16, noRepeatNgramSize: 2 })).ids);
      expect(nr).toEqual(greedyChain(L, 0, { maxNewTokens: 16, noRepeatNgramSize: 2 }));
      const nb = nr.slice(0, -1).map((t, i) => `${t},${nr[i + 1]}`);
      expect(new Set(nb).size).toBe(nb.length);
      const rp = Array.from((await gen(toy, rows, { maxNewTokens: 16, repetitionPenalty: 3 })).ids);
      expect(rp).toEqual(greedyChain(L, 0, { maxNewTokens: 16, repetitionPenalty: 3 }));
      if (rp.join() !== plain.join()) penaltyChanged++;
    }
    expect(found).toBe(3);
    expect(penaltyChanged).toBeGreaterThan(0);
  });
});

describe('generate: logits processors (one row)', () => {
  it('repetition penalty divides positive and multiplies negative scores of seen tokens only', () => {
    const s = Float32Array.from([2, -2, 4, -4, 1]);
    const out = engine._processScores(s, Int32Array.from([0, 1, 1, 2]), { repetitionPenalty: 2 });
    expect(Array.from(out)).toEqual([1, -4, 2, -4, 1]);
  });

  it('no-repeat-ngram bans the tokens that would complete a seen n-gram', () => {
    const s = new Float32Array(6).fill(0.5);
    // seq 0 3 4 5 3 4: trigram prefix (3,4) seen before followed by 5 -> ban 5
    const out = engine._processScores(s, Int32Array.from([0, 3, 4, 5, 3, 4]), { noRepeatNgramSize: 3 });
    expect(Array.from(out)).toEqual([0.5, 0.5, 0.5, 0.5, 0.5, -Infinity]);
    // bigrams: last token 4 was followed by 5 -> ban 5 only
    const out2 = engine._processScores(s, Int32Array.from([0, 4, 5, 2, 4]), { noRepeatNgramSize: 2 });
    expect(Array.from(out2)).toEqual([0.5, 0.5, 0.5, 0.5, 0.5, -Infinity]);
    // shorter than n: nothing banned
    const out3 = engine._processScores(s, Int32Array.from([0, 4]), { noRepeatNgramSize: 3 });
    expect(Array.from(out3)).toEqual(Array.from(s));
  });

  it('minNewTokens masks eos only while too few tokens exist', () => {
    const s = new Float32Array(4).fill(1);
    expect(engine._processScores(s, Int32Array.from([0, 2]), { minNewTokens: 2 })[1]).toBe(-Infinity);
    expect(engine._processScores(s, Int32Array.from([0, 2, 3]), { minNewTokens: 2 })[1]).toBe(1);
  });

  it('top-k keeps the k best (ties kept, at least minKeep), only when sampling', () => {
    const s = Float32Array.from([1, 5, 3, 5, 2, 4]);
    const k2 = engine._processScores(s, Int32Array.from([0]), { doSample: true, topK: 2 });
    expect(Array.from(k2)).toEqual([-Infinity, 5, -Infinity, 5, -Infinity, -Infinity]);
    const k3 = engine._processScores(s, Int32Array.from([0]), { doSample: true, topK: 3 });
    expect(Array.from(k3)).toEqual([-Infinity, 5, -Infinity, 5, -Infinity, 4]);
    const k1m3 = engine._processScores(s, Int32Array.from([0]), { doSample: true, topK: 1 }, 3);
    expect(Array.from(k1m3)).toEqual(Array.from(k3));
    const greedy = engine._processScores(s, Int32Array.from([0]), { topK: 1 });
    expect(Array.from(greedy)).toEqual(Array.from(s));
  });

  it('top-p removes the tail whose cumulative probability is <= 1 - p', () => {
    const probs = [0.5, 0.3, 0.15, 0.05];
    const s = Float32Array.from(probs.map(Math.log));
    const p75 = engine._processScores(s, Int32Array.from([0]), { doSample: true, topK: 0, topP: 0.75 });
    expect(Array.from(p75).map((v) => v !== -Infinity)).toEqual([true, true, false, false]);
    const p75k3 = engine._processScores(s, Int32Array.from([0]), { doSample: true, topK: 0, topP: 0.75 }, 3);
    expect(Array.from(p75k3).map((v) => v !== -Infinity)).toEqual([true, true, true, false]);
    const p99 = engine._processScores(s, Int32Array.from([0]), { doSample: true, topK: 0, topP: 0.99 });
    expect(Array.from(p99).every((v) => v !== -Infinity)).toBe(true);
    const p40 = engine._processScores(s, Int32Array.from([0]), { doSample: true, topK: 0, topP: 0.4 });
    expect(Array.from(p40).map((v) => v !== -Infinity)).toEqual([true, false, false, false]);
  });

  it('temperature divides the scores (sampling only)', () => {
    const s = Float32Array.from([1, -2, 3]);
    expect(Array.from(engine._processScores(s, Int32Array.from([0]), { doSample: true, topK: 0, temperature: 2 }))).toEqual([0.5, -1, 1.5]);
  });
});

describe('generate: sampling', () => {
  const toy = { vocab: 16, seed: 11, scale: 1, eosBias: -1 };
  const rows = [[4, 5, 6]];

  it('is reproducible for a seed and varies across seeds', async () => {
    const a = await gen(toy, rows, { maxNewTokens: 15, doSample: true, seed: 42 });
    const b = await gen(toy, rows, { maxNewTokens: 15, doSample: true, seed: 42 });
    expect(Array.from(a.ids)).toEqual(Array.from(b.ids));
    const outs = new Set<string>();
    for (let seed = 0; seed < 6; seed++) outs.add(Array.from((await gen(toy, rows, { maxNewTokens: 15, doSample: true, seed })).ids).join(','));
    expect(outs.size).toBeGreaterThan(3);
  });

  it('topK 1 is greedy; topK 3 only ever picks one of the 3 best; low temperature is greedy', async () => {
    const L = toyLogits(toy, rows);
    const greedy = greedyChain(L, 0, { maxNewTokens: 15 });
    expect(Array.from((await gen(toy, rows, { maxNewTokens: 15, doSample: true, topK: 1, seed: 3 })).ids)).toEqual(greedy);
    expect(Array.from((await gen(toy, rows, { maxNewTokens: 15, doSample: true, temperature: 0.01, seed: 3 })).ids)).toEqual(greedy);
    let offGreedy = 0;
    for (let seed = 0; seed < 8; seed++) {
      const ids = Array.from((await gen(toy, rows, { maxNewTokens: 15, doSample: true, topK: 3, seed })).ids);
      for (let i = 1; i < ids.length; i++) {
        const s = L(0, ids.slice(0, i));
        const top3 = Array.from(s.keys()).sort((x, y) => s[y] - s[x]).slice(0, 3);
        expect(top3).toContain(ids[i]);
        if (ids[i] !== top3[0]) offGreedy++;
      }
    }
    expect(offGreedy).toBeGreaterThan(0);
  });

  it('topP keeps only the nucleus', async () => {
    const L = toyLogits(toy, rows);
    for (let seed = 0; seed < 6; seed++) {
      const ids = Array.from((await gen(toy, rows, { maxNewTokens: 12, doSample: true, topK: 0, topP: 0.5, seed })).ids);
      for (let i = 1; i < ids.length; i++) {
        const lsm = logSoftmax(L(0, ids.slice(0, i)));
        const order = Array.from(lsm.keys()).sort((x, y) => lsm[y] - lsm[x]);
        // the nucleus: most likely first, until the mass reaches 0.5
        const nucleus: number[] = [];
        let mass = 0;
        for (const t of order) {
          nucleus.push(t);
          mass += Math.exp(lsm[t]);
          if (mass >= 0.5) break;
        }
        expect(nucleus).toContain(ids[i]);
      }
    }
  });
});

describe('generate: beam search', () => {
  const cases: { name: string; o: Partial<RefOptions> }[] = [
    { name: 'defaults (lp 1, early_stopping False)', o: {} },
    { name: 'lengthPenalty 2', o: { lengthPenalty: 2 } },
    { name: 'lengthPenalty 0.5', o: { lengthPenalty: 0.5 } },
    { name: 'lengthPenalty -1', o: { lengthPenalty: -1 } },
    { name: 'earlyStopping true', o: { earlyStopping: true } },
    { name: "earlyStopping 'never'", o: { earlyStopping: 'never' } },
    { name: "earlyStopping 'never', lengthPenalty 2", o: { earlyStopping: 'never', lengthPenalty: 2 } },
    { name: 'noRepeatNgramSize 2 + repetitionPenalty 1.3', o: { noRepeatNgramSize: 2, repetitionPenalty: 1.3 } },
    { name: 'minNewTokens 4', o: { minNewTokens: 4 } },
  ];
  for (const { name, o } of cases) {
    it(`matches transformers' algorithm: ${name}`, async () => {
      for (const nb of [2, 4]) {
        for (const seed of SEEDS.slice(0, 5)) {
          const toy = { vocab: 10, seed, eosBias: 0.6 };
          const rows = [[3, 4, 5 + (seed % 4)], [7, 2]];
          const ref = hfBeamSearch(toyLogits(toy, rows), rows.length, { maxNewTokens: 8, numBeams: nb, ...o });
          const r = await gen(toy, rows, { maxNewTokens: 8, numBeams: nb, ...(o as object) });
          expect(split(r.ids, rows.length), `seed ${seed} beams ${nb}`).toEqual(ref);
          expect(r.encoderPasses).toBe(1);
        }
      }
    });
  }

  // Vocabulary of the hand-made cases: 0 = pad/start, 1 = eos, 2 = "A", 3 = "B". Logits are
  // log-probabilities, so the sums below can be checked on paper.
  const LOGP = (p: number[]) => p.map(Math.log);
  const table = (entries: Record<string, number[]>) => ({
    vocab: 4,
    table: Object.fromEntries(Object.entries(entries).map(([k, p]) => [k, LOGP(p)])),
    fallback: LOGP([0.01, 0.97, 0.01, 0.01]),
  });

  it('hand-computed: beam search prefers B,eos (0.4*0.9) over greedy A,A (0.5*0.36)', async () => {
    const t = table({
      '0': [1e-6, 0.1, 0.5, 0.4 - 1e-6],
      '0,2': [1e-6, 0.3, 0.36, 0.34 - 1e-6],
      '0,3': [1e-6, 0.9, 0.05, 0.05 - 1e-6],
    });
    const base = { inputIds: Int32Array.from([5]), maxNewTokens: 2 };
    // greedy: A (0.5) then A (0.36), stopped by maxNewTokens
    expect(Array.from(await engine._generateTable(t, base))).toEqual([0, 2, 2]);
    // 2 beams: after step 2, B+eos = log .4 + log .9 = -1.02 beats A+A = -1.71 (and per token: -0.51 vs -0.86)
    expect(Array.from(await engine._generateTable(t, { ...base, numBeams: 2 }))).toEqual([0, 3, 1]);
  });

  it('hand-computed: only the top num_beams candidates may finish (transformers rule)', async () => {
    // step 1 ranks A (.45), B (.3), eos (.25): eos is third. With length penalty 0 the best
    // finished sequence overall is [eos] (log .25 = -1.39) against A,A (log .45 + log .41 = -1.69).
    const t = table({
      '0': [1e-6, 0.25, 0.45, 0.3 - 1e-6],
      '0,2': [1e-6, 0.2, 0.41, 0.39 - 1e-6],
      '0,3': [1e-6, 0.2, 0.41, 0.39 - 1e-6],
    });
    const base = { inputIds: Int32Array.from([5]), maxNewTokens: 2, lengthPenalty: 0 };
    // 2 beams: eos ranks 3rd of the 4 candidates, so it is not kept; A,A wins
    expect(Array.from(await engine._generateTable(t, { ...base, numBeams: 2 }))).toEqual([0, 2, 2]);
    // 3 beams: eos is within the top 3 and finishes at once; the answer is [start, eos]
    expect(Array.from(await engine._generateTable(t, { ...base, numBeams: 3 }))).toEqual([0, 1]);
  });

  it('finds a higher-probability sequence than greedy for some inputs (greedy is short-sighted)', async () => {
    let better = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const toy = { vocab: 10, seed, eosBias: 0.5 };
      const rows = [[2, seed % 9]];
      const L = toyLogits(toy, rows);
      const g = Array.from((await gen(toy, rows, { maxNewTokens: 6 })).ids);
      const b = Array.from((await gen(toy, rows, { maxNewTokens: 6, numBeams: 4, lengthPenalty: 0 })).ids);
      const gs = sequenceLogProb(L, 0, g, { maxNewTokens: 6 });
      const bs = sequenceLogProb(L, 0, b.slice(0, b.indexOf(1) >= 0 ? b.indexOf(1) + 1 : b.length), { maxNewTokens: 6 });
      if (bs > gs + 1e-4) better++;
    }
    expect(better).toBeGreaterThan(0);
  });

  it('with enough beams and earlyStopping "never" it is exhaustive (brute force on a tiny vocab)', async () => {
    const answers = new Map<number, Set<string>>();
    for (const lengthPenalty of [1, 0, 0.5, 2]) {
      for (const seed of [1, 2, 3, 4, 6, 7, 9]) {
        const toy = { vocab: 4, seed, eosBias: 0.2 };
        const rows = [[2, 3, seed]];
        const o = { maxNewTokens: 4, lengthPenalty, earlyStopping: 'never' as const };
        const best = bruteForceBest(toyLogits(toy, rows), 0, o);
        // 27 live prefixes x 4 tokens: 108 beams keep every candidate
        const r = await gen(toy, rows, { ...o, numBeams: 108 });
        const ids = Array.from(r.ids);
        expect(ids.slice(0, best.seq.length), `lp ${lengthPenalty} seed ${seed}`).toEqual(best.seq);
        expect(ids.slice(best.seq.length).every((t) => t === 1)).toBe(true);  // fill = pad || eos
        answers.set(seed, (answers.get(seed) ?? new Set()).add(best.seq.join()));
      }
    }
    // the length penalty decided the answer for some inputs (so it was really tested)
    expect([...answers.values()].some((a) => a.size > 1)).toBe(true);
  });

  it('streams the best hypothesis once, at the end, in order', async () => {
    const toy = { vocab: 10, seed: 3, eosBias: 0.6 };
    const rows = [[3, 4, 5], [6]];
    const events: [number, number][] = [];
    const r = await gen(toy, rows, { maxNewTokens: 8, numBeams: 3 }, (t, row) => events.push([row, t]));
    const got = split(r.ids, 2);
    const expected: [number, number][] = [];
    got.forEach((seq, b) => {
      const end = seq.indexOf(1, 1);
      seq.slice(1, end >= 0 ? end + 1 : seq.length).forEach((t) => expected.push([b, t]));
    });
    expect(events).toEqual(expected);
  });
});

describe('generate: streaming, cancellation, errors', () => {
  it('delivers every token in order before the promise resolves (greedy, batch 2)', async () => {
    const toy = { vocab: 12, seed: 9, eosBias: 0.3 };
    const rows = [[1, 2, 3], [4, 5]];
    const events: [number, number][] = [];
    let resolved = false;
    const p = gen(toy, rows, { maxNewTokens: 10 }, (t, row) => {
      expect(resolved).toBe(false);
      events.push([row, t]);
    });
    const r = await p;
    resolved = true;
    const got = split(r.ids, 2);
    for (const b of [0, 1]) {
      const mine = events.filter(([row]) => row === b).map(([, t]) => t);
      const end = got[b].indexOf(1, 1);
      expect(mine).toEqual(got[b].slice(1, end >= 0 ? end + 1 : got[b].length));
    }
  });

  it('runs off the JS thread: timers fire while it decodes', async () => {
    const toy = { vocab: 12, seed: 9, eosBias: -5, delayUs: 3000 };
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const r = await gen(toy, [[1, 2]], { maxNewTokens: 40 });
    clearInterval(timer);
    expect(r.steps).toBe(40);
    expect(ticks).toBeGreaterThan(5);
  });

  it('cancel() stops it within a step and rejects with ENGINE_CANCELLED', async () => {
    const toy = { vocab: 12, seed: 9, eosBias: -5, delayUs: 2000 };
    const seen: number[] = [];
    const p = engine._generateToy(toy, { inputIds: Int32Array.from([1, 2]), maxNewTokens: 500 }, (t) => {
      seen.push(t);
      if (seen.length === 3) p.cancel();
    });
    await expect(p).rejects.toMatchObject({ code: 'ENGINE_CANCELLED' });
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.length).toBeLessThan(100); // of 500 (generous: this machine is shared and the JS thread may lag)
    // cancelled before it starts
    const q = engine._generateToy(toy, { inputIds: Int32Array.from([1, 2]), maxNewTokens: 5 });
    q.cancel();
    await expect(q).rejects.toMatchObject({ code: 'ENGINE_CANCELLED' });
  });

  it('an AbortSignal in the options cancels it (and an aborted one before it starts)', async () => {
    const toy = { vocab: 12, seed: 9, eosBias: -5, delayUs: 2000 };
    const ac = new AbortController();
    let n = 0;
    const p = engine._generateToy(toy, { inputIds: Int32Array.from([1, 2]), maxNewTokens: 500, signal: ac.signal }, () => {
      if (++n === 2) ac.abort();
    });
    await expect(p).rejects.toMatchObject({ code: 'ENGINE_CANCELLED' });
    expect(n).toBeLessThan(100);
    const q = engine._generateToy(toy, { inputIds: Int32Array.from([1, 2]), maxNewTokens: 5, signal: AbortSignal.abort() });
    await expect(q).rejects.toMatchObject({ code: 'ENGINE_CANCELLED' });
    // not aborted: runs to the end
    const r = await engine._generateToy(toy, { inputIds: Int32Array.from([1, 2]), maxNewTokens: 3, signal: new AbortController().signal });
    expect(r.steps).toBe(3);
  });

  it('an exception in onToken cancels and rejects with it', async () => {
    const toy = { vocab: 12, seed: 9, eosBias: -5, delayUs: 1000 };
    const p = gen(toy, [[1, 2]], { maxNewTokens: 300 }, () => {
      throw new Error('listener broke');
    });
    await expect(p).rejects.toThrow('listener broke');
  });

  it('rejects bad options with ENGINE_INVALID_ARG and a C++ location', async () => {
    const toy = { vocab: 12 };
    const base = { inputIds: Int32Array.from([1, 2]) };
    for (const bad of [{ maxNewTokens: 0 }, { numBeams: 0 }, { topP: 1.5 }, { temperature: 0 }, { earlyStopping: 'sometimes' }]) {
      let err: unknown;
      try {
        await engine._generateToy(toy, { ...base, ...(bad as object) });
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(bad)).toMatchObject({ code: 'ENGINE_INVALID_ARG' });
      expect((err as { where: string }).where).toMatch(/^native\/src\/generate\/.*:\d+$/);
    }
  });
});

// keep the helpers referenced (type-only import checks)
void argmax;
void processRow;
