// The tokenizer the app uses everywhere (main, worker, renderer): T5 conventions on top of a
// unigram model, built from either a SentencePiece spiece.model or a Hugging Face
// tokenizer.json. encode() returns what transformers' T5 tokenizer returns (eos appended);
// decode() what its decode(ids, skip_special_tokens=True) returns.
//
// Pipeline per text:
//   1. split out added tokens (<pad>, </s>, <unk>, <extra_id_N>, ...): leftmost-longest match
//      on the raw text, as tokenizers' AddedVocabulary does;
//   2. each remaining segment becomes words that start with '▁' (see Pretokenizer);
//   3. each word is segmented by the Unigram model (cached per word);
//   4. eos is appended.
import { Unigram } from './unigram';

export const SPACE = '\u2581';

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
}

/** Turns one segment of raw text (between added tokens) into words, each fed to the model alone. */
export interface Pretokenizer {
  words(segment: string): string[];
}

export interface TokenizerParts {
  /** Piece text per id, added tokens included (index = id). */
  vocab: string[];
  unigram: Unigram;
  pretokenizer: Pretokenizer;
  added: AddedToken[];
  eosId: number;
  padId: number;
  unkId: number;
  /** Appended by encode() (T5: eos). */
  appendEos: boolean;
  /** Decode <0xXX> pieces as bytes (models with byte fallback). */
  byteFallbackDecode: boolean;
  /** What the tokenizer was read from, for messages and hashes. */
  source: 'spiece.model' | 'tokenizer.json';
  /** Metaspace decoder: drop '▁' in the first decoded token (prepend_scheme != never). */
  stripFirstSpace: boolean;
}

export interface EncodeOptions {
  /** Append eos (default true, as transformers does). */
  addEos?: boolean;
}

export interface DecodeOptions {
  /** Leave out special tokens (<pad>, </s>, <unk>, <extra_id_N>) — default true. */
  skipSpecialTokens?: boolean;
}

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

export class T5Tokenizer {
  readonly vocab: readonly string[];
  readonly eosId: number;
  readonly padId: number;
  readonly unkId: number;
  readonly source: TokenizerParts['source'];
  private readonly parts: TokenizerParts;
  private readonly special: Uint8Array;
  /** Added tokens by first UTF-16 unit, longest first. */
  private readonly addedByFirst = new Map<number, AddedToken[]>();
  /** 1 where a BMP unit starts some added token: the scan's cheap first test. */
  private readonly addedFirst = new Uint8Array(0x10000);
  private readonly addedFirstChars: string[] = [];
  private readonly byteOf: Int16Array;
  private readonly pieceToId = new Map<string, number>();

  constructor(parts: TokenizerParts) {
    this.parts = parts;
    this.vocab = parts.vocab;
    this.eosId = parts.eosId;
    this.padId = parts.padId;
    this.unkId = parts.unkId;
    this.source = parts.source;
    this.special = new Uint8Array(parts.vocab.length);
    for (const t of parts.added) {
      if (t.special) this.special[t.id] = 1;
      if (!t.content) continue;
      const c = t.content.charCodeAt(0);
      if (!this.addedFirst[c]) this.addedFirstChars.push(t.content[0]);
      this.addedFirst[c] = 1;
      const list = this.addedByFirst.get(c) ?? [];
      list.push(t);
      list.sort((a, b) => b.content.length - a.content.length);
      this.addedByFirst.set(c, list);
    }
    this.byteOf = new Int16Array(parts.vocab.length).fill(-1);
    parts.vocab.forEach((p, id) => {
      if (!this.pieceToId.has(p)) this.pieceToId.set(p, id);
      const m = parts.byteFallbackDecode ? BYTE_PIECE.exec(p) : null;
      if (m) this.byteOf[id] = parseInt(m[1], 16);
    });
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  isSpecial(id: number): boolean {
    return this.special[id] === 1;
  }

  idOf(piece: string): number | undefined {
    return this.pieceToId.get(piece);
  }

  /** Ids of `text`, eos appended unless addEos is false. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    this.encodeInto(text, out);
    if (opts.addEos ?? this.parts.appendEos) out.push(this.eosId);
    return out;
  }

  /** Pieces (strings) of `text` without eos — for display and debugging. */
  tokenize(text: string): string[] {
    const ids: number[] = [];
    this.encodeInto(text, ids);
    return ids.map((id) => this.vocab[id]);
  }

  private encodeInto(text: string, out: number[]): void {
    if (this.addedByFirst.size === 0) {
      this.encodeSegment(text, out);
      return;
    }
    let segStart = 0;
    let i = 0;
    const n = text.length;
    const first = this.addedFirst;
    const firstChars = this.addedFirstChars;
    while (i < n) {
      if (first[text.charCodeAt(i)] === 0) {
        if (firstChars.length === 1) {
          // One possible first character (T5: '<'): let indexOf find the next candidate.
          const k = text.indexOf(firstChars[0], i);
          if (k < 0) break;
          i = k;
        } else {
          i++;
          continue;
        }
      }
      const list = this.addedByFirst.get(text.charCodeAt(i));
      let hit: AddedToken | undefined;
      if (list) for (const t of list) if (text.startsWith(t.content, i)) { hit = t; break; }
      if (!hit) {
        i++;
        continue;
      }
      let segEnd = i;
      if (hit.lstrip) while (segEnd > segStart && isWhitespace(text.charCodeAt(segEnd - 1))) segEnd--;
      this.encodeSegment(text.slice(segStart, segEnd), out);
      out.push(hit.id);
      i += hit.content.length;
      if (hit.rstrip) while (i < n && isWhitespace(text.charCodeAt(i))) i++;
      segStart = i;
    }
    this.encodeSegment(text.slice(segStart), out);
  }

  private encodeSegment(segment: string, out: number[]): void {
    if (segment.length === 0) return;
    const words = this.parts.pretokenizer.words(segment);
    for (const w of words) this.parts.unigram.encodeWord(w, out);
  }

  /**
   * Text of `ids` as transformers' decode() gives it: special tokens skipped by default,
   * '▁' back to spaces, the first token's '▁' dropped, <0xXX> runs decoded as UTF-8. Ids
   * outside the vocabulary are skipped (models often have more embedding rows than pieces).
   */
  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecialTokens ?? true;
    const tokens: string[] = [];
    let bytes: number[] = [];
    const flushBytes = (): void => {
      if (bytes.length === 0) return;
      const b = Uint8Array.from(bytes);
      try {
        tokens.push(new TextDecoder('utf-8', { fatal: true }).decode(b));
      } catch {
        for (let k = 0; k < b.length; k++) tokens.push('\ufffd');
      }
      bytes = [];
    };
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k];
      if (!Number.isInteger(id) || id < 0 || id >= this.vocab.length) continue;
      if (skip && this.special[id]) continue;
      const b = this.byteOf[id];
      if (b >= 0) {
        bytes.push(b);
        continue;
      }
      flushBytes();
      tokens.push(this.vocab[id]);
    }
    flushBytes();
    let text = '';
    for (let k = 0; k < tokens.length; k++) {
      const t = tokens[k];
      if (k === 0 && this.parts.stripFirstSpace) text += t.split(SPACE).join('');
      else text += t.indexOf(SPACE) >= 0 ? t.split(SPACE).join(' ') : t;
    }
    return text;
  }
}

/** Unicode White_Space (Rust's char::is_whitespace), for UTF-16 units (all are in the BMP). */
export function isWhitespace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0x85) return false;
  return (
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}
