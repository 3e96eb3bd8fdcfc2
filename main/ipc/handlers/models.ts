import { AppError } from '../../../common/contract/errors';
import type { ModelProgress } from '../../../common/contract/models';
import type { AppServices } from '../../services';
import { EnvTokenStore, type TokenStore } from '../../io/hub/token-store';
import { ModelsService, sqliteModelStore } from '../../services/models';
import type { Handlers } from '../dispatch';

type ModelChannels = 'models:list' | 'models:inspect' | 'models:import' | 'models:pull' | 'models:cancel-pull' | 'models:delete';

/**
 * Progress to every UI, at most every 200 ms per source (a 2.5 GB hash reports per chunk),
 * but every phase change and the end right away.
 */
function progressEmitter(services: AppServices): (p: ModelProgress) => void {
  const last = new Map<string, { at: number; phase: string }>();
  return (p) => {
    const prev = last.get(p.source);
    const now = Date.now();
    if (prev && prev.phase === p.phase && now - prev.at < 200 && p.phase !== 'done') return;
    last.set(p.source, { at: now, phase: p.phase });
    services.events.emit('models:progress', [p]);
  };
}

export function modelsHandlers(services: AppServices): Pick<Handlers, ModelChannels> {
  // The desktop app may hand in a keychain-backed store (main/io/hub/token-store-safe-storage.ts);
  // elsewhere the token comes from HF_TOKEN or the request.
  const tokenStore = (services as Partial<{ hubTokenStore: TokenStore }>).hubTokenStore ?? new EnvTokenStore();
  const models = new ModelsService(sqliteModelStore(services.db), {
    dataDir: services.paths.root,
    modelsDir: services.paths.models,
    tokenStore,
  });
  const pulls = new Map<string, AbortController>();
  return {
    'models:list': () => models.list(),
    'models:inspect': (req) => models.inspect(req.path),
    'models:import': (req) => models.import({ path: req.path, mode: req.mode, name: req.name }, progressEmitter(services)),
    'models:pull': async (req) => {
      if (pulls.has(req.repo)) throw new AppError('conflict', `${req.repo} is already being pulled.`);
      const abort = new AbortController();
      pulls.set(req.repo, abort);
      try {
        return await models.pull(req, progressEmitter(services), abort.signal);
      } finally {
        pulls.delete(req.repo);
      }
    },
    'models:cancel-pull': (req) => {
      const abort = pulls.get(req.repo);
      abort?.abort();
      return { cancelled: abort !== undefined };
    },
    'models:delete': (req) => models.delete(req.id),
  };
}
