// A minimal zip reader for torch.save archives: parse the end-of-central-directory record
// (zip64 too: files past 4 GB), list entries, and locate each entry's bytes. torch.save
// stores entries uncompressed (and aligned), so a tensor is a plain byte range of the file
// that can be read on demand; a compressed entry is refused rather than inflated.
import { AppError } from '../../../common/contract/errors';
import type { RandomAccessFile } from './random-access-file';

export interface ZipEntry {
  name: string;
  /** 0 = stored. */
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;

function bad(file: string, what: string): AppError {
  return new AppError('corrupt_file', `${file}: not a readable zip archive: ${what}`);
}

function u64(v: DataView, at: number, file: string): number {
  const n = v.getBigUint64(at, true);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(file, 'a 64-bit size is implausible');
  return Number(n);
}

export class ZipReader {
  private constructor(
    readonly file: RandomAccessFile,
    readonly entries: Map<string, ZipEntry>,
  ) {}

  static async open(file: RandomAccessFile): Promise<ZipReader> {
    const name = file.path;
    if (file.size < 22) throw bad(name, 'too short');
    const tailLen = Math.min(file.size, 22 + 0xffff);
    const tailStart = file.size - tailLen;
    const tail = await file.read(tailStart, tailLen);
    const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tv.getUint32(i, true) === EOCD_SIG) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw bad(name, 'no end-of-central-directory record (truncated, or not a zip)');
    let count = tv.getUint16(eocd + 10, true);
    let cdSize = tv.getUint32(eocd + 12, true);
    let cdOffset = tv.getUint32(eocd + 16, true);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || tv.getUint32(loc, true) !== ZIP64_LOCATOR_SIG) throw bad(name, 'zip64 locator missing');
      const z64At = u64(tv, loc + 8, name);
      const z = await file.read(z64At, 56);
      const zv = new DataView(z.buffer, z.byteOffset, z.byteLength);
      if (zv.getUint32(0, true) !== ZIP64_EOCD_SIG) throw bad(name, 'zip64 end record missing');
      count = u64(zv, 32, name);
      cdSize = u64(zv, 40, name);
      cdOffset = u64(zv, 48, name);
    }
    if (cdOffset + cdSize > file.size) throw bad(name, 'central directory runs past the end of the file: truncated?');
    const cd = await file.read(cdOffset, cdSize);
    const v = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
    const entries = new Map<string, ZipEntry>();
    const dec = new TextDecoder();
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || v.getUint32(p, true) !== CENTRAL_SIG) throw bad(name, `central directory entry ${i} is damaged`);
      const method = v.getUint16(p + 10, true);
      let compressedSize = v.getUint32(p + 20, true);
      let size = v.getUint32(p + 24, true);
      const nameLen = v.getUint16(p + 28, true);
      const extraLen = v.getUint16(p + 30, true);
      const commentLen = v.getUint16(p + 32, true);
      let localHeaderOffset = v.getUint32(p + 42, true);
      if (p + 46 + nameLen + extraLen + commentLen > cd.length) throw bad(name, `central directory entry ${i} is damaged`);
      const entryName = dec.decode(cd.subarray(p + 46, p + 46 + nameLen));
      // zip64 extra field: the 64-bit values, in order, for each 32-bit field that is 0xFFFFFFFF.
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = v.getUint16(e, true);
        const len = v.getUint16(e + 2, true);
        if (e + 4 + len > extraEnd) throw bad(name, `central directory entry ${i} has a damaged extra field`);
        if (id === 0x0001) {
          let q = e + 4;
          // Each 64-bit value must lie inside this field (not in the next field or past the directory).
          const next = (): number => {
            if (q + 8 > e + 4 + len) throw bad(name, `central directory entry ${i} has a short zip64 field`);
            const n = u64(v, q, name);
            q += 8;
            return n;
          };
          if (size === 0xffffffff) size = next();
          if (compressedSize === 0xffffffff) compressedSize = next();
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
        }
        e += 4 + len;
      }
      entries.set(entryName, { name: entryName, method, compressedSize, size, localHeaderOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return new ZipReader(file, entries);
  }

  /** The absolute offset and length of a stored entry's bytes. */
  async locate(entryName: string): Promise<{ offset: number; length: number }> {
    const ent = this.entries.get(entryName);
    if (!ent) throw new AppError('corrupt_file', `${this.file.path}: the archive has no entry ${entryName}`);
    if (ent.method !== 0) {
      throw new AppError('corrupt_file', `${this.file.path}: entry ${entryName} is compressed (method ${ent.method}); torch.save stores entries uncompressed`);
    }
    const h = await this.file.read(ent.localHeaderOffset, 30);
    const hv = new DataView(h.buffer, h.byteOffset, h.byteLength);
    if (hv.getUint32(0, true) !== LOCAL_SIG) throw bad(this.file.path, `local header of ${entryName} is damaged`);
    const offset = ent.localHeaderOffset + 30 + hv.getUint16(26, true) + hv.getUint16(28, true);
    if (offset + ent.size > this.file.size) {
      throw new AppError('corrupt_file', `${this.file.path}: entry ${entryName} runs past the end of the file: truncated?`);
    }
    return { offset, length: ent.size };
  }

  async readEntry(entryName: string): Promise<Uint8Array> {
    const { offset, length } = await this.locate(entryName);
    return this.file.read(offset, length);
  }
}
