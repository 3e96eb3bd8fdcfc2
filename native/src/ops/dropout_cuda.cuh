// Device copy of ops/dropout.h's counter hash: the same keep/drop decisions as the CPU.
#pragma once
#include <cstdint>

namespace hukuk::ops::cuda {

__device__ __forceinline__ uint64_t mix64_d(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
__device__ __forceinline__ bool dropout_keep_d(uint64_t seed, uint64_t site, uint64_t i, float p) {
  const uint64_t h = mix64_d(seed ^ mix64_d(site * 0x100000001B3ull + i));
  return float(h >> 40) * (1.f / 16777216.f) >= p;
}

inline unsigned blocks_for(int64_t n, int threads) { return unsigned((n + threads - 1) / threads); }

}  // namespace hukuk::ops::cuda
