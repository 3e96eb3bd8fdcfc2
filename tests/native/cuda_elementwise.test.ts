// The CUDA ops of native/src/ops/ops_cuda.h in bf16 (the activation type of bf16 compute) against
// their fp32 twins on the same bf16-rounded inputs, and the fused FFN ops (activation + dropout in
// one pass) against the two-kernel sequences they replace:
//   - convert: exactly the host's round-to-nearest-even (ties, denormals, inf, NaN)
//   - rmsnorm (bf16 y): rstd bit-identical to the fp32 op's, y = the fp32 y rounded once
//   - dropout forward/backward: the fp32 result rounded once (so the same masks, flat index i);
//     accumulate into bf16 refused
//   - act / gated forward and backward, every activation: within the bf16 rounding of the fp32 result
//   - act_dropout_* / gated_dropout_* for float: bit for bit the two-kernel result (the lead swaps
//     them into t5_cuda.cpp, whose fp32 parity tests must not move), in place (ReLU: the backward
//     reads the dropped output as `pre`), aligned (16-byte vectors) and not (the scalar path), n not
//     a multiple of 8; for bf16: zero exactly where the fp32 result is zero, else within its rounding
//   - act_dropout_*_bitmask (ReLU, the T5 FFN when wo has no LoRA): the forward's output and the
//     backward's gradient bit for bit act_dropout_forward / act_dropout_backward's (fp32 and bf16,
//     in place or not, aligned or not, tails of words and of warp chunks), the mask exactly pre > 0
//   - rmsnorm_apply (a norm's output recomputed from the stored rstd): bit for bit rmsnorm's y
//   - rmsnorm_backward_dropout (the norm's backward + the next residual dropout's backward in one
//     pass): dx and the dropped gradient bit for bit rmsnorm_backward then dropout_backward
//   - dropout_add_rmsnorm (a sub-layer's residual add and the next norm in one pass): x_out, rstd
//     and the norm output bit for bit dropout_add then rmsnorm_forward, and the CPU composition
//   - the GEMM with bf16 operands (fp32 or bf16 C) against the fp32 GEMM
// and a micro-benchmark (µs per call, GB/s) at the flagship FFN size n = 8192 * 3072.
// GPU-only: skipped where the addon has no CUDA or there is no GPU (a CPU check that the hooks
// exist and say why they cannot run stays).
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { rand, roundBf16 } from './cuda-test-data';

const require = createRequire(import.meta.url);
process.env.OMP_WAIT_POLICY ??= 'passive';

type Out = {
  y?: Float32Array; d0?: Float32Array; d0Pre?: Float32Array; d1?: Float32Array; rstd?: Float32Array; mask?: Float32Array;
  maskTail?: number; ms: number; msBwd?: number; yApply?: Float32Array; msApply?: number;
  dx?: Float32Array; gDrop?: Float32Array; dxRef?: Float32Array; gDropRef?: Float32Array;
  xOut?: Float32Array; xOutRef?: Float32Array; yRef?: Float32Array; rstdRef?: Float32Array; msRef?: number; msNorm?: number;
  xOutCpu?: Float32Array; yCpu?: Float32Array; rstdCpu?: Float32Array;
};
type Engine = {
  cudaCompiled(): boolean;
  gpus(): { name: string }[];
  cublasInfo(): { available: boolean };
  _opsCudaElementwise(o: Record<string, unknown>): Out;
  _opsCudaGemm(o: Record<string, unknown>): { C: Float32Array; ms: number };
};
const engine = require('../../native/index.cjs').loadEngine() as Engine;
const gpu = engine.cudaCompiled() && engine.gpus().length > 0;
const cublas = gpu && engine.cublasInfo().available;


const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
// index of the first element whose bits differ, -1 if none
function firstBitDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  const ua = bits(a), ub = bits(b);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}
function expectBitEqual(got: Float32Array, want: Float32Array, what: string) {
  const i = firstBitDiff(got, want);
  expect(i, `${what}: first differing element ${i} (got ${got[i]}, want ${want[i]})`).toBe(-1);
}
// bf16 result against the fp32 one: within bf16's rounding (2^-9 relative) plus fp32 ordering
function bf16Err(got: Float32Array, want: Float32Array): { worst: number; at: number } {
  expect(got.length).toBe(want.length);
  let worst = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]) / (Math.abs(want[i]) + 1e-6);
    if (!(e <= worst)) { worst = Number.isNaN(e) ? Infinity : e; at = i; }
  }
  return { worst, at };
}
function expectBf16Close(got: Float32Array, want: Float32Array, what: string, tol = 4e-3) {
  const { worst, at } = bf16Err(got, want);
  expect(worst, `${what}: worst at ${at} (got ${got[at]}, want ${want[at]})`).toBeLessThan(tol);
}
// bf16 zero exactly where the fp32 result is zero (the masks and ReLU's zeros agree)
function expectSameZeros(got: Float32Array, want: Float32Array, what: string) {
  let bad = -1, zeros = 0;
  for (let i = 0; i < want.length; i++) {
    if (want[i] === 0) zeros++;
    if ((got[i] === 0) !== (want[i] === 0)) { bad = i; break; }
  }
  expect(bad, `${what}: zero pattern differs at ${bad} (got ${got[bad]}, want ${want[bad]})`).toBe(-1);
  return zeros;
}

