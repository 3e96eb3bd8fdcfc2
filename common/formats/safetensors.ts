// The safetensors format over plain bytes: an 8-byte little-endian header length N, N bytes
// of JSON ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}), then
// the tensor bytes. Only the header is parsed here; the bytes stay on disk and callers read
// slices (main/io/models/ does it with file handles, so a 2.5 GB file never sits in the heap).
// Validation follows the reference implementation (huggingface/safetensors): every tensor's
// byte count equals numel * dtype size, and the tensors tile the data area exactly — no
// overlaps, no holes, nothing past the end, nothing left over. Failures are
// AppError('corrupt_file') naming the file and, where there is one, the tensor.
import { AppError } from '../contract/errors';

export const DTYPE_SIZES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
} as const;
export type DType = keyof typeof DTYPE_SIZES;

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZES, s);
}

/** The reference implementation refuses headers above 100 MB; so do we (a hostile length must not allocate). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute byte offsets in the file (data_offsets + 8 + N). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** N: the JSON length. The data area starts at 8 + N. */
  headerLength: number;
  dataStart: number;
  tensors: TensorInfo[];
  metadata: Record<string, string> | null;
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function corrupt(file: string, what: string): AppError {
  return new AppError('corrupt_file', `${file}: ${what}`);
}

/** Reads N from the first 8 bytes and checks it against the file size. */
export function readHeaderLength(first8: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || first8.length < 8) throw corrupt(file, `too short to be safetensors (${fileSize} bytes)`);
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) throw corrupt(file, `header length ${n} is implausible (limit ${MAX_HEADER_BYTES} bytes)`);
  const len = Number(n);
  if (len < 2) throw corrupt(file, `header length ${len} is too small`);
  if (8 + len > fileSize) {
    throw corrupt(file, `header length ${len} runs past the end of the file (${fileSize} bytes): truncated?`);
  }
  return len;
}

/**
 * Parses and validates the JSON header. `fileSize` is the whole file's size; the tensors
 * must exactly cover [8 + N, fileSize).
 */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  const headerLength = headerBytes.length;
  const dataStart = 8 + headerLength;
  let json: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
    if (!text.startsWith('{')) throw new Error('does not start with {');
    json = JSON.parse(text);
  } catch (e) {
    throw corrupt(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw corrupt(file, 'header is not a JSON object');

  let metadata: Record<string, string> | null = null;
  const tensors: TensorInfo[] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null) continue;
      if (typeof raw !== 'object' || Array.isArray(raw)) throw corrupt(file, '__metadata__ is not an object');
      metadata = {};
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') throw corrupt(file, `__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!t || typeof t !== 'object') throw corrupt(file, `tensor ${name}: entry is not an object`);
    if (!isDType(t.dtype)) throw corrupt(file, `tensor ${name}: unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw corrupt(file, `tensor ${name}: shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
    }
    const offs = t.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw corrupt(file, `tensor ${name}: data_offsets ${JSON.stringify(offs)} is not [begin, end]`);
    }
    const [b, e] = offs as [number, number];
    if (e < b) throw corrupt(file, `tensor ${name}: data_offsets end ${e} is before begin ${b}`);
    const shape = t.shape as number[];
    const expected = numelOf(shape) * DTYPE_SIZES[t.dtype];
    if (e - b !== expected) {
      throw corrupt(
        file,
        `tensor ${name}: ${e - b} bytes for ${t.dtype}${JSON.stringify(shape)}, which needs ${expected} bytes`,
      );
    }
    tensors.push({ name, dtype: t.dtype, shape, begin: dataStart + b, end: dataStart + e });
  }

  // Tiling check on a sorted copy; callers keep the header's order.
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = dataStart;
  for (const t of sorted) {
    if (t.begin < cursor) throw corrupt(file, `tensor ${t.name}: bytes overlap the previous tensor`);
    if (t.begin > cursor) throw corrupt(file, `tensor ${t.name}: ${t.begin - cursor} unindexed bytes before it`);
    if (t.end > fileSize) {
      throw corrupt(file, `tensor ${t.name}: data runs past the end of the file (ends at ${t.end}, file has ${fileSize} bytes): truncated?`);
    }
    cursor = t.end;
  }
  if (cursor !== fileSize) throw corrupt(file, `${fileSize - cursor} bytes after the last tensor are not indexed`);
  return { headerLength, dataStart, tensors, metadata };
}

/** Parses a whole safetensors file held in memory (small files, tests). */
export function parseSafetensors(bytes: Uint8Array, file = 'safetensors'): SafetensorsHeader {
  const n = readHeaderLength(bytes.subarray(0, 8), bytes.length, file);
  return parseHeader(bytes.subarray(8, 8 + n), bytes.length, file);
}

export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: readonly number[];
}

/**
 * The 8-byte length + JSON header for tensors written back to back in the given order. The
 * JSON is padded with spaces to a multiple of 8 so the data area starts aligned (as the
 * reference writer does). Returns each tensor's offsets relative to the data area.
 */
export function buildHeader(
  specs: readonly TensorSpec[],
  metadata: Record<string, string> | null = { format: 'pt' },
): { bytes: Uint8Array; dataBytes: number; offsets: [number, number][] } {
  const obj: Record<string, unknown> = {};
  if (metadata) obj.__metadata__ = metadata;
  const offsets: [number, number][] = [];
  let cursor = 0;
  const names = new Set<string>();
  for (const s of specs) {
    if (names.has(s.name)) throw new AppError('internal', `tensor ${s.name} written twice`);
    names.add(s.name);
    const n = numelOf(s.shape) * DTYPE_SIZES[s.dtype];
    offsets.push([cursor, cursor + n]);
    obj[s.name] = { dtype: s.dtype, shape: [...s.shape], data_offsets: [cursor, cursor + n] };
    cursor += n;
  }
  let json = JSON.stringify(obj);
  const enc = new TextEncoder();
  let body = enc.encode(json);
  const pad = (8 - (body.length % 8)) % 8;
  if (pad) {
    json += ' '.repeat(pad);
    body = enc.encode(json);
  }
  const bytes = new Uint8Array(8 + body.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(body.length), true);
  bytes.set(body, 8);
  return { bytes, dataBytes: cursor, offsets };
}

/** A whole safetensors file in memory (tests and small files; big files stream, see main/io/models). */
export function serializeSafetensors(
  tensors: readonly (TensorSpec & { data: Uint8Array })[],
  metadata: Record<string, string> | null = { format: 'pt' },
): Uint8Array {
  const { bytes, dataBytes, offsets } = buildHeader(tensors, metadata);
  const out = new Uint8Array(bytes.length + dataBytes);
  out.set(bytes, 0);
  tensors.forEach((t, i) => {
    const [b, e] = offsets[i];
    if (t.data.length !== e - b) {
      throw new AppError('internal', `tensor ${t.name}: ${t.data.length} bytes given, ${e - b} expected`);
    }
    out.set(t.data, bytes.length + b);
  });
  return out;
}
