// SentencePiece's precompiled character map (`precompiled_charsmap`, also base64 in a
// tokenizer.json "Precompiled" normalizer) and the two ways it is applied:
//
//   blob = u32le trie_size | Darts-clone double array (trie_size bytes of u32le units)
//        | normalized strings, each NUL-terminated; a trie leaf's value is an offset here.
//
// - normalizeSpm(): sentencepiece normalizer.cc: at each position the LONGEST key that is a
//   prefix of the remaining input wins (keys may span several characters); then the
//   whitespace rules (drop leading/trailing/repeated spaces, dummy prefix, ' ' -> '▁').
// - normalizeHf(): Hugging Face tokenizers' Precompiled normalizer (spm_precompiled crate):
//   walks extended grapheme clusters; a cluster shorter than 6 UTF-8 bytes is looked up
//   whole and the SHORTEST matching prefix wins (the rest of the cluster is dropped);
//   otherwise each character is looked up alone. That is what transformers runs, so the
//   tokenizer.json path reproduces it, odd corners included.

const decoder = new TextDecoder('utf-8');

/** Darts-clone double array: units are u32 (label | has_leaf | offset | value). */
export class DartsTrie {
  constructor(private readonly units: Uint32Array) {}

  /** Node reached from the root before reading any byte. */
  root(): number {
    return this.offset(this.units[0] ?? 0);
  }

  /** Follows one byte; returns the next node position, or -1 when no key continues with it. */
  step(node: number, byte: number): number {
    const pos = (node ^ byte) >>> 0;
    if (pos >= this.units.length) return -1;
    const unit = this.units[pos];
    if ((unit & 0x800000ff) >>> 0 !== byte) return -1;
    return (pos ^ this.offset(unit)) >>> 0;
  }

  /** Value of the key ending at this node (after step), or -1 when no key ends here. */
  leafValue(node: number, viaUnit: number): number {
    if (((viaUnit >>> 8) & 1) === 0) return -1;
    const v = this.units[node];
    return v === undefined ? -1 : v & 0x7fffffff;
  }

  /** Unit that step() just read to reach `node` from `prev` with `byte` (has_leaf lives there). */
  unitAt(prev: number, byte: number): number {
    return this.units[(prev ^ byte) >>> 0];
  }

  private offset(unit: number): number {
    return ((unit >>> 10) << ((unit & (1 << 9)) >>> 6)) >>> 0;
  }
}

/** UTF-8 bytes of one code point into out[0..n); returns n. Lone surrogates become U+FFFD. */
function utf8Of(cp: number, out: Uint8Array): number {
  if (cp < 0x80) {
    out[0] = cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = 0xc0 | (cp >> 6);
    out[1] = 0x80 | (cp & 63);
    return 2;
  }
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
  if (cp < 0x10000) {
    out[0] = 0xe0 | (cp >> 12);
    out[1] = 0x80 | ((cp >> 6) & 63);
    out[2] = 0x80 | (cp & 63);
    return 3;
  }
  out[0] = 0xf0 | (cp >> 18);
  out[1] = 0x80 | ((cp >> 12) & 63);
  out[2] = 0x80 | ((cp >> 6) & 63);
  out[3] = 0x80 | (cp & 63);
  return 4;
}

/** Code point at s[i] and its length in UTF-16 units (lone surrogates count as one unit). */
function codePointAt(s: string, i: number): number {
  return s.codePointAt(i) as number;
}

const SPACE_SYMBOL = '\u2581';

export interface SpmWhitespaceOptions {
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
  treatWhitespaceAsSuffix: boolean;
}

/** Longest match of a set of literal strings (SentencePiece's PrefixMatcher for user-defined symbols). */
export class PrefixMatcher {
  private readonly byFirst = new Map<number, string[]>();
  constructor(symbols: readonly string[]) {
    for (const s of symbols) {
      if (!s) continue;
      const c = s.charCodeAt(0);
      const list = this.byFirst.get(c) ?? [];
      list.push(s);
      this.byFirst.set(c, list);
    }
    for (const list of this.byFirst.values()) list.sort((a, b) => b.length - a.length);
  }
  get empty(): boolean {
    return this.byFirst.size === 0;
  }
  /** Length (UTF-16 units) of the longest symbol starting at s[i], or 0. */
  match(s: string, i: number): number {
    const list = this.byFirst.get(s.charCodeAt(i));
    if (!list) return 0;
    for (const sym of list) if (s.startsWith(sym, i)) return sym.length;
    return 0;
  }
}

