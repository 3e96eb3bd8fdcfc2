// What the CUDA op tests (cuda_elementwise, cuda_flash_attention) share: seeded inputs
// and bf16 rounding as the engine does it. (The LoRA tests' own inputs, in [-0.5, 0.5), are in
// lora-test-data.ts.)

/** n values in [-scale, scale) from a 32-bit LCG seeded with `seed` (the same values on every run). */
export function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296 - 0.5) * 2 * scale;
  }
  return out;
}

/** Rounded to the nearest bf16, ties to even (core/half.h's f32_to_bf16; NaN stays NaN). */
export function roundBf16(a: Float32Array): Float32Array {
  const out = new Float32Array(a);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < u.length; i++) {
    const x = u[i];
    if ((x & 0x7fffffff) >>> 0 > 0x7f800000) u[i] = (x | 0x00400000) & 0xffff0000;
    else u[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 0) & 0xffff0000;
  }
  return out;
}
