// The dropout hash (native/src/ops/dropout_hash.h: a 64-bit key of (seed, site), then one 32-bit
// "triple32"-style hash per flat index, kept when its top 24 bits / 2^24 >= p): statistical sanity
// on the CPU reference, through the plain dropout op (dropout_forward, the 'composed' dropoutAdd of
// the LoRA test hook: out = x + dropout(y), with x = 0 and y = 1 the output is the mask times
// 1/(1 - p)). The CPU-vs-CUDA equality of the masks is in the cuda_* tests.
//   - keep rate within 3 sigma of 1 - p over 10^6 draws, p = 0.05 / 0.1 / 0.5;
//   - kept values are exactly 1 / (1 - p);
//   - pairs: the rate at which both members of a pair are kept is within 4 sigma of (1 - p)^2 for
//     neighbours at lags 1, 2, 3, 64, 512, 16384 (rows of an attention tensor, a weakness of a
//     cheaper two-multiply hash), the same index under sites s and s + 1, and under seeds s and s + 1
//     (the step seed is a counter in tests and benches).
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
process.env.OMP_WAIT_POLICY ??= 'passive';

type Ops = { _opsLora(o: Record<string, unknown>): Float32Array };
const engine = require('../../native/index.cjs').loadEngine() as Ops;

const N = 1_000_000;
const ZEROS = new Float32Array(N + 16384);
const ONES = new Float32Array(N + 16384).fill(1);

// keep mask (1 kept, 0 dropped) of n elements for (seed, site), checking the 1 / (1 - p) scaling
function mask(p: number, seed: number, site: number, n = N): Uint8Array {
  const out = engine._opsLora({
    op: 'dropoutAdd', impl: 'composed', M: 1, in: n, p, seed, site, x: ZEROS.subarray(0, n), y: ONES.subarray(0, n),
  });
  const scale = Math.fround(1 / (1 - p));
  const m = new Uint8Array(n);
  for (let i = 0; i < n; ++i) {
    if (out[i] === 0) continue;
    if (out[i] !== scale) throw new Error(`element ${i}: ${out[i]}, neither 0 nor 1/(1-p) = ${scale}`);
    m[i] = 1;
  }
  return m;
}

// z-score of the count of events of probability q over n independent draws
const z = (count: number, n: number, q: number) => (count - n * q) / Math.sqrt(n * q * (1 - q));

describe('dropout hash statistics (CPU reference)', () => {
  for (const p of [0.05, 0.1, 0.5]) {
    it(`p = ${p}: keep rate, neighbours, sites and seeds`, () => {
      const q = 1 - p;
      const a = mask(p, 1234, 7, N + 16384);
      let kept = 0;
      for (let i = 0; i < N; ++i) kept += a[i];
      expect(Math.abs(z(kept, N, q))).toBeLessThan(3);

      const pairRate = (x: Uint8Array, y: Uint8Array, lag: number) => {
        let both = 0;
        for (let i = 0; i < N; ++i) both += x[i] & y[i + lag];
        return z(both, N, q * q);
      };
      for (const lag of [1, 2, 3, 64, 512, 16384]) expect(Math.abs(pairRate(a, a, lag)), `lag ${lag}`).toBeLessThan(4);
      expect(Math.abs(pairRate(a, mask(p, 1234, 8, N), 0)), 'sites 7 / 8').toBeLessThan(4);
      expect(Math.abs(pairRate(a, mask(p, 1235, 7, N), 0)), 'seeds 1234 / 1235').toBeLessThan(4);
    });
  }

  it('a mask is a function of (seed, site) alone, and both change it', () => {
    const a = mask(0.5, 3, 1, 4096);
    expect(mask(0.5, 3, 1, 4096)).toEqual(a);
    expect(mask(0.5, 3, 1, 1000)).toEqual(a.subarray(0, 1000));  // element i does not depend on n
    expect(mask(0.5, 4, 1, 4096)).not.toEqual(a);
    expect(mask(0.5, 3, 2, 4096)).not.toEqual(a);
    expect(mask(0.5, 2 ** 40 + 3, 1, 4096)).not.toEqual(a);  // high seed bits matter
  });
});
