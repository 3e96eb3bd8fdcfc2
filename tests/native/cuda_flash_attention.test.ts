// The fused (flash-style) attention of native/src/ops/flash_attention.cu against the CPU fp32
// reference (ops/attention.cpp) on random inputs: ctx and dQ/dK/dV for encoder-like (bias + key
// mask with padded keys), decoder (causal + bias), cross (key mask, no bias) attention, with
// attention dropout 0.1 (the fused kernels must regenerate exactly the unfused path's mask, or the
// comparison fails by far more than bf16 rounding), odd lengths (tile tails) and rows that see no
// key at all (uniform over all keys, as torch). The same cases again through the bf16 I/O
// overloads (q/k/v/ctx/dQ/dK/dV bf16, dctx fp32) against the reference on the same bf16-rounded
// inputs. Then a micro-benchmark (µs per call and TFLOP/s, fp32 and bf16 I/O, forward and backward)
// at the T5 training shapes, beside the unfused CUDA path (cuBLAS GEMMs + softmax kernels, as
// t5_cuda.cpp runs it).
// GPU-only: skipped where the addon has no CUDA or there is no GPU.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { rand, roundBf16 } from './cuda-test-data';

const require = createRequire(import.meta.url);
process.env.OMP_WAIT_POLICY ??= 'passive';

interface FlashOut {
  ctx: Float32Array;
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
  fwdMs: number;
  bwdMs: number;
  bwd3Blocks: boolean;
  fwdIdx64: boolean;
  bwdDot16: boolean;
  bwdOneTile: number;
}
type Engine = {
  cudaCompiled(): boolean;
  gpus(): { name: string }[];
  cublasInfo(): { available: boolean };
  _opsFlashAttention(o: Record<string, unknown>): FlashOut;
};
const engine = require('../../native/index.cjs').loadEngine() as Engine;
const gpu = engine.cudaCompiled() && engine.gpus().length > 0;
const cublas = gpu && engine.cublasInfo().available;

interface Case {
  name: string;
  B: number;
  H: number;
  Tq: number;
  Tk: number;
  bias?: boolean;
  causal?: boolean;
  dropout?: number;
  // keys kept per batch row (the rest padded); undefined: no key mask
  keep?: (b: number, j: number) => boolean;
}

// A bias of T5's form: per head a function of j - i alone (Toeplitz), [H, Tq, Tk]
function toeplitzBias(H: number, Tq: number, Tk: number, seed: number): Float32Array {
  const n = Tq + Tk - 1, diag = rand(H * n, seed), out = new Float32Array(H * Tq * Tk);
  for (let h = 0; h < H; h++)
    for (let i = 0; i < Tq; i++)
      for (let j = 0; j < Tk; j++) out[(h * Tq + i) * Tk + j] = diag[h * n + j - i + Tq - 1];
  return out;
}

function inputs(c: Case, dk = 64, toeplitz = false): Record<string, unknown> {
  const nq = c.B * c.Tq * c.H * dk, nk = c.B * c.Tk * c.H * dk;
  const o: Record<string, unknown> = {
    B: c.B, H: c.H, Tq: c.Tq, Tk: c.Tk, dk,
    q: rand(nq, 1, 0.5), k: rand(nk, 2, 0.5), v: rand(nk, 3), dctx: rand(nq, 4),
    causal: Boolean(c.causal), dropout: c.dropout ?? 0, seed: 1234567, site: 42,
  };
  if (c.bias) o.bias = toeplitz ? toeplitzBias(c.H, c.Tq, c.Tk, 5) : rand(c.H * c.Tq * c.Tk, 5);
  if (c.keep) {
    const km = new Int32Array(c.B * c.Tk);
    for (let b = 0; b < c.B; b++) for (let j = 0; j < c.Tk; j++) km[b * c.Tk + j] = c.keep(b, j) ? 1 : 0;
    o.keyMask = km;
  }
  return o;
}

// max |got - want| / max |want|
function relErr(got: Float32Array, want: Float32Array): number {
  expect(got.length).toBe(want.length);
  let d = 0, m = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]);
    d = Number.isNaN(e) ? Infinity : Math.max(d, e);
    m = Math.max(m, Math.abs(want[i]));
  }
  return d / Math.max(m, 1e-30);
}

function bf16Inputs(o: Record<string, unknown>): Record<string, unknown> {
  return { ...o, q: roundBf16(o.q as Float32Array), k: roundBf16(o.k as Float32Array), v: roundBf16(o.v as Float32Array) };
}

// elements where a and b differ bitwise-as-floats (a plain loop: vitest's deep toEqual on typed
// arrays of millions of elements takes tens of seconds)
function mismatches(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) n++;
  return n;
}

