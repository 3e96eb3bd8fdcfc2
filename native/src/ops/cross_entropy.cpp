#include "ops/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"

namespace hukuk::ops {

static float row_logsumexp(const float* x, int V, float* mx_out) {
  float mx = -INFINITY;
  for (int j = 0; j < V; ++j) mx = std::max(mx, x[j]);
  double s = 0;
  for (int j = 0; j < V; ++j) s += std::exp(double(x[j] - mx));
  *mx_out = mx;
  return float(std::log(s));
}

CeResult cross_entropy_forward(const float* logits, const int32_t* labels, int64_t rows, int V) {
  CeResult r;
  for (int64_t i = 0; i < rows; ++i) {
    const int y = labels[i];
    if (y == -100) continue;
    if (y < 0 || y >= V)
      HUKUK_FAIL("ENGINE_INVALID_ARG", "label " + std::to_string(y) + " at position " + std::to_string(i) +
                                           " is outside the vocabulary (0.." + std::to_string(V - 1) + ")");
    const float* x = logits + i * V;
    float mx;
    const float lse = row_logsumexp(x, V, &mx);
    r.loss_sum += double(lse) - double(x[y] - mx);
    r.count += 1;
  }
  return r;
}

void cross_entropy_backward_inplace(float* logits, const int32_t* labels, int64_t rows, int V, float grad_scale) {
#pragma omp parallel for schedule(static) if (rows * V > 65536)
  for (int64_t i = 0; i < rows; ++i) {
    float* x = logits + i * V;
    const int y = labels[i];
    if (y == -100) {
      std::memset(x, 0, sizeof(float) * V);
      continue;
    }
    float mx;
    const float lse = row_logsumexp(x, V, &mx);
    for (int j = 0; j < V; ++j) x[j] = std::exp(x[j] - mx - lse) * grad_scale;
    x[y] -= grad_scale;
  }
}

}  // namespace hukuk::ops
