// The models channels through the real dispatcher and handlers (what the window and
// `hukuk serve` call): payload validation, import of a transformers-made fixture, progress
// events, refusal values, delete.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventName } from '../../common/contract/channels';
import { dispatch } from '../../main/ipc/dispatch';
import { createHandlers } from '../../main/ipc/handlers';
import { createAppServices, type AppServices } from '../../main/services';
import { MemoryTokenStore } from '../../main/io/hub/token-store';
import { createRun, updateRunStatus } from '../../main/store/repositories/runs';

const FIXTURE = resolve(__dirname, '../fixtures/t5/gated_gelu_untied/model');
const tmp = mkdtempSync(join(tmpdir(), 'hukuk-models-ipc-'));
let services: AppServices;
beforeAll(() => {
  services = createAppServices({
    dataDir: join(tmp, 'data'),
    appVersion: '0.0.0-test',
    workerFactory: () => {
      throw new Error('no engine in this test');
    },
  });
});
afterAll(async () => {
  await services.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('models channels', () => {
  it('validate payloads, import with progress events, list, refuse a duplicate, delete', async () => {
    const handlers = createHandlers(services);
    const bad = await dispatch(handlers, 'models:import', { path: '' });
    expect(bad.ok).toBe(false);
    const badRepo = await dispatch(handlers, 'models:pull', { repo: 'not a repo' });
    expect(!badRepo.ok && badRepo.error.code).toBe('invalid_payload');

    const inspected = await dispatch(handlers, 'models:inspect', { path: FIXTURE });
    expect(inspected.ok && inspected.value).toMatchObject({ modelType: 't5', feedForwardProj: 'gated-gelu', vocabSize: 160 });

    const events: { event: EventName; payload: unknown }[] = [];
    const off = services.events.subscribe((event, payload) => events.push({ event, payload }));
    const imported = await dispatch(handlers, 'models:import', { path: FIXTURE, name: 'gated' });
    off();
    expect(imported.ok).toBe(true);
    if (!imported.ok) return;
    const phases = events.filter((e) => e.event === 'models:progress').flatMap((e) => (e.payload as { phase: string; source: string }[]));
    expect(phases.every((p) => p.source === FIXTURE)).toBe(true);
    expect(phases.map((p) => p.phase)).toContain('done');

    const list = await dispatch(handlers, 'models:list', {});
    expect(list.ok && (list.value as { name: string }[]).map((m) => m.name)).toContain('gated');

    const dup = await dispatch(handlers, 'models:import', { path: FIXTURE });
    expect(!dup.ok && dup.error.code).toBe('conflict');

    const missing = await dispatch(handlers, 'models:inspect', { path: join(tmp, 'missing') });
    expect(!missing.ok && missing.error.code).toBe('not_found');

    const cancel = await dispatch(handlers, 'models:cancel-pull', { repo: 'a/b' });
    expect(cancel.ok && cancel.value).toEqual({ cancelled: false });

    // A queued run on the model keeps it: deleting would pull its weights away.
    const modelId = (imported.value as { model: { id: number } }).model.id;
    const run = createRun(services.db, { name: 'uses gated', modelId });
    const busy = await dispatch(handlers, 'models:delete', { id: modelId });
    expect(!busy.ok && busy.error.code).toBe('conflict');
    updateRunStatus(services.db, run.id, 'cancelled');

    const del = await dispatch(handlers, 'models:delete', { id: modelId });
    expect(del.ok && del.value).toMatchObject({ deletedFiles: true });
  });
});

describe('hub token channels', () => {
  it('cannot store without a keychain; with one, keeps it and never returns it', async () => {
    const plain = createHandlers(services);
    const status = await dispatch(plain, 'models:hub-token', {});
    expect(status.ok && status.value).toMatchObject({ canStore: false });
    const refused = await dispatch(plain, 'models:set-hub-token', { token: 'hf_x1234567890' });
    expect(!refused.ok && refused.error.code).toBe('unsupported');

    const kept = new MemoryTokenStore();
    const withKeychain = createHandlers(Object.assign(Object.create(services) as AppServices, { hubTokenStore: kept }));
    const set = await dispatch(withKeychain, 'models:set-hub-token', { token: 'hf_x1234567890' });
    expect(set.ok && set.value).toEqual({ stored: true, source: 'keychain', canStore: true });
    expect(JSON.stringify(set)).not.toContain('hf_x1234567890');
    expect(await kept.get()).toBe('hf_x1234567890');
    const forgot = await dispatch(withKeychain, 'models:set-hub-token', { token: null });
    expect(forgot.ok && forgot.value).toMatchObject({ source: process.env.HF_TOKEN ? 'environment' : null });
  });
});
