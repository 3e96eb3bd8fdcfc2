// T5LayerNorm (RMS norm): y = w * (x * rsqrt(mean(x^2) + eps)); fp32 variance, no mean
// subtraction, no bias. The backward gives dx only (the norm weights are frozen).
#pragma once
#include <cstdint>

namespace hukuk::ops {

// x, y: [rows, d]; rstd_out (optional): [rows] saved for the backward.
void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd_out, int64_t rows, int d, float eps);
// dx (+)= d/dx of sum(dy * y). accumulate adds into dx (the residual stream's gradient).
void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx, int64_t rows,
                      int d, bool accumulate);

// The end of a sub-layer and the next one's norm: x_out = x_in + dropout_p(y) (residual.h's
// dropout_add), then rmsnorm_forward(x_out) into y_norm and rstd_out: the composition, the
// reference of the CUDA op of the same name (ops_cuda.h), which does both in one pass.
void dropout_add_rmsnorm(const float* x_in, const float* y, float* x_out, const float* w, float* y_norm,
                         float* rstd_out, int64_t rows, int d, float eps, float p, uint64_t seed, uint64_t site);

}  // namespace hukuk::ops
