// Our side of the 300-step training-parity run (tools/loss_curve_parity.py says what is compared):
// the engine directly, as worker/trainer/run-training.ts drives it — T5Model.load (quant nf4, on
// CUDA), loadAdapter (peft's initial adapter, so both sides start from the same LoRA A and B = 0),
// then per update: zeroGrad, forwardBackward (train, dropout 0), optimizerStep (AdamW, clip 1.0,
// lr * lrMultiplier('linear', warm-up 0)); evaluation = forward in eval mode, token-weighted mean.
//   node bench/loss_curve_ours.mjs --work WORK --batches BATCHES.json --compute fp32|bf16 --out FILE
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const engine = require('../native/index.cjs').loadEngine();
const { values: v } = parseArgs({
  options: {
    work: { type: 'string' },
    batches: { type: 'string' },
    compute: { type: 'string', default: 'fp32' },
    quant: { type: 'string', default: 'nf4' },
    device: { type: 'string', default: 'cuda' },
    lr: { type: 'string', default: '3e-4' },
    'eval-every': { type: 'string', default: '25' },
    out: { type: 'string' },
  },
});
const data = JSON.parse(readFileSync(v.batches, 'utf8'));
const LR = Number(v.lr);
const evalEvery = Number(v['eval-every']);

/** common/training/batching.collate: pad to the batch's longest row (pad 0, labels -100). */
function collate(rows) {
  const S = Math.max(...rows.map((r) => r.input_ids.length));
  const T = Math.max(...rows.map((r) => r.labels.length));
  const inputIds = new Int32Array(rows.length * S);
  const attentionMask = new Int32Array(rows.length * S);
  const labels = new Int32Array(rows.length * T).fill(-100);
  let labelTokens = 0;
  rows.forEach((r, b) => {
    r.input_ids.forEach((t, i) => {
      inputIds[b * S + i] = t;
      attentionMask[b * S + i] = 1;
    });
    r.labels.forEach((t, i) => (labels[b * T + i] = t));
    labelTokens += r.labels.length;
  });
  return { inputIds, attentionMask, labels, batch: rows.length, srcLen: S, tgtLen: T, labelTokens };
}

const model = engine.T5Model.load({ modelDir: join(v.work, 'model'), device: v.device, quant: v.quant, compute: v.compute });
model.loadAdapter(join(v.work, 'adapter_init'));

const evaluate = () => {
  let sum = 0;
  let tokens = 0;
  for (let i = 0; i < data.validation.length; i += 32) {
    const b = collate(data.validation.slice(i, i + 32));
    const r = model.forward({ ...b, wantLogits: false });
    const n = r.tokens ?? b.labelTokens;
    sum += r.loss * n;
    tokens += n;
  }
  return sum / tokens;
};

const steps = data.batches.length;
const t0 = performance.now();
const res = {
  side: 'ours', device: v.device, gpu: engine.gpus?.()[0]?.name, compute: v.compute, quant: v.quant,
  train: [], eval: [{ step: 0, loss: evaluate() }],
};
for (let s = 0; s < steps; s++) {
  const b = collate(data.batches[s].map((i) => data.train[i]));
  model.zeroGrad();
  const r = model.forwardBackward({ ...b, train: true, dropoutSeed: s });
  const lr = LR * engine.lrMultiplier({ schedule: 'linear', step: s, warmupSteps: 0, totalSteps: steps });
  const { gradNorm } = engine.optimizerStep(model, {
    lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1, gradScale: 1, step: s + 1,
  });
  res.train.push({ step: s + 1, loss: r.loss, lr, gradNorm });
  if ((s + 1) % evalEvery === 0) {
    res.eval.push({ step: s + 1, loss: evaluate() });
    console.log(`ours ${v.compute} step ${s + 1} train ${r.loss.toFixed(4)} eval ${res.eval.at(-1).loss.toFixed(4)}`);
  }
}
res.seconds = (performance.now() - t0) / 1000;
writeFileSync(v.out, JSON.stringify(res));
model.dispose?.();
