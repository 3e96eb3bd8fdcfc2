// Chat: sessions with a trained run (base model + its adapter) or a base model, and answers
// generated in the engine worker (`chat:generate`, the model kept warm there). The question is
// put through the run's prompt template and tokenized here; the worker streams token ids back
// in small batches, which are decoded incrementally (StreamDecoder: no broken characters
// mid-stream) and pushed as `chat:tokens`; the final answer is stored, then `chat:status`.
import { AppError, toErrorValue } from '../../common/contract/errors';
import type { ChatMessageInfo, ChatSessionInfo, GenerationOptions } from '../../common/contract/chat';
import { renderTemplate, TEMPLATES, type PromptTemplate } from '../../common/datasets/templates';
import { StreamDecoder } from '../../common/tokenizer';
import { loadTokenizer, type LoadedTokenizer } from '../io/tokenizers';
import {
  addChatMessage,
  createChatSession,
  deleteChatSession,
  findModel,
  getChatSession,
  getRun,
  listAdapters,
  listChatMessages,
  listChatSessions,
  updateChatMessage,
  type ChatSession,
} from '../store/repositories';
import type { AppServices } from './index';
import type { ParamsOf } from '../../worker/protocol';

type Services = Pick<AppServices, 'db' | 'events' | 'supervisor'>;

interface Generation {
  sessionId: number;
  abort: AbortController;
  done: Promise<void>;
}

/** What a chat generates with: the base, the run's adapter, and the load options the run trained with
 * (on CUDA the worker loads the base as trained, e.g. NF4; the CPU keeps the exact fp32 base). */
type ChatTarget = Pick<ParamsOf<'chat:generate'>, 'modelDir' | 'adapterDir' | 'device' | 'quant' | 'quantizeWo' | 'compute'>;

/** The run's quantization/compute from its stored config (older or odd configs: the defaults). */
export function runLoadOptions(config: unknown): Pick<ChatTarget, 'quant' | 'quantizeWo' | 'compute'> {
  const c = (config && typeof config === 'object' ? config : {}) as Record<string, unknown>;
  return {
    quant: c.quantization === 'nf4' ? 'nf4' : 'none',
    quantizeWo: c.quantizeWo === true,
    compute: c.compute === 'bf16' ? 'bf16' : 'fp32',
  };
}

export class ChatService {
  private readonly generating = new Map<number, Generation>();
  private readonly tokenizers = new Map<string, LoadedTokenizer>();

  constructor(private readonly services: Services) {}

  private info(s: ChatSession): ChatSessionInfo {
    const runId = typeof s.settings.runId === 'number' ? s.settings.runId : null;
    return { ...s, runId };
  }

  list(): ChatSessionInfo[] {
    return listChatSessions(this.services.db).map((s) => this.info(s));
  }

  createSession(req: { runId?: number; modelId?: number; title?: string }): ChatSessionInfo {
    const { db } = this.services;
    if (req.runId !== undefined) {
      const run = getRun(db, req.runId);
      const adapter = listAdapters(db, { runId: run.id })[0];
      if (!adapter) throw new AppError('conflict', `Run "${run.name}" has no trained adapter yet (it is ${run.status}).`);
      const modelId = adapter.baseModelId ?? run.modelId;
      if (modelId === null || !findModel(db, modelId)) throw new AppError('not_found', `The base model of run "${run.name}" was deleted.`);
      const cfg = adapter.config as { template?: PromptTemplate; maxSourceLength?: number };
      return this.info(
        createChatSession(db, {
          title: req.title ?? run.name,
          modelId,
          adapterId: adapter.id,
          settings: { runId: run.id, template: cfg.template ?? TEMPLATES.default, maxSourceLength: cfg.maxSourceLength ?? null },
        }),
      );
    }
    const model = findModel(db, req.modelId!);
    if (!model) throw new AppError('not_found', `Model ${req.modelId} does not exist.`);
    return this.info(createChatSession(db, { title: req.title ?? model.name, modelId: model.id, settings: { template: TEMPLATES.default } }));
  }

  deleteSession(id: number): { deleted: boolean } {
    getChatSession(this.services.db, id);
    for (const [messageId, g] of this.generating) if (g.sessionId === id) this.cancel(messageId);
    deleteChatSession(this.services.db, id);
    return { deleted: true };
  }

  messages(sessionId: number): ChatMessageInfo[] {
    getChatSession(this.services.db, sessionId);
    return listChatMessages(this.services.db, sessionId);
  }

