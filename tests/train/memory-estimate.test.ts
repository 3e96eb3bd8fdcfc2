// The run form's memory estimate against the CUDA engine's own counters, measured on an H200
// (bench/gpu/results/h200-2026-11-27-final-ours.jsonl: weights_gib, arena_gib and peak_gib =
// weights + LoRA state + arena for the flagship shape, QLoRA r16 on q,k,v,o, bf16).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { estimateTrainingMemory, headChunkRows, loraGradAWorkspaceFloats, modelShapeFromConfig, nf4Bytes, type MemoryEstimateInput } from '../../common/training/memory-estimate';
import { flagship as flagshipInput } from './memory-estimate-fixtures';

const GiB = 1024 ** 3;
const resultsFile = path.resolve(__dirname, '../../bench/gpu/results/h200-2026-11-27-final-ours.jsonl');
interface Measured { bs: number; src: number; tgt: number; peak_gib: number; weights_gib: number; arena_gib: number }
const measured: Measured[] = readFileSync(resultsFile, 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as Measured & { kind: string })
  .filter((r) => r.kind === 'train');

const flagship = (bs: number, src: number, tgt: number): MemoryEstimateInput =>
  // the plan these figures and recordings are of: before the NF4 prefetch regions and the bf16 head
  // copy (2026-11-28 09:10 UTC defaults; tests/unit/memory-estimate-{prefetch,head}.test.ts cover them)
  flagshipInput(bs, src, tgt, { deqPrefetch: false, headBf16: false });

// Those counters were taken before the fused attention, the fused LoRA-dropout kernels and the
// batched q,k,v product (2026-11-28) changed the plan (unfused attention: -0.6 % at 16x64x128,
// -0.3 % at 512); tests/native/cuda_t5.test.ts checks the estimate byte for byte against the
// engine's plan on the GPU, with and without recompute and the fused attention.
describe('estimateTrainingMemory vs the CUDA engine (H200, bench/gpu/results)', () => {
  it('has the three measured shapes', () => {
    expect(measured.map((r) => `${r.bs}x${r.src}x${r.tgt}`).sort()).toEqual(['16x512x512', '16x64x128', '8x512x512']);
  });
  for (const r of measured) {
    it(`${r.bs}x${r.src}x${r.tgt}: total, weights and arena within 1 % (the brief asked 10 %)`, () => {
      const e = estimateTrainingMemory({ ...flagship(r.bs, r.src, r.tgt), flash: false, activations: 'fp32', reluBitmask: false, recomputeNorms: false, recomputeCrossKV: false, headChunkRows: Infinity });
      const rel = (est: number, meas: number) => Math.abs(est / GiB - meas) / meas;
      expect(rel(e.totalBytes, r.peak_gib)).toBeLessThan(0.01);
      expect(rel(e.weightsBytes, r.weights_gib)).toBeLessThan(0.01);
      expect(rel(e.activationsBytes, r.arena_gib)).toBeLessThan(0.01);
      const loraMeasured = r.peak_gib - r.weights_gib - r.arena_gib; // what remains of the engine's sum
      expect(Math.abs(e.loraBytes / GiB - loraMeasured)).toBeLessThan(0.01);
    });
  }
});

