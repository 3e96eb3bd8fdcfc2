// Device helpers shared by the fused kernels (lora.cu, residual.cu): the dropout keep test of
// ops/dropout_hash.h (the same decisions as the CPU reference) with its per-call work (the key of
// (seed, site), the integer threshold of p) done once per thread in make_drop_mask, so the
// per-element work is dropout_keep_bits alone (one 32-bit hash and a compare).
// The CPU-vs-CUDA mask tests (tests/native/cuda_lora_fused.test.ts) check the equivalence.
#pragma once
#include <cstdint>

#include "ops/dropout_cuda.cuh"

namespace hukuk::ops::cuda {

struct DropMask {
  ops::DropoutKey key;
  uint32_t threshold = 0;  // keep when (dropout_bits >> 8) >= threshold
  float scale = 1.f;
  bool on = false;  // p > 0

  __device__ __forceinline__ bool keep(uint64_t i) const { return ops::dropout_keep_bits(key, i, threshold); }
  // dropout(v) for flat index i (the forward and the backward are the same map)
  __device__ __forceinline__ float apply(float v, uint64_t i) const { return (!on || keep(i)) ? v * scale : 0.f; }
};

// Reads the seed from device memory only when dropout is on (seed may be null when p <= 0).
__device__ __forceinline__ DropMask make_drop_mask(float p, const uint64_t* seedp, uint64_t site) {
  DropMask d;
  d.on = p > 0.f;
  if (d.on) {
    d.key = ops::dropout_key(*seedp, site);
    d.threshold = ops::dropout_threshold(p);
    d.scale = 1.f / (1.f - p);
  }
  return d;
}

}  // namespace hukuk::ops::cuda
