// What the memory-estimate tests share (tests/train/memory-estimate.test.ts,
// tests/unit/memory-estimate-{prefetch,head}.test.ts): the flagship run's estimate input, the
// arena's 256-byte rounding, and the engine's default constants read from its source.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { MemoryEstimateInput } from '../../common/training/memory-estimate';

/** The flagship shape (36+36 layers, d_model 768, ReLU, tied embeddings, vocab 32128) under the
 * product's QLoRA policy (NF4 but wo, LoRA r16 on q,k,v,o, bf16) on the GPU; `more` overrides. */
export const flagship = (bs: number, src: number, tgt: number, more: Partial<MemoryEstimateInput> = {}): MemoryEstimateInput => ({
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

/** bytes rounded up to the arena's 256-byte alignment. */
export const up256 = (bytes: number) => Math.ceil(bytes / 256) * 256;

/** `static constexpr bool NAME = true|false;` in native/src/t5/cuda/t5_cuda.cpp or `file` (match[1] is the
 * value), null when the engine no longer declares it so: the estimate's defaults mirror these. */
export function engineBoolConstant(name: string, file = 'native/src/t5/cuda/t5_cuda.cpp'): RegExpExecArray | null {
  const src = readFileSync(path.resolve(__dirname, '../..', file), 'utf8');
  return new RegExp(`static constexpr bool ${name} = (true|false);`).exec(src);
}
