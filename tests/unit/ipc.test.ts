// The Electron IPC path without Electron: handleIpcInvoke is the function electron-ipc.ts
// registers for every channel; here it gets fake events shaped like Electron's.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleIpcInvoke, isAllowedPageUrl, type FrameLike, type SenderPolicy } from '../../main/ipc/ipc-guard';
import { dispatch } from '../../main/ipc/dispatch';
import { createHandlers } from '../../main/ipc/handlers';
import { createAppServices, type AppServices } from '../../main/services';
import { createRun } from '../../main/store/repositories';
import { tempDir } from '../store/helpers';

const rendererIndex = '/opt/Hukuk Studio/resources/app.asar/out/renderer/index.html';
const pageUrl = pathToFileURL(rendererIndex).href + '#/runs';
const mainFrame: FrameLike = { url: pageUrl, processId: 4, routingId: 1, parent: null };
const policy: SenderPolicy = { mainFrame: () => mainFrame, rendererIndex };

let tmp: ReturnType<typeof tempDir>;
let services: AppServices;
beforeAll(() => {
  tmp = tempDir();
  services = createAppServices({
    dataDir: join(tmp.dir, 'data'),
    appVersion: '0.0.0-test',
    // These tests never reach the engine.
    workerFactory: () => {
      throw new Error('no engine in this test');
    },
  });
});
afterAll(async () => {
  await services.close();
  tmp.remove();
});

describe('IPC dispatch', () => {
  it('rejects a payload of the wrong shape with invalid_payload', async () => {
    const handlers = createHandlers(services);
    const event = { senderFrame: mainFrame };
    const wrongType = await handleIpcInvoke(handlers, policy, event, 'runs:get', { id: 'seven' });
    expect(wrongType.ok).toBe(false);
    if (!wrongType.ok) {
      expect(wrongType.error.code).toBe('invalid_payload');
      expect(wrongType.error.message).toMatch(/runs:get.*id/);
    }
    const extraKey = await handleIpcInvoke(handlers, policy, event, 'models:list', { evil: true });
    expect(extraKey).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    const notObject = await handleIpcInvoke(handlers, policy, event, 'runs:list', 'DROP TABLE runs');
    expect(notObject).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    const unknown = await handleIpcInvoke(handlers, policy, event, 'fs:readFile', { path: '/etc/passwd' });
    expect(unknown).toMatchObject({ ok: false, error: { code: 'invalid_payload', message: expect.stringMatching(/Unknown channel/) } });
  });

  it('answers a valid request from our main frame with the store contents', async () => {
    const run = createRun(services.db, { name: 'ipc-run', config: { r: 16 } });
    const handlers = createHandlers(services);
    const list = await handleIpcInvoke(handlers, policy, { senderFrame: mainFrame }, 'runs:list', {});
    expect(list.ok).toBe(true);
    if (list.ok) expect((list.value as { name: string }[]).map((r) => r.name)).toContain('ipc-run');
    const got = await handleIpcInvoke(handlers, policy, { senderFrame: mainFrame }, 'runs:get', { id: run.id });
    expect(got).toMatchObject({ ok: true, value: { id: run.id, status: 'queued', config: { r: 16 } } });
    const missing = await handleIpcInvoke(handlers, policy, { senderFrame: mainFrame }, 'runs:get', { id: 99999 });
    expect(missing).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });

  it('refuses frames other than our window main frame showing our page', async () => {
    const handlers = createHandlers(services);
    const iframe: FrameLike = { url: pageUrl, processId: 4, routingId: 9, parent: mainFrame };
    const elsewhere: FrameLike = { ...mainFrame, url: 'https://example.com/' };
    for (const senderFrame of [iframe, elsewhere, null]) {
      const frameNow = senderFrame === elsewhere ? elsewhere : mainFrame;
      const r = await handleIpcInvoke(handlers, { ...policy, mainFrame: () => frameNow }, { senderFrame }, 'runs:list', {});
      expect(r).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    }
    // A closed window: nothing may call.
    const gone = await handleIpcInvoke(handlers, { ...policy, mainFrame: () => undefined }, { senderFrame: mainFrame }, 'runs:list', {});
    expect(gone).toMatchObject({ ok: false, error: { code: 'forbidden' } });
  });

  it('accepts only our renderer file or the dev server as the page', () => {
    expect(isAllowedPageUrl(pageUrl, policy)).toBe(true);
    expect(isAllowedPageUrl(pathToFileURL('/tmp/evil/index.html').href, policy)).toBe(false);
    expect(isAllowedPageUrl('file:///opt/Hukuk%20Studio/resources/app.asar/out/renderer/../../../../etc/x.html', policy)).toBe(false);
    expect(isAllowedPageUrl('http://localhost:5173/', policy)).toBe(false);
    expect(isAllowedPageUrl('http://localhost:5173/#/chat', { ...policy, devServerUrl: 'http://localhost:5173' })).toBe(true);
    expect(isAllowedPageUrl('http://localhost:5174/', { ...policy, devServerUrl: 'http://localhost:5173' })).toBe(false);
    expect(isAllowedPageUrl('not a url', policy)).toBe(false);
  });

  it('turns a throwing handler into a typed error instead of rejecting', async () => {
    const handlers = {
      ...createHandlers(services),
      'models:list': () => {
        throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      },
    };
    const r = await dispatch(handlers, 'models:list', {});
    expect(r).toMatchObject({ ok: false, error: { code: 'io_error', message: 'Permission denied.' } });
  });

  it('answers system:info from main when the engine worker cannot start', async () => {
    const r = await handleIpcInvoke(createHandlers(services), policy, { senderFrame: mainFrame }, 'system:info', {});
    expect(r.ok).toBe(true);
    if (r.ok) {
      const info = r.value as { addonVersion: string | null; addonError: string; appVersion: string; cpu: { cores: number } };
      expect(info.addonVersion).toBeNull();
      expect(info.addonError).toMatch(/could not answer: .*no engine in this test/);
      expect(info.appVersion).toBe('0.0.0-test');
      expect(info.cpu.cores).toBeGreaterThan(0);
    }
  });
});
