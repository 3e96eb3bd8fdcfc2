// Parity of our T5 tokenizer with transformers (and sentencepiece) on the shared goldens,
// through both files a model folder may hold, plus the corners the goldens do not reach.
import { describe, expect, it } from 'vitest';
import { readFileSync, mkdtempSync, copyFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { t5TokenizerFromSpiece, t5TokenizerFromTokenizerJson, parseSpmModel, PieceType } from '../../common/tokenizer';
import { loadTokenizer } from '../../main/io/tokenizers';

const dir = path.resolve(__dirname, '../../../shared/fixtures/tokenizer');
interface Case { text: string; sentencepiece: number[]; transformers: number[]; decoded: string }
const goldens = JSON.parse(readFileSync(path.join(dir, 'tokenizer_goldens.json'), 'utf8')) as {
  vocab_size_spm: number; vocab_size_hf: number; cases: Case[];
};
const spmBytes = new Uint8Array(readFileSync(path.join(dir, 'spiece.model')));
const hfJson = JSON.parse(readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
const paths = {
  'spiece.model': () => t5TokenizerFromSpiece(spmBytes),
  'spiece.model, sentencepiece semantics': () => t5TokenizerFromSpiece(spmBytes, { semantics: 'sentencepiece' }),
  'tokenizer.json': () => t5TokenizerFromTokenizerJson(hfJson),
};

describe.each(Object.entries(paths))('T5 tokenizer from %s', (_name, make) => {
  const tok = make();
  it('has the vocabulary size transformers reports, with T5 special ids', () => {
    expect(goldens.cases.length).toBeGreaterThan(200);
    expect(tok.vocabSize).toBe(goldens.vocab_size_hf);
    expect([tok.padId, tok.eosId, tok.unkId]).toEqual([0, 1, 2]);
    expect(tok.idOf('<extra_id_0>')).toBe(goldens.vocab_size_hf - 1);
    expect(tok.idOf('<extra_id_99>')).toBe(goldens.vocab_size_spm);
  });
  it('encodes every golden exactly as transformers (eos appended)', () => {
    const bad = goldens.cases.filter((c) => JSON.stringify(tok.encode(c.text)) !== JSON.stringify(c.transformers));
    expect(bad.map((c) => c.text)).toEqual([]);
  });
  it('without eos and with no special-token text, equals sentencepiece', () => {
    for (const c of goldens.cases) {
      if (/<extra_id_|<\/s>|<pad>|<unk>/.test(c.text)) continue;
      expect(tok.encode(c.text, { addEos: false })).toEqual(c.sentencepiece);
    }
  });
  it('decodes every golden as transformers does (special tokens skipped)', () => {
    const bad = goldens.cases.filter((c) => tok.decode(c.transformers) !== c.decoded);
    expect(bad.map((c) => c.text)).toEqual([]);
  });
  it('keeps special tokens when asked, and skips ids beyond the vocabulary', () => {
    expect(tok.decode([tok.vocabSize - 1, ...tok.encode('özel')], { skipSpecialTokens: false })).toBe('<extra_id_0> özel</s>');
    expect(tok.decode([...tok.encode('özel', { addEos: false }), 50000, -1])).toBe('özel');
  });
  it('handles empty and whitespace-only text', () => {
    expect(tok.encode('')).toEqual([1]);
    expect(tok.encode(' \t\n ')).toEqual([1]);
  });
});

describe('spiece.model parsing', () => {
  it('reads pieces, trainer and normalizer specs', () => {
    const m = parseSpmModel(spmBytes);
    expect(m.pieces.length).toBe(goldens.vocab_size_spm);
    expect(m.pieces[0]).toMatchObject({ piece: '<pad>', type: PieceType.Control });
    expect(m.pieces[2]).toMatchObject({ piece: '<unk>', type: PieceType.Unknown });
    expect(m.trainer).toMatchObject({ padId: 0, eosId: 1, unkId: 2, bosId: -1, byteFallback: false });
    expect(m.normalizer.name).toBe('nmt_nfkc');
    expect(m.normalizer.precompiledCharsmap.length).toBeGreaterThan(1000);
  });
  it('refuses bytes that are not a model, with a reason', () => {
    expect(() => parseSpmModel(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f]))).toThrow(/not a SentencePiece model/);
    expect(() => parseSpmModel(new Uint8Array(0))).toThrow(/no pieces/);
  });
});

