#!/usr/bin/env node
// NF4 GEMM micro-benchmark on the GPU: our fused 4-bit GEMMs (forward x·Wᵀ, backward dy·W, the
// weight dequantized tile by tile in the main loop) against dequantize-to-bf16 + cuBLAS bf16 GEMM
// (cuBLAS opened at run time), for the flagship T5's weight shapes and token counts
// (16×64 encoder tokens, 16×128 decoder tokens, 16×512). Not a test: prints a table, and JSON
// with --json FILE. Needs a GPU; set HUKUK_CUBLAS_DIR if cuBLAS is outside the usual places.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const engine = require('../native/index.cjs').loadEngine();
const { values } = parseArgs({ options: { reps: { type: 'string', default: '50' }, json: { type: 'string' } } });
const gpus = engine.gpus();
if (!gpus.length) {
  console.error('nf4_cuda.bench: no GPU');
  process.exit(1);
}
const weights = [['q/k/v/o', 768, 768], ['wi', 2048, 768], ['wo', 768, 2048]];
const tokens = [1024, 2048, 8192];
const rows = [];
for (const M of tokens) {
  for (const [name, N, K] of weights) {
    const r = engine.nf4CudaBench({ M, N, K, reps: Number(values.reps) });
    rows.push({ M, weight: `${name} [${N},${K}]`, ...r });
  }
}
const f = (v, d = 3) => (v === undefined ? '-' : v.toFixed(d));
console.log(`NF4 GEMM on ${gpus[0].name} (driver ${gpus[0].driver}), ${new Date().toISOString()}, median of ${values.reps}`);
console.log(`cuBLAS: ${rows[0].cublas}`);
console.table(rows.map((r) => ({
  M: r.M, weight: r.weight,
  'fused fwd ms': f(r.fusedForwardMs, 4), 'fused bwd ms': f(r.fusedBackwardMs, 4),
  '64/128/128x1 fwd ms': `${f(r.fused64ForwardMs, 4)}/${f(r.fused128ForwardMs, 4)}/${f(r.fused128x1ForwardMs, 4)}`, '64/128 bwd ms': `${f(r.fused64BackwardMs, 4)}/${f(r.fused128BackwardMs, 4)}`,
  'cuBLAS fwd ms': f(r.cublasForwardMs, 4), 'cuBLAS bwd ms': f(r.cublasBackwardMs, 4),
  'deq+cuBLAS fwd ms': f(r.cublasDequantForwardMs, 4), 'linear fwd/bwd ms': `${f(r.linearForwardMs, 4)}/${f(r.linearBackwardMs, 4)}`, 'dequant ms': f(r.dequantizeBf16Ms, 4),
  'fused TFLOP/s': f(r.fusedForwardTflops, 1), 'cuBLAS TFLOP/s': f(r.cublasForwardTflops, 1),
  'quantize ms': f(r.quantizeMs, 3),
  'rel diff fwd/bwd': r.forwardRelDiffVsCublas === undefined ? '-' : `${r.forwardRelDiffVsCublas.toExponential(1)}/${r.backwardRelDiffVsCublas.toExponential(1)}`,
})));
if (values.json) writeFileSync(values.json, JSON.stringify({ gpu: gpus[0], date: new Date().toISOString(), rows }, null, 1));
