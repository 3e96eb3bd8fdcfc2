// The life of a run as main records it, around a long request to the engine worker:
// queued -> running -> completed | failed | cancelled, metric batches written in one
// transaction each and pushed to every UI, cancellation by run id. The worker only reports;
// everything durable happens here. (If the worker dies, the supervisor's onJobLost has
// already marked the run failed; the final update below then changes nothing.)
import { AppError, toErrorValue } from '../../common/contract/errors';
import type { MetricPoint, RunStatus } from '../../common/contract/runs';
import type { EventOf, ParamsOf, ResultOf, WorkerMethod } from '../../worker/protocol';
import { getRun, insertMetrics, updateRunStatus } from '../store/repositories';
import type { AppServices } from '../services';

export interface RunJobOptions<M extends WorkerMethod> {
  runId: number;
  method: M;
  params: ParamsOf<M>;
  /** Turns one worker event into metric points to store (return [] for other events). */
  toMetrics?: (event: EventOf<M>) => MetricPoint[];
  /** Every worker event, after its metrics were stored (logs, checkpoints, tokens). */
  onEvent?: (event: EventOf<M>) => void;
}

export class RunJobs {
  private running = new Map<number, AbortController>();

  constructor(private readonly services: Pick<AppServices, 'db' | 'events' | 'supervisor'>) {}

  isRunning(runId: number): boolean {
    return this.running.has(runId);
  }

  /** Asks the worker to stop the run; the run ends 'cancelled'. */
  cancel(runId: number): boolean {
    const c = this.running.get(runId);
    c?.abort();
    return Boolean(c);
  }

  async run<M extends WorkerMethod>(opts: RunJobOptions<M>): Promise<ResultOf<M>> {
    const { db, events, supervisor } = this.services;
    const { runId } = opts;
    if (this.running.has(runId)) throw new AppError('conflict', `Run ${runId} is already running.`);
    const run = getRun(db, runId);
    if (run.status !== 'queued') throw new AppError('conflict', `Run ${runId} is ${run.status}, not queued.`);

    const abort = new AbortController();
    this.running.set(runId, abort);
    const setStatus = (status: RunStatus, error: string | null = null) => {
      if (updateRunStatus(db, runId, status, error)) events.emit('runs:status', [{ runId, status, error }]);
    };
    setStatus('running');
    try {
      const result = await supervisor.request(opts.method, opts.params, {
        runId,
        timeoutMs: 0,
        signal: abort.signal,
        onEvent: (event) => {
          const points = opts.toMetrics?.(event) ?? [];
          if (points.length) {
            insertMetrics(db, runId, points);
            events.emit('runs:metrics', points.map((p) => ({ ...p, runId })));
          }
          opts.onEvent?.(event);
        },
      });
      setStatus('completed');
      return result;
    } catch (e) {
      const err = toErrorValue(e);
      if (err.code === 'cancelled') setStatus('cancelled', err.message);
      else setStatus('failed', err.message);
      throw e;
    } finally {
      this.running.delete(runId);
    }
  }
}
