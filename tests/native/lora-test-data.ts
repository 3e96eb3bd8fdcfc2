// What the LoRA kernel tests (cuda_lora_fused, cuda_lora_tc) share: seeded inputs and the error
// measure they compare kernels with.
import { expect } from 'vitest';

/** n values in [-0.5, 0.5) from a 32-bit LCG seeded with `seed` (the same values on every run). */
export function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 4294967296 - 0.5;
  }
  return out;
}

/** max |a - b| / max |b|: relative to the output's scale (element-wise relative error is
 * meaningless for sums that cancel to ~0); max |a - b| when b is all zero. */
export function relErr(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return m > 0 ? d / m : d;
}
