// cuda/gemm_lt (HUKUK_GEMM_LT=1): bf16-operand GEMMs through cuBLASLt with algorithms chosen by
// timing, against the GemmEx path (CUBLAS_GEMM_DEFAULT) and a float64 reference of the same
// bf16-rounded operands, through the test hook _gemmLt (cuda/gemm_lt_napi.cpp):
//   - the op combinations the T5 engine uses: x·Wᵀ, dy·W, dyᵀ·x (both transposes), fp32 and bf16 C,
//     beta 0 and 1 (gradients accumulate), alpha ≠ 1 (LoRA scale, dropout 1/(1-p)), a strided batch
//     of 3 (attention), odd leading dimensions and strides (unaligned rows), through ops::cuda::gemm
//     and Cublas::gemm_rowmajor; C's padding between rows stays untouched
//   - a tuned key is reused: a second identical GEMM is not timed again
//   - tuning never touches C: a beta = 1 GEMM tuned on first sight gives alpha·A·B + C once
//   - under stream capture an untuned key runs heuristic #0 and is queued; gemm_tune_run() times it
//     and a re-captured graph gives the same product
// GPU-only: skipped where the addon has no CUDA, there is no GPU, or cuBLAS/cuBLASLt is missing.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);

type Stats = { keys: number; tuned: number; ltCalls: number; exCalls: number; pending: number; captureCalls: number; tuneMs: number };
type Out = { C: Float32Array; C2?: Float32Array; stats: Stats; pendingAfterCapture?: boolean; pendingAfterTune?: boolean };
type Engine = {
  cudaCompiled(): boolean;
  gpus(): { name: string }[];
  cublasInfo(): { available: boolean };
  _gemmLt?(o: Record<string, unknown>): Out;
  _gemmLtInfo?(): { available: boolean; error: string };
};
const engine = require('../../native/index.cjs').loadEngine() as Engine;
const gpu = engine.cudaCompiled() && engine.gpus().length > 0;
const lt = gpu && engine.cublasInfo().available && !!engine._gemmLtInfo?.().available;

function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296 - 0.5) * 2 * scale;
  }
  return out;
}
// round to the nearest bf16, ties to even (core/half.h's f32_to_bf16)
function roundBf16(a: Float32Array): Float32Array {
  const out = new Float32Array(a);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < u.length; i++) u[i] = ((u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 0) & 0xffff0000;
  return out;
}

type Case = {
  name: string; M: number; N: number; K: number; ta?: boolean; tb?: boolean; cBf16?: boolean; alpha?: number; beta?: number;
  batch?: number; padA?: number; padB?: number; padC?: number; extraStride?: number; api?: 'ops' | 'cublas';
};

// Operands (row-major, as ops::cuda::gemm), the hook's arguments, and the float64 reference.
function setup(c: Case, seed: number) {
  const { M, N, K } = c;
  const ta = !!c.ta, tb = !!c.tb, batch = c.batch ?? 1, x = c.extraStride ?? 0;
  const lda = (ta ? M : K) + (c.padA ?? 0), ldb = (tb ? K : N) + (c.padB ?? 0), ldc = N + (c.padC ?? 0);
  const rowsA = ta ? K : M, rowsB = tb ? N : K;
  const sA = rowsA * lda + x, sB = rowsB * ldb + x, sC = M * ldc + x;
  const A = roundBf16(rand((batch - 1) * sA + rowsA * lda, seed));
  const B = roundBf16(rand((batch - 1) * sB + rowsB * ldb, seed + 1));
  const C0raw = rand((batch - 1) * sC + M * ldc, seed + 2);
  const C0 = c.cBf16 ? roundBf16(C0raw) : C0raw;
  const alpha = c.alpha ?? 1, beta = c.beta ?? 0;
  const ref = new Float64Array(C0.length), mag = new Float64Array(C0.length), part = new Float64Array(C0.length);
  ref.set(C0);
  for (let b = 0; b < batch; b++)
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let acc = 0, abs = 0;
        for (let k = 0; k < K; k++) {
          const a = A[b * sA + (ta ? k * lda + m : m * lda + k)], bb = B[b * sB + (tb ? n * ldb + k : k * ldb + n)];
          acc += a * bb;
          abs += Math.abs(a * bb);
        }
        const i = b * sC + m * ldc + n;
        ref[i] = alpha * acc + beta * C0[i];
        mag[i] = Math.abs(alpha) * abs + Math.abs(beta * C0[i]);
        part[i] = Math.abs(alpha * acc) + Math.abs(beta * C0[i]);
      }
  const args = { M, N, K, ta, tb, batch, lda, ldb, ldc, sA, sB, sC, A, B, C: C0raw, cBf16: !!c.cBf16, alpha, beta, api: c.api ?? 'ops' };
  // written: the elements of the batch's C matrices (the rest, row padding, must keep C0)
  const written = new Uint8Array(C0.length);
  for (let b = 0; b < batch; b++) for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) written[b * sC + m * ldc + n] = 1;
  return { args, ref, mag, part, C0, written };
}

