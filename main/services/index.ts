// The services behind every front end (Electron window, `hukuk` CLI, `hukuk serve`): the
// database, the data folders, the engine supervisor and the event hub. Built from a data
// folder and the app version; nothing here knows about Electron.
import type { TokenStore } from '../io/hub/token-store';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SystemInfo } from '../../common/contract/system';
import { openDatabase, type Db } from '../store/db';
import { failUnfinishedRuns, updateRunStatus } from '../store/repositories';
import { acquireDataFolderLock } from './data-lock';
import { Supervisor } from '../jobs/supervisor';
import { forkWorkerFactory, type WorkerFactory } from '../jobs/worker-process';
import { EventHub } from './events';
import { getSystemInfo } from './system';
import type { PathPicker } from './path-picker';

export interface ServicesOptions {
  dataDir: string;
  appVersion: string;
  /** process.versions.electron in the app; null under plain Node. */
  electronVersion?: string | null;
  /** How to start the engine worker (utilityProcess in Electron); default: child_process.fork. */
  workerFactory?: WorkerFactory;
  onLog?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Where the Hugging Face token is kept: the OS keychain in the app (Electron safeStorage);
   *  absent for the CLI and `hukuk serve`, which read HF_TOKEN. */
  hubTokenStore?: TokenStore;
  /** A native open dialog (Electron only); absent under `hukuk serve`. */
  pathPicker?: PathPicker;
}

export interface DataPaths {
  root: string;
  db: string;
  models: string;
  datasets: string;
  runs: string;
}

export interface AppServices {
  readonly appVersion: string;
  readonly paths: DataPaths;
  readonly db: Db;
  readonly supervisor: Supervisor;
  readonly events: EventHub;
  readonly hubTokenStore?: TokenStore;
  readonly pathPicker?: PathPicker;
  systemInfo(): Promise<SystemInfo>;
  close(): Promise<void>;
}

export const UNFINISHED_RUN_REASON = 'The app stopped while this run was in progress.';

export function dataPaths(dataDir: string): DataPaths {
  return {
    root: dataDir,
    db: join(dataDir, 'hukuk.db'),
    models: join(dataDir, 'models'),
    datasets: join(dataDir, 'datasets'),
    runs: join(dataDir, 'runs'),
  };
}

export function createAppServices(options: ServicesOptions): AppServices {
  const paths = dataPaths(options.dataDir);
  // One writer per data folder (the app, `hukuk serve`, a writing CLI command): throws
  // AppError('conflict') naming the other process's pid.
  const lock = acquireDataFolderLock(paths.root);
  let db: Db;
  try {
    for (const dir of [paths.root, paths.models, paths.datasets, paths.runs]) mkdirSync(dir, { recursive: true });
    db = openDatabase(paths.db);
    // With the lock held no other process can be training these: a run left 'running' was
    // left by one that crashed or was killed, and its worker is gone, so it can only fail.
    // Runs left 'queued' never started: RunsService.recover() puts them back in the queue.
    const failed = failUnfinishedRuns(db, UNFINISHED_RUN_REASON, ['running']);
    if (failed > 0) options.onLog?.('warn', `${failed} run(s) left unfinished by a previous process that stopped were marked failed.`);
  } catch (e) {
    lock.release();
    throw e;
  }
  const events = new EventHub();
  // Warnings and errors (a worker crash, a refused WebSocket) also go to every UI.
  const log = (level: 'info' | 'warn' | 'error', message: string) => {
    options.onLog?.(level, message);
    if (level !== 'info') events.emit('system:log', [{ level, message, at: Date.now() }]);
  };

  const supervisor = new Supervisor({
    factory: options.workerFactory ?? forkWorkerFactory(),
    onLog: log,
    // The worker died under a job: record it (main records, the worker only reports) and
    // tell every UI.
    onJobLost: (runId, reason) => {
      if (updateRunStatus(db, runId, 'failed', reason)) {
        events.emit('runs:status', [{ runId, status: 'failed', error: reason }]);
      }
    },
  });

  let closed = false;
  return {
    appVersion: options.appVersion,
    paths,
    db,
    supervisor,
    events,
    hubTokenStore: options.hubTokenStore,
    pathPicker: options.pathPicker,
    systemInfo: () =>
      getSystemInfo(supervisor, {
        appVersion: options.appVersion,
        dataDir: paths.root,
        electron: options.electronVersion ?? null,
      }),
    async close() {
      if (closed) return;
      closed = true;
      try {
        await supervisor.stop();
        db.close();
      } finally {
        lock.release();
      }
    },
  };
}
