// The tensor-core LoRA kernels for bf16 activations (native/src/ops/lora_tc.*: lora_down,
// lora_backward, lora_up_add, lora_up_backward in hukuk::ops::cuda::tc). GPU only (skipped
// without a GPU): each kernel against the fp32 CPU reference of ops/lora.cpp run on the same
// bf16-rounded activations (engine._opsLora with impl 'cpu' and bf16), within 1e-5 of the
// output's largest magnitude (y of lora_up_add: within half a bf16 ulp + 1e-5 of the largest, it is stored in bf16),
// with dropout (the mask must match element for element, or whole terms go missing), accumulate
// on and off, members n = 1 and 3; determinism (the same bits twice); and a micro-benchmark
// against ops/lora's bf16 overloads with the read-once floor (printed, not asserted).
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { rand, relErr } from './lora-test-data';

const require = createRequire(import.meta.url);
process.env.OMP_WAIT_POLICY ??= 'passive';

type Opts = Record<string, unknown>;
interface Bench { tcUs: number; refUs: number; floorUs: number; bytes: number; copyGBs: number }
type Ops = {
  _opsLora(o: Opts): Float32Array;
  _opsLoraTc?(o: Opts): Float32Array;
  _opsLoraTcBench?(o: Opts): Bench;
  _opsLoraTcSupported?(r: number, width: number): boolean;
  cudaCompiled(): boolean;
  gpus(): unknown[];
};
const engine = require('../../native/index.cjs').loadEngine() as Ops;
const gpu = engine.cudaCompiled() && engine.gpus().length > 0 && typeof engine._opsLoraTc === 'function';

// y of lora_up_add is bf16: each element within half a bf16 ulp (2^-8 relative) of the fp32 sum,
// plus 1e-5 of the largest (the fp32 sums differ in the last bits, which can flip a rounding)
function bf16Bad(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(b[i]));
  let bad = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > Math.abs(b[i]) * 2 ** -8 + 1e-5 * m) bad++;
  return bad;
}
function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
  return true;
}

interface Case { op: string; M: number; in: number; members: number; p: number; accumulate: boolean; noDx?: boolean }
function inputs(c: Case, salt: number): Opts {
  const r = 16, n = c.M * c.in, k = c.members;
  switch (c.op) {
    case 'down': return { x: rand(n, 11 + salt), A: rand(r * c.in, 12 + salt) };
    case 'backward': return {
      dh: rand(c.M * r, 21 + salt), x: rand(n, 22 + salt), A: rand(r * c.in, 23 + salt),
      init: rand(r * c.in, 24 + salt), initDx: rand(n, 25 + salt),
    };
    case 'up': return { h: rand(k * c.M * r, 31 + salt), B: rand(k * c.in * r, 32 + salt), init: rand(k * n, 33 + salt) };
    default: return {
      dy: rand(k * n, 41 + salt), h: rand(k * c.M * r, 42 + salt), B: rand(k * c.in * r, 43 + salt),
      init: rand(k * c.in * r, 44 + salt),
    };
  }
}
const args = (c: Case) => ({
  op: c.op, M: c.M, in: c.in, r: 16, members: c.members, p: c.p, seed: 1234567, site: 31,
  accumulate: c.accumulate, noDx: c.noDx ?? false, scale: 2,
  ...inputs(c, c.M + c.in),
});
// [first part, second part] of a result: backward [gA, dx], upBackward [gB, dh]
function parts(c: Case, v: Float32Array): Float32Array[] {
  if (c.op === 'backward') return [v.subarray(0, 16 * c.in), v.subarray(16 * c.in)];
  if (c.op === 'upBackward') return [v.subarray(0, c.members * 16 * c.in), v.subarray(c.members * 16 * c.in)];
  return [v];
}

