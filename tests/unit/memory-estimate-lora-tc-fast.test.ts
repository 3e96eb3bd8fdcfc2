// The estimate's mirror of ops/lora_tc's fast backward (HUKUK_T5_LORA_TC_FAST_BWD): its finer
// up_backward row split doubles the split-M workspace below 132 x 32 / members rows. The GPU tests
// (tests/native/cuda_t5.test.ts) hold arena = estimate with the engine's defaults; here the constant
// and the split arithmetic.
import { describe, expect, it } from 'vitest';
import { LORA_TC_FAST_BWD_DEFAULT, estimateTrainingMemory, loraTcUpBackwardWorkspaceFloats } from '../../common/training/memory-estimate';
import { engineBoolConstant, flagship } from '../train/memory-estimate-fixtures';

describe('memory estimate: the tensor-core LoRA fast backward', () => {
  it('mirrors ops/lora_tc.h kFastBwdDefault', () => {
    const m = engineBoolConstant('kFastBwdDefault', 'native/src/ops/lora_tc.h');
    expect(m, 'kFastBwdDefault in lora_tc.h').not.toBeNull();
    expect(LORA_TC_FAST_BWD_DEFAULT).toBe(m![1] === 'true');
    expect(estimateTrainingMemory(flagship(16, 64, 128))).toEqual(estimateTrainingMemory(flagship(16, 64, 128, { loraTcFastBwd: LORA_TC_FAST_BWD_DEFAULT })));
  });

  it('the finer split: 16-row tiles up to 132 / members splits (up_row_split_fine)', () => {
    // 2048 rows, one member: 64 splits of 32 rows -> 128 of 16; three members: 44 splits either way
    expect(loraTcUpBackwardWorkspaceFloats(2048, 768, 16, 1, false)).toBe(64 * 768 * 16);
    expect(loraTcUpBackwardWorkspaceFloats(2048, 768, 16, 1, true)).toBe(128 * 768 * 16);
    expect(loraTcUpBackwardWorkspaceFloats(2048, 768, 16, 3, true)).toBe(loraTcUpBackwardWorkspaceFloats(2048, 768, 16, 3, false));
    expect(loraTcUpBackwardWorkspaceFloats(16, 768, 16, 1, true)).toBe(0); // one split: no partials
    // the flagship plan: the q,k,v group's need stays the largest, so the arena does not grow
    for (const [bs, src, tgt] of [[16, 64, 128], [16, 512, 512], [8, 512, 512]])
      expect(estimateTrainingMemory(flagship(bs, src, tgt, { loraTcFastBwd: true })).activationsBytes).toBe(estimateTrainingMemory(flagship(bs, src, tgt, { loraTcFastBwd: false })).activationsBytes);
  });
});
