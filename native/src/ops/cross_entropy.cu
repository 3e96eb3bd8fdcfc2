// CUDA twin of cross_entropy.cpp, fused: one block per row computes max, log-sum-exp and the
// row's loss, and (backward) overwrites the logits with grad_scale * (softmax - onehot) in the
// same pass, so no probability tensor is ever allocated.
#include <cmath>

#include "core/cuda_runtime.h"
#include "cuda/pdl.cuh"
#include "ops/dropout_cuda.cuh"
#include "ops/ops_cuda.h"

namespace hukuk::ops::cuda {

namespace pdl = hukuk::cuda::pdl;

constexpr int kCeThreads = 512;

__device__ float ce_reduce(float v, float* shm, bool is_max) {
  for (int o = 16; o > 0; o >>= 1) {
    const float u = __shfl_xor_sync(0xffffffffu, v, o);
    v = is_max ? fmaxf(v, u) : v + u;
  }
  const int w = threadIdx.x >> 5, l = threadIdx.x & 31;
  __syncthreads();
  if (l == 0) shm[w] = v;
  __syncthreads();
  float t = shm[0];
  for (int i = 1; i < kCeThreads / 32; ++i) t = is_max ? fmaxf(t, shm[i]) : t + shm[i];
  return t;
}

__global__ void ce_kernel(float* logits, const int32_t* labels, int V, const float* gsp, bool backward, float* loss_rows) {
  __shared__ float shm[kCeThreads / 32];
  pdl::trigger();  // cuda/pdl.cuh: next kernel may launch; wait before reading the step's data or writing
  pdl::wait();
  const int64_t r = blockIdx.x;
  float* x = logits + r * V;
  const int y = labels[r];
  if (y == -100) {
    if (threadIdx.x == 0) loss_rows[r] = 0.f;
    if (backward)
      for (int j = threadIdx.x; j < V; j += kCeThreads) x[j] = 0.f;
    return;
  }
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < V; j += kCeThreads) mx = fmaxf(mx, x[j]);
  mx = ce_reduce(mx, shm, true);
  float s = 0.f;
  for (int j = threadIdx.x; j < V; j += kCeThreads) s += expf(x[j] - mx);
  s = ce_reduce(s, shm, false);
  const float lse = logf(s);
  const float xy = x[y];
  __syncthreads();  // every thread has read x[y] before anyone overwrites it
  if (threadIdx.x == 0) loss_rows[r] = lse - (xy - mx);
  if (!backward) return;
  const float gs = *gsp;
  for (int j = threadIdx.x; j < V; j += kCeThreads) {
    const float g = expf(x[j] - mx - lse) * gs;
    x[j] = j == y ? g - gs : g;
  }
}

void cross_entropy(float* logits, const int32_t* labels, int64_t rows, int V, const float* grad_scale, bool backward,
                   float* loss_rows, cudaStream_t s) {
  if (rows <= 0) return;
  pdl::launch(ce_kernel, dim3(unsigned(rows)), dim3(kCeThreads), 0, s, logits, labels, V, grad_scale, backward, loss_rows);
}

}  // namespace hukuk::ops::cuda
