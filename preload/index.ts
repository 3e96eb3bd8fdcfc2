// The preload (sandboxed: it may require only 'electron'; electron-vite bundles the contract
// and zod into it). It exposes exactly the API generated from the contract as window.hukuk:
// one method per known channel, plus on(event) for pushed events. No ipcRenderer, no
// generic invoke.
import { contextBridge, ipcRenderer } from 'electron';
import { createApi, type Transport } from '../common/contract/api';
import { channels, events, type EventName } from '../common/contract/channels';
import type { Result } from '../common/contract/errors';
import { IPC_EVENTS_CHANNEL, type PushedEvent } from '../common/contract/transport';
import { z } from 'zod';

// No eval here (the page's CSP forbids it and zod would probe for it otherwise).
z.config({ jitless: true });

const listeners = new Map<string, Set<(payload: unknown) => void>>();

ipcRenderer.on(IPC_EVENTS_CHANNEL, (_event, batch: unknown) => {
  if (!Array.isArray(batch)) return;
  for (const item of batch as PushedEvent[]) {
    for (const l of listeners.get(item?.event) ?? []) {
      try {
        l(item.payload);
      } catch (e) {
        console.error(`hukuk: a listener of ${item.event} threw`, e);
      }
    }
  }
});

const ipcTransport: Transport = {
  async call(channel, request) {
    if (!Object.prototype.hasOwnProperty.call(channels, channel)) {
      return { ok: false, error: { code: 'invalid_payload', message: `Unknown channel: ${String(channel)}` } };
    }
    return (await ipcRenderer.invoke(channel, request)) as Result<unknown>;
  },
  subscribe(event: EventName, listener) {
    if (!Object.prototype.hasOwnProperty.call(events, event)) throw new Error(`unknown event ${String(event)}`);
    let set = listeners.get(event);
    if (!set) listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  },
};

contextBridge.exposeInMainWorld('hukuk', createApi(ipcTransport));