const acts = ['relu', 'gelu_new', 'gelu', 'silu'] as const;
const ew = (o: Record<string, unknown>) => engine._opsCudaElementwise(o);
const P = 0.1, SEED = 20261128, SITE = 77;
// n: a multiple of 8 (vectors + no tail), and one with a tail; offset 1 puts every pointer off
// 16 bytes (the scalar path)
const layouts = [
  { n: 4096, offset: 0 },
  { n: 4101, offset: 0 },
  { n: 1029, offset: 1 },
];

describe('CUDA elementwise hooks (any machine)', () => {
  it('exist, and say why they cannot run without a GPU', () => {
    expect(typeof engine._opsCudaElementwise).toBe('function');
    expect(typeof engine._opsCudaGemm).toBe('function');
    if (gpu) return;
    const code = (f: () => unknown) => {
      try { f(); return 'no error'; } catch (e) { return (e as { code?: string }).code; }
    };
    const want = engine.cudaCompiled() ? 'ENGINE_NO_GPU' : 'ENGINE_UNSUPPORTED';
    expect(code(() => ew({ op: 'convert', x: new Float32Array(4) }))).toBe(want);
    expect(code(() => engine._opsCudaGemm({ M: 1, N: 1, K: 1, A: new Float32Array(1), B: new Float32Array(1) }))).toBe(want);
  });
});

