// Dataset import: every reader on good and malformed input (with line numbers), column
// detection, templates, splits, duplicates, statistics, the tokenized cache, and the CLI.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  cachedRow,
  detectColumns,
  lengthStats,
  percentile,
  preparePairs,
  seededSplit,
  applyTemplate,
  TEMPLATES,
  parseCsv,
} from '../../common/datasets';
import { inspectDataset, readDatasetPath, readJson, readJsonl, readCsv, readTokenizedCache, writeTokenizedCache, sha256File } from '../../main/io/datasets';
import { loadTokenizer } from '../../main/io/tokenizers';
import { run as runTokenize } from '../../main/cli/commands/tokenize';
import { run as runDataset } from '../../main/cli/commands/dataset';

const shared = path.resolve(__dirname, '../../../shared');
const realFile = path.join(shared, 'data/turkish-law-chatbot-test.json');
const tokDir = path.join(shared, 'fixtures/tokenizer');
const fixtures = path.resolve(__dirname, '../fixtures/datasets');
const tmp = (): string => mkdtempSync(path.join(tmpdir(), 'hukuk-ds-'));
const write = (dir: string, name: string, text: string | Uint8Array): string => {
  const f = path.join(dir, name);
  writeFileSync(f, text);
  return f;
};

describe('the real Turkish legal QA file', () => {
  it('imports 1,500 rows with Soru/Cevap and nothing skipped', async () => {
    const { summary } = await inspectDataset(realFile, { split: { ratio: 0 } });
    expect(summary.mapping).toEqual({ question: 'Soru', answer: 'Cevap' });
    expect(summary.rows).toEqual({ train: 1500 });
    expect(summary.skippedCount).toBe(0);
    expect(summary.preview[0].origin.line).toBe(2); // the array opens on line 1
  });
  it('computes token statistics that agree with a direct count', async () => {
    const loaded = loadTokenizer(tokDir);
    const { summary, tokenized } = await inspectDataset(realFile, { tokenizer: loaded, template: 'default' });
    expect((summary.rows.train ?? 0) + (summary.rows.test ?? 0)).toBe(1500);
    expect(summary.splitSource).toEqual({ train: 'seeded', test: 'seeded' });
    const rows = JSON.parse(readFileSync(realFile, 'utf8')) as Array<{ Soru: string; Cevap: string }>;
    const lens = rows.map((r) => loaded.tokenizer.encode(`Soru: ${r.Soru}`).length).sort((a, b) => a - b);
    const st = summary.stats!;
    expect(st.input.count).toBe(1500);
    expect(st.input.max).toBe(lens[lens.length - 1]);
    expect(st.input.p50).toBe(lens[Math.ceil(0.5 * 1500) - 1]);
    expect(st.input.p99).toBe(lens[Math.ceil(0.99 * 1500) - 1]);
    expect(st.input.truncatedAt['64']).toBe(lens.filter((l) => l > 64).length);
    const covered = (L: number): boolean => lens.filter((l) => l <= L).length / 1500 >= 0.99;
    expect(covered(st.input.suggestedMaxLength)).toBe(true);
    expect(st.input.histogram.counts.reduce((a, b) => a + b, 0)).toBe(1500);
    expect(tokenized!.train!.inputIds[0].at(-1)).toBe(1); // eos
  });
  it('applies the teknofest template to targets', async () => {
    const { summary, tokenized, tokenizer } = await inspectDataset(realFile, { tokenizer: tokDir, template: 'teknofest', split: { ratio: 0 } });
    expect(summary.template.target).toBe('Cevap: {answer}');
    const first = JSON.parse(readFileSync(realFile, 'utf8'))[0];
    expect(tokenizer!.decode(tokenized!.train!.targetIds[0])).toBe(`Cevap: ${first.Cevap}`.replace(/\s+/g, ' ').trim());
  });
});

