// Supervises the engine worker: starts it on first use, matches responses to requests,
// applies timeouts, and survives its death. When the worker dies (crash, kill -9, OOM,
// abort in native code) every request in flight fails with AppError('worker_crashed',
// reason), the run of every job in flight is reported failed with that reason, and the next
// request starts a fresh worker.
import { AppError, type AppErrorValue } from '../../common/contract/errors';
import {
  isFromWorker,
  type EventOf,
  type FromWorker,
  type ParamsOf,
  type ResultOf,
  type WorkerMethod,
} from '../../worker/protocol';
import type { WorkerExit, WorkerFactory, WorkerProcess } from './worker-process';

export interface RequestOptions<M extends WorkerMethod> {
  /** Milliseconds until the request fails; 0 = never (training jobs). Default: options.defaultTimeoutMs. */
  timeoutMs?: number;
  /** Events the worker sends for this request (progress, metrics, tokens). */
  onEvent?: (payload: EventOf<M>) => void;
  /** The run this request works for: marked failed if the worker dies under it. */
  runId?: number;
  signal?: AbortSignal;
}

export interface SupervisorOptions {
  factory: WorkerFactory;
  defaultTimeoutMs?: number;
  /** How long a new worker may take to say it is ready. */
  startTimeoutMs?: number;
  /** Called for each job whose worker died under it (main marks the run failed). */
  onJobLost?: (runId: number, reason: string) => void;
  onLog?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

interface Pending {
  method: WorkerMethod;
  runId?: number;
  resolve(value: unknown): void;
  reject(error: AppError): void;
  onEvent?: (payload: never) => void;
  cleanup(): void;
}

interface Live {
  proc: WorkerProcess;
  ready: Promise<void>;
  stderrTail: string;
  generation: number;
  startTimedOut: boolean;
}

const STDERR_TAIL = 4000;

export function describeExit(exit: WorkerExit): string {
  if (exit.signal === 'SIGKILL')
    return 'The engine worker was killed (SIGKILL); the system may have run out of memory.';
  if (exit.signal) return `The engine worker died from signal ${exit.signal}.`;
  if (exit.code === 0) return 'The engine worker exited unexpectedly (exit code 0).';
  return `The engine worker crashed (exit code ${exit.code ?? 'unknown'}).`;
}

export class Supervisor {
  private live: Live | undefined;
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private generation = 0;
  private stopping = false;

  constructor(private readonly options: SupervisorOptions) {}

  /** Process id of the current worker, if one runs (tests use it to see a restart). */
  get pid(): number | undefined {
    return this.live?.proc.pid;
  }