describe.skipIf(!gpu)('CUDA bf16 ops against their fp32 twins', () => {
  it('convert: round to nearest even, as the host', () => {
    const special = new Float32Array(16);
    const su = bits(special);
    su.set([0x3f808000, 0x3f818000, 0x3f80c000, 0x3f807fff, 0xbf808000, 0x7f7fffff, 0xff7fffff, 0x7f800000,
      0xff800000, 0x7fc00001, 0x00000001, 0x00018000, 0x80008000, 0x00000000, 0x80000000, 0x3f800000]);
    for (const { n, offset } of layouts) {
      const x = rand(n, n, 3);
      x.set(special, 5);
      const got = ew({ op: 'convert', x, offset }).y!;
      const want = roundBf16(x);
      for (let i = 0; i < n; i++) {
        if (Number.isNaN(want[i])) expect(Number.isNaN(got[i]), `NaN at ${i}`).toBe(true);
        else if (bits(got)[i] !== bits(want)[i]) expect(got[i], `element ${i} (x ${x[i]})`).toBe(want[i]);
      }
    }
  });

  for (const normWarp of [false, true])
    it(`rmsnorm (${normWarp ? 'warp' : 'block'} a row): bf16 y is the fp32 y rounded once, rstd bit-identical`, () => {
      for (const [rows, d] of [[64, 768], [7, 100], [3, 1000], [5, 13], [2, 1300]]) {
        const x = rand(rows * d, rows + d, 2), w = rand(d, 3, 1.5);
        const f = ew({ op: 'rmsnorm', type: 'f32', x, w, rows, d, eps: 1e-6, normWarp });
        const b = ew({ op: 'rmsnorm', type: 'bf16', x, w, rows, d, eps: 1e-6, normWarp });
        expectBitEqual(b.rstd!, f.rstd!, `rstd ${rows}x${d}`);
        expectBitEqual(b.y!, roundBf16(f.y!), `y ${rows}x${d}`);
      }
    });

  it('dropout forward/backward: the fp32 result rounded once (same masks)', () => {
    for (const { n, offset } of layouts) {
      const x = roundBf16(rand(n, 11, 2)), g = rand(n, 12, 2);
      const common = { p: P, seed: SEED, site: SITE, offset };
      const f = ew({ op: 'dropout_forward', type: 'f32', x, ...common }).y!;
      const dropped = f.reduce((c, v) => c + (v === 0 ? 1 : 0), 0);
      expect(dropped / n, 'drop rate').toBeGreaterThan(0.05);
      expect(dropped / n, 'drop rate').toBeLessThan(0.15);
      for (const inPlace of [false, true])
        expectBitEqual(ew({ op: 'dropout_forward', type: 'bf16', x, inPlace, ...common }).y!, roundBf16(f), `fwd n ${n} off ${offset} inPlace ${inPlace}`);
      expectBitEqual(ew({ op: 'dropout_forward', type: 'bf16', x, ...common, p: 0 }).y!, x, 'fwd p 0');
      const fb = ew({ op: 'dropout_backward', type: 'f32', g, ...common }).y!;
      expectBitEqual(ew({ op: 'dropout_backward', type: 'bf16', g, ...common }).y!, roundBf16(fb), `bwd n ${n} off ${offset}`);
      expectBitEqual(ew({ op: 'dropout_backward', type: 'bf16', g, ...common, p: 0 }).y!, roundBf16(g), 'bwd p 0');
      // the backward's mask is the forward's
      for (let i = 0; i < n; i++) if ((f[i] === 0) !== (fb[i] === 0)) expect(i, 'fwd/bwd mask differ').toBe(-1);
    }
    let err: { code?: string; message?: string } = {};
    try { ew({ op: 'dropout_backward', type: 'bf16', g: rand(16, 1), p: P, seed: SEED, accumulate: true }); } catch (e) { err = e as typeof err; }
    expect(err.code).toBe('ENGINE_INVALID_ARG');
    expect(err.message).toMatch(/accumulate/);
  });

  for (const act of acts)
    it(`${act}: act and gated, forward and backward, within bf16 rounding`, () => {
      for (const { n, offset } of layouts) {
        const x = roundBf16(rand(n, 21, 3)), x1 = roundBf16(rand(n, 22, 2)), g = rand(n, 23, 1);
        const c = { act, offset };
        const pair = (op: string, inp: Record<string, unknown>, key: 'y' | 'd0' | 'd1' = 'y') => {
          const f = ew({ op, type: 'f32', ...c, ...inp })[key]!;
          const b = ew({ op, type: 'bf16', ...c, ...inp })[key]!;
          expectBf16Close(b, f, `${op}.${key} ${act} n ${n} off ${offset}`);
          expectSameZeros(b, f, `${op}.${key} ${act}`);
        };
        pair('act_forward', { x });
        pair('act_backward', { x, g });
        pair('gated_forward', { x, x1 });
        pair('gated_backward', { x, x1, g }, 'd0');
        pair('gated_backward', { x, x1, g }, 'd1');
      }
    });

  for (const act of acts)
    it(`${act}: fused act+dropout (float) bit for bit the two-kernel sequence; bf16 within rounding, same zeros`, () => {
      for (const { n, offset } of layouts)
        for (const p of [P, 0]) {
          const pre = rand(n, 31, 3), pre1 = rand(n, 32, 2), dh = rand(n, 33, 1);
          const d = { p, seed: SEED, site: SITE, offset, act };
          const tag = `${act} n ${n} off ${offset} p ${p}`;
          // forward: act_forward; dropout_forward(h, h)
          const h2 = ew({ op: 'dropout_forward', type: 'f32', x: ew({ op: 'act_forward', type: 'f32', x: pre, act, offset }).y!, inPlace: true, ...d }).y!;
          for (const inPlace of [false, true])
            expectBitEqual(ew({ op: 'act_dropout_forward', type: 'f32', x: pre, inPlace, ...d }).y!, h2, `act_dropout_forward ${tag} inPlace ${inPlace}`);
          // backward: dropout_backward(dh, g, acc=false); act_backward(pre, g)
          const g2 = ew({ op: 'dropout_backward', type: 'f32', g: dh, ...d }).y!;
          const dpre2 = ew({ op: 'act_backward', type: 'f32', x: pre, g: g2, act, offset }).y!;
          expectBitEqual(ew({ op: 'act_dropout_backward', type: 'f32', x: pre, g: dh, ...d }).y!, dpre2, `act_dropout_backward ${tag}`);
          if (act === 'relu') // t5_cuda's in-place ReLU: the backward reads the dropped output as pre
            expectBitEqual(ew({ op: 'act_dropout_backward', type: 'f32', x: h2, g: dh, ...d }).y!, dpre2, `relu in place ${tag}`);
          // gated
          const hg2 = ew({ op: 'dropout_forward', type: 'f32', x: ew({ op: 'gated_forward', type: 'f32', x: pre, x1: pre1, act, offset }).y!, inPlace: true, ...d }).y!;
          for (const inPlace of [false, true])
            expectBitEqual(ew({ op: 'gated_dropout_forward', type: 'f32', x: pre, x1: pre1, inPlace, ...d }).y!, hg2, `gated_dropout_forward ${tag} inPlace ${inPlace}`);
          const gb2 = ew({ op: 'gated_backward', type: 'f32', x: pre, x1: pre1, g: g2, act, offset });
          const gb = ew({ op: 'gated_dropout_backward', type: 'f32', x: pre, x1: pre1, g: dh, ...d });
          expectBitEqual(gb.d0!, gb2.d0!, `gated_dropout_backward d0 ${tag}`);
          expectBitEqual(gb.d1!, gb2.d1!, `gated_dropout_backward d1 ${tag}`);

          // bf16 against float on the same rounded inputs
          const rp = roundBf16(pre), rp1 = roundBf16(pre1);
          const cmp = (op: string, inp: Record<string, unknown>, keys: ('y' | 'd0' | 'd1')[]) => {
            const f = ew({ op, type: 'f32', ...d, ...inp }), b = ew({ op, type: 'bf16', ...d, ...inp });
            for (const k of keys) {
              expectSameZeros(b[k]!, f[k]!, `${op}.${k} bf16 ${tag}`);
              expectBf16Close(b[k]!, f[k]!, `${op}.${k} bf16 ${tag}`);
            }
          };
          cmp('act_dropout_forward', { x: rp }, ['y']);
          cmp('act_dropout_backward', { x: rp, g: dh }, ['y']);
          cmp('gated_dropout_forward', { x: rp, x1: rp1 }, ['y']);
          cmp('gated_dropout_backward', { x: rp, x1: rp1, g: dh }, ['d0', 'd1']);
          if (act === 'relu') {  // bf16 in place, the backward reading the dropped output
            const hb = ew({ op: 'act_dropout_forward', type: 'bf16', x: rp, inPlace: true, ...d }).y!;
            const want = ew({ op: 'act_dropout_backward', type: 'bf16', x: rp, g: dh, ...d }).y!;
            expectBitEqual(ew({ op: 'act_dropout_backward', type: 'bf16', x: hb, g: dh, ...d }).y!, want, `bf16 relu in place ${tag}`);
          }
        }
    });
});

