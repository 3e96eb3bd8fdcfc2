// One dispatcher for every transport (Electron IPC, the WebSocket server, tests):
// validate the request against the contract, run the handler, return a typed Result.
import { channels, type ChannelName, type RequestOf, type ResponseOf } from '../../common/contract/channels';
import { AppError, toErrorValue, type Result } from '../../common/contract/errors';

export type Handler<C extends ChannelName> = (request: RequestOf<C>) => Promise<ResponseOf<C>> | ResponseOf<C>;
export type Handlers = { [C in ChannelName]: Handler<C> };

export function isChannel(name: unknown): name is ChannelName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(channels, name);
}

export async function dispatch(handlers: Handlers, channel: unknown, payload: unknown): Promise<Result<unknown>> {
  if (!isChannel(channel)) {
    return { ok: false, error: { code: 'invalid_payload', message: `Unknown channel: ${String(channel)}` } };
  }
  const parsed = channels[channel].request.safeParse(payload ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    return { ok: false, error: { code: 'invalid_payload', message: `Invalid request for ${channel}: ${issues}` } };
  }
  try {
    const handler = handlers[channel] as (req: unknown) => Promise<unknown> | unknown;
    const value = await handler(parsed.data);
    return { ok: true, value };
  } catch (e) {
    return { ok: false, error: toErrorValue(e) };
  }
}

export { AppError };
