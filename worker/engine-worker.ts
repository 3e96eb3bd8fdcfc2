// The engine worker: a separate process that hosts the native addon, so that a CUDA fault or
// an out-of-memory kill costs this process, never the app. It runs the same file under
// Electron's utilityProcess (messages through process.parentPort) and under Node's
// child_process.fork (process.send / process.on('message')). It never touches SQLite: it
// answers requests and reports events; main records.
import { AppError, toErrorValue } from '../common/contract/errors';
import { isToWorker, type FromWorker, type ToWorker, type WorkerMethod, type WorkerMethods } from './protocol';
import { collectSystemInfo, type AddonLoad, type SystemAddon } from './system-info';
import { handleTrainRun } from './trainer/handler';
import { handleChatGenerate, releaseWarmModel } from './chat/generate';
import { engineLoaderPath, loadEngineAddon } from './engine-loader';

// ---- the message port: utilityProcess or fork ----

interface ParentPort {
  on(event: 'message', listener: (e: { data: unknown }) => void): void;
  postMessage(message: unknown): void;
}

interface Port {
  send(msg: FromWorker): void;
  onMessage(listener: (msg: unknown) => void): void;
}

function detectPort(): Port | null {
  const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort;
  if (parentPort) {
    return { send: (m) => parentPort.postMessage(m), onMessage: (l) => parentPort.on('message', (e) => l(e.data)) };
  }
  if (typeof process.send === 'function') {
    // Without a parent there is nobody to work for: leave instead of lingering as an orphan.
    process.on('disconnect', () => process.exit(0));
    return { send: (m) => process.send?.(m), onMessage: (l) => process.on('message', l) };
  }
  return null;
}

// ---- the addon, loaded once, on first use ----

let addonLoad: AddonLoad | undefined;
function loadAddon(): AddonLoad {
  if (addonLoad) return addonLoad;
  const loader = engineLoaderPath();
  try {
    addonLoad = { addon: loadEngineAddon<SystemAddon>(), error: null };
  } catch (e) {
    const err = e as { message?: string; code?: string };
    addonLoad = { addon: null, error: `${err.code ? err.code + ': ' : ''}${err.message ?? String(e)} (loader: ${loader})` };
  }
  return addonLoad;
}

// ---- methods ----

interface Ctx<M extends WorkerMethod> {
  signal: AbortSignal;
  emit(payload: WorkerMethods[M]['event']): void;
}
type MethodImpl<M extends WorkerMethod> = (
  params: WorkerMethods[M]['params'],
  ctx: Ctx<M>,
) => Promise<WorkerMethods[M]['result']> | WorkerMethods[M]['result'];

const testMode = () => process.env.HUKUK_TEST === '1';
function requireTestMode(method: string): void {
  if (!testMode()) throw new AppError('forbidden', `${method} is only available in tests (HUKUK_TEST=1).`);
}

const methods: { [M in WorkerMethod]: MethodImpl<M> } = {
  'system:info': () => collectSystemInfo(loadAddon()),

  'debug:crash': ({ how = 'exit' }) => {
    requireTestMode('debug:crash');
    if (how === 'abort') process.abort();
    if (how === 'kill') process.kill(process.pid, 'SIGKILL');
    if (how === 'throw')
      setImmediate(() => {
        throw new Error('debug:crash asked the worker to throw');
      });
    else process.exit(3);
    return new Promise<never>(() => {});
  },

  'debug:sleep': ({ ms }, { signal, emit }) => {
    requireTestMode('debug:sleep');
    return new Promise((resolveSleep, reject) => {
      const start = Date.now();
      let tick = 0;
      const timer = setInterval(() => emit({ tick: ++tick }), 10);
      const done = setTimeout(() => {
        clearInterval(timer);
        resolveSleep({ slept: Date.now() - start });
      }, ms);
      signal.addEventListener('abort', () => {
        clearInterval(timer);
        clearTimeout(done);
        reject(new AppError('cancelled', 'debug:sleep was cancelled'));
      });
    });
  },

  // Training needs the memory more than a warm chat model does (the flagship twice may not fit a GPU).
  'train:run': (params, { signal, emit }) => {
    releaseWarmModel();
    return handleTrainRun(params, { signal, emit });
  },

  'chat:generate': (params, { signal, emit }) => handleChatGenerate(params, { signal, emit }),
};

// ---- the loop ----

function serve(port: Port): void {
  const running = new Map<number, AbortController>();

  async function handle(msg: ToWorker): Promise<void> {
    if (msg.kind === 'cancel') {
      running.get(msg.id)?.abort();
      return;
    }
    const { id, method } = msg;
    const impl = Object.prototype.hasOwnProperty.call(methods, method)
      ? (methods[method] as MethodImpl<WorkerMethod>)
      : undefined;
    if (!impl) {
      port.send({ kind: 'response', id, ok: false, error: { code: 'unsupported', message: `The engine worker has no method ${String(method)}.` } });
      return;
    }
    const abort = new AbortController();
    running.set(id, abort);
    try {
      const value = await impl(msg.params as never, {
        signal: abort.signal,
        emit: (payload) => port.send({ kind: 'event', id, payload }),
      });
      port.send({ kind: 'response', id, ok: true, value });
    } catch (e) {
      port.send({ kind: 'response', id, ok: false, error: toErrorValue(e) });
    } finally {
      running.delete(id);
    }
  }

  port.onMessage((raw) => {
    if (!isToWorker(raw)) {
      port.send({ kind: 'log', level: 'warn', message: `engine worker: ignored a malformed message ${JSON.stringify(raw)?.slice(0, 200)}` });
      return;
    }
    void handle(raw);
  });
  port.send({ kind: 'ready', pid: process.pid });
}

const port = detectPort();
if (port) serve(port);
else {
  process.stderr.write('engine-worker: start me through the supervisor (fork or utilityProcess), not directly.\n');
  process.exitCode = 1;
}