describe('estimateTrainingMemory scaling', () => {
  const total = (bs: number, src: number, tgt: number) => estimateTrainingMemory(flagship(bs, src, tgt)).totalBytes;
  it('grows with batch, source and target length', () => {
    for (const [a, b] of [[1, 2], [2, 8], [8, 16], [16, 32]]) expect(total(b, 128, 128)).toBeGreaterThan(total(a, 128, 128));
    for (const [a, b] of [[16, 32], [32, 128], [128, 512]]) {
      expect(total(8, b, 128)).toBeGreaterThan(total(8, a, 128));
      expect(total(8, 128, b)).toBeGreaterThan(total(8, 128, a));
    }
  });
  it('weights and LoRA do not depend on the shape', () => {
    const a = estimateTrainingMemory(flagship(1, 16, 16));
    const b = estimateTrainingMemory(flagship(32, 512, 512));
    expect(a.weightsBytes).toBe(b.weightsBytes);
    expect(a.loraBytes).toBe(b.loraBytes);
  });
  it('NF4 weighs less than fp32, and quantizing wo less again; LoRA grows with r and targets', () => {
    const base = flagship(8, 128, 128);
    const none = estimateTrainingMemory({ ...base, quant: 'none' }).weightsBytes;
    const q = estimateTrainingMemory(base).weightsBytes;
    const qwo = estimateTrainingMemory({ ...base, quantizeWo: true }).weightsBytes;
    expect(q).toBeLessThan(none);
    expect(qwo).toBeLessThan(q);
    expect(estimateTrainingMemory({ ...base, lora: { r: 32, targets: ['q', 'k', 'v', 'o'] } }).loraBytes).toBe(2 * estimateTrainingMemory(base).loraBytes);
    expect(estimateTrainingMemory({ ...base, lora: { r: 16, targets: ['q', 'k', 'v', 'o', 'wi', 'wo'] } }).loraBytes).toBeGreaterThan(estimateTrainingMemory(base).loraBytes);
  });
  it('fp32 base: 4 bytes a parameter (t5-base, 222,903,552 parameters of which 768 are the host-side relative bias)', () => {
    const t5base = { ...flagship(1, 8, 8), quant: 'none' as const, compute: 'fp32' as const };
    t5base.model = { ...t5base.model, numLayers: 12, numDecoderLayers: 12 };
    expect(estimateTrainingMemory(t5base).weightsBytes).toBe((222_903_552 - 768) * 4);
  });
  it('NF4 bytes: half a byte a weight plus the double-quantized scales', () => {
    expect(nf4Bytes(768 * 768)).toBe(294912 + 9216 + 36 * 4 + 1024);
  });
  it('rejects nonsense', () => {
    expect(() => estimateTrainingMemory({ ...flagship(1, 8, 8), batchSize: -1 })).toThrow(RangeError);
  });
});

