// system:pick-path and system:capabilities through the dispatcher: the Electron window passes
// a picker into the services (main/app.ts), `hukuk serve` passes none and gets 'unsupported'.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PickPathRequest } from '../../common/contract/system';
import { dispatch } from '../../main/ipc/dispatch';
import { createHandlers } from '../../main/ipc/handlers';
import { createAppServices, type AppServices } from '../../main/services';
import type { PathPicker } from '../../main/services/path-picker';
import { tempDir } from '../store/helpers';

const open: { services: AppServices; remove: () => void }[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.services.close();
    o.remove();
  }
});

function servicesWith(pathPicker?: PathPicker): AppServices {
  const tmp = tempDir();
  const services = createAppServices({
    dataDir: join(tmp.dir, 'data'),
    appVersion: '0.0.0-test',
    workerFactory: () => {
      throw new Error('no engine in this test');
    },
    pathPicker,
  });
  open.push({ services, remove: tmp.remove });
  return services;
}

describe('system:pick-path', () => {
  it('with a picker (the window): passes the request through and answers the chosen path or null', async () => {
    const asked: PickPathRequest[] = [];
    let answer: string | null = '/home/avukat/veri/qa.json';
    const handlers = createHandlers(
      servicesWith(async (req) => {
        asked.push(req);
        return answer;
      }),
    );
    expect(await dispatch(handlers, 'system:capabilities', {})).toEqual({ ok: true, value: { canPickPaths: true } });
    const req = { kind: 'file', title: 'Veri seti seç', filters: [{ name: 'Data', extensions: ['json', 'jsonl', 'csv', 'parquet'] }] };
    expect(await dispatch(handlers, 'system:pick-path', req)).toEqual({ ok: true, value: { path: '/home/avukat/veri/qa.json' } });
    expect(asked).toEqual([req]);
    answer = null; // closed without choosing
    expect(await dispatch(handlers, 'system:pick-path', { kind: 'folder' })).toEqual({ ok: true, value: { path: null } });
    expect(asked[1]).toEqual({ kind: 'folder' });
  });

  it('without a picker (hukuk serve): unsupported, with what to do instead', async () => {
    const handlers = createHandlers(servicesWith());
    expect(await dispatch(handlers, 'system:capabilities', {})).toEqual({ ok: true, value: { canPickPaths: false } });
    expect(await dispatch(handlers, 'system:pick-path', { kind: 'folder' })).toEqual({
      ok: false,
      error: { code: 'unsupported', message: 'Type the path: a browser cannot open a file dialog on the server.' },
    });
  });

  it('refuses malformed requests before any dialog opens', async () => {
    let opened = 0;
    const handlers = createHandlers(
      servicesWith(async () => {
        opened++;
        return '/x';
      }),
    );
    for (const bad of [{}, { kind: 'anything' }, { kind: 'file', filters: [{ name: 'x', extensions: ['../..'] }] }, { kind: 'file', defaultPath: '/etc' }]) {
      const r = await dispatch(handlers, 'system:pick-path', bad);
      expect(r.ok ? 'ok' : r.error.code).toBe('invalid_payload');
    }
    expect(opened).toBe(0);
  });
});
