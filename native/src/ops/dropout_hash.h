// The dropout hash: ONE definition, compiled for the CPU (g++, no CUDA) and for the device (nvcc,
// __host__ __device__), so the CPU reference and every CUDA kernel draw the same masks bit for bit.
//
// Element i of call site `site` under step seed `seed` is kept when
//   u >= p,  u = (dropout_bits(dropout_key(seed, site), i) >> 8) * 2^-24   (a 24-bit uniform),
// and kept values are scaled by 1/(1 - p) by the callers.
//
// Why this shape: the test runs once per element (in flash attention, once per score in the forward
// and, without the recorded bits, again in the backward), so the per-element work has to be cheap on
// a GPU, which has 32-bit integer multipliers only (a 64-bit multiply is emulated with 3-4 of them).
//   - per call (once per thread): a 64-bit key = mix64(seed ^ mix64(site)), split into two 32-bit
//     words k0, k1. Its quality does not matter for speed, so it uses the strong 64-bit splitmix
//     finalizer; different (seed, site) pairs get unrelated keys, even for seeds 1, 2, 3, ...
//   - per element: one 32-bit hash of the 64-bit index, in 32-bit arithmetic: Wellons' "triple32"
//     finalizer (hash-prospector: shifts 17-11-15-14, three multiplies, avalanche bias 0.021, near an
//     ideal random permutation) over the low word xored with k0; between its first and second
//     multiply rounds, hi * 0x9E3779B9 + k1 is xored in (hi = the index's high word). So the high
//     bits are hashed too (indices up to 2^64, no wrap-around: i and i + 2^32 get unrelated values),
//     and k1 enters non-linearly (the masks of two keys are not an index shift of each other).
//     Cost: 4 integer multiply-adds (IMAD), 4 shifts, 5 xors, against the old 64-bit splitmix pair's
//     four 64-bit multiplies (3-4 IMADs each on a GPU) and 64-bit shifts.
//     Why not the cheaper two-multiply "lowbias32" (0x21f0aaad / 0x735a2d97): with a key xored into a
//     counter it left a correlation between indices 16384 apart (pair keep rate 20 sigma off over
//     2^22 draws, in a throwaway check made for this change); triple32 showed none over ~1100 lags (1 to 2^21),
//     four keys, p = 0.5 and 0.1.
//   - one hash per element (not one 32-bit hash cut into two 16-bit uniforms): p keeps its 2^-24
//     resolution, and every caller (elementwise kernels, the fused LoRA loads, flash attention's
//     fragment layout, where a thread's scores are not consecutive pairs) tests any index alone.
// tests/native/dropout_hash.test.ts checks the statistics (keep rate, pairs of neighbours, of sites
// and of seeds); the CUDA tests compare the CPU and GPU masks element by element.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define HUKUK_HD __host__ __device__ __forceinline__
#else
#define HUKUK_HD inline
#endif

namespace hukuk::ops {

// splitmix64's finalizer (also used by the adapter init and the benches for their own streams).
HUKUK_HD uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct DropoutKey {
  uint32_t k0 = 0, k1 = 0;
};

// Per call: the key of (seed, site). Compute once per thread, outside the per-element loop.
HUKUK_HD DropoutKey dropout_key(uint64_t seed, uint64_t site) {
  const uint64_t k = mix64(seed ^ mix64(site));
  DropoutKey d;
  d.k0 = uint32_t(k);
  d.k1 = uint32_t(k >> 32);
  return d;
}

// Per element: 32 well-mixed bits for flat index i (the keep test uses the top 24).
HUKUK_HD uint32_t dropout_bits(DropoutKey key, uint64_t i) {
  uint32_t x = uint32_t(i) ^ key.k0;
  x ^= x >> 17;
  x *= 0xed5ad4bbu;
  x ^= uint32_t(i >> 32) * 0x9E3779B9u + key.k1;
  x ^= x >> 11;
  x *= 0xac4c1b51u;
  x ^= x >> 15;
  x *= 0x31848babu;
  x ^= x >> 14;
  return x;
}

// float(u) * 2^-24 >= p with u = bits >> 8 < 2^24 (exact in float, and the scaling by 2^-24 is exact)
// is the integer test u >= ceil(p * 2^24) (p * 2^24 is exact in float, ceilf is exact): the threshold
// is computed once per call. p <= 0 keeps everything.
HUKUK_HD uint32_t dropout_threshold(float p) { return p > 0.f ? uint32_t(ceilf(p * 16777216.f)) : 0u; }

HUKUK_HD bool dropout_keep_bits(DropoutKey key, uint64_t i, uint32_t threshold) {
  return (dropout_bits(key, i) >> 8) >= threshold;
}

// True when element i survives (probability 1 - p). The per-call work is redone here: loops over
// many elements use dropout_key / dropout_threshold once and dropout_keep_bits per element.
HUKUK_HD bool dropout_keep(uint64_t seed, uint64_t site, uint64_t i, float p) {
  return dropout_keep_bits(dropout_key(seed, site), i, dropout_threshold(p));
}

}  // namespace hukuk::ops
