// One writer per data folder. The Electron app, `hukuk serve` and the CLI commands that write
// (pull, model import/delete, train) all use <data>/hukuk.db and the folders beside it; two
// of them at once would run two engine queues over one database and step on each other's
// run folders. Electron's single-instance lock covers two windows only, so the data folder
// itself carries the lock: <data>/hukuk.lock, created with O_EXCL, holding who took it.
//
// A lock left by a process that died (a crash, kill -9) is taken over when its pid is not
// alive on this host. A lock from another host (a data folder on a network share) is never
// judged stale: we cannot see that host's processes, so the user must close it there.
import { closeSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { AppError } from '../../common/contract/errors';

export const LOCK_FILE = 'hukuk.lock';

export interface LockOwner {
  pid: number;
  host: string;
  /** ms since the epoch */
  startedAt: number;
}

export interface DataFolderLock {
  readonly path: string;
  readonly owner: LockOwner;
  /** Removes the lock file if it is still ours; safe to call twice. */
  release(): void;
}

/** A lock file that exists but cannot be parsed yet is given this long to be written. */
const UNREADABLE_GRACE_MS = 5_000;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseOwner(text: string): LockOwner | null {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.startedAt === 'number') return { pid: o.pid, host: o.host, startedAt: o.startedAt };
  } catch {
    // fall through
  }
  return null;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export function conflictError(owner: LockOwner | null, path: string): AppError {
  const who = owner ? `pid ${owner.pid}${owner.host !== hostname() ? ` on ${owner.host}` : ''}` : 'another process';
  return new AppError(
    'conflict',
    `Hukuk Studio is already using this data folder (${who}). Close it first, or use --data-dir.`,
    `lock file ${path}: ${owner ? JSON.stringify(owner) : 'unreadable'}`,
  );
}

/**
 * Takes <dataDir>/hukuk.lock or throws AppError('conflict'). `self` is for tests (a pid/host
 * other than this process's). The lock is also released when this process exits normally.
 */
export function acquireDataFolderLock(dataDir: string, self: Partial<LockOwner> = {}): DataFolderLock {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, LOCK_FILE);
  const owner: LockOwner = { pid: self.pid ?? process.pid, host: self.host ?? hostname(), startedAt: self.startedAt ?? Date.now() };
  const content = JSON.stringify(owner);

  // Two rounds: the first may find a stale lock and remove it; the second must then win
  // the O_EXCL create, or someone else took it in between.
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new AppError('io_error', `Cannot create the lock file ${path}: ${(e as Error).message}`);
      }
      const text = readText(path);
      if (text === null) continue; // released between our create and read: try again
      const held = parseOwner(text);
      if (!held) {
        // Created but not written yet by a process starting right now, or a torn write
        // from a crash long ago.
        let age = Infinity;
        try {
          age = Date.now() - statSync(path).mtimeMs;
        } catch {
          continue;
        }
        if (age < UNREADABLE_GRACE_MS) throw conflictError(null, path);
      } else if (held.host !== owner.host || isAlive(held.pid)) {
        throw conflictError(held, path);
      }
      // Stale. Re-read right before removing it, so a lock that a third process just
      // took over is not removed by mistake (a small window remains; the O_EXCL create
      // below still lets only one of the two win).
      if (readText(path) === text) {
        try {
          unlinkSync(path);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new AppError('io_error', `Cannot remove the stale lock ${path}: ${(err as Error).message}`);
        }
      }
      continue;
    }
    try {
      writeSync(fd, content);
    } finally {
      closeSync(fd);
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      process.off('exit', release);
      // Only our own lock: never remove one that another process took over meanwhile.
      if (readText(path) === content) {
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      }
    };
    process.on('exit', release);
    return { path, owner, release };
  }
  throw conflictError(parseOwner(readText(path) ?? ''), path);
}

/** Who holds the lock of a data folder now (null: nobody, or a stale lock). For `hukuk info`. */
export function dataFolderLockOwner(dataDir: string): LockOwner | null {
  const held = parseOwner(readText(join(dataDir, LOCK_FILE)) ?? '');
  if (!held) return null;
  return held.host !== hostname() || isAlive(held.pid) ? held : null;
}

/** Runs `fn` holding the data folder's lock (the CLI commands that write). */
export async function withDataFolderLock<T>(dataDir: string, fn: () => Promise<T>): Promise<T> {
  const lock = acquireDataFolderLock(dataDir);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
