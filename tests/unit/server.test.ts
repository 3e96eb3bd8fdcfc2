// `hukuk serve`'s server for real on a free port: token and origin checks, static files,
// and the contract over the WebSocket (the same dispatch as IPC).
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandlers } from '../../main/ipc/handlers';
import { createAppServices, type AppServices } from '../../main/services';
import { startServer, type RunningServer } from '../../main/server/serve';
import { resolveStatic } from '../../main/server/static-files';
import { createRun } from '../../main/store/repositories';
import { tempDir } from '../store/helpers';

let tmp: ReturnType<typeof tempDir>;
let services: AppServices;
let server: RunningServer;
const INDEX = '<!doctype html><html><head><title>Hukuk Studio</title></head><body><div id="root"></div></body></html>';

beforeAll(async () => {
  tmp = tempDir();
  const web = join(tmp.dir, 'renderer');
  mkdirSync(join(web, 'assets'), { recursive: true });
  writeFileSync(join(web, 'index.html'), INDEX);
  writeFileSync(join(web, 'assets', 'index-abc.js'), 'console.log("hukuk")');
  writeFileSync(join(web, 'assets', 'index-abc.css'), 'body{}');
  writeFileSync(join(tmp.dir, 'secret.txt'), 'outside the web root');
  symlinkSync(join(tmp.dir, 'secret.txt'), join(web, 'assets', 'link.txt'));
  services = createAppServices({
    dataDir: join(tmp.dir, 'data'),
    appVersion: '0.0.0-test',
    workerFactory: () => {
      throw new Error('no engine in this test');
    },
  });
  server = await startServer({ handlers: createHandlers(services), events: services.events, staticDir: web, port: 0 });
});
afterAll(async () => {
  await server.close();
  await services.close();
  tmp.remove();
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, headers, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function connect(query: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws${query}`, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function nextMessage(ws: WebSocket): Promise<Record<string, unknown>> {
  return new Promise((resolve) => ws.once('message', (d) => resolve(JSON.parse(d.toString()) as Record<string, unknown>)));
}

async function call(ws: WebSocket, msg: unknown): Promise<Record<string, unknown>> {
  const reply = nextMessage(ws);
  ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  return reply;
}

describe('hukuk serve: HTTP', () => {
  it('binds 127.0.0.1 on the port it picked and prints a URL with a 32-character token', () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=${server.token}`);
    expect(server.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it('serves index.html with the token and sets an HttpOnly SameSite=Strict cookie', async () => {
    const r = await get(`/?token=${server.token}`);
    expect(r.status).toBe(200);
    expect(r.body).toBe(INDEX);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(String(r.headers['content-security-policy'])).toMatch(/script-src 'self'/);
    const cookie = String(r.headers['set-cookie']);
    expect(cookie).toMatch(new RegExp(`hukuk_token_${server.port}=${server.token}`));
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);

    // With the cookie alone: assets with their MIME types, app routes fall back to index.html.
    const jar = { cookie: `hukuk_token_${server.port}=${server.token}` };
    const js = await get('/assets/index-abc.js', jar);
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await get('/assets/index-abc.css', jar)).headers['content-type']).toBe('text/css; charset=utf-8');
    const route = await get('/runs/12', jar);
    expect(route.status).toBe(200);
    expect(route.body).toBe(INDEX);
    expect((await get('/assets/missing.js', jar)).status).toBe(404);
  });

  it('refuses requests without the token or with a wrong one', async () => {
    expect((await get('/')).status).toBe(403);
    expect((await get('/?token=wrong')).status).toBe(403);
    expect((await get(`/?token=${server.token}x`)).status).toBe(403);
    expect((await get('/assets/index-abc.js', { cookie: `hukuk_token_${server.port}=nope` })).status).toBe(403);
    const body = (await get('/')).body;
    expect(body).not.toContain('Hukuk Studio</title>');
  });

  it('refuses paths that leave the web root', async () => {
    const jar = { cookie: `hukuk_token_${server.port}=${server.token}` };
    for (const p of ['/../secret.txt', '/assets/../../secret.txt', '/%2e%2e/secret.txt', '/assets%2f..%2f..%2fsecret.txt', '/assets/link.txt', '/..%5csecret.txt']) {
      const r = await get(p, jar);
      expect([403, 404], p).toContain(r.status);
      expect(r.body, p).not.toContain('outside the web root');
    }
  });

  it('refuses a foreign Host header (DNS rebinding)', async () => {
    const r = await get(`/?token=${server.token}`, { host: `evil.example:${server.port}` });
    expect(r.status).toBe(403);
  });
});