const outputs = ['ctx', 'dq', 'dk', 'dv'] as const;
function errors(got: FlashOut, want: FlashOut): Record<string, number> {
  return Object.fromEntries(outputs.map((k) => [k, relErr(got[k], want[k])]));
}
const fmt = (e: Record<string, number>) => outputs.map((k) => `${k} ${e[k].toExponential(2)}`).join(', ');

const padded = (b: number, j: number, Tk: number) => j < Tk - 17 * b;  // batch row b: last 17*b keys padded
const cases: Case[] = [
  { name: 'encoder: bias + key mask (padded keys)', B: 3, H: 2, Tq: 128, Tk: 128, bias: true, keep: (b, j) => padded(b, j, 128) },
  { name: 'decoder: causal + bias', B: 2, H: 3, Tq: 130, Tk: 130, bias: true, causal: true },
  { name: 'cross: key mask, no bias, Tq 96 x Tk 77', B: 3, H: 2, Tq: 96, Tk: 77, keep: (b, j) => padded(b, j, 77) },
  { name: 'encoder + dropout 0.1', B: 3, H: 2, Tq: 128, Tk: 128, bias: true, dropout: 0.1, keep: (b, j) => padded(b, j, 128) },
  { name: 'decoder + dropout 0.1', B: 2, H: 3, Tq: 192, Tk: 192, bias: true, causal: true, dropout: 0.1 },
  { name: 'cross + dropout 0.1', B: 2, H: 2, Tq: 64, Tk: 200, dropout: 0.1, keep: (b, j) => padded(b, j, 200) },
  { name: 'odd 77 x 45: bias + key mask + dropout 0.1', B: 2, H: 3, Tq: 77, Tk: 45, bias: true, dropout: 0.1, keep: (b, j) => padded(b, j, 45) },
  // Tk >= 256 takes the 8-warp backward blocks (128 keys), shorter Tk the 4-warp ones
  { name: 'long encoder 300: bias + key mask + dropout 0.1', B: 2, H: 2, Tq: 300, Tk: 300, bias: true, dropout: 0.1, keep: (b, j) => padded(b, j, 300) },
  { name: 'long decoder 270: causal + bias + dropout 0.1', B: 2, H: 2, Tq: 270, Tk: 270, bias: true, causal: true, dropout: 0.1 },
  { name: 'long cross 50 x 390: key mask + dropout 0.1', B: 2, H: 2, Tq: 50, Tk: 390, dropout: 0.1, keep: (b, j) => padded(b, j, 390) },
  // batch row 1 has no key at all: every row uniform over all keys (torch's answer)
  { name: 'a batch row with every key masked', B: 2, H: 2, Tq: 70, Tk: 66, bias: true, keep: (b) => b === 0 },
  // causal with leading padded keys: the first rows see no key (uniform over ALL keys, future ones too)
  { name: 'causal, first 70 keys masked (rows with no key)', B: 2, H: 2, Tq: 150, Tk: 150, causal: true, dropout: 0.1, keep: (b, j) => b === 0 || j >= 70 },
  { name: 'causal 300, first 140 keys masked (rows with no key)', B: 2, H: 2, Tq: 300, Tk: 300, causal: true, bias: true, keep: (b, j) => b === 0 || j >= 140 },
];

