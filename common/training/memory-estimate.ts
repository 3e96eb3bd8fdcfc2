// A VRAM (or host RAM) estimate for a run configuration before it starts, shown in the run form.
// It mirrors, allocation by allocation, what the CUDA engine (native/src/t5/cuda/t5_cuda.cpp)
// puts on the device, so that it can be checked against the engine's own counters
// (t5cuda::memory_use = weights + LoRA state + the shape's activation arena, bench/RESULTS.md):
//   - weights: fp32 for everything the QLoRA policy leaves alone (embeddings, lm_head when untied,
//     layer norms, wo unless quantizeWo); NF4 packed + double-quantized absmax for q,k,v,o,wi*
//     (model.cpp quantized_by_policy, blocksize 64, blocksize2 256), plus one fp32 dequant scratch
//     the size of the largest quantized weight;
//   - LoRA: one fp32 buffer of 4 regions (weights, grads, Adam m, Adam v);
//   - activations: T5Cuda::layout(), replayed with the same 256-byte aligned bump allocator.
// Not counted (as in the engine's counters): the cuBLAS workspace, the CUDA context, allocator slack.
// For device 'cpu' the same figures stand for host RAM; the CPU path keeps its activations in
// per-step vectors rather than one arena, so there the activation figure is an approximation.

export interface T5ShapeForEstimate {
  numLayers: number;
  numDecoderLayers: number;
  dModel: number;
  dFf: number;
  numHeads: number;
  dKv: number;
  vocabSize: number;
  /** gated-gelu style FFN (wi_0, wi_1) instead of a single wi */
  gated: boolean;
  tiedEmbeddings: boolean;
}

export type LoraModule = 'SelfAttention' | 'EncDecAttention' | 'DenseReluDense';

export interface MemoryEstimateInput {
  model: T5ShapeForEstimate;
  /** targets as peft's target_modules suffixes ('q' matches self and cross attention q);
   * modules narrows them to some module families (default: all, as peft does). */
  lora: { r: number; targets: readonly string[]; modules?: readonly LoraModule[] };
  quant: 'nf4' | 'none';
  quantizeWo: boolean;
  compute: 'bf16' | 'fp32';
  batchSize: number;
  maxSourceLength: number;
  maxTargetLength: number;
  device: 'cuda' | 'cpu';
}

export interface MemoryEstimate {
  weightsBytes: number;
  loraBytes: number;
  activationsBytes: number;
  totalBytes: number;
  notes: string[];
}

const F32 = 4;
const ALIGN = 256;
const NF4_BLOCK = 64;
const NF4_BLOCK2 = 256;

/** Device bytes of one NF4 double-quantized weight (nf4.cu Nf4Weight::device_bytes). */
export function nf4Bytes(numel: number): number {
  const blocks = Math.ceil(numel / NF4_BLOCK);
  return Math.ceil(numel / 2) + blocks + Math.ceil(blocks / NF4_BLOCK2) * F32 + 256 * F32;
}

interface LinearSpec {
  kind: string;
  module: LoraModule;
  decoder: boolean;
  out: number;
  in: number;
}

function blockLinears(m: T5ShapeForEstimate, decoder: boolean): LinearSpec[] {
  const d = m.dModel;
  const inner = m.numHeads * m.dKv;
  const ff = m.dFf;
  const attn = (module: LoraModule): LinearSpec[] => [
    { kind: 'q', module, decoder, out: inner, in: d },
    { kind: 'k', module, decoder, out: inner, in: d },
    { kind: 'v', module, decoder, out: inner, in: d },
    { kind: 'o', module, decoder, out: d, in: inner },
  ];
  const ffn: LinearSpec[] = m.gated
    ? [
        { kind: 'wi_0', module: 'DenseReluDense', decoder, out: ff, in: d },
        { kind: 'wi_1', module: 'DenseReluDense', decoder, out: ff, in: d },
      ]
    : [{ kind: 'wi', module: 'DenseReluDense', decoder, out: ff, in: d }];
  ffn.push({ kind: 'wo', module: 'DenseReluDense', decoder, out: d, in: ff });
  return [...attn('SelfAttention'), ...(decoder ? attn('EncDecAttention') : []), ...ffn];
}

