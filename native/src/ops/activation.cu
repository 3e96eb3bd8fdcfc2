// CUDA twin of activation.cpp (same formulas, same order of operations).
#include "core/cuda_runtime.h"
#include "ops/dropout_cuda.cuh"
#include "ops/ops_cuda.h"

namespace hukuk::ops::cuda {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluC = 0.044715f;

__device__ __forceinline__ float act_f(Act a, float v) {
  switch (a) {
    case Act::Relu: return v > 0.f ? v : 0.f;
    case Act::GeluNew: {
      const float inner = kSqrt2OverPi * (v + kGeluC * (v * v * v));
      return (0.5f * v) * (1.f + tanhf(inner));
    }
    case Act::Gelu: return v * 0.5f * (1.f + erff(v * 0.7071067811865476f));
    case Act::Silu: return v / (1.f + expf(-v));
  }
  return 0.f;
}
__device__ __forceinline__ float act_b(Act a, float v, float dy) {
  switch (a) {
    case Act::Relu: return v > 0.f ? dy : 0.f;
    case Act::GeluNew: {
      const float inner = kSqrt2OverPi * (v + kGeluC * v * v * v);
      const float t = tanhf(inner);
      const float dinner = kSqrt2OverPi * (1.f + 3.f * kGeluC * v * v);
      return dy * (0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * dinner);
    }
    case Act::Gelu: {
      const float cdf = 0.5f * (1.f + erff(v * 0.7071067811865476f));
      const float pdf = 0.3989422804014327f * expf(-0.5f * v * v);
      return dy * (cdf + v * pdf);
    }
    case Act::Silu: {
      const float sg = 1.f / (1.f + expf(-v));
      return dy * (sg * (1.f + v * (1.f - sg)));
    }
  }
  return 0.f;
}

__global__ void act_fwd_kernel(Act a, const float* x, float* y, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = act_f(a, x[i]);
}
__global__ void act_bwd_kernel(Act a, const float* x, const float* dy, float* dx, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dx[i] = act_b(a, x[i], dy[i]);
}
__global__ void gated_fwd_kernel(Act a, const float* p0, const float* p1, float* h, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) h[i] = act_f(a, p0[i]) * p1[i];
}
__global__ void gated_bwd_kernel(Act a, const float* p0, const float* p1, const float* dh, float* d0, float* d1,
                                 int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = dh[i];
  d1[i] = g * act_f(a, p0[i]);
  d0[i] = act_b(a, p0[i], g * p1[i]);
}

void act_forward(Act a, const float* x, float* y, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  act_fwd_kernel<<<blocks_for(n, 256), 256, 0, s>>>(a, x, y, n);
  HUKUK_CUDA_LAUNCH_CHECK();
}
void act_backward(Act a, const float* x, const float* dy, float* dx, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  act_bwd_kernel<<<blocks_for(n, 256), 256, 0, s>>>(a, x, dy, dx, n);
  HUKUK_CUDA_LAUNCH_CHECK();
}
void gated_forward(Act a, const float* pre0, const float* pre1, float* h, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  gated_fwd_kernel<<<blocks_for(n, 256), 256, 0, s>>>(a, pre0, pre1, h, n);
  HUKUK_CUDA_LAUNCH_CHECK();
}
void gated_backward(Act a, const float* pre0, const float* pre1, const float* dh, float* d0, float* d1, int64_t n,
                    cudaStream_t s) {
  if (n <= 0) return;
  gated_bwd_kernel<<<blocks_for(n, 256), 256, 0, s>>>(a, pre0, pre1, dh, d0, d1, n);
  HUKUK_CUDA_LAUNCH_CHECK();
}

}  // namespace hukuk::ops::cuda
