// Generation on the GPU (native/src/generate/cuda): a model loaded on CUDA decodes with the CUDA
// step model; it must compute the CPU graph's function. For every T5 fixture (fp32 and NF4, with
// its adapter): the decoder logits step by step (teacher-forced on the CPU's greedy ids, through
// the engine._decodeLogits hook) within 1e-4 relative, and greedy / beam-4 ids identical to the
// CPU's (and to transformers' goldens where the fixture has them). Also a padded batch with
// beams (cross-attention mask, beam reorder), the base model without the adapter, a 32-row step
// (cuBLAS by default, the gemv kernel with HUKUK_GEN_GEMM_ROWS=0), a model whose widths are not
// multiples of 8 (the gemv's scalar-unit path), and the CUDA graph against kernel-by-kernel
// launches (bit-identical), the fused RMS norm against its own kernel. All of it once per product
// path (VARIANTS). Skipped without a GPU.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numelOf, parseSafetensors } from '../../common/formats/safetensors';
import type { Engine, GenerateOptions, T5Model } from '../../native/index';
import { chatLoadOptions, handleChatGenerate, releaseWarmModel } from '../../worker/chat/generate';
import { GenerationOptionsSchema } from '../../common/contract/chat';
import { makeTinyT5 } from '../train/tiny-t5';

const require = createRequire(import.meta.url);
const { loadEngine } = require('../../native/index.cjs') as typeof import('../../native/index');
const engine = loadEngine() as Engine & {
  _decodeLogits(model: T5Model, opts: GenerateOptions & { tokens: Int32Array; stepDevice?: 'cpu' | 'auto' }): Float32Array;
};
const gpu = engine.cudaCompiled() && engine.gpus().length > 0 && engine.cublasInfo().available;
const FIXTURES = resolve(__dirname, '../fixtures/t5');
const fixtures = existsSync(FIXTURES)
  ? readdirSync(FIXTURES).filter((d) => existsSync(join(FIXTURES, d, 'goldens.safetensors')))
  : [];
const TOL = 1e-4;

function readInt32(file: string, names: string[]): Record<string, { shape: number[]; data: Int32Array }> {
  const bytes = new Uint8Array(readFileSync(file));
  const h = parseSafetensors(bytes, file);
  const out: Record<string, { shape: number[]; data: Int32Array }> = {};
  for (const t of h.tensors) {
    if (!names.includes(t.name) || t.dtype !== 'I32') continue;
    const copy = bytes.slice(t.begin, t.end);
    out[t.name] = { shape: t.shape, data: new Int32Array(copy.buffer, 0, numelOf(t.shape)) };
  }
  return out;
}

// Per step: max |gpu - cpu| / max |cpu| over the step's logits [rows, V].
function stepErrors(gpuL: Float32Array, cpuL: Float32Array, steps: number): number[] {
  expect(gpuL.length).toBe(cpuL.length);
  const per = cpuL.length / steps;
  const errs: number[] = [];
  for (let t = 0; t < steps; t++) {
    let diff = 0, scale = 0;
    for (let i = t * per; i < (t + 1) * per; i++) {
      diff = Math.max(diff, Math.abs(gpuL[i] - cpuL[i]));
      scale = Math.max(scale, Math.abs(cpuL[i]));
    }
    errs.push(Number.isFinite(diff) ? diff / (scale || 1) : Infinity);
  }
  return errs;
}

function summary(label: string, errs: number[]): string {
  const worst = Math.max(...errs);
  const bad = errs.findIndex((e) => !(e <= TOL));
  return `${label}: step 0 ${errs[0].toExponential(2)}, worst ${worst.toExponential(2)} at step ${errs.indexOf(worst)}` +
    (bad >= 0 ? `, FIRST OVER ${TOL} at step ${bad}` : '');
}

function firstDiff(a: Int32Array, b: Int32Array): string {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return `first differing position ${i}: cpu ${a[i]} gpu ${b[i]} (lengths ${a.length}/${b.length})`;
  return 'equal';
}

