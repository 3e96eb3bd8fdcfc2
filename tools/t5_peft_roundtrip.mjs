#!/usr/bin/env node
// Trains a LoRA adapter a few steps with OUR engine (CPU) on a parity fixture's batch, saves it
// in peft's format and writes the logits our engine gives with it. tools/t5_peft_check.py then
// loads the adapter with peft on the GPU machine and compares its logits (issue 4: "an adapter
// trained here loads in peft and gives the same logits").
//   node tools/t5_peft_roundtrip.mjs OUT_DIR
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const engine = createRequire(import.meta.url)(join(root, 'native', 'index.cjs')).loadEngine();
const outRoot = resolve(process.argv[2] ?? '.device-t5');

function readSafetensors(path) {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  const h = JSON.parse(b.subarray(8, 8 + n).toString('utf8'));
  const out = {};
  for (const [k, v] of Object.entries(h)) {
    if (k === '__metadata__') continue;
    const [a, e] = v.data_offsets;
    const bytes = b.subarray(8 + n + a, 8 + n + e);
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    out[k] = { shape: v.shape, data: v.dtype === 'F32' ? new Float32Array(ab) : new Int32Array(ab) };
  }
  return out;
}

const cases = {
  relu_tied: { r: 4, alpha: 8, targets: ['q', 'k', 'v', 'o'], dropout: 0.1, seed: 11 },
  gated_gelu_untied: { r: 8, alpha: 16, targets: ['q', 'v', 'wi_0', 'wi_1', 'wo'], rslora: true, dropout: 0.05, seed: 12 },
  padding: { r: 4, alpha: 8, targets: ['k', 'o', 'wi'], modules: ['EncDecAttention', 'DenseReluDense'], seed: 13 },
};

for (const [name, lora] of Object.entries(cases)) {
  const fx = join(root, 'tests', 'fixtures', 't5', name);
  const g = readSafetensors(join(fx, 'goldens.safetensors'));
  const [B, S] = g.input_ids.shape;
  const T = g.labels.shape[1];
  const model = engine.T5Model.load({ modelDir: join(fx, 'model'), device: 'cpu' });
  model.addLora(lora);
  const batch = { inputIds: g.input_ids.data, attentionMask: g.attention_mask.data, labels: g.labels.data, batch: B, srcLen: S, tgtLen: T };
  const losses = [];
  for (let step = 1; step <= 20; step++) {
    model.zeroGrad();
    const r = model.forwardBackward({ ...batch, train: true, dropoutSeed: step });
    losses.push(r.loss);
    engine.optimizerStep(model, { lr: 2e-2, weightDecay: 0.0, maxGradNorm: 1.0, step });
  }
  const dir = join(outRoot, name);
  mkdirSync(dir, { recursive: true });
  model.saveAdapter(join(dir, 'adapter'), { baseModelNameOrPath: `tests/fixtures/t5/${name}/model` });
  const ev = model.forward({ ...batch, wantLogits: true });
  writeFileSync(join(dir, 'expected.json'), JSON.stringify({ loss: ev.loss, shape: [B, T, model.config.vocab_size], logits: Array.from(ev.logits) }));
  console.log(name, 'train losses', losses[0].toFixed(4), '->', losses[losses.length - 1].toFixed(4), 'eval loss', ev.loss);
  model.dispose();
}
