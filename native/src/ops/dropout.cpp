#include "ops/dropout.h"

#include <cstring>

namespace hukuk::ops {

void dropout_forward(const float* x, float* y, int64_t n, float p, uint64_t seed, uint64_t site) {
  if (p <= 0.f) {
    if (x != y) std::memcpy(y, x, size_t(n) * sizeof(float));
    return;
  }
  const float scale = 1.f / (1.f - p);
  const DropoutKey key = dropout_key(seed, site);
  const uint32_t thr = dropout_threshold(p);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) y[i] = dropout_keep_bits(key, uint64_t(i), thr) ? x[i] * scale : 0.f;
}

void dropout_backward(const float* dy, float* dx, int64_t n, float p, uint64_t seed, uint64_t site, bool accumulate) {
  const float scale = p > 0.f ? 1.f / (1.f - p) : 1.f;
  const DropoutKey key = dropout_key(seed, site);
  const uint32_t thr = dropout_threshold(p);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float v = (p <= 0.f || dropout_keep_bits(key, uint64_t(i), thr)) ? dy[i] * scale : 0.f;
    dx[i] = accumulate ? dx[i] + v : v;
  }
}

}  // namespace hukuk::ops
