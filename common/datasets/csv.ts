// RFC 4180 CSV, as people actually write it: comma or semicolon (or tab) separated, fields
// optionally in double quotes with "" for a quote, newlines inside quoted fields, CRLF or LF,
// an optional UTF-8 BOM. The first record is the header. Records whose field count differs
// from the header are reported with their starting line instead of being guessed at.
import type { SkippedRow } from './types';

export interface CsvResult {
  delimiter: string;
  columns: string[];
  rows: Array<Record<string, string>>;
  /** 1-based line where each row's record starts. */
  lines: number[];
  skipped: SkippedRow[];
}

/** Picks the delimiter that splits the header line (outside quotes) the most. */
export function detectDelimiter(text: string): string {
  let counts = { ',': 0, ';': 0, '\t': 0 } as Record<string, number>;
  let inQuotes = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') inQuotes = !inQuotes;
    else if (!inQuotes && (c === '\n' || c === '\r')) break;
    else if (!inQuotes && c in counts) counts[c]++;
  }
  const best = Object.entries(counts).sort((a, b) => b[1] - a[1])[0];
  counts = {};
  return best[1] > 0 ? best[0] : ',';
}

interface RawRecord {
  fields: string[];
  line: number;
}

/** Splits CSV text into records. Throws with a line number on an unterminated quote. */
export function parseCsvRecords(text: string, delimiter: string, skipped: SkippedRow[], file: string): RawRecord[] {
  const records: RawRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const n = text.length;
  let fieldStarted = false; // distinguishes an empty last line from a record with one empty field
  let fieldHasChars = false; // a quote opens a quoted field only as the field's first character
  const endRecord = (): void => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === '' && !fieldStarted)) records.push({ fields, line: recordLine });
    fields = [];
    field = '';
    fieldStarted = false;
    fieldHasChars = false;
  };
  while (i < n) {
    const c = text[i];
    if (c === '"' && !fieldHasChars) {
      // Quoted field.
      const openLine = line;
      fieldStarted = true;
      fieldHasChars = true;
      i++;
      let closed = false;
      while (i < n) {
        const d = text[i];
        if (d === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          closed = true;
          i++;
          break;
        }
        if (d === '\n') line++;
        else if (d === '\r' && text[i + 1] !== '\n') line++;
        field += d;
        i++;
      }
      if (!closed) throw new Error(`${file}:${openLine}: a quoted field is never closed (missing ")`);
      // After the closing quote only a delimiter or the end of the record may follow.
      if (i < n && text[i] !== delimiter && text[i] !== '\n' && text[i] !== '\r') {
        let j = i;
        while (j < n && text[j] !== delimiter && text[j] !== '\n' && text[j] !== '\r') j++;
        skipped.push({ file, line: recordLine, reason: `text after a closing quote on line ${line}` });
        field += text.slice(i, j);
        i = j;
        fields.push('\u0000bad');
      }
      continue;
    }
    if (c === delimiter) {
      fields.push(field);
      field = '';
      fieldStarted = true;
      fieldHasChars = false;
      i++;
      continue;
    }
    if (c === '\n' || c === '\r') {
      endRecord();
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
      recordLine = line;
      continue;
    }
    field += c;
    fieldStarted = true;
    fieldHasChars = true;
    i++;
  }
  if (field !== '' || fields.length > 0 || fieldStarted) endRecord();
  return records;
}

export function parseCsv(text: string, file: string, delimiter = detectDelimiter(text.replace(/^\ufeff/, ''))): CsvResult {
  const skipped: SkippedRow[] = [];
  const records = parseCsvRecords(text, delimiter, skipped, file);
  if (records.length === 0) return { delimiter, columns: [], rows: [], lines: [], skipped };
  const columns = records[0].fields.map((h) => h.trim());
  const badLines = new Set(skipped.map((s) => s.line));
  const rows: Array<Record<string, string>> = [];
  const lines: number[] = [];
  for (let r = 1; r < records.length; r++) {
    const { fields, line } = records[r];
    if (badLines.has(line)) continue;
    if (fields.length !== columns.length) {
      skipped.push({ file, line, reason: `${fields.length} fields, the header has ${columns.length}` });
      continue;
    }
    const row: Record<string, string> = {};
    columns.forEach((c, k) => (row[c] = fields[k]));
    rows.push(row);
    lines.push(line);
  }
  skipped.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  return { delimiter, columns, rows, lines, skipped };
}
