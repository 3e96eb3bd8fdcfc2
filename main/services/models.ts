// Models: import a folder (copy by default, or reference it in place), pull from the Hub,
// inspect, list, delete. The importer validates everything before a row is written; the
// row records where the files are, their content hash, and whether the app owns them
// (`copied`): delete removes only files the app copied or downloaded itself.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { AppError } from '../../common/contract/errors';
import type { Model, ModelProgress, ModelSummary } from '../../common/contract/models';
import type { Db } from '../store/db';
import { deleteModel, findModel, findModelByHash, insertModel, listModels, type NewModel } from '../store/repositories';
import { pullRepo, type PullProgress } from '../io/hub/pull';
import type { TokenStore } from '../io/hub/token-store';
import { convertTorchBinsToSafetensors } from '../io/models/convert';
import { inspectModelFolder, listFolder, type ModelInspection } from '../io/models/inspect';

/** The repository functions the service needs (the SQLite ones in production). */
export interface ModelStore {
  insert(m: NewModel): Model;
  find(id: number): Model | undefined;
  findByHash(hash: string): Model | undefined;
  list(): Model[];
  delete(id: number): void;
  /** Runs that are queued or running on this model (they would lose their weights). */
  activeRunsUsing?(id: number): number;
}

export function sqliteModelStore(db: Db): ModelStore {
  return {
    insert: (m) => insertModel(db, m),
    find: (id) => findModel(db, id),
    findByHash: (h) => findModelByHash(db, h),
    list: () => listModels(db),
    delete: (id) => deleteModel(db, id),
    activeRunsUsing: (id) =>
      (db.prepare("SELECT COUNT(*) AS n FROM runs WHERE model_id = ? AND status IN ('queued', 'running')").get(id) as { n: number }).n,
  };
}

export type ImportMode = 'copy' | 'reference';

export type { ModelProgress, ModelSummary };

/** Files worth keeping besides the weights: config, generation config, tokenizer, card. */
const SIDE_FILES = [
  'config.json',
  'generation_config.json',
  'spiece.model',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'README.md',
];

/** The model's summary as the Models page and `hukuk model inspect` show it. */
export function summarize(i: ModelInspection): ModelSummary {
  return {
    dir: i.dir,
    name: i.name,
    architecture: i.architecture,
    modelType: i.config.modelType,
    format: i.format,
    weightFiles: i.weightFiles,
    dtype: i.dtype,
    paramCount: i.paramCount,
    tensorCount: i.tensorCount,
    vocabSize: i.config.vocabSize,
    dModel: i.config.dModel,
    dKv: i.config.dKv,
    dFf: i.config.dFf,
    numHeads: i.config.numHeads,
    numLayers: i.config.numLayers,
    numDecoderLayers: i.config.numDecoderLayers,
    feedForwardProj: i.config.feedForwardProj,
    tieWordEmbeddings: i.config.tieWordEmbeddings,
    relativeAttentionNumBuckets: i.config.relativeAttentionNumBuckets,
    relativeAttentionMaxDistance: i.config.relativeAttentionMaxDistance,
    diskBytes: i.diskBytes,
    tokenizer: i.tokenizer,
    warnings: i.warnings,
  };
}

/** "~/models/x" as a shell would read it: people paste paths like that. */
function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p;
}

function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '').slice(0, 60) || 'model';
}

async function sha256File(path: string, onBytes?: (n: number) => void): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 8 << 20 })) {
    h.update(chunk as Buffer);
    onBytes?.((chunk as Buffer).length);
  }
  return h.digest('hex');
}

/** The files of a folder that make up the model: side files that exist + the weight files. */
function modelFiles(i: ModelInspection): string[] {
  const names = new Set(i.files.map((f) => f.name));
  const index = i.format === 'safetensors-sharded' ? ['model.safetensors.index.json'] : i.format === 'pytorch-bin-sharded' ? ['pytorch_model.bin.index.json'] : [];
  return [...SIDE_FILES.filter((f) => names.has(f)), ...index, ...i.weightFiles];
}