describe('CSV', () => {
  it('reads BOM, semicolons, quotes, doubled quotes, CRLF and embedded newlines', () => {
    const d = tmp();
    const f = write(d, 'qa.csv', '\ufeffSoru;Cevap\r\n"Kira; artış?";"Satır bir\r\nsatır ""iki"""\r\nBasit;cevap\r\n');
    const t = readCsv(f);
    expect(t.columns).toEqual(['Soru', 'Cevap']);
    expect(t.rows).toEqual([
      { Soru: 'Kira; artış?', Cevap: 'Satır bir\r\nsatır "iki"' },
      { Soru: 'Basit', Cevap: 'cevap' },
    ]);
    expect(t.origins.map((o) => o.line)).toEqual([2, 4]);
  });
  it('reads a Turkish Excel CSV (Windows-1254) and UTF-16, and says which encoding it used', async () => {
    const d = tmp();
    // "Soru;Cevap\nŞirket nasıl kurulur?;Ticaret siciline tescil ile." in Windows-1254
    const cp1254 = Uint8Array.from([...Buffer.from('Soru;Cevap\n', 'latin1'), 0xde, ...Buffer.from('irket nas', 'latin1'), 0xfd,
      ...Buffer.from('l kurulur?;Ticaret siciline tescil ile.\n', 'latin1')]);
    const a = await inspectDataset(write(d, 'excel.csv', cp1254), { split: { ratio: 0 } });
    expect(a.summary.preview[0].question).toBe('Şirket nasıl kurulur?');
    expect(a.summary.notes.join()).toMatch(/Windows-1254/);
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('question,answer\nçğ?,üö.\n', 'utf16le')]);
    const b = await inspectDataset(write(d, 'u16.csv', utf16), { split: { ratio: 0 } });
    expect(b.summary.preview[0]).toMatchObject({ question: 'çğ?', answer: 'üö.' });
    const c = await inspectDataset(write(d, 'plain.csv', 'question,answer\nçğ?,üö.\n'), { split: { ratio: 0 } });
    expect(c.summary.notes).toEqual([]);
  });
  it('reports records with the wrong field count by line, and keeps the rest', () => {
    const t = parseCsv('question,answer\na,b\nonly one\n"multi\nline",x,extra\nc,d\n', 'x.csv');
    expect(t.rows.map((r) => r.question)).toEqual(['a', 'c']);
    expect(t.skipped).toEqual([
      { file: 'x.csv', line: 3, reason: '1 fields, the header has 2' },
      { file: 'x.csv', line: 4, reason: '3 fields, the header has 2' },
    ]);
    expect(t.lines).toEqual([2, 6]);
  });
  it('fails on an unterminated quote, naming the line it opened on', () => {
    expect(() => parseCsv('a,b\n1,2\n3,"never closed\n4,5\n', 'bad.csv')).toThrow(/bad\.csv:3: a quoted field is never closed/);
  });
});

describe('JSON and JSONL', () => {
  it('reads {"data": [...]} with element lines and reports non-objects', () => {
    const d = tmp();
    const f = write(d, 'd.json', '{\n "data": [\n  {"question": "q1", "answer": "a1"},\n  42,\n  {"question": "q2",\n   "answer": "a2"}\n ]\n}\n');
    const t = readJson(f);
    expect(t.rows.length).toBe(2);
    expect(t.origins.map((o) => o.line)).toEqual([3, 5]);
    expect(t.skipped).toEqual([{ file: f, line: 4, row: 1, reason: 'not an object (number)' }]);
  });
  it('refuses malformed JSON with line and column', () => {
    const d = tmp();
    const f = write(d, 'bad.json', '[\n  {"Soru": "a", "Cevap": "b"},\n  {"Soru": "c" "Cevap": "d"}\n]');
    expect(() => readJson(f)).toThrow(/bad\.json:3:\d+: not valid JSON/);
  });
  it('reads JSONL, reporting bad lines by number', () => {
    const d = tmp();
    const f = write(d, 'd.jsonl', '{"input": "a", "target": "b"}\n\n{"input": "c", "target": \n{"input": "e", "target": "f"}\n[1]\n');
    const t = readJsonl(f);
    expect(t.rows.length).toBe(2);
    expect(t.skipped.map((s) => [s.line, s.reason.split(':')[0]])).toEqual([
      [3, 'not valid JSON'],
      [5, 'not an object (array)'],
    ]);
  });
  it('accepts a .json file that is really JSON Lines', () => {
    const d = tmp();
    const f = write(d, 'lines.json', '{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": "d"}\n');
    expect(readJson(f).rows.length).toBe(2);
  });
});

