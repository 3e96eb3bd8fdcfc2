// CUDA twin of residual.cpp: out = x_in + dropout_p(y) in one elementwise pass (residual.h),
// with the cheaper but identical keep test of lora.cuh.
#include "core/cuda_runtime.h"
#include "ops/lora.cuh"
#include "ops/residual.h"

namespace hukuk::ops::cuda {

__global__ void dropout_add_kernel(const float* x_in, const float* y, float* out, int64_t n, float p,
                                   const uint64_t* seedp, uint64_t site) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const DropMask drop = make_drop_mask(p, seedp, site);
  const float yv = y[i], xv = x_in[i];  // both read before the write: out may alias either
  out[i] = xv + drop.apply(yv, uint64_t(i));
}

void dropout_add(const float* x_in, const float* y, float* out, int64_t n, float p, const uint64_t* seed,
                 uint64_t site, cudaStream_t s) {
  if (n <= 0) return;
  dropout_add_kernel<<<blocks_for(n, 256), 256, 0, s>>>(x_in, y, out, n, p, seed, site);
  HUKUK_CUDA_LAUNCH_CHECK();
}

}  // namespace hukuk::ops::cuda
