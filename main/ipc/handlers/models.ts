import type { AppServices } from '../../services';
import type { Handlers } from '../dispatch';
import { listModels } from '../../store/repositories';

export function modelsHandlers(services: AppServices): Pick<Handlers, 'models:list'> {
  return {
    'models:list': () => listModels(services.db),
  };
}
