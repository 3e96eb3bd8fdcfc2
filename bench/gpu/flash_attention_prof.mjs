// Device-side profiling driver for the fused attention (not a test): configurations of the
// _opsFlashAttention hook, fused bf16 I/O, dropout 0.1, for ncu / A/B timing in one process.
//   node bench/gpu/flash_attention_prof.mjs diag(0|1) reps B,H,Tq,Tk,kind(enc|dec|cross) [more...]
// (the kernels' A/B switches HUKUK_FLASH_HASH_REF / _FWD_SYNC / _BWD_3BLOCKS / _FWD_IDX64 / _BWD_DOT16 /
// _BWD_ONE_TILE are read once per process; the tag shows each one's value, the default where unset)
import { createRequire } from 'node:module';
process.env.HUKUK_ENGINE_TEST_HOOKS ??= '1';
const require = createRequire(import.meta.url);
const engine = require('../../native/index.cjs').loadEngine();
const diag = process.argv[2] === '1', reps = Number(process.argv[3] ?? 3);
function rand(n, seed, scale = 1) {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; out[i] = (s / 4294967296 - 0.5) * 2 * scale; }
  return out;
}
const env = (k, d) => process.env[`HUKUK_FLASH_${k}`] ?? d;
const tag = `hash_ref=${env('HASH_REF', 0)} fwd_sync=${env('FWD_SYNC', 0)} bwd_3blocks=${env('BWD_3BLOCKS', 1)} fwd_idx64=${env('FWD_IDX64', 1)} bwd_dot16=${env('BWD_DOT16', 1)} bwd_one_tile=${env('BWD_ONE_TILE', 1)} diag=${diag ? 1 : 0}`;
for (const spec of process.argv.slice(4)) {
  const [B, H, Tq, Tk] = spec.split(',').slice(0, 4).map(Number), kind = spec.split(',')[4] ?? 'enc';
  const nq = B * Tq * H * 64, nk = B * Tk * H * 64;
  const o = { mode: 'fused', io: 'bf16', B, H, Tq, Tk, dk: 64, q: rand(nq, 1, 0.5), k: rand(nk, 2, 0.5), v: rand(nk, 3), dctx: rand(nq, 4),
    causal: kind === 'dec', dropout: 0.1, seed: 1234567, site: 42, reps, biasDiag: diag && kind !== 'cross' };
  if (kind !== 'cross') {
    const n = Tq + Tk - 1, d = rand(H * n, 5), bias = new Float32Array(H * Tq * Tk);
    for (let h = 0; h < H; h++) for (let i = 0; i < Tq; i++) for (let j = 0; j < Tk; j++) bias[(h * Tq + i) * Tk + j] = d[h * n + j - i + Tq - 1];
    o.bias = bias;
  }
  if (kind !== 'dec') { const km = new Int32Array(B * Tk); for (let b = 0; b < B; b++) for (let j = 0; j < Tk; j++) km[b * Tk + j] = j < Tk - (Tk >> 6) * b ? 1 : 0; o.keyMask = km; }
  const r = engine._opsFlashAttention(o);
  let cs = 0;
  for (const k of ['ctx', 'dq', 'dk', 'dv']) for (let i = 0; i < r[k].length; i += 97) cs += Math.abs(r[k][i]);
  console.log(`prof ${tag} | ${B}x${H}x${Tq}x${Tk} ${kind}${r.bwdOneTile ? ` (bwd one launch, mode ${r.bwdOneTile})` : ''}: fwd ${(r.fwdMs * 1e3).toFixed(1)} us, bwd ${(r.bwdMs * 1e3).toFixed(1)} us, fwd+bwd ${((r.fwdMs + r.bwdMs) * 1e3).toFixed(1)} us | checksum ${cs.toPrecision(8)}`);
}
