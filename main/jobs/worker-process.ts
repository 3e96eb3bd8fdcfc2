// How the supervisor starts an engine worker. Under plain Node (CLI, `hukuk serve`, tests):
// child_process.fork of out/main/engine-worker.js. Electron's main/app.ts passes its own
// factory built on utilityProcess. Both look the same to the supervisor.
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../../common/contract/errors';
import type { ToWorker } from '../../worker/protocol';
import { findAppRoot } from '../../worker/engine-loader';

// Where the app lives (the worker script, serve's static files): one definition, shared.
export { findAppRoot };

export interface WorkerExit {
  code: number | null;
  signal: string | null;
}

/** One running worker process. */
export interface WorkerProcess {
  readonly pid: number | undefined;
  send(msg: ToWorker): void;
  onMessage(listener: (msg: unknown) => void): void;
  /** Called once, when the process is gone (crash, kill, OOM, normal exit). */
  onExit(listener: (exit: WorkerExit) => void): void;
  /** What the worker writes to stderr and stdout (native crashes print there). */
  onOutput(listener: (text: string) => void): void;
  kill(): void;
}

export type WorkerFactory = () => WorkerProcess;

export function defaultWorkerScript(appRoot: string): string {
  return process.env.HUKUK_WORKER_SCRIPT || join(appRoot, 'out', 'main', 'engine-worker.js');
}

export function forkWorkerFactory(options: { appRoot?: string; script?: string; env?: NodeJS.ProcessEnv } = {}): WorkerFactory {
  return () => {
    const appRoot = options.appRoot ?? findAppRoot();
    const script = options.script ?? defaultWorkerScript(appRoot);
    if (!existsSync(script)) {
      throw new AppError('internal', `The engine worker is not built (${script} is missing). Run \`npm run build\`.`);
    }
    const child = fork(script, [], {
      // The worker never writes to our stdout (that would corrupt `hukuk info --json`).
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ...options.env, HUKUK_APP_ROOT: appRoot },
      serialization: 'json',
    });
    let exited = false;
    return {
      pid: child.pid,
      send: (msg) => {
        if (child.connected) child.send(msg);
      },
      onMessage: (l) => child.on('message', l),
      onExit: (l) => {
        const fire = (code: number | null, signal: NodeJS.Signals | null) => {
          if (exited) return;
          exited = true;
          l({ code, signal });
        };
        child.on('exit', fire);
        // A failed spawn emits 'error' without 'exit'.
        child.on('error', () => setImmediate(() => fire(child.exitCode ?? -1, child.signalCode)));
      },
      // stdout too: it must be drained (a full pipe would block the worker), and whatever a
      // native library prints there helps explain a crash.
      onOutput: (l) => {
        child.stderr?.on('data', (d: Buffer) => l(d.toString()));
        child.stdout?.on('data', (d: Buffer) => l(d.toString()));
      },
      kill: () => {
        if (!exited) child.kill('SIGKILL');
      },
    };
  };
}
