// CPU reference of dropout_add (residual.h): x_in + dropout_p(y), the mask of dropout_forward.
#include "ops/residual.h"

#include "ops/dropout.h"

namespace hukuk::ops {

void dropout_add(const float* x_in, const float* y, float* out, int64_t n, float p, uint64_t seed, uint64_t site) {
  const float scale = p > 0.f ? 1.f / (1.f - p) : 1.f;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float v = (p <= 0.f || dropout_keep(seed, site, uint64_t(i), p)) ? y[i] * scale : 0.f;
    out[i] = x_in[i] + v;
  }
}

}  // namespace hukuk::ops