// fp32 accumulation error (different split-K / order between algorithms) plus, for bf16 C, bf16
// roundings at the size of the epilogue's terms alpha·acc and beta·C (cuBLAS's own GemmEx rounds
// there: seen on the H200, 13:50 UTC, an error of 2^-8 on a result of 0.03 whose terms are ~1)
function check(got: Float32Array, s: ReturnType<typeof setup>, cBf16: boolean, what: string) {
  let worst = 0, at = -1;
  for (let i = 0; i < got.length; i++) {
    if (!s.written[i]) {
      if (got[i] !== s.C0[i]) throw new Error(`${what}: padding element ${i} changed (${s.C0[i]} -> ${got[i]})`);
      continue;
    }
    const tol = 1e-5 * s.mag[i] + (cBf16 ? 2 ** -7 * (s.part[i] + Math.abs(s.ref[i])) : 0) + 1e-6;
    const r = Math.abs(got[i] - s.ref[i]) / tol;
    if (r > worst) { worst = r; at = i; }
  }
  expect(worst, `${what}: worst error / tolerance at ${at} (got ${got[at]}, want ${s.ref[at]})`).toBeLessThanOrEqual(1);
}

function closeTo(a: Float32Array, b: Float32Array, s: ReturnType<typeof setup>, cBf16: boolean, what: string) {
  let worst = 0, at = -1;
  for (let i = 0; i < a.length; i++) {
    const tol = 2e-5 * s.mag[i] + (cBf16 ? 2 ** -6 * (s.part[i] + Math.abs(b[i])) : 0) + 1e-6;
    const r = Math.abs(a[i] - b[i]) / tol;
    if (r > worst) { worst = r; at = i; }
  }
  expect(worst, `${what}: Lt vs GemmEx, worst at ${at} (${a[at]} vs ${b[at]})`).toBeLessThanOrEqual(1);
}

describe('cuda/gemm_lt hook (any machine)', () => {
  it('exists where the addon has CUDA', () => {
    if (!engine.cudaCompiled()) return;
    expect(typeof engine._gemmLt).toBe('function');
    if (gpu) return;
    let code = 'no error';
    try { engine._gemmLt!({ M: 1, N: 1, K: 1, A: new Float32Array(1), B: new Float32Array(1), C: new Float32Array(1) }); } catch (e) { code = (e as { code: string }).code; }
    expect(code).toBe('ENGINE_NO_GPU');
  });
});

const cases: Case[] = [
  { name: 'x·Wᵀ, fp32 C', M: 96, N: 80, K: 72, tb: true },
  { name: 'x·Wᵀ, bf16 C', M: 96, N: 80, K: 72, tb: true, cBf16: true },
  { name: 'dy·W, bf16 C, beta 1', M: 64, N: 72, K: 48, cBf16: true, beta: 1 },
  { name: 'dy·W, fp32 C, alpha 1/(1-p), beta 1', M: 64, N: 72, K: 48, alpha: 1 / 0.9, beta: 1 },
  { name: 'dyᵀ·x (gradient), fp32 C, alpha 2, beta 1', M: 40, N: 56, K: 100, ta: true, alpha: 2, beta: 1 },
  { name: 'Aᵀ·Bᵀ, bf16 C', M: 33, N: 47, K: 65, ta: true, tb: true, cBf16: true },
  { name: 'odd ld (A, B, C), x·Wᵀ, fp32 C, beta 1', M: 50, N: 38, K: 70, tb: true, padA: 3, padB: 5, padC: 7, beta: 1 },
  { name: 'odd ld, dyᵀ·x, bf16 C', M: 30, N: 44, K: 90, ta: true, padA: 1, padB: 3, padC: 1, cBf16: true },
  { name: 'strided batch of 3 (attention q·kᵀ), fp32 C', M: 32, N: 40, K: 64, tb: true, batch: 3 },
  { name: 'strided batch of 3 (P·v), bf16 C, odd strides', M: 32, N: 64, K: 40, batch: 3, cBf16: true, extraStride: 3 },
  { name: 'strided batch of 3 (Pᵀ·dctx), fp32 C, beta 1, alpha 0.5', M: 40, N: 64, K: 32, ta: true, batch: 3, beta: 1, alpha: 0.5 },
  { name: 'Cublas::gemm_rowmajor x·Wᵀ, bf16 C', M: 72, N: 96, K: 64, tb: true, cBf16: true, api: 'cublas' },
  { name: 'Cublas::gemm_rowmajor batch 3 dyᵀ·x, fp32 C, beta 1', M: 24, N: 40, K: 56, ta: true, batch: 3, beta: 1, api: 'cublas' },
];

