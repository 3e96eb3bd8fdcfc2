// The migration list, in order. Add a file NNNN_<what>.ts exporting `up` (SQL text or a
// function of the db) and one line here; never edit a migration that has shipped.
import type Database from 'better-sqlite3';
import * as m0001 from './0001_initial';

export interface Migration {
  version: number;
  name: string;
  up: string | ((db: Database.Database) => void);
}

export const migrations: readonly Migration[] = [{ version: 1, name: '0001_initial', up: m0001.up }];