describe('Parquet and Hugging Face folders', () => {
  it('reads a Parquet file, skipping an empty answer and reporting the duplicate question', async () => {
    const { summary } = await inspectDataset(path.join(fixtures, 'qa.parquet'), { split: { ratio: 0 } });
    expect(summary.format).toBe('parquet');
    expect(summary.mapping).toEqual({ question: 'question', answer: 'answer' });
    expect(summary.rows).toEqual({ train: 3 });
    expect(summary.skipped).toEqual([{ file: path.join(fixtures, 'qa.parquet'), row: 2, reason: 'empty "answer"' }]);
    expect(summary.duplicates.sameQuestion).toBe(1);
    expect(summary.duplicates.sameQuestionGroups[0].origins.map((o) => o.row)).toEqual([1, 3]);
  });
  it('uses the splits of a data/*.parquet folder as given', async () => {
    const { summary } = await inspectDataset(path.join(fixtures, 'hf-folder'));
    expect(summary.format).toBe('hf-folder');
    expect(summary.rows).toEqual({ train: 6, test: 2 });
    expect(summary.splitSource).toEqual({ train: 'file', test: 'file' });
  });
  it('reads train/validation files at the top of a folder, in mixed formats', async () => {
    const d = tmp();
    write(d, 'train.jsonl', '{"Soru": "a", "Cevap": "b"}\n{"Soru": "c", "Cevap": "d"}\n');
    write(d, 'validation.csv', 'Soru,Cevap\ne,f\n');
    write(d, 'README.md', '# not data');
    const src = await readDatasetPath(d);
    expect(Object.keys(src.tables).sort()).toEqual(['train', 'validation']);
    const p = preparePairs(src.tables);
    expect(p.splits.train!.length).toBe(2);
    expect(p.splits.validation!.length).toBe(1);
    expect(p.splitSource.validation).toBe('file');
  });
});

describe('column mapping, templates, splits', () => {
  it('detects known pairs case-insensitively, in priority order', () => {
    expect(detectColumns(['id', 'SORU', 'cevap'])).toEqual({ question: 'SORU', answer: 'cevap' });
    expect(detectColumns(['Instruction', 'Output'])).toEqual({ question: 'Instruction', answer: 'Output' });
    expect(detectColumns(['input', 'target', 'question', 'answer'])).toEqual({ question: 'question', answer: 'answer' });
    expect(detectColumns(['a', 'b'])).toBeNull();
  });
  it('lets the user override the mapping, and names the columns when none is found', async () => {
    const d = tmp();
    const f = write(d, 'x.jsonl', '{"q": "soru", "a": "cevap", "note": "n"}\n');
    await expect(inspectDataset(f)).rejects.toThrow(/columns: q, a, note/);
    const { summary } = await inspectDataset(f, { mapping: { question: 'q', answer: 'a' }, split: { ratio: 0 } });
    expect(summary.rows.train).toBe(1);
    await expect(inspectDataset(f, { mapping: { question: 'q', answer: 'nope' } })).rejects.toThrow(/"nope" is not in the file/);
  });
  it('renders the default and teknofest templates', () => {
    expect(applyTemplate(TEMPLATES.default, 'S?', 'C.')).toEqual({ input: 'Soru: S?', target: 'C.' });
    expect(applyTemplate(TEMPLATES.teknofest, 'S?', 'C.')).toEqual({ input: 'Soru: S?', target: 'Cevap: C.' });
  });
  it('splits reproducibly by seed', () => {
    const a = seededSplit(100, 0.2, 7);
    expect(a.heldOut.length).toBe(20);
    expect(seededSplit(100, 0.2, 7)).toEqual(a);
    expect(seededSplit(100, 0.2, 8).heldOut).not.toEqual(a.heldOut);
    expect(new Set([...a.train, ...a.heldOut]).size).toBe(100);
  });
  it('reports answers shared by different questions and missing cells', () => {
    const table = {
      file: 'f.json', format: 'json' as const, columns: ['Soru', 'Cevap'], skipped: [],
      rows: [{ Soru: 'a', Cevap: 'x' }, { Soru: 'b', Cevap: 'x' }, { Soru: 'c' }, { Soru: 'd', Cevap: { nested: 1 } }],
      origins: [1, 2, 3, 4].map((line) => ({ file: 'f.json', line })),
    };
    const p = preparePairs({ train: [table] }, { split: { ratio: 0 } });
    expect(p.duplicates.sameAnswer.map((g) => g.origins.map((o) => o.line))).toEqual([[1, 2]]);
    expect(p.skipped.map((s) => [s.line, s.reason])).toEqual([[3, 'missing "Cevap"'], [4, '"Cevap" is not text']]);
  });
  it('computes nearest-rank percentiles and truncation counts', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    const s = lengthStats([10, 40, 70, 600]);
    expect(s.truncatedAt).toEqual({ '32': 3, '64': 2, '128': 1, '256': 1, '512': 1 });
    expect(s.suggestedMaxLength).toBe(512); // 99% coverage is never reached with 1 of 4 above 512
  });
});