describe('hukuk serve: WebSocket', () => {
  it('refuses an upgrade without the right token', async () => {
    await expect(connect('')).rejects.toThrow(/HTTP 401/);
    await expect(connect('?token=wrong')).rejects.toThrow(/HTTP 401/);
  });

  it('refuses a foreign Origin even with the token', async () => {
    await expect(connect(`?token=${server.token}`, { origin: 'http://evil.example' })).rejects.toThrow(/HTTP 403/);
    await expect(connect(`?token=${server.token}`, { origin: `http://127.0.0.1:${server.port + 1}` })).rejects.toThrow(/HTTP 403/);
  });

  it('carries the contract: valid calls, invalid payloads and malformed messages', async () => {
    const ws = await connect(`?token=${server.token}`, { origin: server.origin });
    try {
      const run = createRun(services.db, { name: 'ws-run' });
      const list = await call(ws, { id: 1, channel: 'runs:list', payload: {} });
      expect(list.id).toBe(1);
      expect(list.result).toMatchObject({ ok: true });
      expect((list.result as { value: { name: string }[] }).value.map((r) => r.name)).toContain('ws-run');

      const got = await call(ws, { id: 2, channel: 'runs:get', payload: { id: run.id } });
      expect(got).toMatchObject({ id: 2, result: { ok: true, value: { id: run.id, name: 'ws-run' } } });

      const bad = await call(ws, { id: 3, channel: 'runs:get', payload: { id: 'one' } });
      expect(bad).toMatchObject({ id: 3, result: { ok: false, error: { code: 'invalid_payload' } } });

      const unknown = await call(ws, { id: 4, channel: 'shell:exec', payload: {} });
      expect(unknown).toMatchObject({ id: 4, result: { ok: false, error: { code: 'invalid_payload' } } });

      const notJson = await call(ws, '{"id": 5, "channel":');
      expect(notJson).toMatchObject({ id: null, result: { ok: false, error: { code: 'invalid_payload' } } });

      const noChannel = await call(ws, { id: 6 });
      expect(noChannel).toMatchObject({ id: 6, result: { ok: false, error: { code: 'invalid_payload' } } });

      const arrayMsg = await call(ws, [1, 2, 3]);
      expect(arrayMsg).toMatchObject({ id: null, result: { ok: false } });

      // Still alive after all that.
      const again = await call(ws, { id: 7, channel: 'models:list' });
      expect(again).toMatchObject({ id: 7, result: { ok: true, value: [] } });
    } finally {
      ws.close();
    }
  });

  it('pushes events to every authenticated client', async () => {
    const a = await connect(`?token=${server.token}`);
    const b = await connect('', { cookie: `hukuk_token_${server.port}=${server.token}`, origin: server.origin });
    try {
      const ea = nextMessage(a);
      const eb = nextMessage(b);
      services.events.emit('runs:status', [{ runId: 1, status: 'failed', error: 'boom' }]);
      for (const e of await Promise.all([ea, eb])) {
        expect(e).toEqual({ event: 'runs:status', payload: [{ runId: 1, status: 'failed', error: 'boom' }] });
      }
    } finally {
      a.close();
      b.close();
    }
  });

  it('answers with a typed error when a handler result cannot be encoded', async () => {
    const handlers = { ...createHandlers(services), 'models:list': () => [{ big: 10n }] as never };
    const other = await startServer({ handlers, events: services.events, staticDir: tmp.dir, port: 0 });
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${other.port}/ws?token=${other.token}`);
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      const r = await call(ws, { id: 9, channel: 'models:list', payload: {} });
      expect(r).toMatchObject({ id: 9, result: { ok: false, error: { code: 'internal' } } });
      const again = await call(ws, { id: 10, channel: 'runs:list', payload: {} });
      expect(again).toMatchObject({ id: 10, result: { ok: true } });
      ws.close();
    } finally {
      await other.close();
    }
  });
});

describe('hukuk serve: static files', () => {
  it('answers "missing" when the UI folder does not exist (a request must not throw and end the server)', () => {
    const t = tempDir();
    try {
      const root = join(t.dir, 'not-built');
      expect(resolveStatic(root, '/')).toEqual({ kind: 'missing' });
      expect(resolveStatic(root, '/assets/index.js')).toEqual({ kind: 'missing' });
    } finally {
      t.remove();
    }
  });
});
