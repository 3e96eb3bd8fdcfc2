// The wire formats that carry the contract. Both carry the SAME channels to the SAME
// dispatch() in main; only the envelope differs.
//
// Electron IPC: ipcRenderer.invoke(<channel name>, payload) -> Result; pushed events arrive
// on the IPC channel IPC_EVENTS_CHANNEL as an array of { event, payload } (batched).
//
// WebSocket (`hukuk serve`, path /ws, token required):
//   client -> server  { "id": number, "channel": string, "payload": any }
//   server -> client  { "id": number, "result": Result }   (id null when the message had no usable id)
//   server -> client  { "event": string, "payload": any }  (pushed to every authenticated client)
import { z } from 'zod';
import type { Result } from './errors';

export const IPC_EVENTS_CHANNEL = 'hukuk:events';
export const WS_PATH = '/ws';
/** Name of the cookie `hukuk serve` sets on the first page load with the token. */
export const SERVE_TOKEN_COOKIE = 'hukuk_token';

export const WsRequestSchema = z.object({
  id: z.number().int().nonnegative(),
  channel: z.string(),
  payload: z.unknown().optional(),
});
export type WsRequest = z.infer<typeof WsRequestSchema>;
export type WsResponse = { id: number | null; result: Result<unknown> };
export type WsEvent = { event: string; payload: unknown };
export type PushedEvent = WsEvent;
