// The engine worker's `chat:generate` method: one answer from a T5 base model (+ a LoRA
// adapter), token ids streamed back in small batches. The worker keeps ONE model warm: loading
// the flagship takes seconds, so it stays loaded while the same model + adapter is asked again
// and is replaced (the old one disposed) when another is asked. Main decodes the ids into text
// (it has the tokenizer) and stores the message; the worker never touches SQLite.
//
// A run trained on the GPU is chatted with as it was trained: device 'cuda' with its base
// quantization (QLoRA: NF4 base weights) and compute, so the answer decodes on the GPU (the engine's CUDA
// step model) and the base takes a quarter of the memory. Where the engine sees no usable GPU
// (a CPU-only build, no device, the run moved to another machine) the same chat runs on the CPU,
// still on the base as the run quantized it (the CPU engine computes NF4 exactly as the GPU does).
import { AppError } from '../../common/contract/errors';
import type { GenerationOptions } from '../../common/contract/chat';
import { trainingErrorToAppError } from '../trainer/handler';
import { loadEngineAddon } from '../engine-loader';

export interface ChatGenerateParams {
  /** base model folder (config.json + model.safetensors) */
  modelDir: string;
  /** peft adapter folder, or null for the base model alone */
  adapterDir: string | null;
  device: 'cpu' | 'cuda';
  /** the base quantization the run trained with (default 'none'), on either device */
  quant?: 'none' | 'nf4';
  /** the run also quantized wo (default false) */
  quantizeWo?: boolean;
  /** CUDA compute precision of the encoder pass, the run's (default 'fp32', the training default;
   * 'bf16' falls back to fp32 on GPUs before sm_80). The decoder steps always run in fp32. */
  compute?: 'fp32' | 'bf16';
  /** the encoder input (eos included) */
  inputIds: number[];
  options: GenerationOptions;
  /** how often to send the ids collected so far (default 50 ms) */
  flushMs?: number;
}

/** New token ids since the last event (eos included when it came). */
export type ChatGenerateEvent = { ids: number[] };

export interface ChatGenerateResult {
  /** generated ids, decoder start and padding removed */
  ids: number[];
  ms: number;
  /** true when the model had to be loaded for this answer */
  loaded: boolean;
}

interface GenModel {
  loadAdapter(dir: string): void;
  dispose?(): void;
  config?: Record<string, unknown>;
}
export interface ChatLoadOptions {
  modelDir: string;
  device: 'cpu' | 'cuda';
  quant?: 'none' | 'nf4';
  quantizeWo?: boolean;
  compute?: 'fp32' | 'bf16';
}
interface GenEngine {
  T5Model?: { load(opts: ChatLoadOptions): GenModel };
  cudaCompiled?(): boolean;
  gpus?(): { computeCapability?: string }[];
  generate(model: object, opts: Record<string, unknown>, onToken?: (id: number, row: number) => void): Promise<Int32Array> & { cancel(): void };
}

function loadGenEngine(): GenEngine {
  return loadEngineAddon<GenEngine>();
}

let engine: GenEngine | undefined;
let warm: { key: string; model: GenModel } | undefined;

/**
 * How the base is loaded for a chat: as the run trained it. Its quantization always (the adapter
 * was learned on top of the NF4 base, so an fp32 base would answer differently from the model the
 * run evaluated); on CUDA with its compute where the engine has a usable GPU, else on the CPU.
 */
export function chatLoadOptions(
  p: Pick<ChatGenerateParams, 'modelDir' | 'device' | 'quant' | 'quantizeWo' | 'compute'>,
  e: Pick<GenEngine, 'cudaCompiled' | 'gpus'>,
): ChatLoadOptions {
  const gpus = p.device === 'cuda' && e.cudaCompiled?.() ? (e.gpus?.() ?? []) : [];
  const quant = p.quant ?? 'none';
  if (gpus.length === 0) return { modelDir: p.modelDir, device: 'cpu', quant, quantizeWo: quant === 'nf4' && p.quantizeWo === true };
  const major = Number((gpus[0].computeCapability ?? '0').split('.')[0]);
  const compute = p.compute === 'bf16' && major >= 8 ? 'bf16' : 'fp32';
  return { modelDir: p.modelDir, device: 'cuda', quant, quantizeWo: quant === 'nf4' && p.quantizeWo === true, compute };
}

