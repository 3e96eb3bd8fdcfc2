// Runs from the UI's channels through the real engine worker on the CPU: a tiny T5 trains on
// real rows (queued -> running -> completed, metrics stored, checkpoints + adapter recorded),
// runs queue one at a time, cancel works queued and running, a worker crash fails the run,
// delete removes the run's folder.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run, RunStatus } from '../../common/contract/runs';
import { configFromPreset } from '../../common/training/presets';
import { dispatch } from '../../main/ipc/dispatch';
import { createHandlers } from '../../main/ipc/handlers';
import type { Handlers } from '../../main/ipc/dispatch';
import { runsServiceOf } from '../../main/services/runs';
import { createRun, getRun, listAdapters, listCheckpoints, listMetrics, updateRunStatus } from '../../main/store/repositories';
import { startTinyApp, type TinyApp } from './tiny-app';

let app: TinyApp;
let handlers: Handlers;
const statuses: { runId: number; status: RunStatus }[] = [];
const pushedMetrics = new Map<number, number>();
let orphanRunning = 0;
let orphanQueued = 0;

beforeAll(async () => {
  app = await startTinyApp();
  // What a previous process left unfinished: one run mid-training, one waiting.
  const db = app.services.db;
  orphanRunning = createRun(db, { name: 'was running', modelId: app.modelId, datasetId: app.datasetId, config: smallConfig(), device: 'cpu' }).id;
  updateRunStatus(db, orphanRunning, 'running');
  orphanQueued = createRun(db, {
    name: 'was queued',
    modelId: app.modelId,
    datasetId: app.datasetId,
    config: smallConfig({ maxSteps: 2, evalEvery: 0, checkpointEvery: 0 }),
    device: 'cpu',
    dir: join(app.dataDir, 'runs', 'was-queued'),
  }).id;
  handlers = createHandlers(app.services);
  app.services.events.subscribe((event, payload) => {
    if (event === 'runs:status') statuses.push(...(payload as { runId: number; status: RunStatus }[]));
    if (event === 'runs:metrics') for (const p of payload as { runId: number }[]) pushedMetrics.set(p.runId, (pushedMetrics.get(p.runId) ?? 0) + 1);
  });
}, 60_000);
afterAll(async () => app?.close());

function smallConfig(over: Record<string, unknown> = {}) {
  return {
  ...configFromPreset('quick-cpu-smoke'),
  batchSize: 4,
  maxSourceLength: 24,
  maxTargetLength: 24,
  maxSteps: 6,
  evalEvery: 3,
  evalBatchSize: 8,
  maxEvalSamples: 8,
  checkpointEvery: 3,
  keepCheckpoints: 2,
  learningRate: 3e-3,
  ...over,
  };
}

async function call<T>(channel: string, req: unknown): Promise<T> {
  const r = await dispatch(handlers, channel, req);
  if (!r.ok) throw Object.assign(new Error(r.error.message), { code: r.error.code });
  return r.value as T;
}