// [batch, len] row-major ids -> the decoder inputs [len - 1, batch] (teacher forcing)
function teacherTokens(ids: Int32Array, batch: number): Int32Array {
  const len = ids.length / batch;
  const out = new Int32Array((len - 1) * batch);
  for (let t = 0; t < len - 1; t++) for (let b = 0; b < batch; b++) out[t * batch + b] = ids[b * len + t];
  return out;
}

/** Per-step relative errors of the GPU step's teacher-forced logits against the CPU graph's, on the
 * ids `greedy` (batch rows of the CPU's greedy output). */
function teacherForcedErrors(cpu: T5Model, cuda: T5Model, src: GenerateOptions, greedy: Int32Array, batch: number): number[] {
  const tokens = teacherTokens(greedy, batch);
  return stepErrors(engine._decodeLogits(cuda, { ...src, tokens }), engine._decodeLogits(cpu, { ...src, tokens }), tokens.length / batch);
}
function load(name: string, device: 'cpu' | 'cuda', quant: 'none' | 'nf4'): T5Model {
  const dir = join(FIXTURES, name);
  const m = engine.T5Model.load({ modelDir: join(dir, 'model'), device, quant, ...(device === 'cuda' ? { compute: 'fp32' as const } : {}) });
  if (existsSync(join(dir, 'adapter'))) m.loadAdapter(join(dir, 'adapter'));
  return m;
}

// Every product path. The defaults (cuda_step_model.cpp, the fastest measured on an H200):
// the gemv kernel (four outputs per warp), programmatic dependent launch on sm_90+, cuBLAS
// products for steps of >= 32 rows; each switch back gets its variant: PDL off, and
// HUKUK_GEN_GEMM_ROWS=1 (cuBLAS products + the epilogue kernel on every step, PDL off there by
// design).
const VARIANTS: Record<string, Record<string, string>> = {
  'default: multi+pdl': {},
  'multi, pdl off': { HUKUK_GEN_PDL: '0' },
  'cublas every step': { HUKUK_GEN_GEMM_ROWS: '1' },
};