describe.skipIf(!gpu)('CUDA rmsnorm_apply: the norm output again from the stored rstd', () => {
  for (const type of ['f32', 'bf16'] as const)
    for (const normWarp of [false, true])
    it(`${type}, ${normWarp ? 'warp' : 'block'} a row: bit for bit rmsnorm_forward's y (vectors, d % 8 != 0, misaligned)`, () => {
      for (const [rows, d, offset] of [[64, 768, 0], [7, 100, 0], [3, 1000, 0], [5, 8, 0], [9, 768, 1], [2, 13, 3], [3, 1300, 0]]) {
        const x = rand(rows * d, rows * 7 + d, 2), w = rand(d, 5, 1.5);
        const r = ew({ op: 'rmsnorm', type, x, w, rows, d, eps: 1e-6, offset, apply: true, normWarp });
        expectBitEqual(r.yApply!, r.y!, `${type} ${rows}x${d} off ${offset}`);
      }
    });
});

describe.skipIf(!gpu)('CUDA rmsnorm_backward_dropout: the norm backward and the next dropout backward in one pass', () => {
  for (const type of ['f32', 'bf16'] as const)
    for (const normWarp of [false, true])
    it(`${type}, ${normWarp ? 'warp' : 'block'} a row: dx and the dropped gradient bit for bit the two-kernel sequence (accumulate or not, p or 0)`, () => {
      for (const [rows, d, offset] of [[64, 768, 0], [7, 100, 0], [3, 1000, 1], [5, 13, 0], [2, 1300, 0], [9, 512, 2]])
        for (const accumulate of [false, true])
          for (const p of [P, 0]) {
            const x = rand(rows * d, rows + d, 2), w = rand(d, 6, 1.5), g = rand(rows * d, 7, 1), y0 = rand(rows * d, 8, 1);
            const r = ew({ op: 'rmsnorm_backward_dropout', type, x, w, g, y0, rows, d, eps: 1e-6, accumulate, p, seed: SEED, site: SITE, offset, normWarp });
            const tag = `${type} ${rows}x${d} off ${offset} acc ${accumulate} p ${p} warp ${normWarp}`;
            expectBitEqual(r.dx!, r.dxRef!, `dx ${tag}`);
            expectBitEqual(r.gDrop!, r.gDropRef!, `dropped gradient ${tag}`);
            if (p > 0) expect(r.gDrop!.some((v, i) => v === 0 && r.dx![i] !== 0), `some dropped ${tag}`).toBe(true);
          }
    });
});

describe.skipIf(!gpu)('CUDA dropout_add_rmsnorm: a sub-layer\'s residual add and the next norm in one pass', () => {
  for (const type of ['f32', 'bf16'] as const)
    for (const normWarp of [false, true])
    it(`${type}, ${normWarp ? 'warp' : 'block'} a row: x_out, rstd and the norm output bit for bit dropout_add then rmsnorm_forward`, () => {
      // d = 768 (the flagship: 3 elements a thread), d < 256 (idle threads), d not a multiple of 8,
      // d > 1024 (the warp path: read again), misaligned, in place over x_in, and p = 0 (eval: a plain add)
      for (const [rows, d, offset] of [[64, 768, 0], [7, 100, 0], [3, 1000, 1], [2, 1300, 3], [5, 8, 0], [6, 13, 0], [5, 2052, 0]])
        for (const inPlace of [false, true])
          for (const p of [P, 0]) {
            const x = rand(rows * d, rows * 3 + d, 2), y = rand(rows * d, d + 11, 1.5), w = rand(d, 12, 1.5);
            const r = ew({ op: 'dropout_add_rmsnorm', type, x, x1: y, w, rows, d, eps: 1e-6, p, seed: SEED, site: SITE, offset, inPlace, normWarp });
            const tag = `${type} ${rows}x${d} off ${offset} inPlace ${inPlace} p ${p} warp ${normWarp}`;
            expectBitEqual(r.xOut!, r.xOutRef!, `x_out ${tag}`);
            expectBitEqual(r.rstd!, r.rstdRef!, `rstd ${tag}`);
            expectBitEqual(r.y!, r.yRef!, `norm output ${tag}`);
            // the CPU composition: the same residual (one fp32 add), rstd from a double sum
            expectBitEqual(r.xOut!, r.xOutCpu!, `x_out vs CPU ${tag}`);
            for (let i = 0; i < rows; i++)
              expect(Math.abs(r.rstd![i] - r.rstdCpu![i]) / r.rstdCpu![i], `rstd vs CPU row ${i} ${tag}`).toBeLessThan(2e-5);
            if (type === 'f32') {
              let worst = 0;
              for (let i = 0; i < r.y!.length; i++) worst = Math.max(worst, Math.abs(r.y![i] - r.yCpu![i]) / (Math.abs(r.yCpu![i]) + 1e-6));
              expect(worst, `norm output vs CPU ${tag}`).toBeLessThan(4e-5);
            }
            if (p > 0) expect(r.xOut!.some((v, i) => v === x[i] && y[i] !== 0), `some dropped ${tag}`).toBe(true);
            else expect(r.xOut!.every((v, i) => v === Math.fround(x[i] + y[i])), `p = 0 is a plain add ${tag}`).toBe(true);
          }
    });
});