describe.skipIf(!gpu)('fused attention on CUDA vs the CPU fp32 reference', () => {
  const tol = 2e-2;
  for (const c of cases)
    it(c.name, { timeout: 120_000 }, () => {
      const o = inputs(c);
      const want = engine._opsFlashAttention({ ...o, mode: 'reference' });
      const e = errors(engine._opsFlashAttention({ ...o, mode: 'fused' }), want);
      // the forward's recorded dropout mask read back by the backward (or, without dropout, ignored)
      const eb = errors(engine._opsFlashAttention({ ...o, mode: 'fused', dropoutBits: true }), want);
      console.log(`flash vs cpu | ${c.name} | ${fmt(e)} | with the dropout record: ${fmt(eb)}`);
      for (const k of outputs) expect(eb[k], `with bits ${k}`).toBeLessThan(tol);
      if (cublas) {
        const unf = engine._opsFlashAttention({ ...o, mode: 'unfused', precision: 'bf16' });
        console.log(`  unfused bf16 vs cpu | ${fmt(errors(unf, want))}`);
      }
      for (const k of outputs) expect(e[k], k).toBeLessThan(tol);
    });

  // bf16 I/O: the fp32 tolerance plus the rounding of each output to bf16 (2^-9 relative)
  const tolBf16 = tol + 4e-3;
  for (const c of cases)
    it(`bf16 I/O: ${c.name}`, { timeout: 120_000 }, () => {
      const o = bf16Inputs(inputs(c));
      const want = engine._opsFlashAttention({ ...o, mode: 'reference' });
      const e = errors(engine._opsFlashAttention({ ...o, mode: 'fused', io: 'bf16' }), want);
      const eb = errors(engine._opsFlashAttention({ ...o, mode: 'fused', io: 'bf16', dropoutBits: true }), want);
      const e32 = errors(engine._opsFlashAttention({ ...o, mode: 'fused' }), want);
      console.log(`flash bf16 io vs cpu | ${c.name} | ${fmt(e)} | with the dropout record: ${fmt(eb)} | fp32 io: ${fmt(e32)}`);
      for (const k of outputs) expect(e[k], k).toBeLessThan(tolBf16);
      for (const k of outputs) expect(eb[k], `with bits ${k}`).toBeLessThan(tolBf16);
    });

  // The bias in Toeplitz form (SoftmaxArgs::bias_diag, read from shared memory) against the same
  // bias as a [H, Tq, Tk] table: the same values enter the same sums, so ctx, dK, dV are equal bit for
  // bit; dQ (fp32 atomics, order varies run to run) to rounding. And both against the CPU reference.
  const toeplitzCases = cases.filter((c) => c.bias);
  for (const c of toeplitzCases)
    for (const io of ['f32', 'bf16'] as const)
      it(`Toeplitz bias (bias_diag), ${io} I/O: ${c.name}`, { timeout: 120_000 }, () => {
        const o0 = inputs(c, 64, true);
        const o = io === 'bf16' ? bf16Inputs(o0) : o0;
        const want = engine._opsFlashAttention({ ...o, mode: 'reference' });
        const table = engine._opsFlashAttention({ ...o, mode: 'fused', io });
        const diag = engine._opsFlashAttention({ ...o, mode: 'fused', io, biasDiag: true });
        const e = errors(diag, want);
        const same = errors(diag, table);
        console.log(`flash bias_diag ${io} | ${c.name} | vs cpu ${fmt(e)} | vs the table ${fmt(same)}`);
        for (const k of outputs) expect(e[k], k).toBeLessThan(io === 'bf16' ? tolBf16 : tol);
        expect(mismatches(diag.ctx, table.ctx), 'ctx').toBe(0);
        expect(mismatches(diag.dk, table.dk), 'dk').toBe(0);
        expect(mismatches(diag.dv, table.dv), 'dv').toBe(0);
        expect(same.dq).toBeLessThan(io === 'bf16' ? 8e-3 : 1e-5);
        if (c.dropout) {
          const bits = engine._opsFlashAttention({ ...o, mode: 'fused', io, biasDiag: true, dropoutBits: true });
          for (const k of outputs) expect(errors(bits, want)[k], `with bits ${k}`).toBeLessThan(io === 'bf16' ? tolBf16 : tol);
        }
      });

  it('biasDiag refuses a bias that is not Toeplitz', () => {
    const o = inputs(cases[0]);
    expect(() => engine._opsFlashAttention({ ...o, mode: 'fused', biasDiag: true })).toThrow(/j - i only/);
  });

  it('dropout really drops (and the mask is not the fused one of another seed)', { timeout: 60_000 }, () => {
    const c = cases[3];
    const o = inputs(c);
    const want = engine._opsFlashAttention({ ...o, mode: 'reference' });
    const other = engine._opsFlashAttention({ ...o, mode: 'fused', seed: 7654321 });
    const e = errors(other, want);
    console.log(`flash (another seed) vs cpu | ${fmt(e)}`);
    expect(e.ctx).toBeGreaterThan(0.05);
  });

  it('flash_supported is false for d_kv != 64 (callers fall back to the unfused path)', () => {
    const o = inputs({ name: 'dk16', B: 1, H: 2, Tq: 8, Tk: 8 }, 16);
    expect(() => engine._opsFlashAttention({ ...o, mode: 'fused' })).toThrow(/flash_supported/);
  });
});

