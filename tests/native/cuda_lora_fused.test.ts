// The fused LoRA kernels (native/src/ops/lora.*: lora_down, lora_grad_A, lora_dx, lora_backward, and the B side
// lora_up_add / lora_up_backward, batched over the members of a q,k,v group) and the fused
// residual dropout_add (native/src/ops/residual.*). CPU part (runs everywhere): each fused CPU
// reference equals the composition of the existing CPU ops (dropout_forward/backward, then
// ops::gemm or an add), on ragged sizes, p = 0 / 0.1 / 0.5, with and without accumulate. GPU part
// (skipped without a GPU + cuBLAS): the CUDA kernels against the CPU references (1e-5 of the
// largest magnitude), the dropout masks compared element by element where they are visible
// (identity weights, p = 0.5), determinism, and a micro-benchmark against the unfused sequence
// of existing CUDA ops at the flagship sizes (printed, not asserted).
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { rand, relErr } from './lora-test-data';

const require = createRequire(import.meta.url);
process.env.OMP_WAIT_POLICY ??= 'passive';

type Opts = Record<string, unknown>;
interface Bench {
  fusedUs: number; fusedGraphUs: number; composedUs: number; composedGraphUs: number; copyGBs: number; inputBytes: number;
}
type Ops = {
  _opsLora(o: Opts): Float32Array & { seconds: number };
  _opsLoraBench?(o: Opts): Bench;
  cudaCompiled(): boolean;
  gpus(): unknown[];
  cublasInfo(): { available: boolean };
};
const engine = require('../../native/index.cjs').loadEngine() as Ops;
const gpu = engine.cudaCompiled() && engine.gpus().length > 0 && engine.cublasInfo().available;

// first index where the bits differ, or -1 (the typed arrays carry a .seconds property, so
// toEqual on them would compare timings too)
function firstDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}
const zeroPattern = (a: Float32Array) => Array.from(a, (v) => (v === 0 ? 0 : 1)).join('');

interface Case { M: number; in: number; r: number }
// inputs of an op at a case, deterministic in (case, salt)
function inputs(op: string, c: Case, salt: number): Opts {
  const n = c.M * c.in;
  switch (op) {
    case 'down': return { x: rand(n, 11 + salt), A: rand(c.r * c.in, 12 + salt) };
    case 'gradA': return { dh: rand(c.M * c.r, 13 + salt), x: rand(n, 14 + salt), init: rand(c.r * c.in, 15 + salt) };
    case 'dx': return { dh: rand(c.M * c.r, 16 + salt), A: rand(c.r * c.in, 17 + salt), init: rand(n, 18 + salt) };
    case 'backward': return {
      dh: rand(c.M * c.r, 21 + salt), x: rand(n, 22 + salt), A: rand(c.r * c.in, 23 + salt),
      init: rand(c.r * c.in, 24 + salt), initDx: rand(n, 25 + salt),
    };
    default: return { x: rand(n, 19 + salt), y: rand(n, 20 + salt) };
  }
}
// backward = lora_backward: [gA, dx] of lora_grad_A + lora_dx in one pass
const OPS = ['down', 'gradA', 'dx', 'backward', 'dropoutAdd'] as const;
const accumulates = (op: string) => op === 'gradA' || op === 'dx' || op === 'backward';
const RAGGED: Case[] = [
  { M: 1, in: 1, r: 1 },
  { M: 37, in: 45, r: 5 },
  { M: 70, in: 130, r: 16 },
  { M: 33, in: 96, r: 64 },
  { M: 129, in: 200, r: 23 },
];

describe('fused LoRA / residual ops: CPU references = the existing CPU ops composed', () => {
  for (const op of OPS)
    for (const c of RAGGED)
      for (const p of [0, 0.1, 0.5])
        for (const accumulate of accumulates(op) ? [false, true] : [false]) {
          it(`${op} M=${c.M} in=${c.in} r=${c.r} p=${p}${accumulate ? ' acc' : ''}`, () => {
            const base = { op, ...c, p, seed: 987654321, site: 4242, accumulate, ...inputs(op, c, c.M) };
            const fused = engine._opsLora({ ...base, impl: 'cpu' });
            const composed = engine._opsLora({ ...base, impl: 'composed' });
            expect(relErr(fused, composed)).toBeLessThanOrEqual(1e-6);
            expect(zeroPattern(fused)).toBe(zeroPattern(composed));
          });
        }

  it('the mask is really applied: p = 0.5 drops about half, the site and the seed change it', () => {
    const n = 20000;
    const x = new Float32Array(n);
    const y = new Float32Array(n).fill(1);
    const run = (seed: number, site: number) =>
      engine._opsLora({ op: 'dropoutAdd', impl: 'cpu', M: 1, in: n, p: 0.5, seed, site, x, y });
    const a = run(5, 1);
    const kept = a.filter((v) => v !== 0).length;
    expect(kept / n).toBeGreaterThan(0.47);
    expect(kept / n).toBeLessThan(0.53);
    expect(a.every((v) => v === 0 || v === 2)).toBe(true);  // kept values scaled by 1 / (1 - p)
    expect(zeroPattern(run(5, 2))).not.toBe(zeroPattern(a));
    expect(zeroPattern(run(6, 1))).not.toBe(zeroPattern(a));
  });

  it('dropout_add in place (out aliases y) equals the out-of-place result', () => {
    const c = { M: 17, in: 31, r: 1 };
    const base = { op: 'dropoutAdd', ...c, p: 0.3, seed: 3, site: 9, ...inputs('dropoutAdd', c, 0) };
    expect(firstDiff(engine._opsLora({ ...base, impl: 'cpu', inPlace: true }), engine._opsLora({ ...base, impl: 'cpu' }))).toBe(-1);
  });

  it('rejects r > 64 with ENGINE_INVALID_ARG', () => {
    expect(() => engine._opsLora({ op: 'down', impl: 'cpu', M: 2, in: 4, r: 65, x: rand(8, 1), A: rand(260, 2) }))
      .toThrow(expect.objectContaining({ code: 'ENGINE_INVALID_ARG' }));
  });
});

