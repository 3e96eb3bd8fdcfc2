// Training metrics: the worker reports them in batches, main writes each batch in ONE
// transaction (a few hundred rows commit in well under a millisecond; one commit per value
// would cost an fsync each).
import type { Db } from '../db';
import type { MetricPoint } from '../../../common/contract/runs';
import { now } from './json';

/**
 * Writes the batch in one transaction and returns how many points were stored. A value that
 * is not a number (NaN, or null: the worker's JSON channel turns NaN and ±Infinity into null)
 * cannot go into `value REAL NOT NULL`; it is skipped rather than failing the whole batch and
 * losing the finite values beside it (a diverging grad norm next to a good loss).
 */
export function insertMetrics(db: Db, runId: number, points: readonly MetricPoint[]): number {
  if (points.length === 0) return 0;
  const stmt = db.prepare(
    'INSERT OR REPLACE INTO metrics (run_id, step, split, name, value, at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const t = now();
  let stored = 0;
  db.transaction(() => {
    for (const p of points) {
      if (typeof p.value !== 'number' || Number.isNaN(p.value)) continue;
      stmt.run(runId, p.step, p.split, p.name, p.value, t);
      stored++;
    }
  })();
  return stored;
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
