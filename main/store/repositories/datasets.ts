// Imported datasets. The import code (main/io/) computes every field; this file only stores
// and reads them.
import type { Db } from '../db';
import type { Dataset } from '../../../common/contract/datasets';
import { AppError } from '../../../common/contract/errors';
import { fromJson, now, toJson } from './json';

interface DatasetRow {
  id: number;
  name: string;
  format: string;
  source_path: string | null;
  stored_path: string;
  content_hash: string | null;
  row_count: number;
  train_rows: number | null;
  validation_rows: number | null;
  test_rows: number | null;
  skipped_rows: number;
  column_mapping_json: string;
  template_json: string;
  stats_json: string;
  copied: number;
  imported_at: number;
}

function toDataset(r: DatasetRow): Dataset {
  return {
    id: r.id,
    name: r.name,
    format: r.format,
    sourcePath: r.source_path,
    storedPath: r.stored_path,
    contentHash: r.content_hash,
    rowCount: r.row_count,
    trainRows: r.train_rows,
    validationRows: r.validation_rows,
    testRows: r.test_rows,
    skippedRows: r.skipped_rows,
    columnMapping: fromJson(r.column_mapping_json),
    template: fromJson(r.template_json),
    stats: fromJson(r.stats_json),
    copied: r.copied === 1,
    importedAt: r.imported_at,
  };
}

export type NewDataset = Omit<Dataset, 'id' | 'importedAt'> & { importedAt?: number };

export function insertDataset(db: Db, d: NewDataset): Dataset {
  const info = db
    .prepare(
      `INSERT INTO datasets (name, format, source_path, stored_path, content_hash, row_count, train_rows,
         validation_rows, test_rows, skipped_rows, column_mapping_json, template_json, stats_json, copied, imported_at)
       VALUES (@name, @format, @sourcePath, @storedPath, @contentHash, @rowCount, @trainRows, @validationRows,
         @testRows, @skippedRows, @columnMapping, @template, @stats, @copied, @importedAt)`,
    )
    .run({
      ...d,
      columnMapping: toJson(d.columnMapping),
      template: toJson(d.template),
      stats: toJson(d.stats),
      copied: d.copied ? 1 : 0,
      importedAt: d.importedAt ?? now(),
    });
  return getDataset(db, Number(info.lastInsertRowid));
}

export function findDataset(db: Db, id: number): Dataset | undefined {
  const row = db.prepare('SELECT * FROM datasets WHERE id = ?').get(id) as DatasetRow | undefined;
  return row && toDataset(row);
}

export function getDataset(db: Db, id: number): Dataset {
  const d = findDataset(db, id);
  if (!d) throw new AppError('not_found', `Dataset ${id} does not exist.`);
  return d;
}

export function listDatasets(db: Db): Dataset[] {
  return (db.prepare('SELECT * FROM datasets ORDER BY id DESC').all() as DatasetRow[]).map(toDataset);
}

/** After the user changes the column mapping or template, or statistics are recomputed. */
export function updateDatasetPreparation(
  db: Db,
  id: number,
  patch: { columnMapping?: Record<string, unknown>; template?: Record<string, unknown>; stats?: Record<string, unknown> },
): Dataset {
  const cur = getDataset(db, id);
  db.prepare('UPDATE datasets SET column_mapping_json = ?, template_json = ?, stats_json = ? WHERE id = ?').run(
    toJson(patch.columnMapping ?? cur.columnMapping),
    toJson(patch.template ?? cur.template),
    toJson(patch.stats ?? cur.stats),
    id,
  );
  return getDataset(db, id);
}

export function deleteDataset(db: Db, id: number): void {
  db.prepare('DELETE FROM datasets WHERE id = ?').run(id);
}