describe.skipIf(!gpu)('fused LoRA / residual ops on CUDA', () => {
  const GPU_CASES: Case[] = [
    ...RAGGED,
    { M: 300, in: 3072, r: 16 },
    { M: 2048, in: 768, r: 16 },  // the flagship's smallest step shape, full size
    { M: 1000, in: 768, r: 4 },
    { M: 515, in: 768, r: 64 },
  ];
  for (const op of OPS)
    for (const c of GPU_CASES)
      for (const p of [0, 0.5])
        for (const accumulate of accumulates(op) ? [false, true] : [false]) {
          it(`${op} M=${c.M} in=${c.in} r=${c.r} p=${p}${accumulate ? ' acc' : ''}: CUDA = CPU`, () => {
            const base = { op, ...c, p, seed: 1234567, site: 31, accumulate, ...inputs(op, c, c.in) };
            const cpu = engine._opsLora({ ...base, impl: 'cpu' });
            const cuda = engine._opsLora({ ...base, impl: 'cuda' });
            const e = relErr(cuda, cpu);
            if (e > 1e-5) console.log(`  ${op} ${JSON.stringify(c)} p=${p} acc=${accumulate}: rel err ${e.toExponential(2)}`);
            expect(e).toBeLessThanOrEqual(1e-5);
            if (op === 'dx' && !accumulate) expect(zeroPattern(cuda)).toBe(zeroPattern(cpu));
            if ((op === 'gradA' || op === 'backward') && c.M > 64) {  // the single-pass path (no workspace) too
              const one = engine._opsLora({ ...base, impl: 'cuda', noWorkspace: true });
              expect(relErr(one, cpu), 'no workspace').toBeLessThanOrEqual(1e-5);
            }
          }, 60_000);
        }

  it('masks identical, element by element (identity weights, p = 0.5)', () => {
    // lora_down with A = [I | 0] (r = 8) gives h = dropout(x)[:, :8] exactly; lora_grad_A with
    // dh = I (M = r = 8) gives gA = dropout(x) exactly; dropout_add with x_in = 0 gives dropout(y).
    const r = 8, inn = 40, p = 0.5, seed = 77, site = 5;
    const A = new Float32Array(r * inn);
    for (let j = 0; j < r; j++) A[j * inn + j] = 1;
    const M = 300;
    const x = rand(M * inn, 3).map((v) => v + 2);  // no zeros of its own
    const down = { op: 'down', M, in: inn, r, p, seed, site, x, A };
    const hc = engine._opsLora({ ...down, impl: 'cuda' });
    const hcpu = engine._opsLora({ ...down, impl: 'cpu' });
    expect(firstDiff(hc, hcpu)).toBe(-1);
    const dh = new Float32Array(r * r);
    for (let j = 0; j < r; j++) dh[j * r + j] = 1;
    const ga = { op: 'gradA', M: r, in: inn, r, p, seed, site, dh, x: x.subarray(0, r * inn) };
    const gc = engine._opsLora({ ...ga, impl: 'cuda' });
    expect(firstDiff(gc, engine._opsLora({ ...ga, impl: 'cpu' }))).toBe(-1);
    expect(gc.filter((v) => v === 0).length).toBeGreaterThan(r * inn * 0.3);
    const add = { op: 'dropoutAdd', M, in: inn, p, seed, site, x: new Float32Array(M * inn), y: x };
    const ac = engine._opsLora({ ...add, impl: 'cuda' });
    expect(firstDiff(ac, engine._opsLora({ ...add, impl: 'cpu' }))).toBe(-1);
    expect(firstDiff(engine._opsLora({ ...add, impl: 'cuda', inPlace: true }), ac)).toBe(-1);
    // and the existing CUDA dropout (cudaComposed) puts its zeros in the same places
    expect(zeroPattern(engine._opsLora({ ...add, impl: 'cudaComposed' }))).toBe(zeroPattern(ac));
  });

  it('fused CUDA = the unfused CUDA sequence (existing ops + cuBLAS fp32)', () => {
    const c = { M: 2048, in: 768, r: 16 };
    for (const op of OPS) {
      const base = { op, ...c, p: 0.1, seed: 99, site: 12, accumulate: true, ...inputs(op, c, 7) };
      const e = relErr(engine._opsLora({ ...base, impl: 'cuda' }), engine._opsLora({ ...base, impl: 'cudaComposed' }));
      console.log(`  ${op}: fused vs unfused CUDA rel err ${e.toExponential(2)}`);
      expect(e).toBeLessThanOrEqual(1e-5);
    }
  }, 60_000);

  it('lora_backward without dx: gA as with dx, dx untouched', () => {
    const c = { M: 2048, in: 768, r: 16 };
    const base = { op: 'backward', ...c, p: 0.1, seed: 4, site: 2, accumulate: true, ...inputs('backward', c, 3) };
    const full = engine._opsLora({ ...base, impl: 'cuda' });
    const gaOnly = engine._opsLora({ ...base, impl: 'cuda', noDx: true });
    const nA = c.r * c.in;
    expect(firstDiff(gaOnly.subarray(0, nA), full.subarray(0, nA))).toBe(-1);
    expect(gaOnly.subarray(nA).every((v) => v === 0)).toBe(true);  // the hook reports no dx as zeros
  }, 60_000);

  it('deterministic: the same inputs give the same bits (split-M lora_grad_A included)', () => {
    const c = { M: 4096, in: 768, r: 16 };
    for (const op of OPS) {
      const base = { op, ...c, p: 0.1, seed: 5, site: 6, accumulate: true, impl: 'cuda', ...inputs(op, c, 8) };
      expect(firstDiff(engine._opsLora(base), engine._opsLora(base)), op).toBe(-1);
    }
  }, 60_000);

  it('the larger ranks and a ragged M at the big width (CUDA = CPU)', () => {
    for (const c of [{ M: 4100, in: 3072, r: 32 }, { M: 8200, in: 768, r: 16 }, { M: 9000, in: 200, r: 8 }])
      for (const op of ['down', 'gradA', 'dx', 'backward'] as const) {
        const base = { op, ...c, p: 0.1, seed: 8, site: 3, accumulate: true, ...inputs(op, c, 9) };
        const cpu = engine._opsLora({ ...base, impl: 'cpu' });
        expect(relErr(engine._opsLora({ ...base, impl: 'cuda' }), cpu), `${op} ${JSON.stringify(c)}`).toBeLessThanOrEqual(1e-5);
      }
  }, 120_000);

  it('micro-benchmark: µs per call, fused vs the unfused sequence of existing ops', () => {
    const lines: string[] = [];
    for (const c of [{ M: 2048, in: 768, r: 16 }, { M: 8192, in: 3072, r: 16 }])
      for (const op of OPS)
        for (const p of [0.1, 0]) {
            const b = engine._opsLoraBench!({ op, ...c, p, accumulate: accumulates(op), reps: 50 });
            const bwUs = b.inputBytes / (b.copyGBs * 1e9) * 1e6;  // reading the inputs once at copy bandwidth
            lines.push(`  ${op.padEnd(10)} M=${c.M} in=${c.in} r=${c.r} p=${p}: fused ${b.fusedUs.toFixed(1)} µs (graph ${b.fusedGraphUs.toFixed(1)}) | unfused ${b.composedUs.toFixed(1)} µs (graph ${b.composedGraphUs.toFixed(1)}) | bandwidth bound ${bwUs.toFixed(1)} µs (${(b.copyGBs).toFixed(0)} GB/s copy), fused/bound ${(b.fusedGraphUs / bwUs).toFixed(2)}x`);
            expect(b.fusedUs).toBeGreaterThan(0);
            expect(b.composedUs).toBeGreaterThan(0);
          }
    console.log(['fused LoRA micro-benchmark:', ...lines].join('\n'));
  }, 120_000);
});

