// A chat with a run's adapter loads the base the way the run trained it (on CUDA: NF4 + its compute).
import { describe, expect, it } from 'vitest';
import { runLoadOptions } from '../../main/services/chat';

describe('runLoadOptions', () => {
  it('takes quantization, quantizeWo and compute from the stored run config', () => {
    expect(runLoadOptions({ quantization: 'nf4', quantizeWo: true, compute: 'bf16', device: 'cuda' })).toEqual({
      quant: 'nf4',
      quantizeWo: true,
      compute: 'bf16',
    });
  });
  it('falls back to the fp32 base for older or malformed configs', () => {
    expect(runLoadOptions(undefined)).toEqual({ quant: 'none', quantizeWo: false, compute: 'fp32' });
    expect(runLoadOptions({ quantization: 'int8', compute: 'fp16', quantizeWo: 'yes' })).toEqual({
      quant: 'none',
      quantizeWo: false,
      compute: 'fp32',
    });
  });
});
