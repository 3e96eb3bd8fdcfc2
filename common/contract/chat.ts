// Chat with a trained run (its base model + adapter) or a base model alone: sessions, their
// messages, and the generated answer streamed as text in small batches.
import { z } from 'zod';

export const ChatSessionSchema = z.object({
  id: z.number().int(),
  title: z.string(),
  modelId: z.number().int().nullable(),
  adapterId: z.number().int().nullable(),
  /** the run whose adapter answers (null for a base model session) */
  runId: z.number().int().nullable(),
  settings: z.record(z.string(), z.unknown()),
  createdAt: z.number(),
  updatedAt: z.number(),
});
export type ChatSessionInfo = z.infer<typeof ChatSessionSchema>;

export const ChatMessageSchema = z.object({
  id: z.number().int(),
  sessionId: z.number().int(),
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string(),
  /** assistant messages: status ('generating' | 'completed' | 'cancelled' | 'failed'), tokens, ms, options, error */
  stats: z.record(z.string(), z.unknown()),
  createdAt: z.number(),
});
export type ChatMessageInfo = z.infer<typeof ChatMessageSchema>;

/** Decoding settings (transformers' generate semantics, native/src/generate). */
export const GenerationOptionsSchema = z
  .object({
    mode: z.enum(['greedy', 'beam', 'sampling']).default('greedy'),
    maxNewTokens: z.number().int().min(1).max(2048).default(128),
    /** eos is impossible before this many tokens */
    minNewTokens: z.number().int().min(0).max(2048).default(0),
    numBeams: z.number().int().min(2).max(16).default(4),
    temperature: z.number().positive().max(10).default(0.7),
    topK: z.number().int().min(0).max(10_000).default(50),
    topP: z.number().gt(0).max(1).default(0.95),
    repetitionPenalty: z.number().positive().max(10).default(1),
    noRepeatNgramSize: z.number().int().min(0).max(20).default(0),
    seed: z.number().int().min(0).max(2 ** 32 - 1).default(0),
  })
  .strict();
export type GenerationOptions = z.output<typeof GenerationOptionsSchema>;

export const ChatCreateSessionRequest = z
  .object({
    /** a completed run: its base model with its adapter */
    runId: z.number().int().positive().optional(),
    /** or a base model without an adapter */
    modelId: z.number().int().positive().optional(),
    title: z.string().trim().min(1).max(200).optional(),
  })
  .strict()
  .refine((r) => (r.runId === undefined) !== (r.modelId === undefined), { message: 'give exactly one of runId and modelId' });

export const ChatSessionIdRequest = z.object({ sessionId: z.number().int().positive() }).strict();

export const ChatSendRequest = z
  .object({
    sessionId: z.number().int().positive(),
    content: z.string().trim().min(1).max(20_000),
    options: GenerationOptionsSchema.default(GenerationOptionsSchema.parse({})),
  })
  .strict();
/** The stored question and the (still empty) answer whose tokens `chat:tokens` streams. */
export const ChatSendResponse = z.object({ userMessageId: z.number().int(), messageId: z.number().int() });

export const ChatCancelRequest = z.object({ messageId: z.number().int().positive() }).strict();
export const ChatCancelResponse = z.object({ cancelled: z.boolean() });
export const ChatDeleteResponse = z.object({ deleted: z.boolean() });

/** Text pieces of answers being generated, in small batches (a few per message, not one per token). */
export const ChatTokensEvent = z.array(
  z.object({ sessionId: z.number().int(), messageId: z.number().int(), text: z.string(), tokens: z.number().int() }),
);
/** An answer finished: its final text and why it stopped. */
export const ChatStatusEvent = z.array(
  z.object({
    sessionId: z.number().int(),
    messageId: z.number().int(),
    status: z.enum(['completed', 'cancelled', 'failed']),
    content: z.string(),
    error: z.string().nullable(),
  }),
);
