// Builds a T5Tokenizer from spiece.model bytes, the way transformers' T5Tokenizer sees that
// file: the SentencePiece pieces keep their ids, then `extraIds` sentinels follow, counted
// down from the end (<extra_id_0> is the LAST id: vocab_size_spm + extraIds - 1 - N).
//
// Two semantics, identical on ordinary text (and on every shared golden):
// - 'transformers' (default): what transformers 5 does with a spiece.model — it converts it to
//   a tokenizers pipeline (Precompiled normalizer over grapheme clusters, WhitespaceSplit +
//   Metaspace, Unigram over every piece). Ids then match transformers even in the corners
//   (a combining mark after a compatibility character, U+0085 as whitespace, ...).
// - 'sentencepiece': sentencepiece's own normalizer.cc (longest match, its whitespace rules)
//   and model (user-defined bonus, unused pieces skipped): what spm.encode() returns.
import { Charsmap, PrefixMatcher } from './charsmap';
import { ModelType, PieceType, parseSpmModel, type SpmModel } from './spm-model';
import { SPACE, T5Tokenizer, type AddedToken, type Pretokenizer } from './tokenizer';
import { Unigram } from './unigram';
import { t5Words } from './from-tokenizer-json';

export interface SpieceOptions {
  /** T5's sentinel count (tokenizer_config.json extra_ids; 100 for T5). */
  extraIds?: number;
  /** Whose behaviour to reproduce in the corners (see the file comment); default 'transformers'. */
  semantics?: 'transformers' | 'sentencepiece';
}

const FLT_MIN = 1.1754943508222875e-38;

export function t5TokenizerFromSpiece(bytes: Uint8Array, opts: SpieceOptions = {}): T5Tokenizer {
  return t5TokenizerFromSpmModel(parseSpmModel(bytes), opts);
}

export function t5TokenizerFromSpmModel(model: SpmModel, opts: SpieceOptions = {}): T5Tokenizer {
  const { pieces, trainer, normalizer } = model;
  if (trainer.modelType !== ModelType.Unigram) {
    const name = ModelType[trainer.modelType] ?? String(trainer.modelType);
    throw new Error(`not supported: SentencePiece model type ${name} (only unigram, as T5 uses)`);
  }
  const extraIds = opts.extraIds ?? 100;
  const vocab = pieces.map((p) => p.piece);
  const nSpm = vocab.length;
  for (let k = 0; k < extraIds; k++) vocab.push(`<extra_id_${extraIds - 1 - k}>`);

  const candidates: number[] = [];
  const userDefined: number[] = [];
  let minScore = Infinity;
  let maxScore = FLT_MIN; // sentencepiece starts max_score_ at FLT_MIN
  let unkId = trainer.unkId;
  const added: AddedToken[] = [];
  let perWord = trainer.splitByWhitespace && !trainer.treatWhitespaceAsSuffix && normalizer.escapeWhitespaces;
  pieces.forEach((p, id) => {
    if (p.type === PieceType.Normal) {
      minScore = Math.min(minScore, p.score);
      maxScore = Math.max(maxScore, p.score);
    }
    if (p.type === PieceType.Normal || p.type === PieceType.UserDefined) {
      candidates.push(id);
      if (p.piece.indexOf(SPACE, 1) > 0) perWord = false;
    }
    if (p.type === PieceType.UserDefined) userDefined.push(id);
    if (p.type === PieceType.Unknown) unkId = id;
    if (p.type === PieceType.Control || p.type === PieceType.Unknown) added.push({ id, content: p.piece, special: true });
  });
  for (let k = 0; k < extraIds; k++) added.push({ id: nSpm + k, content: vocab[nSpm + k], special: true });
  if (!Number.isFinite(minScore)) minScore = 0;

  let byteIds: Int32Array | null = null;
  if (trainer.byteFallback) {
    byteIds = new Int32Array(256).fill(-1);
    pieces.forEach((p, id) => {
      if (p.type === PieceType.Byte) {
        const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(p.piece);
        if (m) byteIds![parseInt(m[1], 16)] = id;
      }
    });
    if (byteIds.some((v) => v < 0)) throw new Error('spiece.model has byte_fallback but lacks some <0xXX> pieces');
  }

  const charsmap = new Charsmap(normalizer.precompiledCharsmap);
  // transformers' converter builds exactly the T5 pipeline only for the usual normalizer flags.
  const hfSemantics =
    (opts.semantics ?? 'transformers') === 'transformers' &&
    normalizer.addDummyPrefix &&
    normalizer.removeExtraWhitespaces &&
    normalizer.escapeWhitespaces &&
    !trainer.treatWhitespaceAsSuffix;
  let unigram: Unigram;
  let pretokenizer: Pretokenizer;
  const scores = vocab.map((_, i) => pieces[i]?.score ?? 0);
  if (hfSemantics) {
    // tokenizers' Unigram: every vocabulary entry is a candidate, min over all scores, no bonus.
    const all = vocab.map((_, i) => i);
    const minAll = scores.reduce((m, x) => Math.min(m, x), Infinity);
    unigram = new Unigram({ pieces: vocab, scores, candidates: all, unkId, minScore: minAll, byteIds });
    for (const id of userDefined) added.push({ id, content: vocab[id], special: false });
    pretokenizer = {
      words(segment) {
        const normalized = charsmap.normalizeHf(segment);
        return normalized ? t5Words(normalized) : [];
      },
    };
  } else {
    unigram = new Unigram({ pieces: vocab, scores, candidates, userDefinedBonus: userDefined, unkId, minScore, maxScore, byteIds });
    const matcher = userDefined.length ? new PrefixMatcher(userDefined.map((id) => vocab[id])) : null;
    const wsOpts = {
      addDummyPrefix: normalizer.addDummyPrefix,
      removeExtraWhitespaces: normalizer.removeExtraWhitespaces,
      escapeWhitespaces: normalizer.escapeWhitespaces,
      treatWhitespaceAsSuffix: trainer.treatWhitespaceAsSuffix,
    };
    pretokenizer = {
      words(segment) {
        const normalized = charsmap.normalizeSpm(segment, wsOpts, matcher);
        // No piece holds '▁' past its first character, so every '▁' starts a new piece and the
        // best split of the whole string is the best split of each '▁'-word: cacheable per word.
        return perWord ? splitBeforeSpace(normalized) : normalized ? [normalized] : [];
      },
    };
  }
  const eosId = trainer.eosId >= 0 ? trainer.eosId : vocab.indexOf('</s>');
  if (eosId < 0) throw new Error('spiece.model defines no eos piece (</s>)');
  return new T5Tokenizer({
    vocab,
    unigram,
    pretokenizer,
    added,
    eosId,
    padId: trainer.padId >= 0 ? trainer.padId : 0,
    unkId,
    appendEos: true,
    byteFallbackDecode: trainer.byteFallback,
    source: 'spiece.model',
    stripFirstSpace: true,
  });
}

/** "▁a▁bc▁" -> ["▁a", "▁bc", "▁"]; text before the first '▁' is a word of its own. */
export function splitBeforeSpace(s: string): string[] {
  const words: string[] = [];
  let start = 0;
  for (let i = s.indexOf(SPACE, 1); i >= 0; i = s.indexOf(SPACE, i + 1)) {
    if (i > start) words.push(s.slice(start, i));
    start = i;
  }
  if (start < s.length) words.push(s.slice(start));
  return words;
}