// The engine of 2026-11-28 (fused attention, fused LoRA kernels, batched q,k,v) on an H200, with
// and without recompute and the fused attention: bench/gpu/results/h200-2026-11-28-train-ours.jsonl
// (train_bench.mjs --variants; arena_gib and peak_gib are printed to 3 decimals). That engine kept
// fp32 activations, hence activations: 'fp32' here, the FFN's hidden and the norms' outputs (reluBitmask: false, recomputeNorms: false, recomputeCrossKV: false).
// It also held every row's logits at once (headChunkRows: Infinity).
const current = readFileSync(path.resolve(__dirname, '../../bench/gpu/results/h200-2026-11-28-train-ours.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as Measured & { kind: string; tag: string; recompute: boolean; flash: boolean; error?: string })
  .filter((r) => r.kind === 'train' && !r.error && ['default', 'recompute', 'flash_off'].includes(r.tag));

describe('estimateTrainingMemory vs the CUDA engine of 2026-11-28 (H200)', () => {
  it('has every variant at the three shapes it measured', () => {
    expect(current.length).toBeGreaterThanOrEqual(8);
    expect(new Set(current.map((r) => r.tag))).toEqual(new Set(['default', 'recompute', 'flash_off']));
  });
  for (const r of current) {
    it(`${r.bs}x${r.src}x${r.tgt} ${r.tag}: arena and total to the printed precision`, () => {
      const e = estimateTrainingMemory({ ...flagship(r.bs, r.src, r.tgt), recompute: r.recompute, flash: r.flash, activations: 'fp32', reluBitmask: false, recomputeNorms: false, recomputeCrossKV: false, headChunkRows: Infinity });
      expect(Math.abs(e.activationsBytes / GiB - r.arena_gib)).toBeLessThanOrEqual(0.0006);
      expect(Math.abs(e.totalBytes / GiB - r.peak_gib)).toBeLessThanOrEqual(0.0006);
    });
  }
});

describe('estimateTrainingMemory: recomputation and fused attention', () => {
  const arena = (bs: number, src: number, tgt: number, o: { recompute?: boolean; flash?: boolean }) =>
    estimateTrainingMemory({ ...flagship(bs, src, tgt), ...o }).activationsBytes;
  // (under 1/8 and 1/5 while the blocks kept the FFN hidden, the norm outputs and the cross K,V:
  // keeping fewer activations per block shrinks the plan without recompute more than the one with it)
  it('recompute keeps a fraction of the arena (16x512x512: under 1/7; 16x64x128: under 1/4)', () => {
    expect(arena(16, 512, 512, { recompute: true, flash: false })).toBeLessThan(arena(16, 512, 512, { flash: false }) / 7);
    expect(arena(16, 64, 128, { recompute: true, flash: false })).toBeLessThan(arena(16, 64, 128, { flash: false }) / 4);
    expect(arena(16, 64, 128, {})).toBe(arena(16, 64, 128, { recompute: false }));
  });
  it('the fused attention is the bf16 default with d_kv 64 and drops the probabilities', () => {
    expect(arena(16, 512, 512, {})).toBe(arena(16, 512, 512, { flash: true }));
    expect(arena(16, 512, 512, { flash: true })).toBeLessThan(arena(16, 512, 512, { flash: false }) * 0.6);
    const fp32 = { ...flagship(16, 512, 512), compute: 'fp32' as const };
    expect(estimateTrainingMemory(fp32).activationsBytes).toBe(arena(16, 512, 512, { flash: false }));
    const dkv32 = { ...flagship(4, 64, 64), model: { ...flagship(4, 64, 64).model, dKv: 32 } };
    expect(estimateTrainingMemory(dkv32).activationsBytes).toBe(estimateTrainingMemory({ ...dkv32, flash: false }).activationsBytes);
  });
  it('weights and LoRA state do not depend on either (but for the activation type that flash decides)', () => {
    const a = estimateTrainingMemory({ ...flagship(8, 128, 128), recompute: true });
    const b = estimateTrainingMemory({ ...flagship(8, 128, 128), flash: false });
    const c = estimateTrainingMemory({ ...flagship(8, 128, 128), recompute: true, flash: false });
    expect(a.weightsBytes).toBe(estimateTrainingMemory(flagship(8, 128, 128)).weightsBytes);
    expect(b.weightsBytes).toBe(c.weightsBytes);
    expect(a.loraBytes).toBe(b.loraBytes);
  });
  it("the fused LoRA grad-A workspace follows ops/lora.cu's split plan", () => {
    expect(loraGradAWorkspaceFloats(32, 768, 16)).toBe(0); // one chunk: no split
    // 768 columns = 12 column blocks -> 44 splits of 32 rows at M = 1408
    expect(loraGradAWorkspaceFloats(1408, 768, 16)).toBe(44 * 16 * 768);
    expect(loraGradAWorkspaceFloats(8192, 3072, 16)).toBeGreaterThan(0);
  });
});

describe('modelShapeFromConfig', () => {
  it('reads a T5 config.json (flagship) and fills T5 defaults', () => {
    const cfg = { num_layers: 36, num_decoder_layers: 36, d_model: 768, d_ff: 3072, num_heads: 12, d_kv: 64, vocab_size: 32128, feed_forward_proj: 'relu', tie_word_embeddings: true };
    expect(modelShapeFromConfig(cfg)).toEqual(flagship(1, 1, 1).model);
    expect(modelShapeFromConfig({ num_layers: 8, d_model: 512, d_ff: 1024, num_heads: 6, vocab_size: 100, feed_forward_proj: 'gated-gelu' })).toEqual({
      numLayers: 8, numDecoderLayers: 8, dModel: 512, dFf: 1024, numHeads: 6, dKv: 85, vocabSize: 100, gated: true, tiedEmbeddings: true,
    });
    expect(modelShapeFromConfig({ d_model: 512 })).toBeNull();
    expect(modelShapeFromConfig({ num_layers: 2, d_model: 64, d_ff: 128, num_heads: 2, vocab_size: 100, feed_forward_proj: 'gelu' })?.relu).toBe(false);
  });
  it('a non-gated GELU FFN keeps its pre-activation and hidden (no in-place ReLU, no relu\' bitmask)', () => {
    const base = flagship(16, 64, 128);
    const relu = estimateTrainingMemory(base);
    const gelu = estimateTrainingMemory({ ...base, model: { ...base.model, relu: false } });
    const { batchSize: B, maxSourceLength: S, maxTargetLength: T } = base;
    const ff = base.model.dFf;
    // per block: two bf16 M x d_ff buffers instead of ceil(M * d_ff / 32) mask words
    const perBlocks = base.model.numLayers * (2 * B * S * ff * 2 - Math.ceil((B * S * ff) / 32) * 4) +
      base.model.numDecoderLayers * (2 * B * T * ff * 2 - Math.ceil((B * T * ff) / 32) * 4);
    expect(gelu.activationsBytes - relu.activationsBytes).toBeGreaterThanOrEqual(perBlocks);
    expect(gelu.activationsBytes - relu.activationsBytes).toBeLessThan(perBlocks * 1.01);
    expect(gelu.notes.some((n) => n.startsWith('ReLU FFN'))).toBe(false);
  });
});

describe('estimateTrainingMemory: bf16 activations', () => {
  const est = (o: Partial<MemoryEstimateInput>) => estimateTrainingMemory({ ...flagship(16, 512, 512), ...o });
  it('are the engine\'s pick for compute bf16 with the fused attention and r <= 64, not otherwise', () => {
    expect(est({}).activationsBytes).toBe(est({ activations: 'bf16' }).activationsBytes);
    expect(est({ flash: false }).activationsBytes).toBe(est({ flash: false, activations: 'fp32' }).activationsBytes);
    expect(est({ compute: 'fp32' }).activationsBytes).toBe(est({ compute: 'fp32', activations: 'fp32' }).activationsBytes);
    const r128 = { lora: { r: 128, targets: ['q', 'k', 'v', 'o'] } };
    expect(est(r128).activationsBytes).toBe(est({ ...r128, activations: 'fp32' }).activationsBytes);
  });
  // (the estimator against itself: the byte-for-byte check against the engine is
  // tests/native/cuda_t5.test.ts's 'bf16 activations', on the GPU)
  it('take about 0.6 of the arena of fp32 ones (the residual stream, rstd, logits stay fp32)', () => {
    for (const [bs, src, tgt] of [[16, 64, 128], [16, 512, 512], [8, 512, 512]]) {
      const o = { ...flagship(bs, src, tgt), reluBitmask: false, recomputeNorms: false, recomputeCrossKV: false }; // (the plan of then: the bits are the same for both)
      const half = estimateTrainingMemory({ ...o, activations: 'bf16' }).activationsBytes;
      const full = estimateTrainingMemory({ ...o, activations: 'fp32' }).activationsBytes;
      expect(half / full).toBeGreaterThan(0.58);
      expect(half / full).toBeLessThan(0.64);
    }
  });
  it('keep the fp32 (non-NF4) weights as bf16 only (T5Cuda::weights_to_bf16), LoRA state alone', () => {
    // NF4: wo (36+36 of 3072 x 768) at 2 bytes, not 4; the scratch (the largest NF4 weight, wi, in
    // fp32) already holds a whole fp32 wo
    const wo = 72 * 3072 * 768;
    expect(est({ activations: 'fp32' }).weightsBytes - est({ activations: 'bf16' }).weightsBytes).toBe(wo * 2);
    expect(est({}).weightsBytes).toBe(est({ activations: 'bf16' }).weightsBytes);
    expect(est({ activations: 'bf16' }).loraBytes).toBe(est({ activations: 'fp32' }).loraBytes);
    // the flagship at 16x64x128 loses 0.316 GiB of weights (0.939 -> 0.622)
    expect(est({ activations: 'fp32' }).weightsBytes / 2 ** 30).toBeCloseTo(0.939, 3);
    expect(est({ activations: 'bf16' }).weightsBytes / 2 ** 30).toBeCloseTo(0.622, 3);
  });
  it('without NF4: a bf16 weight scratch for fp32 activations, bf16 weights and a whole fp32 one for bf16 activations', () => {
    const none = { quant: 'none' as const };
    const f32 = est({ ...none, compute: 'fp32' }).weightsBytes;
    const bfAct32 = est({ ...none, activations: 'fp32' }).weightsBytes;
    expect(bfAct32 - f32).toBe(((3072 * 768) / 2) * 4); // the largest weight (wi), rounded to bf16
    const linear = 36 * (4 * 768 * 768 + 2 * 3072 * 768) + 36 * (8 * 768 * 768 + 2 * 3072 * 768); // every Linear's parameters
    const bfAct16 = est({ ...none }).weightsBytes;
    expect(f32 - bfAct16).toBe(linear * 2 - 3072 * 768 * 4); // half the Linears' bytes, less the fp32 scratch (wi)
  });
});

describe('estimateTrainingMemory: the head in chunks of rows (T5Cuda::head_and_loss)', () => {
  it('holds 32 MiB of logits rows (256 for the flagship vocab), every row when fewer', () => {
    expect(headChunkRows(32128)).toBe(256);
    expect(headChunkRows(256)).toBe(32768);
    expect(headChunkRows(250_000)).toBe(33); // under 64 rows: not rounded
    const e = (o: Partial<MemoryEstimateInput>) => estimateTrainingMemory({ ...flagship(16, 64, 128), ...o }).activationsBytes;
    expect(e({ headChunkRows: Infinity }) - e({})).toBe((2048 - 256) * 32128 * 4); // 16 x 128 target rows
    expect(e({ headChunkRows: 256 })).toBe(e({}));
    const tiny = estimateTrainingMemory({ ...flagship(2, 8, 8), model: { ...flagship(2, 8, 8).model, vocabSize: 300 } });
    expect(tiny.activationsBytes).toBe(estimateTrainingMemory({ ...flagship(2, 8, 8), model: { ...flagship(2, 8, 8).model, vocabSize: 300 }, headChunkRows: Infinity }).activationsBytes);
  });
});

// T5Cuda's per-block savings (H2, 2026-11-28): each switch of the estimate takes off what the
// engine no longer keeps per layer, to the arena's 256-byte alignment (the GPU test in
// tests/native/cuda_t5.test.ts checks the same options byte for byte against the engine's plan).
describe('estimateTrainingMemory: activations not kept per block (ReLU bitmask, norms, cross K,V)', () => {
  const B = 16, S = 64, T = 128, L = 36, d = 768, ff = 3072, inner = 768;
  const Ms = B * S, Mt = B * T;
  const arena = (o: Partial<MemoryEstimateInput>) => estimateTrainingMemory({ ...flagship(B, S, T), ...o }).activationsBytes;
  const now = arena({});
  const near = (got: number, want: number, allocs: number) => {
    expect(Math.abs(got - want), `${got} vs ${want}`).toBeLessThanOrEqual(allocs * 256);
  };
  it('the bitmask: the bf16 hidden out, one bit an element in (LoRA on wo: no bitmask)', () => {
    near(arena({ reluBitmask: false }) - now, L * (Ms + Mt) * ff * 2 - L * (Ms + Mt) * ff / 8, 4 * L);
    const wo = { lora: { r: 16, targets: ['q', 'k', 'v', 'o', 'wo'] } };
    expect(arena({ ...wo, reluBitmask: false })).toBe(arena(wo));
  });
  it('the norm outputs: n1, n3 per encoder block, n1, nc, n3 per decoder block', () => {
    near(arena({ recomputeNorms: false }) - now, L * 2 * Ms * d * 2 + L * 3 * Mt * d * 2, 10 * L);
  });
  it('the cross K,V: two [Ms, inner] per decoder block', () => {
    near(arena({ recomputeCrossKV: false }) - now, L * 2 * Ms * inner * 2, 2 * L);
  });
});
