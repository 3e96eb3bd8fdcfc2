// Events that main pushes to every UI (Electron window, browser clients over WebSocket).
// Producers emit already-batched payloads (a batch of metrics, not one value); transports
// may batch further (see createEventBatcher).
import type { EventName, EventPayload } from '../../common/contract/channels';
import type { PushedEvent } from '../../common/contract/transport';

export type EventListener = (event: EventName, payload: unknown) => void;

export class EventHub {
  private listeners = new Set<EventListener>();

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    for (const l of [...this.listeners]) {
      try {
        l(event, payload);
      } catch {
        // A broken transport must not stop the others (or the trainer that emitted).
      }
    }
  }
}

/**
 * Collects events for `intervalMs` and hands them over as one array: one IPC message per
 * frame instead of one per event while a run streams metrics and tokens.
 */
export function createEventBatcher(send: (batch: PushedEvent[]) => void, intervalMs = 50) {
  let queue: PushedEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    if (queue.length === 0) return;
    const batch = queue;
    queue = [];
    send(batch);
  };
  return {
    push: (event: EventName, payload: unknown) => {
      queue.push({ event, payload });
      timer ??= setTimeout(flush, intervalMs);
    },
    flush,
    stop: () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      queue = [];
    },
  };
}
