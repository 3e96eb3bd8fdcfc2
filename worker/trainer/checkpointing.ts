// What the trainer asks of the engine for gradient checkpointing: the config's 'auto' | 'on' |
// 'off' resolved (common/training/gradient-checkpointing.ts) against this model and this GPU.
// Measured after the model is loaded and its adapter added, so the free figure already has the
// weights, the LoRA state and the CUDA context taken out: what the run still needs is the
// estimate minus what the model holds now (its arena grows on the first step).
import {
  memoryEstimateInputFor,
  resolveGradientCheckpointing,
  type CheckpointingDecision,
} from '../../common/training/gradient-checkpointing';
import type { TrainingConfig } from '../../common/training/config';
import { estimateTrainingMemory, modelShapeFromConfig } from '../../common/training/memory-estimate';
import type { T5ModelHandle, TrainEngine } from './engine-api';

export function decideCheckpointing(
  config: Pick<TrainingConfig, 'gradientCheckpointing' | 'device'> & Parameters<typeof memoryEstimateInputFor>[0],
  model: T5ModelHandle,
  engine: Pick<TrainEngine, 't5CudaMemory'>,
): CheckpointingDecision {
  const setting = config.gradientCheckpointing;
  if (config.device !== 'cuda' || setting !== 'auto') {
    return resolveGradientCheckpointing({ setting, device: config.device, neededBytes: null, freeBytes: null });
  }
  let neededBytes: number | null = null;
  let freeBytes: number | null = null;
  const shape = model.config ? modelShapeFromConfig(model.config) : null;
  let estimateBytes: number | null = null;
  if (shape) {
    try {
      // HUKUK_T5_FLASH=0 makes the engine keep the unfused attention's probabilities: count them.
      const flashOff = process.env.HUKUK_T5_FLASH === '0' ? { flash: false } : {};
      estimateBytes = estimateTrainingMemory({ ...memoryEstimateInputFor(config, shape, false), ...flashOff }).totalBytes;
    } catch {
      estimateBytes = null; // a shape field out of range: treated as unknown
    }
  }
  let held = 0;
  try {
    const mem = engine.t5CudaMemory?.(model);
    if (mem && mem.deviceTotal !== undefined && mem.deviceUsed !== undefined) {
      freeBytes = Math.max(0, mem.deviceTotal - mem.deviceUsed);
      held = mem.weights + mem.lora + mem.arena;
    }
  } catch {
    freeBytes = null; // an addon without the CUDA memory counters
  }
  if (estimateBytes !== null) neededBytes = Math.max(0, estimateBytes - held);
  return resolveGradientCheckpointing({ setting, device: config.device, neededBytes, freeBytes });
}
