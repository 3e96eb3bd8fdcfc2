// Seeded, counter-based dropout: the keep/drop decision for element i of call site `site`
// is a hash of (seed, site, i) (ops/dropout_hash.h), so the backward regenerates the same mask without storing it,
// and a step is reproducible from its seed on any thread count.
#pragma once
#include <cstdint>

#include "ops/dropout_hash.h"  // mix64, dropout_key / dropout_bits / dropout_keep: shared with the CUDA kernels

namespace hukuk::ops {

// y = x * keep / (1 - p); in place allowed. p == 0 copies.
void dropout_forward(const float* x, float* y, int64_t n, float p, uint64_t seed, uint64_t site);
// dx = dy * keep / (1 - p), accumulate adds.
void dropout_backward(const float* dy, float* dx, int64_t n, float p, uint64_t seed, uint64_t site, bool accumulate);

}  // namespace hukuk::ops
