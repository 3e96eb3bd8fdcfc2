// CUDA twin of residual.cpp: out = x_in + dropout_p(y) in one elementwise pass (residual.h).
#include "core/cuda_runtime.h"
#include "ops/dropout_cuda.cuh"
#include "ops/residual.h"

namespace hukuk::ops::cuda {

__global__ void dropout_add_kernel(const float* x_in, const float* y, float* out, int64_t n, float p, float scale,
                                   const uint64_t* seedp, uint64_t site) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float yv = y[i], xv = x_in[i];  // both read before the write: out may alias either
  const float v = (p <= 0.f || dropout_keep_d(*seedp, site, uint64_t(i), p)) ? yv * scale : 0.f;
  out[i] = xv + v;
}

void dropout_add(const float* x_in, const float* y, float* out, int64_t n, float p, const uint64_t* seed,
                 uint64_t site, cudaStream_t s) {
  if (n <= 0) return;
  dropout_add_kernel<<<blocks_for(n, 256), 256, 0, s>>>(x_in, y, out, n, p, p > 0.f ? 1.f / (1.f - p) : 1.f, seed,
                                                         site);
  HUKUK_CUDA_LAUNCH_CHECK();
}

}  // namespace hukuk::ops::cuda
