// CUDA twin of norm.cpp: T5 RMS norm forward/backward, one block per row, fp32 sums.
#include "core/cuda_runtime.h"
#include "ops/dropout_cuda.cuh"
#include "ops/ops_cuda.h"

namespace hukuk::ops::cuda {

constexpr int kNormThreads = 256;

// Sum over the block (blockDim.x == kNormThreads); every thread gets the result.
__device__ float block_sum(float v, float* shm) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int w = threadIdx.x >> 5, l = threadIdx.x & 31;
  __syncthreads();
  if (l == 0) shm[w] = v;
  __syncthreads();
  float t = 0.f;
  for (int i = 0; i < kNormThreads / 32; ++i) t += shm[i];
  return t;
}

// Y = float or __nv_bfloat16 (the output only: the sums, rstd and the product are fp32 either way,
// so rstd is the same bits for both, and a bf16 y is the fp32 y rounded once)
template <typename Y>
__global__ void rmsnorm_fwd_kernel(const float* x, const float* w, Y* y, float* rstd, int d, float eps) {
  __shared__ float shm[kNormThreads / 32];
  const int64_t r = blockIdx.x;
  const float* xr = x + r * d;
  float ss = 0.f;
  for (int i = threadIdx.x; i < d; i += kNormThreads) ss += xr[i] * xr[i];
  ss = block_sum(ss, shm);
  const float rs = rsqrtf(ss / d + eps);
  if (rstd && threadIdx.x == 0) rstd[r] = rs;
  Y* yr = y + r * d;
  for (int i = threadIdx.x; i < d; i += kNormThreads) yr[i] = from_f32<Y>(w[i] * (xr[i] * rs));
}

__global__ void rmsnorm_bwd_kernel(const float* x, const float* w, const float* rstd, const float* dy, float* dx,
                                   int d, bool acc) {
  __shared__ float shm[kNormThreads / 32];
  const int64_t r = blockIdx.x;
  const float* xr = x + r * d;
  const float* gr = dy + r * d;
  const float rs = rstd[r];
  float dot = 0.f;
  for (int i = threadIdx.x; i < d; i += kNormThreads) dot += (w[i] * gr[i]) * xr[i];
  dot = block_sum(dot, shm);
  const float c = (dot / d) * rs * rs * rs;
  float* o = dx + r * d;
  for (int i = threadIdx.x; i < d; i += kNormThreads) {
    const float v = rs * (w[i] * gr[i]) - xr[i] * c;
    o[i] = acc ? o[i] + v : v;
  }
}

void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int d, float eps,
                     cudaStream_t s) {
  if (rows <= 0) return;
  rmsnorm_fwd_kernel<float><<<unsigned(rows), kNormThreads, 0, s>>>(x, w, y, rstd, d, eps);
  HUKUK_CUDA_LAUNCH_CHECK();
}

void rmsnorm_forward(const float* x, const float* w, bf16_t* y, float* rstd, int64_t rows, int d, float eps,
                     cudaStream_t s) {
  if (rows <= 0) return;
  rmsnorm_fwd_kernel<__nv_bfloat16><<<unsigned(rows), kNormThreads, 0, s>>>(x, w, dev_ptr(y), rstd, d, eps);
  HUKUK_CUDA_LAUNCH_CHECK();
}

void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx, int64_t rows,
                      int d, bool accumulate, cudaStream_t s) {
  if (rows <= 0) return;
  rmsnorm_bwd_kernel<<<unsigned(rows), kNormThreads, 0, s>>>(x, w, rstd, dy, dx, d, accumulate);
  HUKUK_CUDA_LAUNCH_CHECK();
}

}  // namespace hukuk::ops::cuda
