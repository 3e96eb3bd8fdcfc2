// The run form's estimate of the bf16 LM head (T5Cuda::head_b16, HUKUK_T5_HEAD_BF16=1): a bf16 copy
// of the head with the weights, dec_seq's bf16 copy in the arena. The engine's counters against
// this estimate, byte for byte, are checked on the GPU (tests/native/cuda_t5.test.ts); here the
// arithmetic and the default's link to the engine's.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HEAD_BF16_DEFAULT, estimateTrainingMemory, type MemoryEstimateInput } from '../../common/training/memory-estimate';

const flagship = (bs: number, src: number, tgt: number, more: Partial<MemoryEstimateInput> = {}): MemoryEstimateInput => ({
  model: { numLayers: 36, numDecoderLayers: 36, dModel: 768, dFf: 3072, numHeads: 12, dKv: 64, vocabSize: 32128, gated: false, tiedEmbeddings: true },
  lora: { r: 16, targets: ['q', 'k', 'v', 'o'] },
  quant: 'nf4',
  quantizeWo: false,
  compute: 'bf16',
  batchSize: bs,
  maxSourceLength: src,
  maxTargetLength: tgt,
  device: 'cuda',
  ...more,
});
const up256 = (bytes: number) => Math.ceil(bytes / 256) * 256;

describe('memory estimate: the bf16 LM head', () => {
  it("defaults to the engine's default (T5Cuda::kHeadBf16Default): they flip together", () => {
    const src = readFileSync(path.resolve(__dirname, '../../native/src/t5/cuda/t5_cuda.cpp'), 'utf8');
    const m = /static constexpr bool kHeadBf16Default = (true|false);/.exec(src);
    expect(m, 'kHeadBf16Default in t5_cuda.cpp').not.toBeNull();
    expect(HEAD_BF16_DEFAULT).toBe(m![1] === 'true');
    for (const recompute of [false, true])
      expect(estimateTrainingMemory(flagship(16, 64, 128, { recompute }))).toEqual(estimateTrainingMemory(flagship(16, 64, 128, { recompute, headBf16: HEAD_BF16_DEFAULT })));
  });

  it('flagship: + vocab x d bf16 weights, + Mt x d bf16 activations', () => {
    for (const [bs, src, tgt] of [[16, 64, 128], [16, 512, 512], [8, 512, 512]]) {
      const off = estimateTrainingMemory(flagship(bs, src, tgt, { headBf16: false }));
      const on = estimateTrainingMemory(flagship(bs, src, tgt, { headBf16: true }));
      expect(on.weightsBytes - off.weightsBytes).toBe(32128 * 768 * 2);
      expect(on.activationsBytes - off.activationsBytes).toBe(up256(bs * tgt * 768 * 2));
      expect(on.loraBytes).toBe(off.loraBytes);
    }
  });

  it('nothing under compute fp32 or on the cpu', () => {
    for (const more of [{ compute: 'fp32' as const }, { device: 'cpu' as const }])
      expect(estimateTrainingMemory(flagship(16, 64, 128, { ...more, headBf16: true }))).toEqual(estimateTrainingMemory(flagship(16, 64, 128, { ...more, headBf16: false })));
  });
});
