// THE training configuration: one zod schema with the defaults and the rules, used by the run
// form (renderer), by main when it accepts a run, by the CLI, and by the trainer in the worker.
// Field names follow transformers' TrainingArguments / peft's LoraConfig where one exists, so a
// practitioner recognises them; the stored run config is exactly `TrainingConfig` as parsed.
import { z } from 'zod';
import { GRADIENT_CHECKPOINTING } from './gradient-checkpointing';

export const LORA_TARGETS = ['q', 'k', 'v', 'o', 'wi', 'wi_0', 'wi_1', 'wo'] as const;
export const LoraTargetSchema = z.enum(LORA_TARGETS);
export type LoraTarget = z.infer<typeof LoraTargetSchema>;

export const SCHEDULES = ['linear', 'constant', 'constant_with_warmup', 'cosine'] as const;
export const ScheduleSchema = z.enum(SCHEDULES);

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);

/** The fields with their defaults, without the cross-field rules (presets use it partially). */
export const TrainingConfigFields = z
  .object({
    // ---- where it runs ----
    device: z.enum(['cpu', 'cuda']).default('cpu'),
    /** 'nf4' = QLoRA (attention and wi* weights in 4-bit NF4 with double quantization); 'none' = fp32 base. */
    quantization: z.enum(['nf4', 'none']).default('none'),
    /** Also quantize the feed-forward output projection wo (saves memory, costs a little accuracy). */
    quantizeWo: z.boolean().default(false),
    /** Compute precision of the base on the GPU; the CPU always computes in fp32. */
    compute: z.enum(['fp32', 'bf16']).default('fp32'),
    /** Activation recomputation on the GPU (less memory, slower steps): 'auto' turns it on only
     * when the run would not fit in the GPU's free memory without it (gradient-checkpointing.ts).
     * The CPU ignores it. Optional with a default, so configs stored before it still parse. */
    gradientCheckpointing: z.enum(GRADIENT_CHECKPOINTING).default('auto'),

    // ---- LoRA (peft LoraConfig) ----
    loraR: int(1, 1024).default(16),
    loraAlpha: z.number().positive().max(10_000).default(32),
    loraDropout: z.number().min(0).lt(1).default(0.05),
    targetModules: z.array(LoraTargetSchema).min(1).default(['q', 'k', 'v', 'o']),
    useRslora: z.boolean().default(false),

    // ---- optimization (torch AdamW + transformers schedules) ----
    learningRate: z.number().positive().max(1).default(2e-4),
    weightDecay: z.number().min(0).max(1).default(0),
    adamBeta1: z.number().min(0).lt(1).default(0.9),
    adamBeta2: z.number().min(0).lt(1).default(0.999),
    adamEpsilon: z.number().positive().max(1).default(1e-8),
    /** Clip the global gradient norm to this; 0 disables clipping. */
    maxGradNorm: z.number().min(0).default(1.0),
    lrScheduler: ScheduleSchema.default('linear'),
    /** Warm-up updates; when 0, warmupRatio * total updates (rounded up) is used. */
    warmupSteps: int(0).default(0),
    warmupRatio: z.number().min(0).lt(1).default(0),

    // ---- batches and length ----
    batchSize: int(1, 4096).default(16),
    gradientAccumulationSteps: int(1, 1024).default(1),
    /** Longer inputs/targets are truncated (the final </s> is kept). */
    maxSourceLength: int(2, 8192).default(64),
    maxTargetLength: int(2, 8192).default(128),
    /** Batches of similar length (transformers' group_by_length: shuffled megabatches sorted by length). */
    groupByLength: z.boolean().default(true),

    // ---- how long ----
    numEpochs: z.number().positive().max(10_000).default(3),
    /** When > 0, stop after this many optimizer updates (overrides numEpochs). */
    maxSteps: int(0).default(0),

    // ---- evaluation, logging, checkpoints ----
    /** Validation loss every N updates (and at the end); 0 = only at the end. */
    evalEvery: int(0).default(100),
    evalBatchSize: int(1, 4096).default(32),
    /** Cap on validation rows used for the periodic evaluation (0 = all). */
    maxEvalSamples: int(0).default(0),
    /** A resumable checkpoint every N updates; 0 = none (the final adapter is always written). */
    checkpointEvery: int(0).default(500),
    /** Keep only the newest N checkpoints (0 = keep all). */
    keepCheckpoints: int(0).default(2),
    /** Fraction of the data held out for validation when the dataset has no validation split. */
    validationRatio: z.number().min(0).lt(1).default(0.1),
    seed: int(0, 2 ** 32 - 1).default(42),
  })
  .strict();

