// A hand-built spiece.model (protobuf written here) reaches what the shared fixture does not:
// byte fallback, user-defined pieces, unused pieces, and streamed decoding.
import { describe, expect, it } from 'vitest';
import { t5TokenizerFromSpiece, parseSpmModel, StreamDecoder, t5TokenizerFromFiles } from '../../common/tokenizer';

// ---- a minimal protobuf writer ----
function varint(n: number): number[] {
  const out: number[] = [];
  let v = n < 0 ? BigInt.asUintN(64, BigInt(n)) : BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}
const tag = (field: number, wire: number) => varint(field * 8 + wire);
const bytesField = (field: number, b: number[] | Uint8Array) => [...tag(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string) => bytesField(field, new TextEncoder().encode(s));
const int = (field: number, n: number) => [...tag(field, 0), ...varint(n)];
const float = (field: number, x: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, x, true);
  return [...tag(field, 5), ...b];
};

const NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6;
function model(pieces: Array<[string, number, number]>, byteFallback: boolean): Uint8Array {
  const out: number[] = [];
  for (const [p, score, type] of pieces) out.push(...bytesField(1, [...str(1, p), ...float(2, score), ...int(3, type)]));
  const trainer = [...int(3, 1), ...int(4, pieces.length), ...int(35, byteFallback ? 1 : 0), ...int(40, 2), ...int(41, -1), ...int(42, 1), ...int(43, 0)];
  out.push(...bytesField(2, trainer));
  out.push(...bytesField(3, [...str(1, 'identity'), ...int(3, 1), ...int(4, 1), ...int(5, 1)]));
  return Uint8Array.from(out);
}

const bytePieces: Array<[string, number, number]> = Array.from({ length: 256 }, (_, b) => [`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 0, BYTE]);
const pieces: Array<[string, number, number]> = [
  ['<pad>', 0, CONTROL],
  ['</s>', 0, CONTROL],
  ['<unk>', 0, UNKNOWN],
  ...bytePieces,
  ['▁', -2, NORMAL],
  ['▁a', -3, NORMAL],
  ['b', -3, NORMAL],
  ['a', -2.5, NORMAL],
  ['ab', -2, NORMAL],
  ['▁ab', -0.5, UNUSED],
  ['<hukuk>', 0, USER_DEFINED],
];
const id = (p: string) => pieces.findIndex((x) => x[0] === p);

describe('a synthetic spiece.model', () => {
  const bytes = model(pieces, true);
  const tok = t5TokenizerFromSpiece(bytes, { extraIds: 2, semantics: 'sentencepiece' });
  const hfTok = t5TokenizerFromSpiece(bytes, { extraIds: 2 });

  it('parses negative int32 fields and the byte_fallback flag', () => {
    const m = parseSpmModel(bytes);
    expect(m.trainer).toMatchObject({ bosId: -1, eosId: 1, unkId: 2, padId: 0, byteFallback: true });
    expect(tok.vocabSize).toBe(pieces.length + 2);
    expect(tok.idOf('<extra_id_0>')).toBe(pieces.length + 1);
  });
  it('finds the best path and never uses an unused piece (sentencepiece)', () => {
    // ▁ab: "▁"+"ab" = -4 beats "▁a"+"b" = -6; the unused "▁ab" (-0.5) is not a candidate.
    expect(tok.encode('ab', { addEos: false })).toEqual([id('▁'), id('ab')]);
    // transformers' converted Unigram keeps every piece, unused ones included.
    expect(hfTok.encode('ab', { addEos: false })).toEqual([id('▁ab')]);
  });
  it('falls back to UTF-8 bytes for unknown characters and decodes them back', () => {
    const ids = tok.encode('ab ç', { addEos: false });
    expect(ids).toEqual([id('▁'), id('ab'), id('▁'), id('<0xC3>'), id('<0xA7>')]);
    expect(tok.decode(ids)).toBe('ab ç');
    expect(tok.decode([id('<0xC3>')])).toBe('\ufffd');
  });
  it('keeps user-defined pieces whole', () => {
    // "▁a" (-3) beats "▁"+"a" (-4.5); the user-defined piece is taken whole.
    expect(tok.encode('a<hukuk>b', { addEos: false })).toEqual([id('▁a'), id('<hukuk>'), id('b')]);
    // transformers splits user-defined symbols out first, then each side is a word of its own.
    expect(hfTok.encode('a<hukuk>b', { addEos: false })).toEqual([id('▁a'), id('<hukuk>'), id('▁'), id('b')]);
  });
  it('falls back to bytes the same way with transformers semantics', () => {
    expect(hfTok.encode('b ç', { addEos: false })).toEqual(tok.encode('b ç', { addEos: false }));
  });
  it('without byte fallback, unknown runs become one <unk>', () => {
    const plain = t5TokenizerFromSpiece(model(pieces.filter((p) => p[2] !== BYTE), false), { extraIds: 0, semantics: 'sentencepiece' });
    const ids = plain.encode('a çç', { addEos: false });
    expect(ids.filter((i) => i === 2)).toEqual([2]);
  });
  it('streams decoded text, holding back half a character', () => {
    const d = new StreamDecoder(tok);
    const parts = tok.encode('ab ç ab').map((i) => d.push(i));
    expect(parts.join('')).toBe('ab ç ab');
    expect(parts[3]).toBe(''); // <0xC3> alone is not a character yet
  });
  it('builds from folder file contents as the worker reads them', () => {
    const t = t5TokenizerFromFiles({ spieceModel: bytes, tokenizerConfig: '{"extra_ids": 2}' });
    expect(t.vocabSize).toBe(tok.vocabSize);
    expect(() => t5TokenizerFromFiles({})).toThrow(/no tokenizer/);
  });
});
