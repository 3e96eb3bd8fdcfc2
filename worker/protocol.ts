// The typed messages between main (the supervisor) and the engine worker. Every request has
// an id; the worker answers it with exactly one `response` and may send `event`s for it
// before that (training progress, generated tokens). Plain JSON-able values only: the same
// messages travel over child_process IPC and Electron's utilityProcess port.
import type { AppErrorValue } from '../common/contract/errors';
import type { WorkerSystemInfo } from '../common/contract/system';
import type { TrainRunEvent, TrainRunParams, TrainingResult } from './trainer/handler';
import type { ChatGenerateEvent, ChatGenerateParams, ChatGenerateResult } from './chat/generate';

/**
 * Every method the worker answers: its params, its result and the payload of its events.
 * Add a method here and its handler in worker/engine-worker.ts (the `methods` table).
 */
export interface WorkerMethods {
  'system:info': { params: Record<string, never>; result: WorkerSystemInfo; event: never };
  /** Tests only (honoured when HUKUK_TEST=1): the worker dies the way asked. */
  'debug:crash': { params: { how?: 'exit' | 'abort' | 'throw' | 'kill' }; result: never; event: never };
  /** Tests only: answers after `ms`, sending a tick event every 10 ms; cancellable. */
  'debug:sleep': { params: { ms: number }; result: { slept: number }; event: { tick: number } };
  /** A training run (worker/trainer/handler.ts): metrics, checkpoints and logs as events. */
  'train:run': { params: TrainRunParams; result: TrainingResult; event: TrainRunEvent };
  /** One chat answer (worker/chat/generate.ts) with the warm model; token ids in small batches. */
  'chat:generate': { params: ChatGenerateParams; result: ChatGenerateResult; event: ChatGenerateEvent };
}
export type WorkerMethod = keyof WorkerMethods;
export type ParamsOf<M extends WorkerMethod> = WorkerMethods[M]['params'];
export type ResultOf<M extends WorkerMethod> = WorkerMethods[M]['result'];
export type EventOf<M extends WorkerMethod> = WorkerMethods[M]['event'];

/** main -> worker */
export type ToWorker =
  | { kind: 'request'; id: number; method: WorkerMethod; params: unknown }
  /** Asks the worker to stop the request `id` (its handler sees an aborted AbortSignal). */
  | { kind: 'cancel'; id: number };

/** worker -> main */
export type FromWorker =
  /** Sent once the worker listens; main sends nothing before it. */
  | { kind: 'ready'; pid: number }
  | { kind: 'event'; id: number; payload: unknown }
  | { kind: 'response'; id: number; ok: true; value: unknown }
  | { kind: 'response'; id: number; ok: false; error: AppErrorValue }
  | { kind: 'log'; level: 'info' | 'warn' | 'error'; message: string };

export function isFromWorker(m: unknown): m is FromWorker {
  if (!m || typeof m !== 'object') return false;
  const k = (m as { kind?: unknown }).kind;
  return k === 'ready' || k === 'event' || k === 'response' || k === 'log';
}

export function isToWorker(m: unknown): m is ToWorker {
  if (!m || typeof m !== 'object') return false;
  const { kind, id } = m as { kind?: unknown; id?: unknown };
  return (kind === 'request' || kind === 'cancel') && typeof id === 'number';
}
