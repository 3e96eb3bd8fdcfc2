// Builds a T5Tokenizer from a Hugging Face tokenizer.json (the format transformers writes for
// T5: normalizer Precompiled (or a Sequence), pre_tokenizer Metaspace (or WhitespaceSplit +
// Metaspace), model Unigram, post_processor TemplateProcessing appending </s>, decoder
// Metaspace). The pieces of the pipeline we do not implement are refused by name rather than
// silently skipped: a tokenizer that is only nearly right trains a model on the wrong ids.
import { Charsmap, base64ToBytes } from './charsmap';
import { SPACE, T5Tokenizer, isWhitespace, type AddedToken, type Pretokenizer } from './tokenizer';
import { Unigram } from './unigram';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function normalizerOf(spec: unknown): (s: string) => string {
  if (spec === null || spec === undefined) return (s) => s;
  if (!isObj(spec)) throw new Error('tokenizer.json: normalizer is not an object');
  switch (spec.type) {
    case 'Sequence': {
      const steps = (spec.normalizers as unknown[]).map(normalizerOf);
      return (s) => steps.reduce((acc, f) => f(acc), s);
    }
    case 'Precompiled': {
      const b64 = spec.precompiled_charsmap;
      if (typeof b64 !== 'string' || b64.length === 0) return (s) => s;
      const map = new Charsmap(base64ToBytes(b64));
      return (s) => map.normalizeHf(s);
    }
    case 'Replace': {
      const pat = spec.pattern as Json;
      const content = String(spec.content ?? '');
      if (typeof pat?.String === 'string') {
        const lit = pat.String;
        return (s) => (lit ? s.split(lit).join(content) : s);
      }
      if (typeof pat?.Regex === 'string') {
        const re = new RegExp(pat.Regex, 'gu');
        return (s) => s.replace(re, () => content);
      }
      throw new Error('tokenizer.json: Replace normalizer without a String or Regex pattern');
    }
    case 'Strip': {
      const left = spec.strip_left !== false;
      const right = spec.strip_right !== false;
      return (s) => {
        let a = 0;
        let b = s.length;
        if (left) while (a < b && isWhitespace(s.charCodeAt(a))) a++;
        if (right) while (b > a && isWhitespace(s.charCodeAt(b - 1))) b--;
        return s.slice(a, b);
      };
    }
    case 'Prepend': {
      const p = String(spec.prepend ?? '');
      return (s) => (s.length ? p + s : s);
    }
    case 'NFKC':
    case 'NFC':
    case 'NFD':
    case 'NFKD': {
      const form = spec.type;
      return (s) => s.normalize(form);
    }
    case 'Lowercase':
      return (s) => s.toLowerCase();
    default:
      throw new Error(`not supported: tokenizer.json normalizer ${String(spec.type)}`);
  }
}

/** One pre-tokenizer step: list of (text, startsAtTextStart) pieces -> refined list. */
type PreStep = (pieces: Array<[string, boolean]>) => Array<[string, boolean]>;

function splitWhitespace(s: string): string[] {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i < s.length; i++) {
    if (isWhitespace(s.charCodeAt(i))) {
      if (start >= 0) out.push(s.slice(start, i));
      start = -1;
    } else if (start < 0) start = i;
  }
  if (start >= 0) out.push(s.slice(start));
  return out;
}

function preStepOf(spec: unknown): PreStep {
  if (spec === null || spec === undefined) return (p) => p;
  if (!isObj(spec)) throw new Error('tokenizer.json: pre_tokenizer is not an object');
  switch (spec.type) {
    case 'Sequence': {
      const steps = (spec.pretokenizers as unknown[]).map(preStepOf);
      return (p) => steps.reduce((acc, f) => f(acc), p);
    }
    case 'WhitespaceSplit':
      return (pieces) => {
        const out: Array<[string, boolean]> = [];
        for (const [s, atStart] of pieces) splitWhitespace(s).forEach((w, k) => out.push([w, atStart && k === 0 && !isWhitespace(s.charCodeAt(0))]));
        return out;
      };
    case 'Metaspace': {
      const rep = typeof spec.replacement === 'string' ? spec.replacement : SPACE;
      const scheme =
        typeof spec.prepend_scheme === 'string' ? spec.prepend_scheme : spec.add_prefix_space === false ? 'never' : 'always';
      const split = spec.split !== false;
      return (pieces) => {
        const out: Array<[string, boolean]> = [];
        for (const [raw, atStart] of pieces) {
          let s = raw.indexOf(' ') >= 0 ? raw.split(' ').join(rep) : raw;
          if ((scheme === 'always' || (scheme === 'first' && atStart)) && !s.startsWith(rep)) s = rep + s;
          if (!split) {
            out.push([s, atStart]);
            continue;
          }
          let start = 0;
          for (let i = s.indexOf(rep, 1); i >= 0; i = s.indexOf(rep, i + 1)) {
            if (i > start) out.push([s.slice(start, i), atStart && start === 0]);
            start = i;
          }
          if (start < s.length) out.push([s.slice(start), atStart && start === 0]);
        }
        return out;
      };
    }
    default:
      throw new Error(`not supported: tokenizer.json pre_tokenizer ${String(spec.type)}`);
  }
}

function isT5PreTokenizer(spec: unknown): boolean {
  if (!isObj(spec) || spec.type !== 'Sequence' || !Array.isArray(spec.pretokenizers)) return false;
  const [a, b, ...rest] = spec.pretokenizers as Json[];
  return (
    rest.length === 0 &&
    a?.type === 'WhitespaceSplit' &&
    b?.type === 'Metaspace' &&
    (b.replacement ?? SPACE) === SPACE &&
    (b.prepend_scheme ?? 'always') === 'always' &&
    b.split !== false
  );
}

