import type { AppServices } from '../../services';
import type { Handlers } from '../dispatch';
import { getRun, listMetrics, listRuns } from '../../store/repositories';
import { runsServiceOf } from '../../services/runs';

type RunChannels = 'runs:list' | 'runs:get' | 'runs:metrics' | 'runs:create' | 'runs:cancel' | 'runs:delete' | 'runs:compare';

export function runsHandlers(services: AppServices): Pick<Handlers, RunChannels> {
  const runs = () => runsServiceOf(services);
  return {
    'runs:list': (req) => listRuns(services.db, req),
    'runs:get': (req) => getRun(services.db, req.id),
    'runs:metrics': (req) => {
      getRun(services.db, req.runId); // not_found for a wrong id, rather than an empty chart
      return listMetrics(services.db, req.runId, { afterStep: req.afterStep, names: req.names });
    },
    'runs:create': (req) => runs().create(req),
    'runs:cancel': ({ id }) => runs().cancel(id),
    'runs:delete': ({ id }) => runs().delete(id),
    'runs:compare': ({ runIds, names }) => runs().compare(runIds, names),
  };
}