// ---------------------------------------------------------------- the B side (no dropout)
// 'up': y[n][M,out] += scale · h · Bᵀ; 'upBackward': [gB[n][out,r], dh[n][M,r]] (in = out features).
interface UpCase { M: number; in: number; r: number; members: number }
function upInputs(op: 'up' | 'upBackward', c: UpCase, salt: number): Opts {
  const k = c.members;
  const common = { h: rand(k * c.M * c.r, 31 + salt), B: rand(k * c.in * c.r, 32 + salt) };
  return op === 'up'
    ? { ...common, init: rand(k * c.M * c.in, 33 + salt) }
    : { ...common, dy: rand(k * c.M * c.in, 34 + salt), init: rand(k * c.in * c.r, 35 + salt) };
}
const UP_OPS = ['up', 'upBackward'] as const;
const UP_RAGGED: UpCase[] = [
  { M: 1, in: 1, r: 1, members: 1 },
  { M: 37, in: 45, r: 5, members: 3 },
  { M: 70, in: 300, r: 16, members: 2 },
  { M: 33, in: 96, r: 64, members: 1 },
  { M: 129, in: 200, r: 23, members: 3 },
];

describe('LoRA B side (lora_up_add, lora_up_backward): CPU reference = the existing CPU ops composed', () => {
  for (const op of UP_OPS)
    for (const c of UP_RAGGED)
      for (const accumulate of op === 'upBackward' ? [false, true] : [false]) {
        it(`${op} ${JSON.stringify(c)}${accumulate ? ' acc' : ''}`, () => {
          const base = { op, ...c, scale: 2, accumulate, ...upInputs(op, c, c.M) };
          const fused = engine._opsLora({ ...base, impl: 'cpu' });
          const composed = engine._opsLora({ ...base, impl: 'composed' });
          expect(relErr(fused, composed)).toBeLessThanOrEqual(1e-6);
        });
      }


  it('members are independent: member 1 of a batch of 3 = that member alone', () => {
    const c = { M: 20, in: 30, r: 4, members: 3 };
    const all = upInputs('upBackward', c, 1) as Record<string, Float32Array>;
    const one = (a: Float32Array, n: number) => a.subarray(n, 2 * n);
    const batch = engine._opsLora({ op: 'upBackward', impl: 'cpu', ...c, scale: 0.5, accumulate: true, ...all });
    const single = engine._opsLora({
      op: 'upBackward', impl: 'cpu', ...c, members: 1, scale: 0.5, accumulate: true,
      h: one(all.h, c.M * c.r), B: one(all.B, c.in * c.r), dy: one(all.dy, c.M * c.in), init: one(all.init, c.in * c.r),
    });
    const nB = c.in * c.r, nh = c.M * c.r;
    expect(firstDiff(batch.subarray(nB, 2 * nB), single.subarray(0, nB))).toBe(-1);
    expect(firstDiff(batch.subarray(3 * nB + nh, 3 * nB + 2 * nh), single.subarray(nB))).toBe(-1);
  });
});

