// The typed API object the renderer sees (window.hukuk in Electron, the same shape over
// WebSocket in the browser). Generated from the channel list: 'runs:list' becomes
// api.runs.list(request). There is no generic invoke.
import { channels, events, type ChannelName, type RequestOf, type ResponseOf, type EventName, type EventPayload } from './channels';
import type { Result } from './errors';

/** How a generated API reaches main: Electron IPC in preload, a WebSocket in the browser. */
export interface Transport {
  call(channel: ChannelName, request: unknown): Promise<Result<unknown>>;
  subscribe(event: EventName, listener: (payload: unknown) => void): () => void;
}

type Split<S extends string> = S extends `${infer D}:${infer A}` ? [D, A] : never;
type Camel<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;
type Domains = Split<ChannelName>[0];
type ActionsOf<D extends string> = { [C in ChannelName]: Split<C>[0] extends D ? C : never }[ChannelName];

// A request whose fields are all optional (e.g. the empty request of system:info) may be omitted.
type Method<C extends ChannelName> = Record<never, never> extends RequestOf<C>
  ? (request?: RequestOf<C>) => Promise<Result<ResponseOf<C>>>
  : (request: RequestOf<C>) => Promise<Result<ResponseOf<C>>>;

export type HukukApi = {
  [D in Domains]: { [C in ActionsOf<D> as Camel<Split<C>[1]>]: Method<C> };
} & {
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void;
};

export function camel(s: string): string {
  return s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

export function createApi(transport: Transport): HukukApi {
  const api: Record<string, unknown> = {};
  for (const name of Object.keys(channels) as ChannelName[]) {
    const [domain, action] = name.split(':') as [string, string];
    const ns = (api[domain] ??= {}) as Record<string, unknown>;
    ns[camel(action)] = (request: unknown = {}) => transport.call(name, request);
  }
  api.on = (event: EventName, listener: (p: unknown) => void) => {
    if (!(event in events)) throw new Error(`unknown event ${String(event)}`);
    return transport.subscribe(event, listener);
  };
  return api as HukukApi;
}
