// Training runs as the UI sees them. Times are milliseconds since the epoch.
import { z } from 'zod';
import { TrainingConfigSchema } from '../training/config';

export const RunStatusSchema = z.enum(['queued', 'running', 'completed', 'failed', 'cancelled']);
export type RunStatus = z.infer<typeof RunStatusSchema>;

export const RunSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  modelId: z.number().int().nullable(),
  datasetId: z.number().int().nullable(),
  /** The run's full configuration (preset + overrides), as the trainer received it. */
  config: z.record(z.string(), z.unknown()),
  device: z.string().nullable(),
  status: RunStatusSchema,
  /** The run's folder under <data>/runs/ (checkpoints, adapter, worker.log). */
  dir: z.string().nullable(),
  createdAt: z.number(),
  startedAt: z.number().nullable(),
  finishedAt: z.number().nullable(),
  error: z.string().nullable(),
});
export type Run = z.infer<typeof RunSchema>;

export const MetricPointSchema = z.object({
  step: z.number().int(),
  /** 'train' | 'validation' | 'test' (free text so the trainer can add e.g. 'eval-bleu') */
  split: z.string(),
  name: z.string(),
  value: z.number(),
});
export type MetricPoint = z.infer<typeof MetricPointSchema>;

export const RunIdRequest = z.object({ id: z.number().int().positive() }).strict();

export const RunsListRequest = z
  .object({
    status: RunStatusSchema.optional(),
    limit: z.number().int().positive().max(10_000).optional(),
  })
  .strict();

export const RunMetricsRequest = z
  .object({
    runId: z.number().int().positive(),
    /** Only points after this step (for incremental charts). */
    afterStep: z.number().int().optional(),
    names: z.array(z.string()).optional(),
  })
  .strict();

/** Pushed while runs train: batches of points, never one message per value. */
export const RunMetricsEvent = z.array(MetricPointSchema.extend({ runId: z.number().int() }));
export const RunStatusEvent = z.array(
  z.object({ runId: z.number().int(), status: RunStatusSchema, error: z.string().nullable() }),
);

// ---- starting, stopping, deleting and comparing runs (the runs + chat wiring) ----

/**
 * A new run: a base model, a dataset and the training configuration, validated by the one
 * schema (common/training/config.ts) the trainer and the form use. `device` wins over
 * config.device. The run starts at once, or waits in the queue behind the running one.
 */
export const RunsCreateRequest = z
  .object({
    name: z.string().trim().min(1).max(200),
    modelId: z.number().int().positive(),
    datasetId: z.number().int().positive(),
    config: TrainingConfigSchema,
    device: z.enum(['cpu', 'cuda']).optional(),
  })
  .strict();

export const RunsCancelResponse = z.object({ cancelled: z.boolean() });
export const RunsDeleteResponse = z.object({ deleted: z.boolean(), removedFiles: z.boolean() });

/** Several runs' curves on one chart (same names, same steps axis). */
export const RunsCompareRequest = z
  .object({
    runIds: z.array(z.number().int().positive()).min(1).max(12),
    names: z.array(z.string()).optional(),
  })
  .strict();
export const RunsCompareResponse = z.array(
  z.object({ runId: z.number().int(), name: z.string(), status: RunStatusSchema, points: z.array(MetricPointSchema) }),
);
