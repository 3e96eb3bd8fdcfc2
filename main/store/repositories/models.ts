// Imported base models. The import code (main/io/) computes every field; this file only
// stores and reads them.
import type { Db } from '../db';
import type { Model } from '../../../common/contract/models';
import { AppError } from '../../../common/contract/errors';
import { fromJson, now, toJson } from './json';

interface ModelRow {
  id: number;
  name: string;
  source_path: string | null;
  stored_path: string;
  architecture: string | null;
  model_type: string | null;
  config_json: string;
  param_count: number | null;
  vocab_size: number | null;
  num_layers: number | null;
  num_decoder_layers: number | null;
  d_model: number | null;
  dtype: string | null;
  disk_bytes: number | null;
  content_hash: string | null;
  copied: number;
  imported_at: number;
}

function toModel(r: ModelRow): Model {
  return {
    id: r.id,
    name: r.name,
    sourcePath: r.source_path,
    storedPath: r.stored_path,
    architecture: r.architecture,
    modelType: r.model_type,
    config: fromJson(r.config_json),
    paramCount: r.param_count,
    vocabSize: r.vocab_size,
    numLayers: r.num_layers,
    numDecoderLayers: r.num_decoder_layers,
    dModel: r.d_model,
    dtype: r.dtype,
    diskBytes: r.disk_bytes,
    contentHash: r.content_hash,
    copied: r.copied === 1,
    importedAt: r.imported_at,
  };
}

export type NewModel = Omit<Model, 'id' | 'importedAt'> & { importedAt?: number };

export function insertModel(db: Db, m: NewModel): Model {
  const info = db
    .prepare(
      `INSERT INTO models (name, source_path, stored_path, architecture, model_type, config_json, param_count,
         vocab_size, num_layers, num_decoder_layers, d_model, dtype, disk_bytes, content_hash, copied, imported_at)
       VALUES (@name, @sourcePath, @storedPath, @architecture, @modelType, @config, @paramCount, @vocabSize,
         @numLayers, @numDecoderLayers, @dModel, @dtype, @diskBytes, @contentHash, @copied, @importedAt)`,
    )
    .run({ ...m, config: toJson(m.config), copied: m.copied ? 1 : 0, importedAt: m.importedAt ?? now() });
  return getModel(db, Number(info.lastInsertRowid));
}

export function findModel(db: Db, id: number): Model | undefined {
  const row = db.prepare('SELECT * FROM models WHERE id = ?').get(id) as ModelRow | undefined;
  return row && toModel(row);
}

export function getModel(db: Db, id: number): Model {
  const m = findModel(db, id);
  if (!m) throw new AppError('not_found', `Model ${id} does not exist.`);
  return m;
}

export function findModelByHash(db: Db, contentHash: string): Model | undefined {
  const row = db.prepare('SELECT * FROM models WHERE content_hash = ? ORDER BY id LIMIT 1').get(contentHash) as
    | ModelRow
    | undefined;
  return row && toModel(row);
}

export function listModels(db: Db): Model[] {
  return (db.prepare('SELECT * FROM models ORDER BY id DESC').all() as ModelRow[]).map(toModel);
}

export function deleteModel(db: Db, id: number): void {
  db.prepare('DELETE FROM models WHERE id = ?').run(id);
}
