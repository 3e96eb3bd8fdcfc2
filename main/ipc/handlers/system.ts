import type { AppServices } from '../../services';
import type { Handlers } from '../dispatch';

export function systemHandlers(services: AppServices): Pick<Handlers, 'system:info'> {
  return {
    'system:info': () => services.systemInfo(),
  };
}