/**
 * A content hash for a model: sha256 over "<sha256>  <name>\n" lines of config.json and
 * the weight files, in name order. The same weights in another folder hash the same.
 */
async function contentHash(i: ModelInspection, onBytes?: (n: number) => void): Promise<string> {
  const names = ['config.json', ...i.weightFiles].sort();
  const lines: string[] = [];
  for (const n of names) lines.push(`${await sha256File(join(i.dir, n), onBytes)}  ${n}\n`);
  return createHash('sha256').update(lines.join('')).digest('hex');
}

export interface ModelsServiceOptions {
  dataDir: string;
  modelsDir: string;
  tokenStore?: TokenStore;
  hubEndpoint?: string;
  fetch?: typeof fetch;
}

export class ModelsService {
  constructor(
    private readonly store: ModelStore,
    private readonly options: ModelsServiceOptions,
  ) {}

  async inspect(path: string): Promise<ModelSummary> {
    return summarize(await inspectModelFolder(resolve(expandHome(path.trim()))));
  }

  list(): Model[] {
    return this.store.list();
  }

  /**
   * Imports a model folder. `copy` (the default) copies the files into <data>/models/<id>/;
   * `reference` records the folder where it is (the app will never delete it). A folder with
   * only pytorch_model.bin is converted to model.safetensors (the engine reads safetensors),
   * which always lands in the data folder.
   */
  async import(
    req: { path: string; mode?: ImportMode; name?: string },
    onProgress?: (p: ModelProgress) => void,
  ): Promise<{ model: Model; warnings: string[] }> {
    const path = expandHome(req.path.trim());
    return this.importFolder(resolve(path), { mode: req.mode ?? 'copy', name: req.name, sourcePath: resolve(path), progressSource: req.path }, onProgress);
  }

  async pull(
    req: { repo: string; revision?: string; token?: string; name?: string },
    onProgress?: (p: ModelProgress) => void,
    signal?: AbortSignal,
  ): Promise<{ model: Model; warnings: string[] }> {
    const token = req.token ?? (await this.options.tokenStore?.get());
    const result = await pullRepo({
      kind: 'model',
      repo: req.repo,
      revision: req.revision,
      dataDir: this.options.dataDir,
      endpoint: this.options.hubEndpoint,
      token,
      fetch: this.options.fetch,
      signal,
      onProgress: (p: PullProgress) =>
        onProgress?.({ source: req.repo, phase: p.phase === 'done' ? 'verifying' : p.phase, file: p.file, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }),
    });
    const rev = result.listing.sha ? `${req.revision ?? 'main'}@${result.listing.sha.slice(0, 12)}` : (req.revision ?? 'main');
    // The download is the app's own: move it into place rather than copy 2.5 GB again.
    return this.importFolder(result.dir, { mode: 'move', name: req.name ?? req.repo, sourcePath: `hf://${req.repo}@${rev}`, progressSource: req.repo }, onProgress);
  }

