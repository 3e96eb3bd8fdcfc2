// The engine worker's `train:run` method: what the supervisor asks for a training run, the
// events it gets back, and the handler. Register it in worker/engine-worker.ts:
//
//   // worker/protocol.ts, in WorkerMethods:
//   'train:run': { params: TrainRunParams; result: TrainingResult; event: TrainRunEvent };
//   // worker/engine-worker.ts, in methods:
//   'train:run': (params, { signal, emit }) => handleTrainRun(params, { signal, emit }),
//   // main, with RunJobs:
//   runJobs.run({ runId, method: 'train:run', params, toMetrics: trainEventMetricPoints })
//
// Data comes either as the importer's tokenized cache file (main/io/datasets/cache.ts: the
// worker reads it from disk, so thousands of rows do not cross the IPC channel) or inline.
// A cancelled run ends with AppError('cancelled') so RunJobs records it as cancelled; the
// other failures carry codes the UI can explain.
import { readFileSync } from 'node:fs';
import { AppError } from '../../common/contract/errors';
import { cachedRow, decodeTokenizedCache } from '../../common/datasets/cache-format';
import type { TokenizedExample } from '../../common/training/batching';
import { TrainingConfigSchema, type TrainingConfigInput } from '../../common/training/config';
import type { TrainerMetric } from '../../common/training/metrics';
import { runTraining, TrainingError, type TrainingResult } from './run-training';
import type { TrainEngine } from './engine-api';

export type TrainRunData =
  /** the tokenized cache file and which of its splits to use */
  | { kind: 'cache'; file: string; trainSplit: string; validationSplit?: string }
  | { kind: 'inline'; train: { inputIds: number[]; labels: number[] }[]; validation: { inputIds: number[]; labels: number[] }[] };

export interface TrainRunParams {
  /** validated again here with the one schema (common/training/config.ts) */
  config: TrainingConfigInput;
  modelDir: string;
  outputDir: string;
  baseModelName?: string;
  resumeFrom?: string;
  data: TrainRunData;
}

export type TrainRunEvent =
  | { type: 'metrics'; metrics: TrainerMetric[] }
  | { type: 'checkpoint'; step: number; dir: string }
  | { type: 'log'; message: string };

export type { TrainingResult };

function examplesFromCache(file: string, split: string): TokenizedExample[] {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch (e) {
    throw new AppError('not_found', `Cannot read the tokenized dataset ${file}: ${(e as Error).message}`);
  }
  const cache = decodeTokenizedCache(bytes);
  const s = cache.splits[split];
  if (!s) throw new AppError('not_found', `The tokenized dataset has no '${split}' split (has: ${Object.keys(cache.splits).join(', ')}).`);
  return Array.from({ length: s.rows }, (_, r) => {
    const row = cachedRow(s, r);
    return { inputIds: row.input, labels: row.target };
  });
}

function loadData(d: TrainRunData): { train: TokenizedExample[]; validation: TokenizedExample[] } {
  if (d.kind === 'inline') return { train: d.train, validation: d.validation };
  return {
    train: examplesFromCache(d.file, d.trainSplit),
    validation: d.validationSplit ? examplesFromCache(d.file, d.validationSplit) : [],
  };
}

/** Engine errors (JS Errors with .code 'ENGINE_*') and trainer errors as AppErrors. */
export function trainingErrorToAppError(e: unknown): AppError {
  if (e instanceof AppError) return e;
  if (e instanceof TrainingError) {
    const code = e.code === 'bad_checkpoint' ? 'corrupt_file' : e.code === 'no_data' ? 'invalid_payload' : 'engine_error';
    return new AppError(code, e.message);
  }
  const err = e as { code?: unknown; message?: unknown; where?: unknown; stack?: unknown };
  const message = typeof err?.message === 'string' ? err.message : String(e);
  const details = [typeof err?.where === 'string' ? `at ${err.where}` : '', typeof err?.stack === 'string' ? err.stack : '']
    .filter(Boolean)
    .join('\n');
  if (err?.code === 'ENGINE_OOM') return new AppError('out_of_memory', message, details || undefined);
  if (typeof err?.code === 'string' && err.code.startsWith('ENGINE_')) return new AppError('engine_error', message, details || undefined);
  return new AppError('internal', message, details || undefined);
}

export async function handleTrainRun(
  params: TrainRunParams,
  ctx: { signal: AbortSignal; emit: (e: TrainRunEvent) => void; engine?: TrainEngine },
): Promise<TrainingResult> {
  const parsed = TrainingConfigSchema.safeParse(params.config);
  if (!parsed.success) {
    throw new AppError('invalid_payload', `The training configuration is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  let result: TrainingResult;
  try {
    result = await runTraining(parsed.data, loadData(params.data), {
      modelDir: params.modelDir,
      outputDir: params.outputDir,
      baseModelName: params.baseModelName,
      resumeFrom: params.resumeFrom,
      signal: ctx.signal,
      engine: ctx.engine,
      onMetrics: (metrics) => ctx.emit({ type: 'metrics', metrics }),
      onCheckpoint: (c) => ctx.emit({ type: 'checkpoint', ...c }),
      onLog: (message) => ctx.emit({ type: 'log', message }),
    });
  } catch (e) {
    throw trainingErrorToAppError(e);
  }
  if (result.status === 'cancelled') {
    throw new AppError(
      'cancelled',
      `Training was cancelled at update ${result.steps} of ${result.totalUpdates}.`,
      result.lastCheckpoint ? `last checkpoint: ${result.lastCheckpoint}` : undefined,
    );
  }
  return result;
}
