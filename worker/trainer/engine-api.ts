// The parts of the engine addon the trainer uses, typed here so the trainer does not depend on
// how other modules declare themselves in native/index.d.ts. The T5 model interface is the
// engine engineer's (native/src/t5); the optimizer and schedule functions are native/src/train.
import { loadEngineAddon } from '../engine-loader';

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** <= 0 disables clipping */
  maxGradNorm?: number;
  /** multiplies the accumulated gradients before clipping (1 / accumulation steps) */
  gradScale?: number;
  /** 1-based number of this update (AdamW bias correction) */
  step: number;
}

export interface AdamWTestParam {
  w: Float32Array;
  g: Float32Array;
  m: Float32Array;
  v: Float32Array;
  decay?: boolean;
}

export type ScheduleName = 'linear' | 'constant' | 'constant_with_warmup' | 'cosine';

export interface OptimizerStateEntry {
  name: string;
  expAvg: Float32Array;
  expAvgSq: Float32Array;
}

export interface T5Batch {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  labels: Int32Array;
  batch: number;
  srcLen: number;
  tgtLen: number;
}

export interface StepOptions {
  train: boolean;
  dropoutSeed?: number;
  /** activation recomputation (gradient checkpointing) on the CUDA path; the CPU ignores it */
  recompute?: boolean;
}

/** engine.t5CudaMemory(model), bytes: what a CUDA model holds and what the device has in use. */
export interface T5CudaMemory {
  weights: number;
  lora: number;
  /** high-water mark of the activation arena allocated so far */
  arena: number;
  /** this shape's arena plan */
  arenaPlan: number;
  deviceUsed?: number;
  deviceTotal?: number;
}

export interface T5ModelHandle {
  addLora(opts: { r: number; alpha: number; dropout: number; targets: string[]; rslora?: boolean; seed?: number }): unknown;
  forward(batch: T5Batch & { wantLogits?: boolean }): { loss: number; tokens?: number; logits?: Float32Array };
  /** the step's options ride in the batch object, as native/src/t5/t5_napi.cpp reads them */
  forwardBackward(batch: T5Batch & StepOptions): { loss: number; tokens: number };
  zeroGrad(): void;
  saveAdapter(dir: string, meta?: { baseModelNameOrPath?: string }): void;
  loadAdapter(dir: string): void;
  loraParams?(): unknown;
  config?: Record<string, unknown>;
  /** frees the model's memory now (the object is unusable afterwards) */
  dispose?(): void;
}

/** The addon's test-only AdamW on host arrays: exported only when HUKUK_ENGINE_TEST_HOOKS=1 is
 * set at load (tests and benchmarks set it; the app never does), so it is not part of TrainEngine. */
export interface TrainEngineTestHooks {
  _adamwTest(opts: Omit<AdamWOptions, 'step'> & { step: number; params: AdamWTestParam[] }): { gradNorm: number };
}

export interface TrainEngine {
  lrMultiplier(opts: { schedule: ScheduleName; step: number; warmupSteps?: number; totalSteps: number }): number;
  optimizerStep(model: T5ModelHandle, opts: AdamWOptions): { gradNorm: number };
  getOptimizerState(model: T5ModelHandle): OptimizerStateEntry[];
  setOptimizerState(model: T5ModelHandle, entries: OptimizerStateEntry[]): void;
  /** CUDA builds (native/src/t5/cuda); throws for a model on the CPU */
  t5CudaMemory?(model: T5ModelHandle): T5CudaMemory;
  T5Model: {
    load(opts: { modelDir: string; device?: 'cpu' | 'cuda'; quant?: 'none' | 'nf4'; quantizeWo?: boolean; compute?: 'fp32' | 'bf16' }): T5ModelHandle;
  };
}

// OpenMP's default spin-waiting makes every parallel region crawl when the cores are shared
// (other apps, other jobs): measured 4 s instead of 0.3 s per tiny-T5 step on a loaded 2-core
// machine. Passive waiting costs nothing when the machine is idle. libgomp reads it once, when
// the addon is first loaded, so it is set when this module is imported (the engine worker
// imports the trainer at start-up, before it loads the addon for anything).
process.env.OMP_WAIT_POLICY ??= 'passive';

/** Loads the addon through native/index.cjs (which honours $HUKUK_ADDON). */
export function loadTrainEngine(): TrainEngine {
  const engine = loadEngineAddon<TrainEngine & { modules?: string[] }>();
  if (typeof engine.optimizerStep !== 'function' || typeof engine.lrMultiplier !== 'function') {
    const err = new Error(
      `The engine addon has no trainer (native/src/train); it was built with modules [${(engine.modules ?? []).join(', ')}]. ` +
        'Rebuild it in full with `npm run build:native` (HUKUK_MODULES builds only a part).',
    ) as Error & { code: string };
    err.code = 'ENGINE_NOT_BUILT';
    throw err;
  }
  return engine;
}
