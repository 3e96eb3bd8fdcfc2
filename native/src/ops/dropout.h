// Seeded, counter-based dropout: the keep/drop decision for element i of call site `site`
// is a hash of (seed, site, i), so the backward regenerates the same mask without storing it,
// and a step is reproducible from its seed on any thread count.
#pragma once
#include <cstdint>

namespace hukuk::ops {

inline uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// True when element i survives (probability 1 - p).
inline bool dropout_keep(uint64_t seed, uint64_t site, uint64_t i, float p) {
  const uint64_t h = mix64(seed ^ mix64(site * 0x100000001B3ull + i));
  return float(h >> 40) * (1.f / 16777216.f) >= p;
}

// y = x * keep / (1 - p); in place allowed. p == 0 copies.
void dropout_forward(const float* x, float* y, int64_t n, float p, uint64_t seed, uint64_t site);
// dx = dy * keep / (1 - p), accumulate adds.
void dropout_backward(const float* dy, float* dx, int64_t n, float p, uint64_t seed, uint64_t site, bool accumulate);

}  // namespace hukuk::ops