describe('normalization corners', () => {
  const spm = t5TokenizerFromSpiece(spmBytes);
  const spmOwn = t5TokenizerFromSpiece(spmBytes, { semantics: 'sentencepiece' });
  const hf = t5TokenizerFromTokenizerJson(hfJson);
  it('maps NFKC compatibility characters and odd whitespace the same way on every path', () => {
    for (const text of ['ｆｕｌｌ ｗｉｄｔｈ', 'a\u00a0b\u3000c', 'ﬁ ligatür', 'x\u200by', '①②', 'e\u0301 ve é', 'Ａ\r\nB', 'a\ufeffb']) {
      expect(hf.encode(text)).toEqual(spm.encode(text));
      expect(spmOwn.encode(text)).toEqual(spm.encode(text));
    }
  });
  it('reproduces transformers in the corners where sentencepiece differs', () => {
    // tokenizers normalizes a grapheme cluster by its SHORTEST matching prefix and drops the
    // rest ("①" + combining acute -> "1"); sentencepiece keeps the accent. U+0085 is whitespace
    // to tokenizers' WhitespaceSplit, a plain (unknown) character to sentencepiece.
    for (const text of ['①\u0301', 'a\u0085b', '\u3000\u0307x']) {
      expect(spm.encode(text)).toEqual(hf.encode(text));
      expect(spmOwn.encode(text)).not.toEqual(hf.encode(text));
    }
  });
  it('agrees with the tokenizer.json path on random mixes of awkward characters', () => {
    const pool = ['a', 'ı', 'İ', 'ş', 'Ü', ' ', '\t', '\n', '\u0307', '\u0301', 'ﬁ', '①', 'Ａ', '\u00a0', '\u3000', '\u200b', '\u200d',
      '🙂', '👍🏽', '\u0000', '\u001f', 'é', '<', '</s>', '<extra_id_5>', '\r\n', '\u2581', 'ǅ', '㎏', 'ﾊﾟ', '\u1100\u1161', '\ufeff', '\u0085', '\u2028'];
    let seed = 11;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const bad: string[] = [];
    for (let k = 0; k < 5000; k++) {
      let text = '';
      for (let j = 1 + Math.floor(rnd() * 10); j > 0; j--) text += pool[Math.floor(rnd() * pool.length)];
      if (JSON.stringify(spm.encode(text)) !== JSON.stringify(hf.encode(text))) bad.push(JSON.stringify(text));
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });
  it('fuses runs of unknown characters into one <unk>', () => {
    const ids = spm.encode('🙂🙂🙂', { addEos: false });
    expect(ids.filter((i) => i === 2).length).toBe(1);
  });
});

describe('loading from disk', () => {
  it('prefers tokenizer.json in a folder and falls back to spiece.model', () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'hukuk-tok-'));
    copyFileSync(path.join(dir, 'spiece.model'), path.join(folder, 'spiece.model'));
    writeFileSync(path.join(folder, 'tokenizer_config.json'), JSON.stringify({ extra_ids: 100 }));
    const a = loadTokenizer(folder);
    expect(a.kind).toBe('spiece.model');
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    copyFileSync(path.join(dir, 'tokenizer.json'), path.join(folder, 'tokenizer.json'));
    const b = loadTokenizer(folder);
    expect(b.kind).toBe('tokenizer.json');
    const text = goldens.cases[0].text;
    expect(b.tokenizer.encode(text)).toEqual(a.tokenizer.encode(text));
  });
  it('refuses a BPE-style tokenizer.json by name', () => {
    expect(() => t5TokenizerFromTokenizerJson({ model: { type: 'BPE', vocab: {} } })).toThrow(/not supported: tokenizer.json model BPE/);
  });
});

describe('sentencepiece semantics against the real library', () => {
  // tools/make_spm_fuzz_goldens.py: awkward random strings encoded by sentencepiece itself.
  const fuzz = JSON.parse(readFileSync(path.resolve(__dirname, '../fixtures/tokenizer/spm_fuzz_goldens.json'), 'utf8')) as {
    cases: Array<{ text: string; ids: number[] }>;
  };
  const spmOwn = t5TokenizerFromSpiece(spmBytes, { semantics: 'sentencepiece' });
  it('encodes 3,000 strings of combining marks, compatibility characters and odd whitespace id for id', () => {
    expect(fuzz.cases.length).toBe(3000);
    const bad = fuzz.cases.filter((c) => JSON.stringify(spmOwn.encode(c.text, { addEos: false })) !== JSON.stringify(c.ids));
    expect(bad.slice(0, 5).map((c) => c.text)).toEqual([]);
  });
});
