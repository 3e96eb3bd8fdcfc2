// Reads a dataset from disk into raw tables: JSON (an array of objects, or {"data": [...]}),
// JSONL, CSV (see common/datasets/csv.ts), Parquet (hyparquet) and a Hugging Face dataset
// folder (train.* / test.* / validation.* at the top, or data/<split>-*.parquet). Rows that
// cannot be read are returned in `skipped` with their line; a file that cannot be read at all
// throws an AppError('parse_error') naming the line and column.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../../../common/contract/errors';
import {
  arrayElementLines,
  jsonErrorLocation,
  parseCsv,
  type DatasetFormat,
  type RawTable,
  type RowOrigin,
  type SkippedRow,
  type SplitName,
} from '../../../common/datasets';

export const DATA_EXTENSIONS = ['.json', '.jsonl', '.ndjson', '.csv', '.tsv', '.parquet'] as const;

export interface DatasetSource {
  /** What was given: a file or a folder. */
  root: string;
  format: DatasetFormat;
  /** Every data file read, absolute. */
  files: string[];
  tables: Partial<Record<SplitName, RawTable[]>>;
}

/**
 * Text of a data file. UTF-8 (with or without BOM) is the norm; UTF-16 with a BOM is decoded
 * as such; bytes that are not valid UTF-8 are read as Windows-1254 (what Turkish Excel saves
 * CSV as) and the table says so in `notes`, rather than turning every ş into U+FFFD.
 */
export function readTextFile(file: string): { text: string; notes: string[] } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new AppError('io_error', `Cannot read ${file}: ${(e as Error).message}`);
  }
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return { text: new TextDecoder('utf-16le').decode(bytes.subarray(2)), notes: [`${path.basename(file)}: read as UTF-16LE`] };
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return { text: new TextDecoder('utf-16be').decode(bytes.subarray(2)), notes: [`${path.basename(file)}: read as UTF-16BE`] };
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return { text: text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, notes: [] };
  } catch {
    return {
      text: new TextDecoder('windows-1254').decode(bytes),
      notes: [`${path.basename(file)} is not UTF-8: read as Windows-1254 (Turkish); check the preview for wrong letters`],
    };
  }
}

function readText(file: string): string {
  return readTextFile(file).text;
}

function columnsOf(rows: Array<Record<string, unknown>>): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) seen.add(k);
  return [...seen];
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function tableFromObjects(file: string, format: DatasetFormat, items: unknown[], origins: RowOrigin[], skipped: SkippedRow[]): RawTable {
  const rows: Array<Record<string, unknown>> = [];
  const keep: RowOrigin[] = [];
  items.forEach((item, i) => {
    if (isPlainObject(item)) {
      rows.push(item);
      keep.push(origins[i]);
    } else skipped.push({ ...origins[i], reason: `not an object (${item === null ? 'null' : Array.isArray(item) ? 'array' : typeof item})` });
  });
  return { file, format, columns: columnsOf(rows), rows, origins: keep, skipped };
}

export function readJsonl(file: string, text = readText(file)): RawTable {
  const items: unknown[] = [];
  const origins: RowOrigin[] = [];
  const skipped: SkippedRow[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, k) => {
    if (line.trim() === '') return;
    try {
      items.push(JSON.parse(line));
      origins.push({ file, line: k + 1 });
    } catch (e) {
      skipped.push({ file, line: k + 1, reason: `not valid JSON: ${(e as Error).message.replace(/ in JSON at position \d+.*$/, '')}` });
    }
  });
  return tableFromObjects(file, 'jsonl', items, origins, skipped);
}

export function readJson(file: string, text = readText(file)): RawTable {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    // Many ".json" files on the Hub are JSON Lines: accept them when every line is an object.
    const trimmed = text.trimStart();
    if (trimmed.startsWith('{') && text.trim().includes('\n')) {
      const t = readJsonl(file, text);
      if (t.rows.length > 0 && t.skipped.length === 0) return t;
    }
    const loc = jsonErrorLocation(text, (e as Error).message);
    const where = loc ? `${file}:${loc.line}:${loc.column}` : file;
    throw new AppError('parse_error', `${where}: not valid JSON (${(e as Error).message})`);
  }
  let items: unknown[];
  let arrayStart: number;
  if (Array.isArray(parsed)) {
    items = parsed;
    arrayStart = text.indexOf('[');
  } else if (isPlainObject(parsed) && Array.isArray(parsed.data)) {
    items = parsed.data;
    const key = /"data"\s*:\s*\[/.exec(text);
    arrayStart = key ? key.index + key[0].length - 1 : -1;
  } else {
    throw new AppError('parse_error', `${file}: expected a JSON array of rows, or an object with a "data" array`);
  }
  const lines = arrayStart >= 0 ? arrayElementLines(text, arrayStart) : [];
  const origins: RowOrigin[] = items.map((_, i) => (lines.length === items.length ? { file, line: lines[i], row: i } : { file, row: i }));
  return tableFromObjects(file, 'json', items, origins, []);
}

