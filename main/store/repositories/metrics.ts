// Training metrics: the worker reports them in batches, main writes each batch in ONE
// transaction (a few hundred rows commit in well under a millisecond; one commit per value
// would cost an fsync each).
import type { Db } from '../db';
import type { MetricPoint } from '../../../common/contract/runs';
import { now } from './json';

export function insertMetrics(db: Db, runId: number, points: readonly MetricPoint[]): void {
  if (points.length === 0) return;
  const stmt = db.prepare(
    'INSERT OR REPLACE INTO metrics (run_id, step, split, name, value, at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const t = now();
  db.transaction(() => {
    for (const p of points) stmt.run(runId, p.step, p.split, p.name, p.value, t);
  })();
}

export function listMetrics(
  db: Db,
  runId: number,
  filter: { afterStep?: number; names?: readonly string[] } = {},
): MetricPoint[] {
  const rows = db
    .prepare(
      'SELECT step, split, name, value FROM metrics WHERE run_id = ? AND step > ? ORDER BY step, split, name',
    )
    .all(runId, filter.afterStep ?? Number.MIN_SAFE_INTEGER) as MetricPoint[];
  if (!filter.names) return rows;
  const wanted = new Set(filter.names);
  return rows.filter((r) => wanted.has(r.name));
}

export function countMetrics(db: Db, runId: number): number {
  return (db.prepare('SELECT COUNT(*) AS n FROM metrics WHERE run_id = ?').get(runId) as { n: number }).n;
}