// The RMS norm ops' two paths (ops/norm_switch.h, the hook's normWarp): one block a row, and one
// warp a row with the row in registers (HUKUK_NORM_WARP=1). They sum in different orders, so they
// agree within fp32 rounding (checked against a float64 reference here), while each path is bit for
// bit consistent with itself (fused vs plain above, and here its vector vs scalar loads).
function rmsRef(x: Float32Array, w: Float32Array, rows: number, d: number, eps: number) {
  const rstd = new Float64Array(rows), y = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[r * d + i] * x[r * d + i];
    rstd[r] = 1 / Math.sqrt(ss / d + eps);
    for (let i = 0; i < d; i++) y[r * d + i] = w[i] * x[r * d + i] * rstd[r];
  }
  return { rstd, y };
}
// dx = rstd·w·g − x·(Σ w·g·x / d)·rstd³ (+ y0 when accumulating), in float64
function rmsBwdRef(x: Float32Array, w: Float32Array, g: Float32Array, y0: Float32Array | null, rows: number, d: number, eps: number) {
  const { rstd } = rmsRef(x, w, rows, d, eps);
  const dx = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    const rs = rstd[r];
    let dot = 0;
    for (let i = 0; i < d; i++) dot += w[i] * g[r * d + i] * x[r * d + i];
    const c = (dot / d) * rs * rs * rs;
    for (let i = 0; i < d; i++) dx[r * d + i] = rs * w[i] * g[r * d + i] - x[r * d + i] * c + (y0 ? y0[r * d + i] : 0);
  }
  return dx;
}
// worst |got − want| over the largest |want|: fp32 rounding of a row sum, free of the cancellation
// that makes single dx elements small
function normErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let err = 0, scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return err / scale;
}
function relErrMax(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.abs(want[i]));
  return worst;
}
// (rows, d): the flagship row, every register size (d ≤ 256, 512, 768, 1024), d > 1024 (read
// again), d % 4 != 0 (scalars only), rows not a multiple of a block's 4 warps
const normShapes = [[64, 768], [9, 768], [7, 100], [3, 1000], [5, 13], [2, 1300], [6, 512], [3, 4100], [1, 1]] as const;

describe.skipIf(!gpu)('CUDA RMS norm: one warp a row (HUKUK_NORM_WARP) against one block a row and float64', () => {
  it('forward: rstd and y within fp32 rounding of float64 and of the block path', () => {
    for (const [rows, d] of normShapes) {
      const x = rand(rows * d, rows * 5 + d, 2), w = rand(d, 9, 1.5);
      const ref = rmsRef(x, w, rows, d, 1e-6);
      const wp = ew({ op: 'rmsnorm', type: 'f32', x, w, rows, d, eps: 1e-6, normWarp: true });
      const bp = ew({ op: 'rmsnorm', type: 'f32', x, w, rows, d, eps: 1e-6, normWarp: false });
      const tag = `${rows}x${d}`;
      expect(relErrMax(wp.rstd!, ref.rstd), `warp rstd vs float64 ${tag}`).toBeLessThan(1e-5);
      expect(relErrMax(wp.rstd!, bp.rstd!), `warp rstd vs block ${tag}`).toBeLessThan(1e-5);
      expect(normErr(wp.y!, ref.y), `warp y vs float64 ${tag}`).toBeLessThan(2e-5);
      expect(normErr(wp.y!, bp.y!), `warp y vs block ${tag}`).toBeLessThan(2e-5);
    }
  });

  it('forward and backward: the vector and the scalar loads give the same bits (the sums do not depend on alignment)', () => {
    for (const [rows, d] of [[9, 768], [6, 512], [3, 1000], [2, 1300], [3, 4100], [7, 100]] as const)
      for (const type of ['f32', 'bf16'] as const) {
        const x = rand(rows * d, rows + 2 * d, 2), w = rand(d, 10, 1.5), g = rand(rows * d, 11, 1), y0 = rand(rows * d, 12, 1);
        const tag = `${type} ${rows}x${d}`;
        const fa = ew({ op: 'rmsnorm', type, x, w, rows, d, eps: 1e-6, normWarp: true, offset: 0 });
        for (const offset of [1, 2]) {  // every pointer off its vector alignment: the scalar loads
          const fm = ew({ op: 'rmsnorm', type, x, w, rows, d, eps: 1e-6, normWarp: true, offset });
          expectBitEqual(fm.rstd!, fa.rstd!, `rstd ${tag} off ${offset}`);
          expectBitEqual(fm.y!, fa.y!, `y ${tag} off ${offset}`);
        }
        const bw = (offset: number) => ew({ op: 'rmsnorm_backward_dropout', type, x, w, g, y0, rows, d, eps: 1e-6, accumulate: true, p: P, seed: SEED, site: SITE, offset, normWarp: true });
        const ba = bw(0), bm = bw(1);
        expectBitEqual(bm.dx!, ba.dx!, `dx ${tag}`);
        expectBitEqual(bm.gDrop!, ba.gDrop!, `dropped gradient ${tag}`);
      }
  });

  it('backward: dx within fp32 rounding of float64 and of the block path (accumulate or not)', () => {
    // not d = 1: there dx = w·g·rstd·eps / (x² + eps), all cancellation, nothing to measure rounding by
    for (const [rows, d] of normShapes.filter(([, dd]) => dd > 1))
      for (const accumulate of [false, true]) {
        const x = rand(rows * d, rows * 3 + d, 2), w = rand(d, 13, 1.5), g = rand(rows * d, 14, 1), y0 = rand(rows * d, 15, 1);
        const ref = rmsBwdRef(x, w, g, accumulate ? y0 : null, rows, d, 1e-6);
        const o = { op: 'rmsnorm_backward_dropout', type: 'f32', x, w, g, y0, rows, d, eps: 1e-6, accumulate, p: 0 };
        const wp = ew({ ...o, normWarp: true }), bp = ew({ ...o, normWarp: false });
        const tag = `${rows}x${d} acc ${accumulate}`;
        expect(normErr(wp.dxRef!, ref), `warp dx vs float64 ${tag}`).toBeLessThan(2e-5);
        expect(normErr(wp.dxRef!, bp.dxRef!), `warp dx vs block ${tag}`).toBeLessThan(2e-5);
        expect(normErr(bp.dxRef!, ref), `block dx vs float64 ${tag}`).toBeLessThan(2e-5);
      }
  });

  it('dropout_add_rmsnorm: the same residual and dropped elements on both paths', () => {
    for (const [rows, d] of normShapes) {
      const x = rand(rows * d, rows + d + 1, 2), y = rand(rows * d, d + 3, 1.5), w = rand(d, 16, 1.5);
      const o = { op: 'dropout_add_rmsnorm', type: 'f32', x, x1: y, w, rows, d, eps: 1e-6, p: P, seed: SEED, site: SITE };
      const wp = ew({ ...o, normWarp: true }), bp = ew({ ...o, normWarp: false });
      const tag = `${rows}x${d}`;
      expectBitEqual(wp.xOut!, bp.xOut!, `x_out ${tag}`);
      expect(relErrMax(wp.rstd!, bp.rstd!), `rstd ${tag}`).toBeLessThan(1e-5);
      expect(normErr(wp.y!, wp.yCpu!), `y vs CPU ${tag}`).toBeLessThan(2e-5);
    }
  });
});