describe.skipIf(!gpu)('LoRA B side on CUDA', () => {
  const GPU_UP: UpCase[] = [
    ...UP_RAGGED,
    { M: 2048, in: 768, r: 16, members: 3 },  // the flagship's q,k,v group at the short step shape
    { M: 1024, in: 768, r: 16, members: 2 },  // cross k,v (encoder rows)
    { M: 8200, in: 768, r: 16, members: 1 },  // ragged, many row splits
    { M: 300, in: 1000, r: 8, members: 3 },  // 4 column groups, ragged
    { M: 515, in: 768, r: 64, members: 2 },  // the plain-kernel path (r > 16)
    { M: 64, in: 256, r: 16, members: 1 },  // one split, one column group (direct writes)
    // small widths and r below its padding
    { M: 100, in: 96, r: 16, members: 2 },
    { M: 50, in: 40, r: 8, members: 1 },
    { M: 90, in: 130, r: 12, members: 3 },
  ];
  for (const op of UP_OPS)
    for (const c of GPU_UP)
      for (const accumulate of op === 'upBackward' ? [false, true] : [false]) {
        it(`${op} ${JSON.stringify(c)}${accumulate ? ' acc' : ''}: CUDA = CPU, deterministic`, () => {
          const base = { op, ...c, scale: 2, accumulate, ...upInputs(op, c, c.in) };
          const cpu = engine._opsLora({ ...base, impl: 'cpu' });
          const cuda = engine._opsLora({ ...base, impl: 'cuda' });
          const e = relErr(cuda, cpu);
          if (e > 1e-5) console.log(`  ${op} ${JSON.stringify(c)} acc=${accumulate}: rel err ${e.toExponential(2)}`);
          expect(e).toBeLessThanOrEqual(1e-5);
          if (op === 'upBackward') {  // each part on its own scale (dh is much smaller than gB)
            const nB = c.members * c.in * c.r;
            expect(relErr(cuda.subarray(nB), cpu.subarray(nB)), 'dh').toBeLessThanOrEqual(1e-5);
          }
          expect(firstDiff(engine._opsLora({ ...base, impl: 'cuda' }), cuda), 'deterministic').toBe(-1);
          expect(relErr(engine._opsLora({ ...base, impl: 'cudaComposed' }), cpu), 'cuBLAS').toBeLessThanOrEqual(1e-5);
        }, 60_000);
      }

  it('micro-benchmark: µs per call, B side kernels vs cuBLAS fp32, and the A side at the flagship width', () => {
    const lines: string[] = [];
    for (const c of [{ M: 1024, in: 768, r: 16 }, { M: 2048, in: 768, r: 16 }, { M: 4096, in: 768, r: 16 }, { M: 8192, in: 768, r: 16 }]) {
      for (const op of UP_OPS)
        for (const members of [1, 2, 3]) {
            const b = engine._opsLoraBench!({ op, ...c, members, scale: 2, accumulate: op === 'upBackward', reps: 50 });
            const bwUs = b.inputBytes / (b.copyGBs * 1e9) * 1e6;
            lines.push(`  ${op.padEnd(10)} x${members} M=${c.M} out=${c.in} r=${c.r}: ours ${b.fusedUs.toFixed(1)} µs (graph ${b.fusedGraphUs.toFixed(1)}) | cuBLAS ${b.composedUs.toFixed(1)} µs (graph ${b.composedGraphUs.toFixed(1)}) | bandwidth bound ${bwUs.toFixed(1)} µs, ours/bound ${(b.fusedGraphUs / bwUs).toFixed(2)}x`);
            expect(b.fusedUs).toBeGreaterThan(0);
          }
      if (c.M !== 2048 && c.M !== 8192) continue;  // the A side at the two step shapes only
      for (const op of ['down', 'gradA', 'dx', 'backward'] as const) {
          const b = engine._opsLoraBench!({ op, ...c, p: 0.05, accumulate: accumulates(op), reps: 50 });
          lines.push(`  ${op.padEnd(10)} M=${c.M} in=${c.in} r=${c.r} p=0.05: fused ${b.fusedGraphUs.toFixed(1)} µs (graph) | unfused ${b.composedGraphUs.toFixed(1)} µs (graph)`);
        }
    }
    console.log(['LoRA B side / flagship-width micro-benchmark:', ...lines].join('\n'));
  }, 120_000);
});

// ---------------------------------------------------------------- bf16 activations (lora.h's bf16 overloads)
// The activation operand (x of down / backward, y of up, dy of upBackward) in bf16, everything else
// fp32. The hook rounds that operand to bf16 on the way in, for the CPU reference too, so both run
// on the same values: CUDA = CPU to fp32 ordering, except lora_up_add's y, which is also rounded
// to bf16 once (at most half a bf16 ulp, 2^-8 of the value, from the exact sum).
function toBf16(a: Float32Array): Float32Array {  // round to nearest even (finite values), as f32_to_bf16
  const out = new Float32Array(a.length);
  const ui = new Uint32Array(a.buffer, a.byteOffset, a.length), uo = new Uint32Array(out.buffer);
  for (let i = 0; i < a.length; i++) {
    const u = ui[i];
    uo[i] = (((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16) >>> 0;
  }
  return out;
}
// |a - b| <= rel |b| + abs max |b|, element by element; returns the worst (|a - b| - bound) or <= 0
function worstOver(a: Float32Array, b: Float32Array, rel: number, abs: number): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(b[i]));
  let worst = -Infinity;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) - (rel * Math.abs(b[i]) + abs * m));
  return worst;
}
const BF16_OPS = ['down', 'backward'] as const;