// The bf16 backward at 3 blocks per SM (registers fitted to 168, the default where the shared memory
// fits: the Toeplitz bias or none) against the same kernel at 2 (HUKUK_FLASH_BWD_3BLOCKS=0), forced
// per call with the hook's bwd3Blocks option (the variable itself is read once per process): both
// against the CPU reference, and against each other (ctx is the same forward; dK, dV come from the
// same code, dQ to the atomics' order).
describe.skipIf(!gpu)('bf16 backward at 3 vs 2 blocks per SM (bwd3Blocks)', () => {
  const tolBf16 = 2e-2 + 4e-3;
  // sm_90 parts have 228 KiB of shared memory per SM: 3 blocks fit with bias_diag or no bias
  const hopper = gpu && /H100|H200|H800|H20\b|GH200/.test(engine.gpus()[0]?.name ?? '');
  for (const c of cases.filter((x) => x.dropout || !x.bias))
    it(c.name, { timeout: 120_000 }, () => {
      // bwdOneTile 0: the three-launch kernels under test also where Tk <= 64 (one launch is the default there)
      const o = { ...bf16Inputs(inputs(c, 64, Boolean(c.bias))), mode: 'fused', io: 'bf16', biasDiag: Boolean(c.bias), bwdOneTile: 0 };
      const want = engine._opsFlashAttention({ ...o, mode: 'reference' });
      const three = engine._opsFlashAttention({ ...o, bwd3Blocks: true });
      const two = engine._opsFlashAttention({ ...o, bwd3Blocks: false });
      expect(two.bwd3Blocks, 'bwd3Blocks: false runs the 2-block kernel').toBe(false);
      if (hopper) expect(three.bwd3Blocks, 'bwd3Blocks: true runs the 3-block kernel on sm_90').toBe(true);
      const e3 = errors(three, want), e2 = errors(two, want), vs = errors(three, two);
      console.log(`flash bwd 3 vs 2 blocks | ${c.name} | ran 3: ${three.bwd3Blocks} | 3 vs cpu ${fmt(e3)} | 2 vs cpu ${fmt(e2)}` +
        ` | 3 vs 2 ${fmt(vs)}, dk/dv elements differing ${mismatches(three.dk, two.dk)}/${mismatches(three.dv, two.dv)}`);
      for (const k of outputs) expect(e3[k], `3 blocks ${k}`).toBeLessThan(tolBf16);
      for (const k of outputs) expect(e2[k], `2 blocks ${k}`).toBeLessThan(tolBf16);
      expect(mismatches(three.ctx, two.ctx), 'ctx (the same forward)').toBe(0);
      for (const k of ['dk', 'dv', 'dq'] as const) expect(vs[k], `3 vs 2 blocks ${k}`).toBeLessThan(8e-3);
    });
});

// Experiments (default off; forced per call with the hook's options, the env variables being read
// once per process): fwdIdx64 (HUKUK_FLASH_FWD_IDX64: the forward's dropout hash with its first step
// once per 64-key tile and row where Tk % 64 == 0: the same decisions, so ctx bit for bit) and
// bwdDot16 (HUKUK_FLASH_BWD_DOT16: the backward's dot kernel with 16-byte accesses: dV bit for bit,
// dK through D's summation order and dQ through the atomics to rounding).
describe.skipIf(!gpu)('experiments fwdIdx64 + bwdDot16 vs the default kernels and the CPU reference, bf16 I/O', () => {
  const tolBf16 = 2e-2 + 4e-3;
  const extra: Case[] = [
    { name: 'encoder 256 (Tk % 64 == 0, more than 2^17 scores): bias + key mask + dropout 0.1', B: 2, H: 3, Tq: 256, Tk: 256, bias: true, dropout: 0.1, keep: (b, j) => padded(b, j, 256) },
    { name: 'cross 77 x 128: key mask + dropout 0.1', B: 3, H: 2, Tq: 77, Tk: 128, dropout: 0.1, keep: (b, j) => padded(b, j, 128) },
    { name: 'causal 192, first 70 keys masked (rows with no key) + bias + dropout 0.1', B: 2, H: 2, Tq: 192, Tk: 192, causal: true, bias: true, dropout: 0.1, keep: (b, j) => b === 0 || j >= 70 },
  ];
  // every other case with a bias as the [H, Tq, Tk] table: the backward then runs at 2 blocks per SM
  // (the table's stages do not fit 3), so both backward kernels are covered
  for (const [n, c] of [...cases, ...extra].entries())
    it(c.name, { timeout: 120_000 }, () => {
      const toeplitz = Boolean(c.bias) && n % 2 === 0;
      // bwdOneTile 0: the three-launch backward's dot kernels under test also where Tk <= 64
      const o = { ...bf16Inputs(inputs(c, 64, toeplitz)), mode: 'fused', io: 'bf16', biasDiag: toeplitz, bwdOneTile: 0 };
      const want = engine._opsFlashAttention({ ...o, mode: 'reference' });
      const off = engine._opsFlashAttention({ ...o, fwdIdx64: false, bwdDot16: false });
      const on = engine._opsFlashAttention({ ...o, fwdIdx64: true, bwdDot16: true });
      const again = engine._opsFlashAttention({ ...o, fwdIdx64: true, bwdDot16: true });
      expect(off.fwdIdx64, 'off: the default forward').toBe(false);
      expect(off.bwdDot16, 'off: the default backward').toBe(false);
      expect(on.fwdIdx64, 'fwdIdx64 where Tk % 64 == 0').toBe(c.Tk % 64 === 0);
      expect(on.bwdDot16, 'bwdDot16').toBe(true);
      const e = errors(on, want), eo = errors(off, want), vs = errors(on, off);
      console.log(`flash experiments | ${c.name} | on vs cpu ${fmt(e)} | off vs cpu ${fmt(eo)} | on vs off ${fmt(vs)}` +
        ` | dk/dv elements differing ${mismatches(on.dk, off.dk)}/${mismatches(on.dv, off.dv)}`);
      for (const k of outputs) expect(e[k], k).toBeLessThan(tolBf16);
      for (const k of outputs) expect(errors(again, want)[k], `again ${k}`).toBeLessThan(tolBf16);
      expect(mismatches(on.ctx, off.ctx), 'ctx bit for bit (the same dropout decisions)').toBe(0);
      expect(mismatches(on.dv, off.dv), 'dv bit for bit').toBe(0);
      for (const k of ['dk', 'dq'] as const) expect(vs[k], `${k} vs off`).toBeLessThan(8e-3);
      if (c.dropout) {
        const bits = engine._opsFlashAttention({ ...o, fwdIdx64: true, bwdDot16: true, dropoutBits: true });
        expect(mismatches(bits.ctx, off.ctx), 'ctx with the dropout record').toBe(0);
        for (const k of outputs) expect(errors(bits, want)[k], `with the dropout record ${k}`).toBeLessThan(tolBf16);
      }
    });
});

