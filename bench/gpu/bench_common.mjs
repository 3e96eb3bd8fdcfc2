// What bench/gpu/train_bench.mjs and gen_bench.mjs share: the engine (loaded with its test hooks,
// which gen_bench's logits check uses), the command-line options every GPU benchmark takes, the
// flagship model loaded on CUDA, the benchmarks' LoRA (torch_baseline.py's settings), seeded token
// ids, and JSON-line output (stdout, and appended to --json when given).
import { appendFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

// The addon registers its `_`-prefixed test hooks only when this is set as it loads.
process.env.HUKUK_ENGINE_TEST_HOOKS = '1';
const require = createRequire(import.meta.url);
export const engine = require('../../native/index.cjs').loadEngine();

/** Options every GPU benchmark takes; `compute` defaults per script. */
const COMMON_OPTIONS = {
  model: { type: 'string' },
  quant: { type: 'string', default: 'nf4' },
  json: { type: 'string' },
};

/**
 * parseArgs over the common options plus the script's own; --model is required.
 * @param {Record<string, import('node:util').ParseArgsOptionConfig>} own
 * @param {{ compute: 'fp32' | 'bf16' }} defaults
 */
export function benchArgs(own, defaults) {
  const { values } = parseArgs({ options: { ...COMMON_OPTIONS, compute: { type: 'string', default: defaults.compute }, ...own } });
  if (!values.model) {
    console.error('--model DIR is required (the flagship made by bench/gpu/make_model.py)');
    process.exit(2);
  }
  return values;
}

/** The model of --model on CUDA with --quant and --compute; config numbers as numbers. */
export function loadCudaModel(values) {
  const t0 = performance.now();
  const model = engine.T5Model.load({ modelDir: values.model, device: 'cuda', quant: values.quant, compute: values.compute });
  const loadS = (performance.now() - t0) / 1000;
  const c = model.config;
  const dims = {
    V: Number(c.vocab_size), d: Number(c.d_model), ff: Number(c.d_ff), H: Number(c.num_heads), dk: Number(c.d_kv),
    Le: Number(c.num_layers), Ld: Number(c.num_decoder_layers ?? c.num_layers),
  };
  return { model, loadS, config: c, dims, gpu: engine.gpus()[0] };
}

/** torch_baseline.py's adapter: LoRA r=16 alpha=32 on q,k,v,o. Re-adding it with the same seed
 * restores the same start (A from the seed, B = 0, zero gradients and AdamW moments). */
export const BENCH_LORA = { r: 16, alpha: 32, targets: ['q', 'k', 'v', 'o'], seed: 1 };
export function addBenchLora(model, { dropout = 0 } = {}) {
  model.addLora({ ...BENCH_LORA, dropout });
}

/** n token ids in [2, V) from a seeded LCG (the same ids for the same seed). */
export function randIds(n, seed, V) {
  let s = seed >>> 0;
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = 2 + (s % (V - 2));
  }
  return a;
}

/** The optimizer settings of every benchmark step (AdamW, no decay, clip 1). */
export const BENCH_OPT = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1, gradScale: 1 };

/** One JSON line on stdout, and appended to `file` when set. */
export function emitJson(obj, file) {
  const line = JSON.stringify(obj);
  console.log(line);
  if (file) appendFileSync(file, line + '\n');
}

/** Runs fn with the env variables `vars` set, the caller's values restored after. */
export async function withEnv(vars, fn) {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (k, v) => (v === undefined ? delete process.env[k] : (process.env[k] = v));
  for (const [k, v] of Object.entries(vars)) set(k, v);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(before)) set(k, v);
  }
}
