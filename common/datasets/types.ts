// Shapes shared by the dataset readers (main/io/datasets), the preparation logic here and the
// UI. A row keeps where it came from so every report can point the user at a line.

export type SplitName = 'train' | 'validation' | 'test';
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'validation', 'test'];

/** Where a row came from: the file and its 1-based line (text formats) or 0-based row index (parquet, JSON arrays without lines). */
export interface RowOrigin {
  file: string;
  line?: number;
  row?: number;
}

/** A table as read from one file: raw column values per row. */
export interface RawTable {
  file: string;
  format: DatasetFormat;
  columns: string[];
  rows: Array<Record<string, unknown>>;
  origins: RowOrigin[];
  /** Rows the reader could not parse, with where and why. */
  skipped: SkippedRow[];
  /** Things the user should know about the file as a whole (e.g. the text encoding used). */
  notes?: string[];
}

export type DatasetFormat = 'json' | 'jsonl' | 'csv' | 'parquet' | 'hf-folder';

export interface SkippedRow extends RowOrigin {
  reason: string;
}

export interface ColumnMapping {
  question: string;
  answer: string;
}

export interface QaPair {
  question: string;
  answer: string;
  origin: RowOrigin;
}

export function describeOrigin(o: RowOrigin): string {
  const base = o.file.split(/[\\/]/).pop() ?? o.file;
  if (o.line !== undefined) return `${base}:${o.line}`;
  if (o.row !== undefined) return `${base} row ${o.row}`;
  return base;
}
