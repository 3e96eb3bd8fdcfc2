// chat:* — thin: validation happened in dispatch; the work is in main/services/chat.ts.
import type { AppServices } from '../../services';
import type { Handlers } from '../dispatch';
import { chatServiceOf } from '../../services/chat';
import { GenerationOptionsSchema } from '../../../common/contract/chat';

type ChatChannels = 'chat:sessions' | 'chat:create-session' | 'chat:delete-session' | 'chat:messages' | 'chat:send' | 'chat:cancel';

export function chatHandlers(services: AppServices): Pick<Handlers, ChatChannels> {
  const chat = () => chatServiceOf(services);
  return {
    'chat:sessions': () => chat().list(),
    'chat:create-session': (req) => chat().createSession(req),
    'chat:delete-session': ({ sessionId }) => chat().deleteSession(sessionId),
    'chat:messages': ({ sessionId }) => chat().messages(sessionId),
    // The dispatcher parsed the request; parse the options again for their defaults' types.
    'chat:send': ({ sessionId, content, options }) => chat().send({ sessionId, content, options: GenerationOptionsSchema.parse(options ?? {}) }),
    'chat:cancel': ({ messageId }) => chat().cancel(messageId),
  };
}