export function readCsv(file: string, text = readText(file)): RawTable {
  let r;
  try {
    r = parseCsv(text, file, file.endsWith('.tsv') ? '\t' : undefined);
  } catch (e) {
    throw new AppError('parse_error', (e as Error).message);
  }
  return { file, format: 'csv', columns: r.columns, rows: r.rows, origins: r.lines.map((line) => ({ file, line })), skipped: r.skipped };
}

export async function readParquet(file: string): Promise<RawTable> {
  const { parquetReadObjects } = await import('hyparquet');
  const buf = readFileSync(file);
  const arrayBuffer = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  let rows: Array<Record<string, unknown>>;
  try {
    rows = (await parquetReadObjects({ file: arrayBuffer })) as Array<Record<string, unknown>>;
  } catch (e) {
    throw new AppError('parse_error', `${file}: not a readable Parquet file (${(e as Error).message})`);
  }
  return { file, format: 'parquet', columns: columnsOf(rows), rows, origins: rows.map((_, i) => ({ file, row: i })), skipped: [] };
}

export async function readDataFile(file: string): Promise<RawTable> {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.parquet') return readParquet(file);
  const withNotes = (read: (f: string, text: string) => RawTable): RawTable => {
    const { text, notes } = readTextFile(file);
    const t = read(file, text);
    return notes.length ? { ...t, notes } : t;
  };
  if (ext === '.jsonl' || ext === '.ndjson') return withNotes(readJsonl);
  if (ext === '.csv' || ext === '.tsv') return withNotes(readCsv);
  if (ext === '.json') return withNotes(readJson);
  throw new AppError('unsupported', `Unsupported dataset file ${path.basename(file)} (use .json, .jsonl, .csv or .parquet).`);
}

/** Split a file belongs to by its name, Hugging Face style: train.., test.., validation/valid/val/dev... */
export function splitOfFileName(name: string): SplitName | null {
  const base = name.toLowerCase();
  if (/^train([-_.]|$)/.test(base)) return 'train';
  if (/^test([-_.]|$)/.test(base)) return 'test';
  if (/^(validation|valid|val|dev)([-_.]|$)/.test(base)) return 'validation';
  return null;
}

const isDataFile = (f: string): boolean => (DATA_EXTENSIONS as readonly string[]).includes(path.extname(f).toLowerCase());

/** Which files of a dataset folder make which split. */
export function planFolder(folder: string): Partial<Record<SplitName, string[]>> {
  const plan: Partial<Record<SplitName, string[]>> = {};
  const add = (split: SplitName, file: string): void => {
    (plan[split] ??= []).push(file);
  };
  const top = readdirSync(folder).filter((f) => isDataFile(f) && statSync(path.join(folder, f)).isFile()).sort();
  for (const f of top) {
    const s = splitOfFileName(f);
    if (s) add(s, path.join(folder, f));
  }
  if (Object.keys(plan).length > 0) return plan;
  const dataDir = path.join(folder, 'data');
  let inData: string[] = [];
  try {
    inData = readdirSync(dataDir).filter((f) => isDataFile(f)).sort();
  } catch {
    /* no data/ folder */
  }
  for (const f of inData) {
    const s = splitOfFileName(f);
    if (s) add(s, path.join(dataDir, f));
  }
  if (Object.keys(plan).length > 0) return plan;
  // One data file and no split names: it is the training data.
  const single = top.length === 1 ? [path.join(folder, top[0])] : inData.length === 1 ? [path.join(dataDir, inData[0])] : [];
  if (single.length) return { train: single };
  throw new AppError(
    'not_found',
    `No dataset files in ${folder}: expected train.*/test.*/validation.* (.json, .jsonl, .csv, .parquet) or data/*.parquet.`,
  );
}

/** Reads a file (it is the 'train' split) or a Hugging Face dataset folder. */
export async function readDatasetPath(p: string, extraSplitFiles: Partial<Record<SplitName, string>> = {}): Promise<DatasetSource> {
  let st;
  try {
    st = statSync(p);
  } catch {
    throw new AppError('not_found', `Dataset path ${p} does not exist.`);
  }
  const plan: Partial<Record<SplitName, string[]>> = st.isDirectory() ? planFolder(p) : { train: [p] };
  for (const [split, file] of Object.entries(extraSplitFiles) as Array<[SplitName, string]>) plan[split] = [file];
  const tables: DatasetSource['tables'] = {};
  const files: string[] = [];
  for (const [split, list] of Object.entries(plan) as Array<[SplitName, string[]]>) {
    tables[split] = [];
    for (const f of list) {
      tables[split]!.push(await readDataFile(f));
      files.push(path.resolve(f));
    }
  }
  const format: DatasetFormat = st.isDirectory() ? 'hf-folder' : tables.train![0].format;
  return { root: path.resolve(p), format, files, tables };
}
