// Tokenizer throughput: 15,000 QA pairs (30,000 texts) = the 1,500 real pairs of
// ../shared/data/turkish-law-chatbot-test.json repeated 10x, on one core, with the shared
// fixture tokenizer (both loading paths). Prints cold (first pass, empty word cache) and warm
// figures. Run: node bench/tokenize.bench.mjs
import { build } from 'esbuild';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = path.resolve(root, '../shared');
const out = path.join(mkdtempSync(path.join(tmpdir(), 'hukuk-bench-')), 'tokenizer.mjs');
await build({ entryPoints: [path.join(root, 'common/tokenizer/index.ts')], bundle: true, format: 'esm', platform: 'neutral', outfile: out, logLevel: 'error' });
const { t5TokenizerFromSpiece, t5TokenizerFromTokenizerJson } = await import(pathToFileURL(out).href);

const rows = JSON.parse(readFileSync(path.join(shared, 'data/turkish-law-chatbot-test.json'), 'utf8'));
const texts = [];
for (let r = 0; r < 10; r++) for (const row of rows) texts.push(`Soru: ${row.Soru}`, row.Cevap);
const chars = texts.reduce((n, t) => n + t.length, 0);

const dir = path.join(shared, 'fixtures/tokenizer');
const makers = {
  'spiece.model': () => t5TokenizerFromSpiece(new Uint8Array(readFileSync(path.join(dir, 'spiece.model')))),
  'tokenizer.json': () => t5TokenizerFromTokenizerJson(JSON.parse(readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'))),
};
for (const [name, make] of Object.entries(makers)) {
  let t0 = performance.now();
  const tok = make();
  const loadMs = performance.now() - t0;
  // Wall time, and this process's CPU time (user + system): on a shared, oversubscribed machine
  // the CPU time is the honest single-core figure; wall time includes waiting for a core.
  const pass = () => {
    const start = performance.now();
    const cpu0 = process.cpuUsage();
    let ids = 0;
    for (const t of texts) ids += tok.encode(t).length;
    const cpu = process.cpuUsage(cpu0);
    return { ms: performance.now() - start, cpuMs: (cpu.user + cpu.system) / 1000, ids };
  };
  const cold = pass(); // the first 1,500 pairs fill the word cache, the other 9x hit it
  // The machine is shared: report the best of 5 warm passes as the figure.
  let warm = pass();
  for (let k = 0; k < 4; k++) {
    const w = pass();
    if (w.cpuMs < warm.cpuMs) warm = w;
  }
  console.log(
    `${name.padEnd(14)} load ${loadMs.toFixed(0)} ms | ${texts.length} texts (${(chars / 1e6).toFixed(1)} M chars, ${cold.ids} ids): ` +
      `first pass ${cold.ms.toFixed(0)} ms wall / ${cold.cpuMs.toFixed(0)} ms CPU, ` +
      `best later pass ${warm.ms.toFixed(0)} ms wall / ${warm.cpuMs.toFixed(0)} ms CPU (${((texts.length / warm.cpuMs) * 1000).toFixed(0)} texts per CPU-second)`,
  );
}
// Without any repetition to lean on: each distinct text once (cache cleared by a fresh tokenizer).
{
  const tok = makers['spiece.model']();
  const uniq = texts.slice(0, rows.length * 2);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (const t of uniq) tok.encode(t);
  const c = process.cpuUsage(c0);
  console.log(`spiece.model   ${uniq.length} distinct texts, empty cache: ${(performance.now() - t0).toFixed(0)} ms wall / ${((c.user + c.system) / 1000).toFixed(0)} ms CPU`);
}
