// Opens the app's SQLite database (better-sqlite3, synchronous: main is the only writer, and
// every statement here is short). WAL lets readers run while a batch of metrics commits;
// `synchronous = NORMAL` in WAL mode never corrupts the file on a crash: at worst the last
// transactions before a power loss are lost, never half of one.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { AppError } from '../../common/contract/errors';
import { migrations as defaultMigrations, type Migration } from './migrations';

export type Db = Database.Database;

export interface OpenOptions {
  /** For tests only: a different migration list. */
  migrations?: readonly Migration[];
  readonly?: boolean;
}

export function openDatabase(file: string, options: OpenOptions = {}): Db {
  const migrations = options.migrations ?? defaultMigrations;
  if (file !== ':memory:' && !options.readonly) mkdirSync(dirname(file), { recursive: true });
  let db: Db;
  try {
    db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  } catch (e) {
    throw new AppError('io_error', `Cannot open the database ${file}: ${(e as Error).message}`);
  }
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
    migrate(db, migrations, file);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/** The schema version of a database: SQLite's user_version, 0 for a new file. */
export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

export function migrate(db: Db, migrations: readonly Migration[], file = 'the database'): void {
  checkMigrationList(migrations);
  const newest = migrations.length ? migrations[migrations.length - 1].version : 0;
  const current = schemaVersion(db);
  if (current > newest) {
    throw new AppError(
      'db_newer_than_app',
      `The database ${file} was written by a newer version of Hukuk Studio (schema ${current}; this app knows up to ${newest}). ` +
        'Update the app, or point it at another data folder; the file was left untouched.',
    );
  }
  for (const m of migrations) {
    if (m.version <= current) continue;
    // One transaction per migration, user_version included: a crash leaves the old schema or
    // the new one, never a mix. (PRAGMA user_version is transactional in SQLite.)
    db.transaction(() => {
      // Re-read under the write lock: another process opening the same file (the app and a
      // CLI command) may have applied this migration since `current` was read.
      if (schemaVersion(db) >= m.version) return;
      if (typeof m.up === 'string') db.exec(m.up);
      else m.up(db);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
}

function checkMigrationList(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.name} has version ${m.version}, expected ${i + 1}`);
  });
}
