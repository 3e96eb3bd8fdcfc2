// Pushed events: the hub fans out and survives a broken listener; the batcher turns a burst
// into one message per interval.
import { describe, expect, it, vi } from 'vitest';
import { createEventBatcher, EventHub } from '../../main/services/events';
import type { PushedEvent } from '../../common/contract/transport';

describe('EventHub', () => {
  it('delivers to every listener even when one throws, and unsubscribes', () => {
    const hub = new EventHub();
    const got: string[] = [];
    hub.subscribe(() => {
      throw new Error('broken transport');
    });
    const off = hub.subscribe((e) => got.push(e));
    hub.emit('runs:status', [{ runId: 1, status: 'running', error: null }]);
    off();
    hub.emit('runs:status', []);
    expect(got).toEqual(['runs:status']);
  });
});

describe('createEventBatcher', () => {
  it('sends a burst of events as one batch per interval, in order', () => {
    vi.useFakeTimers();
    try {
      const sent: PushedEvent[][] = [];
      const b = createEventBatcher((batch) => sent.push(batch), 50);
      for (let i = 0; i < 100; i++) b.push('runs:metrics', [{ runId: 1, step: i, split: 'train', name: 'loss', value: i }]);
      expect(sent).toHaveLength(0);
      vi.advanceTimersByTime(50);
      expect(sent).toHaveLength(1);
      expect(sent[0]).toHaveLength(100);
      expect((sent[0][99].payload as { step: number }[])[0].step).toBe(99);
      b.push('runs:status', []);
      b.stop();
      vi.advanceTimersByTime(100);
      expect(sent).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