const CASES: Case[] = [];
for (const M of [1, 37, 2048, 8192]) {
  for (const p of [0, 0.05]) {
    CASES.push({ op: 'down', M, in: 768, members: 1, p, accumulate: false });
    for (const accumulate of [false, true]) CASES.push({ op: 'backward', M, in: 768, members: 1, p, accumulate });
  }
  for (const members of [1, 3]) {
    CASES.push({ op: 'up', M, in: 768, members, p: 0, accumulate: false });
    for (const accumulate of [false, true]) CASES.push({ op: 'upBackward', M, in: 768, members, p: 0, accumulate });
  }
}
// another width (fewer warps a block), gA alone (dx null), a ragged M
CASES.push({ op: 'down', M: 300, in: 512, members: 1, p: 0.05, accumulate: false });
CASES.push({ op: 'backward', M: 300, in: 512, members: 1, p: 0.05, accumulate: true });
CASES.push({ op: 'backward', M: 1000, in: 768, members: 1, p: 0.05, accumulate: false, noDx: true });
CASES.push({ op: 'up', M: 300, in: 512, members: 3, p: 0, accumulate: false });
CASES.push({ op: 'upBackward', M: 300, in: 512, members: 3, p: 0, accumulate: true });
CASES.push({ op: 'upBackward', M: 4999, in: 64, members: 2, p: 0, accumulate: false });

describe.skipIf(!gpu)('tensor-core LoRA kernels (bf16 activations) on CUDA', () => {
  it('supported(): r 16, widths multiple of 64 up to 768', () => {
    expect(engine._opsLoraTcSupported!(16, 768)).toBe(true);
    expect(engine._opsLoraTcSupported!(16, 64)).toBe(true);
    expect(engine._opsLoraTcSupported!(16, 700)).toBe(false);
    expect(engine._opsLoraTcSupported!(16, 832)).toBe(false);
    expect(engine._opsLoraTcSupported!(8, 768)).toBe(false);
  });

  for (const c of CASES) {
    const name = `${c.op} M=${c.M} in=${c.in} n=${c.members} p=${c.p}${c.accumulate ? ' acc' : ''}${c.noDx ? ' noDx' : ''}`;
    it(`${name}: tc = CPU reference`, () => {
      const a = args(c);
      const tc = engine._opsLoraTc!(a);
      const cpu = engine._opsLora({ ...a, impl: 'cpu', bf16: true });
      if (c.op === 'up') {
        expect(bf16Bad(tc, cpu), name).toBe(0);
        return;
      }
      const pt = parts(c, tc), pc = parts(c, cpu);
      for (let i = 0; i < pt.length; i++) {
        const e = relErr(pt[i], pc[i]);
        expect(e, `${name} part ${i}`).toBeLessThanOrEqual(1e-5);
      }
    }, 60_000);
  }

  for (const op of ['down', 'backward', 'up', 'upBackward'])
    it(`${op}: deterministic (the same bits twice) at M=8192`, () => {
      const c: Case = { op, M: 8192, in: 768, members: op.startsWith('up') ? 3 : 1, p: op.startsWith('up') ? 0 : 0.05, accumulate: true };
      const a = args(c);
      expect(sameBits(engine._opsLoraTc!(a), engine._opsLoraTc!(a))).toBe(true);
    }, 60_000);

  it('micro-benchmark: µs per call (CUDA graph), lora_tc vs ops/lora bf16 vs the read-once floor', () => {
    const rows: string[] = ['op                 M     n   tc µs   ops/lora µs   floor µs   speed-up'];
    for (const M of [2048, 8192])
      for (const [op, members, p, accumulate] of [
        ['upBackward', 1, 0, true], ['upBackward', 3, 0, true], ['backward', 1, 0.05, true], ['down', 1, 0.05, false],
        ['up', 1, 0, false], ['up', 3, 0, false],
      ] as [string, number, number, boolean][]) {
        const b = engine._opsLoraTcBench!({ op, M, in: 768, r: 16, members, p, accumulate, reps: 50 });
        expect(b.tcUs).toBeGreaterThan(0);
        rows.push(`${op.padEnd(12)} ${String(M).padStart(6)} ${String(members).padStart(3)} ${b.tcUs.toFixed(1).padStart(7)} ` +
          `${b.refUs.toFixed(1).padStart(13)} ${b.floorUs.toFixed(1).padStart(10)} ${(b.refUs / b.tcUs).toFixed(2).padStart(10)}`);
      }
    console.log(rows.join('\n'));
  }, 120_000);
});