function quantizedByPolicy(kind: string, quantizeWo: boolean): boolean {
  return ['q', 'k', 'v', 'o', 'wi', 'wi_0', 'wi_1'].includes(kind) || (quantizeWo && kind === 'wo');
}

/** The measuring pass of core/arena.h: offsets only, 256-byte aligned, max(n, 1) elements. */
class MeasureArena {
  private used = 0;
  take(elements: number, elemBytes = F32): void {
    const start = Math.ceil(this.used / ALIGN) * ALIGN;
    this.used = start + Math.max(elements, 1) * elemBytes;
  }
  get highWater(): number {
    return this.used;
  }
}

function checkPositive(name: string, v: number): void {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`memory estimate: ${name} must be a non-negative number, got ${v}`);
}

export function estimateTrainingMemory(input: MemoryEstimateInput): MemoryEstimate {
  const m = input.model;
  for (const [k, v] of Object.entries(m)) if (typeof v === 'number') checkPositive(`model.${k}`, v);
  checkPositive('batchSize', input.batchSize);
  checkPositive('maxSourceLength', input.maxSourceLength);
  checkPositive('maxTargetLength', input.maxTargetLength);
  checkPositive('lora.r', input.lora.r);
  const notes: string[] = [];
  const d = m.dModel;
  const inner = m.numHeads * m.dKv;
  const ff = m.dFf;
  const H = m.numHeads;
  const nf4 = input.quant === 'nf4';

  const enc = Array.from({ length: m.numLayers }, () => blockLinears(m, false));
  const dec = Array.from({ length: m.numDecoderLayers }, () => blockLinears(m, true));
  const all = [...enc.flat(), ...dec.flat()];
  const targets = new Set(input.lora.targets);
  const modules = input.lora.modules ? new Set(input.lora.modules) : null;
  const hasLora = (L: LinearSpec): boolean => input.lora.r > 0 && targets.has(L.kind) && (!modules || modules.has(L.module));

  // ---- weights (T5Cuda::upload_weights)
  let weights = m.vocabSize * d * F32; // shared embedding (also the head when tied)
  if (!m.tiedEmbeddings) weights += m.vocabSize * d * F32;
  weights += 2 * d * F32; // encoder and decoder final layer norms
  weights += (m.numLayers * 2 + m.numDecoderLayers * 3) * d * F32; // per-block layer norms
  let deqMax = 0;
  for (const L of all) {
    const n = L.out * L.in;
    if (nf4 && quantizedByPolicy(L.kind, input.quantizeWo)) {
      weights += nf4Bytes(n);
      deqMax = Math.max(deqMax, n);
    } else weights += n * F32;
  }
  weights += deqMax * F32; // NF4 dequantization scratch

  // ---- LoRA state (lora_to_device): A and B, times weights/grads/m/v
  let loraN = 0;
  let rMax = 1;
  for (const L of all)
    if (hasLora(L)) {
      loraN += input.lora.r * (L.in + L.out);
      rMax = Math.max(rMax, input.lora.r);
    }
  const loraBytes = 4 * loraN * F32;

  // ---- activation arena (T5Cuda::layout with backward = true)
  const B = input.batchSize;
  const S = input.maxSourceLength;
  const T = input.maxTargetLength;
  const Ms = B * S;
  const Mt = B * T;
  const Mx = Math.max(Ms, Mt);
  const reluInPlace = !m.gated;
  const a = new MeasureArena();
  const block = (M: number, Tq: number, decoder: boolean): void => {
    a.take(M * d); a.take(M);
    a.take(M * inner); a.take(M * inner); a.take(M * inner);
    a.take(B * H * Tq * Tq); a.take(M * inner); a.take(M * d);
    if (decoder) {
      a.take(M * d); a.take(M);
      a.take(M * inner); a.take(Ms * inner); a.take(Ms * inner);
      a.take(B * H * T * S); a.take(M * inner); a.take(M * d);
    }
    a.take(M * d); a.take(M);
    a.take(M * ff);
    if (m.gated) a.take(M * ff);
    if (!reluInPlace) a.take(M * ff);
  };
  for (let l = 0; l <= m.numLayers; ++l) {
    a.take(Ms * d);
    if (l < m.numLayers) block(Ms, S, false);
  }
  a.take(Ms); a.take(Ms * d); a.take(Ms * d);
  a.take(H * S * S);
  for (let l = 0; l <= m.numDecoderLayers; ++l) {
    a.take(Mt * d);
    if (l < m.numDecoderLayers) block(Mt, T, true);
  }
  a.take(Mt); a.take(Mt * d); a.take(Mt * d);
  a.take(H * T * T);
  a.take(Mt * m.vocabSize); // logits
  a.take(Mt);
  for (const L of all) if (hasLora(L)) a.take((L.decoder && !(L.module === 'EncDecAttention' && (L.kind === 'k' || L.kind === 'v')) ? Mt : Ms) * input.lora.r);
  const inMax = Math.max(d, inner, ff);
  const pMax = B * H * Math.max(S * S, T * T, T * S);
  a.take(Mx * d); a.take(Mx * inner); a.take(Mx * inner);
  a.take(Mx * inMax); a.take(Mx * rMax); a.take(pMax);
  a.take(Ms); a.take(Ms); a.take(Mt); a.take(Mt); // int32 ids, mask, decoder ids, labels
  // backward
  a.take(Mt * d); a.take(Ms * d); a.take(Mx * d); a.take(Mx * inner);
  a.take(Mx * inner); a.take(Mx * inner); a.take(Mx * inner);
  a.take(Mx * inner); a.take(Mx * inner); a.take(Mx * inner); a.take(Mx * inner); a.take(pMax);
  a.take(Mx * ff); a.take(Mx * ff); a.take(Mx * ff); a.take(Mx * d);
  const activations = a.highWater;

  notes.push('CUDA context and cuBLAS workspace not included (add roughly 0.5–1 GiB)');
  if (!m.gated) notes.push('non-gated FFN taken as ReLU (activation computed in place)');
  if (input.device === 'cpu') notes.push('device cpu: host RAM; activations approximated by the GPU memory plan');
  if (input.compute === 'bf16' && input.device === 'cuda') notes.push('bf16 products use fp32 activations and weights in memory, as the engine does');
  return { weightsBytes: weights, loraBytes, activationsBytes: activations, totalBytes: weights + loraBytes + activations, notes };
}

/** The estimator's model shape from a T5 config.json (as stored with an imported model);
 * null when a field the estimate needs is missing. T5 defaults where transformers has them. */
export function modelShapeFromConfig(config: Record<string, unknown>): T5ShapeForEstimate | null {
  const num = (k: string): number | undefined => (typeof config[k] === 'number' ? (config[k] as number) : undefined);
  const numLayers = num('num_layers');
  const dModel = num('d_model');
  const dFf = num('d_ff');
  const numHeads = num('num_heads');
  const vocabSize = num('vocab_size');
  if (numLayers === undefined || dModel === undefined || dFf === undefined || numHeads === undefined || vocabSize === undefined) return null;
  const proj = typeof config.feed_forward_proj === 'string' ? config.feed_forward_proj : 'relu';
  return {
    numLayers,
    numDecoderLayers: num('num_decoder_layers') ?? numLayers,
    dModel,
    dFf,
    numHeads,
    dKv: num('d_kv') ?? Math.floor(dModel / numHeads),
    vocabSize,
    gated: proj.startsWith('gated-'),
    tiedEmbeddings: typeof config.tie_word_embeddings === 'boolean' ? config.tie_word_embeddings : true,
  };
}
