// What the trainer reports while it runs. Delivered in small batches (never one message per
// value); main turns them into MetricPoint rows (common/contract/runs.ts) with toMetricPoints.
import { z } from 'zod';

export const TrainMetricSchema = z.object({
  kind: z.literal('train'),
  /** optimizer updates done (1-based) */
  step: z.number().int(),
  /** fractional epoch */
  epoch: z.number(),
  /** mean loss of the micro-batches of this update */
  loss: z.number(),
  /** learning rate used for this update */
  lr: z.number(),
  /** global gradient norm before clipping */
  gradNorm: z.number(),
  /** real (non-padding) source + target tokens per second in this update */
  tokensPerSec: z.number(),
  samplesPerSec: z.number(),
  /** wall-clock time of the update in milliseconds */
  stepMs: z.number(),
  at: z.number(),
  /** on the first update the trainer reports: whether the steps recompute activations
   * (gradientCheckpointing as resolved for this run) */
  recompute: z.boolean().optional(),
});
export const EvalMetricSchema = z.object({
  kind: z.literal('eval'),
  step: z.number().int(),
  epoch: z.number(),
  /** token-weighted mean cross-entropy on the validation rows, no dropout */
  evalLoss: z.number(),
  evalSamples: z.number().int(),
  evalMs: z.number(),
  at: z.number(),
});
export const TrainerMetricSchema = z.discriminatedUnion('kind', [TrainMetricSchema, EvalMetricSchema]);
export type TrainMetric = z.infer<typeof TrainMetricSchema>;
export type EvalMetric = z.infer<typeof EvalMetricSchema>;
export type TrainerMetric = z.infer<typeof TrainerMetricSchema>;

/** Flattens trainer metrics into the store's (step, split, name, value) points. */
export function toMetricPoints(ms: readonly TrainerMetric[]): { step: number; split: string; name: string; value: number }[] {
  const out: { step: number; split: string; name: string; value: number }[] = [];
  for (const m of ms) {
    if (m.kind === 'train') {
      for (const name of ['loss', 'lr', 'gradNorm', 'tokensPerSec', 'samplesPerSec', 'epoch'] as const) {
        out.push({ step: m.step, split: 'train', name, value: m[name] });
      }
      if (m.recompute !== undefined) out.push({ step: m.step, split: 'train', name: 'recompute', value: m.recompute ? 1 : 0 });
    } else {
      out.push({ step: m.step, split: 'validation', name: 'loss', value: m.evalLoss });
    }
  }
  return out;
}

/** For main's RunJobs.toMetrics: the points in a `train:run` worker event (others give none). */
export function trainEventMetricPoints(e: { type: string; metrics?: readonly TrainerMetric[] }): { step: number; split: string; name: string; value: number }[] {
  return e.type === 'metrics' && e.metrics ? toMetricPoints(e.metrics) : [];
}