export const TrainingConfigSchema = TrainingConfigFields.superRefine((c, ctx) => {
    if (c.compute === 'bf16' && c.device === 'cpu') {
      ctx.addIssue({ code: 'custom', path: ['compute'], message: 'bf16 compute needs the GPU (device cuda); the CPU computes in fp32' });
    }
    if (new Set(c.targetModules).size !== c.targetModules.length) {
      ctx.addIssue({ code: 'custom', path: ['targetModules'], message: 'a target module is listed twice' });
    }
    if (c.quantizeWo && c.quantization !== 'nf4') {
      ctx.addIssue({ code: 'custom', path: ['quantizeWo'], message: 'quantizing wo needs quantization nf4' });
    }
    if (c.warmupSteps > 0 && c.maxSteps > 0 && c.warmupSteps >= c.maxSteps) {
      ctx.addIssue({ code: 'custom', path: ['warmupSteps'], message: 'warm-up must be shorter than maxSteps' });
    }
  });

/** What a form or preset may give (everything optional). */
export type TrainingConfigInput = z.input<typeof TrainingConfigSchema>;
/** What the trainer receives (every default filled in). */
export type TrainingConfig = z.output<typeof TrainingConfigSchema>;

export const DEFAULT_TRAINING_CONFIG: TrainingConfig = TrainingConfigSchema.parse({});

/** A named preset file (resources/presets/<name>.json). */
export const TrainingPresetSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9-]+$/),
    title: z.object({ en: z.string(), tr: z.string() }),
    description: z.object({ en: z.string(), tr: z.string() }),
    /** Only the fields the preset sets; validated again as a whole after merging. */
    config: TrainingConfigFields.partial(),
  })
  .strict();
export type TrainingPreset = z.infer<typeof TrainingPresetSchema>;

/** Preset, then user overrides, validated as a whole (later keys win). */
export function resolveTrainingConfig(...layers: (TrainingConfigInput | undefined)[]): TrainingConfig {
  const merged: Record<string, unknown> = {};
  for (const l of layers) {
    if (!l) continue;
    for (const [k, v] of Object.entries(l)) if (v !== undefined) merged[k] = v;
  }
  return TrainingConfigSchema.parse(merged);
}

/** The LoRA scaling peft applies: alpha / r, or alpha / sqrt(r) with rsLoRA. */
export function loraScaling(c: Pick<TrainingConfig, 'loraAlpha' | 'loraR' | 'useRslora'>): number {
  return c.useRslora ? c.loraAlpha / Math.sqrt(c.loraR) : c.loraAlpha / c.loraR;
}

/** Optimizer updates per epoch and in total (transformers: ceil of micro-batches / accumulation). */
export function plannedSteps(
  c: Pick<TrainingConfig, 'batchSize' | 'gradientAccumulationSteps' | 'numEpochs' | 'maxSteps'>,
  trainRows: number,
): { microBatchesPerEpoch: number; updatesPerEpoch: number; totalUpdates: number } {
  const microBatchesPerEpoch = Math.ceil(trainRows / c.batchSize);
  const updatesPerEpoch = Math.max(1, Math.ceil(microBatchesPerEpoch / c.gradientAccumulationSteps));
  const totalUpdates = c.maxSteps > 0 ? c.maxSteps : Math.max(1, Math.ceil(updatesPerEpoch * c.numEpochs));
  return { microBatchesPerEpoch, updatesPerEpoch, totalUpdates };
}

/** Warm-up updates as transformers computes them (warmup_steps wins over ceil(ratio * total)). */
export function warmupUpdates(c: Pick<TrainingConfig, 'warmupSteps' | 'warmupRatio'>, totalUpdates: number): number {
  return c.warmupSteps > 0 ? c.warmupSteps : Math.ceil(totalUpdates * c.warmupRatio);
}
