#!/usr/bin/env node
// Micro-benchmark of the CPU GEMM (native/src/ops/matmul.cpp) at the flagship's Linear shapes:
// GFLOP/s for the forward (nt: x W^T), input-gradient (nn: dy W) and weight-gradient (tn) forms.
//   node bench/t5_cpu_ops.bench.mjs [--rows 64] [--reps 5]
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';

process.env.OMP_WAIT_POLICY ??= 'passive';
process.env.HUKUK_ENGINE_TEST_HOOKS = '1'; // _opsGemm is a test hook: exported only with this set at load
const engine = createRequire(import.meta.url)('../native/index.cjs').loadEngine();
const { values } = parseArgs({ options: { rows: { type: 'string', default: '64' }, reps: { type: 'string', default: '5' } } });
const M = Number(values.rows);
const reps = Number(values.reps);
console.log(`CPU: ${cpus()[0].model}, ${cpus().length} logical cores, load average ${loadavg()[0].toFixed(1)}`);
const shapes = [
  ['q/k/v/o 768x768', 768, 768],
  ['wi 3072x768', 3072, 768],
  ['wo 768x3072', 768, 3072],
  ['lm head 32128x768', 32128, 768],
  ['LoRA A 16x768', 16, 768],
];
for (const [name, N, K] of shapes) {
  const row = [name.padEnd(20)];
  for (const layout of ['nt', 'nn', 'tn']) {
    const A = new Float32Array(M * K).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
    const B = new Float32Array(N * K).map((_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
    const C = engine._opsGemm({ layout, A, B, M, N, K, reps });
    row.push(`${layout} ${((2 * M * N * K) / C.seconds / 1e9).toFixed(1).padStart(6)} GFLOP/s`);
  }
  console.log(row.join('  '));
}
