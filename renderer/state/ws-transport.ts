// The contract over a WebSocket, for the browser UI served by `hukuk serve`.
// Protocol (main/server implements the other side):
//   client -> server  {"id": number, "channel": string, "payload": any}
//   server -> client  {"id": number, "result": {ok:true,value} | {ok:false,error:{code,message,details?}}}
//   server pushes     {"event": string, "payload": any}
// The socket reconnects with exponential backoff. A call made while disconnected waits for
// the next connection (up to waitForConnectionMs) and then fails with a typed error; a call
// already sent when the socket drops fails at once, because we cannot know whether it ran.
import type { Transport } from '../../common/contract/api';
import type { ChannelName, EventName } from '../../common/contract/channels';
import type { AppErrorValue, Result } from '../../common/contract/errors';

export type ConnectionState = 'connecting' | 'open' | 'reconnecting';

export type TransportFailure = 'lost' | 'timeout';

export interface WebSocketTransportOptions {
  /** How long a call waits for a connection before failing. */
  waitForConnectionMs?: number;
  /** First reconnect delay; doubled per failed attempt up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** The message a person sees for the transport's own failures (set from the UI language). */
  describe?: (failure: TransportFailure) => string;
  /** Injected in tests that run outside a browser. */
  WebSocketImpl?: typeof WebSocket;
}

export interface WebSocketTransport extends Transport {
  state(): ConnectionState;
  onState(listener: (state: ConnectionState) => void): () => void;
  /** Stops reconnecting and fails whatever is pending. */
  close(): void;
}

interface Pending {
  resolve: (r: Result<unknown>) => void;
}

interface Queued {
  message: string;
  id: number;
  resolve: (r: Result<unknown>) => void;
  timer: ReturnType<typeof setTimeout>;
}

export const describeInEnglish = (f: TransportFailure) =>
  f === 'lost'
    ? 'The connection to the Hukuk Studio server was lost.'
    : 'The Hukuk Studio server could not be reached in time.';

export function createWebSocketTransport(url: string, options: WebSocketTransportOptions = {}): WebSocketTransport {
  const WS = options.WebSocketImpl ?? WebSocket;
  const waitMs = options.waitForConnectionMs ?? 15_000;
  const initialBackoff = options.initialBackoffMs ?? 500;
  const maxBackoff = options.maxBackoffMs ?? 15_000;
  const describe = () => options.describe ?? describeInEnglish;

  let socket: WebSocket | null = null;
  let state: ConnectionState = 'connecting';
  let attempt = 0;
  let nextId = 1;
  let closed = false;
  let reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  const pending = new Map<number, Pending>();
  const queue: Queued[] = [];
  const stateListeners = new Set<(s: ConnectionState) => void>();
  const eventListeners = new Map<string, Set<(payload: unknown) => void>>();

  const failure = (kind: TransportFailure, details: string): Result<unknown> => {
    const error: AppErrorValue = { code: 'io_error', message: describe()(kind), details };
    return { ok: false, error };
  };

  function setState(s: ConnectionState) {
    if (s === state) return;
    state = s;
    for (const l of stateListeners) l(s);
  }

  function connect() {
    if (closed) return;
    const ws = new WS(url);
    socket = ws;
    ws.onopen = () => {
      attempt = 0;
      setState('open');
      // Flush calls made while we were away, in the order they were made.
      for (const q of queue.splice(0)) {
        clearTimeout(q.timer);
        pending.set(q.id, { resolve: q.resolve });
        ws.send(q.message);
      }
    };
    ws.onmessage = (ev: MessageEvent) => onMessage(typeof ev.data === 'string' ? ev.data : String(ev.data));
    ws.onclose = (ev: CloseEvent) => {
      if (socket !== ws) return;
      socket = null;
      const why = `websocket closed (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ''})`;
      for (const [id, p] of pending) {
        pending.delete(id);
        p.resolve(failure('lost', why));
      }
      if (closed) return;
      setState('reconnecting');
      const delay = Math.min(maxBackoff, initialBackoff * 2 ** attempt) * (0.75 + Math.random() * 0.5);
      attempt++;
      reconnectTimer = setTimeout(connect, delay);
    };
    // onerror is always followed by onclose, which does the work.
    ws.onerror = () => {};
  }

  function onMessage(text: string) {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      console.warn('hukuk: ignoring a non-JSON message from the server');
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    const m = msg as { id?: unknown; result?: unknown; event?: unknown; payload?: unknown };
    if (typeof m.id === 'number') {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      p.resolve(isResult(m.result) ? m.result : failure('lost', `malformed reply: ${text.slice(0, 200)}`));
    } else if (typeof m.event === 'string') {
      for (const l of eventListeners.get(m.event) ?? []) {
        try {
          l(m.payload);
        } catch (e) {
          console.error(`hukuk: listener for ${m.event} threw`, e);
        }
      }
    }
  }

  connect();

  return {
    call(channel: ChannelName, request: unknown): Promise<Result<unknown>> {
      const id = nextId++;
      const message = JSON.stringify({ id, channel, payload: request ?? {} });
      return new Promise((resolve) => {
        if (closed) return resolve(failure('lost', 'transport closed'));
        if (socket && socket.readyState === WS.OPEN) {
          pending.set(id, { resolve });
          socket.send(message);
          return;
        }
        const timer = setTimeout(() => {
          const i = queue.findIndex((q) => q.id === id);
          if (i >= 0) queue.splice(i, 1);
          resolve(failure('timeout', `no connection to ${redact(url)} within ${waitMs} ms`));
        }, waitMs);
        queue.push({ id, message, resolve, timer });
      });
    },
    subscribe(event: EventName, listener: (payload: unknown) => void) {
      let set = eventListeners.get(event);
      if (!set) eventListeners.set(event, (set = new Set()));
      set.add(listener);
      return () => {
        set.delete(listener);
      };
    },
    state: () => state,
    onState(listener) {
      stateListeners.add(listener);
      return () => {
        stateListeners.delete(listener);
      };
    },
    close() {
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      for (const q of queue.splice(0)) {
        clearTimeout(q.timer);
        q.resolve(failure('lost', 'transport closed'));
      }
      socket?.close();
    },
  };
}

function isResult(v: unknown): v is Result<unknown> {
  if (!v || typeof v !== 'object') return false;
  const r = v as { ok?: unknown; error?: unknown };
  if (r.ok === true) return 'value' in r;
  if (r.ok !== false || !r.error || typeof r.error !== 'object') return false;
  const e = r.error as { code?: unknown; message?: unknown };
  return typeof e.code === 'string' && typeof e.message === 'string';
}

/** The URL without its token, for messages a person may paste somewhere. */
export function redact(url: string): string {
  return url.replace(/([?&]token=)[^&]*/, '$1…');
}
