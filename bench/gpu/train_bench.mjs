// Trainer-step benchmark of the CUDA T5 engine (issue 5): flagship shape, random weights, LoRA
// r=16 alpha=32 dropout 0.05 on q,k,v,o (torch_baseline.py's settings), QLoRA (NF4 base weights),
// bf16 compute. One step = forwardBackward(train) + optimizerStep (CUDA AdamW) + zeroGrad.
//   node bench/gpu/train_bench.mjs --model DIR [--shapes 16x64x128,16x512x512,8x512x512]
//        [--steps 20] [--warm 3] [--compute bf16] [--recompute] [--json out.jsonl]
// --recompute: activation recomputation (the step option); HUKUK_T5_FLASH=0 in the environment
// turns the fused attention off (A/B), HUKUK_T5_FUSED_LORA=0 the fused LoRA-dropout kernels.
// --variants default,recompute,flash_off,recompute_flash_off,act_fp32,recompute_act_fp32,lora_tc_off,lora_tc_bwd,pdl_off,head_full,keep_acts:
// each shape in each variant, in one
// process (one model load); every line is tagged with its variant.
// Every (variant, shape) starts from the same LoRA state: the adapter is re-created with the same
// seed first (A from the seed, B = 0, zero gradients and AdamW moments), and the batches and
// dropout seeds are the same, so the `loss` column (the loss of step `loss_at_step` = warm + steps,
// 1-based) is comparable between variants of one shape run with the same --warm and --steps; it
// differs only by the variants' arithmetic.
// Prints one JSON line per shape: samples/s, ms/step, memory (weights + LoRA + this shape's arena plan,
// comparable with torch's max_memory_allocated; and the device's used memory), the arithmetic
// floor of the step at --peak TFLOP/s, and a per-phase profile of one extra step (CUDA events).
import { addBenchLora, BENCH_OPT, benchArgs, emitJson, engine, loadCudaModel, randIds, withEnv } from './bench_common.mjs';

const values = benchArgs({
  shapes: { type: 'string', default: '16x64x128,16x512x512,8x512x512' },
  steps: { type: 'string', default: '20' },
  warm: { type: 'string', default: '3' },
  peak: { type: 'string', default: '790' },
  tag: { type: 'string', default: 'default' },
  recompute: { type: 'boolean', default: false },
  variants: { type: 'string' },
}, { compute: 'bf16' });
const GiB = 2 ** 30;
const LORA_DROPOUT = 0.05;
const { model, loadS, gpu, dims } = loadCudaModel(values);
const { V, d, ff, H, dk, Le, Ld } = dims;
const inner = H * dk;

/** FLOPs of one training step: forward, plus the backward's activation gradients (frozen base
 * weights: no weight gradients) and the attention backward (two products per forward one). */
function stepFlops(B, S, T) {
  const Ms = B * S, Mt = B * T;
  const encLin = 2 * Ms * (4 * d * inner + 2 * d * ff);
  const decLin = 2 * Mt * (6 * d * inner + 2 * d * ff) + 2 * Ms * 2 * d * inner;
  const encAtt = 2 * 2 * B * H * S * S * dk;
  const decAtt = 2 * 2 * B * H * T * T * dk + 2 * 2 * B * H * T * S * dk;
  const head = 2 * Mt * V * d;
  const fwd = Le * (encLin + encAtt) + Ld * (decLin + decAtt) + head;
  const bwd = Le * (encLin + 2 * encAtt) + Ld * (decLin + 2 * decAtt) + head;
  return fwd + bwd;
}

const opt = { ...BENCH_OPT, lr: 1e-4, step: 1 };
console.log(JSON.stringify({ kind: 'setup', gpu: gpu?.name, loadS: +loadS.toFixed(1), compute: values.compute, quant: values.quant }));
const variants = values.variants ? values.variants.split(',') : [null];

