// Device side of the dropout hash: ops/dropout_hash.h is compiled for host and device, so the
// kernels make the same keep/drop decisions as the CPU reference.
#pragma once
#include <cstdint>

#include "ops/dropout_hash.h"

namespace hukuk::ops::cuda {

// dropout_keep for one element, with the per-call key derivation redone (elementwise kernels and the
// unfused attention, which are memory-bound); loops over many elements per thread compute
// dropout_key / dropout_threshold once and call dropout_keep_bits.
__device__ __forceinline__ bool dropout_keep_d(uint64_t seed, uint64_t site, uint64_t i, float p) {
  return ops::dropout_keep(seed, site, i, p);
}

inline unsigned blocks_for(int64_t n, int threads) { return unsigned((n + threads - 1) / threads); }

}  // namespace hukuk::ops::cuda
