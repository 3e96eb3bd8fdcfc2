// CUDA twin of dropout.cpp (the same counter hash, ops/dropout_hash.h, so the same masks as the CPU for a seed).
#include "core/cuda_runtime.h"
#include "ops/dropout_cuda.cuh"
#include "ops/ops_cuda.h"

namespace hukuk::ops::cuda {

__global__ void dropout_fwd_kernel(const float* x, float* y, int64_t n, float p, float scale, const uint64_t* seedp,
                                   uint64_t site) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = dropout_keep_d(*seedp, site, uint64_t(i), p) ? x[i] * scale : 0.f;
}
__global__ void dropout_bwd_kernel(const float* dy, float* dx, int64_t n, float p, float scale, const uint64_t* seedp,
                                   uint64_t site, bool acc) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = (p <= 0.f || dropout_keep_d(*seedp, site, uint64_t(i), p)) ? dy[i] * scale : 0.f;
  dx[i] = acc ? dx[i] + v : v;
}

void dropout_forward(const float* x, float* y, int64_t n, float p, const uint64_t* seed, uint64_t site, cudaStream_t s) {
  if (n <= 0) return;
  if (p <= 0.f) {
    if (x != y) HUKUK_CUDA_CHECK(cudaMemcpyAsync(y, x, size_t(n) * sizeof(float), cudaMemcpyDeviceToDevice, s));
    return;
  }
  dropout_fwd_kernel<<<blocks_for(n, 256), 256, 0, s>>>(x, y, n, p, 1.f / (1.f - p), seed, site);
  HUKUK_CUDA_LAUNCH_CHECK();
}

void dropout_backward(const float* dy, float* dx, int64_t n, float p, const uint64_t* seed, uint64_t site, bool accumulate,
                      cudaStream_t s) {
  if (n <= 0) return;
  if (p <= 0.f && !accumulate) {
    if (dy != dx) HUKUK_CUDA_CHECK(cudaMemcpyAsync(dx, dy, size_t(n) * sizeof(float), cudaMemcpyDeviceToDevice, s));
    return;
  }
  dropout_bwd_kernel<<<blocks_for(n, 256), 256, 0, s>>>(dy, dx, n, p, p > 0.f ? 1.f / (1.f - p) : 1.f, seed, site,
                                                         accumulate);
  HUKUK_CUDA_LAUNCH_CHECK();
}

}  // namespace hukuk::ops::cuda
