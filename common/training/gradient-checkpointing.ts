// Gradient checkpointing (activation recomputation) for a run: the config says 'auto' | 'on' |
// 'off'; this decides what the trainer actually asks of the engine (forwardBackward's
// `recompute` option), and says why, so the run's log and the run form can show it.
//
// 'auto' turns recomputation on only when the run would not fit without it: when the memory
// the run still needs without recomputation (the estimate of common/training/memory-estimate,
// minus what is already allocated), plus a headroom for what the estimate does not count, is
// more than the GPU has free. Recomputing costs time (a second forward per block in the
// backward), so it is never chosen when the run fits. The CPU path ignores the option: there
// it is always off.
import type { TrainingConfig } from './config';
import { estimateTrainingMemory, type MemoryEstimate, type MemoryEstimateInput, type T5ShapeForEstimate } from './memory-estimate';

export const GRADIENT_CHECKPOINTING = ['auto', 'on', 'off'] as const;
export type GradientCheckpointing = (typeof GRADIENT_CHECKPOINTING)[number];

/** Not in the estimate but on the device when a step runs: the cuBLAS workspace and allocator
 * slack (the CUDA context too, when the free figure was taken before the model loaded). */
export const CHECKPOINTING_HEADROOM_BYTES = 1024 ** 3;

export type CheckpointingReason =
  /** the CPU path has no recomputation */
  | 'cpu'
  /** the config says 'on' / 'off' */
  | 'forced_on'
  | 'forced_off'
  /** auto: the run fits without recomputation */
  | 'fits'
  /** auto: it does not fit without it */
  | 'exceeds_free'
  /** auto: the free memory or the estimate is unknown, so nothing justifies the slowdown */
  | 'unknown';

export interface CheckpointingDecision {
  recompute: boolean;
  setting: GradientCheckpointing;
  reason: CheckpointingReason;
  /** auto on cuda: bytes the run still needs without recomputation (estimate), when known */
  neededBytes: number | null;
  /** auto on cuda: bytes free on the GPU, when known */
  freeBytes: number | null;
}

export interface CheckpointingInput {
  setting: GradientCheckpointing;
  device: 'cpu' | 'cuda';
  /** memory the run still needs without recomputation; null when it cannot be estimated */
  neededBytes: number | null;
  /** free GPU memory; null when it cannot be measured */
  freeBytes: number | null;
  headroomBytes?: number;
}

export function resolveGradientCheckpointing(input: CheckpointingInput): CheckpointingDecision {
  const base = { setting: input.setting, neededBytes: null, freeBytes: null };
  if (input.device === 'cpu') return { ...base, recompute: false, reason: 'cpu' };
  if (input.setting === 'on') return { ...base, recompute: true, reason: 'forced_on' };
  if (input.setting === 'off') return { ...base, recompute: false, reason: 'forced_off' };
  const known = (v: number | null): v is number => v !== null && Number.isFinite(v) && v >= 0;
  const neededBytes = known(input.neededBytes) ? input.neededBytes : null;
  const freeBytes = known(input.freeBytes) ? input.freeBytes : null;
  if (neededBytes === null || freeBytes === null) return { ...base, neededBytes, freeBytes, recompute: false, reason: 'unknown' };
  const headroom = input.headroomBytes ?? CHECKPOINTING_HEADROOM_BYTES;
  const over = neededBytes + headroom > freeBytes;
  return { ...base, neededBytes, freeBytes, recompute: over, reason: over ? 'exceeds_free' : 'fits' };
}

const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GiB`;

/** One line for the run's log: what was chosen and why. */
export function describeCheckpointing(d: CheckpointingDecision): string {
  const what = `gradient checkpointing (activation recomputation): ${d.recompute ? 'on' : 'off'}`;
  switch (d.reason) {
    case 'cpu':
      return `${what} (the CPU path does not recompute${d.setting === 'on' ? '; the setting "on" applies to the GPU only' : ''})`;
    case 'forced_on':
    case 'forced_off':
      return `${what} (set to "${d.setting}")`;
    case 'fits':
      return `${what} (auto: needs about ${gib(d.neededBytes ?? 0)} more without it, ${gib(d.freeBytes ?? 0)} free on the GPU)`;
    case 'exceeds_free':
      return `${what} (auto: would need about ${gib(d.neededBytes ?? 0)} more without it, only ${gib(d.freeBytes ?? 0)} free on the GPU)`;
    case 'unknown':
      return `${what} (auto: ${d.freeBytes === null ? 'free GPU memory unknown' : 'no memory estimate for this model'}; set it to "on" if the run runs out of memory)`;
  }
}

/** The memory estimator's input for a run configuration on a model shape. `recompute` is the
 * estimator's switch for activation recomputation (a smaller activation arena). */
export function memoryEstimateInputFor(
  config: Pick<
    TrainingConfig,
    'loraR' | 'targetModules' | 'quantization' | 'quantizeWo' | 'compute' | 'batchSize' | 'maxSourceLength' | 'maxTargetLength' | 'device'
  >,
  model: T5ShapeForEstimate,
  recompute: boolean,
): MemoryEstimateInput & { recompute: boolean } {
  return {
    model,
    lora: { r: config.loraR, targets: config.targetModules },
    quant: config.quantization,
    quantizeWo: config.quantizeWo,
    compute: config.compute,
    batchSize: config.batchSize,
    maxSourceLength: config.maxSourceLength,
    maxTargetLength: config.maxTargetLength,
    device: config.device,
    recompute,
  };
}

export interface PlannedMemory {
  /** the estimate that applies: with recomputation when the decision turns it on */
  shown: MemoryEstimate;
  without: MemoryEstimate;
  /** equals `without` on the CPU (no recomputation there) */
  withRecompute: MemoryEstimate;
  decision: CheckpointingDecision;
}

/** The run form's memory figure: the estimate as gradientCheckpointing will be resolved, 'auto'
 * judged against `gpuMemoryBytes` (the form knows the GPU's total memory; the trainer measures
 * the free memory when the run starts). Throws RangeError as estimateTrainingMemory does. */
export function plannedTrainingMemory(
  config: Pick<TrainingConfig, 'gradientCheckpointing'> & Parameters<typeof memoryEstimateInputFor>[0],
  model: T5ShapeForEstimate,
  gpuMemoryBytes: number | null,
): PlannedMemory {
  const without = estimateTrainingMemory(memoryEstimateInputFor(config, model, false));
  const withRecompute = config.device === 'cuda' ? estimateTrainingMemory(memoryEstimateInputFor(config, model, true)) : without;
  const decision = resolveGradientCheckpointing({
    setting: config.gradientCheckpointing,
    device: config.device,
    neededBytes: without.totalBytes,
    freeBytes: gpuMemoryBytes,
  });
  return { shown: decision.recompute ? withRecompute : without, without, withRecompute, decision };
}
