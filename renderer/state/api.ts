// The one API object the UI uses. In the Electron window the preload script has put the
// contract API on window.hukuk; in a browser (hukuk serve) we build the same API over a
// WebSocket to the page's own host. Pages never know which one they have.
import { useSyncExternalStore } from 'react';
import { createApi, type HukukApi } from '../../common/contract/api';
import { createWebSocketTransport, describeInEnglish, type ConnectionState, type TransportFailure } from './ws-transport';

declare global {
  interface Window {
    /** Set by preload/ in the Electron app. */
    hukuk?: HukukApi;
  }
}

export type Connection = ConnectionState | 'electron';

const tokenKey = 'hukuk.token';

/** The access token `hukuk serve` printed in the URL; kept for the tab so reloads still work. */
export function accessToken(): string | null {
  const fromUrl = new URLSearchParams(location.search).get('token');
  try {
    if (fromUrl) sessionStorage.setItem(tokenKey, fromUrl);
    return fromUrl ?? sessionStorage.getItem(tokenKey);
  } catch {
    return fromUrl;
  }
}

export function webSocketUrl(): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const token = accessToken();
  return `${scheme}://${location.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ''}`;
}

// The transport's own failures are described in the UI language; App keeps this current.
let describeFailure: ((f: TransportFailure) => string) | undefined;
export function setTransportMessages(describe: (f: TransportFailure) => string): void {
  describeFailure = describe;
}

function build(): { api: HukukApi; state: () => Connection; onState: (l: () => void) => () => void } {
  if (window.hukuk) {
    const electronApi = window.hukuk;
    return { api: electronApi, state: () => 'electron', onState: () => () => {} };
  }
  const transport = createWebSocketTransport(webSocketUrl(), {
    describe: (f) => (describeFailure ?? describeInEnglish)(f),
  });
  return { api: createApi(transport), state: transport.state, onState: transport.onState };
}

const built = build();

export const api: HukukApi = built.api;

export function useConnection(): Connection {
  return useSyncExternalStore(built.onState, built.state);
}