async function until(cond: () => boolean, ms = 30_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

const statusesOf = (runId: number) => statuses.filter((s) => s.runId === runId).map((s) => s.status);

describe('runs through the real worker (tiny T5, CPU)', () => {
  it('after a restart: a run left running is failed, a queued one trains', async () => {
    await call('runs:list', {}); // the list has no side effects
    expect(getRun(app.services.db, orphanRunning).status).toBe('running');
    runsServiceOf(app.services); // first use of the service (the app does this at start)
    expect(getRun(app.services.db, orphanRunning)).toMatchObject({ status: 'failed', error: 'The app stopped while this run was training.' });
    await runsServiceOf(app.services).whenIdle();
    expect(getRun(app.services.db, orphanQueued).status).toBe('completed');
  }, 60_000);

  it('rejects a bad configuration with a typed error (the one schema)', async () => {
    const bad = await dispatch(handlers, 'runs:create', { name: 'x', modelId: app.modelId, datasetId: app.datasetId, config: { ...smallConfig(), loraR: 0 } });
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    const missing = await dispatch(handlers, 'runs:create', { name: 'x', modelId: 999, datasetId: app.datasetId, config: smallConfig() });
    expect(missing).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });

  it('trains: queued -> running -> completed, metrics stored and pushed, checkpoints and adapter recorded', async () => {
    const run = await call<Run>('runs:create', { name: 'tiny', modelId: app.modelId, datasetId: app.datasetId, config: smallConfig({ checkpointEvery: 1 }), device: 'cpu' });
    expect(run.status).toBe('queued');
    expect(run.dir).toBe(join(app.dataDir, 'runs', String(run.id)));
    await runsServiceOf(app.services).whenIdle();
    const done = getRun(app.services.db, run.id);
    expect(done.error).toBeNull();
    expect(done.status).toBe('completed');
    expect(statusesOf(run.id)).toEqual(['queued', 'running', 'completed']);

    const loss = listMetrics(app.services.db, run.id, { names: ['loss'] });
    const train = loss.filter((p) => p.split === 'train');
    expect(train.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(train.every((p) => Number.isFinite(p.value) && p.value > 0)).toBe(true);
    expect(loss.filter((p) => p.split === 'validation').map((p) => p.step)).toEqual([3, 6]);
    expect(pushedMetrics.get(run.id)).toBe(listMetrics(app.services.db, run.id).length);

    const checkpoints = listCheckpoints(app.services.db, run.id);
    // A resumable checkpoint every update, the newest 2 kept (the rows follow the pruning);
    // the end writes the adapter instead.
    expect(checkpoints.map((c) => c.step)).toEqual([4, 5]);
    expect(checkpoints[1].path).toBe(join(run.dir!, 'checkpoints', 'step-5'));
    expect(checkpoints.every((c) => existsSync(join(c.path, 'COMPLETE')))).toBe(true);
    const [adapter] = listAdapters(app.services.db, { runId: run.id });
    expect(adapter.path).toBe(join(run.dir!, 'adapter'));
    expect(existsSync(join(adapter.path, 'adapter_model.safetensors'))).toBe(true);
    expect(adapter.config).toMatchObject({ template: { input: 'Soru: {question}' }, steps: 6 });

    // runs:compare returns each run's points for one chart.
    const cmp = await call<{ runId: number; points: unknown[] }[]>('runs:compare', { runIds: [run.id], names: ['loss'] });
    expect(cmp[0].points).toHaveLength(loss.length);
  }, 60_000);

  it('runs one at a time; a queued run can be cancelled; a running one stops when asked', async () => {
    const long = smallConfig({ maxSteps: 100_000, checkpointEvery: 0, evalEvery: 0 });
    const a = await call<Run>('runs:create', { name: 'long', modelId: app.modelId, datasetId: app.datasetId, config: long });
    const b = await call<Run>('runs:create', { name: 'waits', modelId: app.modelId, datasetId: app.datasetId, config: smallConfig() });
    await until(() => listMetrics(app.services.db, a.id).length > 0);
    expect(getRun(app.services.db, a.id).status).toBe('running');
    expect(getRun(app.services.db, b.id).status).toBe('queued');
    expect(await call('runs:cancel', { id: b.id })).toEqual({ cancelled: true });
    expect(getRun(app.services.db, b.id).status).toBe('cancelled');
    expect(await call('runs:cancel', { id: a.id })).toEqual({ cancelled: true });
    await runsServiceOf(app.services).whenIdle();
    expect(getRun(app.services.db, a.id)).toMatchObject({ status: 'cancelled' });
    expect(statusesOf(b.id)).toEqual(['queued', 'cancelled']);
    expect(listAdapters(app.services.db, { runId: a.id })).toHaveLength(0);
    // A running run cannot be deleted; a finished one can, folder included.
    await expect(call('runs:delete', { id: a.id })).resolves.toMatchObject({ deleted: true });
    expect(existsSync(join(app.dataDir, 'runs', String(a.id)))).toBe(false);
    await expect(call('runs:get', { id: a.id })).rejects.toMatchObject({ code: 'not_found' });
  }, 60_000);

  it('a worker that dies under a run marks it failed with the reason; the next run gets a fresh worker', async () => {
    const a = await call<Run>('runs:create', {
      name: 'crash',
      modelId: app.modelId,
      datasetId: app.datasetId,
      config: smallConfig({ maxSteps: 100_000, checkpointEvery: 0, evalEvery: 0 }),
    });
    await until(() => listMetrics(app.services.db, a.id).length > 0);
    await app.services.supervisor.request('debug:crash', { how: 'kill' }).catch(() => {});
    await runsServiceOf(app.services).whenIdle();
    const failed = getRun(app.services.db, a.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/SIGKILL|killed|exit/i);
    const deleting = await call<{ deleted: boolean; removedFiles: boolean }>('runs:delete', { id: a.id });
    expect(deleting.deleted).toBe(true);

    const b = await call<Run>('runs:create', { name: 'after', modelId: app.modelId, datasetId: app.datasetId, config: smallConfig({ maxSteps: 2, evalEvery: 0, checkpointEvery: 0 }) });
    await runsServiceOf(app.services).whenIdle();
    expect(getRun(app.services.db, b.id).status).toBe('completed');
  }, 60_000);
});