export class Charsmap {
  private readonly trie: DartsTrie | null;
  private readonly normalized: Uint8Array;
  private readonly strings = new Map<number, string>();
  /** Per BMP code unit: 0 unknown, 1 no key starts with it, 2 some key starts with it. */
  private readonly startsKey = new Uint8Array(0x10000);
  /** Per BMP code unit: -2 unknown, -1 not a key by itself, else the replacement's offset. */
  private readonly single = new Int32Array(0x10000).fill(-2);
  private readonly buf = new Uint8Array(4);

  constructor(blob: Uint8Array) {
    if (blob.length === 0) {
      this.trie = null;
      this.normalized = blob;
      return;
    }
    if (blob.length < 4) throw new Error('precompiled charsmap is truncated (shorter than its 4-byte header)');
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const trieSize = view.getUint32(0, true);
    if (trieSize % 4 !== 0 || 4 + trieSize > blob.length) {
      throw new Error(`precompiled charsmap: trie size ${trieSize} does not fit a ${blob.length}-byte blob`);
    }
    const units = new Uint32Array(trieSize / 4);
    for (let i = 0; i < units.length; i++) units[i] = view.getUint32(4 + i * 4, true);
    this.trie = new DartsTrie(units);
    this.normalized = blob.subarray(4 + trieSize);
  }

  static fromBase64(b64: string): Charsmap {
    return new Charsmap(base64ToBytes(b64));
  }

  private replacement(offset: number): string {
    let s = this.strings.get(offset);
    if (s === undefined) {
      let end = offset;
      while (end < this.normalized.length && this.normalized[end] !== 0) end++;
      s = decoder.decode(this.normalized.subarray(offset, end));
      this.strings.set(offset, s);
    }
    return s;
  }

  /** Unit read by the last step of walkChar (has_leaf lives there). */
  private lastUnit = 0;

  /** Walks the bytes of one code point from `node`; returns the node reached or -1. */
  private walkCharNode(node: number, cp: number): number {
    const trie = this.trie as DartsTrie;
    const n = utf8Of(cp, this.buf);
    for (let k = 0; k < n; k++) {
      this.lastUnit = trie.unitAt(node, this.buf[k]);
      node = trie.step(node, this.buf[k]);
      if (node < 0) return -1;
    }
    return node;
  }

  private walkChar(node: number, cp: number): [number, number] | null {
    const next = this.walkCharNode(node, cp);
    return next < 0 ? null : [next, this.lastUnit];
  }

  /** Per BMP unit: -2 unknown, -1 no key starts with it, else the node after it. */
  private readonly charNode = new Int32Array(0x10000).fill(-2);

  private nodeAfterChar(c: number): number {
    let v = this.charNode[c];
    if (v === -2) {
      v = this.walkCharNode((this.trie as DartsTrie).root(), c);
      this.charNode[c] = v;
    }
    return v;
  }

  /**
   * True when s[i] (a BMP character some key starts with) is certainly copied unchanged:
   * it is not a key by itself and no key continues with s[i+1].
   */
  private plainHere(s: string, i: number, c: number): boolean {
    const node = this.nodeAfterChar(c);
    if (node < 0) return true;
    if (this.singleBmp(c) !== null) return false;
    if (i + 1 >= s.length) return true;
    const d = s.charCodeAt(i + 1);
    if (d >= 0xd800 && d <= 0xdfff) return false;
    return this.walkCharNode(node, d) < 0;
  }

  private canStart(c: number): boolean {
    if (c >= 0x10000 || (c >= 0xd800 && c <= 0xdfff)) return true; // rare: take the slow path
    let v = this.startsKey[c];
    if (v === 0) {
      v = this.walkChar((this.trie as DartsTrie).root(), c) ? 2 : 1;
      this.startsKey[c] = v;
    }
    return v === 2;
  }

