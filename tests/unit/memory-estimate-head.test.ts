// The run form's estimate of the bf16 LM head (T5Cuda::head_b16, HUKUK_T5_HEAD_BF16=1): a bf16 copy
// of the head with the weights, dec_seq's bf16 copy in the arena. The engine's counters against
// this estimate, byte for byte, are checked on the GPU (tests/native/cuda_t5.test.ts); here the
// arithmetic and the default's link to the engine's.
import { describe, expect, it } from 'vitest';
import { HEAD_BF16_DEFAULT, estimateTrainingMemory } from '../../common/training/memory-estimate';
import { engineBoolConstant, flagship, up256 } from '../train/memory-estimate-fixtures';

describe('memory estimate: the bf16 LM head', () => {
  it("defaults to the engine's default (T5Cuda::kHeadBf16Default): they flip together", () => {
    const m = engineBoolConstant('kHeadBf16Default');
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
