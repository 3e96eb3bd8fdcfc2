// The browser's WebSocket transport (renderer/state/ws-transport.ts) against a real
// WebSocket server speaking the serve protocol: replies by id, pushed events, calls queued
// while disconnected, in-flight calls failed when the socket drops, reconnect with backoff.
import { afterEach, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { createWebSocketTransport, type WebSocketTransport } from '../../renderer/state/ws-transport';
import { createApi } from '../../common/contract/api';

interface Server {
  wss: WebSocketServer;
  port: number;
  received: { id: number; channel: string; payload: unknown }[];
  /** How the server answers; default: echo the payload back as the value. */
  answer: (msg: { id: number; channel: string; payload: unknown }, ws: WebSocket) => void;
}

const open: { close(): void }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

function startServer(port = 0): Promise<Server> {
  return new Promise((resolve) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port }, () => {
      const s: Server = {
        wss,
        port: (wss.address() as AddressInfo).port,
        received: [],
        answer: (m, ws) => ws.send(JSON.stringify({ id: m.id, result: { ok: true, value: { echo: m.payload, channel: m.channel } } })),
      };
      wss.on('connection', (ws) =>
        ws.on('message', (d) => {
          const m = JSON.parse(String(d));
          s.received.push(m);
          s.answer(m, ws);
        }),
      );
      open.push({ close: () => wss.close() });
      resolve(s);
    });
  });
}

function transportTo(port: number, waitForConnectionMs = 5_000): WebSocketTransport {
  const t = createWebSocketTransport(`ws://127.0.0.1:${port}/ws?token=secret`, {
    WebSocketImpl: WebSocket as unknown as typeof globalThis.WebSocket,
    waitForConnectionMs,
    initialBackoffMs: 50,
    maxBackoffMs: 200,
  });
  open.push(t);
  return t;
}

async function stateBecomes(t: WebSocketTransport, state: string) {
  await expect.poll(() => t.state(), { timeout: 5_000 }).toBe(state);
}

function closeServer(s: Server): Promise<void> {
  for (const c of s.wss.clients) c.terminate();
  return new Promise((r) => s.wss.close(() => r()));
}

describe('WebSocket transport', () => {
  it('sends {id, channel, payload} and resolves each call with its own reply', async () => {
    const s = await startServer();
    // Answer in reverse order: replies must be matched by id, not by arrival.
    const held: [number, WebSocket][] = [];
    s.answer = (m, ws) => {
      held.push([m.id, ws]);
      if (held.length === 2)
        for (const [id, w] of held.reverse()) w.send(JSON.stringify({ id, result: { ok: true, value: id } }));
    };
    const api = createApi(transportTo(s.port));
    const [a, b] = await Promise.all([api.system.info({}), api.system.info({})]);
    expect(s.received.map((m) => m.channel)).toEqual(['system:info', 'system:info']);
    expect(s.received[0].payload).toEqual({});
    expect(a).toEqual({ ok: true, value: s.received[0].id });
    expect(b).toEqual({ ok: true, value: s.received[1].id });
  });

  it('passes typed errors through unchanged', async () => {
    const s = await startServer();
    s.answer = (m, ws) =>
      ws.send(JSON.stringify({ id: m.id, result: { ok: false, error: { code: 'invalid_payload', message: 'bad', details: 'x: y' } } }));
    const r = await transportTo(s.port).call('system:info', {});
    expect(r).toEqual({ ok: false, error: { code: 'invalid_payload', message: 'bad', details: 'x: y' } });
  });

  it('delivers pushed events to the listeners of that event only', async () => {
    const s = await startServer();
    const t = transportTo(s.port);
    await stateBecomes(t, 'open');
    const got: unknown[] = [];
    const off = t.subscribe('system:log', (p) => got.push(p));
    for (const c of s.wss.clients) {
      c.send(JSON.stringify({ event: 'system:log', payload: [{ level: 'info', message: 'hi', at: 1 }] }));
      c.send(JSON.stringify({ event: 'other:event', payload: 1 }));
    }
    await expect.poll(() => got.length).toBe(1);
    expect(got[0]).toEqual([{ level: 'info', message: 'hi', at: 1 }]);
    off();
    for (const c of s.wss.clients) c.send(JSON.stringify({ event: 'system:log', payload: [] }));
    await new Promise((r) => setTimeout(r, 100));
    expect(got.length).toBe(1);
  });

  it('fails a call in flight when the connection drops, then reconnects and serves queued calls', async () => {
    const s = await startServer();
    s.answer = () => {}; // never answers: the call stays in flight
    const t = transportTo(s.port);
    const states: string[] = [];
    t.onState((st) => states.push(st));
    const inFlight = t.call('system:info', {});
    await expect.poll(() => s.received.length).toBe(1);
    const port = s.port;
    await closeServer(s);
    const lost = await inFlight;
    expect(lost.ok).toBe(false);
    if (!lost.ok) {
      expect(lost.error.code).toBe('io_error');
      expect(lost.error.message).toMatch(/lost/);
    }
    await stateBecomes(t, 'reconnecting');
    // A call made while away waits for the connection instead of failing at once.
    const queued = t.call('system:info', { n: 2 });
    await new Promise((r) => setTimeout(r, 300));
    const s2 = await startServer(port);
    expect(await queued).toEqual({ ok: true, value: { echo: { n: 2 }, channel: 'system:info' } });
    expect(s2.received.length).toBe(1);
    expect(t.state()).toBe('open');
    expect(states).toEqual(['open', 'reconnecting', 'open']);
  });

  it('fails a call with a typed error when no connection comes in time', async () => {
    const s = await startServer();
    const port = s.port;
    await closeServer(s);
    const t = transportTo(port, 300);
    const r = await t.call('system:info', {});
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('io_error');
      expect(r.error.details).toContain('token=…'); // the token is not repeated in messages
      expect(r.error.details).not.toContain('secret');
    }
  });
});
