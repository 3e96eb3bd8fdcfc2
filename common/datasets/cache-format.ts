// The tokenized-dataset cache: one binary file per (dataset hash, tokenizer hash, template),
// written by main (main/io/datasets/cache.ts) and read by the trainer in the worker.
//
//   offset 0   "HKTC" magic (4 bytes)
//          4   u32 LE format version (1)
//          8   u32 LE header length H in bytes
//         12   header: UTF-8 JSON (CacheHeader), then zero padding to a multiple of 4
//   then for each split in header.splits, in order, at the byte positions the header gives:
//     input offsets   u32 LE x (rows + 1)   row r's input ids are inputIds[off[r] .. off[r+1])
//     input ids       i32 LE x inputTokens
//     target offsets  u32 LE x (rows + 1)
//     target ids      i32 LE x targetTokens
// Ids include eos (as transformers' tokenizer returns them); no padding, no truncation: the
// trainer truncates to its max lengths. Little-endian regardless of the machine.

export const CACHE_MAGIC = 'HKTC';
export const CACHE_VERSION = 1;

export interface CacheSplitHeader {
  name: string;
  rows: number;
  inputTokens: number;
  targetTokens: number;
  /** Byte positions in the file. */
  inputOffsetsAt: number;
  inputIdsAt: number;
  targetOffsetsAt: number;
  targetIdsAt: number;
}

export interface CacheHeader {
  datasetHash: string;
  tokenizerHash: string;
  template: { input: string; target: string };
  eosId: number;
  padId: number;
  createdAt: number;
  splits: CacheSplitHeader[];
}

export interface CachedSplit {
  rows: number;
  inputOffsets: Uint32Array;
  inputIds: Int32Array;
  targetOffsets: Uint32Array;
  targetIds: Int32Array;
}

export interface TokenizedCache {
  header: CacheHeader;
  splits: Record<string, CachedSplit>;
}

const align4 = (n: number): number => (n + 3) & ~3;

/** Serializes splits of (inputIds, targetIds) rows into the cache format. */
export function encodeTokenizedCache(
  meta: Omit<CacheHeader, 'splits'>,
  splits: Array<{ name: string; inputIds: ArrayLike<number>[]; targetIds: ArrayLike<number>[] }>,
): Uint8Array {
  const heads: CacheSplitHeader[] = splits.map((s) => ({
    name: s.name,
    rows: s.inputIds.length,
    inputTokens: s.inputIds.reduce((n, r) => n + r.length, 0),
    targetTokens: s.targetIds.reduce((n, r) => n + r.length, 0),
    inputOffsetsAt: 0,
    inputIdsAt: 0,
    targetOffsetsAt: 0,
    targetIdsAt: 0,
  }));
  // Positions depend on the header length, which depends on the positions: the numbers only
  // grow, so two passes settle it (pad the JSON with spaces to the first pass's length).
  const place = (headerBytes: number): number => {
    let at = align4(12 + headerBytes);
    for (const h of heads) {
      h.inputOffsetsAt = at;
      at += 4 * (h.rows + 1);
      h.inputIdsAt = at;
      at += 4 * h.inputTokens;
      h.targetOffsetsAt = at;
      at += 4 * (h.rows + 1);
      h.targetIdsAt = at;
      at += 4 * h.targetTokens;
    }
    return at;
  };
  const enc = new TextEncoder();
  let json = enc.encode(JSON.stringify({ ...meta, splits: heads }));
  place(json.length + 64);
  let json2 = enc.encode(JSON.stringify({ ...meta, splits: heads }));
  if (json2.length > json.length + 64) throw new Error('cache header did not settle');
  json = new Uint8Array(json.length + 64).fill(0x20);
  json.set(json2);
  json2 = json;
  const total = place(json2.length);
  const buf = new Uint8Array(total);
  const view = new DataView(buf.buffer);
  buf.set(enc.encode(CACHE_MAGIC), 0);
  view.setUint32(4, CACHE_VERSION, true);
  view.setUint32(8, json2.length, true);
  buf.set(json2, 12);
  splits.forEach((s, k) => {
    const h = heads[k];
    const write = (rowsIds: ArrayLike<number>[], offAt: number, idsAt: number): void => {
      let off = 0;
      view.setUint32(offAt, 0, true);
      rowsIds.forEach((ids, r) => {
        for (let j = 0; j < ids.length; j++) view.setInt32(idsAt + 4 * (off + j), ids[j], true);
        off += ids.length;
        view.setUint32(offAt + 4 * (r + 1), off, true);
      });
    };
    write(s.inputIds, h.inputOffsetsAt, h.inputIdsAt);
    write(s.targetIds, h.targetOffsetsAt, h.targetIdsAt);
  });
  return buf;
}

/** Parses a cache file; throws naming what is wrong (magic, version, truncation). */
export function decodeTokenizedCache(bytes: Uint8Array): TokenizedCache {
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 4)) !== CACHE_MAGIC) {
    throw new Error('not a tokenized cache file (bad magic)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== CACHE_VERSION) throw new Error(`tokenized cache version ${version}, expected ${CACHE_VERSION}`);
  const hlen = view.getUint32(8, true);
  if (12 + hlen > bytes.length) throw new Error('tokenized cache header runs past the end of the file');
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + hlen))) as CacheHeader;
  const read32 = (at: number, count: number, signed: boolean): Uint32Array | Int32Array => {
    if (at + 4 * count > bytes.length) throw new Error('tokenized cache is truncated');
    const out = signed ? new Int32Array(count) : new Uint32Array(count);
    for (let i = 0; i < count; i++) out[i] = signed ? view.getInt32(at + 4 * i, true) : view.getUint32(at + 4 * i, true);
    return out;
  };
  const splits: Record<string, CachedSplit> = {};
  for (const h of header.splits) {
    splits[h.name] = {
      rows: h.rows,
      inputOffsets: read32(h.inputOffsetsAt, h.rows + 1, false) as Uint32Array,
      inputIds: read32(h.inputIdsAt, h.inputTokens, true) as Int32Array,
      targetOffsets: read32(h.targetOffsetsAt, h.rows + 1, false) as Uint32Array,
      targetIds: read32(h.targetIdsAt, h.targetTokens, true) as Int32Array,
    };
  }
  return { header, splits };
}

/** Row r of a cached split as plain arrays. */
export function cachedRow(s: CachedSplit, r: number): { input: Int32Array; target: Int32Array } {
  return {
    input: s.inputIds.subarray(s.inputOffsets[r], s.inputOffsets[r + 1]),
    target: s.targetIds.subarray(s.targetOffsets[r], s.targetOffsets[r + 1]),
  };
}
