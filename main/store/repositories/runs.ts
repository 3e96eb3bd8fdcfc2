// Training runs: created queued, moved through running to a final status by main (the worker
// reports; main records).
import type { Db } from '../db';
import type { Run, RunStatus } from '../../../common/contract/runs';
import { AppError } from '../../../common/contract/errors';
import { fromJson, now, toJson } from './json';

interface RunRow {
  id: number;
  name: string;
  model_id: number | null;
  dataset_id: number | null;
  config_json: string;
  device: string | null;
  status: RunStatus;
  dir: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  error: string | null;
}

const FINAL: readonly RunStatus[] = ['completed', 'failed', 'cancelled'];

function toRun(r: RunRow): Run {
  return {
    id: r.id,
    name: r.name,
    modelId: r.model_id,
    datasetId: r.dataset_id,
    config: fromJson(r.config_json),
    device: r.device,
    status: r.status,
    dir: r.dir,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    error: r.error,
  };
}

export interface NewRun {
  name: string;
  modelId?: number | null;
  datasetId?: number | null;
  config?: Record<string, unknown>;
  device?: string | null;
  dir?: string | null;
}

export function createRun(db: Db, run: NewRun): Run {
  const info = db
    .prepare(
      `INSERT INTO runs (name, model_id, dataset_id, config_json, device, dir, status, created_at)
       VALUES (?, ?, ?, ?, ?, ?, 'queued', ?)`,
    )
    .run(run.name, run.modelId ?? null, run.datasetId ?? null, toJson(run.config), run.device ?? null, run.dir ?? null, now());
  return getRun(db, Number(info.lastInsertRowid));
}

export function findRun(db: Db, id: number): Run | undefined {
  const row = db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
  return row && toRun(row);
}

export function getRun(db: Db, id: number): Run {
  const run = findRun(db, id);
  if (!run) throw new AppError('not_found', `Run ${id} does not exist.`);
  return run;
}

export function listRuns(db: Db, filter: { status?: RunStatus; limit?: number } = {}): Run[] {
  const rows = filter.status
    ? db.prepare('SELECT * FROM runs WHERE status = ? ORDER BY id DESC LIMIT ?').all(filter.status, filter.limit ?? -1)
    : db.prepare('SELECT * FROM runs ORDER BY id DESC LIMIT ?').all(filter.limit ?? -1);
  return (rows as RunRow[]).map(toRun);
}

export function setRunDir(db: Db, id: number, dir: string): void {
  db.prepare('UPDATE runs SET dir = ? WHERE id = ?').run(dir, id);
}

/**
 * Moves a run to `status`. Sets started_at on running and finished_at on a final status.
 * A run that already reached a final status stays there (a late "completed" after a crash
 * was recorded must not hide the crash); returns false then.
 */
export function updateRunStatus(db: Db, id: number, status: RunStatus, error: string | null = null): boolean {
  const t = now();
  const info = db
    .prepare(
      `UPDATE runs SET status = @status,
         started_at  = CASE WHEN @status = 'running' AND started_at IS NULL THEN @t ELSE started_at END,
         finished_at = CASE WHEN @final THEN @t ELSE finished_at END,
         error       = CASE WHEN @final THEN @error ELSE error END
       WHERE id = @id AND status NOT IN ('completed', 'failed', 'cancelled')`,
    )
    .run({ id, status, t, final: FINAL.includes(status) ? 1 : 0, error });
  if (info.changes === 0 && !findRun(db, id)) throw new AppError('not_found', `Run ${id} does not exist.`);
  return info.changes > 0;
}

/** Runs left queued/running (or only the `statuses` given) by an app that stopped without finishing them. */
export function failUnfinishedRuns(db: Db, reason: string, statuses: readonly ('queued' | 'running')[] = ['queued', 'running']): number {
  if (statuses.length === 0) return 0;
  return db
    .prepare(`UPDATE runs SET status = 'failed', finished_at = ?, error = ? WHERE status IN (${statuses.map(() => '?').join(', ')})`)
    .run(now(), reason, ...statuses).changes;
}

export function deleteRun(db: Db, id: number): void {
  db.prepare('DELETE FROM runs WHERE id = ?').run(id);
}