describe('bf16 activations: the hook rounds the activation operand (CPU reference)', () => {
  it('toBf16 rounds to nearest even (ties to even, carries into the exponent)', () => {
    const f = new Float32Array([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -9, -(2 - 2 ** -9), 1 + 2 ** -8 + 2 ** -20]);
    expect(Array.from(toBf16(f))).toEqual([1, 1, 1 + 2 ** -6, 1, -2, 1 + 2 ** -7]);
  });
  for (const op of BF16_OPS)
    for (const c of RAGGED.slice(1))
      it(`${op} M=${c.M} in=${c.in} r=${c.r}: bf16 = fp32 on the bf16-rounded input`, () => {
        const inp = inputs(op, c, 3) as Record<string, Float32Array>;
        const base = { op, ...c, p: 0.1, seed: 3, site: 4, accumulate: true, impl: 'cpu', ...inp };
        const b = engine._opsLora({ ...base, bf16: true });
        expect(firstDiff(b, engine._opsLora({ ...base, x: toBf16(inp.x) }))).toBe(-1);
        expect(firstDiff(b, engine._opsLora(base))).not.toBe(-1);  // the rounding really happened
      });
  for (const op of UP_OPS)
    it(`${op}: bf16 = fp32 on the bf16-rounded ${op === 'up' ? 'y' : 'dy'}`, () => {
      const c = { M: 37, in: 45, r: 5, members: 3 };
      const inp = upInputs(op, c, 2) as Record<string, Float32Array>;
      const base = { op, ...c, scale: 2, accumulate: true, impl: 'cpu', ...inp };
      const rounded = op === 'up' ? { init: toBf16(inp.init) } : { dy: toBf16(inp.dy) };
      const b = engine._opsLora({ ...base, bf16: true });
      expect(firstDiff(b, engine._opsLora({ ...base, ...rounded }))).toBe(-1);
      expect(firstDiff(b, engine._opsLora(base))).not.toBe(-1);
    });
  it('bf16 is refused for the other ops and the composed impls', () => {
    const c = { M: 4, in: 8, r: 2 };
    expect(() => engine._opsLora({ op: 'gradA', impl: 'cpu', ...c, bf16: true, ...inputs('gradA', c, 1) }))
      .toThrow(expect.objectContaining({ code: 'ENGINE_INVALID_ARG' }));
    expect(() => engine._opsLora({ op: 'down', impl: 'composed', ...c, bf16: true, ...inputs('down', c, 1) }))
      .toThrow(expect.objectContaining({ code: 'ENGINE_INVALID_ARG' }));
  });
});

describe.skipIf(!gpu)('bf16 activations on CUDA (lora.h bf16 overloads) = the CPU reference on the same values', () => {
  const A_CASES: Case[] = [
    ...RAGGED,
    { M: 2048, in: 768, r: 16 },  // the flagship's step shape
    { M: 1000, in: 768, r: 4 },
    { M: 515, in: 768, r: 64 },  // lora_backward's two-kernel path (r > 16)
    { M: 300, in: 3071, r: 16 },  // odd width: bf16 rows not 4-byte aligned
  ];
  for (const op of BF16_OPS)
    for (const c of A_CASES)
      for (const p of [0, 0.5])
        for (const accumulate of op === 'backward' ? [false, true] : [false])
          it(`${op} M=${c.M} in=${c.in} r=${c.r} p=${p}${accumulate ? ' acc' : ''}: bf16 CUDA = CPU, deterministic`, () => {
            const base = { op, ...c, p, seed: 1234567, site: 31, accumulate, bf16: true, ...inputs(op, c, c.in + 1) };
            const cpu = engine._opsLora({ ...base, impl: 'cpu' });
            const cuda = engine._opsLora({ ...base, impl: 'cuda' });
            const e = relErr(cuda, cpu);
            if (e > 1e-5) console.log(`  bf16 ${op} ${JSON.stringify(c)} p=${p} acc=${accumulate}: rel err ${e.toExponential(2)}`);
            expect(e).toBeLessThanOrEqual(1e-5);
            if (op === 'backward') {  // gA and dx on their own scales; dx's zeros are the mask's
              const nA = c.r * c.in;
              expect(relErr(cuda.subarray(0, nA), cpu.subarray(0, nA)), 'gA').toBeLessThanOrEqual(1e-5);
              expect(relErr(cuda.subarray(nA), cpu.subarray(nA)), 'dx').toBeLessThanOrEqual(1e-5);
              if (!accumulate && p > 0) expect(zeroPattern(cuda.subarray(nA))).toBe(zeroPattern(cpu.subarray(nA)));
              if (c.M > 64) {
                const one = engine._opsLora({ ...base, impl: 'cuda', noWorkspace: true });
                expect(relErr(one, cpu), 'no workspace').toBeLessThanOrEqual(1e-5);
              }
            }
            expect(firstDiff(engine._opsLora({ ...base, impl: 'cuda' }), cuda), 'deterministic').toBe(-1);
          }, 60_000);

  const UP_CASES: UpCase[] = [
    ...UP_RAGGED,
    { M: 2048, in: 768, r: 16, members: 3 },  // q,k,v at the short step shape
    { M: 2048, in: 768, r: 16, members: 1 },
    { M: 8192, in: 768, r: 16, members: 1 },
    { M: 1024, in: 768, r: 8, members: 2 },
    { M: 300, in: 1000, r: 8, members: 3 },  // 4 column groups; 1000 % 8 = 0
    { M: 130, in: 770, r: 16, members: 3 },  // 770 % 4 = 2
    { M: 90, in: 131, r: 12, members: 3 },  // odd width: upBackward's 2-column (4-byte) path falls back to 1
    { M: 515, in: 768, r: 64, members: 2 },  // the plain kernels (r > 16)
    { M: 200, in: 768, r: 32, members: 2 },
    { M: 64, in: 256, r: 16, members: 1 },  // one split, one column group (direct writes)
  ];
  for (const op of UP_OPS)
    for (const c of UP_CASES)
      for (const accumulate of op === 'upBackward' ? [false, true] : [false])
        it(`${op} ${JSON.stringify(c)}${accumulate ? ' acc' : ''}: bf16 CUDA = CPU, deterministic`, () => {
          const base = { op, ...c, scale: 2, accumulate, bf16: true, ...upInputs(op, c, c.in + 2) };
          const cpu = engine._opsLora({ ...base, impl: 'cpu' });
          const cuda = engine._opsLora({ ...base, impl: 'cuda' });
          if (op === 'up') {
            // y is bf16: each value within half a bf16 ulp (2^-8 relative) of the fp32 sum, plus
            // fp32 ordering; and mostly exactly round(CPU) (a different fp32 ordering can tip a tie)
            const w = worstOver(cuda, cpu, 2 ** -8, 1e-6);
            if (w > 0) console.log(`  bf16 up ${JSON.stringify(c)}: over the bound by ${w.toExponential(2)}`);
            expect(w).toBeLessThanOrEqual(0);
            const r = toBf16(cpu);
            let same = 0;
            for (let i = 0; i < r.length; i++) if (r[i] === cuda[i]) same++;
            expect(same / r.length).toBeGreaterThan(0.97);
          } else {
            const nB = c.members * c.in * c.r;
            const e = relErr(cuda, cpu), eh = relErr(cuda.subarray(nB), cpu.subarray(nB));
            if (e > 1e-5 || eh > 1e-5) console.log(`  bf16 upBackward ${JSON.stringify(c)} acc=${accumulate}: rel err ${e.toExponential(2)} / dh ${eh.toExponential(2)}`);
            expect(e).toBeLessThanOrEqual(1e-5);
            expect(eh, 'dh').toBeLessThanOrEqual(1e-5);
          }
          expect(firstDiff(engine._opsLora({ ...base, impl: 'cuda' }), cuda), 'deterministic').toBe(-1);
        }, 60_000);

  it('micro-benchmark: µs per call, fp32 vs bf16 activations, and the read-once memory floor', () => {
    const lines: string[] = [];
    const row = (label: string, o: Opts) => {
      const f = engine._opsLoraBench!({ ...o, reps: 50 });
      const b = engine._opsLoraBench!({ ...o, reps: 50, bf16: true });
      const floor = (x: Bench) => x.inputBytes / (x.copyGBs * 1e9) * 1e6;  // each operand once at copy bandwidth
      lines.push(`  ${label}: fp32 ${f.fusedGraphUs.toFixed(1)} µs (floor ${floor(f).toFixed(1)}) | bf16 ${b.fusedGraphUs.toFixed(1)} µs (floor ${floor(b).toFixed(1)}) | cuBLAS fp32 ${f.composedGraphUs.toFixed(1)} µs | graph replay, ${f.copyGBs.toFixed(0)} GB/s copy`);
      expect(f.fusedUs).toBeGreaterThan(0);
      expect(b.fusedUs).toBeGreaterThan(0);
    };
    for (const M of [2048, 8192])
      for (const members of [1, 3])
        for (const op of UP_OPS)
          row(`${op.padEnd(10)} x${members} M=${M} out=768 r=16`, { op, M, in: 768, r: 16, members, scale: 2, accumulate: op === 'upBackward' });
    for (const M of [1024, 2048, 8192])
      for (const op of BF16_OPS)
        row(`${op.padEnd(10)} M=${M} in=768 r=16 p=0.1`, { op, M, in: 768, r: 16, p: 0.1, accumulate: op === 'backward' });
    console.log(['LoRA bf16 micro-benchmark (CUDA graph of 50 calls):', ...lines].join('\n'));
  }, 120_000);
});

