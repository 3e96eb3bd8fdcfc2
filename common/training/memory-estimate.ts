// A VRAM (or host RAM) estimate for a run configuration before it starts, shown in the run form.
// It mirrors, allocation by allocation, what the CUDA engine (native/src/t5/cuda/t5_cuda.cpp)
// puts on the device, so that it can be checked against the engine's own counters
// (t5cuda::memory_use = weights + LoRA state + the shape's activation arena, bench/RESULTS.md):
//   - weights: fp32 for everything the QLoRA policy leaves alone (embeddings, lm_head when untied,
//     layer norms, wo unless quantizeWo); NF4 packed + double-quantized absmax for q,k,v,o,wi*
//     (model.cpp quantized_by_policy, blocksize 64, blocksize2 256), plus one dequantization
//     scratch: the largest quantized weight (or q,k,v group) in fp32 floats, and under compute bf16
//     at least half the largest fp32 weight (rounded to bf16 per product); with bf16 activations
//     the non-NF4 weights in bf16 only (T5Cuda::weights_to_bf16) and a whole fp32 weight of scratch;
//   - LoRA: one fp32 buffer of 4 regions (weights, grads, Adam m, Adam v);
//   - activations: T5Cuda::layout(), replayed with the same 256-byte aligned bump allocator: with
//     or without activation recomputation (recompute: only each block's input and the LoRA h are
//     kept, one block's activations live in a shared scratch), with the fused attention (bf16 on
//     sm_80+, d_kv 64: a row log-sum-exp instead of the probabilities) or the unfused one, and the
//     fused LoRA-dropout kernels (r <= 64, ops/lora.h) with their grad-A workspace (and, for bf16
//     activations, lora_up_backward's); activations
//     in bf16 (T5Cuda::want_act_bf16: bf16 compute, fused attention, r <= 64) or fp32, the residual
//     stream, norms' rstd, LoRA h and the head always fp32.
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
  /** false for a non-gated FFN whose activation is not ReLU (e.g. feed_forward_proj 'gelu'): the
   * engine then keeps the pre-activation and the hidden apart and no relu' bitmask (T5Cuda's
   * relu_in_place()); absent = ReLU when not gated */
  relu?: boolean;
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
  /** activation recomputation (the engine's `recompute` step option); default false */
  recompute?: boolean;
  /** fused (flash) attention; default: what the engine picks, compute bf16 with d_kv 64 (the GPU
   * is taken to be sm_80+, which bf16 compute needs anyway); HUKUK_T5_FLASH=0 in the engine = false */
  flash?: boolean;
  /** the activations' type; default: what the engine picks (bf16 with compute bf16, the fused
   * attention and r <= 64 on cuda; HUKUK_T5_ACT_BF16=0 in the engine = 'fp32'). 'bf16' with
   * r > 64 or without the fused attention is a plan the engine never makes (hypothetical figure). */
  activations?: 'bf16' | 'fp32';
  /** bf16 activations' LoRA products on ops/lora_tc where they apply (default true, the engine's;
   * HUKUK_T5_LORA_TC=0 = false): only their workspaces differ */
  loraTc?: boolean;
  /** rows of one chunk of the head + cross-entropy (T5Cuda::head_chunk_rows): default the engine's
   * (32 MiB of fp32 logits, a multiple of 64 rows: 256 for a 32128 vocab); HUKUK_T5_HEAD_CHUNK_ROWS
   * forces it; the engines measured before 2026-11-28 07:00 UTC held every row (= a huge number) */
  headChunkRows?: number;
  /** a ReLU FFN whose wo has no LoRA keeps relu' as one bit per element instead of the hidden
   * activation (T5Cuda::ffn_bitmask; default true, the engine's; HUKUK_T5_RELU_BITMASK=0, and the
   * engines measured before 2026-11-28 06:40 UTC, = false) */
  reluBitmask?: boolean;
  /** the norms' outputs (self-attention, cross-attention, FFN) are not kept but recomputed in the
   * backward from the kept residual input and rstd (T5Cuda::norms_recomputed; default true, the
   * engine's; HUKUK_T5_NORM_RECOMPUTE=0, and the engines measured before 2026-11-28 07:00 UTC, = false) */
  recomputeNorms?: boolean;
  /** the cross attention's K,V are not kept but computed again from the encoder output in the
   * backward (T5Cuda::cross_kv_recomputed, where the FFN gradient scratch holds them: 2 inner <=
   * d_ff for S <= T; default true, the engine's; HUKUK_T5_CROSS_KV_RECOMPUTE=0, and the engines
   * measured before 2026-11-28 07:00 UTC, = false) */
  recomputeCrossKV?: boolean;
  /** NF4 prefetch (T5Cuda::deq_prefetch, HUKUK_T5_DEQ_PREFETCH): with bf16 activations each
   * block's NF4 weights are dequantized by one launch into one of two arena regions of the largest
   * block's NF4 weights in bf16 (prefetchRegionElems), which replace the recompute plan's kept
   * q,k,v / cross k,v; default DEQ_PREFETCH_DEFAULT, the engine's (HUKUK_T5_DEQ_PREFETCH=1 = true) */
  deqPrefetch?: boolean;
  /** the LM head on bf16 operands (T5Cuda::head_b16, HUKUK_T5_HEAD_BF16; cuda with compute bf16): a
   * bf16 copy of the head (vocab x d_model) with the weights and dec_seq's bf16 copy (Mt x d_model)
   * in the arena; default HEAD_BF16_DEFAULT, the engine's (HUKUK_T5_HEAD_BF16=1 = true) */
  headBf16?: boolean;
  /** the decoder's cross k,v backward on a second stream (T5Cuda::cross_side, HUKUK_T5_CROSS_SIDE):
   * with bf16 activations (and NF4 cross k,v prefetched) two dK,dV slots (2 Ms inner each) and the
   * side's own LoRA scratch; default CROSS_SIDE_DEFAULT, the engine's (HUKUK_T5_CROSS_SIDE=1 = true; the
   * engine also leaves it off where non-NF4 weights stay fp32, HUKUK_T5_BF16_WEIGHTS=0, not mirrored) */
  crossSide?: boolean;
  /** the tensor-core LoRA backward's faster parts (ops/lora_tc.h kFastBwdDefault,
   * HUKUK_T5_LORA_TC_FAST_BWD): lora_up_backward's row splits go down to one 16-row tile, so its
   * split-M workspace doubles below 132 x 32 / members rows; default LORA_TC_FAST_BWD_DEFAULT */
  loraTcFastBwd?: boolean;
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
/** T5Cuda::kDeqPrefetchDefault: the engine prefetches NF4 weights unless HUKUK_T5_DEQ_PREFETCH says
 * otherwise (flip both together). */
