// CUDA twin of residual.cpp: out = x_in + dropout_p(y) in one elementwise pass (residual.h),
// with the cheaper but identical keep test of lora.cuh.
#include "core/cuda_runtime.h"
#include "cuda/pdl.cuh"
#include "ops/residual.cuh"
#include "ops/residual.h"

namespace hukuk::ops::cuda {

namespace pdl = hukuk::cuda::pdl;

__global__ void dropout_add_kernel(const float* x_in, const float* y, float* out, int64_t n, float p,
                                   const uint64_t* seedp, uint64_t site) {
  pdl::trigger();  // cuda/pdl.cuh: next kernel may launch; wait before reading the step's data or writing
  pdl::wait();
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const DropMask drop = make_drop_mask(p, seedp, site);
  const float yv = y[i], xv = x_in[i];  // both read before the write: out may alias either
  out[i] = dropout_add_elem(drop, xv, yv, uint64_t(i));
}

void dropout_add(const float* x_in, const float* y, float* out, int64_t n, float p, const uint64_t* seed,
                 uint64_t site, cudaStream_t s) {
  if (n <= 0) return;
  pdl::launch(dropout_add_kernel, dim3(unsigned(blocks_for(n, 256))), dim3(256), 0, s, x_in, y, out, n, p, seed, site);
}

}  // namespace hukuk::ops::cuda
