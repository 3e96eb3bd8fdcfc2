// `hukuk serve`: the built renderer over HTTP and the contract over a WebSocket at /ws, for
// machines without a display and for the browser tests. The same dispatch() as Electron IPC.
//
// Security (like Jupyter): binds 127.0.0.1 unless told otherwise; a random token in the URL
// it prints is required for every HTTP request and for the WebSocket upgrade (as ?token= or
// as the HttpOnly SameSite=Strict cookie set on the first page load); the Host header must
// name this server (DNS rebinding), and a WebSocket whose Origin is not this server's own
// origin is refused (another web page in the same browser cannot drive it).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { WsRequestSchema, WS_PATH, SERVE_TOKEN_COOKIE, type WsResponse } from '../../common/contract/transport';
import { dispatch, type Handlers } from '../ipc/dispatch';
import type { EventHub } from '../services/events';
import { cspHeader } from '../security';
import { mimeType, openStatic, resolveStatic } from './static-files';

export interface ServeOptions {
  handlers: Handlers;
  events: EventHub;
  /** The built renderer (out/renderer). */
  staticDir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Fixed token (tests); default: 24 random bytes, base64url. */
  token?: string;
  onLog?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export interface RunningServer {
  host: string;
  port: number;
  /** http://127.0.0.1:PORT */
  origin: string;
  token: string;
  /** The URL to open: origin + /?token=... */
  url: string;
  close(): Promise<void>;
}

const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** A client that stops reading loses pushed events rather than growing our memory. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

function sameSecret(a: string | undefined, b: string): boolean {
  if (typeof a !== 'string') return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? newToken();
  const log = options.onLog ?? (() => {});
  let port = options.port ?? 0;
  // Cookies ignore ports: name the cookie after the port so two servers do not clash.
  const cookieName = () => `${SERVE_TOKEN_COOKIE}_${port}`;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;

  /** Host header values and Origins that mean "this server". */
  const ownHosts = () => new Set([`${urlHost}:${port}`, `127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
  // On loopback the Host header must name us (a DNS-rebinding page sends its own name). On
  // an address the user chose to expose, browsers may use any name of the machine.
  const checkHost = LOOPBACK.has(host);
  const hostAllowed = (req: IncomingMessage) =>
    !checkHost || ownHosts().has(String(req.headers.host ?? '').toLowerCase());
  // Same origin as the page: the Origin must name the host the request was sent to (whose
  // Host header hostAllowed has vetted on loopback). A page of another site that learned the
  // token still cannot open the socket from the user's browser.
  const originAllowed = (req: IncomingMessage) => {
    const origin = req.headers.origin;
    if (origin === undefined) return true; // not a browser; the token still applies
    return origin.toLowerCase() === `http://${String(req.headers.host ?? '').toLowerCase()}`;
  };

  /** The token from ?token= or the cookie; whether it came from the query. */
  function presentedToken(req: IncomingMessage): { token?: string; fromQuery: boolean } {
    const url = new URL(req.url ?? '/', 'http://x');
    const q = url.searchParams.get('token');
    if (q !== null) return { token: q, fromQuery: true };
    return { token: parseCookies(req.headers.cookie)[cookieName()], fromQuery: false };
  }

  function refuse(res: ServerResponse, status: number, message: string): void {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(message + '\n');
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (!hostAllowed(req)) return refuse(res, 403, 'Forbidden: unknown Host.');
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, 'Method not allowed.');
    const presented = presentedToken(req);
    if (!sameSecret(presented.token, token)) {
      return refuse(res, 403, 'Forbidden: open the URL that `hukuk serve` printed (it carries the access token).');
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const found = resolveStatic(options.staticDir, url.pathname);
    if (found.kind === 'forbidden') return refuse(res, 403, 'Forbidden path.');
    if (found.kind === 'missing') return refuse(res, 404, 'Not found.');
    const headers: Record<string, string | string[]> = {
      'Content-Type': mimeType(found.path),
      'Content-Length': String(found.size),
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'X-Frame-Options': 'DENY',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cache-Control': found.path.endsWith('.html') ? 'no-store' : 'no-cache',
    };
    if (found.path.endsWith('.html')) headers['Content-Security-Policy'] = cspHeader(`ws://${urlHost}:${port}`);
    if (presented.fromQuery) {
      headers['Set-Cookie'] = `${cookieName()}=${token}; HttpOnly; SameSite=Strict; Path=/`;
    }
    res.writeHead(200, headers);
    if (req.method === 'HEAD') return void res.end();
    const stream = openStatic(found.path);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }

  // An exception in a 'request' listener is uncaught and would end `hukuk serve`: answer 500.
  const server = createServer((req, res) => {
    try {
      onRequest(req, res);
    } catch (e) {
      log('error', `serve: ${req.method} failed: ${(e as Error).message}`);
      if (!res.headersSent) refuse(res, 500, 'Internal error.');
      else res.destroy();
    }
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });

  function refuseUpgrade(socket: Duplex, status: number, text: string): void {
    socket.write(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroy();
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== WS_PATH) return refuseUpgrade(socket, 404, 'Not Found');
    if (!hostAllowed(req)) return refuseUpgrade(socket, 403, 'Forbidden');
    if (!sameSecret(presentedToken(req).token, token)) return refuseUpgrade(socket, 401, 'Unauthorized');
    if (!originAllowed(req)) {
      log('warn', `serve: refused a WebSocket from origin ${req.headers.origin}`);
      return refuseUpgrade(socket, 403, 'Forbidden');
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  wss.on('connection', (ws: WebSocket) => {
    ws.on('error', (e) => log('warn', `serve: WebSocket error: ${e.message}`));
    ws.on('message', (data: RawData) => {
      answer(ws, data).catch((e: unknown) => log('error', `serve: could not answer a message: ${(e as Error).message}`));
    });
  });

  async function answer(ws: WebSocket, data: RawData): Promise<void> {
    const reply = (r: WsResponse) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      let text: string;
      try {
        text = JSON.stringify(r);
      } catch (e) {
        // A handler returned something JSON cannot carry (a BigInt, a cycle): still answer.
        const error = { code: 'internal' as const, message: `The response could not be encoded: ${(e as Error).message}` };
        text = JSON.stringify({ id: r.id, result: { ok: false, error } });
      }
      ws.send(text);
    };
    let msg: unknown;
    try {
      msg = JSON.parse(Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString());
    } catch {
      return reply({ id: null, result: { ok: false, error: { code: 'invalid_payload', message: 'Malformed message: not JSON.' } } });
    }
    const parsed = WsRequestSchema.safeParse(msg);
    if (!parsed.success) {
      const id = (msg as { id?: unknown })?.id;
      return reply({
        id: typeof id === 'number' ? id : null,
        result: {
          ok: false,
          error: { code: 'invalid_payload', message: 'Malformed message: expected {"id": number, "channel": string, "payload": any}.' },
        },
      });
    }
    const { id, channel, payload } = parsed.data;
    reply({ id, result: await dispatch(options.handlers, channel, payload) });
  }

  const unsubscribe = options.events.subscribe((event, payload) => {
    const text = JSON.stringify({ event, payload });
    for (const client of wss.clients) {
      if (client.readyState !== WebSocket.OPEN) continue;
      if (client.bufferedAmount > MAX_BUFFERED_BYTES) {
        log('warn', `serve: a client is not reading; dropped a ${event} event`);
        continue;
      }
      client.send(text);
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const origin = `http://${urlHost}:${port}`;

  return {
    host,
    port,
    origin,
    token,
    url: `${origin}/?token=${token}`,
    async close() {
      unsubscribe();
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
