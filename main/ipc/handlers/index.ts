// Every channel's handler, one file per domain. The `Handlers` type lists every channel of
// the contract, so a channel added to common/contract/channels.ts without a handler here
// does not compile.
import type { AppServices } from '../../services';
import type { Handlers } from '../dispatch';
import { chatHandlers } from './chat';
import { datasetsHandlers } from './datasets';
import { modelsHandlers } from './models';
import { runsHandlers } from './runs';
import { systemHandlers } from './system';

export function createHandlers(services: AppServices): Handlers {
  return {
    ...systemHandlers(services),
    ...runsHandlers(services),
    ...modelsHandlers(services),
    ...datasetsHandlers(services),
    ...chatHandlers(services),
  };
}
