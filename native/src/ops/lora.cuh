// Device helpers shared by the fused kernels (lora.cu, residual.cu): the dropout keep test of
// dropout_cuda.cuh, rewritten to do less per element while giving the same decisions.
//   dropout_keep_d: keep  <=>  float(h >> 40) * 2^-24 >= p,  h = mix64(seed ^ mix64(site*C + i))
// (1) float(h >> 40) is an exact 24-bit integer u and the scaling by 2^-24 is exact, so the test is
//     u >= p * 2^24, i.e. u >= ceil(p * 2^24) for the integer u: one integer compare against a
//     threshold computed once (p * 2^24 is exact in float; ceilf is exact).
// (2) mix64 ends with z ^ (z >> 31); bits 40..63 of that are bits 40..63 of z (z >> 71 is 0), so
//     the last xor-shift is skipped.
// (3) site * C is the same for every element: computed once per thread.
// The CPU-vs-CUDA mask tests (tests/native/cuda_lora_fused.test.ts) check the equivalence.
#pragma once
#include <cstdint>

#include "ops/dropout_cuda.cuh"

namespace hukuk::ops::cuda {

struct DropMask {
  uint64_t seed = 0, site_term = 0;
  uint32_t threshold = 0;  // keep when (h >> 40) >= threshold
  float scale = 1.f;
  bool on = false;  // p > 0

  __device__ __forceinline__ bool keep(uint64_t i) const {
    uint64_t z = seed ^ mix64_d(site_term + i);
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return uint32_t(z >> 40) >= threshold;
  }
  // dropout(v) for flat index i (the forward and the backward are the same map)
  __device__ __forceinline__ float apply(float v, uint64_t i) const { return (!on || keep(i)) ? v * scale : 0.f; }
};

// Reads the seed from device memory only when dropout is on (seed may be null when p <= 0).
__device__ __forceinline__ DropMask make_drop_mask(float p, const uint64_t* seedp, uint64_t site) {
  DropMask d;
  d.on = p > 0.f;
  if (d.on) {
    d.seed = *seedp;
    d.site_term = site * 0x100000001B3ull;
    d.threshold = uint32_t(ceilf(p * 16777216.f));
    d.scale = 1.f / (1.f - p);
  }
  return d;
}

}  // namespace hukuk::ops::cuda