// An adapter with B != 0 on q, k, v, o, wi: one CPU training step from `seed`, saved to adapterDir.
function trainAdapter(modelDir: string, adapterDir: string, inputIds: Int32Array, attentionMask: Int32Array, batch: number,
  vocab: number, r: number, seed: number): void {
  const trainer = engine.T5Model.load({ modelDir });
  try {
    trainer.addLora({ r, alpha: 2 * r, targets: ['q', 'k', 'v', 'o', 'wi'], seed });
    const labels = Int32Array.from({ length: batch * 4 }, (_, i) => 2 + ((i * 31) % (vocab - 10)));
    trainer.forwardBackward({ inputIds, attentionMask, labels, batch, srcLen: inputIds.length / batch, tgtLen: 4 });
    (engine as unknown as { optimizerStep(m: unknown, o: Record<string, number>): unknown }).optimizerStep(trainer, {
      lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1, gradScale: 1, step: 1,
    });
    trainer.saveAdapter(adapterDir);
  } finally {
    trainer.dispose();
  }
}
for (const [gemv, env] of Object.entries(VARIANTS))
describe.skipIf(!gpu)(`generate on CUDA equals the CPU graph (${gemv})`, () => {
  beforeAll(() => {
    Object.assign(process.env, env);
  });
  afterAll(() => {
    for (const k of Object.keys(env)) delete process.env[k];
  });
  for (const quant of ['none', 'nf4'] as const)
    for (const name of fixtures) {
      it(`${name} (${quant}): logits per step, greedy and beam-4 ids`, async () => {
        const g = readInt32(join(FIXTURES, name, 'goldens.safetensors'), ['input_ids', 'attention_mask', 'greedy_ids', 'beam4_ids']);
        const srcLen = g.input_ids.shape[1];
        const mask0 = g.attention_mask ? g.attention_mask.data.subarray(0, srcLen) : new Int32Array(srcLen).fill(1);
        const len0 = mask0.reduce((a, b) => a + b, 0);
        const src = { inputIds: g.input_ids.data.slice(0, len0), attentionMask: mask0.slice(0, len0) };
        const cpu = load(name, 'cpu', quant);
        const cuda = load(name, 'cuda', quant);
        try {
          const greedyCpu = await engine.generate(cpu, { ...src, maxNewTokens: 20 });
          const tokens = teacherTokens(greedyCpu, 1);
          const steps = tokens.length;
          const lc = engine._decodeLogits(cpu, { ...src, tokens });
          const lg = engine._decodeLogits(cuda, { ...src, tokens });
          const lsame = engine._decodeLogits(cuda, { ...src, tokens, stepDevice: 'cpu' });
          const e = stepErrors(lg, lc, steps);
          const eSame = stepErrors(lg, lsame, steps);
          console.log(`  [${gemv}] ${name} ${quant} (${steps} steps) ${summary('gpu vs cpu model', e)}; ${summary('gpu vs cpu graph of the same model', eSame)}`);
          expect(e[0], 'first-step logits').toBeLessThanOrEqual(TOL);
          expect(Math.max(...e), 'logits at every step').toBeLessThanOrEqual(TOL);
          expect(Math.max(...eSame), 'logits vs the CPU graph of the CUDA model').toBeLessThanOrEqual(TOL);

          const greedyGpu = await engine.generate(cuda, { ...src, maxNewTokens: 20 });
          expect(Array.from(greedyGpu), `greedy ${firstDiff(greedyCpu, greedyGpu)}`).toEqual(Array.from(greedyCpu));
          const beamCpu = await engine.generate(cpu, { ...src, maxNewTokens: 20, numBeams: 4 });
          const beamGpu = await engine.generate(cuda, { ...src, maxNewTokens: 20, numBeams: 4 });
          expect(Array.from(beamGpu), `beam 4 ${firstDiff(beamCpu, beamGpu)}`).toEqual(Array.from(beamCpu));
          if (quant === 'none') {
            if (g.greedy_ids) expect(Array.from(greedyGpu), 'greedy vs transformers').toEqual(Array.from(g.greedy_ids.data));
            if (g.beam4_ids) expect(Array.from(beamGpu), 'beam 4 vs transformers').toEqual(Array.from(g.beam4_ids.data));
          }
        } finally {
          cpu.dispose();
          cuda.dispose();
        }
      });
    }

  it('a padded batch of 3 (greedy, beam 3; NF4 + adapter), the base model without the adapter', async () => {
    const name = 'padding';
    const g = readInt32(join(FIXTURES, name, 'goldens.safetensors'), ['input_ids', 'attention_mask']);
    const [B] = g.input_ids.shape;
    const src = { inputIds: g.input_ids.data, attentionMask: g.attention_mask.data, batch: B };
    const cpu = load(name, 'cpu', 'nf4');
    const cuda = load(name, 'cuda', 'nf4');
    try {
      for (const numBeams of [1, 3]) {
        const a = await engine.generate(cpu, { ...src, maxNewTokens: 12, numBeams });
        const b = await engine.generate(cuda, { ...src, maxNewTokens: 12, numBeams });
        expect(Array.from(b), `batch ${B} beams ${numBeams}: ${firstDiff(a, b)}`).toEqual(Array.from(a));
      }
      const greedy = await engine.generate(cpu, { ...src, maxNewTokens: 12 });
      const e = teacherForcedErrors(cpu, cuda, src, greedy, B);
      console.log(`  [${gemv}] padding batch ${B} ${summary('gpu vs cpu', e)}`);
      expect(Math.max(...e)).toBeLessThanOrEqual(TOL);
      const base = { ...src, maxNewTokens: 12, useAdapter: false };
      const a = await engine.generate(cpu, base);
      const b = await engine.generate(cuda, base);
      expect(Array.from(b), `no adapter: ${firstDiff(a, b)}`).toEqual(Array.from(a));
    } finally {
      cpu.dispose();
      cuda.dispose();
    }
  });

  // The fixtures are narrow (K <= 64): a wider model takes the kernels' split-K path (several warps
  // per output), multi-row passes (batch 5 x 2 beams = 10 rows) and a trained (non-zero) LoRA B.
  it('a wider random model: split-K products, 10 rows, a trained adapter', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'hukuk-cudagen-'));
    try {
      const modelDir = join(tmp, 'model');
      makeTinyT5(modelDir, { vocabSize: 2000, dModel: 256, dKv: 64, numHeads: 4, dFf: 1024, numLayers: 2, numDecoderLayers: 2 }, 5);
      const B = 5, S = 9;
      const inputIds = Int32Array.from({ length: B * S }, (_, i) => 2 + ((i * 7919) % 1990));
      const attentionMask = Int32Array.from({ length: B * S }, (_, i) => (i % S < S - (i / S | 0) ? 1 : 0));
      const B32 = 32;
      const inputIds32 = Int32Array.from({ length: B32 * S }, (_, i) => 2 + ((i * 104729) % 1990));
      const attentionMask32 = Int32Array.from({ length: B32 * S }, (_, i) => (i % S < S - ((i / S | 0) % 5) ? 1 : 0));
      // an adapter with B != 0: one training step on the CPU, saved, loaded by both models
      trainAdapter(modelDir, join(tmp, 'adapter'), inputIds, attentionMask, B, 2000, 16, 2);
      for (const quant of ['none', 'nf4'] as const) {
        const cpu = engine.T5Model.load({ modelDir, quant });
        const cuda = engine.T5Model.load({ modelDir, device: 'cuda', quant, compute: 'fp32' });
        try {
          for (const m of [cpu, cuda]) m.loadAdapter(join(tmp, 'adapter'));
          const src = { inputIds, attentionMask, batch: B };
          const greedy = await engine.generate(cpu, { ...src, maxNewTokens: 10, minNewTokens: 10 });
          const e = teacherForcedErrors(cpu, cuda, src, greedy, B);
          console.log(`  [${gemv}] wide model ${quant} batch ${B} ${summary('gpu vs cpu', e)}`);
          expect(Math.max(...e)).toBeLessThanOrEqual(TOL);
          const g2 = await engine.generate(cuda, { ...src, maxNewTokens: 10, minNewTokens: 10 });
          expect(Array.from(g2), `greedy ${firstDiff(greedy, g2)}`).toEqual(Array.from(greedy));
          const b1 = await engine.generate(cpu, { ...src, maxNewTokens: 8, numBeams: 2 });
          const b2 = await engine.generate(cuda, { ...src, maxNewTokens: 8, numBeams: 2 });
          expect(Array.from(b2), `beam 2 ${firstDiff(b1, b2)}`).toEqual(Array.from(b1));
          // 32 rows: the default threshold sends the step's products to cuBLAS (every variant:
          // its threshold is <= 32); HUKUK_GEN_GEMM_ROWS=0 keeps the gemv kernel (NR=8 passes
          // over 32 rows)
          const src32 = { inputIds: inputIds32, attentionMask: attentionMask32, batch: B32 };
          const greedy32 = await engine.generate(cpu, { ...src32, maxNewTokens: 6, minNewTokens: 6 });
          const tokens32 = teacherTokens(greedy32, B32);
          const cpu32 = engine._decodeLogits(cpu, { ...src32, tokens: tokens32 });
          const before = process.env.HUKUK_GEN_GEMM_ROWS;
          try {
            for (const [path, rowsEnv] of [['cuBLAS', before], ['gemv (HUKUK_GEN_GEMM_ROWS=0)', '0']] as const) {
              if (rowsEnv === undefined) delete process.env.HUKUK_GEN_GEMM_ROWS;
              else process.env.HUKUK_GEN_GEMM_ROWS = rowsEnv;
              const e32 = stepErrors(engine._decodeLogits(cuda, { ...src32, tokens: tokens32 }), cpu32, tokens32.length / B32);
              console.log(`  [${gemv}] wide model ${quant} ${B32} rows, ${path} ${summary('gpu vs cpu', e32)}`);
              expect(Math.max(...e32), `${B32} rows, ${path}`).toBeLessThanOrEqual(TOL);
            }
          } finally {
            if (before === undefined) delete process.env.HUKUK_GEN_GEMM_ROWS;
            else process.env.HUKUK_GEN_GEMM_ROWS = before;
          }
        } finally {
          cpu.dispose();
          cuda.dispose();
        }
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  // d_model 100, inner 36 (3 heads of 12), d_ff 300: no product's K is a multiple of 8, so every
  // gemv takes the scalar-unit path (one weight per lane step instead of 8), with LoRA (r 4),
  // NF4 blocks that straddle weight rows, and 3 rows / 3 x 2 beams.
  it('a model whose widths are not multiples of 8: the gemv\'s scalar path', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'hukuk-cudagen-odd-'));
    try {
      const modelDir = join(tmp, 'model');
      makeTinyT5(modelDir, { vocabSize: 500, dModel: 100, dKv: 12, numHeads: 3, dFf: 300, numLayers: 2, numDecoderLayers: 2 }, 7);
      const B = 3, S = 7;
      const inputIds = Int32Array.from({ length: B * S }, (_, i) => 2 + ((i * 7919) % 490));
      const attentionMask = Int32Array.from({ length: B * S }, (_, i) => (i % S < S - (i / S | 0) ? 1 : 0));
      trainAdapter(modelDir, join(tmp, 'adapter'), inputIds, attentionMask, B, 500, 4, 3);
      for (const quant of ['none', 'nf4'] as const) {
        const cpu = engine.T5Model.load({ modelDir, quant });
        const cuda = engine.T5Model.load({ modelDir, device: 'cuda', quant, compute: 'fp32' });
        try {
          for (const m of [cpu, cuda]) m.loadAdapter(join(tmp, 'adapter'));
          const src = { inputIds, attentionMask, batch: B };
          const greedy = await engine.generate(cpu, { ...src, maxNewTokens: 8, minNewTokens: 8 });
          const e = teacherForcedErrors(cpu, cuda, src, greedy, B);
          console.log(`  [${gemv}] widths not multiples of 8, ${quant} batch ${B} ${summary('gpu vs cpu', e)}`);
          expect(Math.max(...e)).toBeLessThanOrEqual(TOL);
          const b1 = await engine.generate(cpu, { ...src, maxNewTokens: 8, numBeams: 2 });
          const b2 = await engine.generate(cuda, { ...src, maxNewTokens: 8, numBeams: 2 });
          expect(Array.from(b2), `beam 2 ${firstDiff(b1, b2)}`).toEqual(Array.from(b1));
        } finally {
          cpu.dispose();
          cuda.dispose();
        }
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('the captured CUDA graph computes exactly what the kernels do one by one', () => {
    const name = 'relu_tied';
    const g = readInt32(join(FIXTURES, name, 'goldens.safetensors'), ['input_ids']);
    const inputIds = g.input_ids.data.slice(0, g.input_ids.shape[1]);
    const cuda = load(name, 'cuda', 'nf4');
    try {
      const tokens = Int32Array.from({ length: 10 }, (_, i) => (i * 13) % 100);
      const graphed = engine._decodeLogits(cuda, { inputIds, tokens });
      process.env.HUKUK_GEN_GRAPHS = '0';
      const plain = engine._decodeLogits(cuda, { inputIds, tokens });
      delete process.env.HUKUK_GEN_GRAPHS;
      let same = 0;
      for (let i = 0; i < plain.length; i++) if (Object.is(plain[i], graphed[i])) same++;
      expect(same, 'identical logits').toBe(plain.length);
      // the RMS norm fused into the products (few rows) vs its own kernel: same values, other sum order
      process.env.HUKUK_GEN_FUSE_NORM = '0';
      const unfused = engine._decodeLogits(cuda, { inputIds, tokens });
      delete process.env.HUKUK_GEN_FUSE_NORM;
      const e = stepErrors(unfused, graphed, tokens.length);
      console.log(`  [${gemv}] ${summary('fused vs unfused norm', e)}`);
      expect(Math.max(...e)).toBeLessThanOrEqual(1e-5);
    } finally {
      delete process.env.HUKUK_GEN_GRAPHS;
      delete process.env.HUKUK_GEN_FUSE_NORM;
      cuda.dispose();
    }
  });
});

describe.skipIf(!gpu)('generate on CUDA: the step switches', () => {
  it('a switch with a value it does not know is refused, not read as a default', () => {
    const name = 'relu_tied';
    const g = readInt32(join(FIXTURES, name, 'goldens.safetensors'), ['input_ids']);
    const inputIds = g.input_ids.data.slice(0, g.input_ids.shape[1]);
    const cuda = load(name, 'cuda', 'nf4');
    try {
      for (const [k, v] of [['HUKUK_GEN_PDL', 'off'], ['HUKUK_GEN_GEMM_ROWS', '32x'], ['HUKUK_GEN_GEMM_ROWS', '-1']]) {
        process.env[k] = v;
        try {
          expect(() => engine._decodeLogits(cuda, { inputIds, tokens: Int32Array.from([0, 5]) }), `${k}=${v}`).toThrow(k);
        } finally {
          delete process.env[k];
        }
      }
      // and the model still decodes afterwards
      expect(engine._decodeLogits(cuda, { inputIds, tokens: Int32Array.from([0, 5]) }).length).toBe(2 * Number(cuda.config.vocab_size));
    } finally {
      cuda.dispose();
    }
  });
});

// A bf16-trained run (the flagship preset) is chatted with at compute bf16: the encoder pass then
// runs bf16 products (the decoder steps are fp32 either way). Its logits can only be as close to the
// fp32 CPU graph as bf16 allows: issue 5's 1e-2 logits tolerance, except on gated_gelu_untied, where
// torch's own bf16 autocast is 9.8e-2 from the fp32 logits (tools/bf16_grad_reference.py, H200,
// 2026-11-28) and ours measured 1.7e-2: there, at most a third of torch's.
const BF16_LOGITS_TOL: Record<string, number> = { gated_gelu_untied: 0.098 / 3 };
describe.skipIf(!gpu)('generate on CUDA at compute bf16 (the chat of a bf16 run)', () => {
  for (const name of fixtures)
    it(`${name} (nf4, bf16 encoder): logits per step within ${BF16_LOGITS_TOL[name] ?? 1e-2} of the CPU`, async () => {
      const g = readInt32(join(FIXTURES, name, 'goldens.safetensors'), ['input_ids', 'attention_mask']);
      const srcLen = g.input_ids.shape[1];
      const mask0 = g.attention_mask ? g.attention_mask.data.subarray(0, srcLen) : new Int32Array(srcLen).fill(1);
      const len0 = mask0.reduce((a, b) => a + b, 0);
      const src = { inputIds: g.input_ids.data.slice(0, len0), attentionMask: mask0.slice(0, len0) };
      const dir = join(FIXTURES, name);
      const cpu = load(name, 'cpu', 'nf4');
      const cuda = engine.T5Model.load({ modelDir: join(dir, 'model'), device: 'cuda', quant: 'nf4', compute: 'bf16' });
      if (existsSync(join(dir, 'adapter'))) cuda.loadAdapter(join(dir, 'adapter'));
      try {
        const greedyCpu = await engine.generate(cpu, { ...src, maxNewTokens: 12 });
        const e = teacherForcedErrors(cpu, cuda, src, greedyCpu, 1);
        console.log(`  [bf16] ${name} nf4 (${e.length} steps): worst ${Math.max(...e).toExponential(2)}`);
        expect(Math.max(...e)).toBeLessThanOrEqual(BF16_LOGITS_TOL[name] ?? 1e-2);
        const greedyGpu = await engine.generate(cuda, { ...src, maxNewTokens: 12 });
        expect(greedyGpu.length).toBeGreaterThan(1);
      } finally {
        cpu.dispose();
        cuda.dispose();
      }
    });
});

describe('chat (worker/chat/generate.ts) loads a CUDA run as it was trained', () => {
  const base = { modelDir: '/m', device: 'cuda' as const, quant: 'nf4' as const };
  it('the run quantization always; cuda + its compute where a GPU is usable, the CPU otherwise', () => {
    const h100 = { cudaCompiled: () => true, gpus: () => [{ computeCapability: '9.0' }] };
    expect(chatLoadOptions(base, h100)).toEqual({ modelDir: '/m', device: 'cuda', quant: 'nf4', quantizeWo: false, compute: 'fp32' });
    expect(chatLoadOptions({ ...base, quantizeWo: true, compute: 'bf16' }, h100)).toMatchObject({ quantizeWo: true, compute: 'bf16' });
    expect(chatLoadOptions({ ...base, quant: undefined, quantizeWo: true }, h100)).toMatchObject({ quant: 'none', quantizeWo: false });
    const t4 = { cudaCompiled: () => true, gpus: () => [{ computeCapability: '7.5' }] };
    expect(chatLoadOptions({ ...base, compute: 'bf16' }, t4)).toMatchObject({ device: 'cuda', compute: 'fp32' });
    for (const none of [{ cudaCompiled: () => true, gpus: () => [] }, { cudaCompiled: () => false, gpus: () => [{}] }, {}])
      expect(chatLoadOptions(base, none)).toEqual({ modelDir: '/m', device: 'cpu', quant: 'nf4', quantizeWo: false });
    expect(chatLoadOptions({ ...base, device: 'cpu', quantizeWo: true }, h100)).toEqual({ modelDir: '/m', device: 'cpu', quant: 'nf4', quantizeWo: true });
    expect(chatLoadOptions({ modelDir: '/m', device: 'cpu' }, h100)).toEqual({ modelDir: '/m', device: 'cpu', quant: 'none', quantizeWo: false });
  });

  it.skipIf(!gpu)('a chat answer of an NF4 run on the GPU equals the CPU NF4 model\'s', async () => {
    const name = 'relu_tied';
    const dir = join(FIXTURES, name);
    const g = readInt32(join(dir, 'goldens.safetensors'), ['input_ids']);
    const inputIds = Array.from(g.input_ids.data.slice(0, g.input_ids.shape[1]));
    const options = GenerationOptionsSchema.parse({ maxNewTokens: 16 });
    try {
      const r = await handleChatGenerate(
        { modelDir: join(dir, 'model'), adapterDir: join(dir, 'adapter'), device: 'cuda', quant: 'nf4', compute: 'fp32', inputIds, options },
        { signal: new AbortController().signal, emit: () => {} },
      );
      const cpu = load(name, 'cpu', 'nf4');
      try {
        const ids = await engine.generate(cpu, { inputIds: Int32Array.from(inputIds), maxNewTokens: 16 });
        const want: number[] = [];
        for (let i = 1; i < ids.length && ids[i] !== 1; i++) if (ids[i] !== 0) want.push(ids[i]);
        expect(r.ids).toEqual(want);
      } finally {
        cpu.dispose();
      }
    } finally {
      releaseWarmModel();
    }
  });
});

describe.skipIf(gpu)('generate on a machine without a usable GPU', () => {
  it('CPU models still generate (the CUDA step model is only chosen for CUDA models)', async () => {
    const name = fixtures[0];
    const cpu = load(name, 'cpu', 'none');
    try {
      const ids = await engine.generate(cpu, { inputIds: Int32Array.from([5, 6, 7, 1]), maxNewTokens: 4 });
      expect(ids.length).toBeGreaterThan(1);
      const l = engine._decodeLogits(cpu, { inputIds: Int32Array.from([5, 6, 7, 1]), tokens: Int32Array.from([0, 3]) });
      expect(l.length).toBe(2 * Number(cpu.config.vocab_size));
    } finally {
      cpu.dispose();
    }
  });
});