// ---------------------------------------------------------------- the A side of a group (q,k,v / cross k,v)
// 'backwardGroup': [gA[n][r,in], dx[M,in]] of n members sharing x and dx (member i's dropout site is
// site + 7919 i). cpu: n lora_backward calls; cuda: lora_backward_group (one launch, in-kernel
// reduce); cudaComposed: n cuda::lora_backward calls (today's per-member path).
interface GroupCase { M: number; in: number; r: number; members: number }
function groupInputs(c: GroupCase, salt: number): Opts {
  const k = c.members;
  return {
    dh: rand(k * c.M * c.r, 41 + salt), x: rand(c.M * c.in, 42 + salt), A: rand(k * c.r * c.in, 43 + salt),
    init: rand(k * c.r * c.in, 44 + salt), initDx: rand(c.M * c.in, 45 + salt),
  };
}

describe('LoRA A side of a group: the CPU hook is n lora_backward calls', () => {
  it('member by member: each gA and the summed dx equal op backward called in turn', () => {
    const c = { M: 45, in: 70, r: 5, members: 3 };
    const inp = groupInputs(c, 1) as Record<string, Float32Array>;
    const base = { op: 'backwardGroup', ...c, p: 0.3, seed: 11, site: 40, accumulate: true, ...inp };
    const g = engine._opsLora({ ...base, impl: 'cpu' });
    const nA = c.r * c.in, nX = c.M * c.in;
    let dx = inp.initDx;
    for (let i = 0; i < c.members; i++) {
      const one = engine._opsLora({
        op: 'backward', impl: 'cpu', M: c.M, in: c.in, r: c.r, p: 0.3, seed: 11, site: 40 + 7919 * i, accumulate: true,
        dh: inp.dh.subarray(i * c.M * c.r, (i + 1) * c.M * c.r), x: inp.x, A: inp.A.subarray(i * nA, (i + 1) * nA),
        init: inp.init.subarray(i * nA, (i + 1) * nA), initDx: dx,
      });
      expect(firstDiff(g.subarray(i * nA, (i + 1) * nA), one.subarray(0, nA)), `gA of member ${i}`).toBe(-1);
      dx = one.slice(nA, nA + nX);
    }
    expect(firstDiff(g.subarray(c.members * nA), dx)).toBe(-1);
  });
});

