// Micro-benchmark of lora_tc's A side (issue 5): the one-launch lora_backward_group (gA and dx),
// lora_dx_group alone (dx: what stays on the backward's serial path with HUKUK_T5_LORA_GA_SIDE) and
// the split pair (lora_dx_group, then the dx-less group launch), µs per call replayed from a CUDA
// graph, width 768, r 16, p 0.05, dx accumulated, at the flagship's row counts.
//   HUKUK_ENGINE_TEST_HOOKS=1 node bench/gpu/lora_dx_bench.mjs
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const engine = require('../../native/index.cjs').loadEngine();
const rows = [];
for (const M of [1024, 2048, 8192])
  for (const members of [1, 2, 3]) {
    const a = { op: 'backwardGroup', M, in: 768, r: 16, members, p: 0.05, accumulate: true, reps: 100 };
    const one = engine._opsLoraTcBench(a).tcUs;
    const dx = engine._opsLoraTcBench({ ...a, dxOnly: true }).tcUs;
    const split = engine._opsLoraTcBench({ ...a, split: true }).tcUs;
    rows.push({ M, members, oneLaunchUs: +one.toFixed(2), dxOnlyUs: +dx.toFixed(2), splitPairUs: +split.toFixed(2) });
    console.log(JSON.stringify({ lora_dx_bench: rows.at(-1) }));
  }