export const DEQ_PREFETCH_DEFAULT = true;
/** T5Cuda::kHeadBf16Default: the engine's LM head runs on bf16 operands unless HUKUK_T5_HEAD_BF16
 * says otherwise (flip both together). */
export const HEAD_BF16_DEFAULT = true;
/** T5Cuda::kCrossSideDefault: the decoder's cross k,v backward runs on a second stream unless
 * HUKUK_T5_CROSS_SIDE=0 (flip both together). */
export const CROSS_SIDE_DEFAULT = true;
/** ops/lora_tc.h kFastBwdDefault: the LoRA backward's faster parts (and up_backward's finer row
 * split) are on unless HUKUK_T5_LORA_TC_FAST_BWD=0 (flip both together). */
export const LORA_TC_FAST_BWD_DEFAULT = true;
const NF4_BLOCK = 64;
const NF4_BLOCK2 = 256;

/** T5Cuda::head_chunk_rows (before the min with Mt): rows of fp32 logits in 32 MiB, a multiple of
 * 64 where that is at least 64. */
export function headChunkRows(vocabSize: number): number {
  let rows = Math.max(1, Math.floor((32 * 2 ** 20) / (Math.max(1, vocabSize) * 4)));
  if (rows >= 64) rows = Math.floor(rows / 64) * 64;
  return rows;
}

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

/** T5Cuda::pf_assign: bf16 elements of one block's NF4 weights side by side (blockLinears' order is
 * the engine's q,k,v,o, cross q,k,v,o, wi / wi_0,wi_1, wo), each at a 128-element boundary except
 * the members that follow their fused group's first (self k,v after q; cross v after k: all NF4 of
 * one shape under the QLoRA policy). */
