// Generation benchmark of the CUDA T5 engine (issue 5: at most 3 ms per token, batch 1, greedy,
// 128 new tokens, flagship shape, QLoRA). The model (bench/gpu/make_model.py) is loaded on CUDA
// with NF4 base weights and gets a LoRA r=16 alpha=32 on q,k,v,o, trained for one AdamW step so
// its B matrices are not zero (the adapter really runs). The GPU twin of bench/generate_cpu.bench.mjs:
// minNewTokens = maxNewTokens forces every run to N tokens; ms/token = (time(N) - time(1)) / (N - 1),
// best of --reps (the encoder and the step graph's capture are in time(1), so not in the figure).
//   node bench/gpu/gen_bench.mjs --model DIR [--tokens 128] [--src 64] [--reps 3] [--compute fp32]
//        [--batch 16] [--batch-tokens 64] [--json out.jsonl]
// The default run uses the step's defaults (cuda_step_model.cpp, the fastest measured on an H200
// on 2026-11-28): 4 outputs per warp, programmatic dependent launch (sm_90+), cuBLAS products for
// steps of >= 32 rows. Then one switch back at a time, where it tells something: HUKUK_GEN_PDL=0
// (batch 1), HUKUK_GEN_GEMM_ROWS=16 (cuBLAS at batch 16) and =0 (no cuBLAS at
// batch 32 and 64: where the threshold sits), HUKUK_GEN_GRAPHS=0, and the CPU graph for scale.
// About 30 s on an H200 (the whole script is budgeted ~60 s inside bench/gpu/run.sh's call).
// Prints JSON lines {"kind":"generate",...}; first a check of the GPU step against the CPU graph of
// the same model (teacher-forced logits, max |gpu - cpu| / max |cpu| per step).
import { addBenchLora, BENCH_OPT, benchArgs, emitJson, engine, loadCudaModel, randIds, withEnv } from './bench_common.mjs';

const values = benchArgs({
  tokens: { type: 'string', default: '128' },
  src: { type: 'string', default: '64' },
  reps: { type: 'string', default: '3' },
  batch: { type: 'string', default: '16' },
  'batch-tokens': { type: 'string', default: '64' },
  check: { type: 'string', default: '3' },
}, { compute: 'fp32' });
const N = Number(values.tokens), S = Number(values.src), reps = Number(values.reps);
const emit = (o) => emitJson({ kind: 'generate', ...o }, values.json);
const { model, loadS, gpu, config: c, dims } = loadCudaModel(values);
const V = dims.V;
const rand = (n, seed) => randIds(n, seed, V);

// LoRA r=16 alpha=32 on q,k,v,o, one training step so that B != 0
addBenchLora(model);
const TB = 2, TT = 16;
model.forwardBackward({ inputIds: rand(TB * S, 5), labels: rand(TB * TT, 6), batch: TB, srcLen: S, tgtLen: TT, train: false });
engine.optimizerStep(model, { ...BENCH_OPT, lr: 1e-3, step: 1 });
model.zeroGrad();
const loraB = model.loraTensors().filter((t) => t.name.includes('lora_B'));
const nonZeroB = loraB.filter((t) => t.weight.some((x) => x !== 0)).length;
// step switches already set by the caller: then "default" below is not the built-in default
const presetEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('HUKUK_GEN_')));
emit({ what: 'setup', gpu: gpu?.name, date: new Date().toISOString(), layers: [c.num_layers, c.num_decoder_layers], d_model: c.d_model,
  vocab: V, quant: values.quant, compute: values.compute, load_s: +loadS.toFixed(1), lora_B_nonzero: `${nonZeroB}/${loraB.length}`,
  step_defaults: 'gemv 4 outputs/warp, PDL on sm_90+, cuBLAS products from 32 rows', env: presetEnv });

const inputIds = rand(S, 7);

