// What runs leave behind: checkpoints, adapters and evaluations. Files are written by the
// worker (atomically, with a completion marker); rows here point at them.
import type { Db } from '../db';
import { fromJson, now, toJson } from './json';

export interface Checkpoint {
  id: number;
  runId: number;
  step: number;
  path: string;
  metrics: Record<string, unknown>;
  createdAt: number;
}

export function addCheckpoint(db: Db, c: Omit<Checkpoint, 'id' | 'createdAt'>): Checkpoint {
  const info = db
    .prepare(
      `INSERT INTO checkpoints (run_id, step, path, metrics_json, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (run_id, step) DO UPDATE SET path = excluded.path, metrics_json = excluded.metrics_json`,
    )
    .run(c.runId, c.step, c.path, toJson(c.metrics), now());
  const id = Number(info.lastInsertRowid);
  return listCheckpoints(db, c.runId).find((x) => x.step === c.step) ?? { ...c, id, createdAt: now() };
}

export function listCheckpoints(db: Db, runId: number): Checkpoint[] {
  const rows = db.prepare('SELECT * FROM checkpoints WHERE run_id = ? ORDER BY step').all(runId) as {
    id: number;
    run_id: number;
    step: number;
    path: string;
    metrics_json: string;
    created_at: number;
  }[];
  return rows.map((r) => ({
    id: r.id,
    runId: r.run_id,
    step: r.step,
    path: r.path,
    metrics: fromJson(r.metrics_json),
    createdAt: r.created_at,
  }));
}

export interface Adapter {
  id: number;
  name: string;
  runId: number | null;
  checkpointId: number | null;
  baseModelId: number | null;
  path: string;
  config: Record<string, unknown>;
  source: 'trained' | 'imported';
  copied: boolean;
  createdAt: number;
}

interface AdapterRow {
  id: number;
  name: string;
  run_id: number | null;
  checkpoint_id: number | null;
  base_model_id: number | null;
  path: string;
  config_json: string;
  source: 'trained' | 'imported';
  copied: number;
  created_at: number;
}

const toAdapter = (r: AdapterRow): Adapter => ({
  id: r.id,
  name: r.name,
  runId: r.run_id,
  checkpointId: r.checkpoint_id,
  baseModelId: r.base_model_id,
  path: r.path,
  config: fromJson(r.config_json),
  source: r.source,
  copied: r.copied === 1,
  createdAt: r.created_at,
});

export function addAdapter(db: Db, a: Omit<Adapter, 'id' | 'createdAt'>): Adapter {
  const info = db
    .prepare(
      `INSERT INTO adapters (name, run_id, checkpoint_id, base_model_id, path, config_json, source, copied, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(a.name, a.runId, a.checkpointId, a.baseModelId, a.path, toJson(a.config), a.source, a.copied ? 1 : 0, now());
  return toAdapter(db.prepare('SELECT * FROM adapters WHERE id = ?').get(Number(info.lastInsertRowid)) as AdapterRow);
}

export function listAdapters(db: Db, filter: { runId?: number; baseModelId?: number } = {}): Adapter[] {
  const rows = db
    .prepare(
      `SELECT * FROM adapters WHERE (@runId IS NULL OR run_id = @runId)
         AND (@baseModelId IS NULL OR base_model_id = @baseModelId) ORDER BY id DESC`,
    )
    .all({ runId: filter.runId ?? null, baseModelId: filter.baseModelId ?? null }) as AdapterRow[];
  return rows.map(toAdapter);
}

export interface Evaluation {
  id: number;
  runId: number | null;
  adapterId: number | null;
  modelId: number | null;
  datasetId: number | null;
  split: string;
  status: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
  config: Record<string, unknown>;
  metrics: Record<string, unknown>;
  samplesPath: string | null;
  error: string | null;
  createdAt: number;
  finishedAt: number | null;
}

interface EvaluationRow {
  id: number;
  run_id: number | null;
  adapter_id: number | null;
  model_id: number | null;
  dataset_id: number | null;
  split: string;
  status: Evaluation['status'];
  config_json: string;
  metrics_json: string;
  samples_path: string | null;
  error: string | null;
  created_at: number;
  finished_at: number | null;
}

const toEvaluation = (r: EvaluationRow): Evaluation => ({
  id: r.id,
  runId: r.run_id,
  adapterId: r.adapter_id,
  modelId: r.model_id,
  datasetId: r.dataset_id,
  split: r.split,
  status: r.status,
  config: fromJson(r.config_json),
  metrics: fromJson(r.metrics_json),
  samplesPath: r.samples_path,
  error: r.error,
  createdAt: r.created_at,
  finishedAt: r.finished_at,
});

export function createEvaluation(
  db: Db,
  e: Pick<Evaluation, 'runId' | 'adapterId' | 'modelId' | 'datasetId' | 'split' | 'config'>,
): Evaluation {
  const info = db
    .prepare(
      `INSERT INTO evaluations (run_id, adapter_id, model_id, dataset_id, split, config_json, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(e.runId, e.adapterId, e.modelId, e.datasetId, e.split, toJson(e.config), now());
  return getEvaluation(db, Number(info.lastInsertRowid));
}

export function getEvaluation(db: Db, id: number): Evaluation {
  return toEvaluation(db.prepare('SELECT * FROM evaluations WHERE id = ?').get(id) as EvaluationRow);
}

export function finishEvaluation(
  db: Db,
  id: number,
  result: { status: 'completed' | 'failed' | 'cancelled'; metrics?: Record<string, unknown>; samplesPath?: string; error?: string },
): Evaluation {
  db.prepare(
    'UPDATE evaluations SET status = ?, metrics_json = ?, samples_path = ?, error = ?, finished_at = ? WHERE id = ?',
  ).run(result.status, toJson(result.metrics), result.samplesPath ?? null, result.error ?? null, now(), id);
  return getEvaluation(db, id);
}

export function listEvaluations(db: Db, filter: { runId?: number } = {}): Evaluation[] {
  const rows = db
    .prepare('SELECT * FROM evaluations WHERE (@runId IS NULL OR run_id = @runId) ORDER BY id DESC')
    .all({ runId: filter.runId ?? null }) as EvaluationRow[];
  return rows.map(toEvaluation);
}