describe.skipIf(!gpu)('CUDA RMS norm micro-benchmark: one block a row vs one warp a row (d 768)', () => {
  it('forward, dropout_add_rmsnorm, backward, backward + dropout at 8192 and 2048 rows (bf16 outputs)', { timeout: 120_000 }, () => {
    const d = 768, reps = 50;
    const line = (what: string, ms: number, bytes: number) =>
      console.log(`bench ${what.padEnd(52)} ${(ms * 1000).toFixed(1).padStart(8)} us ${(bytes / ms / 1e6).toFixed(0).padStart(6)} GB/s`);
    for (const rows of [8192, 2048]) {
      const n = rows * d;
      const x = rand(n, 71, 2), y = rand(n, 72, 1.5), g = rand(n, 73, 1), y0 = rand(n, 74, 1), w = rand(d, 75, 1.5);
      for (const normWarp of [false, true]) {
        const tag = `${normWarp ? 'warp ' : 'block'} ${rows}x${d}`;
        const f = ew({ op: 'rmsnorm', type: 'bf16', x, w, rows, d, reps, normWarp });
        line(`rmsnorm_forward bf16 ${tag}`, f.ms, n * 4 + n * 2 + rows * 4);
        const a = ew({ op: 'dropout_add_rmsnorm', type: 'bf16', x, x1: y, w, rows, d, p: P, seed: SEED, site: SITE, reps, normWarp });
        line(`dropout_add_rmsnorm bf16 ${tag}`, a.ms, 3 * n * 4 + n * 2 + rows * 4);
        const b = ew({ op: 'rmsnorm_backward_dropout', type: 'bf16', x, w, g, y0, rows, d, accumulate: true, p: P, seed: SEED, site: SITE, reps, normWarp });
        line(`rmsnorm_backward acc ${tag}`, b.msNorm!, 4 * n * 4 + rows * 4);
        line(`rmsnorm_backward_dropout acc bf16 ${tag}`, b.ms, 4 * n * 4 + n * 2 + rows * 4);
      }
    }
  });
});