  /**
   * SentencePiece NormalizePrefix: longest key that prefixes s[i..]. Returns the number of
   * UTF-16 units consumed and the replacement, or consumed 0 when nothing matches.
   */
  private longestAt(s: string, i: number): { consumed: number; out: string } {
    const trie = this.trie as DartsTrie;
    let node = trie.root();
    let j = i;
    let bestLen = 0;
    let bestVal = -1;
    while (j < s.length) {
      const cp = codePointAt(s, j);
      const r = this.walkChar(node, cp);
      if (!r) break;
      node = r[0];
      j += cp > 0xffff ? 2 : 1;
      const v = trie.leafValue(node, r[1]);
      if (v >= 0) {
        bestLen = j - i;
        bestVal = v;
      }
    }
    return bestLen === 0 ? { consumed: 0, out: '' } : { consumed: bestLen, out: this.replacement(bestVal) };
  }

  /** Shortest key that prefixes `chunk` (HF Precompiled.transform), or null. */
  private shortestOf(chunk: string): string | null {
    const trie = this.trie as DartsTrie;
    let node = trie.root();
    for (let j = 0; j < chunk.length; ) {
      const cp = codePointAt(chunk, j);
      const r = this.walkChar(node, cp);
      if (!r) return null;
      node = r[0];
      const v = trie.leafValue(node, r[1]);
      if (v >= 0) return this.replacement(v);
      j += cp > 0xffff ? 2 : 1;
    }
    return null;
  }

  private singleBmp(c: number): string | null {
    let v = this.single[c];
    if (v === -2) {
      const r = this.walkChar((this.trie as DartsTrie).root(), c);
      v = r ? (this.trie as DartsTrie).leafValue(r[0], r[1]) : -1;
      this.single[c] = v;
    }
    return v < 0 ? null : this.replacement(v);
  }