// One (variant, shape): from a fresh adapter, warm steps, timed steps, one profiled step.
function runShape(sh, tag, recompute) {
  const [B, S, T] = sh.split('x').map(Number);
  const batch = { inputIds: randIds(B * S, 1, V), attentionMask: new Int32Array(B * S).fill(1), labels: randIds(B * T, 2, V), batch: B, srcLen: S, tgtLen: T, train: true };
  const step = (i) => {
    const r = model.forwardBackward({ ...batch, dropoutSeed: i, recompute });
    engine.optimizerStep(model, { ...opt, step: i + 1 });
    model.zeroGrad();
    return r.loss;
  };
  try {
    addBenchLora(model, { dropout: LORA_DROPOUT }); // the same start for every variant and shape
    const warm = Number(values.warm), steps = Number(values.steps);
    let loss = 0;
    for (let i = 0; i < warm; i++) loss = step(i);
    const ts = performance.now();
    for (let i = 0; i < steps; i++) loss = step(warm + i);
    const ms = (performance.now() - ts) / steps;
    const mem = engine.t5CudaMemory(model);
    process.env.HUKUK_T5_PROFILE = '1';
    step(warm + steps); // one profiled step: phases printed to stderr by the engine
    delete process.env.HUKUK_T5_PROFILE;
    const flops = stepFlops(B, S, T);
    const floorMs = (flops / (Number(values.peak) * 1e12)) * 1e3;
    return {
      kind: 'train', tag, recompute, flash: process.env.HUKUK_T5_FLASH !== '0', shape: sh, bs: B, src: S, tgt: T, samples_per_s: +((B * 1000) / ms).toFixed(2), ms_per_step: +ms.toFixed(2),
      peak_gib: +((mem.weights + mem.lora + mem.arenaPlan) / GiB).toFixed(3), weights_gib: +(mem.weights / GiB).toFixed(3),
      arena_gib: +(mem.arenaPlan / GiB).toFixed(3), device_used_gib: +(mem.deviceUsed / GiB).toFixed(3),
      tflop_per_step: +(flops / 1e12).toFixed(2), achieved_tflops: +(flops / ms / 1e9).toFixed(1), floor_ms: +floorMs.toFixed(2),
      x_floor: +(ms / floorMs).toFixed(1), loss_at_step: warm + steps, loss: +loss.toFixed(4),
    };
  } catch (e) {
    return { kind: 'train', tag, shape: sh, error: String(e.message ?? e).slice(0, 300), code: e.code };
  } finally {
    delete process.env.HUKUK_T5_PROFILE;
  }
}

for (const variant of variants) {
  const recompute = variant ? variant.startsWith('recompute') : values.recompute;
  const tag = variant ?? values.tag;
  // a *flash_off variant turns the fused attention off, a *act_fp32 one keeps fp32 activations
  // under bf16 compute (read at each plan, so one model serves both; after a bf16-activation
  // variant the non-NF4 weights are bf16 only, T5Cuda::weights_to_bf16, and an act_fp32 step
  // widens them per product: list act_fp32 first to time it as before); the others keep the
  // caller's setting
  const env = {
    ...(variant?.endsWith('flash_off') ? { HUKUK_T5_FLASH: '0' } : {}),
    ...(variant?.endsWith('act_fp32') ? { HUKUK_T5_ACT_BF16: '0' } : {}),
    ...(variant?.endsWith('lora_tc_off') ? { HUKUK_T5_LORA_TC: '0' } : {}),
    ...(variant?.endsWith('lora_tc_bwd') ? { HUKUK_T5_LORA_TC_BWD: '1' } : {}),
    // the step's kernels without programmatic dependent launch (on by default on sm_90+)
    ...(variant?.endsWith('pdl_off') ? { HUKUK_T5_PDL: '0' } : {}),
    // the head + cross-entropy over every row at once (T5Cuda::head_and_loss; 256-row chunks by default)
    ...(variant?.endsWith('head_full') ? { HUKUK_T5_HEAD_CHUNK_ROWS: '1000000' } : {}),
    // every activation kept as before the memory work (hidden, norm outputs, cross K,V, all logits
    // rows): what the memory savings cost in time
    ...(variant?.endsWith('keep_acts')
      ? { HUKUK_T5_RELU_BITMASK: '0', HUKUK_T5_NORM_RECOMPUTE: '0', HUKUK_T5_CROSS_KV_RECOMPUTE: '0', HUKUK_T5_HEAD_CHUNK_ROWS: '1000000' }
      : {}),
  };
  await withEnv(env, async () => {
    for (const sh of values.shapes.split(',')) emitJson(runShape(sh, tag, recompute), values.json);
  });
}
model.dispose();
