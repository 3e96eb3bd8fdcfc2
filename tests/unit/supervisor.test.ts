// The supervisor with a REAL engine worker process (worker/engine-worker.ts bundled by
// esbuild, forked like the CLI forks it, loading the real addon): answers, events, timeouts,
// cancellation, and recovery after the worker dies in several ways.
import { join } from 'node:path';
import { cpus, totalmem } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Supervisor } from '../../main/jobs/supervisor';
import { forkWorkerFactory } from '../../main/jobs/worker-process';
import { openDatabase, type Db } from '../../main/store/db';
import { createRun, getRun, updateRunStatus } from '../../main/store/repositories';
import { AppError } from '../../common/contract/errors';
import { bundleForNode, repoRoot, tempDir } from '../store/helpers';

let tmp: ReturnType<typeof tempDir>;
let script: string;
let supervisors: Supervisor[] = [];

beforeAll(async () => {
  tmp = tempDir();
  script = await bundleForNode(join(repoRoot, 'worker/engine-worker.ts'), join(tmp.dir, 'engine-worker.cjs'));
});
afterEach(async () => {
  await Promise.all(supervisors.map((s) => s.stop()));
  supervisors = [];
});
afterAll(() => tmp.remove());

function makeSupervisor(extra: Partial<ConstructorParameters<typeof Supervisor>[0]> = {}, env = { HUKUK_TEST: '1' }) {
  const s = new Supervisor({ factory: forkWorkerFactory({ appRoot: repoRoot, script, env }), ...extra });
  supervisors.push(s);
  return s;
}

async function failure(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    return e as AppError;
  }
  throw new Error('expected the request to fail');
}

