// THE contract between the UI and main: every request channel with its request and
// response schema, and every pushed event with its payload schema. Main validates every
// request against it; the preload API and the WebSocket client are generated from it.
// Add a domain by writing its schemas in a sibling file and listing its channels here.
import { z } from 'zod';
import { SystemInfoSchema } from './system';

export const Empty = z.object({}).strict();

export const channels = {
  'system:info': { request: Empty, response: SystemInfoSchema },
} as const;

export const events = {
  // Pushed in small batches, never one message per value.
  'system:log': z.array(z.object({ level: z.enum(['info', 'warn', 'error']), message: z.string(), at: z.number() })),
} as const;

export type Channels = typeof channels;
export type ChannelName = keyof Channels;
export type RequestOf<C extends ChannelName> = z.input<Channels[C]['request']>;
export type ResponseOf<C extends ChannelName> = z.output<Channels[C]['response']>;
export type Events = typeof events;
export type EventName = keyof Events;
export type EventPayload<E extends EventName> = z.output<Events[E]>;