// HUKUK_FLASH_BWD_ONE_TILE (level 1 by default; forced per call with the hook's bwdOneTile option, a level):
// the bf16 backward in one launch where one block (level 1: Tk <= 64) or, on sm_90, a cluster of the
// two key blocks (level 2: also 64 < Tk <= 128; dQ summed through distributed shared memory) holds
// every key: D and the bf16 dctx computed in the block with the dot kernel's arithmetic, dQ written
// once as bf16 (no atomics, the scratch not touched). Against the CPU reference, and against the
// three launches (dot16 kernel, atomics, conversion) on the same inputs: ctx is the same forward; dK
// and dV bit for bit (the same D, the same per-score math); dQ the same values (the atomics added each
// element once into zero, or two partials in either order), asserted to rounding and its differing
// elements counted. Tk = 65 at level 1 and Tk = 129 stay on the three launches.
const hopperGpu = gpu && /H100|H200|H800|H20\b|GH200/.test(engine.gpus()[0]?.name ?? '');
describe.skipIf(!gpu)('bf16 backward in one launch for Tk <= 64, and Tk <= 128 as a cluster pair (bwdOneTile)', () => {
  const tolBf16 = 2e-2 + 4e-3;
  const oneTile: (Case & { toeplitz?: boolean; level?: number })[] = [
    { name: 'encoder 64: Toeplitz bias + key mask + dropout 0.1', B: 3, H: 2, Tq: 64, Tk: 64, bias: true, toeplitz: true, dropout: 0.1, keep: (b, j) => padded(b, j, 64) },
    { name: 'encoder 64: bias table + key mask + dropout 0.1', B: 3, H: 2, Tq: 64, Tk: 64, bias: true, dropout: 0.1, keep: (b, j) => padded(b, j, 64) },
    { name: 'encoder 64: key mask, no dropout', B: 2, H: 2, Tq: 64, Tk: 64, bias: true, toeplitz: true, keep: (b, j) => padded(b, j, 64) },
    { name: 'cross 128 x 64: key mask + dropout 0.1', B: 3, H: 2, Tq: 128, Tk: 64, dropout: 0.1, keep: (b, j) => padded(b, j, 64) },
    { name: 'causal 64: Toeplitz bias + dropout 0.1', B: 2, H: 3, Tq: 64, Tk: 64, bias: true, toeplitz: true, causal: true, dropout: 0.1 },
    { name: 'causal 64, first 20 keys masked (rows with no key) + bias + dropout 0.1', B: 2, H: 2, Tq: 64, Tk: 64, bias: true, toeplitz: true, causal: true, dropout: 0.1, keep: (b, j) => b === 0 || j >= 20 },
    { name: 'a batch row with every key masked, 70 x 40 (tails) + bias + dropout 0.1', B: 2, H: 2, Tq: 70, Tk: 40, bias: true, toeplitz: true, dropout: 0.1, keep: (b) => b === 0 },
    { name: 'odd 77 x 40: bias table + key mask + dropout 0.1', B: 2, H: 3, Tq: 77, Tk: 40, bias: true, dropout: 0.1, keep: (b, j) => padded(b, j, 40) },
    { name: 'cross 150 x 23: key mask + dropout 0.1', B: 2, H: 2, Tq: 150, Tk: 23, dropout: 0.1, keep: (b, j) => j < 23 - 5 * b },
    { name: 'Tk 65 (two key tiles: the three launches)', B: 2, H: 2, Tq: 64, Tk: 65, bias: true, toeplitz: true, dropout: 0.1, keep: (b, j) => padded(b, j, 65) },
    // level 2: the cluster pair for 64 < Tk <= 128 (sm_90; elsewhere the three launches)
    { name: 'level 2, decoder 128: causal + Toeplitz bias + dropout 0.1', level: 2, B: 2, H: 3, Tq: 128, Tk: 128, bias: true, toeplitz: true, causal: true, dropout: 0.1 },
    { name: 'level 2, decoder 128, first 70 keys masked (rows with no key) + bias + dropout 0.1', level: 2, B: 2, H: 2, Tq: 128, Tk: 128, bias: true, toeplitz: true, causal: true, dropout: 0.1, keep: (b, j) => b === 0 || j >= 70 },
    { name: 'level 2, causal 100 (tails) + bias + dropout 0.1', level: 2, B: 2, H: 2, Tq: 100, Tk: 100, bias: true, toeplitz: true, causal: true, dropout: 0.1 },
    { name: 'level 2, encoder 128: bias table + key mask + dropout 0.1', level: 2, B: 3, H: 2, Tq: 128, Tk: 128, bias: true, dropout: 0.1, keep: (b, j) => padded(b, j, 128) },
    { name: 'level 2, cross 77 x 128: key mask + dropout 0.1', level: 2, B: 3, H: 2, Tq: 77, Tk: 128, dropout: 0.1, keep: (b, j) => padded(b, j, 128) },
    { name: 'level 2, a batch row with every key masked, 70 x 90 + bias', level: 2, B: 2, H: 2, Tq: 70, Tk: 90, bias: true, toeplitz: true, keep: (b) => b === 0 },
    { name: 'level 2, encoder 64 (one block)', level: 2, B: 2, H: 2, Tq: 64, Tk: 64, bias: true, toeplitz: true, dropout: 0.1, keep: (b, j) => padded(b, j, 64) },
    { name: 'level 2, Tk 129 (the three launches)', level: 2, B: 2, H: 2, Tq: 64, Tk: 129, bias: true, toeplitz: true, dropout: 0.1, keep: (b, j) => padded(b, j, 129) },
  ];
  const expectedMode = (c: { Tk: number; level?: number }) =>
    c.Tk <= 64 ? 1 : (c.level ?? 1) >= 2 && c.Tk <= 128 && hopperGpu ? 2 : 0;
  for (const c of oneTile)
    it(c.name, { timeout: 120_000 }, () => {
      const toeplitz = Boolean(c.toeplitz);
      const o = { ...bf16Inputs(inputs(c, 64, toeplitz)), mode: 'fused', io: 'bf16', biasDiag: toeplitz, bwdDot16: true };
      const want = engine._opsFlashAttention({ ...o, mode: 'reference' });
      const level = c.level ?? 1;
      const off = engine._opsFlashAttention({ ...o, bwdOneTile: 0 });
      const on = engine._opsFlashAttention({ ...o, bwdOneTile: level });
      expect(off.bwdOneTile, 'off: the three launches').toBe(0);
      expect(on.bwdOneTile, 'one launch: one block where Tk <= 64, the pair where Tk <= 128 (level 2, sm_90)').toBe(expectedMode(c));
      const e = errors(on, want), eo = errors(off, want), vs = errors(on, off);
      const dqDiff = mismatches(on.dq, off.dq);
      console.log(`flash one tile | ${c.name} | mode ${on.bwdOneTile} | on vs cpu ${fmt(e)} | off vs cpu ${fmt(eo)} | on vs off ${fmt(vs)}` +
        ` | dq/dk/dv elements differing ${dqDiff}/${mismatches(on.dk, off.dk)}/${mismatches(on.dv, off.dv)} of ${on.dq.length}/${on.dk.length}`);
      for (const k of outputs) expect(e[k], k).toBeLessThan(tolBf16);
      expect(mismatches(on.ctx, off.ctx), 'ctx (the same forward)').toBe(0);
      expect(mismatches(on.dk, off.dk), 'dk bit for bit').toBe(0);
      expect(mismatches(on.dv, off.dv), 'dv bit for bit').toBe(0);
      expect(vs.dq, 'dq vs the three launches').toBeLessThan(8e-3);
      if (expectedMode(c) === 2) {  // the pair's kernel at 2 blocks per SM (registers up to 255) too
        const two = engine._opsFlashAttention({ ...o, bwdOneTile: level, bwd3Blocks: false });
        for (const k of outputs) expect(errors(two, want)[k], `pair, 2 blocks/SM ${k}`).toBeLessThan(tolBf16);
        expect(mismatches(two.dk, off.dk), 'pair, 2 blocks/SM: dk').toBe(0);
        expect(mismatches(two.dv, off.dv), 'pair, 2 blocks/SM: dv').toBe(0);
        expect(errors(two, off).dq, 'pair, 2 blocks/SM: dq').toBeLessThan(8e-3);
      }
      if (c.dropout) {
        const bits = engine._opsFlashAttention({ ...o, bwdOneTile: level, dropoutBits: true });
        for (const k of outputs) expect(errors(bits, want)[k], `with the dropout record ${k}`).toBeLessThan(tolBf16);
        expect(mismatches(bits.dk, off.dk), 'dk with the dropout record').toBe(0);
        expect(mismatches(bits.dv, off.dv), 'dv with the dropout record').toBe(0);
      }
    });

  // The real shapes (16 x 12 heads): one launch against three, per-call µs (the step's calls: encoder
  // self 64², cross 128 x 64, decoder self 128² causal (level 2, sm_90))
  const real: Case[] = [
    { name: 'encoder 16x12x64x64', B: 16, H: 12, Tq: 64, Tk: 64, bias: true, dropout: 0.1, keep: (b, j) => j < 64 - 2 * b },
    { name: 'cross 16x12x128x64', B: 16, H: 12, Tq: 128, Tk: 64, dropout: 0.1, keep: (b, j) => j < 64 - 2 * b },
    { name: 'decoder 16x12x128x128 causal', B: 16, H: 12, Tq: 128, Tk: 128, bias: true, causal: true, dropout: 0.1 },
  ];
  for (const c of real)
    it(`bench: ${c.name}`, { timeout: 120_000 }, () => {
      const o = { ...bf16Inputs(inputs(c, 64, Boolean(c.bias))), mode: 'fused', io: 'bf16', biasDiag: Boolean(c.bias), reps: 50 };
      const offA = engine._opsFlashAttention({ ...o, bwdOneTile: 0 });
      const on = engine._opsFlashAttention({ ...o, bwdOneTile: 2 });
      const on2 = engine._opsFlashAttention({ ...o, bwdOneTile: 2, bwd3Blocks: false });
      const offB = engine._opsFlashAttention({ ...o, bwdOneTile: 0 });
      expect(on.bwdOneTile).toBe(expectedMode({ Tk: c.Tk, level: 2 }));
      for (const r of [on, on2]) {
        expect(mismatches(r.dk, offA.dk), 'dk bit for bit').toBe(0);
        expect(mismatches(r.dv, offA.dv), 'dv bit for bit').toBe(0);
        expect(errors(r, offA).dq).toBeLessThan(8e-3);
      }
      const us = (x: number) => (x * 1e3).toFixed(1);
      const base = (offA.bwdMs + offB.bwdMs) / 2;
      console.log(`ab one tile | ${c.name} | bwd µs three launches ${us(offA.bwdMs)}/${us(offB.bwdMs)} one launch (mode ${on.bwdOneTile})` +
        ` ${us(on.bwdMs)} (${(on.bwdMs / base).toFixed(3)}), 2 blocks/SM ${us(on2.bwdMs)} (${(on2.bwdMs / base).toFixed(3)})` +
        ` | dq elements differing ${mismatches(on.dq, offA.dq)}`);
    });
});