/** WhitespaceSplit then Metaspace(▁, prepend always, split): the words of normalized text. */
export function t5Words(s: string): string[] {
  const out: string[] = [];
  let start = -1;
  const n = s.length;
  for (let i = 0; i <= n; i++) {
    if (i === n || isWhitespace(s.charCodeAt(i))) {
      if (start >= 0) {
        const w = s.slice(start, i);
        if (w.indexOf(SPACE, 1) < 0) out.push(w.charCodeAt(0) === 0x2581 ? w : SPACE + w);
        else for (const [p] of preStepOf({ type: 'Metaspace' })([[w, false]])) out.push(p);
        start = -1;
      }
    } else if (start < 0) start = i;
  }
  return out;
}

export function t5TokenizerFromTokenizerJson(json: unknown): T5Tokenizer {
  if (!isObj(json) || !isObj(json.model)) throw new Error('tokenizer.json: no "model" object');
  const model = json.model;
  if (model.type !== 'Unigram') throw new Error(`not supported: tokenizer.json model ${String(model.type)} (only Unigram, as T5 uses)`);
  const entries = model.vocab as unknown;
  if (!Array.isArray(entries) || entries.length === 0) throw new Error('tokenizer.json: Unigram model without a vocab');
  const vocab: string[] = [];
  const scores: number[] = [];
  entries.forEach((e, i) => {
    if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'number') {
      throw new Error(`tokenizer.json: vocab entry ${i} is not [piece, score]`);
    }
    vocab.push(e[0]);
    scores.push(e[1]);
  });
  const added: AddedToken[] = [];
  for (const t of (json.added_tokens as Json[] | undefined) ?? []) {
    const id = Number(t.id);
    const content = String(t.content);
    if (!Number.isInteger(id) || id < 0) throw new Error(`tokenizer.json: added token ${content} has a bad id`);
    while (vocab.length <= id) {
      vocab.push('');
      scores.push(0);
    }
    if (vocab[id] === '') vocab[id] = content;
    added.push({ id, content, special: t.special === true, lstrip: t.lstrip === true, rstrip: t.rstrip === true });
  }
  const unkId = typeof model.unk_id === 'number' ? model.unk_id : vocab.indexOf('<unk>');
  if (unkId < 0) throw new Error('tokenizer.json: Unigram model without unk_id');
  const byteFallback = model.byte_fallback === true;
  let byteIds: Int32Array | null = null;
  if (byteFallback) {
    byteIds = new Int32Array(256);
    for (let b = 0; b < 256; b++) {
      byteIds[b] = vocab.indexOf(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
      if (byteIds[b] < 0) throw new Error('tokenizer.json: byte_fallback without all <0xXX> pieces');
    }
  }
  const minScore = scores.reduce((m, s) => Math.min(m, s), Infinity);
  const candidates = vocab.map((_, i) => i).filter((i) => vocab[i] !== '');
  const unigram = new Unigram({ pieces: vocab, scores, candidates, unkId, minScore, byteIds });

  const normalize = normalizerOf(json.normalizer);
  const preStep = preStepOf(json.pre_tokenizer);
  const t5Style = isT5PreTokenizer(json.pre_tokenizer);
  const pretokenizer: Pretokenizer = {
    words(segment) {
      const n = normalize(segment);
      if (!n) return [];
      // The T5 pre-tokenizer (WhitespaceSplit, then Metaspace always/split), without the
      // general pipeline's per-word tuples; same output.
      if (t5Style) return t5Words(n);
      return preStep([[n, true]]).map((p) => p[0]).filter((w) => w.length > 0);
    },
  };

  // eos: what the post-processor appends after a single sequence (T5: </s>).
  let eosId = vocab.indexOf('</s>');
  let appendEos = false;
  const post = json.post_processor;
  if (isObj(post) && post.type === 'TemplateProcessing' && Array.isArray(post.single)) {
    const specials = (post.special_tokens ?? {}) as Record<string, { ids?: number[] }>;
    const last = post.single[post.single.length - 1] as Json;
    if (isObj(last) && isObj(last.SpecialToken)) {
      const name = String(last.SpecialToken.id);
      const ids = specials[name]?.ids;
      if (ids && ids.length === 1) eosId = ids[0];
      appendEos = true;
    }
  } else if (post !== null && post !== undefined) {
    throw new Error(`not supported: tokenizer.json post_processor ${String(isObj(post) ? post.type : post)}`);
  }
  if (eosId < 0) throw new Error('tokenizer.json: no </s> token');

  const decoder = json.decoder;
  let stripFirstSpace = true;
  let byteFallbackDecode = byteFallback;
  const decoders = isObj(decoder) && decoder.type === 'Sequence' ? (decoder.decoders as Json[]) : decoder ? [decoder as Json] : [];
  for (const d of decoders) {
    if (d.type === 'Metaspace') stripFirstSpace = (d.prepend_scheme ?? (d.add_prefix_space === false ? 'never' : 'always')) !== 'never';
    else if (d.type === 'ByteFallback') byteFallbackDecode = true;
    else if (d.type !== 'Fuse' && d.type !== 'Strip' && d.type !== 'Replace') {
      throw new Error(`not supported: tokenizer.json decoder ${String(d.type)}`);
    }
  }
  const padId = vocab.indexOf('<pad>');
  return new T5Tokenizer({
    vocab,
    unigram,
    pretokenizer,
    added,
    eosId,
    padId: padId >= 0 ? padId : 0,
    unkId,
    appendEos,
    byteFallbackDecode,
    source: 'tokenizer.json',
    stripFirstSpace,
  });
}
