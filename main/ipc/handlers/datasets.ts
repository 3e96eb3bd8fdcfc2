import type { AppServices } from '../../services';
import type { Handlers } from '../dispatch';
import { listDatasets } from '../../store/repositories';

export function datasetsHandlers(services: AppServices): Pick<Handlers, 'datasets:list'> {
  return {
    'datasets:list': () => listDatasets(services.db),
  };
}