  /** How many workers this supervisor has started. */
  get starts(): number {
    return this.generation;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  async request<M extends WorkerMethod>(method: M, params: ParamsOf<M>, opts: RequestOptions<M> = {}): Promise<ResultOf<M>> {
    if (this.stopping) throw new AppError('cancelled', 'The engine is shutting down.');
    if (opts.signal?.aborted) throw new AppError('cancelled', `${method} was cancelled.`);
    const live = this.ensureWorker();
    const id = this.nextId++;
    const timeoutMs = opts.timeoutMs ?? this.options.defaultTimeoutMs ?? 60_000;

    return new Promise<ResultOf<M>>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        this.settle(id, new AppError('cancelled', `${method} was cancelled.`));
        live.proc.send({ kind: 'cancel', id });
      };
      const entry: Pending = {
        method,
        runId: opts.runId,
        resolve: resolve as (v: unknown) => void,
        reject,
        onEvent: opts.onEvent as ((p: never) => void) | undefined,
        cleanup: () => {
          if (timer) clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onAbort);
        },
      };
      this.pending.set(id, entry);
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.settle(id, new AppError('timeout', `The engine did not answer ${method} within ${Math.round(timeoutMs / 1000)} s.`));
          live.proc.send({ kind: 'cancel', id });
        }, timeoutMs);
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      live.ready.then(
        () => {
          if (this.pending.has(id) && this.live === live) live.proc.send({ kind: 'request', id, method, params });
        },
        () => {}, // the exit handler has failed this request already
      );
    });
  }

  /** Stops the worker (app quit, CLI done). Requests in flight fail with 'cancelled'. */
  async stop(): Promise<void> {
    this.stopping = true;
    const live = this.live;
    this.live = undefined;
    for (const id of [...this.pending.keys()]) this.settle(id, new AppError('cancelled', 'The engine was stopped.'));
    if (live) {
      const gone = new Promise<void>((r) => live.proc.onExit(() => r()));
      live.proc.kill();
      await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
    }
  }

  private ensureWorker(): Live {
    if (this.live) return this.live;
    let proc: WorkerProcess;
    try {
      proc = this.options.factory();
    } catch (e) {
      if (e instanceof AppError) throw e;
      throw new AppError('worker_crashed', `The engine worker could not start: ${(e as Error).message}`);
    }
    const generation = ++this.generation;
    let markReady!: () => void;
    let failReady!: (e: Error) => void;
    const ready = new Promise<void>((res, rej) => {
      markReady = res;
      failReady = rej;
    });
    const live: Live = { proc, ready, stderrTail: '', generation, startTimedOut: false };
    this.live = live;
    const startTimeoutMs = this.options.startTimeoutMs ?? 30_000;
    const startTimer = setTimeout(() => {
      live.startTimedOut = true;
      proc.kill();
    }, startTimeoutMs);

    proc.onOutput((text) => {
      live.stderrTail = (live.stderrTail + text).slice(-STDERR_TAIL);
      for (const line of text.split('\n')) if (line.trim()) this.log('info', `worker: ${line}`);
    });
    proc.onMessage((raw) => {
      if (!isFromWorker(raw)) {
        this.log('warn', `supervisor: ignored a malformed message from the worker`);
        return;
      }
      if (raw.kind === 'ready') {
        clearTimeout(startTimer);
        markReady();
      } else this.onWorkerMessage(raw);
    });
    proc.onExit((exit) => {
      clearTimeout(startTimer);
      failReady(new Error('exited'));
      this.onWorkerExit(live, exit);
    });
    return live;
  }

  private onWorkerMessage(msg: Exclude<FromWorker, { kind: 'ready' }>): void {
    if (msg.kind === 'log') return this.log(msg.level, `worker: ${msg.message}`);
    const p = this.pending.get(msg.id);
    if (!p) return; // answered after a timeout or cancel: dropped on purpose
    if (msg.kind === 'event') {
      try {
        p.onEvent?.(msg.payload as never);
      } catch (e) {
        this.log('error', `supervisor: an event listener of ${p.method} threw: ${(e as Error).message}`);
      }
      return;
    }
    if (msg.ok) this.settle(msg.id, undefined, msg.value);
    else this.settle(msg.id, fromValue(msg.error));
  }

  private onWorkerExit(live: Live, exit: WorkerExit): void {
    if (this.live === live) this.live = undefined;
    if (this.stopping) return;
    const reason = live.startTimedOut
      ? `The engine worker did not start within ${Math.round((this.options.startTimeoutMs ?? 30_000) / 1000)} s.`
      : describeExit(exit);
    this.log('error', reason);
    const details = live.stderrTail.trim() || undefined;
    // Only one worker runs at a time, so every request in flight belonged to this one.
    for (const [id, p] of [...this.pending]) {
      if (p.runId !== undefined) {
        try {
          this.options.onJobLost?.(p.runId, reason);
        } catch (e) {
          this.log('error', `supervisor: could not mark run ${p.runId} failed: ${(e as Error).message}`);
        }
      }
      this.settle(id, new AppError(live.startTimedOut ? 'timeout' : 'worker_crashed', reason, details));
    }
  }

  private settle(id: number, error: AppError | undefined, value?: unknown): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.cleanup();
    if (error) p.reject(error);
    else p.resolve(value);
  }

  private log(level: 'info' | 'warn' | 'error', message: string): void {
    this.options.onLog?.(level, message);
  }
}

function fromValue(e: AppErrorValue): AppError {
  return new AppError(e.code, e.message, e.details);
}
