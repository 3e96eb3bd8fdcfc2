#!/usr/bin/env node
// NF4 micro-benchmark on the CPU: quantize (with double quantization) and dequantize, in GB/s of
// the fp32 tensor (4 bytes per value read by quantize, written by dequantize), for weight shapes
// of the flagship T5 (d_model 768, d_ff 2048). Not a test: prints a table.
//   node bench/nf4_cpu.bench.mjs [--reps N]
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const engine = require('../native/index.cjs').loadEngine();
const { values } = parseArgs({ options: { reps: { type: 'string', default: '5' } } });
const reps = Number(values.reps);

function randn(n, seed) {
  let s = seed >>> 0 || 1;
  const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return (s + 0.5) / 4294967296; };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 0.02 * Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
  return out;
}

function median(xs) { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; }
function time(fn) {
  fn(); // warm-up
  const ts = [];
  for (let r = 0; r < reps; r++) { const t0 = process.hrtime.bigint(); fn(); ts.push(Number(process.hrtime.bigint() - t0) / 1e9); }
  return median(ts);
}

const shapes = [[768, 768], [2048, 768], [768, 2048]];
const rows = [];
for (const shape of shapes) {
  const n = shape[0] * shape[1];
  const x = randn(n, n);
  let q;
  const tq = time(() => { q = engine.nf4Quantize(x, shape); });
  const tqPlain = time(() => engine.nf4Quantize(x, shape, { doubleQuant: false }));
  const td = time(() => engine.nf4Dequantize(q));
  rows.push({ shape: shape.join('x'), 'quantize+dq GB/s': (4 * n / tq / 1e9).toFixed(2), 'quantize GB/s': (4 * n / tqPlain / 1e9).toFixed(2), 'dequantize GB/s': (4 * n / td / 1e9).toFixed(2), 'quantize ms': (tq * 1e3).toFixed(2), 'dequantize ms': (td * 1e3).toFixed(2) });
}
console.log(`NF4 CPU, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), OMP_NUM_THREADS=${process.env.OMP_NUM_THREADS ?? 'default'}, median of ${reps}`);
console.table(rows);