  /**
   * sentencepiece normalizer.cc Normalize(): returns the normalized text with '▁' for spaces.
   * `userDefined` symbols are copied through untouched (they are matched before the charsmap).
   */
  normalizeSpm(input: string, opt: SpmWhitespaceOptions, userDefined: PrefixMatcher | null): string {
    if (input.length === 0) return '';
    const prefix = (i: number): { consumed: number; out: string } => {
      if (userDefined && !userDefined.empty) {
        const m = userDefined.match(input, i);
        if (m > 0) return { consumed: m, out: input.substr(i, m) };
      }
      const c = input.charCodeAt(i);
      if (this.trie && this.canStart(c)) {
        const r = this.longestAt(input, i);
        if (r.consumed > 0) return r;
      }
      // No rule: copy one character (a lone surrogate is malformed input: U+FFFD, as SentencePiece does).
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < input.length) {
        const d = input.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) return { consumed: 2, out: input.substr(i, 2) };
      }
      if (c >= 0xd800 && c <= 0xdfff) return { consumed: 1, out: '\ufffd' };
      return { consumed: 1, out: input[i] };
    };

    let i = 0;
    if (opt.removeExtraWhitespaces) {
      while (i < input.length) {
        const p = prefix(i);
        if (p.out !== ' ') break;
        i += p.consumed;
      }
    }
    if (i >= input.length) return '';

    const space = opt.escapeWhitespaces ? SPACE_SYMBOL : ' ';
    const checkUser = userDefined !== null && !userDefined.empty;
    let out = '';
    if (!opt.treatWhitespaceAsSuffix && opt.addDummyPrefix) out += space;
    let isPrevSpace = opt.removeExtraWhitespaces;
    const n = input.length;
    while (i < n) {
      // Fast path: a run of characters no rule starts with and that are not spaces or
      // surrogates is copied as one slice (that is most of any text).
      let j = i;
      while (j < n) {
        const c = input.charCodeAt(j);
        if (c === 32 || (c >= 0xd800 && c <= 0xdfff) || (this.trie && !this.plainHere(input, j, c)) || (checkUser && userDefined.match(input, j) > 0)) break;
        j++;
      }
      if (j > i) {
        out += input.slice(i, j);
        isPrevSpace = false;
        i = j;
        continue;
      }
      if (input.charCodeAt(i) === 32 && (!this.trie || this.plainHere(input, i, 32)) && !(checkUser && userDefined.match(input, i) > 0)) {
        // A plain space: what the general step below does for sp === ' ', without allocating.
        if (!isPrevSpace) out += space;
        isPrevSpace = opt.removeExtraWhitespaces;
        i++;
        continue;
      }
      const p = prefix(i);
      let sp = p.out;
      if (isPrevSpace) {
        let k = 0;
        while (k < sp.length && sp.charCodeAt(k) === 32) k++;
        if (k > 0) sp = sp.slice(k);
      }
      if (sp.length > 0) {
        out += opt.escapeWhitespaces && sp.indexOf(' ') >= 0 ? sp.replace(/ /g, SPACE_SYMBOL) : sp;
        isPrevSpace = sp.charCodeAt(sp.length - 1) === 32;
      }
      i += p.consumed;
      if (!opt.removeExtraWhitespaces) isPrevSpace = false;
    }
    if (opt.removeExtraWhitespaces) {
      while (out.endsWith(space)) out = out.slice(0, out.length - space.length);
    }
    if (opt.treatWhitespaceAsSuffix && opt.addDummyPrefix) out += space;
    return out;
  }

  /** Hugging Face tokenizers' Precompiled normalizer over the whole string (see file comment). */
  normalizeHf(input: string): string {
    if (!this.trie) return input;
    let out = '';
    let copyFrom = 0; // input[copyFrom..i) is still to be copied unchanged
    const n = input.length;
    let i = 0;
    while (i < n) {
      const c = input.charCodeAt(i);
      const next = i + 1 < n ? input.charCodeAt(i + 1) : 0;
      // Below U+0300 no character extends or joins a cluster, so c (and CR LF) stands alone:
      // decide it from the per-character table without running the segmenter.
      if (c < 0x300 && next < 0x300 && !(c === 13 && next === 10)) {
        const r = this.singleBmp(c);
        if (r !== null) {
          out += input.slice(copyFrom, i) + r;
          copyFrom = i + 1;
        }
        i++;
        continue;
      }
      // Slow region: up to a position where two characters below U+0300 meet (a sure break).
      let j = i + 1;
      while (j < n) {
        const a = input.charCodeAt(j - 1);
        const b = input.charCodeAt(j);
        if (a < 0x300 && b < 0x300 && !(a === 13 && b === 10)) break;
        j++;
      }
      out += input.slice(copyFrom, i);
      out += this.normalizeGraphemes(input.slice(i, j));
      copyFrom = j;
      i = j;
    }
    return copyFrom === 0 ? input : out + input.slice(copyFrom);
  }

  private normalizeGraphemes(region: string): string {
    let out = '';
    for (const { segment } of graphemeSegmenter().segment(region)) {
      if (utf8Length(segment) < 6) {
        const r = this.shortestOf(segment);
        if (r !== null) {
          out += r;
          continue;
        }
      }
      for (let k = 0; k < segment.length; ) {
        const cp = codePointAt(segment, k);
        const len = cp > 0xffff ? 2 : 1;
        const ch = segment.substr(k, len);
        const r = this.shortestOf(ch);
        out += r ?? ch;
        k += len;
      }
    }
    return out;
  }
}

let segmenter: Intl.Segmenter | null = null;
function graphemeSegmenter(): Intl.Segmenter {
  segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  return segmenter;
}

export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = (() => {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < B64.length; i++) t[B64.charCodeAt(i)] = i;
  t['-'.charCodeAt(0)] = 62; // url-safe alphabet too
  t['_'.charCodeAt(0)] = 63;
  return t;
})();

/** Base64 (standard or url-safe, padding optional) to bytes; throws on any other character. */
export function base64ToBytes(b64: string): Uint8Array {
  const out = new Uint8Array(Math.floor((b64.length * 3) / 4) + 3);
  let acc = 0;
  let bits = 0;
  let n = 0;
  for (let i = 0; i < b64.length; i++) {
    const c = b64.charCodeAt(i);
    if (c === 61) break; // '='
    if (c === 10 || c === 13 || c === 32) continue;
    const d = c < 128 ? B64_INDEX[c] : -1;
    if (d < 0) throw new Error(`invalid base64 character at ${i}`);
    acc = (acc << 6) | d;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return out.slice(0, n);
}
