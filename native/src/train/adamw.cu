// CUDA twins of the per-tensor AdamW/clipping kernels in adamw.cpp (same expressions, same
// fp32 scalars; nvcc's default --fmad=true is turned off per expression with __f*_rn so the
// GPU result matches the CPU reference bit for bit where sqrt/div are correctly rounded).
#include <cuda_runtime_api.h>

#include <vector>

#include "core/cuda_runtime.h"
#include "train/adamw.h"

namespace hukuk::train {

namespace {
constexpr int kThreads = 256;
constexpr int kMaxBlocks = 1024;

// Per-block partial sums of squares in double; the host adds the blocks in order, so the
// result is deterministic.
__global__ void sum_squares_kernel(const float* g, size_t n, double* partial) {
  __shared__ double sh[kThreads];
  double s = 0.0;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const double x = g[i];
    s += x * x;
  }
  sh[threadIdx.x] = s;
  __syncthreads();
  for (int k = blockDim.x / 2; k > 0; k >>= 1) {
    if (threadIdx.x < k) sh[threadIdx.x] += sh[threadIdx.x + k];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = sh[0];
}

__global__ void scale_kernel(float* g, size_t n, float s) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    g[i] = __fmul_rn(g[i], s);
}

__global__ void adamw_kernel(float* w, const float* g, float* m, float* v, size_t n, float decay_mul, float omb1,
                             float b2, float omb2, float step_size, float bc2_sqrt, float eps) {
  const bool lerp_low = omb1 < 0.5f;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float gi = g[i];
    const float wi = __fmul_rn(w[i], decay_mul);
    const float mi = lerp_low ? __fadd_rn(m[i], __fmul_rn(omb1, __fsub_rn(gi, m[i])))
                              : __fsub_rn(gi, __fmul_rn(__fsub_rn(gi, m[i]), __fsub_rn(1.0f, omb1)));
    const float vi = __fadd_rn(__fmul_rn(v[i], b2), __fmul_rn(__fmul_rn(omb2, gi), gi));
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2_sqrt), eps);
    w[i] = __fadd_rn(wi, __fmul_rn(-step_size, __fdiv_rn(mi, denom)));
    m[i] = mi;
    v[i] = vi;
  }
}

int blocks_for(size_t n) {
  const size_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < kMaxBlocks ? (b > 0 ? b : 1) : kMaxBlocks);
}
}  // namespace

double sum_squares_cuda(const float* g, size_t n) {
  if (n == 0) return 0.0;
  const int blocks = blocks_for(n);
  cuda::DeviceBuffer<double> partial(blocks);
  sum_squares_kernel<<<blocks, kThreads>>>(g, n, partial.get());
  HUKUK_CUDA_LAUNCH_CHECK();
  std::vector<double> host(blocks);
  HUKUK_CUDA_CHECK(cudaMemcpy(host.data(), partial.get(), blocks * sizeof(double), cudaMemcpyDeviceToHost));
  double s = 0.0;
  for (double x : host) s += x;
  return s;
}

void scale_cuda(float* g, size_t n, float s) {
  if (n == 0) return;
  scale_kernel<<<blocks_for(n), kThreads>>>(g, n, s);
  HUKUK_CUDA_LAUNCH_CHECK();
}

void adamw_cuda(float* w, const float* g, float* m, float* v, size_t n, float decay_mul, float omb1, float b2,
                float omb2, float step_size, float bc2_sqrt, float eps) {
  if (n == 0) return;
  adamw_kernel<<<blocks_for(n), kThreads>>>(w, g, m, v, n, decay_mul, omb1, b2, omb2, step_size, bc2_sqrt, eps);
  HUKUK_CUDA_LAUNCH_CHECK();
}

}  // namespace hukuk::train