  private async importFolder(
    dir: string,
    o: { mode: ImportMode | 'move'; name?: string; sourcePath: string; progressSource?: string },
    onProgress?: (p: ModelProgress) => void,
  ): Promise<{ model: Model; warnings: string[] }> {
    const source = o.progressSource ?? o.sourcePath;
    const info = await inspectModelFolder(dir);
    const warnings = [...info.warnings];
    const weightBytes = info.files.filter((f) => f.name === 'config.json' || info.weightFiles.includes(f.name)).reduce((s, f) => s + f.bytes, 0);
    let hashed = 0;
    const hash = await contentHash(info, (n) => {
      hashed += n;
      onProgress?.({ source, phase: 'hashing', bytesDone: hashed, bytesTotal: weightBytes });
    });
    const existing = this.store.findByHash(hash);
    if (existing) {
      throw new AppError('conflict', `This model is already imported as "${existing.name}" (id ${existing.id}).`);
    }
    const name = o.name?.trim() || info.name;
    const isBin = info.format === 'pytorch-bin' || info.format === 'pytorch-bin-sharded';
    let mode = o.mode;
    if (mode === 'reference' && isBin) {
      mode = 'copy';
      warnings.push('The folder has only pytorch_model.bin: it was converted to model.safetensors in the data folder (the engine reads safetensors), so the model is stored as a copy.');
    }

    let storedPath = dir;
    let copied = false;
    if (mode !== 'reference') {
      storedPath = join(this.options.modelsDir, `${slug(name)}-${hash.slice(0, 8)}`);
      const staging = `${storedPath}.importing`;
      await rm(staging, { recursive: true, force: true });
      await mkdir(staging, { recursive: true });
      try {
        const files = modelFiles(info).filter((f) => !(isBin && f.startsWith('pytorch_model')));
        const total = info.files.filter((f) => files.includes(f.name)).reduce((s, f) => s + f.bytes, 0);
        let done = 0;
        for (const f of files) {
          onProgress?.({ source, phase: 'copying', file: f, bytesDone: done, bytesTotal: total });
          if (mode === 'move') await rename(join(dir, f), join(staging, f));
          else await copyFile(join(dir, f), join(staging, f));
          done += info.files.find((x) => x.name === f)?.bytes ?? 0;
        }
        if (isBin) {
          // Shards (pytorch_model.bin.index.json) become one model.safetensors.
          await convertTorchBinsToSafetensors(info.weightFiles.map((f) => join(dir, f)), join(staging, 'model.safetensors'), (d, t) =>
            onProgress?.({ source, phase: 'converting', file: 'model.safetensors', bytesDone: d, bytesTotal: t }),
          );
        }
        onProgress?.({ source, phase: 'verifying', bytesDone: 0, bytesTotal: null });
        await inspectModelFolder(staging); // what we stored must load too
        await rm(storedPath, { recursive: true, force: true });
        await rename(staging, storedPath);
      } catch (e) {
        await rm(staging, { recursive: true, force: true });
        throw e;
      }
      copied = true;
      if (mode === 'move') await rm(dir, { recursive: true, force: true });
    }

    const stored = mode === 'reference' ? info : await inspectModelFolder(storedPath);
    const files = mode === 'reference' ? modelFiles(info) : (await listFolder(storedPath)).map((f) => f.name);
    const diskBytes = stored.files.filter((f) => files.includes(f.name)).reduce((s, f) => s + f.bytes, 0);
    const row: NewModel = {
      name,
      sourcePath: o.sourcePath,
      storedPath,
      architecture: stored.architecture,
      modelType: stored.config.modelType,
      config: stored.rawConfig,
      paramCount: stored.paramCount,
      vocabSize: stored.config.vocabSize,
      numLayers: stored.config.numLayers,
      numDecoderLayers: stored.config.numDecoderLayers,
      dModel: stored.config.dModel,
      dtype: stored.dtype,
      diskBytes,
      contentHash: hash,
      copied,
    };
    let model: Model;
    try {
      model = this.store.insert(row);
    } catch (e) {
      if (copied) await rm(storedPath, { recursive: true, force: true });
      throw e;
    }
    onProgress?.({ source, phase: 'done', bytesDone: diskBytes, bytesTotal: diskBytes });
    return { model, warnings };
  }

  /**
   * Removes a model's row, and its files only when the app made them (copied/downloaded)
   * and they are inside the models folder. A referenced folder is never touched.
   */
  async delete(id: number): Promise<{ deletedFiles: boolean; storedPath: string }> {
    const m = this.store.find(id);
    if (!m) throw new AppError('not_found', `Model ${id} does not exist.`);
    const active = this.store.activeRunsUsing?.(id) ?? 0;
    if (active > 0)
      throw new AppError('conflict', `Model "${m.name}" is used by ${active} queued or running run(s). Cancel them first.`);
    // The row goes first: a failed file removal then leaves orphan files, never a row that
    // points at half-deleted weights.
    this.store.delete(id);
    let deletedFiles = false;
    const root = resolve(this.options.modelsDir) + sep;
    const target = resolve(m.storedPath);
    if (m.copied && target.startsWith(root) && existsSync(target)) {
      await rm(target, { recursive: true, force: true });
      deletedFiles = true;
    }
    return { deletedFiles, storedPath: m.storedPath };
  }
}
