// Unigram segmentation: the best-scoring split of one word into vocabulary pieces
// (Viterbi over "best path ending at each position", exactly the optimized encoder of
// sentencepiece unigram_model.cc and of Hugging Face tokenizers' Unigram::encode_optimized).
// - Scores are summed in float64, as tokenizers does (the parity target is transformers).
// - A character no piece covers becomes <unk> with score min_score - 10; runs of <unk> are
//   fused into one, as both implementations do; with byte fallback they become <0xXX> pieces.
// - SentencePiece gives user-defined pieces a bonus (len_bytes * max_score - 0.1) so they always
//   win; tokenizers has no such rule (it splits them out as added tokens first).
// Results are cached per word: legal text repeats its words, and the cache makes a second pass
// over a corpus cost a Map lookup per word.
import { utf8Length } from './charsmap';

export const UNK_PENALTY = 10;

export interface UnigramSpec {
  pieces: readonly string[];
  scores: ArrayLike<number>;
  /** Piece ids the segmentation may produce (normal, user-defined; not control/unknown/byte). */
  candidates: ArrayLike<number>;
  /** Subset of candidates that get SentencePiece's user-defined bonus (empty for tokenizers' semantics). */
  userDefinedBonus?: ArrayLike<number>;
  unkId: number;
  /** min over the scores the unk penalty is relative to. */
  minScore: number;
  /** SentencePiece's max_score_ (for the user-defined bonus). */
  maxScore?: number;
  /** piece id of <0x00>..<0xFF> when the model falls back to bytes, else null. */
  byteIds: Int32Array | null;
}

export class Unigram {
  /** Trie over UTF-16 code units: key node * 65536 + unit -> child node. */
  private readonly edges = new Map<number, number>();
  /** Piece id ending at each trie node, or -1. */
  private nodePiece: Int32Array;
  private nodeCount = 1;
  private readonly scores: Float64Array;
  private readonly bonus: Uint8Array;
  private readonly bonusScore: Float64Array;
  private readonly unkScore: number;
  private readonly cache = new Map<string, Int32Array>();
  private bestScore = new Float64Array(64);
  private bestStart = new Int32Array(64);
  private bestId = new Int32Array(64);
  static readonly CACHE_LIMIT = 1 << 18;

  constructor(private readonly spec: UnigramSpec) {
    const n = spec.pieces.length;
    this.scores = Float64Array.from({ length: n }, (_, i) => spec.scores[i]);
    this.bonus = new Uint8Array(n);
    this.bonusScore = new Float64Array(n);
    this.nodePiece = new Int32Array(1024).fill(-1);
    const maxScore = spec.maxScore ?? 0;
    for (let k = 0; k < (spec.userDefinedBonus?.length ?? 0); k++) {
      const id = (spec.userDefinedBonus as ArrayLike<number>)[k];
      this.bonus[id] = 1;
      this.bonusScore[id] = utf8Length(spec.pieces[id]) * maxScore - 0.1;
    }
    for (let k = 0; k < spec.candidates.length; k++) this.insert(spec.candidates[k]);
    this.unkScore = spec.minScore - UNK_PENALTY;
  }

  private insert(id: number): void {
    const piece = this.spec.pieces[id];
    if (!piece) return;
    let node = 0;
    for (let i = 0; i < piece.length; i++) {
      const key = node * 65536 + piece.charCodeAt(i);
      let child = this.edges.get(key);
      if (child === undefined) {
        child = this.nodeCount++;
        if (child >= this.nodePiece.length) {
          const grown = new Int32Array(this.nodePiece.length * 2).fill(-1);
          grown.set(this.nodePiece);
          this.nodePiece = grown;
        }
        this.edges.set(key, child);
      }
      node = child;
    }
    // The first id wins when a piece is listed twice (both libraries keep the first).
    if (this.nodePiece[node] < 0) this.nodePiece[node] = id;
  }

  /** Appends the ids of `word` to out (cached). */
  encodeWord(word: string, out: number[]): void {
    let ids = this.cache.get(word);
    if (ids === undefined) {
      ids = this.viterbi(word);
      if (this.cache.size >= Unigram.CACHE_LIMIT) this.cache.clear();
      this.cache.set(word, ids);
    }
    for (let k = 0; k < ids.length; k++) out.push(ids[k]);
  }

  private viterbi(s: string): Int32Array {
    const size = s.length;
    if (size === 0) return new Int32Array(0);
    if (this.bestScore.length < size + 1) {
      const cap = Math.max(size + 1, this.bestScore.length * 2);
      this.bestScore = new Float64Array(cap);
      this.bestStart = new Int32Array(cap);
      this.bestId = new Int32Array(cap);
    }
    const best = this.bestScore;
    const start = this.bestStart;
    const bid = this.bestId;
    start.fill(-1, 0, size + 1);
    best[0] = 0;
    const { edges, nodePiece, scores, bonus, bonusScore } = this;
    const unkId = this.spec.unkId;
    let startsAt = 0;
    while (startsAt < size) {
      const here = best[startsAt];
      const c0 = s.charCodeAt(startsAt);
      const mblen = c0 >= 0xd800 && c0 <= 0xdbff && startsAt + 1 < size && (s.charCodeAt(startsAt + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
      let hasSingle = false;
      let node = 0;
      for (let k = startsAt; k < size; k++) {
        const child = edges.get(node * 65536 + s.charCodeAt(k));
        if (child === undefined) break;
        node = child;
        const id = nodePiece[node];
        if (id < 0) continue;
        const keyPos = k + 1;
        const cand = (bonus[id] ? bonusScore[id] : scores[id]) + here;
        if (start[keyPos] === -1 || cand > best[keyPos]) {
          best[keyPos] = cand;
          start[keyPos] = startsAt;
          bid[keyPos] = id;
        }
        if (!hasSingle && keyPos - startsAt === mblen) hasSingle = true;
      }
      if (!hasSingle) {
        const keyPos = startsAt + mblen;
        const cand = this.unkScore + here;
        if (start[keyPos] === -1 || cand > best[keyPos]) {
          best[keyPos] = cand;
          start[keyPos] = startsAt;
          bid[keyPos] = -1; // unk: the surface decides byte fallback below
        }
      }
      startsAt += mblen;
    }
    // Backtrack; fuse runs of unknown pieces into one <unk> (or into their bytes).
    const rev: number[] = [];
    let end = size;
    let unkRunEnd = -1;
    const flushUnk = (from: number): void => {
      if (unkRunEnd < 0) return;
      const bytes = this.spec.byteIds;
      if (bytes) {
        const surface = new TextEncoder().encode(s.slice(from, unkRunEnd));
        for (let k = surface.length - 1; k >= 0; k--) rev.push(bytes[surface[k]]);
      } else rev.push(unkId);
      unkRunEnd = -1;
    };
    let runStart = 0;
    while (end > 0) {
      const st = start[end];
      const id = bid[end];
      if (id === -1) {
        if (unkRunEnd < 0) unkRunEnd = end;
        runStart = st;
      } else {
        flushUnk(runStart);
        rev.push(id);
      }
      end = st;
    }
    flushUnk(runStart);
    rev.reverse();
    return Int32Array.from(rev);
  }
}