describe('engine worker + supervisor', () => {
  it('starts the worker lazily and answers system:info with real facts', async () => {
    const s = makeSupervisor();
    expect(s.pid).toBeUndefined();
    const info = await s.request('system:info', {});
    expect(s.starts).toBe(1);
    expect(s.pid).toBeGreaterThan(0);
    expect(s.pid).not.toBe(process.pid);
    // The addon is built in this checkout (npm install builds it): it must load, not error.
    expect(info.addonError).toBeNull();
    expect(info.addonVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.os.platform).toBe(process.platform);
    expect(info.cpu.cores).toBe(cpus().length);
    expect(info.ramBytes).toBe(totalmem());
    expect(Array.isArray(info.gpus)).toBe(true);
    expect(info.node).toBe(process.versions.node);
  });

  it('reports an addon that cannot load instead of failing', async () => {
    // A file that exists but is not a shared object (a missing one would fall back to native/build).
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(tmp.dir, 'not-an-addon.node'), 'garbage');
    const s = new Supervisor({
      factory: forkWorkerFactory({
        appRoot: repoRoot,
        script,
        env: { HUKUK_TEST: '1', HUKUK_ADDON: join(tmp.dir, 'not-an-addon.node') },
      }),
    });
    supervisors.push(s);
    const info = await s.request('system:info', {});
    expect(info.addonVersion).toBeNull();
    expect(info.addonError).toMatch(/not-an-addon\.node|invalid ELF|file too short/);
  });

  it('delivers events for a request, then its result', async () => {
    const s = makeSupervisor();
    const ticks: number[] = [];
    const r = await s.request('debug:sleep', { ms: 120 }, { onEvent: (e) => ticks.push(e.tick) });
    expect(r.slept).toBeGreaterThanOrEqual(100);
    expect(ticks.length).toBeGreaterThan(3);
    expect(ticks).toEqual(ticks.map((_, i) => i + 1));
  });

  it('times out a slow request and keeps the worker for the next one', async () => {
    const s = makeSupervisor();
    const e = await failure(s.request('debug:sleep', { ms: 5000 }, { timeoutMs: 150 }));
    expect(e.code).toBe('timeout');
    expect(e.message).toMatch(/did not answer debug:sleep/);
    const pid = s.pid;
    await s.request('system:info', {});
    expect(s.pid).toBe(pid);
    expect(s.inFlight).toBe(0);
  });

  it('cancels a request through an AbortSignal', async () => {
    const s = makeSupervisor();
    const abort = new AbortController();
    const p = s.request('debug:sleep', { ms: 5000 }, { signal: abort.signal, timeoutMs: 0 });
    setTimeout(() => abort.abort(), 100);
    const e = await failure(p);
    expect(e.code).toBe('cancelled');
  });

  for (const how of ['exit', 'throw', 'abort', 'kill'] as const) {
    it(`fails every request in flight when the worker dies (${how}), marks the run failed, and restarts`, async () => {
      const db: Db = openDatabase(join(tmp.dir, `crash-${how}.db`));
      try {
        const s = makeSupervisor({ onJobLost: (runId, reason) => updateRunStatus(db, runId, 'failed', reason) });
        await s.request('system:info', {});
        const firstPid = s.pid;

        const run = createRun(db, { name: 'doomed' });
        updateRunStatus(db, run.id, 'running');
        const job = s.request('debug:sleep', { ms: 10_000 }, { runId: run.id, timeoutMs: 0 });
        const crash = s.request('debug:crash', { how });
        const [jobErr, crashErr] = await Promise.all([failure(job), failure(crash)]);

        for (const err of [jobErr, crashErr]) {
          expect(err).toBeInstanceOf(AppError);
          expect(err.code).toBe('worker_crashed');
        }
        const expected = {
          exit: /exit code 3/,
          throw: /exit code 1/,
          abort: /signal SIGABRT/,
          kill: /killed \(SIGKILL\)/,
        }[how];
        expect(jobErr.message).toMatch(expected);
        if (how === 'throw') expect(jobErr.details).toMatch(/debug:crash asked the worker to throw/);

        const failed = getRun(db, run.id);
        expect(failed.status).toBe('failed');
        expect(failed.error).toBe(jobErr.message);

        // The next request gets a fresh worker.
        const info = await s.request('system:info', {});
        expect(info.addonError).toBeNull();
        expect(s.starts).toBe(2);
        expect(s.pid).not.toBe(firstPid);
      } finally {
        db.close();
      }
    });
  }

  it('survives a worker killed from outside (as the OOM killer does)', async () => {
    const s = makeSupervisor();
    await s.request('system:info', {});
    const pending = s.request('debug:sleep', { ms: 10_000 }, { timeoutMs: 0 });
    await new Promise((r) => setTimeout(r, 50));
    process.kill(s.pid!, 'SIGKILL');
    const e = await failure(pending);
    expect(e.code).toBe('worker_crashed');
    expect(e.message).toMatch(/SIGKILL/);
    await s.request('system:info', {});
    expect(s.starts).toBe(2);
  });

  it('refuses the debug methods outside tests', async () => {
    const s = makeSupervisor({}, { HUKUK_TEST: '0' });
    const e = await failure(s.request('debug:crash', { how: 'exit' }));
    expect(e.code).toBe('forbidden');
    await s.request('system:info', {});
    expect(s.starts).toBe(1);
  });
});

describe('supervisor timeouts without a real worker', () => {
  it("fails requests with 'timeout' when the worker never says it is ready", async () => {
    // A process that starts but never sends 'ready' (a hung addon load, a stuck driver).
    let exitListener: ((e: { code: number | null; signal: NodeJS.Signals | null }) => void) | undefined;
    let kills = 0;
    const s = new Supervisor({
      startTimeoutMs: 100,
      factory: () => ({
        pid: 12345,
        send: () => {},
        onMessage: () => {},
        onExit: (l) => (exitListener = l),
        onOutput: () => {},
        kill: () => {
          kills++;
          exitListener?.({ code: null, signal: 'SIGTERM' });
        },
      }),
    });
    supervisors.push(s);
    const e = await failure(s.request('system:info', {}, { timeoutMs: 0 }));
    expect(e).toBeInstanceOf(AppError);
    expect(e.code).toBe('timeout');
    expect(e.message).toMatch(/did not start within/);
    expect(kills).toBe(1);
  });
});
