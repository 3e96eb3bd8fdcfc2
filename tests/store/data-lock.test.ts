// The data folder's lock (main/services/data-lock.ts): one writer per <data>, stale locks of
// dead processes taken over, and the startup sweep of runs a crashed process left running.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../common/contract/errors';
import { acquireDataFolderLock, dataFolderLockOwner, LOCK_FILE } from '../../main/services/data-lock';
import { createAppServices, UNFINISHED_RUN_REASON } from '../../main/services';
import { openDatabase } from '../../main/store/db';
import { createRun, getRun, updateRunStatus } from '../../main/store/repositories';
import { run as modelCommand } from '../../main/cli/commands/model';
import { run as serveCommand } from '../../main/cli/commands/serve';
import { bundleForNode, childEnv, tempDir } from './helpers';

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

function folder(): string {
  const t = tempDir('hukuk-lock-');
  cleanups.push(t.remove);
  return join(t.dir, 'data');
}

/** The pid of a process that has exited (and so is not alive on this host). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

function conflictOf(fn: () => unknown): AppError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return e as AppError;
  }
  throw new Error('expected a conflict');
}

const noWorker = () => {
  throw new Error('no engine in this test');
};

describe('data folder lock', () => {
  it('writes pid, host and start time; a second writer gets a conflict naming the pid; release frees it', () => {
    const dir = folder();
    const lock = acquireDataFolderLock(dir);
    const held = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as Record<string, unknown>;
    expect(held).toMatchObject({ pid: process.pid, host: hostname() });
    expect(Math.abs(Date.now() - (held.startedAt as number))).toBeLessThan(10_000);
    expect(dataFolderLockOwner(dir)?.pid).toBe(process.pid);

    const err = conflictOf(() => acquireDataFolderLock(dir));
    expect(err.code).toBe('conflict');
    expect(err.message).toBe(`Hukuk Studio is already using this data folder (pid ${process.pid}). Close it first, or use --data-dir.`);

    lock.release();
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    expect(dataFolderLockOwner(dir)).toBeNull();
    acquireDataFolderLock(dir).release();
  });

  it('takes over the lock of a dead process on this host, but not one of another host', () => {
    const dir = folder();
    const pid = deadPid();
    acquireDataFolderLock(dir, { pid, startedAt: 1 }); // never released: as if killed
    expect(dataFolderLockOwner(dir)).toBeNull();
    const lock = acquireDataFolderLock(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
    lock.release();

    const other = acquireDataFolderLock(dir, { pid, host: 'some-other-host' });
    const err = conflictOf(() => acquireDataFolderLock(dir));
    expect(err.message).toContain(`(pid ${pid} on some-other-host)`);
    other.release();
  });

  it('a lock file still being written is a conflict, an old unreadable one is stale', () => {
    const dir = folder();
    acquireDataFolderLock(dir).release();
    writeFileSync(join(dir, LOCK_FILE), '');
    expect(conflictOf(() => acquireDataFolderLock(dir)).message).toContain('(another process)');
    const old = new Date(Date.now() - 60_000);
    spawnSync('touch', ['-d', old.toISOString(), join(dir, LOCK_FILE)]);
    acquireDataFolderLock(dir).release();
  });

  it('release leaves a lock that another process took over meanwhile', () => {
    const dir = folder();
    const mine = acquireDataFolderLock(dir);
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 4242, host: hostname(), startedAt: 2 }));
    mine.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
  });
});

describe('services hold the lock', () => {
  it('a second AppServices on the same folder is refused until the first closes', async () => {
    const dir = folder();
    const a = createAppServices({ dataDir: dir, appVersion: '0.0.0-test', workerFactory: noWorker });
    expect(() => createAppServices({ dataDir: dir, appVersion: '0.0.0-test', workerFactory: noWorker })).toThrow(
      /already using this data folder \(pid \d+\)/,
    );
    await a.close();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    const b = createAppServices({ dataDir: dir, appVersion: '0.0.0-test', workerFactory: noWorker });
    await b.close();
  });

  it('at startup, runs a crashed process left running are failed; queued (for the runs queue) and finished ones are kept', async () => {
    const dir = folder();
    const first = createAppServices({ dataDir: dir, appVersion: '0.0.0-test', workerFactory: noWorker });
    await first.close();
    // What a killed app leaves behind: rows mid-flight and its lock file.
    const db = openDatabase(join(dir, 'hukuk.db'));
    const running = createRun(db, { name: 'running' });
    updateRunStatus(db, running.id, 'running');
    const queued = createRun(db, { name: 'queued' });
    const done = createRun(db, { name: 'done' });
    updateRunStatus(db, done.id, 'completed');
    db.close();
    acquireDataFolderLock(dir, { pid: deadPid() });

    const logs: string[] = [];
    const svc = createAppServices({ dataDir: dir, appVersion: '0.0.0-test', workerFactory: noWorker, onLog: (_l, m) => logs.push(m) });
    try {
      expect(logs).toEqual(['1 run(s) left unfinished by a previous process that stopped were marked failed.']);
      expect(getRun(svc.db, running.id)).toMatchObject({ status: 'failed', error: UNFINISHED_RUN_REASON });
      expect(getRun(svc.db, queued.id)).toMatchObject({ status: 'queued', error: null });
      expect(getRun(svc.db, done.id)).toMatchObject({ status: 'completed', error: null });
      expect(UNFINISHED_RUN_REASON).toBe('The app stopped while this run was in progress.');
    } finally {
      await svc.close();
    }
  });

  it('a refused writer does not touch the runs of the process that holds the folder', async () => {
    const dir = folder();
    const svc = createAppServices({ dataDir: dir, appVersion: '0.0.0-test', workerFactory: noWorker });
    const r = createRun(svc.db, { name: 'live' });
    updateRunStatus(svc.db, r.id, 'running');
    expect(() => createAppServices({ dataDir: dir, appVersion: '0.0.0-test', workerFactory: noWorker })).toThrow(/already using/);
    expect(getRun(svc.db, r.id).status).toBe('running');
    await svc.close();
  });
});

describe('another process', () => {
  it('holds the folder while alive; killed with SIGKILL, its lock is taken over and its run failed', async () => {
    const dir = folder();
    const script = await bundleForNode(join(__dirname, 'lock-holder.ts'), join(dir, '..', 'lock-holder.cjs'));
    const child = spawn(process.execPath, [script, dir], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const [pid, runId] = await new Promise<number[]>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /holding (\d+) (\d+)/.exec(out);
        if (m) resolve([Number(m[1]), Number(m[2])]);
      });
      child.once('exit', (code) => reject(new Error(`lock holder exited (${code}): ${out}`)));
    });
    expect(pid).toBe(child.pid);
    try {
      expect(() => createAppServices({ dataDir: dir, appVersion: '0.0.0-test', workerFactory: noWorker })).toThrow(
        `Hukuk Studio is already using this data folder (pid ${pid}). Close it first, or use --data-dir.`,
      );
    } finally {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid }); // left behind
    const svc = createAppServices({ dataDir: dir, appVersion: '0.0.0-test', workerFactory: noWorker });
    try {
      expect(getRun(svc.db, runId)).toMatchObject({ status: 'failed', error: UNFINISHED_RUN_REASON });
      expect(dataFolderLockOwner(dir)?.pid).toBe(process.pid);
    } finally {
      await svc.close();
    }
  });
});

describe('CLI commands and the lock', () => {
  it('model import is refused while the folder is held; model list (read-only) still answers', async () => {
    const dir = folder();
    const held = acquireDataFolderLock(dir);
    const out: string[] = [];
    const err: string[] = [];
    const ctx = { dataDir: dir, stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s) };
    expect(await modelCommand(['import', '/nonexistent-model'], ctx)).toBe(1);
    expect(err.join('\n')).toContain(`already using this data folder (pid ${process.pid})`);
    expect(await modelCommand(['list', '--json'], ctx)).toBe(0);
    expect(JSON.parse(out.join('\n'))).toEqual([]);
    held.release();
    // Free: now the import gets as far as the missing folder.
    err.length = 0;
    expect(await modelCommand(['import', '/nonexistent-model'], ctx)).toBe(1);
    expect(err.join('\n')).not.toContain('already using');
  });

  it('hukuk serve on a held folder exits 1 with the conflict message, before listening', async () => {
    const dir = folder();
    const held = acquireDataFolderLock(dir);
    const out: string[] = [];
    const err: string[] = [];
    try {
      expect(await serveCommand(['--port', '0', '--no-open'], { dataDir: dir, stdout: (s) => out.push(s), stderr: (s) => err.push(s) })).toBe(1);
    } finally {
      held.release();
    }
    expect(out).toEqual([]);
    expect(err.join('\n')).toContain(`hukuk serve: Hukuk Studio is already using this data folder (pid ${process.pid}).`);
  });
});
