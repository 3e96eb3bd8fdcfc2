// CUDA twin of cross_entropy.cpp, fused: one block per row computes max, log-sum-exp and the
// row's loss, and (backward) overwrites the logits with grad_scale * (softmax - onehot) in the
// same pass, so no probability tensor is ever allocated.
#include <cmath>
#include <type_traits>

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

// G = float: dlogits overwrite the fp32 logits. G = __nv_bfloat16 (cross_entropy's grad_bf16):
// row r's dlogits, each the fp32 value rounded once, go to the first half of the row's own fp32
// storage (bf16 leading dimension 2V), so the head's backward product reads them as bf16 with no
// other buffer. A row's fp32 logits are read in chunks of 2 * kCeThreads, and a barrier separates
// a chunk's reads from its writes: a chunk's bf16 writes cover the bytes of fp32 elements below
// the chunk's end, all read by then, and never those of a later chunk.
template <typename G>
__global__ void ce_kernel(float* logits, const int32_t* labels, int V, const float* gsp, bool backward, float* loss_rows) {
  __shared__ float shm[kCeThreads / 32];
  pdl::trigger();  // cuda/pdl.cuh: next kernel may launch; wait before reading the step's data or writing
  pdl::wait();
  const int64_t r = blockIdx.x;
  float* x = logits + r * V;
  G* gx = reinterpret_cast<G*>(x);
  const int y = labels[r];
  if (y == -100) {
    if (threadIdx.x == 0) loss_rows[r] = 0.f;
    if (backward)  // (bf16: writes below V / 2 fp32 elements, none of which is read)
      for (int j = threadIdx.x; j < V; j += kCeThreads) gx[j] = from_f32<G>(0.f);
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
  auto grad = [&](int j) {
    const float g = expf(x[j] - mx - lse) * gs;
    return j == y ? g - gs : g;
  };
  if constexpr (std::is_same_v<G, float>) {
    for (int j = threadIdx.x; j < V; j += kCeThreads) x[j] = grad(j);
  } else {
    for (int j0 = 0; j0 < V; j0 += 2 * kCeThreads) {
      const int j1 = j0 + threadIdx.x, j2 = j1 + kCeThreads;
      const float g1 = j1 < V ? grad(j1) : 0.f, g2 = j2 < V ? grad(j2) : 0.f;
      __syncthreads();  // the chunk's fp32 logits are read before any of its bf16 writes
      if (j1 < V) gx[j1] = from_f32<G>(g1);
      if (j2 < V) gx[j2] = from_f32<G>(g2);
    }
  }
}

void cross_entropy(float* logits, const int32_t* labels, int64_t rows, int V, const float* grad_scale, bool backward,
                   float* loss_rows, cudaStream_t s, bool grad_bf16) {
  if (rows <= 0) return;
  if (backward && grad_bf16)
    pdl::launch(ce_kernel<__nv_bfloat16>, dim3(unsigned(rows)), dim3(kCeThreads), 0, s, logits, labels, V, grad_scale,
                backward, loss_rows);
  else
    pdl::launch(ce_kernel<float>, dim3(unsigned(rows)), dim3(kCeThreads), 0, s, logits, labels, V, grad_scale, backward,
                loss_rows);
}

}  // namespace hukuk::ops::cuda
