// datasets:* — thin: validation happened in dispatch; the work is in main/services/datasets.ts.
import type { AppServices } from '../../services';
import type { Handlers } from '../dispatch';
import { getDataset, listDatasets } from '../../store/repositories';
import {
  importDataset,
  inspectDatasetPath,
  previewDataset,
  recomputeStats,
  removeDataset,
  type DatasetsContext,
} from '../../services/datasets';

type DatasetChannels =
  | 'datasets:list'
  | 'datasets:inspect'
  | 'datasets:import'
  | 'datasets:get'
  | 'datasets:preview'
  | 'datasets:stats'
  | 'datasets:delete';

export function datasetsHandlers(services: AppServices): Pick<Handlers, DatasetChannels> {
  const ctx = (): DatasetsContext => ({ db: services.db, datasetsDir: services.paths.datasets });
  return {
    'datasets:list': () => listDatasets(services.db),
    'datasets:inspect': ({ path, ...req }) => inspectDatasetPath(ctx(), path, req),
    'datasets:import': ({ path, ...req }) => importDataset(ctx(), path, req),
    'datasets:get': ({ id }) => getDataset(services.db, id),
    'datasets:preview': ({ id, limit }) => previewDataset(ctx(), id, limit),
    'datasets:stats': async ({ id, ...req }) => {
      const { dataset, summary } = await recomputeStats(ctx(), id, req);
      return { dataset, summary };
    },
    'datasets:delete': ({ id }) => removeDataset(ctx(), id),
  };
}
