// The run form's estimate of the NF4 prefetch (T5Cuda::deq_prefetch, HUKUK_T5_DEQ_PREFETCH=1): two
// arena regions of the largest block's NF4 weights in bf16 (T5Cuda::pf_assign's layout), which
// replace the recompute plan's kept q,k,v / cross k,v. The engine's arena against this estimate,
// byte for byte, is checked on the GPU (tests/native/cuda_t5.test.ts); here the arithmetic.
import { describe, expect, it } from 'vitest';
import { DEQ_PREFETCH_DEFAULT, estimateTrainingMemory, prefetchRegionElems } from '../../common/training/memory-estimate';
import { engineBoolConstant, flagship, up256 } from '../train/memory-estimate-fixtures';

const sq = 768 * 768;

describe('memory estimate: NF4 prefetch regions', () => {
  it("defaults to the engine's default (T5Cuda::kDeqPrefetchDefault): they flip together", () => {
    const m = engineBoolConstant('kDeqPrefetchDefault');
    expect(m, 'kDeqPrefetchDefault in t5_cuda.cpp').not.toBeNull();
    expect(DEQ_PREFETCH_DEFAULT).toBe(m![1] === 'true');
    for (const recompute of [false, true])
      expect(estimateTrainingMemory(flagship(16, 64, 128, { recompute }))).toEqual(estimateTrainingMemory(flagship(16, 64, 128, { recompute, deqPrefetch: DEQ_PREFETCH_DEFAULT })));
  });

  it('flagship: two regions of the decoder block (q,k,v,o, cross q,k,v,o, wi: 8 x 768² + 3072 x 768 bf16), weights unchanged', () => {
    const decoderElems = 8 * sq + 3072 * 768;
    for (const [bs, src, tgt] of [[16, 64, 128], [16, 512, 512], [8, 512, 512]]) {
      const off = estimateTrainingMemory(flagship(bs, src, tgt, { deqPrefetch: false, crossSide: false }));
      const on = estimateTrainingMemory(flagship(bs, src, tgt, { deqPrefetch: true, crossSide: false }));
      expect(on.activationsBytes - off.activationsBytes).toBe(2 * up256(2 * decoderElems));
      expect(on.weightsBytes).toBe(off.weightsBytes);
      expect(on.loraBytes).toBe(off.loraBytes);
      // recompute: the kept q,k,v and cross k,v (bf16) go
      const offRe = estimateTrainingMemory(flagship(bs, src, tgt, { recompute: true, deqPrefetch: false, crossSide: false }));
      const onRe = estimateTrainingMemory(flagship(bs, src, tgt, { recompute: true, deqPrefetch: true, crossSide: false }));
      expect(onRe.activationsBytes - offRe.activationsBytes).toBe(2 * up256(2 * decoderElems) - up256(2 * 3 * sq) - up256(2 * 2 * sq));
    }
  });

  it('region layout: a 128-element boundary per weight, fused group members back to back; wo only when quantized', () => {
    const d = 100, ff = 300;
    const attn = (module: 'SelfAttention' | 'EncDecAttention') =>
      ['q', 'k', 'v', 'o'].map((kind) => ({ kind, module, out: d, in: d }));
    const enc = [...attn('SelfAttention'), { kind: 'wi', module: 'DenseReluDense' as const, out: ff, in: d }, { kind: 'wo', module: 'DenseReluDense' as const, out: d, in: ff }];
    const a = (n: number) => Math.ceil(n / 128) * 128;
    // q,k,v: 30000 back to back; o at 30080; wi at a(40080) = 40192; wo not NF4
    expect(prefetchRegionElems(enc, false)).toBe(a(a(3 * d * d) + d * d) + ff * d);
    expect(prefetchRegionElems(enc, true)).toBe(a(a(a(3 * d * d) + d * d) + ff * d) + d * ff);
    const dec = [...attn('SelfAttention'), ...attn('EncDecAttention'), ...enc.slice(4)];
    // cross q alone, cross k,v back to back
    let off = a(3 * d * d) + d * d; // self q,k,v, o
    off = a(off) + d * d; // cross q
    off = a(off) + 2 * d * d; // cross k,v
    off = a(off) + d * d; // cross o
    off = a(off) + ff * d; // wi
    expect(prefetchRegionElems(dec, false)).toBe(off);
  });

  it('nothing without NF4 weights or with fp32 activations', () => {
    for (const more of [{ quant: 'none' as const }, { activations: 'fp32' as const }, { compute: 'fp32' as const }])
      for (const recompute of [false, true])
        expect(estimateTrainingMemory(flagship(16, 64, 128, { ...more, recompute, deqPrefetch: true }))).toEqual(estimateTrainingMemory(flagship(16, 64, 128, { ...more, recompute, deqPrefetch: false })));
  });

  it('a gated FFN: wi_0 and wi_1 in the region', () => {
    const model = { ...flagship(1, 1, 1).model, gated: true };
    const off = estimateTrainingMemory(flagship(16, 64, 128, { model, deqPrefetch: false, crossSide: false }));
    const on = estimateTrainingMemory(flagship(16, 64, 128, { model, deqPrefetch: true, crossSide: false }));
    expect(on.activationsBytes - off.activationsBytes).toBe(2 * up256(2 * (8 * sq + 2 * 3072 * 768)));
  });
});
