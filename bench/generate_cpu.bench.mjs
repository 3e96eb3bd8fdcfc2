#!/usr/bin/env node
// Generation speed on the CPU, batch 1: milliseconds per generated token for greedy and beam
// search (4 beams), with a random T5 written to a temp folder (tests/train/tiny-t5.ts).
// minNewTokens = maxNewTokens forces every run to the same length; the per-token figure is
// (time for N tokens - time for 1 token) / (N - 1), so the encoder pass is not in it (it is
// printed on its own). Not a test: prints a table.
//   node bench/generate_cpu.bench.mjs [--shape small|base|tiny] [--tokens N] [--src S] [--reps R]
// shapes: tiny (d 64, 2+2 layers, vocab 512), small (t5-small: d 512, 6+6, vocab 32128),
//         base (the flagship's width, fewer layers: d 768, ff 2048, 12 heads, 4+4, vocab 32128)
import { build } from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const engine = require('../native/index.cjs').loadEngine();
const { values } = parseArgs({
  options: {
    shape: { type: 'string', default: 'small' },
    tokens: { type: 'string', default: '24' },
    src: { type: 'string', default: '64' },
    reps: { type: 'string', default: '3' },
  },
});
const N = Number(values.tokens);
const S = Number(values.src);
const reps = Number(values.reps);
const SHAPES = {
  tiny: { vocabSize: 512, dModel: 64, dKv: 16, numHeads: 4, dFf: 128, numLayers: 2, numDecoderLayers: 2 },
  small: { vocabSize: 32128, dModel: 512, dKv: 64, numHeads: 8, dFf: 2048, numLayers: 6, numDecoderLayers: 6 },
  base: { vocabSize: 32128, dModel: 768, dKv: 64, numHeads: 12, dFf: 2048, numLayers: 4, numDecoderLayers: 4 },
};
const shape = SHAPES[values.shape];
if (!shape) throw new Error(`unknown --shape ${values.shape}`);
if (!engine.T5Model) throw new Error('engine.T5Model is not in this build of the addon');

const tmp = mkdtempSync(path.join(tmpdir(), 'hukuk-genbench-'));
try {
  const bundle = path.join(tmp, 'tiny-t5.mjs');
  await build({ entryPoints: [path.join(root, 'tests/train/tiny-t5.ts')], bundle: true, format: 'esm', platform: 'node', outfile: bundle, logLevel: 'error' });
  const { makeTinyT5 } = await import(pathToFileURL(bundle).href);
  const modelDir = path.join(tmp, 'model');
  let t0 = performance.now();
  makeTinyT5(modelDir, shape, 7);
  const makeS = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const model = engine.T5Model.load({ modelDir });
  const loadS = (performance.now() - t0) / 1000;

  const inputIds = Int32Array.from({ length: S }, (_, i) => 2 + ((i * 7919) % (shape.vocabSize - 2)));
  // the fastest run: this machine is shared, and contention only ever adds time
  const best = (xs) => Math.min(...xs);
  async function timeGen(opts) {
    await engine.generate(model, { inputIds, ...opts }); // warm-up
    const ts = [];
    for (let r = 0; r < reps; r++) {
      const t = performance.now();
      const ids = await engine.generate(model, { inputIds, ...opts });
      ts.push(performance.now() - t);
      if (ids.length !== 1 + opts.maxNewTokens) throw new Error(`expected ${1 + opts.maxNewTokens} ids, got ${ids.length}`);
    }
    return best(ts);
  }
  const rows = [];
  for (const [name, extra] of [['greedy', {}], ['beam 4', { numBeams: 4 }]]) {
    const one = await timeGen({ maxNewTokens: 1, minNewTokens: 1, ...extra });
    const many = await timeGen({ maxNewTokens: N, minNewTokens: N, ...extra });
    rows.push({ name, one, many, perToken: (many - one) / (N - 1) });
  }
  console.log(`generate on the CPU (${cpus().length} threads: ${cpus()[0].model}), batch 1, source ${S} tokens`);
  console.log(`shape ${values.shape}: ${JSON.stringify(shape)} (made in ${makeS.toFixed(1)} s, loaded in ${loadS.toFixed(1)} s)`);
  console.log('| decoding | encoder + 1 token (ms) | encoder + ' + N + ' tokens (ms) | ms / token | tokens / s |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const r of rows)
    console.log(`| ${r.name} | ${r.one.toFixed(1)} | ${r.many.toFixed(1)} | ${r.perToken.toFixed(2)} | ${(1000 / r.perToken).toFixed(1)} |`);
  model.dispose?.();
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
