// The generated API and small pure pieces of the foundation.
import { describe, expect, it } from 'vitest';
import { createApi, type Transport } from '../../common/contract/api';
import { channels, events } from '../../common/contract/channels';
import { parseNvidiaSmi } from '../../worker/system-info';
import { describeExit } from '../../main/jobs/supervisor';
import { CONTENT_SECURITY_POLICY, cspHeader } from '../../main/security';

describe('createApi', () => {
  it('has exactly one method per channel, calling the transport with that channel', async () => {
    const calls: [string, unknown][] = [];
    const transport: Transport = {
      call: async (channel, request) => {
        calls.push([channel, request]);
        return { ok: true, value: null };
      },
      subscribe: () => () => {},
    };
    const api = createApi(transport) as unknown as Record<string, Record<string, (r?: unknown) => Promise<unknown>>>;
    for (const name of Object.keys(channels)) {
      const [domain, action] = name.split(':');
      const method = action.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
      await api[domain][method]({ probe: name });
    }
    expect(calls.map((c) => c[0])).toEqual(Object.keys(channels));
    expect(calls.every(([name, req]) => (req as { probe: string }).probe === name)).toBe(true);
    expect(Object.keys(api).sort()).toEqual([...new Set(Object.keys(channels).map((c) => c.split(':')[0])), 'on'].sort());
  });

  it('subscribes only to known events', () => {
    const seen: string[] = [];
    const api = createApi({
      call: async () => ({ ok: true, value: null }),
      subscribe: (e) => {
        seen.push(e);
        return () => {};
      },
    });
    api.on('runs:metrics', () => {});
    expect(seen).toEqual(['runs:metrics']);
    expect(() => (api.on as (e: string, l: () => void) => void)('fs:changed', () => {})).toThrow(/unknown event/);
    expect(Object.keys(events)).toContain('runs:status');
  });
});

describe('system facts', () => {
  it('parses nvidia-smi CSV', () => {
    const text = 'NVIDIA H100 80GB HBM3, 81559, 580.159.04, 9.0\nTesla T4, 15360, 535.54.03, 7.5\n\n';
    expect(parseNvidiaSmi(text)).toEqual([
      { name: 'NVIDIA H100 80GB HBM3', memoryBytes: 81559 * 1024 * 1024, driver: '580.159.04', computeCapability: '9.0' },
      { name: 'Tesla T4', memoryBytes: 15360 * 1024 * 1024, driver: '535.54.03', computeCapability: '7.5' },
    ]);
    expect(parseNvidiaSmi('NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.')).toEqual([]);
  });

  it('describes how a worker died', () => {
    expect(describeExit({ code: null, signal: 'SIGKILL' })).toMatch(/out of memory/);
    expect(describeExit({ code: null, signal: 'SIGSEGV' })).toMatch(/SIGSEGV/);
    expect(describeExit({ code: 134, signal: null })).toMatch(/exit code 134/);
  });

  it('keeps scripts to the app itself', () => {
    expect(CONTENT_SECURITY_POLICY).toMatch(/script-src 'self'(;|$)/);
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-eval/);
    expect(cspHeader('ws://127.0.0.1:8080')).toMatch(/connect-src 'self' ws:\/\/127\.0\.0\.1:8080;.*frame-ancestors 'none'$/);
  });
});
