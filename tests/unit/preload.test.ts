// The preload script with a stand-in for Electron's modules (Electron cannot run here): it
// must expose exactly the generated API, invoke only known channels, and fan batched events
// out to subscribers.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { channels } from '../../common/contract/channels';
import { IPC_EVENTS_CHANNEL } from '../../common/contract/transport';

const exposed: Record<string, unknown> = {};
const invoked: [string, unknown][] = [];
const rendererListeners = new Map<string, (event: unknown, ...args: unknown[]) => void>();

vi.mock('electron', () => ({
  contextBridge: { exposeInMainWorld: (key: string, api: unknown) => (exposed[key] = api) },
  ipcRenderer: {
    invoke: async (channel: string, payload: unknown) => {
      invoked.push([channel, payload]);
      return { ok: true, value: channel };
    },
    on: (channel: string, l: (event: unknown, ...args: unknown[]) => void) => rendererListeners.set(channel, l),
  },
}));

type Api = Record<string, Record<string, (req?: unknown) => Promise<unknown>>> & {
  on: (event: string, l: (p: unknown) => void) => () => void;
};

beforeAll(async () => {
  await import('../../preload/index');
});

describe('preload', () => {
  it('exposes only window.hukuk, with one method per channel and no generic invoke', () => {
    expect(Object.keys(exposed)).toEqual(['hukuk']);
    const api = exposed.hukuk as Api;
    const domains = new Set(Object.keys(channels).map((c) => c.split(':')[0]));
    expect(new Set(Object.keys(api))).toEqual(new Set([...domains, 'on']));
    for (const d of domains) {
      for (const v of Object.values(api[d])) expect(typeof v).toBe('function');
    }
    expect('invoke' in api).toBe(false);
    expect('ipcRenderer' in api).toBe(false);
  });

  it('invokes the channel named by the method, with the request as given', async () => {
    const api = exposed.hukuk as Api;
    await expect(api.runs.get({ id: 3 })).resolves.toEqual({ ok: true, value: 'runs:get' });
    await api.system.info();
    expect(invoked).toEqual([
      ['runs:get', { id: 3 }],
      ['system:info', {}],
    ]);
  });

  it('delivers batched events to the subscribers of each event, and stops after unsubscribe', () => {
    const api = exposed.hukuk as Api;
    const got: unknown[] = [];
    const off = api.on('runs:status', (p) => got.push(p));
    const push = rendererListeners.get(IPC_EVENTS_CHANNEL)!;
    push({}, [
      { event: 'runs:status', payload: [{ runId: 1, status: 'running', error: null }] },
      { event: 'runs:metrics', payload: [] },
      { event: 'runs:status', payload: [{ runId: 1, status: 'completed', error: null }] },
    ]);
    expect(got).toHaveLength(2);
    off();
    push({}, [{ event: 'runs:status', payload: [] }]);
    expect(got).toHaveLength(2);
    push({}, 'not a batch');
    expect(() => api.on('fs:changed', () => {})).toThrow(/unknown event/);
  });
});
