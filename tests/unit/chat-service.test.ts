// Chat through the real worker on the CPU: a tiny T5 trained for a few updates answers; its
// tokens arrive as chat:tokens batches whose text adds up to the stored answer; the session
// with the base model alone works too; an answer can be stopped; a run without an adapter
// cannot be chatted with.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessageInfo, ChatSessionInfo } from '../../common/contract/chat';
import type { Run } from '../../common/contract/runs';
import { configFromPreset } from '../../common/training/presets';
import { dispatch, type Handlers } from '../../main/ipc/dispatch';
import { createHandlers } from '../../main/ipc/handlers';
import { chatServiceOf } from '../../main/services/chat';
import { runsServiceOf } from '../../main/services/runs';
import { getRun } from '../../main/store/repositories';
import { startTinyApp, type TinyApp } from './tiny-app';

let app: TinyApp;
let handlers: Handlers;
const tokens: { messageId: number; text: string; tokens: number }[] = [];
const done: { messageId: number; status: string; content: string; error: string | null }[] = [];

beforeAll(async () => {
  app = await startTinyApp(24);
  handlers = createHandlers(app.services);
  app.services.events.subscribe((event, payload) => {
    if (event === 'chat:tokens') tokens.push(...(payload as typeof tokens));
    if (event === 'chat:status') done.push(...(payload as typeof done));
  });
}, 60_000);
afterAll(async () => app?.close());

async function call<T>(channel: string, req: unknown): Promise<T> {
  const r = await dispatch(handlers, channel, req);
  if (!r.ok) throw Object.assign(new Error(r.error.message), { code: r.error.code });
  return r.value as T;
}

describe('chat through the real worker (tiny T5, CPU)', () => {
  let run: Run;

  it('a run without an adapter cannot be chatted with; a trained one can', async () => {
    const config = { ...configFromPreset('quick-cpu-smoke'), batchSize: 4, maxSourceLength: 24, maxTargetLength: 24, maxSteps: 2, evalEvery: 0, checkpointEvery: 0 };
    run = await call<Run>('runs:create', { name: 'chatty', modelId: app.modelId, datasetId: app.datasetId, config });
    await expect(call('chat:create-session', { runId: run.id })).rejects.toMatchObject({ code: 'conflict' });
    await runsServiceOf(app.services).whenIdle();
    expect(getRun(app.services.db, run.id).status).toBe('completed');
    const session = await call<ChatSessionInfo>('chat:create-session', { runId: run.id });
    expect(session).toMatchObject({ runId: run.id, modelId: app.modelId, title: 'chatty' });
    expect(session.adapterId).not.toBeNull();
    await expect(call('chat:create-session', { runId: run.id, modelId: app.modelId })).rejects.toMatchObject({ code: 'invalid_payload' });
  }, 60_000);

  it('streams the answer in batches and stores it', async () => {
    const [session] = await call<ChatSessionInfo[]>('chat:sessions', {});
    const sent = await call<{ userMessageId: number; messageId: number }>('chat:send', {
      sessionId: session.id,
      content: 'Kira sözleşmesi nasıl feshedilir?',
      // A random tiny base tends to repeat one id under greedy search; sampling gives varied text.
      options: { mode: 'sampling', seed: 5, temperature: 1, topK: 0, topP: 1, maxNewTokens: 12, minNewTokens: 12 },
    });
    await chatServiceOf(app.services).whenDone(sent.messageId);
    const mine = tokens.filter((t) => t.messageId === sent.messageId);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.length).toBeLessThan(12 + 1); // batches, at most one per token
    expect(mine[mine.length - 1].tokens).toBe(12);
    const streamed = mine.map((t) => t.text).join('');
    const messages = await call<ChatMessageInfo[]>('chat:messages', { sessionId: session.id });
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(messages[0].content).toBe('Kira sözleşmesi nasıl feshedilir?');
    const answer = messages[1];
    expect(answer.id).toBe(sent.messageId);
    expect(answer.content.length).toBeGreaterThan(0);
    expect(answer.content).toBe(streamed.trim());
    expect(answer.stats).toMatchObject({ status: 'completed', tokens: 12, error: null });
    expect(done.find((d) => d.messageId === sent.messageId)).toMatchObject({ status: 'completed', content: answer.content });
  }, 60_000);

  it('beam search and sampling answer too; the base model alone works (no adapter)', async () => {
    const base = await call<ChatSessionInfo>('chat:create-session', { modelId: app.modelId });
    expect(base.runId).toBeNull();
    for (const options of [{ mode: 'beam', numBeams: 3, maxNewTokens: 6, minNewTokens: 6 }, { mode: 'sampling', seed: 3, maxNewTokens: 6, minNewTokens: 6 }]) {
      const sent = await call<{ messageId: number }>('chat:send', { sessionId: base.id, content: 'Soru nedir?', options });
      await chatServiceOf(app.services).whenDone(sent.messageId);
      const answer = (await call<ChatMessageInfo[]>('chat:messages', { sessionId: base.id })).find((m) => m.id === sent.messageId)!;
      expect(answer.stats).toMatchObject({ status: 'completed', tokens: 6 });
      expect(answer.content.length).toBeGreaterThan(0);
    }
  }, 60_000);

  it('stops an answer when asked, keeping what came so far', async () => {
    const [session] = (await call<ChatSessionInfo[]>('chat:sessions', {})).filter((s) => s.runId !== null);
    const sent = await call<{ messageId: number }>('chat:send', { sessionId: session.id, content: 'Uzun bir cevap ver.', options: { maxNewTokens: 2048, minNewTokens: 2048 } });
    // A second question while this one answers is refused.
    await expect(call('chat:send', { sessionId: session.id, content: 've?' })).rejects.toMatchObject({ code: 'conflict' });
    const t0 = Date.now();
    while (!tokens.some((t) => t.messageId === sent.messageId) && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 20));
    expect(await call('chat:cancel', { messageId: sent.messageId })).toEqual({ cancelled: true });
    await chatServiceOf(app.services).whenDone(sent.messageId);
    const answer = (await call<ChatMessageInfo[]>('chat:messages', { sessionId: session.id })).find((m) => m.id === sent.messageId)!;
    expect(answer.stats).toMatchObject({ status: 'cancelled' });
    expect((answer.stats.tokens as number) < 2048).toBe(true);
    expect(await call('chat:cancel', { messageId: sent.messageId })).toEqual({ cancelled: false });
  }, 60_000);
});
