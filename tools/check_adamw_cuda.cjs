#!/usr/bin/env node
// GPU machine check of native/src/train/adamw.cu: the CUDA AdamW + clipping against the CPU
// reference on the same inputs (what tests/train/optimizer_cuda.test.ts asserts, without vitest,
// for a machine that has Node but no node_modules). Prints one JSON line; exit 1 on mismatch.
//   HUKUK_ADDON=path/to/hukuk_engine.node node tools/check_adamw_cuda.cjs
'use strict';
process.env.HUKUK_ENGINE_TEST_HOOKS = '1'; // _adamwTest is a test hook: exported only with this set at load
const { loadEngine } = require('../native/index.cjs');
const e = loadEngine();
let s = 3;
const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 2 ** 32 - 0.5);
// one odd size, one large (several chunks), and ~860 flagship-like LoRA tensors (768 x 16)
const sizes = [37, 300001, 4096, ...Array(860).fill(12288)];
const mk = () => sizes.map((n) => ({ w: new Float32Array(n), g: new Float32Array(n), m: new Float32Array(n), v: new Float32Array(n) }));
const cpu = mk();
const gpu = mk();
cpu.forEach((p, k) => { for (let i = 0; i < p.w.length; i++) p.w[i] = r(); gpu[k].w.set(p.w); });
const norms = [];
let t = 0;
for (let step = 1; step <= 3; step++) {
  cpu.forEach((p, k) => { for (let i = 0; i < p.g.length; i++) p.g[i] = r() * 0.05; gpu[k].g.set(p.g); });
  const o = { lr: 1e-3, weightDecay: 0.01, maxGradNorm: 1.0, gradScale: 0.5, step };
  const a = e._adamwTest({ ...o, params: cpu });
  const t0 = process.hrtime.bigint();
  const b = e._adamwTest({ ...o, params: gpu, device: 'cuda' });
  t += Number(process.hrtime.bigint() - t0) / 1e6;
  norms.push([a.gradNorm, b.gradNorm]);
}
let maxRel = 0;
let exact = 0;
let total = 0;
cpu.forEach((p, k) => {
  for (let i = 0; i < p.w.length; i++) {
    maxRel = Math.max(maxRel, Math.abs(p.w[i] - gpu[k].w[i]) / Math.max(1e-6, Math.abs(p.w[i])));
    if (p.w[i] === gpu[k].w[i] && p.m[i] === gpu[k].m[i] && p.v[i] === gpu[k].v[i]) exact++;
    total++;
  }
});
const normRel = Math.max(...norms.map(([a, b]) => Math.abs(a - b) / a));
const ok = maxRel < 1e-6 && normRel < 1e-6;
console.log(JSON.stringify({ gpus: e.gpus().map((g) => g.name), weightsMaxRel: maxRel, bitExactFraction: exact / total, normRel, gpuMsWithCopies: t / 3, ok }));
process.exit(ok ? 0 : 1);
