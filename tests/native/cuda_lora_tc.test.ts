// The tensor-core LoRA kernels for bf16 activations (native/src/ops/lora_tc.*: lora_down,
// lora_backward, lora_up_add, lora_up_backward in hukuk::ops::cuda::tc). GPU only (skipped
// without a GPU): each kernel against the fp32 CPU reference of ops/lora.cpp run on the same
// bf16-rounded activations (engine._opsLora with impl 'cpu' and bf16), within 1e-5 of the
// output's largest magnitude (y of lora_up_add: within half a bf16 ulp + 1e-5 of the largest, it is stored in bf16),
// with dropout (the mask must match element for element, or whole terms go missing), accumulate
// on and off, members n = 1 and 3; determinism (the same bits twice); and a micro-benchmark
// against ops/lora's bf16 overloads with the read-once floor (printed, not asserted).
// Launch-count work (2026-11-28): lora_down_group (n <= 3 members' down products in one launch)
// bit for bit n lora_down launches; a training step with HUKUK_T5_LORA_TC_DOWN_GROUP=1 against
// the switch off; µs old vs new (printed). (lora_up_backward's in-kernel gB reduce was tried and
// removed: measured slower, see ops/lora_tc.h.)
// HUKUK_T5_LORA_TC_FAST_BWD (lora_tc.h kFast* bits, 2026-11-28 session 6): each part and all of
// them = CPU; the bit-for-bit parts (prefetch kernels; dh, gA and dx of the whole sequence) equal
// today's bits; a training step with the switch = off; µs per call of each part against today.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Engine, T5Batch, T5Model } from '../../native/index';
import { makeTinyT5 } from '../train/tiny-t5';
import { rand, relErr } from './lora-test-data';

const require = createRequire(import.meta.url);
process.env.OMP_WAIT_POLICY ??= 'passive';

