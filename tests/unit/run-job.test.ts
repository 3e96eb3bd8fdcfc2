// A run's life through the real worker: metrics stored and pushed while it runs, then
// completed; cancelled by id; failed when the worker dies under it.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunJobs } from '../../main/jobs/run-job';
import { forkWorkerFactory } from '../../main/jobs/worker-process';
import { createAppServices, type AppServices } from '../../main/services';
import { countMetrics, createRun, getRun, listMetrics } from '../../main/store/repositories';
import { bundleForNode, repoRoot, tempDir } from '../store/helpers';

let tmp: ReturnType<typeof tempDir>;
let services: AppServices;
let jobs: RunJobs;

beforeAll(async () => {
  tmp = tempDir();
  const script = await bundleForNode(join(repoRoot, 'worker/engine-worker.ts'), join(tmp.dir, 'engine-worker.cjs'));
  services = createAppServices({
    dataDir: join(tmp.dir, 'data'),
    appVersion: '0.0.0-test',
    workerFactory: forkWorkerFactory({ appRoot: repoRoot, script, env: { HUKUK_TEST: '1' } }),
  });
  jobs = new RunJobs(services);
});
afterAll(async () => {
  await services.close();
  tmp.remove();
});

const tickToLoss = (e: { tick: number }) => [{ step: e.tick, split: 'train', name: 'loss', value: 1 / e.tick }];

describe('RunJobs', () => {
  it('runs a job to completion, storing and pushing its metrics', async () => {
    const pushed: unknown[] = [];
    const statuses: unknown[] = [];
    const off = services.events.subscribe((event, payload) => {
      if (event === 'runs:metrics') pushed.push(...(payload as unknown[]));
      if (event === 'runs:status') statuses.push(...(payload as unknown[]));
    });
    const run = createRun(services.db, { name: 'ok' });
    await jobs.run({ runId: run.id, method: 'debug:sleep', params: { ms: 150 }, toMetrics: tickToLoss });
    off();
    const done = getRun(services.db, run.id);
    expect(done.status).toBe('completed');
    expect(done.startedAt).not.toBeNull();
    const stored = countMetrics(services.db, run.id);
    expect(stored).toBeGreaterThan(3);
    expect(pushed).toHaveLength(stored);
    expect(listMetrics(services.db, run.id)[0]).toEqual({ step: 1, split: 'train', name: 'loss', value: 1 });
    expect(statuses.map((s) => (s as { status: string }).status)).toEqual(['running', 'completed']);
    // A finished run cannot be started again.
    await expect(jobs.run({ runId: run.id, method: 'debug:sleep', params: { ms: 1 } })).rejects.toMatchObject({ code: 'conflict' });
  });

  it('cancels a run by id', async () => {
    const run = createRun(services.db, { name: 'stop me' });
    const p = jobs.run({ runId: run.id, method: 'debug:sleep', params: { ms: 10_000 } });
    await new Promise((r) => setTimeout(r, 200));
    expect(jobs.isRunning(run.id)).toBe(true);
    expect(jobs.cancel(run.id)).toBe(true);
    await expect(p).rejects.toMatchObject({ code: 'cancelled' });
    expect(getRun(services.db, run.id).status).toBe('cancelled');
    expect(jobs.isRunning(run.id)).toBe(false);
  });

  it('marks the run failed with the reason when the worker dies under it', async () => {
    const run = createRun(services.db, { name: 'doomed' });
    const p = jobs.run({ runId: run.id, method: 'debug:sleep', params: { ms: 10_000 } });
    await new Promise((r) => setTimeout(r, 200));
    process.kill(services.supervisor.pid!, 'SIGKILL');
    await expect(p).rejects.toMatchObject({ code: 'worker_crashed' });
    const failed = getRun(services.db, run.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/SIGKILL/);
  });
});
