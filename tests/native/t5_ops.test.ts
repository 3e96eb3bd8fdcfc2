// The op families under native/src/ops against independent references: gemm (three layouts,
// ragged sizes, accumulate/alpha) against a naive double-precision loop, T5's relative
// position buckets against transformers' formula (float32 arithmetic, via Math.fround), and the
// RMS norm against a direct computation.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
process.env.OMP_WAIT_POLICY ??= 'passive';
type Ops = {
  _opsGemm(o: Record<string, unknown>): Float32Array & { seconds: number };
  _opsBucket(rel: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number;
  _opsRmsnorm(x: Float32Array, w: Float32Array, rows: number, d: number, eps: number): Float32Array;
};
const engine = require('../../native/index.cjs').loadEngine() as Ops;

function rand(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2147483648), s / 2147483648 - 0.5));
}

// C[m,n] = sum_k A(m,k) B(k,n) in double, A/B addressed per layout
function naive(layout: string, A: Float32Array, B: Float32Array, M: number, N: number, K: number): Float64Array {
  const C = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const a = layout === 'tn' ? A[k * M + m] : A[m * K + k];
        const b = layout === 'nt' ? B[n * K + k] : B[k * N + n];
        s += a * b;
      }
      C[m * N + n] = s;
    }
  return C;
}

describe('gemm', () => {
  for (const layout of ['nt', 'nn', 'tn'])
    for (const [M, N, K] of [
      [1, 1, 1],
      [3, 17, 5],
      [5, 33, 64],
      [18, 300, 32],
      [257, 20, 7],
      [64, 128, 768],
    ])
      it(`${layout} ${M}x${N}x${K}`, () => {
        const A = rand(M * K, M + 7 * N + K);
        const B = rand(N * K, 3 * M + N + K);
        const ref = naive(layout, A, B, M, N, K);
        const C = engine._opsGemm({ layout, A, B, M, N, K });
        let err = 0;
        let norm = 0;
        for (let i = 0; i < ref.length; i++) {
          err = Math.max(err, Math.abs(C[i] - ref[i]));
          norm = Math.max(norm, Math.abs(ref[i]));
        }
        expect(err).toBeLessThanOrEqual(1e-6 * Math.max(1, norm) * Math.sqrt(K));
        // accumulate with alpha: C0 + alpha * AB
        const C0 = rand(M * N, 99);
        const C2 = engine._opsGemm({ layout, A, B, M, N, K, C: C0, accumulate: true, alpha: 0.25 });
        for (let i = 0; i < ref.length; i += Math.max(1, Math.floor(ref.length / 97)))
          expect(C2[i]).toBeCloseTo(C0[i] + 0.25 * ref[i], 4);
      });
});

describe('relative position buckets', () => {
  // transformers' _relative_position_bucket with torch's float32 arithmetic
  function hf(rel: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
    let buckets = 0;
    let n = numBuckets;
    let r = rel;
    if (bidirectional) {
      n = Math.floor(n / 2);
      if (r > 0) buckets += n;
      r = Math.abs(r);
    } else r = -Math.min(r, 0);
    const maxExact = Math.floor(n / 2);
    if (r < maxExact) return buckets + r;
    const f = Math.fround;
    const lg = f(Math.log(f(f(r) / f(maxExact))));
    const large = maxExact + Math.trunc(f(f(lg / f(Math.log(maxDistance / maxExact))) * f(n - maxExact)));
    return buckets + Math.min(large, n - 1);
  }
  it('matches hand-computed values (32 buckets, max distance 128)', () => {
    expect(engine._opsBucket(0, true, 32, 128)).toBe(0);
    expect(engine._opsBucket(1, true, 32, 128)).toBe(17);
    expect(engine._opsBucket(-7, true, 32, 128)).toBe(7);
    expect(engine._opsBucket(-8, true, 32, 128)).toBe(8);
    expect(engine._opsBucket(-127, true, 32, 128)).toBe(15);
    expect(engine._opsBucket(-1000, true, 32, 128)).toBe(15);
    expect(engine._opsBucket(5, false, 32, 128)).toBe(0); // decoder: future positions share bucket 0
    expect(engine._opsBucket(-20, false, 32, 128)).toBe(17);
  });
  it('matches the formula for every distance and several settings', () => {
    for (const [nb, md] of [
      [32, 128],
      [8, 20],
      [16, 64],
      [64, 256],
    ])
      for (const bidir of [true, false])
        for (let rel = -300; rel <= 300; rel++) expect(engine._opsBucket(rel, bidir, nb, md)).toBe(hf(rel, bidir, nb, md));
  });
});

describe('rms norm', () => {
  it('y = w * x / sqrt(mean(x^2) + eps), no mean subtraction', () => {
    const rows = 5;
    const d = 48;
    const x = rand(rows * d, 5);
    const w = rand(d, 6);
    const y = engine._opsRmsnorm(x, w, rows, d, 1e-6);
    for (let r = 0; r < rows; r++) {
      let ss = 0;
      for (let i = 0; i < d; i++) ss += x[r * d + i] ** 2;
      const rs = 1 / Math.sqrt(ss / d + 1e-6);
      for (let i = 0; i < d; i++) expect(y[r * d + i]).toBeCloseTo(w[i] * x[r * d + i] * rs, 6);
    }
  });
});