/** The warm model for (model, adapter, load options), loading it (and freeing the previous one) if needed. */
function warmModel(p: ChatGenerateParams): { model: GenModel; loaded: boolean } {
  engine ??= loadGenEngine();
  const opts = chatLoadOptions(p, engine);
  const key = JSON.stringify([p.adapterDir, opts]);
  if (warm?.key === key) return { model: warm.model, loaded: false };
  if (!engine.T5Model) throw new AppError('unsupported', 'This build of the engine addon has no T5 model (native/src/t5).');
  // A running generation holds its own reference to the native model, so disposing is safe.
  warm?.model.dispose?.();
  warm = undefined;
  const model = engine.T5Model.load(opts);
  try {
    if (p.adapterDir) model.loadAdapter(p.adapterDir);
  } catch (e) {
    model.dispose?.();
    throw e;
  }
  warm = { key, model };
  return { model, loaded: true };
}

/** Frees the warm model (tests; a training run that needs the memory). */
export function releaseWarmModel(): void {
  warm?.model.dispose?.();
  warm = undefined;
}

function engineOptions(o: GenerationOptions): Record<string, unknown> {
  const common = { maxNewTokens: o.maxNewTokens, minNewTokens: o.minNewTokens, repetitionPenalty: o.repetitionPenalty, noRepeatNgramSize: o.noRepeatNgramSize };
  if (o.mode === 'beam') return { ...common, numBeams: o.numBeams, earlyStopping: true };
  if (o.mode === 'sampling') return { ...common, doSample: true, temperature: o.temperature, topK: o.topK, topP: o.topP, seed: o.seed };
  return common;
}

export async function handleChatGenerate(
  p: ChatGenerateParams,
  ctx: { signal: AbortSignal; emit: (e: ChatGenerateEvent) => void },
): Promise<ChatGenerateResult> {
  if (p.inputIds.length === 0) throw new AppError('invalid_payload', 'The question is empty after tokenization.');
  const t0 = Date.now();
  let model: GenModel;
  let loaded: boolean;
  try {
    ({ model, loaded } = warmModel(p));
  } catch (e) {
    throw trainingErrorToAppError(e);
  }
  if (ctx.signal.aborted) throw new AppError('cancelled', 'The answer was cancelled.');
  const eos = typeof model.config?.eos_token_id === 'number' ? model.config.eos_token_id : 1;
  const pad = typeof model.config?.pad_token_id === 'number' ? model.config.pad_token_id : 0;
  const flushMs = p.flushMs ?? 50;
  let pending: number[] = [];
  let last = Date.now();
  const flush = () => {
    if (pending.length) ctx.emit({ ids: pending });
    pending = [];
    last = Date.now();
  };
  const gen = engine!.generate(
    model,
    { inputIds: Int32Array.from(p.inputIds), ...engineOptions(p.options), signal: ctx.signal },
    (id) => {
      pending.push(id);
      if (Date.now() - last >= flushMs) flush();
    },
  );
  let out: Int32Array;
  try {
    out = await gen;
  } catch (e) {
    flush();
    if ((e as { code?: unknown }).code === 'ENGINE_CANCELLED' || ctx.signal.aborted) throw new AppError('cancelled', 'The answer was cancelled.');
    throw trainingErrorToAppError(e);
  }
  flush();
  // [1, length] with the decoder start first; cut at eos, drop padding.
  const ids: number[] = [];
  for (let i = 1; i < out.length; i++) {
    if (out[i] === eos) break;
    if (out[i] !== pad) ids.push(out[i]);
  }
  return { ids, ms: Date.now() - t0, loaded };
}