describe.skipIf(!gpu)('CUDA ReLU + dropout with a bitmask of relu\' (act_dropout_*_bitmask)', () => {
  // tails: n % 32 (a part word), n % 256 (a part warp chunk), misaligned (scalar loads), and a size
  // over several grid-stride rounds' worth of chunks is not needed (grid_for caps at 8 blocks/SM:
  // 300k elements run ~1.2k warps, one round on a big card; the loop is the same code either way)
  const bmLayouts = [
    { n: 4096, offset: 0 }, { n: 4101, offset: 0 }, { n: 1029, offset: 1 }, { n: 33, offset: 0 },
    { n: 300_007, offset: 0 }, { n: 2000, offset: 3 },
  ];
  for (const type of ['f32', 'bf16'] as const)
    it(`${type}: output, mask and gradient bit for bit the act_dropout path`, () => {
      for (const { n, offset } of bmLayouts)
        for (const p of [P, 0]) {
          const pre = rand(n, n + 91, 3), dh = rand(n, 92, 1);
          pre[0] = 0; if (n > 2) { pre[1] = -0; pre[2] = 1e-30; } // zeros give bit 0; a tiny positive 1
          const d = { type, act: 'relu', p, seed: SEED, site: SITE, offset };
          const tag = `${type} n ${n} off ${offset} p ${p}`;
          const hWant = ew({ op: 'act_dropout_forward', x: pre, ...d }).y!;
          const gWant = ew({ op: 'act_dropout_backward', x: pre, g: dh, ...d }).y!;
          // t5_cuda's previous path: the backward reads the in-place dropped output as pre
          expectBitEqual(ew({ op: 'act_dropout_backward', x: hWant, g: dh, ...d }).y!, gWant, `in place ${tag}`);
          const rp = type === 'bf16' ? roundBf16(pre) : pre;
          for (const inPlace of [false, true]) {
            const r = ew({ op: 'act_dropout_bitmask', x: pre, g: dh, inPlace, ...d });
            expectBitEqual(r.y!, hWant, `forward ${tag} inPlace ${inPlace}`);
            expectBitEqual(r.d0!, gWant, `backward ${tag} inPlace ${inPlace}`);
            let bad = -1;
            for (let i = 0; i < n; i++) if (r.mask![i] !== (rp[i] > 0 ? 1 : 0)) { bad = i; break; }
            expect(bad, `mask ${tag}: first wrong bit ${bad} (pre ${rp[bad]})`).toBe(-1);
            expect(r.maskTail, `bits past n ${tag}`).toBe(0);
            // keepInMask (t5_cuda's HUKUK_T5_RELU_KEEP_MASK): the same outputs, the bit = relu' && kept
            // (kept: a positive pre whose output is not zero), the backward from the bit alone;
            // prescaled (bf16, HUKUK_T5_FFN_BWD_BF16): from bf16(dh / (1 - p)) masked in place
            for (const keepInMask of [false, true]) {
              const k = ew({ op: 'act_dropout_bitmask', x: pre, g: dh, inPlace, keepInMask, prescaled: type === 'bf16', ...d });
              expectBitEqual(k.y!, hWant, `forward ${tag} keepInMask ${keepInMask}`);
              expectBitEqual(k.d0!, gWant, `backward ${tag} keepInMask ${keepInMask}`);
              if (type === 'bf16') expectBitEqual(k.d0Pre!, gWant, `prescaled backward ${tag} keepInMask ${keepInMask}`);
              let badK = -1;
              for (let i = 0; i < n; i++) {
                const want = rp[i] > 0 && (!keepInMask || p === 0 || hWant[i] !== 0) ? 1 : 0;
                if (k.mask![i] !== want) { badK = i; break; }
              }
              expect(badK, `mask ${tag} keepInMask ${keepInMask}: first wrong bit ${badK}`).toBe(-1);
            }
          }
        }
    });
  it('ReLU only', () => {
    let err: { code?: string } = {};
    try { ew({ op: 'act_dropout_bitmask', act: 'gelu', x: rand(64, 1), p: P, seed: SEED }); } catch (e) { err = e as typeof err; }
    expect(err.code).toBe('ENGINE_INVALID_ARG');
  });
});

describe.skipIf(!cublas)('CUDA GEMM with bf16 operands against the fp32 GEMM', () => {
  // relative Frobenius error of got against want
  const relNorm = (got: Float32Array, want: Float32Array) => {
    let d = 0, w = 0;
    for (let i = 0; i < want.length; i++) { d += (got[i] - want[i]) ** 2; w += want[i] ** 2; }
    return Math.sqrt(d / Math.max(w, 1e-30));
  };
  const shapes = [
    { M: 128, N: 192, K: 256, batch: 1 },
    { M: 33, N: 40, K: 24, batch: 1 },
    { M: 64, N: 96, K: 80, batch: 3 },
  ];
  for (const { M, N, K, batch } of shapes)
    for (const [ta, tb] of [[false, true], [false, false], [true, false]])
      it(`M ${M} N ${N} K ${K} batch ${batch} ta ${ta} tb ${tb}`, () => {
        const A = roundBf16(rand(M * K * batch, 41, 1)), B = roundBf16(rand(K * N * batch, 42, 1));
        const C0 = roundBf16(rand(M * N * batch, 43, 1));
        const base = { M, N, K, batch, ta, tb, A, B, alpha: 0.75 };
        const f = engine._opsCudaGemm({ ...base, type: 'f32', precision: 'f32' }).C;
        const b = engine._opsCudaGemm({ ...base, type: 'bf16' }).C;
        const e = relNorm(b, f);
        // the products of bf16 values are exact in fp32: only the accumulation order differs
        expect(e, 'bf16 operands, fp32 C').toBeLessThan(1e-3);
        const bc = engine._opsCudaGemm({ ...base, type: 'bf16c' }).C;
        expect(relNorm(bc, f), 'bf16 C').toBeLessThan(4e-3);
        // beta = 1 accumulates into C (fp32 and bf16 C)
        const fa = engine._opsCudaGemm({ ...base, C: C0, beta: 1, type: 'f32', precision: 'f32' }).C;
        const ba = engine._opsCudaGemm({ ...base, C: C0, beta: 1, type: 'bf16' }).C;
        const bca = engine._opsCudaGemm({ ...base, C: C0, beta: 1, type: 'bf16c' }).C;
        expect(relNorm(ba, fa), 'beta 1, fp32 C').toBeLessThan(1e-3);
        expect(relNorm(bca, fa), 'beta 1, bf16 C').toBeLessThan(4e-3);
        console.log(`gemm bf16 M${M} N${N} K${K} b${batch} ${ta ? 't' : 'n'}${tb ? 't' : 'n'}: fp32 C ${e.toExponential(2)}, bf16 C ${relNorm(bc, f).toExponential(2)}, beta 1 ${relNorm(ba, fa).toExponential(2)} / ${relNorm(bca, fa).toExponential(2)}`);
      });

  it('benchmark: a T5 FFN GEMM (8192 x 3072 x 768), fp32 (TF32 / bf16-fast) vs bf16 operands', { timeout: 120_000 }, () => {
    const M = 8192, N = 3072, K = 768;
    const A = rand(M * K, 51, 1), B = rand(N * K, 52, 1);
    const flops = 2 * M * N * K;
    for (const [type, precision] of [['f32', 'tf32'], ['f32', 'bf16'], ['bf16', 'f32'], ['bf16c', 'f32']]) {
      const { ms } = engine._opsCudaGemm({ M, N, K, tb: true, A, B, type, precision, reps: 20 });
      console.log(`bench gemm ${type}${type === 'f32' ? `/${precision}` : ''} ${M}x${N}x${K}: ${(ms * 1000).toFixed(1)} us, ${(flops / ms / 1e9).toFixed(0)} TFLOP/s`);
    }
  });
});