export function prefetchRegionElems(linears: readonly LinearSpecForPrefetch[], quantizeWo: boolean): number {
  let off = 0;
  for (const L of linears) {
    if (!quantizedByPolicy(L.kind, quantizeWo)) continue;
    const follows = (L.module === 'SelfAttention' && (L.kind === 'k' || L.kind === 'v')) || (L.module === 'EncDecAttention' && L.kind === 'v');
    if (!follows) off = Math.ceil(off / 128) * 128;
    off += L.out * L.in;
  }
  return off;
}
export type LinearSpecForPrefetch = Pick<LinearSpec, 'kind' | 'module' | 'out' | 'in'>;

/** The measuring pass of core/arena.h: offsets only, 256-byte aligned, max(n, 1) elements. */
class MeasureArena {
  private used = 0;
  private high = 0;
  take(elements: number, elemBytes = F32): void {
    const start = Math.ceil(this.used / ALIGN) * ALIGN;
    this.used = start + Math.max(elements, 1) * elemBytes;
    this.high = Math.max(this.high, this.used);
  }
  mark(): number {
    return this.used;
  }
  reset(mark: number): void {
    this.used = mark;
  }
  get highWater(): number {
    return this.high;
  }
}

/** ops/lora.cu lora_up_backward_workspace_floats: split-M partials of gB and column-group
 * partials of dh, per member, for r <= 16 (the plain kernels above that need none). */
export function loraUpBackwardWorkspaceFloats(M: number, out: number, r: number, n: number): number {
  if (r > 16 || M <= 0) return 0;
  const cols = 256; // kUbCols = kThreads
  const chunk = 8; // kUbChunk
  const target = 264; // kUbTarget
  const minRows = 64; // kUbMinRows
  const colGroups = Math.ceil(out / cols);
  const want = Math.ceil(target / colGroups);
  let rows = Math.ceil(M / want);
  rows = Math.ceil(rows / chunk) * chunk;
  rows = Math.max(rows, minRows);
  const splits = Math.ceil(M / rows);
  return n * ((splits > 1 ? splits * out * r : 0) + (colGroups > 1 ? colGroups * M * r : 0));
}

/** ops/lora_tc.cu (the tensor-core LoRA kernels of bf16 activations): which products they take,
 * and their split-M workspaces (row_split / up_row_split). */
export function loraTcSupported(r: number, width: number): boolean {
  return r === 16 && width >= 64 && width % 64 === 0 && width <= 768;
}
function tcSplitRows(M: number, s0: number): number {
  if (M <= 0) return 1;
  const rows = Math.ceil(Math.ceil(M / s0) / 16) * 16;
  return Math.ceil(M / rows);
}
export function loraTcBackwardWorkspaceFloats(M: number, inF: number, r: number): number {
  const S = tcSplitRows(M, Math.min(64, Math.max(1, Math.ceil(M / 64))));
  return S > 1 ? S * r * inF : 0;
}
/** ops/lora_tc.cu lora_up_backward_workspace_floats: up_row_split, or up_row_split_fine (16-row
 * tiles) under the fast backward. */
export function loraTcUpBackwardWorkspaceFloats(M: number, out: number, r: number, n: number, fine = LORA_TC_FAST_BWD_DEFAULT): number {
  const S = tcSplitRows(M, Math.min(Math.ceil(132 / n), Math.max(1, Math.ceil(M / (fine ? 16 : 32)))));
  return S > 1 ? S * n * out * r : 0;
}

/** ops/lora.cu lora_grad_A_workspace_floats: split-M partial sums of the LoRA grad-A kernel. */
export function loraGradAWorkspaceFloats(M: number, inF: number, r: number, targetBlocks = 528): number {
  const chunk = 32; // kGaChunk
  const cols = 64; // kGaCols
  if (M <= chunk) return 0;
  const colBlocks = Math.ceil(inF / cols);
  let splits = Math.ceil(targetBlocks / colBlocks);
  let rows = Math.ceil(M / splits);
  rows = Math.ceil(rows / chunk) * chunk;
  splits = Math.ceil(M / rows);
  return splits > 1 ? splits * r * inF : 0;
}