type Opts = Record<string, unknown>;
interface Bench { tcUs: number; refUs: number; floorUs: number; bytes: number; copyGBs: number; tcBaseUs?: number }
type Ops = {
  _opsLora(o: Opts): Float32Array;
  _opsLoraTc?(o: Opts): Float32Array;
  _opsLoraTcBench?(o: Opts): Bench;
  _opsLoraTcSupported?(r: number, width: number): boolean;
  _opsLoraTcFastBwd?(mask?: number): number;
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

// The step tests' setup: a tiny T5 (2 + 2 layers, d_model 256, d_kv 64) in dir, a batch of 4 x 40 -> 24
// with padding, and an adapter with B != 0 (addLora starts B at 0) from one CPU step of AdamW at
// lr 1e-2 (LoRA q,k,v,o, r 16, dropout 0.1).
function tinyStepSetup(t5: Engine, dir: string): { b: T5Batch; adapter: string } {
  makeTinyT5(dir, { vocabSize: 256, dModel: 256, dKv: 64, numHeads: 4, dFf: 512, numLayers: 2, numDecoderLayers: 2 }, 5);
  const B = 4, S = 40, T = 24, V = 256;
  const b: T5Batch = {
    inputIds: Int32Array.from({ length: B * S }, (_, i) => 2 + ((i * 37 + 3) % (V - 2))),
    attentionMask: Int32Array.from({ length: B * S }, (_, i) => (i % S < S - Math.min(S - 1, (i / S) | 0) ? 1 : 0)),
    labels: Int32Array.from({ length: B * T }, (_, i) => 2 + ((i * 11 + 3) % (V - 2))),
    batch: B, srcLen: S, tgtLen: T, train: true, dropoutSeed: 5,
  } as T5Batch;
  const adapter = join(dir, 'adapter');
  const cpu = t5.T5Model.load({ modelDir: dir, device: 'cpu' });
  try {
    cpu.addLora({ r: 16, alpha: 32, dropout: 0.1, targets: ['q', 'k', 'v', 'o'], seed: 3 });
    cpu.forwardBackward(b);
    t5.optimizerStep(cpu, { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1, gradScale: 1, step: 1 } as never);
    cpu.saveAdapter(adapter);
  } finally {
    cpu.dispose();
  }
  return { b, adapter };
}

// The tiny model on the GPU (bf16, bf16 weights) with the adapter: two steps, captured then replayed.
function twoSteps(t5: Engine, dir: string, adapter: string, b: T5Batch): { loss: number; grads: Float32Array[] }[] {
  const m: T5Model = t5.T5Model.load({ modelDir: dir, device: 'cuda', quant: 'none', compute: 'bf16' });
  try {
    m.loadAdapter(adapter);
    const step = () => {
      m.zeroGrad();
      const loss = m.forwardBackward(b).loss;
      return { loss, grads: m.loraTensors().map((t) => Float32Array.from(t.grad)) };
    };
    return [step(), step()];
  } finally {
    m.dispose();
  }
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

// ---- fewer launches: lora_down_group ------------------------------------------------------------
describe.skipIf(!gpu)('tensor-core LoRA: fewer launches, the same bits', () => {
  // member i of downGroup: site 31 + 7919 i, p halved for i == 1 (lora_tc_napi.cpp)
  for (const [M, inW, n, p] of [[37, 768, 3, 0.05], [2048, 768, 3, 0.05], [8192, 768, 3, 0.05], [2048, 768, 2, 0.05],
    [2048, 768, 1, 0.05], [300, 512, 3, 0.5], [1000, 64, 2, 0], [5, 128, 3, 0.05]] as [number, number, number, number][])
    it(`downGroup M=${M} in=${inW} n=${n} p=${p}: each h_i bit for bit lora_down's, = CPU`, () => {
      const r = 16, x = rand(M * inW, 61 + M), A = rand(n * r * inW, 62 + M);
      const g = engine._opsLoraTc!({ op: 'downGroup', M, in: inW, r, members: n, p, seed: 1234567, site: 31, x, A });
      expect(g.length).toBe(n * M * r);
      for (let i = 0; i < n; i++) {
        const Ai = A.subarray(i * r * inW, (i + 1) * r * inW);
        const one = { op: 'down', M, in: inW, r, p: i === 1 ? p * 0.5 : p, seed: 1234567, site: 31 + 7919 * i, x, A: Ai };
        const hi = g.subarray(i * M * r, (i + 1) * M * r);
        expect(sameBits(hi, engine._opsLoraTc!(one)), `member ${i} bits`).toBe(true);
        expect(relErr(hi, engine._opsLora({ ...one, impl: 'cpu', bf16: true })), `member ${i} vs CPU`).toBeLessThanOrEqual(1e-5);
      }
    }, 60_000);

  it('a training step (bf16, LoRA q,k,v,o r16, dropout on) with HUKUK_T5_LORA_TC_DOWN_GROUP=1 = off: loss and every LoRA gradient bit for bit, replays too', () => {
    const t5 = require('../../native/index.cjs').loadEngine() as Engine;
    if (!t5.cublasInfo().available) return; // the step needs cuBLAS (cuda_t5.test.ts skips likewise)
    const dir = mkdtempSync(join(tmpdir(), 'hukuk-lora-tc-step-'));
    const SW = ['HUKUK_T5_LORA_TC_DOWN_GROUP'];
    const saved = SW.map((k) => process.env[k]);
    const flash = process.env.HUKUK_T5_FLASH;
    try {
      const { b, adapter } = tinyStepSetup(t5, dir);
      // HUKUK_T5_FLASH=0: the unfused attention backward has no atomics, so two runs of one path
      // give the same bits and any difference is the switches'
      process.env.HUKUK_T5_FLASH = '0';
      const run = (on: boolean) => {
        for (const k of SW) process.env[k] = on ? '1' : '0'; // '0', not unset: the switch is on by default
        return twoSteps(t5, dir, adapter, b);
      };
      const off = run(false), on = run(true), offAgain = run(false), onAgain = run(true);
      const worst = (x: { grads: Float32Array[] }, y: { grads: Float32Array[] }) =>
        Math.max(...x.grads.map((g, i) => relErr(g, y.grads[i])));
      const noise = worst(off[0], offAgain[0]);
      console.log(`  step switch on vs off: loss ${on[0].loss} / ${off[0].loss}; worst grad ${worst(on[0], off[0])} ` +
        `(replay ${worst(on[1], off[1])}, again ${worst(onAgain[0], off[0])}); off vs off ${noise}`);
      expect(on[0].grads.some((g) => g.some((v) => v !== 0))).toBe(true);
      for (const [x, y] of [[on[0], off[0]], [on[1], off[1]], [onAgain[0], off[0]], [onAgain[1], on[1]]]) {
        expect(x.loss).toBe(y.loss);
        expect(worst(x, y)).toBeLessThanOrEqual(noise);
      }
    } finally {
      SW.forEach((k, i) => { if (saved[i] === undefined) delete process.env[k]; else process.env[k] = saved[i]; });
      if (flash === undefined) delete process.env.HUKUK_T5_FLASH; else process.env.HUKUK_T5_FLASH = flash;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('micro-benchmark: µs per call (CUDA graph), one launch vs today (n x lora_down)', () => {
    const rows: string[] = ['op            M     n   new µs   today µs   ratio   (width 768, r 16, p 0.05)'];
    const row = (label: string, M: number, n: number, b: Bench) =>
      rows.push(`${label} ${String(M).padStart(5)} ${n}  ${b.tcUs.toFixed(2).padStart(7)}  ${b.refUs.toFixed(2).padStart(8)}  ${(b.refUs / b.tcUs).toFixed(2).padStart(6)}`);
    for (const M of [1024, 2048, 4096, 8192])
      for (const n of [2, 3]) row('downGroup  ', M, n, engine._opsLoraTcBench!({ op: 'downGroup', M, in: 768, r: 16, members: n, p: 0.05, reps: 100 }));
    console.log(rows.join('\n'));
  }, 120_000);
});

// ---- HUKUK_T5_LORA_TC_FAST_BWD: the LoRA backward's latency changes ------------------------------
// masks (lora_tc.h): 1 split reduce, 2 finer up split, 4 up_backward prefetch, 8 group prefetch (n = 1),
// 16 group dh staged in shared memory (n = 2, 3)
const FAST_ALL = 31;
describe.skipIf(!gpu)('tensor-core LoRA backward, HUKUK_T5_LORA_TC_FAST_BWD', () => {
  const fastCases: Case[] = [];
  for (const M of [1, 37, 1024, 2048, 8192])
    for (const members of [1, 3]) fastCases.push({ op: 'upBackward', M, in: 768, members, p: 0, accumulate: true });
  fastCases.push({ op: 'upBackward', M: 2048, in: 768, members: 2, p: 0, accumulate: false });
  fastCases.push({ op: 'upBackward', M: 4999, in: 64, members: 2, p: 0, accumulate: false });
  fastCases.push({ op: 'backward', M: 2048, in: 768, members: 1, p: 0.05, accumulate: true });
  fastCases.push({ op: 'backward', M: 300, in: 512, members: 1, p: 0.05, accumulate: false });
  for (const c of fastCases)
    for (const mask of c.M === 1024 || c.M === 2048 ? [1, 2, FAST_ALL] : [FAST_ALL]) {
      const name = `${c.op} M=${c.M} in=${c.in} n=${c.members}${c.accumulate ? ' acc' : ''} fastBwd=${mask}`;
      it(`${name}: = CPU reference`, () => {
        const a = args(c);
        const tc = engine._opsLoraTc!({ ...a, fastBwd: mask });
        const cpu = engine._opsLora({ ...a, impl: 'cpu', bf16: true });
        const pt = parts(c, tc), pc = parts(c, cpu);
        for (let i = 0; i < pt.length; i++) expect(relErr(pt[i], pc[i]), `${name} part ${i}`).toBeLessThanOrEqual(1e-5);
      }, 60_000);
    }

  for (const [M, n] of [[37, 1], [1024, 1], [2048, 1], [8192, 1], [2048, 3], [300, 1]] as [number, number][])
    it(`upBackward M=${M} n=${n}: up_backward prefetch (fastBwd 4) bit for bit today's`, () => {
      const a = args({ op: 'upBackward', M, in: 768, members: n, p: 0, accumulate: true });
      expect(sameBits(engine._opsLoraTc!({ ...a, fastBwd: 4 }), engine._opsLoraTc!({ ...a, fastBwd: 0 }))).toBe(true);
    }, 60_000);

  // backwardGroup / linearBackward: member i site 31 + 7919 i, p halved for i == 1 (lora_tc_napi.cpp)
  const groupInputs = (M: number, inW: number, n: number, salt: number) => ({
    dh: rand(n * M * 16, 71 + salt), x: rand(M * inW, 72 + salt), A: rand(n * 16 * inW, 73 + salt),
    init: rand(n * 16 * inW, 74 + salt), initDx: rand(M * inW, 75 + salt),
  });
  // groups of 2-3 take the staged form only up to kStageMaxRows = 2048 rows (ops/lora_tc.h): above it
  // fastBwd 16 and 0 run the same kernel, so the group cases stay at or under 2048 rows
  for (const [M, inW, n, p, acc] of [[2048, 768, 1, 0.05, true], [1024, 768, 1, 0.05, true], [8192, 768, 1, 0.05, true],
    [37, 768, 1, 0.5, false], [300, 128, 1, 0, true], [2048, 768, 3, 0.05, true], [1024, 768, 3, 0.05, true],
    [1536, 768, 3, 0.05, true], [2048, 768, 2, 0.05, false], [37, 128, 3, 0.5, true], [2048, 768, 2, 0.05, true]] as [number, number, number, number, boolean][])
    it(`backwardGroup M=${M} in=${inW} n=${n} p=${p}${acc ? ' acc' : ''}: group prefetch / staging (fastBwd 8 / 16) bit for bit today's, = CPU`, () => {
      const a = { op: 'backwardGroup', M, in: inW, r: 16, members: n, p, seed: 1234567, site: 31, accumulate: acc, ...groupInputs(M, inW, n, M) };
      const fast = engine._opsLoraTc!({ ...a, fastBwd: n === 1 ? 8 : 16 });
      expect(sameBits(fast, engine._opsLoraTc!({ ...a, fastBwd: 0 }))).toBe(true);
      if (n !== 1) return;
      const cpu = engine._opsLora({ op: 'backward', M, in: inW, r: 16, p, seed: 1234567, site: 31, accumulate: acc,
        dh: a.dh, x: a.x, A: a.A, init: a.init, initDx: a.initDx, impl: 'cpu', bf16: true });
      expect(relErr(fast.subarray(0, 16 * inW), cpu.subarray(0, 16 * inW)), 'gA').toBeLessThanOrEqual(1e-5);
      expect(relErr(fast.subarray(16 * inW), cpu.subarray(16 * inW)), 'dx').toBeLessThanOrEqual(1e-5);
    }, 60_000);

  for (const [M, n] of [[1024, 1], [2048, 1], [2048, 3], [8192, 1], [8192, 3], [37, 2]] as [number, number][])
    it(`linearBackward M=${M} n=${n} (up_backward + reduce + group): all on = today (gA, dx bit for bit; gB within 1e-5)`, () => {
      const inW = 768, r = 16;
      const a = {
        op: 'linearBackward', M, in: inW, r, members: n, p: 0.05, seed: 1234567, site: 31, accumulate: true, scale: 2,
        dy: rand(n * M * inW, 81 + M), h: rand(n * M * r, 82 + M), B: rand(n * inW * r, 83 + M), x: rand(M * inW, 84 + M),
        A: rand(n * r * inW, 85 + M), init: rand(n * inW * r, 86 + M), initA: rand(n * r * inW, 87 + M), initDx: rand(M * inW, 88 + M),
      };
      const on = engine._opsLoraTc!({ ...a, fastBwd: FAST_ALL }), off = engine._opsLoraTc!({ ...a, fastBwd: 0 });
      const nB = n * inW * r;
      expect(relErr(on.subarray(0, nB), off.subarray(0, nB)), 'gB').toBeLessThanOrEqual(1e-5);
      expect(sameBits(on.subarray(nB), off.subarray(nB)), 'gA and dx bits').toBe(true);
      expect(sameBits(on, engine._opsLoraTc!({ ...a, fastBwd: FAST_ALL })), 'deterministic').toBe(true);
    }, 60_000);

  it('a training step (bf16, LoRA q,k,v,o r16, dropout on) with every part on = off: loss bit for bit, gradients within 1e-5, replays too', () => {
    const t5 = require('../../native/index.cjs').loadEngine() as Engine;
    if (!t5.cublasInfo().available) return; // the step needs cuBLAS (cuda_t5.test.ts skips likewise)
    const dir = mkdtempSync(join(tmpdir(), 'hukuk-lora-tc-fast-'));
    const flash = process.env.HUKUK_T5_FLASH;
    try {
      const { b, adapter } = tinyStepSetup(t5, dir);
      process.env.HUKUK_T5_FLASH = '0'; // no atomics in the attention backward: run to run the same bits
      const run = (mask: number) => {
        engine._opsLoraTcFastBwd!(mask); // before the load: the plan sizes the workspace under it
        return twoSteps(t5, dir, adapter, b);
      };
      const off = run(0), on = run(FAST_ALL), offAgain = run(0);
      const worst = (x: { grads: Float32Array[] }, y: { grads: Float32Array[] }) =>
        Math.max(...x.grads.map((g, i) => relErr(g, y.grads[i])));
      console.log(`  fast backward on vs off: loss ${on[0].loss} / ${off[0].loss}; worst grad ${worst(on[0], off[0])} ` +
        `(replay ${worst(on[1], off[1])}); off vs off ${worst(off[0], offAgain[0])}`);
      expect(on[0].grads.some((g) => g.some((v) => v !== 0))).toBe(true);
      for (const [x, y] of [[on[0], off[0]], [on[1], off[1]]]) {
        expect(x.loss).toBe(y.loss); // dh, dx and gA keep their bits: only gB's order differs
        expect(worst(x, y)).toBeLessThanOrEqual(1e-5);
      }
    } finally {
      engine._opsLoraTcFastBwd!(-1);
      if (flash === undefined) delete process.env.HUKUK_T5_FLASH; else process.env.HUKUK_T5_FLASH = flash;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('micro-benchmark: µs per call (CUDA graph, no PDL), each part and all against today', () => {
    const rows: string[] = ['op              M     n   today µs  reduce upSplit   upPf groupPf  stage     all   (all / today)  floor µs'];
    for (const [op, M, n] of [['linearBackward', 1024, 1], ['linearBackward', 2048, 1], ['linearBackward', 2048, 3],
      ['linearBackward', 8192, 1], ['linearBackward', 8192, 3], ['linearBackward', 2048, 2], ['upBackward', 2048, 1],
      ['upBackward', 1024, 1], ['upBackward', 2048, 3], ['backwardGroup', 2048, 1], ['backwardGroup', 1024, 1],
      ['backwardGroup', 8192, 1], ['backwardGroup', 2048, 3], ['backwardGroup', 1024, 3], ['backwardGroup', 8192, 3],
      ['backwardGroup', 4096, 2]] as [string, number, number][]) {
      const us: number[] = [];
      let base = 0, floor = 0;
      for (const mask of [1, 2, 4, 8, 16, FAST_ALL]) {
        const b = engine._opsLoraTcBench!({ op, M, in: 768, r: 16, members: n, p: 0.05, accumulate: true, scale: 2, reps: 100, fastBwd: mask });
        expect(b.tcUs).toBeGreaterThan(0);
        us.push(b.tcUs);
        base = b.tcBaseUs ?? b.refUs;
        floor = b.floorUs;
      }
      rows.push(`${op.padEnd(15)} ${String(M).padStart(5)} ${n}  ${base.toFixed(2).padStart(8)}  ` +
        us.map((u) => u.toFixed(2).padStart(6)).join(' ') + `   ${(us[5] / base).toFixed(3).padStart(6)}   ${floor.toFixed(1).padStart(7)}`);
    }
    console.log(rows.join('\n'));
  }, 120_000);
});