const best = (xs) => Math.min(...xs);
async function timeGen(opts, batch = 1, ids = inputIds, nrep = reps) {
  await engine.generate(model, { inputIds: ids, batch, ...opts }); // warm-up
  const ts = [];
  for (let r = 0; r < nrep; r++) {
    const t = performance.now();
    const out = await engine.generate(model, { inputIds: ids, batch, ...opts });
    ts.push(performance.now() - t);
    if (out.length !== batch * (1 + opts.maxNewTokens)) throw new Error(`expected ${batch * (1 + opts.maxNewTokens)} ids, got ${out.length}`);
  }
  return best(ts);
}
// one JSON line per measurement; an error (a variant that fails) is reported and the rest runs on
async function perToken(name, extra, n, batch = 1, ids = inputIds, nrep = reps) {
  let one, many;
  try {
    one = await timeGen({ maxNewTokens: 1, minNewTokens: 1, ...extra }, batch, ids, nrep);
    many = await timeGen({ maxNewTokens: n, minNewTokens: n, ...extra }, batch, ids, nrep);
  } catch (e) {
    emit({ what: name, batch, new_tokens: n, error: String(e?.message ?? e).slice(0, 300) });
    return null;
  }
  const ms = (many - one) / (n - 1);
  emit({ what: name, batch, src: S, new_tokens: n, ms_first_token: +one.toFixed(2), ms_total: +many.toFixed(1),
    ms_per_token: +ms.toFixed(3), tokens_per_s: +((1000 * batch) / ms).toFixed(1), end_to_end_tokens_per_s: +((1000 * batch * n) / many).toFixed(1) });
  return ms;
}

await perToken('greedy', {}, N);
// correctness at the flagship shape: GPU step vs the CPU graph of the same model (host weights)
function check() {
  const tokens = Int32Array.from({ length: Number(values.check) }, (_, i) => (i === 0 ? 0 : 2 + ((i * 7919) % (V - 2))));
  const t0 = performance.now();
  const g = engine._decodeLogits(model, { inputIds, tokens });
  const cpu = engine._decodeLogits(model, { inputIds, tokens, stepDevice: 'cpu' });
  const errs = [];
  for (let t = 0; t < tokens.length; t++) {
    let diff = 0, scale = 0;
    for (let i = t * V; i < (t + 1) * V; i++) {
      diff = Math.max(diff, Math.abs(g[i] - cpu[i]));
      scale = Math.max(scale, Math.abs(cpu[i]));
    }
    errs.push(+(diff / scale).toExponential(2));
  }
  let argmaxSame = 0;
  for (let t = 0; t < tokens.length; t++) {
    const am = (a) => { let b = 0; for (let i = 1; i < V; i++) if (a[t * V + i] > a[t * V + b]) b = i; return b; };
    if (am(g) === am(cpu)) argmaxSame++;
  }
  emit({ what: 'check', steps: tokens.length, rel_err_per_step: errs, argmax_equal: `${argmaxSame}/${tokens.length}`,
    note: 'max|gpu-cpu|/max|cpu| of the logits, teacher-forced, same model', s: +((performance.now() - t0) / 1000).toFixed(1) });
}

if (Number(values.check) > 0) check();

const B = Number(values.batch), BT = Number(values['batch-tokens']);
const ids16 = rand(B * S, 11), ids32 = rand(32 * S, 13), ids64 = rand(64 * S, 12);
const T32 = Math.min(BT, 32);

// the defaults
await perToken('beam 4', { numBeams: 4 }, N);
await perToken('greedy batched', {}, BT, B, ids16);
await perToken('greedy batched', {}, T32, 32, ids32);
await perToken('greedy batched', {}, T32, 64, ids64);
// one switch back at a time (H200 2026-11-28 00:48 for comparison: multi without PDL 3.304,
// cuBLAS at batch 16 9.57 ms/step, gemv multi at batch 64 24.2 ms/step; the one-output-per-warp
// kernel, 2.94 ms/token at 01:38, was removed)
await withEnv({ HUKUK_GEN_PDL: '0' }, () => perToken('greedy, PDL off (HUKUK_GEN_PDL=0)', {}, N));
await withEnv({ HUKUK_GEN_GEMM_ROWS: '16' }, () => perToken('greedy batched, cuBLAS products (HUKUK_GEN_GEMM_ROWS=16)', {}, BT, B, ids16));
await withEnv({ HUKUK_GEN_GEMM_ROWS: '0' }, async () => {
  await perToken('greedy batched, no cuBLAS (HUKUK_GEN_GEMM_ROWS=0)', {}, T32, 32, ids32);
  await perToken('greedy batched, no cuBLAS (HUKUK_GEN_GEMM_ROWS=0)', {}, T32, 64, ids64);
});
await withEnv({ HUKUK_GEN_GRAPHS: '0' }, () => perToken('greedy, no CUDA graph (HUKUK_GEN_GRAPHS=0)', {}, Math.min(N, 32)));
// the same model decoded by the CPU graph (host weights), for scale: what a CUDA model did before
await withEnv({ HUKUK_GEN_DEVICE: 'cpu' }, () => perToken('greedy on the CPU graph (HUKUK_GEN_DEVICE=cpu)', {}, 4, 1, inputIds, 1));
model.dispose();
