import type { AppServices } from '../../services';
import type { Handlers } from '../dispatch';
import { getRun, listMetrics, listRuns } from '../../store/repositories';

export function runsHandlers(services: AppServices): Pick<Handlers, 'runs:list' | 'runs:get' | 'runs:metrics'> {
  return {
    'runs:list': (req) => listRuns(services.db, req),
    'runs:get': (req) => getRun(services.db, req.id),
    'runs:metrics': (req) => {
      getRun(services.db, req.runId); // not_found for a wrong id, rather than an empty chart
      return listMetrics(services.db, req.runId, { afterStep: req.afterStep, names: req.names });
    },
  };
}
