// Test builders for model folders: T5 configs and tensors (from the same expected-tensor
// list the importer checks against, so a test can then break one thing at a time), a
// protocol-2 pickle written opcode by opcode the way torch.save writes a state dict, and a
// stored zip laid out like torch.save's (entries aligned to 64 bytes).
import { closeSync, ftruncateSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { serializeSafetensors, DTYPE_SIZES, numelOf, type DType } from '../../common/formats/safetensors';
import { expectedT5Tensors, parseT5Config } from '../../main/io/models/t5-config';

export interface RawTensor {
  name: string;
  dtype: DType;
  shape: number[];
  data: Uint8Array;
}

export const TINY_T5 = {
  model_type: 't5',
  architectures: ['T5ForConditionalGeneration'],
  vocab_size: 40,
  d_model: 8,
  d_kv: 4,
  d_ff: 12,
  num_layers: 2,
  num_decoder_layers: 2,
  num_heads: 2,
  relative_attention_num_buckets: 8,
  relative_attention_max_distance: 16,
  feed_forward_proj: 'relu',
  tie_word_embeddings: true,
};

/** Deterministic bytes per tensor, different for every tensor (a small LCG over float32). */
export function tensorsFor(config: Record<string, unknown>, dtype: DType = 'F32'): RawTensor[] {
  const c = parseT5Config(config);
  let seed = 12345;
  return expectedT5Tensors(c).map((e) => {
    const n = numelOf(e.shape);
    const data = new Uint8Array(n * DTYPE_SIZES[dtype]);
    const dv = new DataView(data.buffer);
    for (let i = 0; i < n; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const v = (seed / 2 ** 32 - 0.5) * 0.2;
      if (dtype === 'F32') dv.setFloat32(i * 4, v, true);
      else dv.setUint16(i * 2, seed >>> 16, true);
    }
    return { name: e.name, dtype, shape: e.shape, data };
  });
}

export function writeSafetensorsModel(dir: string, config: Record<string, unknown>, tensors: RawTensor[]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(join(dir, 'model.safetensors'), serializeSafetensors(tensors));
}

// ---- pickle (protocol 2, as torch.save writes it) ----

class PickleWriter {
  private parts: number[] = [];
  private memo = 0;
  op(...bytes: number[]): this {
    this.parts.push(...bytes);
    return this;
  }
  put(): this {
    // BINPUT / LONG_BINPUT, as Python's pickler memoizes
    const k = this.memo++;
    if (k < 256) return this.op(0x71, k);
    return this.op(0x72, k & 255, (k >> 8) & 255, (k >> 16) & 255, k >>> 24);
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`)).put();
  }
  unicode(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.op(0x58, b.length & 255, (b.length >> 8) & 255, (b.length >> 16) & 255, b.length >>> 24, ...b).put();
  }
  int(v: number): this {
    if (v >= 0 && v < 256) return this.op(0x4b, v);
    if (v >= 0 && v < 65536) return this.op(0x4d, v & 255, v >> 8);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    return this.op(0x4a, ...b);
  }
  tuple(items: number[]): this {
    if (items.length === 0) return this.op(0x29);
    if (items.length <= 3) {
      items.forEach((i) => this.int(i));
      return this.op([0x85, 0x86, 0x87][items.length - 1]).put();
    }
    this.op(0x28);
    items.forEach((i) => this.int(i));
    return this.op(0x74).put();
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export interface PickledTensor {
  name: string;
  storageKey: string;
  storageType: string; // 'FloatStorage' | 'HalfStorage' | 'BFloat16Storage'
  storageNumel: number;
  offset: number;
  shape: number[];
  stride: number[];
}

export function contiguousStride(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** The bytes of data.pkl for an OrderedDict state dict, with _metadata set by BUILD as torch does. */
export function pickleStateDict(tensors: PickledTensor[]): Uint8Array {
  const w = new PickleWriter();
  w.op(0x80, 2);
  w.global('collections', 'OrderedDict').op(0x29, 0x52).put();
  w.op(0x28); // MARK for SETITEMS
  for (const t of tensors) {
    w.unicode(t.name);
    w.global('torch._utils', '_rebuild_tensor_v2');
    w.op(0x28); // args tuple
    // persistent id ('storage', torch.FloatStorage, key, 'cpu', numel): torch pickles a fresh
    // tuple for every tensor, even when tensors share a storage
    w.op(0x28);
    w.unicode('storage');
    w.global('torch', t.storageType);
    w.unicode(t.storageKey);
    w.unicode('cpu');
    w.int(t.storageNumel);
    w.op(0x74).put();
    w.op(0x51);
    w.int(t.offset);
    w.tuple(t.shape);
    w.tuple(t.stride);
    w.op(0x89); // requires_grad False
    w.global('collections', 'OrderedDict').op(0x29, 0x52).put(); // backward hooks
    w.op(0x74).put(); // TUPLE
    w.op(0x52).put(); // REDUCE
  }
  w.op(0x75); // SETITEMS
  // state: {'_metadata': OrderedDict()} applied with BUILD
  w.op(0x7d).put();
  w.unicode('_metadata');
  w.global('collections', 'OrderedDict').op(0x29, 0x52).put();
  w.op(0x73); // SETITEM
  w.op(0x62); // BUILD
  w.op(0x2e); // STOP
  return w.bytes();
}

// ---- zip (stored, torch.save style) ----

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * `zip64`: write the record the way a >4 GB archive must (and torch.save's writer does then):
 * 0xFFFFFFFF in the 32-bit fields, the real values in zip64 extra fields and a zip64 end record.
 */
export function storedZip(entries: { name: string; data: Uint8Array }[], options: { zip64?: boolean } = {}): Uint8Array {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let pos = 0;
  const enc = new TextEncoder();
  for (const e of entries) {
    const name = enc.encode(e.name);
    // torch aligns every entry's data to 64 bytes with an extra field ('FB' padding)
    const base = pos + 30 + name.length + 4;
    const pad = (64 - (base % 64)) % 64;
    const extra = new Uint8Array(4 + pad);
    new DataView(extra.buffer).setUint16(0, 0x4246, true);
    new DataView(extra.buffer).setUint16(2, pad, true);
    const crc = crc32(e.data);
    const lh = new Uint8Array(30);
    const lv = new DataView(lh.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, e.data.length, true);
    lv.setUint32(22, e.data.length, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, extra.length, true);
    const z64 = options.zip64 ? 4 + 24 : 0;
    const ch = new Uint8Array(46 + name.length + z64);
    const cv = new DataView(ch.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 45, true);
    cv.setUint16(6, 45, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, options.zip64 ? 0xffffffff : e.data.length, true);
    cv.setUint32(24, options.zip64 ? 0xffffffff : e.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint16(30, z64, true);
    cv.setUint32(42, options.zip64 ? 0xffffffff : pos, true);
    ch.set(name, 46);
    if (options.zip64) {
      const x = 46 + name.length;
      cv.setUint16(x, 0x0001, true);
      cv.setUint16(x + 2, 24, true);
      cv.setBigUint64(x + 4, BigInt(e.data.length), true); // uncompressed
      cv.setBigUint64(x + 12, BigInt(e.data.length), true); // compressed
      cv.setBigUint64(x + 20, BigInt(pos), true); // local header offset
    }
    central.push(ch);
    chunks.push(lh, name, extra, e.data);
    pos += 30 + name.length + extra.length + e.data.length;
  }
  const cdStart = pos;
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, options.zip64 ? 0xffff : entries.length, true);
  ev.setUint16(10, options.zip64 ? 0xffff : entries.length, true);
  ev.setUint32(12, options.zip64 ? 0xffffffff : cdSize, true);
  ev.setUint32(16, options.zip64 ? 0xffffffff : cdStart, true);
  const tail: Uint8Array[] = [];
  if (options.zip64) {
    const rec = new Uint8Array(56);
    const rv = new DataView(rec.buffer);
    rv.setUint32(0, 0x06064b50, true);
    rv.setBigUint64(4, 44n, true);
    rv.setUint16(12, 45, true);
    rv.setUint16(14, 45, true);
    rv.setBigUint64(24, BigInt(entries.length), true);
    rv.setBigUint64(32, BigInt(entries.length), true);
    rv.setBigUint64(40, BigInt(cdSize), true);
    rv.setBigUint64(48, BigInt(cdStart), true);
    const loc = new Uint8Array(20);
    const lv2 = new DataView(loc.buffer);
    lv2.setUint32(0, 0x07064b50, true);
    lv2.setBigUint64(8, BigInt(cdStart + cdSize), true);
    lv2.setUint32(16, 1, true);
    tail.push(rec, loc);
  }
  const all = [...chunks, ...central, ...tail, eocd];
  const out = new Uint8Array(all.reduce((s, c) => s + c.length, 0));
  let p = 0;
  for (const c of all) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

const STORAGE_OF: Record<string, string> = { F32: 'FloatStorage', F16: 'HalfStorage', BF16: 'BFloat16Storage' };

/**
 * A pytorch_model.bin for the tensors: one storage each, except names in `tieTo` which
 * share the storage of another tensor (as tied embeddings do in a real state dict).
 */
export function torchBin(tensors: RawTensor[], tieTo: Record<string, string> = {}, archive = 'archive', zip64 = false): Uint8Array {
  const keyOf = new Map<string, string>();
  const pickled: PickledTensor[] = [];
  const entries: { name: string; data: Uint8Array }[] = [];
  let next = 0;
  for (const t of tensors) {
    const tied = tieTo[t.name];
    let key: string;
    if (tied) key = keyOf.get(tied)!;
    else {
      key = String(next++);
      entries.push({ name: `${archive}/data/${key}`, data: t.data });
    }
    keyOf.set(t.name, key);
    pickled.push({
      name: t.name,
      storageKey: key,
      storageType: STORAGE_OF[t.dtype],
      storageNumel: numelOf(t.shape),
      offset: 0,
      shape: t.shape,
      stride: contiguousStride(t.shape),
    });
  }
  return storedZip([
    { name: `${archive}/data.pkl`, data: pickleStateDict(pickled) },
    { name: `${archive}/byteorder`, data: new TextEncoder().encode('little') },
    ...entries,
    { name: `${archive}/version`, data: new TextEncoder().encode('3\n') },
  ], { zip64 });
}

/**
 * A pytorch_model.bin laid out like torch.save's, written sparsely: headers, data.pkl and the
 * central directory are real, every storage's bytes are a hole (zeros that take no disk). For
 * testing that a multi-GB checkpoint is opened without reading it.
 */
export function writeSparseTorchBin(path: string, tensors: { name: string; dtype: DType; shape: number[] }[]): number {
  const pkl = pickleStateDict(
    tensors.map((t, i) => ({
      name: t.name,
      storageKey: String(i),
      storageType: STORAGE_OF[t.dtype],
      storageNumel: numelOf(t.shape),
      offset: 0,
      shape: t.shape,
      stride: contiguousStride(t.shape),
    })),
  );
  const entries = [{ name: 'archive/data.pkl', size: pkl.length, data: pkl as Uint8Array | null }];
  tensors.forEach((t, i) => entries.push({ name: `archive/data/${i}`, size: numelOf(t.shape) * DTYPE_SIZES[t.dtype], data: null }));
  const fd = openSync(path, 'w');
  const enc = new TextEncoder();
  const central: Uint8Array[] = [];
  let pos = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const lh = new Uint8Array(30 + name.length);
    const lv = new DataView(lh.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint32(18, e.size, true);
    lv.setUint32(22, e.size, true);
    lv.setUint16(26, name.length, true);
    lh.set(name, 30);
    writeSync(fd, lh, 0, lh.length, pos);
    if (e.data) writeSync(fd, e.data, 0, e.data.length, pos + lh.length);
    const ch = new Uint8Array(46 + name.length);
    const cv = new DataView(ch.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint32(20, e.size, true);
    cv.setUint32(24, e.size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, pos, true);
    ch.set(name, 46);
    central.push(ch);
    pos += lh.length + e.size;
  }
  const cdStart = pos;
  for (const c of central) {
    writeSync(fd, c, 0, c.length, pos);
    pos += c.length;
  }
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, pos - cdStart, true);
  ev.setUint32(16, cdStart, true);
  writeSync(fd, eocd, 0, 22, pos);
  pos += 22;
  ftruncateSync(fd, pos);
  closeSync(fd);
  return pos;
}
