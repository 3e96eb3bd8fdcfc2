#!/usr/bin/env node
// T5 forward+backward speed on the CPU (native/src/t5): tokens per second for one LoRA training
// step (forwardBackward, LoRA r=16 alpha=32 on q,k,v,o, dropout on) at the flagship shape
// (t5-efficient-base-turkish: 36+36 layers, d_model 768, d_ff 3072, 12 heads, vocab 32128, ReLU,
// tied) with random weights written once to a temp folder (~2.4 GB, reused across runs).
// tokens = batch * (srcLen + tgtLen). Not a test: prints a line per configuration.
//   node bench/t5_cpu.bench.mjs [--batch 1] [--src 64] [--tgt 64] [--steps 3] [--quant none|nf4|both]
//                               [--layers 36] [--keep]
import { closeSync, existsSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

process.env.OMP_WAIT_POLICY ??= 'passive';
const require = createRequire(import.meta.url);
const engine = require('../native/index.cjs').loadEngine();
const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '1' },
    src: { type: 'string', default: '64' },
    tgt: { type: 'string', default: '64' },
    steps: { type: 'string', default: '3' },
    quant: { type: 'string', default: 'none' },
    layers: { type: 'string', default: '36' },
    keep: { type: 'boolean', default: false },
  },
});
const B = Number(values.batch), S = Number(values.src), T = Number(values.tgt), steps = Number(values.steps);
const L = Number(values.layers);
const cfg = {
  model_type: 't5', vocab_size: 32128, d_model: 768, d_kv: 64, d_ff: 3072, num_layers: L, num_decoder_layers: L,
  num_heads: 12, relative_attention_num_buckets: 32, relative_attention_max_distance: 128, dropout_rate: 0.1,
  layer_norm_epsilon: 1e-6, feed_forward_proj: 'relu', tie_word_embeddings: true, pad_token_id: 0, eos_token_id: 1,
  decoder_start_token_id: 0,
};

// safetensors writer that streams tensor by tensor (random values from one reused block)
function writeRandomModel(dir) {
  const d = cfg.d_model, inner = cfg.num_heads * cfg.d_kv, ff = cfg.d_ff;
  const specs = [['shared.weight', [cfg.vocab_size, d], 1.0]];
  for (const [stack, n] of [['encoder', cfg.num_layers], ['decoder', cfg.num_decoder_layers]]) {
    specs.push([`${stack}.final_layer_norm.weight`, [d], 0]);
    for (let i = 0; i < n; i++) {
      const p = `${stack}.block.${i}.layer.`;
      for (const w of ['q', 'k', 'v']) specs.push([`${p}0.SelfAttention.${w}.weight`, [inner, d], d ** -0.5]);
      specs.push([`${p}0.SelfAttention.o.weight`, [d, inner], inner ** -0.5]);
      if (i === 0) specs.push([`${p}0.SelfAttention.relative_attention_bias.weight`, [32, cfg.num_heads], 0.5]);
      specs.push([`${p}0.layer_norm.weight`, [d], 0]);
      let f = 1;
      if (stack === 'decoder') {
        for (const w of ['q', 'k', 'v']) specs.push([`${p}1.EncDecAttention.${w}.weight`, [inner, d], d ** -0.5]);
        specs.push([`${p}1.EncDecAttention.o.weight`, [d, inner], inner ** -0.5]);
        specs.push([`${p}1.layer_norm.weight`, [d], 0]);
        f = 2;
      }
      specs.push([`${p}${f}.DenseReluDense.wi.weight`, [ff, d], d ** -0.5]);
      specs.push([`${p}${f}.DenseReluDense.wo.weight`, [d, ff], ff ** -0.5]);
      specs.push([`${p}${f}.layer_norm.weight`, [d], 0]);
    }
  }
  const header = {};
  let off = 0;
  for (const [name, shape] of specs) {
    const n = shape.reduce((a, b) => a * b, 1) * 4;
    header[name] = { dtype: 'F32', shape, data_offsets: [off, off + n] };
    off += n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const fd = openSync(join(dir, 'model.safetensors'), 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeSync(fd, len);
  writeSync(fd, Buffer.from(json));
  const block = new Float32Array(1 << 20);
  let s = 12345;
  for (let i = 0; i < block.length; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    block[i] = ((s >>> 0) / 4294967296 - 0.5) * 3.4641; // unit variance
  }
  const ones = new Float32Array(1 << 20).fill(1);
  let rot = 0;
  const scaled = new Map([[0, ones]]);
  for (const [, shape, std] of specs) {
    let n = shape.reduce((a, b) => a * b, 1);
    if (!scaled.has(std)) scaled.set(std, Float32Array.from(block, (x) => x * std));
    const src = scaled.get(std);
    while (n > 0) {
      const k = Math.min(n, src.length - rot);
      writeSync(fd, Buffer.from(src.buffer, rot * 4, k * 4));
      n -= k;
      rot = (rot + 7919) % (src.length / 2);
    }
  }
  closeSync(fd);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
}

const dir = join(tmpdir(), `hukuk-bench-t5-flagship-${L}L`);
if (!existsSync(join(dir, 'config.json'))) {
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  writeRandomModel(dir);
  console.log(`wrote random ${L}+${L}-layer model to ${dir} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

const ids = Int32Array.from({ length: B * S }, (_, i) => 2 + ((i * 7919) % 32000));
const labels = Int32Array.from({ length: B * T }, (_, i) => 2 + ((i * 104729) % 32000));
const batch = { inputIds: ids, attentionMask: new Int32Array(B * S).fill(1), labels, batch: B, srcLen: S, tgtLen: T };
const quants = values.quant === 'both' ? ['none', 'nf4'] : [values.quant];
console.log(`CPU: ${cpus()[0].model}, ${cpus().length} logical cores, load average ${loadavg()[0].toFixed(1)}`);
for (const quant of quants) {
  let t0 = performance.now();
  const m = engine.T5Model.load({ modelDir: dir, device: 'cpu', quant });
  const loadS = (performance.now() - t0) / 1000;
  m.addLora({ r: 16, alpha: 32, targets: ['q', 'k', 'v', 'o'], dropout: 0.05, seed: 1 });
  m.zeroGrad();
  t0 = performance.now();
  m.forwardBackward({ ...batch, dropoutSeed: 0 }); // warm-up: plans the arena
  const warm = (performance.now() - t0) / 1000;
  const times = [];
  for (let i = 1; i <= steps; i++) {
    t0 = performance.now();
    m.forwardBackward({ ...batch, dropoutSeed: i });
    times.push((performance.now() - t0) / 1000);
  }
  t0 = performance.now();
  m.forward(batch);
  const fwd = (performance.now() - t0) / 1000;
  const best = Math.min(...times);
  const med = times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
  const tokens = B * (S + T);
  console.log(
    `flagship ${L}+${L} quant=${quant} batch ${B} x ${S} x ${T}: forward+backward best ${best.toFixed(2)} s ` +
      `(median ${med.toFixed(2)} s, warm-up ${warm.toFixed(2)} s) = ${(tokens / best).toFixed(1)} tokens/s; ` +
      `forward only ${fwd.toFixed(2)} s; load ${loadS.toFixed(1)} s`,
  );
  m.dispose();
}
if (!values.keep) rmSync(dir, { recursive: true, force: true });
