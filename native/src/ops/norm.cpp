#include "ops/norm.h"

#include <cmath>

#include "ops/residual.h"

namespace hukuk::ops {

void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd_out, int64_t rows, int d, float eps) {
#pragma omp parallel for schedule(static) if (rows * d > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * d;
    double ss = 0;  // torch reduces in fp32 with a tree; a double sum is at least as exact
    for (int i = 0; i < d; ++i) ss += double(xr[i]) * double(xr[i]);
    const float var = float(ss / d);
    const float rs = 1.f / std::sqrt(var + eps);
    if (rstd_out) rstd_out[r] = rs;
    float* yr = y + r * d;
    for (int i = 0; i < d; ++i) yr[i] = w[i] * (xr[i] * rs);
  }
}

void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx, int64_t rows,
                      int d, bool accumulate) {
#pragma omp parallel for schedule(static) if (rows * d > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * d;
    const float* gr = dy + r * d;
    const float rs = rstd[r];
    double dot = 0;
    for (int i = 0; i < d; ++i) dot += double(w[i] * gr[i]) * double(xr[i]);
    const float c = float(dot / d) * rs * rs * rs;
    float* o = dx + r * d;
    for (int i = 0; i < d; ++i) {
      const float v = rs * (w[i] * gr[i]) - xr[i] * c;
      o[i] = accumulate ? o[i] + v : v;
    }
  }
}

void dropout_add_rmsnorm(const float* x_in, const float* y, float* x_out, const float* w, float* y_norm,
                         float* rstd_out, int64_t rows, int d, float eps, float p, uint64_t seed, uint64_t site) {
  dropout_add(x_in, y, x_out, rows * d, p, seed, site);
  rmsnorm_forward(x_out, w, y_norm, rstd_out, rows, d, eps);
}

}  // namespace hukuk::ops