describe.skipIf(!gpu)('LoRA A side of a group on CUDA (lora_backward_group)', () => {
  const W = 768, R = 16;
  const cases: Array<GroupCase & { p: number; bf16: boolean }> = [];
  for (const members of [1, 2, 3])
    for (const M of [1024, 2048, 1037])
      for (const p of [0, 0.05])
        for (const bf16 of [true, false]) cases.push({ M, in: W, r: R, members, p, bf16 });
  cases.push({ M: 8192, in: W, r: R, members: 3, p: 0.05, bf16: true });
  cases.push({ M: 8192, in: W, r: R, members: 1, p: 0.05, bf16: false });
  cases.push({ M: 8192, in: W, r: R, members: 2, p: 0, bf16: true });
  cases.push({ M: 5, in: W, r: R, members: 3, p: 0.05, bf16: true });       // one split: straight into gA
  cases.push({ M: 333, in: 200, r: 5, members: 3, p: 0.5, bf16: false });   // ragged width and rank
  cases.push({ M: 700, in: 130, r: 16, members: 2, p: 0.05, bf16: true });
  for (const c of cases) {
    const { p, bf16, ...shape } = c;
    it(`n=${c.members} M=${c.M} in=${c.in} r=${c.r} p=${p}${bf16 ? ' bf16' : ''}: = CPU, gA = per-member bits, deterministic`, () => {
      const nA = c.members * c.r * c.in;
      const base = { op: 'backwardGroup', ...shape, p, bf16, seed: 2024, site: 17, accumulate: true, ...groupInputs(shape, c.M) };
      const cpu = engine._opsLora({ ...base, impl: 'cpu' });
      const grouped = engine._opsLora({ ...base, impl: 'cuda' });
      const perMember = engine._opsLora({ ...base, impl: 'cudaComposed' });
      const again = engine._opsLora({ ...base, impl: 'cuda' });
      const eA = relErr(grouped.subarray(0, nA), cpu.subarray(0, nA));
      const eX = relErr(grouped.subarray(nA), cpu.subarray(nA));
      expect(eA, 'gA vs CPU').toBeLessThanOrEqual(1e-5);
      expect(eX, 'dx vs CPU').toBeLessThanOrEqual(1e-5);
      // gA: the same split plan and the same sums in the same order as n lora_backward calls
      expect(firstDiff(grouped.subarray(0, nA), perMember.subarray(0, nA)), 'gA bits vs per-member').toBe(-1);
      // dx: the same additions in the same order (fp32 rounding where the compiler fuses differently)
      const dxDiff = firstDiff(grouped.subarray(nA), perMember.subarray(nA));
      if (dxDiff >= 0) console.log(`  group ${JSON.stringify(c)}: dx not bit-identical to per-member (rel ${relErr(grouped.subarray(nA), perMember.subarray(nA)).toExponential(2)})`);
      expect(relErr(grouped.subarray(nA), perMember.subarray(nA)), 'dx vs per-member').toBeLessThanOrEqual(1e-6);
      expect(firstDiff(again, grouped), 'run to run').toBe(-1);
    }, 60_000);
  }

  it('without dx (cross k,v when the encoder needs no gradient): gA as with dx; without a workspace: = CPU', () => {
    const c = { M: 2048, in: W, r: R, members: 2 };
    const base = { op: 'backwardGroup', ...c, p: 0.05, bf16: true, seed: 9, site: 3, accumulate: true, ...groupInputs(c, 5) };
    const full = engine._opsLora({ ...base, impl: 'cuda' });
    const gaOnly = engine._opsLora({ ...base, impl: 'cuda', noDx: true });
    const nA = c.members * c.r * c.in;
    expect(firstDiff(gaOnly.subarray(0, nA), full.subarray(0, nA))).toBe(-1);
    expect(gaOnly.subarray(nA).every((v) => v === 0)).toBe(true);
    const one = engine._opsLora({ ...base, impl: 'cuda', noWorkspace: true });
    expect(relErr(one, engine._opsLora({ ...base, impl: 'cpu' }))).toBeLessThanOrEqual(1e-5);
    const nonAcc = { ...base, accumulate: false };  // gA and dx overwritten (member 0), not accumulated
    expect(relErr(engine._opsLora({ ...nonAcc, impl: 'cuda' }), engine._opsLora({ ...nonAcc, impl: 'cpu' }))).toBeLessThanOrEqual(1e-5);
  }, 60_000);

  it('rejects what the kernel does not take (n > 3, r > 16)', () => {
    const c = { M: 64, in: 64, r: 16, members: 4 };
    expect(() => engine._opsLora({ op: 'backwardGroup', impl: 'cuda', ...c, ...groupInputs(c, 1) }))
      .toThrow(expect.objectContaining({ code: 'ENGINE_INVALID_ARG' }));
    const d = { M: 64, in: 64, r: 32, members: 2 };
    expect(() => engine._opsLora({ op: 'backwardGroup', impl: 'cuda', ...d, ...groupInputs(d, 1) }))
      .toThrow(expect.objectContaining({ code: 'ENGINE_INVALID_ARG' }));
  });

  it('micro-benchmark: µs per call, lora_backward_group vs n lora_backward calls (today)', () => {
    const lines: string[] = [];
    for (const bf16 of [true, false])
      for (const M of [2048, 8192])
        for (const members of [1, 2, 3]) {
          const b = engine._opsLoraBench!({ op: 'backwardGroup', M, in: W, r: R, members, p: 0.05, bf16, accumulate: true, reps: 50 });
          const bwUs = b.inputBytes / (b.copyGBs * 1e9) * 1e6;
          lines.push(`  ${bf16 ? 'bf16' : 'fp32'} n=${members} M=${M} in=${W} r=${R} p=0.05: group ${b.fusedUs.toFixed(1)} µs (graph ${b.fusedGraphUs.toFixed(1)}) | ${members} x lora_backward ${b.composedUs.toFixed(1)} µs (graph ${b.composedGraphUs.toFixed(1)}) | read-once floor ${bwUs.toFixed(1)} µs`);
          expect(b.fusedUs).toBeGreaterThan(0);
          expect(b.composedUs).toBeGreaterThan(0);
        }
    console.log(['LoRA A-side group micro-benchmark:', ...lines].join('\n'));
  }, 120_000);
});