describe.skipIf(!gpu)('CUDA elementwise micro-benchmark (n = 8192 * 3072)', () => {
  it('rmsnorm, act_dropout forward/backward, fused vs two kernels, fp32 and bf16', { timeout: 180_000 }, () => {
    const n = 8192 * 3072, d = 768, rows = n / d;
    const x = rand(n, 61, 2), g = rand(n, 62, 1), w = rand(d, 63, 1);
    const reps = 20;
    const line = (what: string, ms: number, bytes: number) =>
      console.log(`bench ${what.padEnd(44)} ${(ms * 1000).toFixed(1).padStart(8)} us ${(bytes / ms / 1e6).toFixed(0).padStart(6)} GB/s`);
    for (const type of ['f32', 'bf16'] as const) {
      const sz = type === 'f32' ? 4 : 2;
      const rn = ew({ op: 'rmsnorm', type, x, w, rows, d, reps, apply: true });
      line(`rmsnorm ${type} (${rows} x ${d})`, rn.ms, n * 4 + n * sz + rows * 4);
      line(`rmsnorm_apply ${type} (${rows} x ${d})`, rn.msApply!, n * 4 + n * sz + rows * 4);
      {  // the sub-layer end at 8192 rows x 768: the fused op vs dropout_add + rmsnorm
        const rowsR = 8192, nR = rowsR * d, xR = x.subarray(0, nR), yR = g.subarray(0, nR);
        const f = ew({ op: 'dropout_add_rmsnorm', type, x: xR, x1: yR, w, rows: rowsR, d, p: P, seed: SEED, site: SITE, reps });
        line(`dropout_add_rmsnorm ${type} (${rowsR} x ${d})`, f.ms, 3 * nR * 4 + nR * sz + rowsR * 4);
        line(`dropout_add + rmsnorm ${type} (${rowsR} x ${d})`, f.msRef!, 4 * nR * 4 + nR * sz + rowsR * 4);
      }
      const c = { type, act: 'relu', p: P, seed: SEED, site: SITE, reps };
      line(`act_dropout_forward ${type} relu in place`, ew({ op: 'act_dropout_forward', x, inPlace: true, ...c }).ms, 2 * n * sz);
      line(`act_dropout_backward ${type} relu`, ew({ op: 'act_dropout_backward', x, g, ...c }).ms, 2 * n * sz + 4 * n);
      const bm = ew({ op: 'act_dropout_bitmask', x, g, inPlace: true, ...c });
      line(`act_dropout_forward_bitmask ${type} relu in place`, bm.ms, 2 * n * sz + n / 8);
      line(`act_dropout_backward_bitmask ${type} relu`, bm.msBwd!, n * sz + 4 * n + n / 8);
      line(`gated_dropout_forward ${type} gelu_new`, ew({ op: 'gated_dropout_forward', x, x1: g, ...c, act: 'gelu_new' }).ms, 3 * n * sz);
      line(`gated_dropout_backward ${type} gelu_new`, ew({ op: 'gated_dropout_backward', x, x1: g, g, ...c, act: 'gelu_new' }).ms, 4 * n * sz + 4 * n);
    }
    // today's fp32 two-kernel sequences, for the fused ops' gain
    const c = { type: 'f32', act: 'relu', p: P, seed: SEED, site: SITE, reps };
    const f1 = ew({ op: 'act_forward', x, inPlace: true, ...c }).ms, f2 = ew({ op: 'dropout_forward', x, inPlace: true, ...c }).ms;
    line('two kernels f32: act_forward + dropout_forward', f1 + f2, 4 * n * 4);
    const b1 = ew({ op: 'dropout_backward', g, ...c }).ms, b2 = ew({ op: 'act_backward', x, g, ...c }).ms;
    line('two kernels f32: dropout_backward + act_backward', b1 + b2, 5 * n * 4);
  });
});