// µs per call and TFLOP/s (forward 4·B·H·Tq·Tk·dk flops, backward 2.5x that; causal counted in
// full, as the unfused GEMMs do) for both I/O types.
describe.skipIf(!gpu)('fused attention: micro-benchmark', () => {
  const shapes: Case[] = [
    { name: 'encoder 16x12x64x64 (bias, mask, dropout)', B: 16, H: 12, Tq: 64, Tk: 64, bias: true, dropout: 0.1, keep: (b, j) => j < 64 - 2 * b },
    { name: 'decoder 16x12x128x128 (causal, bias, dropout)', B: 16, H: 12, Tq: 128, Tk: 128, bias: true, causal: true, dropout: 0.1 },
    { name: 'encoder 16x12x128x128 (bias, mask, dropout)', B: 16, H: 12, Tq: 128, Tk: 128, bias: true, dropout: 0.1, keep: (b, j) => j < 128 - 4 * b },
    { name: 'cross 16x12x128x64 (mask, dropout)', B: 16, H: 12, Tq: 128, Tk: 64, dropout: 0.1, keep: (b, j) => j < 64 - 2 * b },
    { name: 'encoder 16x12x512x512 (bias, mask, dropout)', B: 16, H: 12, Tq: 512, Tk: 512, bias: true, dropout: 0.1, keep: (b, j) => j < 512 - 8 * b },
    { name: 'decoder 16x12x512x512 (causal, bias, dropout)', B: 16, H: 12, Tq: 512, Tk: 512, bias: true, causal: true, dropout: 0.1 },
    { name: 'cross 16x12x512x512 (mask, dropout)', B: 16, H: 12, Tq: 512, Tk: 512, dropout: 0.1, keep: (b, j) => j < 512 - 8 * b },
  ];
  const reps = 10;
  const flops = (c: Case) => 4 * c.B * c.H * c.Tq * c.Tk * 64;
  const line = (label: string, c: Case, r: FlashOut) =>
    `${label} fwd ${(r.fwdMs * 1e3).toFixed(1)} µs ${(flops(c) / r.fwdMs / 1e9).toFixed(1)} TFLOP/s` +
    ` | bwd ${(r.bwdMs * 1e3).toFixed(1)} µs ${((2.5 * flops(c)) / r.bwdMs / 1e9).toFixed(1)} TFLOP/s`;
  for (const c of shapes)
    it(c.name, { timeout: 120_000 }, () => {
      const o = bf16Inputs(inputs(c, 64, true));  // a T5-like (Toeplitz) bias, so both bias forms can run
      const run = (opts: Record<string, unknown>) => engine._opsFlashAttention({ ...o, mode: 'fused', reps, ...opts });
      const f32 = run({}), b16 = run({ io: 'bf16' });
      const lines = [line('fp32 io', c, f32), line('bf16 io', c, b16)];
      for (const k of outputs) expect(errors(b16, f32)[k], `bf16 io vs fp32 io ${k}`).toBeLessThan(3e-2);
      const b16bits = run({ io: 'bf16', dropoutBits: true });
      for (const k of outputs) expect(errors(b16bits, f32)[k], `bf16 io + dropout record vs fp32 io ${k}`).toBeLessThan(3e-2);
      lines.push(line('bf16 io, dropout record', c, b16bits));
      if (c.bias) {
        const b16diag = run({ io: 'bf16', biasDiag: true });
        for (const k of outputs) expect(errors(b16diag, f32)[k], `bf16 io + bias_diag vs fp32 io ${k}`).toBeLessThan(3e-2);
        expect(mismatches(b16diag.dk, b16.dk), 'dk bit for bit').toBe(0);
        lines.push(line(`bf16 io, Toeplitz bias (bias_diag)${b16diag.bwd3Blocks ? ', bwd 3 blocks/SM' : ''}`, c, b16diag));
        const b16two = run({ io: 'bf16', biasDiag: true, bwd3Blocks: false });
        for (const k of outputs) expect(errors(b16two, f32)[k], `bf16 io + bias_diag, 2 blocks vs fp32 io ${k}`).toBeLessThan(3e-2);
        lines.push(line('bf16 io, Toeplitz bias (bias_diag), bwd 2 blocks/SM (HUKUK_FLASH_BWD_3BLOCKS=0)', c, b16two));
      }
      // the experiments A/B (bf16 I/O, the Toeplitz bias where there is one, as the engine runs it):
      // the default twice (before and after, for the noise), each experiment alone, both
      const base = { io: 'bf16', biasDiag: Boolean(c.bias), reps: 2 * reps };
      const offA = run({ ...base, fwdIdx64: false, bwdDot16: false });
      const idx = run({ ...base, fwdIdx64: true });
      const dot16 = run({ ...base, bwdDot16: true });
      const two = run({ ...base, bwd3Blocks: false });
      const both = run({ ...base, fwdIdx64: true, bwdDot16: true });
      const offB = run({ ...base, fwdIdx64: false, bwdDot16: false });
      expect(mismatches(both.ctx, offA.ctx), 'experiments: ctx bit for bit').toBe(0);
      for (const k of outputs) expect(errors(both, f32)[k], `experiments vs fp32 io ${k}`).toBeLessThan(3e-2);
      lines.push(line('A/B default (before)', c, offA), line('A/B fwdIdx64', c, idx), line('A/B bwdDot16', c, dot16),
        line('A/B bwd 2 blocks/SM', c, two), line('A/B fwdIdx64 + bwdDot16', c, both), line('A/B default (after)', c, offB));
      const us = (x: number) => (x * 1e3).toFixed(1);
      const fwd0 = (offA.fwdMs + offB.fwdMs) / 2, bwd0 = (offA.bwdMs + offB.bwdMs) / 2;
      const rb = (r: FlashOut) => `${us(r.bwdMs)} (${(r.bwdMs / bwd0).toFixed(3)})`;
      console.log(`ab | ${c.name} | fwd µs default ${us(offA.fwdMs)}/${us(offB.fwdMs)} idx64 ${us(idx.fwdMs)} (${(idx.fwdMs / fwd0).toFixed(3)})` +
        ` | bwd µs default ${us(offA.bwdMs)}/${us(offB.bwdMs)} dot16 ${rb(dot16)} 2blk ${rb(two)} (3 blocks by default: ${offA.bwd3Blocks})` +
        ` | fwd+bwd default ${us(fwd0 + bwd0)} both ${us(both.fwdMs + both.bwdMs)} (${((both.fwdMs + both.bwdMs) / (fwd0 + bwd0)).toFixed(3)})`);
      lines.push(line('bf16 io, no dropout', c, run({ io: 'bf16', dropout: 0 })));
      lines.push(line('bf16 io, no bias', c, run({ io: 'bf16', bias: undefined })));
      if (cublas) {
        const unf = engine._opsFlashAttention({ ...o, mode: 'unfused', precision: 'bf16', reps });
        lines.push(line('unfused (cuBLAS + softmax kernels, fp32 io)', c, unf));
        for (const k of outputs) expect(errors(f32, unf)[k], `fused vs unfused ${k}`).toBeLessThan(3e-2);
      }
      console.log(`bench | ${c.name}\n  ${lines.join('\n  ')}`);
    });
});