// ---------------------------------------------------------------- the A side of a group on tensor cores
// tc: true: cuda::tc::lora_backward_group (ops/lora_tc.h; bf16 x, r 16, widths multiples of 64 up to
// 768): one launch, mma.sync with dh and A split hi/lo, the split partials reduced in-kernel. Its
// sums are ordered differently from ops/lora's (tensor-core order, dropout scale on the finished
// sum), so it is held to the CPU reference at 1e-5 (as lora_tc's other kernels), not to bits.
describe.skipIf(!gpu)('LoRA A side of a group on CUDA tensor cores (tc::lora_backward_group)', () => {
  const W = 768, R = 16;
  const cases: Array<GroupCase & { p: number }> = [];
  for (const members of [1, 2, 3])
    for (const M of [1024, 2048, 1037])
      for (const p of [0, 0.05]) cases.push({ M, in: W, r: R, members, p });
  cases.push({ M: 8192, in: W, r: R, members: 3, p: 0.05 });
  cases.push({ M: 8192, in: W, r: R, members: 1, p: 0.05 });
  cases.push({ M: 5, in: W, r: R, members: 3, p: 0.05 });     // one split: straight into gA
  cases.push({ M: 700, in: 128, r: R, members: 2, p: 0.5 });  // narrow: many splits per column block
  cases.push({ M: 300, in: 64, r: R, members: 3, p: 0.5 });
  for (const c of cases) {
    const { p, ...shape } = c;
    it(`n=${c.members} M=${c.M} in=${c.in} p=${p}: tc = CPU, deterministic, tickets reset (a second call equal)`, () => {
      const nA = c.members * c.r * c.in;
      const base = { op: 'backwardGroup', ...shape, p, bf16: true, seed: 2024, site: 17, accumulate: true, ...groupInputs(shape, c.M) };
      const cpu = engine._opsLora({ ...base, impl: 'cpu' });
      const tc = engine._opsLora({ ...base, impl: 'cuda', tc: true });
      const again = engine._opsLora({ ...base, impl: 'cuda', tc: true });
      expect(relErr(tc.subarray(0, nA), cpu.subarray(0, nA)), 'gA vs CPU').toBeLessThanOrEqual(1e-5);
      expect(relErr(tc.subarray(nA), cpu.subarray(nA)), 'dx vs CPU').toBeLessThanOrEqual(1e-5);
      expect(firstDiff(again, tc), 'run to run').toBe(-1);
    }, 60_000);
  }

  it('without dx: gA as with dx, dx untouched; not accumulating: = CPU', () => {
    const c = { M: 2048, in: W, r: R, members: 3 };
    const base = { op: 'backwardGroup', ...c, p: 0.05, bf16: true, seed: 9, site: 3, accumulate: true, ...groupInputs(c, 5) };
    const full = engine._opsLora({ ...base, impl: 'cuda', tc: true });
    const gaOnly = engine._opsLora({ ...base, impl: 'cuda', tc: true, noDx: true });
    const nA = c.members * c.r * c.in;
    expect(firstDiff(gaOnly.subarray(0, nA), full.subarray(0, nA))).toBe(-1);
    expect(gaOnly.subarray(nA).every((v) => v === 0)).toBe(true);
    const nonAcc = { ...base, accumulate: false };
    expect(relErr(engine._opsLora({ ...nonAcc, impl: 'cuda', tc: true }), engine._opsLora({ ...nonAcc, impl: 'cpu' })))
      .toBeLessThanOrEqual(1e-5);
  }, 60_000);

  it('rejects what it does not take (r != 16, a width not a multiple of 64, n > 3)', () => {
    for (const d of [{ M: 64, in: 64, r: 8, members: 2 }, { M: 64, in: 96, r: 16, members: 2 }, { M: 64, in: 64, r: 16, members: 4 }])
      expect(() => engine._opsLora({ op: 'backwardGroup', impl: 'cuda', bf16: true, tc: true, ...d, ...groupInputs(d, 1) }))
        .toThrow(expect.objectContaining({ code: 'ENGINE_INVALID_ARG' }));
  });

  it('micro-benchmark: µs per call, tc group vs ops/lora group vs n lora_backward calls vs the floor', () => {
    const lines: string[] = [];
    for (const M of [2048, 8192])
      for (const members of [1, 2, 3]) {
        const o = { op: 'backwardGroup', M, in: W, r: R, members, p: 0.05, bf16: true, accumulate: true, reps: 50 };
        const t = engine._opsLoraBench!({ ...o, tc: true });
        const g = engine._opsLoraBench!(o);
        const bwUs = t.inputBytes / (t.copyGBs * 1e9) * 1e6;
        lines.push(`  bf16 n=${members} M=${M} in=${W} r=${R} p=0.05 (graph µs): tc group ${t.fusedGraphUs.toFixed(1)} | ops/lora group ${g.fusedGraphUs.toFixed(1)} | ${members} x lora_backward ${g.composedGraphUs.toFixed(1)} | read-once floor ${bwUs.toFixed(1)}`);
        expect(t.fusedGraphUs).toBeGreaterThan(0);
      }
    console.log(['LoRA A-side group on tensor cores, micro-benchmark:', ...lines].join('\n'));
  }, 120_000);
});