describe('tokenized cache', () => {
  it('round-trips ids per split through the binary file', async () => {
    const loaded = loadTokenizer(path.join(tokDir, 'spiece.model'));
    const { tokenized } = await inspectDataset(realFile, { tokenizer: loaded });
    const d = tmp();
    const datasetHash = await sha256File(realFile);
    const file = writeTokenizedCache(path.join(d, 'cache'), { datasetHash, tokenizerHash: loaded.hash, template: TEMPLATES.default, eosId: 1, padId: 0 }, tokenized!);
    const c = readTokenizedCache(file);
    expect(c.header.datasetHash).toBe(datasetHash);
    expect(Object.keys(c.splits).sort()).toEqual(['test', 'train']);
    for (const name of ['train', 'test'] as const) {
      const t = tokenized![name]!;
      expect(c.splits[name].rows).toBe(t.inputIds.length);
      for (const r of [0, 5, t.inputIds.length - 1]) {
        const row = cachedRow(c.splits[name], r);
        expect(Array.from(row.input)).toEqual(t.inputIds[r]);
        expect(Array.from(row.target)).toEqual(t.targetIds[r]);
      }
    }
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 8));
    expect(() => readTokenizedCache(file)).toThrow(/truncated/);
  });
});

describe('CLI', () => {
  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, ctx: { dataDir: tmp(), stdout: (l: string) => out.push(l), stderr: (l: string) => err.push(l) } };
  };
  it('hukuk tokenize writes {"ids"} lines equal to the goldens', async () => {
    const goldens = JSON.parse(readFileSync(path.join(tokDir, 'tokenizer_goldens.json'), 'utf8')).cases.slice(0, 20);
    const d = tmp();
    const input = write(d, 'in.jsonl', goldens.map((c: { text: string }) => JSON.stringify({ text: c.text })).join('\n') + '\n');
    for (const tokPath of [tokDir, path.join(tokDir, 'spiece.model'), path.join(tokDir, 'tokenizer.json')]) {
      const c = capture();
      expect(await runTokenize(['--tokenizer', tokPath, '--input', input], c.ctx)).toBe(0);
      expect(c.out.map((l) => JSON.parse(l).ids)).toEqual(goldens.map((g: { transformers: number[] }) => g.transformers));
    }
    const bad = write(d, 'bad.jsonl', '{"text": "a"}\n{"txt": 1}\n');
    const c = capture();
    expect(await runTokenize(['--tokenizer', tokDir, '--input', bad], c.ctx)).toBe(1);
    expect(c.err.join('\n')).toMatch(/bad\.jsonl:2: expected an object with a string "text"/);
  });
  it('hukuk dataset inspect --json prints the summary', async () => {
    const c = capture();
    const code = await runDataset(['inspect', realFile, '--tokenizer', tokDir, '--template', 'teknofest', '--split-ratio', '0', '--json'], c.ctx);
    expect(code).toBe(0);
    const s = JSON.parse(c.out.join('\n'));
    expect(s.rows).toEqual({ train: 1500 });
    expect(s.mapping).toEqual({ question: 'Soru', answer: 'Cevap' });
    expect(s.stats.input.count).toBe(1500);
    const human = capture();
    expect(await runDataset(['inspect', realFile], human.ctx)).toBe(0);
    expect(human.out.join('\n')).toMatch(/rows: train 1350 \(seeded split\), test 150 \(seeded split\)/);
  });
  it('reports a bad dataset path as an error, not a crash', async () => {
    const c = capture();
    mkdirSync(path.join(c.ctx.dataDir, 'empty'));
    expect(await runDataset(['inspect', path.join(c.ctx.dataDir, 'empty')], c.ctx)).toBe(1);
    expect(c.err.join('\n')).toMatch(/No dataset files/);
  });
});
