// TypeScript face of the engine addon (native/build/hukuk_engine.node), loaded through
// native/index.cjs. Each module's owner keeps its section; errors thrown by any function are
// EngineError (below). Keep sections in the order of native/src/ folders.

/** Every error the addon throws: a JS Error with a stable code and the C++ file:line. */
export interface EngineError extends Error {
  /** 'ENGINE_INVALID_ARG' | 'ENGINE_OOM' | 'ENGINE_CUDA' | 'ENGINE_IO' | 'ENGINE_CORRUPT' | 'ENGINE_NO_CUBLAS' | 'ENGINE_INTERNAL' | ... */
  code: string;
  /** "native/src/nf4/nf4.cpp:88" */
  where?: string;
}

// ---- system (native/src/system) ----

export interface GpuInfo {
  index: number;
  name: string;
  /** total device memory */
  memoryBytes: number;
  /** display driver version ("580.159.04"), or "CUDA 13.0" when NVML is missing */
  driver: string;
  /** "9.0" */
  computeCapability: string;
  multiprocessors: number;
}

export interface SystemApi {
  version(): string;
  /** names of the registered native modules */
  modules: string[];
  /** true when the addon was built with nvcc (a CUDA path exists; a GPU may still be absent) */
  cudaCompiled(): boolean;
  /** GPUs the driver shows; [] without a CUDA build, a driver or a device. Never throws for that. */
  gpus(): GpuInfo[];
}

// ---- nf4 (native/src/nf4): bitsandbytes-exact NF4, CPU reference + CUDA twins ----

export type Nf4SourceDtype = 'float32' | 'bfloat16' | 'float16';

/** A weight quantized to NF4 in bitsandbytes' layout (see native/src/nf4/nf4.h). */
export interface Nf4Quantized {
  /** the original tensor's shape, e.g. [out, in] */
  shape: number[];
  /** the original dtype (what dequantization gives back) */
  dtype: Nf4SourceDtype;
  blocksize: number;
  /** (numel+1)/2 bytes; element 2i in the high nibble */
  packed: Uint8Array;
  /** the 16-value NF4 table */
  quantMap: Float32Array;
  /** double quantization of absmax */
  nested: boolean;
  /** !nested: fp32 absmax per block */
  absmax?: Float32Array;
  /** nested: 8-bit absmax codes per block */
  absmaxQ?: Uint8Array;
  /** nested: mean of the absmax values, subtracted before 8-bit quantization */
  offset?: number;
  /** nested: 256 */
  blocksize2?: number;
  /** nested: fp32 scale per block of blocksize2 absmax codes */
  absmax2?: Float32Array;
  /** nested: the 256-value signed dynamic map */
  code2?: Float32Array;
}

export interface Nf4QuantizeOptions {
  /** 64 by default; a power of two up to 4096 */
  blocksize?: number;
  /** double quantization of absmax (transformers' bnb_4bit_use_double_quant); true by default */
  doubleQuant?: boolean;
  /** required for a Uint16Array input (bf16/fp16 bits); float32 for a Float32Array */
  dtype?: Nf4SourceDtype;
}

