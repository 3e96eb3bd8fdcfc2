// A minimal protocol-buffers wire-format reader: just enough to walk SentencePiece's
// ModelProto (varints, 32-bit floats, length-delimited strings/bytes/messages). Unknown
// fields are skipped, as protobuf requires, so newer spiece.model files still load.

export const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  StartGroup = 3,
  EndGroup = 4,
  Fixed32 = 5,
}

export class ProtoError extends Error {}

export class ProtoReader {
  pos: number;
  private readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.pos = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  /** Reads a varint as a JS number (exact up to 2^53; protobuf int32 negatives come back as 2^64-n, see int32()). */
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtoError(`truncated varint at byte ${this.pos}`);
      const b = this.bytes[this.pos++];
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw new ProtoError(`varint longer than 10 bytes at byte ${this.pos}`);
  }

  /** int32/enum fields: negatives are sign-extended to 64 bits on the wire, so keep the low 32 bits, signed. */
  int32(): number {
    let low = 0;
    for (let i = 0, shift = 0; i < 10; i++, shift += 7) {
      if (this.pos >= this.end) throw new ProtoError(`truncated varint at byte ${this.pos}`);
      const b = this.bytes[this.pos++];
      if (shift < 32) low |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return low | 0;
    }
    throw new ProtoError(`varint longer than 10 bytes at byte ${this.pos}`);
  }

  float(): number {
    if (this.pos + 4 > this.end) throw new ProtoError(`truncated float at byte ${this.pos}`);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** Returns [start, end) of a length-delimited payload and moves past it. */
  lengthDelimited(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (start + len > this.end) throw new ProtoError(`field of ${len} bytes at byte ${start} runs past the end`);
    this.pos = start + len;
    return [start, start + len];
  }

  tag(): { field: number; wire: number } {
    const t = this.varint();
    return { field: Math.floor(t / 8), wire: t & 7 };
  }

  skip(wire: number): void {
    switch (wire) {
      case WireType.Varint:
        this.varint();
        return;
      case WireType.Fixed64:
        this.pos += 8;
        break;
      case WireType.LengthDelimited:
        this.lengthDelimited();
        return;
      case WireType.Fixed32:
        this.pos += 4;
        break;
      default:
        throw new ProtoError(`unsupported wire type ${wire} at byte ${this.pos}`);
    }
    if (this.pos > this.end) throw new ProtoError('truncated field');
  }
}

const utf8 = new TextDecoder('utf-8');
export function decodeUtf8(bytes: Uint8Array, start: number, end: number): string {
  return utf8.decode(bytes.subarray(start, end));
}