/** ops/lora.cu lora_backward_group_workspace_floats (n members; 0 where the group kernel does not
 * take r or in): grad_A_plan at lora_backward's target blocks (132 SMs x 3 blocks for r <= 8, x 2 above). */
export function loraGroupBackwardWorkspaceFloats(M: number, inF: number, r: number, n: number): number {
  if (M <= 0 || r < 1 || r > 16 || inF < 1 || inF > 64 * 4096) return 0;
  return n * loraGradAWorkspaceFloats(M, inF, r, 132 * (r <= 8 ? 3 : 2));
}
/** ops/lora_tc.cu lora_backward_group_workspace_floats (group_row_split; 0 where it does not apply). */
export function loraTcGroupBackwardWorkspaceFloats(M: number, inF: number, r: number, n: number): number {
  if (M <= 0 || !loraTcSupported(r, inF)) return 0;
  const colBlocks = Math.max(1, Math.floor(inF / 64));
  const S = tcSplitRows(M, Math.max(1, Math.min(Math.ceil(132 / colBlocks), Math.ceil(M / 16))));
  return S > 1 ? n * S * r * inF : 0;
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
  // The dequantization scratch: the largest NF4 weight (fp32 floats), and with compute bf16 the
  // largest fp32 weight rounded to bf16 (half as many floats) for bf16 activations' products.
  const bf16Compute = input.compute === 'bf16';
  // The activation type (T5Cuda::want_act_bf16), which also decides the non-NF4 weights' type
  const flash = input.flash ?? (input.device === 'cuda' && input.compute === 'bf16' && m.dKv === 64);
  const loraFused = input.lora.r <= 64;
  const actBf16 = (input.activations ?? (input.device === 'cuda' && bf16Compute && flash && loraFused ? 'bf16' : 'fp32')) === 'bf16';
  // T5Cuda::weights_to_bf16: with bf16 activations every non-NF4 Linear weight (wo under the QLoRA
  // policy) is kept as bf16 only (2 bytes), and the scratch grows to a whole fp32 weight (group),
  // for fp32 plans (generation's encoder) that widen the bf16 values back per product
  const linBytes = actBf16 ? 2 : F32;
  let deqMax = 0;
  for (const L of all) {
    const n = L.out * L.in;
    if (nf4 && quantizedByPolicy(L.kind, input.quantizeWo)) {
      weights += nf4Bytes(n);
      deqMax = Math.max(deqMax, n);
    } else {
      weights += n * linBytes;
      if (bf16Compute) deqMax = Math.max(deqMax, actBf16 ? n : Math.ceil(n / 2));
    }
  }
  // q,k,v (cross k,v) go side by side for their one batched product: NF4 dequantized there, fp32
  // ones uploaded side by side (and rounded there for bf16, or kept as bf16 side by side)
  if (m.numLayers + m.numDecoderLayers > 0) {
    if (nf4) deqMax = Math.max(deqMax, 3 * inner * d);
    else if (bf16Compute) deqMax = Math.max(deqMax, actBf16 ? 3 * inner * d : Math.ceil((3 * inner * d) / 2));
  }
  if (!nf4 && bf16Compute && m.numDecoderLayers > 0) deqMax = Math.max(deqMax, actBf16 ? 2 * inner * d : Math.ceil((2 * inner * d) / 2));
  weights += deqMax * F32; // dequantization scratch
  // T5Cuda::head_b16: the head rounded to bf16 once at load (compute bf16 on cuda)
  const headBf16 = (input.headBf16 ?? HEAD_BF16_DEFAULT) && bf16Compute && input.device === 'cuda';
  if (headBf16) weights += m.vocabSize * d * 2;

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
  const reluInPlace = !m.gated && m.relu !== false;
  // T5Cuda::ffn_bitmask: ReLU (not gated) with no LoRA on any wo keeps relu' as one bit per element
  // instead of the M x d_ff hidden (whose forward copy lives in the backward's g_ff0)
  const reluBitmask = (input.reluBitmask ?? true) && reluInPlace && !all.some((L) => L.kind === 'wo' && hasLora(L));
  const keep = !input.recompute;
  const AB = actBf16 ? 2 : F32; // bytes of one activation element (act_t)
  const loraTc = input.loraTc ?? true;
  const normsKept = !(input.recomputeNorms ?? true); // T5Cuda::norms_recomputed: n1, nc, n3 not kept
  const crossKvKept = !((input.recomputeCrossKV ?? true) && 2 * Ms * inner <= Mx * ff); // T5Cuda::cross_kv_recomputed
  const a = new MeasureArena();
  const block = (M: number, Tq: number, decoder: boolean): void => {
    if (normsKept) a.take(M * d, AB);
    a.take(M); // n1, rstd1
    a.take(3 * M * inner, AB); // q,k,v side by side
    a.take(B * H * Tq * (flash ? 1 : Tq)); a.take(M * inner, AB); a.take(M * d); // P (flash: log-sum-exp), ctx, x_mid
    if (decoder) {
      if (normsKept) a.take(M * d, AB);
      a.take(M); // nc, rstdc
      a.take(M * inner, AB); if (crossKvKept) a.take(2 * Ms * inner, AB); // cq; ck, cv
      a.take(B * H * T * (flash ? 1 : S)); a.take(M * inner, AB); a.take(M * d);
    }
    if (normsKept) a.take(M * d, AB);
    a.take(M); // n3, rstd3
    if (reluBitmask) { a.take(Math.ceil((M * ff) / 32)); return; } // relu' bits, uint32 words
    a.take(M * ff, AB);
    if (m.gated) a.take(M * ff, AB);
    if (!reluInPlace) a.take(M * ff, AB);
  };
  for (let l = 0; l <= m.numLayers; ++l) {
    a.take(Ms * d);
    if (l < m.numLayers && keep) block(Ms, S, false);
  }
  a.take(Ms); a.take(Ms * d, AB); a.take(Ms * d, AB); // rstd, enc_fin_n, enc_out
  a.take(H * S * S);
  for (let l = 0; l <= m.numDecoderLayers; ++l) {
    a.take(Mt * d);
    if (l < m.numDecoderLayers && keep) block(Mt, T, true);
  }
  a.take(Mt); a.take(Mt * d); a.take(Mt * d); // dec_fin_rstd, dec_fin_n, dec_seq
  if (headBf16) a.take(Mt * d, 2); // dec_seq_b16
  a.take(H * T * T);
  a.take(Math.min(Mt, input.headChunkRows ?? headChunkRows(m.vocabSize)) * m.vocabSize); // logits, one chunk of rows
  a.take(Mt);
  let ws = 0;
  for (const L of all)
    if (hasLora(L)) {
      const M = L.decoder && !(L.module === 'EncDecAttention' && (L.kind === 'k' || L.kind === 'v')) ? Mt : Ms;
      a.take(M * input.lora.r); // LoRA h
      if (loraFused) ws = Math.max(ws, loraGradAWorkspaceFloats(M, L.in, input.lora.r));
      // (T5Cuda::group_members: the q,k,v group's B side runs as one call of 3, cross k,v of 2)
      const members = L.module === 'SelfAttention' && ['q', 'k', 'v'].includes(L.kind) ? 3 : L.module === 'EncDecAttention' && ['k', 'v'].includes(L.kind) ? 2 : 1;
      if (actBf16) ws = Math.max(ws, loraUpBackwardWorkspaceFloats(M, L.out, input.lora.r, members));
      if (actBf16 && loraTc && loraTcSupported(input.lora.r, L.in)) ws = Math.max(ws, loraTcBackwardWorkspaceFloats(M, L.in, input.lora.r));
      if (actBf16 && loraTc && loraTcSupported(input.lora.r, L.out)) ws = Math.max(ws, loraTcUpBackwardWorkspaceFloats(M, L.out, input.lora.r, members, input.loraTcFastBwd ?? LORA_TC_FAST_BWD_DEFAULT));
    }
  const inMax = Math.max(d, inner, ff);
  const pMax = B * H * Math.max(S * S, T * T, T * S);
  a.take(Mx * d);
  if (!flash) { a.take(3 * Mx * inner); a.take(Mx * inner); a.take(pMax); }
  if (loraFused) { if (ws) a.take(ws); } else a.take(Mx * inMax);
  a.take(3 * Mx * rMax); // LoRA dh / h scratch, one slot per q,k,v member
  a.take(Ms); a.take(Ms); a.take(Mt); a.take(Mt); // int32 ids, mask, decoder ids, labels
  // backward
  a.take(Mt * d); a.take(Ms * d); a.take(Mx * d, AB); a.take(Mx * inner); a.take(3 * Mx * inner, AB); // g_dec g_enc g_d g_inner g_qkv
  // the fused attention backward's row sums (+ an fp32 dQ accumulator for bf16 activations)
  if (flash) a.take(B * H * Math.max(S, T) + (actBf16 ? B * Math.max(S, T) * inner : 0));
  else { a.take(Mx * inner); a.take(3 * Mx * inner); a.take(pMax); }
  a.take(Mx * ff, AB); // g_ff0
  if (m.gated) a.take(Mx * ff, AB); // g_ff1
  a.take(Mx * ff); a.take(Mx * d); // g_ffh, g_n
  // NF4 prefetch: two regions of the largest block's NF4 weights, bf16 (T5Cuda::layout)
  const regionElems = nf4 ? Math.max(enc.length ? prefetchRegionElems(enc[0], input.quantizeWo) : 0, dec.length ? prefetchRegionElems(dec[0], input.quantizeWo) : 0) : 0;
  const prefetch = (input.deqPrefetch ?? DEQ_PREFETCH_DEFAULT) && actBf16 && regionElems > 0;
  if (prefetch) { a.take(regionElems, 2); a.take(regionElems, 2); }
  // the cross k,v backward's side stream (T5Cuda::cross_side): bf16 activations, NF4 cross k,v only
  // when prefetched; two dK,dV slots, its tmp_r, its LoRA workspace, its group kernels' scratch
  const crossSide = (input.crossSide ?? CROSS_SIDE_DEFAULT) && actBf16 && flash && m.numDecoderLayers > 0 && (!nf4 || prefetch);
  if (crossSide) {
    a.take(2 * Ms * inner, AB); a.take(2 * Ms * inner, AB);
    a.take(2 * Ms * rMax);
    if (loraFused && ws) a.take(ws);
    const crossKv = dec.flat().some((L) => L.module === 'EncDecAttention' && (L.kind === 'k' || L.kind === 'v') && hasLora(L));
    const r = input.lora.r;
    const g = crossKv ? Math.max(loraTcGroupBackwardWorkspaceFloats(Ms, d, r, 2), loraGroupBackwardWorkspaceFloats(Ms, d, r, 2)) : 0;
    if (g) a.take(g);
  }
  if (!keep) {
    if (nf4 && !prefetch && m.numLayers + m.numDecoderLayers > 0) a.take(3 * inner * d, AB); // NF4 q,k,v kept dequantized
    if (nf4 && !prefetch && m.numDecoderLayers > 0) a.take(2 * inner * d, AB); // cross k,v
    const mark = a.mark(); // one block's scratch, the encoder's and the decoder's in the same memory
    if (m.numLayers > 0) block(Ms, S, false);
    a.reset(mark);
    if (m.numDecoderLayers > 0) block(Mt, T, true);
  }
  const activations = a.highWater;

  notes.push('CUDA context and cuBLAS workspace not included (add roughly 0.5–1 GiB)');
  if (reluInPlace) notes.push('ReLU FFN (activation computed in place)');
  if (input.device === 'cpu') notes.push('device cpu: host RAM; activations approximated by the GPU memory plan');
  if (input.compute === 'bf16' && input.device === 'cuda')
    notes.push(actBf16 ? 'bf16 activations (residual stream, norms and LoRA state in fp32)' : 'bf16 products on fp32 activations');
  if (input.recompute) notes.push('activation recomputation: blocks recomputed in the backward (about one more forward of time)');
  if (prefetch) notes.push('NF4 weights dequantized a block ahead on a second stream (two bf16 regions)');
  if (headBf16) notes.push('LM head on bf16 operands (a bf16 copy of the head)');
  if (crossSide) notes.push("the decoder's cross k,v backward on a second stream (two dK,dV slots)");
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
    // (native/src/t5/config.cpp: "<act>" or "gated-<act>"; only a plain "relu" runs in place)
    ...(!proj.startsWith('gated-') && proj !== 'relu' ? { relu: false } : {}),
  };
}
