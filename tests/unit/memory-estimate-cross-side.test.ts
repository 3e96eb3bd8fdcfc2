// The run form's estimate of the cross k,v backward's side stream (T5Cuda::cross_side,
// HUKUK_T5_CROSS_SIDE=1): two dK,dV slots (bf16, 2 x Ms x inner each), the side's LoRA dh scratch
// (2 x Ms x r fp32), its copy of the LoRA workspace and its group kernels' scratch. The engine's arena
// against this estimate, byte for byte, is checked on the GPU (tests/native/cuda_t5.test.ts); here
// the arithmetic and when it applies.
import { describe, expect, it } from 'vitest';
import { CROSS_SIDE_DEFAULT, estimateTrainingMemory, loraGroupBackwardWorkspaceFloats, loraTcGroupBackwardWorkspaceFloats } from '../../common/training/memory-estimate';
import { engineBoolConstant, flagship, up256 } from '../train/memory-estimate-fixtures';

describe('memory estimate: the cross k,v backward on a side stream', () => {
  it("defaults to the engine's default (T5Cuda::kCrossSideDefault): they flip together", () => {
    const m = engineBoolConstant('kCrossSideDefault');
    expect(m, 'kCrossSideDefault in t5_cuda.cpp').not.toBeNull();
    expect(CROSS_SIDE_DEFAULT).toBe(m![1] === 'true');
    expect(estimateTrainingMemory(flagship(16, 64, 128))).toEqual(estimateTrainingMemory(flagship(16, 64, 128, { crossSide: CROSS_SIDE_DEFAULT })));
  });

  it('the group kernels\' split scratch at the flagship width (by hand from ops/lora.cu and ops/lora_tc_kernels.cuh)', () => {
    // lora_tc: 12 column blocks, s0 = min(ceil(132 / 12), ceil(1024 / 16)) = 11, rows = 96, S = 11
    expect(loraTcGroupBackwardWorkspaceFloats(1024, 768, 16, 2)).toBe(2 * 11 * 16 * 768);
    // ops/lora: 264 target blocks / 12 column blocks = 22 splits, rows ceil(1024 / 22) = 47 -> 64, 16 splits
    expect(loraGroupBackwardWorkspaceFloats(1024, 768, 16, 2)).toBe(2 * 16 * 16 * 768);
    expect(loraGroupBackwardWorkspaceFloats(32, 768, 16, 2)).toBe(0); // one chunk: no split
    expect(loraTcGroupBackwardWorkspaceFloats(1024, 768, 32, 2)).toBe(0); // lora_tc takes r 16 only
    expect(loraGroupBackwardWorkspaceFloats(1024, 768, 32, 2)).toBe(0); // ops/lora's group: r <= 16
  });

  it('flagship: two bf16 dK,dV slots, the side dh, the group scratch and a copy of the LoRA workspace; weights unchanged', () => {
    for (const [bs, src, tgt] of [[16, 64, 128], [16, 512, 512], [8, 512, 512]]) {
      const Ms = bs * src;
      const off = estimateTrainingMemory(flagship(bs, src, tgt, { crossSide: false }));
      const on = estimateTrainingMemory(flagship(bs, src, tgt, { crossSide: true }));
      const g = Math.max(loraTcGroupBackwardWorkspaceFloats(Ms, 768, 16, 2), loraGroupBackwardWorkspaceFloats(Ms, 768, 16, 2));
      const fixed = 2 * up256(2 * Ms * 768 * 2) + up256(2 * Ms * 16 * 4) + up256(4 * g);
      const ws = on.activationsBytes - off.activationsBytes - fixed; // the side's copy of lora_ws
      expect(ws).toBeGreaterThanOrEqual(0);
      expect(ws % 256).toBe(0);
      expect(ws).toBeLessThan(64 * 2 ** 20);
      expect(on.weightsBytes).toBe(off.weightsBytes);
      expect(on.loraBytes).toBe(off.loraBytes);
      expect(on.notes.some((n) => n.includes('second stream (two dK,dV slots)'))).toBe(true);
      const re = estimateTrainingMemory(flagship(bs, src, tgt, { crossSide: true, recompute: true }));
      expect(re.activationsBytes - estimateTrainingMemory(flagship(bs, src, tgt, { recompute: true, crossSide: false })).activationsBytes).toBe(fixed + ws);
    }
  });

  it('does not apply where the engine leaves it off: fp32 activations, NF4 without the prefetch, no decoder', () => {
    const same = (more: Parameters<typeof flagship>[3]) =>
      expect(estimateTrainingMemory(flagship(16, 64, 128, { ...more, crossSide: true })).activationsBytes).toBe(estimateTrainingMemory(flagship(16, 64, 128, { ...more, crossSide: false })).activationsBytes);
    same({ activations: 'fp32' });
    same({ compute: 'fp32' });
    same({ deqPrefetch: false });
    same({ model: { numLayers: 2, numDecoderLayers: 0, dModel: 768, dFf: 3072, numHeads: 12, dKv: 64, vocabSize: 32128, gated: false, tiedEmbeddings: true } });
    // quant none: bf16 weights (wb), no prefetch needed
    const none = (crossSide: boolean) => estimateTrainingMemory(flagship(16, 64, 128, { quant: 'none', crossSide })).activationsBytes;
    expect(none(true)).toBeGreaterThan(none(false));
  });
});