describe.skipIf(!lt)('cuda/gemm_lt: the cuBLASLt path against GemmEx', () => {
  for (const [i, c] of cases.entries()) {
    it(c.name, () => {
      const s = setup(c, 100 + 7 * i);
      const ex = engine._gemmLt!({ ...s.args, path: 'ex' });
      const before = ex.stats;
      const got = engine._gemmLt!({ ...s.args, path: 'lt' });
      check(ex.C, s, !!c.cBf16, 'GemmEx');
      check(got.C, s, !!c.cBf16, 'cuBLASLt');
      closeTo(got.C, ex.C, s, !!c.cBf16, c.name);
      // the Lt path ran (through cuBLASLt, or GemmEx where the key's timing picked it)
      expect(got.stats.ltCalls + got.stats.exCalls).toBe(before.ltCalls + before.exCalls + 1);
    });
  }

  it('reuses a tuned key: the same GEMM again is not timed again', () => {
    const s = setup({ name: '', M: 128, N: 96, K: 80, tb: true, cBf16: true }, 7);
    const first = engine._gemmLt!({ ...s.args, path: 'lt' });
    const second = engine._gemmLt!({ ...s.args, path: 'lt' });
    expect(second.stats.tuned).toBe(first.stats.tuned);
    expect(second.stats.keys).toBe(first.stats.keys);
    expect(second.stats.ltCalls + second.stats.exCalls).toBe(first.stats.ltCalls + first.stats.exCalls + 1);
    expect(Array.from(second.C)).toEqual(Array.from(first.C)); // one algorithm: the same bits
  });

  it('tunes a beta = 1 GEMM on first sight without touching its C (alpha·A·B + C once)', () => {
    for (const cBf16 of [false, true]) {
      const c: Case = { name: '', M: 77, N: 65 + (cBf16 ? 2 : 0), K: 129, beta: 1, alpha: 2, cBf16 };
      const s = setup(c, 11);
      const before = engine._gemmLt!({ ...s.args, path: 'ex' }).stats;
      const got = engine._gemmLt!({ ...s.args, path: 'lt' });
      expect(got.stats.tuned, 'a new key is timed in this call').toBe(before.tuned + 1);
      check(got.C, s, cBf16, `tuned on first sight, ${cBf16 ? 'bf16' : 'fp32'} C`);
    }
  });

  it('under capture: heuristic #0 and a queued key; gemm_tune_run tunes it; the re-captured graph agrees', () => {
    const c: Case = { name: '', M: 112, N: 88, K: 96, tb: true, beta: 1, alpha: 0.75 };
    const s = setup(c, 23);
    const before = engine._gemmLt!({ ...s.args, path: 'ex' }).stats;
    const got = engine._gemmLt!({ ...s.args, path: 'lt', capture: true, tuneRun: true });
    expect(got.pendingAfterCapture).toBe(true);
    expect(got.pendingAfterTune).toBe(false);
    expect(got.stats.tuned).toBe(before.tuned + 1);
    expect(got.stats.captureCalls).toBe(before.captureCalls + 2);
    check(got.C, s, false, 'captured with heuristic #0');
    check(got.C2!, s, false, 're-captured after tuning');
    // a captured GEMM that is tuned already is not queued again
    const again = engine._gemmLt!({ ...s.args, path: 'lt', capture: true });
    expect(again.pendingAfterCapture).toBe(false);
    check(again.C, s, false, 'captured, tuned key');
  });
});