  /** Stores the question and an empty answer, starts generating it, returns both ids at once. */
  send(req: { sessionId: number; content: string; options: GenerationOptions }): { userMessageId: number; messageId: number } {
    const { db } = this.services;
    const session = getChatSession(db, req.sessionId);
    for (const g of this.generating.values()) {
      if (g.sessionId === session.id) throw new AppError('conflict', 'This chat is still answering: wait or stop it first.');
    }
    const target = this.resolveTarget(session);
    const template = (session.settings.template as PromptTemplate | undefined) ?? TEMPLATES.default;
    const tok = this.tokenizer(target.modelDir);
    let inputIds = tok.tokenizer.encode(renderTemplate(template.input, req.content, ''));
    const maxLen = typeof session.settings.maxSourceLength === 'number' ? session.settings.maxSourceLength : 0;
    // Truncate as the trainer did (keep the final </s>), so the model sees what it learned on.
    if (maxLen > 1 && inputIds.length > maxLen) inputIds = [...inputIds.slice(0, maxLen - 1), inputIds[inputIds.length - 1]];

    const user = addChatMessage(db, { sessionId: session.id, role: 'user', content: req.content });
    const answer = addChatMessage(db, { sessionId: session.id, role: 'assistant', content: '', stats: { status: 'generating', options: req.options } });
    const abort = new AbortController();
    const g: Generation = { sessionId: session.id, abort, done: Promise.resolve() };
    this.generating.set(answer.id, g);
    g.done = this.generate(session.id, answer.id, { ...target, inputIds, options: req.options, tok, signal: abort.signal }).finally(() =>
      this.generating.delete(answer.id),
    );
    return { userMessageId: user.id, messageId: answer.id };
  }

  cancel(messageId: number): { cancelled: boolean } {
    const g = this.generating.get(messageId);
    g?.abort.abort();
    return { cancelled: Boolean(g) };
  }

  /** Resolves when the answer `messageId` is finished (tests). */
  async whenDone(messageId: number): Promise<void> {
    await this.generating.get(messageId)?.done;
  }

  private resolveTarget(session: ChatSession): ChatTarget {
    const { db } = this.services;
    const model = session.modelId === null ? undefined : findModel(db, session.modelId);
    if (!model) throw new AppError('not_found', 'The base model of this chat was deleted.');
    let adapterDir: string | null = null;
    let device: 'cpu' | 'cuda' = 'cpu';
    let load: Pick<ChatTarget, 'quant' | 'quantizeWo' | 'compute'> = {};
    if (typeof session.settings.runId === 'number') {
      const adapter = session.adapterId === null ? undefined : listAdapters(db, {}).find((a) => a.id === session.adapterId);
      if (!adapter) throw new AppError('not_found', 'The run (and adapter) of this chat was deleted.');
      adapterDir = adapter.path;
      try {
        const run = getRun(db, session.settings.runId);
        device = run.device === 'cuda' ? 'cuda' : 'cpu';
        load = runLoadOptions(run.config);
      } catch {
        device = 'cpu';
      }
    }
    return { modelDir: model.storedPath, adapterDir, device, ...load };
  }

  private tokenizer(modelDir: string): LoadedTokenizer {
    let t = this.tokenizers.get(modelDir);
    if (!t) {
      t = loadTokenizer(modelDir);
      this.tokenizers.set(modelDir, t);
    }
    return t;
  }

  private async generate(
    sessionId: number,
    messageId: number,
    p: ChatTarget & { inputIds: number[]; options: GenerationOptions; tok: LoadedTokenizer; signal: AbortSignal },
  ): Promise<void> {
    const { db, events, supervisor } = this.services;
    const decoder = new StreamDecoder(p.tok.tokenizer);
    let tokens = 0;
    const t0 = Date.now();
    let finalText: string | null = null;
    const finish = (status: 'completed' | 'cancelled' | 'failed', error: string | null, extra: Record<string, unknown> = {}) => {
      const content = finalText ?? decoder.text.trim();
      const ms = Date.now() - t0;
      updateChatMessage(db, messageId, {
        content,
        stats: { status, tokens, ms, tokensPerSec: ms > 0 ? (tokens * 1000) / ms : 0, options: p.options, error, ...extra },
      });
      events.emit('chat:status', [{ sessionId, messageId, status, content, error }]);
    };
    try {
      const result = await supervisor.request(
        'chat:generate',
        {
          modelDir: p.modelDir,
          adapterDir: p.adapterDir,
          device: p.device,
          quant: p.quant,
          quantizeWo: p.quantizeWo,
          compute: p.compute,
          inputIds: p.inputIds,
          options: p.options,
        },
        {
          timeoutMs: 0,
          signal: p.signal,
          onEvent: (e) => {
            let text = '';
            let fresh = 0;
            for (const id of e.ids) {
              if (id === p.tok.tokenizer.eosId) continue;
              fresh++;
              text += decoder.push(id);
            }
            tokens += fresh;
            // Also when the text is still empty (a character split over pieces): the count moves.
            if (fresh > 0) events.emit('chat:tokens', [{ sessionId, messageId, text, tokens }]);
          },
        },
      );
      // The result is the authority (beam search reports its tokens only at the end).
      finalText = p.tok.tokenizer.decode(result.ids).trim();
      tokens = result.ids.length;
      finish('completed', null, { modelLoaded: result.loaded });
    } catch (e) {
      const err = toErrorValue(e);
      finish(err.code === 'cancelled' ? 'cancelled' : 'failed', err.code === 'cancelled' ? null : err.message);
    }
  }
}

const instances = new WeakMap<object, ChatService>();

/** The one ChatService of an AppServices. */
export function chatServiceOf(services: Services): ChatService {
  let s = instances.get(services);
  if (!s) {
    s = new ChatService(services);
    instances.set(services, s);
  }
  return s;
}
