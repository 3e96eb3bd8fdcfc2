import { AppError } from '../../../common/contract/errors';
import type { ModelProgress } from '../../../common/contract/models';
import type { AppServices } from '../../services';
import { EnvTokenStore, type TokenStore } from '../../io/hub/token-store';
import { ModelsService, sqliteModelStore } from '../../services/models';
import type { Handlers } from '../dispatch';

type ModelChannels =
  | 'models:list'
  | 'models:inspect'
  | 'models:import'
  | 'models:pull'
  | 'models:cancel-pull'
  | 'models:delete'
  | 'models:hub-token'
  | 'models:set-hub-token';

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
  // The desktop app hands in a keychain-backed store (main/io/hub/token-store-safe-storage.ts)
  // as services.hubTokenStore; elsewhere the token comes from HF_TOKEN or the request.
  const keychain = services.hubTokenStore;
  const env = new EnvTokenStore();
  const tokenStore: TokenStore = {
    get: async () => (await keychain?.get()) ?? env.get(),
    set: async (t) => {
      if (!keychain) throw new AppError('unsupported', 'This front end cannot keep a token; set HF_TOKEN for `hukuk serve` instead.');
      await keychain.set(t);
    },
    has: async () => (await keychain?.has()) || (await env.has()),
  };
  const tokenStatus = async () => {
    const inKeychain = (await keychain?.has()) ?? false;
    const inEnv = await env.has();
    return { stored: inKeychain || inEnv, source: inKeychain ? ('keychain' as const) : inEnv ? ('environment' as const) : null, canStore: keychain !== undefined };
  };
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
    'models:hub-token': () => tokenStatus(),
    'models:set-hub-token': async (req) => {
      try {
        await tokenStore.set(req.token ?? undefined);
      } catch (e) {
        if (e instanceof AppError) throw e;
        throw new AppError('unsupported', (e as Error).message); // e.g. no keychain: never plain text
      }
      return tokenStatus();
    },
  };
}
