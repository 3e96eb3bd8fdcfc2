// Parses a SentencePiece `spiece.model` (a serialized sentencepiece.ModelProto) into plain
// data. Field numbers follow sentencepiece_model.proto; defaults are the proto's defaults
// (so a field the file omits reads as SentencePiece itself would read it).
import { ProtoError, ProtoReader, WireType, decodeUtf8 } from './protobuf';

export enum PieceType {
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
}

export enum ModelType {
  Unigram = 1,
  Bpe = 2,
  Word = 3,
  Char = 4,
}

export interface SpmPiece {
  piece: string;
  score: number;
  type: PieceType;
}

export interface SpmTrainerSpec {
  modelType: ModelType;
  vocabSize: number;
  splitByWhitespace: boolean;
  treatWhitespaceAsSuffix: boolean;
  byteFallback: boolean;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  unkPiece: string;
  bosPiece: string;
  eosPiece: string;
  padPiece: string;
  unkSurface: string;
}

export interface SpmNormalizerSpec {
  name: string;
  precompiledCharsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

export interface SpmModel {
  pieces: SpmPiece[];
  trainer: SpmTrainerSpec;
  normalizer: SpmNormalizerSpec;
}

function parsePiece(bytes: Uint8Array, start: number, end: number): SpmPiece {
  const sub = new ProtoReader(bytes, start, end);
  const p: SpmPiece = { piece: '', score: 0, type: PieceType.Normal };
  while (!sub.done()) {
    const { field, wire } = sub.tag();
    if (field === 1 && wire === WireType.LengthDelimited) {
      const [s, e] = sub.lengthDelimited();
      p.piece = decodeUtf8(sub.bytes, s, e);
    } else if (field === 2 && wire === WireType.Fixed32) p.score = sub.float();
    else if (field === 3 && wire === WireType.Varint) p.type = sub.int32() as PieceType;
    else sub.skip(wire);
  }
  return p;
}

function parseTrainer(bytes: Uint8Array, start: number, end: number): SpmTrainerSpec {
  const t: SpmTrainerSpec = {
    modelType: ModelType.Unigram,
    vocabSize: 8000,
    splitByWhitespace: true,
    treatWhitespaceAsSuffix: false,
    byteFallback: false,
    unkId: 0,
    bosId: 1,
    eosId: 2,
    padId: -1,
    unkPiece: '<unk>',
    bosPiece: '<s>',
    eosPiece: '</s>',
    padPiece: '<pad>',
    unkSurface: ' \u2047 ',
  };
  const r = new ProtoReader(bytes, start, end);
  const str = (): string => {
    const [s, e] = r.lengthDelimited();
    return decodeUtf8(bytes, s, e);
  };
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (wire === WireType.Varint) {
      const v = r.int32();
      switch (field) {
        case 3: t.modelType = v as ModelType; break;
        case 4: t.vocabSize = v; break;
        case 22: t.splitByWhitespace = v !== 0; break;
        case 24: t.treatWhitespaceAsSuffix = v !== 0; break;
        case 35: t.byteFallback = v !== 0; break;
        case 40: t.unkId = v; break;
        case 41: t.bosId = v; break;
        case 42: t.eosId = v; break;
        case 43: t.padId = v; break;
        default: break;
      }
    } else if (wire === WireType.LengthDelimited && field >= 44 && field <= 48) {
      const s = str();
      if (field === 44) t.unkSurface = s;
      else if (field === 45) t.unkPiece = s;
      else if (field === 46) t.bosPiece = s;
      else if (field === 47) t.eosPiece = s;
      else t.padPiece = s;
    } else r.skip(wire);
  }
  return t;
}

function parseNormalizer(bytes: Uint8Array, start: number, end: number): SpmNormalizerSpec {
  const n: SpmNormalizerSpec = {
    name: '',
    precompiledCharsmap: new Uint8Array(0),
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    escapeWhitespaces: true,
  };
  const r = new ProtoReader(bytes, start, end);
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === WireType.LengthDelimited) {
      const [s, e] = r.lengthDelimited();
      n.name = decodeUtf8(bytes, s, e);
    } else if (field === 2 && wire === WireType.LengthDelimited) {
      const [s, e] = r.lengthDelimited();
      n.precompiledCharsmap = bytes.slice(s, e);
    } else if (field === 3 && wire === WireType.Varint) n.addDummyPrefix = r.varint() !== 0;
    else if (field === 4 && wire === WireType.Varint) n.removeExtraWhitespaces = r.varint() !== 0;
    else if (field === 5 && wire === WireType.Varint) n.escapeWhitespaces = r.varint() !== 0;
    else r.skip(wire);
  }
  return n;
}

/** Parses spiece.model bytes. Throws Error with a byte position when the file is not a ModelProto. */
export function parseSpmModel(bytes: Uint8Array): SpmModel {
  const r = new ProtoReader(bytes);
  const pieces: SpmPiece[] = [];
  let trainer: SpmTrainerSpec | undefined;
  let normalizer: SpmNormalizerSpec | undefined;
  try {
    while (!r.done()) {
      const { field, wire } = r.tag();
      if (field === 1 && wire === WireType.LengthDelimited) {
        const [s, e] = r.lengthDelimited();
        pieces.push(parsePiece(bytes, s, e));
      } else if (field === 2 && wire === WireType.LengthDelimited) {
        const [s, e] = r.lengthDelimited();
        trainer = parseTrainer(bytes, s, e);
      } else if (field === 3 && wire === WireType.LengthDelimited) {
        const [s, e] = r.lengthDelimited();
        normalizer = parseNormalizer(bytes, s, e);
      } else r.skip(wire);
    }
  } catch (e) {
    if (e instanceof ProtoError) throw new Error(`not a SentencePiece model: ${e.message}`);
    throw e;
  }
  if (pieces.length === 0) throw new Error('not a SentencePiece model: it has no pieces');
  return {
    pieces,
    trainer: trainer ?? parseTrainer(bytes, 0, 0),
    normalizer: normalizer ?? parseNormalizer(bytes, 0, 0),
  };
}