/** One tensor of a safetensors file: dtype 'U8' | 'F32', raw little-endian bytes. */
export interface RawTensor {
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

export interface Nf4Api {
  /** bitsandbytes quantize_4bit(quant_type='nf4'), bit-exact. */
  nf4Quantize(input: Float32Array | Uint16Array, shape: number[], options?: Nf4QuantizeOptions): Nf4Quantized;
  /** bitsandbytes dequantize_4bit as fp32 (numel values). */
  nf4Dequantize(q: Nf4Quantized): Float32Array;
  /** absmax as fp32 (decodes the double quantization). */
  nf4DecodeAbsmax(q: Nf4Quantized): Float32Array;
  nf4Code(): Float32Array;
  /** bitsandbytes create_dynamic_map(signed=True) */
  nf4DynamicCode(): Float32Array;
  /** torch.mean of an fp32 CUDA tensor, bit-exact (used for the double-quant offset) */
  nf4TorchCudaMean(values: Float32Array): number;
  /** The tensors bitsandbytes/transformers save for this weight, names prefixed ('...q.' -> '...q.weight', ...). */
  nf4ToBnb(q: Nf4Quantized, prefix?: string): Record<string, RawTensor>;
  /** Reads a weight saved 4-bit by transformers/bitsandbytes (needs the '<prefix>weight.quant_state.bitsandbytes__nf4' tensor). */
  nf4FromBnb(tensors: Record<string, RawTensor>, prefix?: string): Nf4Quantized;
  /** The JSON bitsandbytes stores in the quant_state tensor. */
  nf4QuantStateJson(q: Nf4Quantized): string;
}

export interface Nf4CudaMatmulOptions {
  /** false: y[M,N] = alpha·a[M,K]·Wᵀ + beta·c; true: dx[M,K] = alpha·a[M,N]·W + beta·c */
  backward?: boolean;
  out?: 'float32' | 'bfloat16';
  /** 'linear' = linear_xwt/linear_dyw (dequantize to scratch + cuBLAS when cuBLAS opens, else fused); 'auto' (tensor cores when possible) | 'tensor-core' (either tile) | 'tensor-core-64' | 'tensor-core-128' | 'simt' | 'cublas' (dequantize to bf16, then cuBLAS) */
  impl?: 'auto' | 'tensor-core' | 'tensor-core-64' | 'tensor-core-128' | 'tensor-core-128x1' | 'simt' | 'cublas' | 'linear';
  alpha?: number;
  beta?: number;
  /** the prior output (same size and type as the result) for beta != 0 */
  c?: Float32Array | Uint16Array;
}

export interface Nf4CudaBenchResult {
  quantizeMs: number;
  dequantizeBf16Ms: number;
  fusedForwardMs: number;
  fusedBackwardMs: number;
  fusedForwardTflops: number;
  fusedBackwardTflops: number;
  /** forced tile sizes (128 only when the output width is a multiple of 128) */
  fused64ForwardMs: number;
  fused64BackwardMs: number;
  fused128ForwardMs?: number;
  fused128BackwardMs?: number;
  /** 128x128 tiles with one CTA per SM (no register cap), for comparison */
  fused128x1ForwardMs?: number;
  /** linear_xwt / linear_dyw: dequantize to scratch + cuBLAS */
  linearForwardMs?: number;
  linearBackwardMs?: number;
  tensorCore: boolean;
  /** the libcublas path, or 'unavailable: why' */
  cublas: string;
  cublasForwardMs?: number;
  cublasBackwardMs?: number;
  cublasDequantForwardMs?: number;
  cublasForwardTflops?: number;
  forwardRelDiffVsCublas?: number;
  backwardRelDiffVsCublas?: number;
  weightBytesNf4: number;
  weightBytesBf16: number;
}

/** CUDA twins (tests and benchmarks; the engine calls native/src/nf4/nf4_cuda.h). Throw ENGINE_NO_CUDA / ENGINE_NO_GPU when absent. */
export interface Nf4CudaApi {
  /** nf4Quantize computed on the GPU (bit-exact with the CPU). */
  nf4CudaQuantize(input: Float32Array | Uint16Array, shape: number[], options?: Nf4QuantizeOptions): Nf4Quantized;
  nf4CudaDequantize(q: Nf4Quantized): Float32Array;
  /** bf16 bits of the dequantized weight (what bf16 activations' products read) */
  nf4CudaDequantize(q: Nf4Quantized, dtype: 'bfloat16'): Uint16Array;
  /**
   * a: bf16 bits (Uint16Array), row-major -> Float32Array, or Uint16Array (bf16 bits) for out 'bfloat16'.
   * a: Float32Array -> fp32 compute with bitsandbytes' fp32 weights (impl 'linear' (default) or 'simt'), Float32Array.
   */
  nf4CudaMatmul(q: Nf4Quantized, a: Uint16Array | Float32Array, M: number, options?: Nf4CudaMatmulOptions): Float32Array | Uint16Array;
  nf4CudaBench(options: { M: number; N: number; K: number; reps?: number }): Nf4CudaBenchResult;
}

// ---- cuda (native/src/cuda) ----

export interface CudaApi {
  /** whether cuBLAS could be opened at run time ($HUKUK_CUBLAS_DIR, loader path, $CUDA_HOME/lib64, /usr/local/cuda/lib64) */
  cublasInfo(): { available: boolean; path: string; error: string };
  /** test hook (CUDA builds only): C[batch][M][N] = op(A)·op(B) through the loaded cuBLAS, fp32 result */
  _cublasGemm(args: {
    a: Float32Array | Uint16Array; b: Float32Array | Uint16Array; M: number; N: number; K: number;
    aTransposed?: boolean; bTransposed?: boolean; batch?: number;
  }): Float32Array;
}

// ---- generate (native/src/generate) ----

/**
 * Decoding settings, with transformers' `generate` defaults and semantics (transformers 5.x):
 * greedy when numBeams is 1 and doSample false; beam search when numBeams > 1; sampling with doSample.
 */
export interface GenerateOptions {
  /** [batch, srcLen] row-major token ids of the encoder input */
  inputIds: Int32Array;
  /** same shape, 1 = token, 0 = padding; default all ones */
  attentionMask?: Int32Array;
  /** rows in inputIds (default 1) */
  batch?: number;
  /** default 20 */
  maxNewTokens?: number;
  /** eos is impossible until this many tokens were generated (default 0) */
  minNewTokens?: number;
  /** default 1 */
  numBeams?: number;
  /** beam search: a finished hypothesis scores sum(logprob) / generatedLength ** lengthPenalty (default 1) */
  lengthPenalty?: number;
  /** beam search stopping rule, as transformers: false (default, heuristic), true (stop when numBeams are done), 'never' */
  earlyStopping?: boolean | 'never';
  doSample?: boolean;
  /** sampling only (default 1) */
  temperature?: number;
  /** sampling only; 0 = off (default 50, as transformers) */
  topK?: number;
  /** sampling only (default 1 = off) */
  topP?: number;
  /** transformers' RepetitionPenaltyLogitsProcessor (default 1 = off) */
  repetitionPenalty?: number;
  /** default 0 = off */
  noRepeatNgramSize?: number;
  /** sampling RNG seed (default 0); the same seed gives the same tokens (not torch's stream) */
  seed?: number;
  /** defaults: the model config's (T5: eos 1, pad 0, decoder start 0) */
  eosTokenId?: number;
  padTokenId?: number;
  decoderStartTokenId?: number;
  /** false = base model without the LoRA adapter (default true) */
  useAdapter?: boolean;
  /** aborting it cancels the generation (same as the promise's cancel()) */
  signal?: AbortSignal;
}

/**
 * Called for each new token, on the JS thread: greedy/sampling as each step ends (every row still
 * running, eos included); beam search once at the end with the best hypothesis of each row.
 */
export type TokenCallback = (tokenId: number, row: number) => void;

/** A running generation: a Promise with cancel(). Cancelling rejects it with code 'ENGINE_CANCELLED'. */
export type GenerationPromise<T> = Promise<T> & { cancel(): void };

/** Toy decoder for tests (native/src/generate/toy_model.h). */
export interface ToySpec {
  vocab: number;
  seed?: number;
  scale?: number;
  eosBias?: number;
  eosTokenId?: number;
  /** sleep per decoder step, microseconds */
  delayUs?: number;
}

export interface ToyGenerateResult {
  ids: Int32Array;
  batch: number;
  length: number;
  steps: number;
  encoderPasses: number;
  modelSteps: number;
}

export interface GenerateApi {
  /**
   * Generates with a loaded engine.T5Model, off the JS thread: encoder once, then the decoder with
   * its key/value cache. Resolves with the ids [batch, length] row-major, decoder start included
   * (transformers' return value): greedy/sampling rows padded with pad after eos; beam search rows
   * cropped to the longest best hypothesis and filled like transformers (pad, or eos when pad is 0).
   * If onToken throws, generation stops and the promise rejects with that error.
   */
  generate(model: object, opts: GenerateOptions, onToken?: TokenCallback): GenerationPromise<Int32Array>;
  /** test hook: the same search on the toy decoder */
  _generateToy(toy: ToySpec, opts: GenerateOptions, onToken?: TokenCallback): GenerationPromise<ToyGenerateResult>;
  /** test hook: the same search on a decoder whose logits are given per prefix ("0,2" -> logits), else fallback */
  _generateTable(
    spec: { vocab: number; table: Record<string, number[]>; fallback?: number[] },
    opts: GenerateOptions,
    onToken?: TokenCallback,
  ): GenerationPromise<Int32Array>;
  /** test hook: the toy's logits after `prefix` (decoder start first), without a cache */
  _toyLogits(toy: ToySpec, inputIds: Int32Array, attentionMask: Int32Array | null, prefix: Int32Array): Float32Array;
  /** test hook: transformers' logits processors on one row (minKeep: 1 sampling, 2 beam sampling) */
  _processScores(
    scores: Float32Array,
    seq: Int32Array,
    opts: Omit<GenerateOptions, 'inputIds'>,
    minKeep?: number,
  ): Float32Array;
}

// ---- t5 (native/src/t5): T5 + LoRA model, CPU exact reference (transformers + peft) ----

export interface T5LoadOptions {
  /** folder with config.json + model.safetensors (or model.safetensors.index.json + shards) */
  modelDir: string;
  /** 'cuda' is not built yet: load throws ENGINE_UNSUPPORTED */
  device?: 'cpu' | 'cuda';
  /** 'nf4': QLoRA policy, q,k,v,o,wi,wi_0,wi_1 quantized on load (bitsandbytes NF4 + double quant) */
  quant?: 'none' | 'nf4';
  /** also quantize wo (default false) */
  quantizeWo?: boolean;
  /** CUDA only; the CPU always computes in fp32 */
  compute?: 'fp32' | 'bf16';
}

export type LoraTarget = 'q' | 'k' | 'v' | 'o' | 'wi' | 'wi_0' | 'wi_1' | 'wo';

export interface T5LoraOptions {
  r: number;
  /** lora_alpha (default 2r) */
  alpha?: number;
  /** dropout on the input of A, train mode only (default 0) */
  dropout?: number;
  /** default q,k,v,o */
  targets?: LoraTarget[];
  /** restrict to blocks ('SelfAttention' | 'EncDecAttention' | 'DenseReluDense') and/or stacks ('encoder' | 'decoder') */
  modules?: string[];
  /** scaling alpha/sqrt(r) instead of alpha/r */
  rslora?: boolean;
  /** A ~ Kaiming-uniform(a=sqrt(5)) from this seed (our generator, not torch's), B = 0 */
  seed?: number;
}

export interface T5Batch {
  /** [batch, srcLen] */
  inputIds: Int32Array;
  /** [batch, srcLen], 1 = token; default all ones */
  attentionMask?: Int32Array;
  /** [batch, tgtLen], -100 = ignored; the decoder input is shift_right(labels) */
  labels?: Int32Array;
  /** [batch, tgtLen], instead of shifting labels */
  decoderInputIds?: Int32Array;
  batch: number;
  srcLen: number;
  tgtLen: number;
  /** false = base model without the adapter (default true) */
  useAdapter?: boolean;
  /** dropout on (config dropout_rate + LoRA dropout); default false for forward, true for forwardBackward */
  train?: boolean;
  /** seeds the counter-based dropout masks (same seed = same masks) */
  dropoutSeed?: number;
  /** activation recomputation (gradient checkpointing per block) in forwardBackward: much less
   * activation memory for about one more forward of time; CUDA path only (the CPU ignores it) */
  recompute?: boolean;
}

export interface T5Model {
  /** config.json as parsed */
  readonly config: Record<string, unknown> & { vocab_size: number; d_model: number; num_layers: number };
  readonly hasLora: boolean;
  /** replaces any adapter */
  addLora(opts: T5LoraOptions): void;
  /** peft folder: adapter_config.json + adapter_model.safetensors */
  loadAdapter(dir: string): void;
  /** writes peft's format (adapter_config.json fields as peft 0.21 writes them) */
  saveAdapter(dir: string, meta?: { baseModelNameOrPath?: string }): void;
  /** base + scale * B A -> dir/model.safetensors (fp32) + dir/config.json */
  mergeAndSave(dir: string): void;
  /** loss: mean cross-entropy over labels != -100 (NaN without labels); tokens: that count */
  forward(b: T5Batch & { wantLogits?: boolean }): { loss: number; tokens: number; logits?: Float32Array };
  /** ADDS d(mean loss)/d(LoRA params) into the gradient buffers */
  forwardBackward(b: T5Batch): { loss: number; tokens: number };
  zeroGrad(): void;
  /** the trainable tensors, peft key names (…q.lora_A.weight) */
  loraParams(): { name: string; size: number }[];
  /** copies of weights and gradients */
  loraTensors(): { name: string; weight: Float32Array; grad: Float32Array }[];
  /** frees the weights; later calls throw ENGINE_DISPOSED */
  dispose(): void;
}

export interface T5Api {
  T5Model: { load(opts: T5LoadOptions): T5Model };
}

// ---- train (native/src/train): AdamW (torch semantics), global-norm clipping, schedules ----

export interface OptimizerStepOptions {
  lr: number;
  beta1?: number; // 0.9
  beta2?: number; // 0.999
  eps?: number; // 1e-8
  weightDecay?: number; // 0
  /** clip the global gradient norm to this (torch clip_grad_norm_); <= 0 disables */
  maxGradNorm?: number; // 1.0
  /** multiplies the accumulated gradients first (1 / accumulation steps) */
  gradScale?: number; // 1
  /** 1-based number of this update (bias correction) */
  step: number;
}

export interface TrainApi {
  /** scale -> clip -> AdamW over model.loraParams(); gradNorm = the norm before clipping */
  optimizerStep(model: T5Model, opts: OptimizerStepOptions): { gradNorm: number };
  /** copies of the AdamW moments (checkpoints) */
  getOptimizerState(model: T5Model): { name: string; expAvg: Float32Array; expAvgSq: Float32Array }[];
  setOptimizerState(model: T5Model, entries: { name: string; expAvg: Float32Array; expAvgSq: Float32Array }[]): void;
  /** transformers' LambdaLR multiplier for `step` updates done (0 = the first update) */
  lrMultiplier(opts: { schedule: 'linear' | 'constant' | 'constant_with_warmup' | 'cosine'; step: number; warmupSteps?: number; totalSteps: number }): number;
  /** tests: the same step on plain arrays (updated in place); device 'cuda' runs the CUDA twin */
  _adamwTest(
    opts: Omit<OptimizerStepOptions, 'step'> & { step: number; device?: 'cpu' | 'cuda'; params: { w: Float32Array; g: Float32Array; m: Float32Array; v: Float32Array; decay?: boolean }[] },
  ): { gradNorm: number };
}

/** The whole addon. Modules add their interfaces to this intersection. */
export type Engine = SystemApi & Nf4Api & Nf4CudaApi & CudaApi & GenerateApi & T5Api & TrainApi;

/** Loads the addon ($HUKUK_ADDON, native/build/, or beside an Electron asar). Throws code ENGINE_NOT_BUILT. */
export function loadEngine(): Engine;
