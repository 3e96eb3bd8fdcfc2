// CUDA twin of attention.cpp's softmax part. The two products (scores = Q Kᵀ, ctx = P V and
// their backward) are cuBLAS strided-batched GEMMs over [B*H] in the heads layout, so this file
// holds the layout changes and the fused bias + mask + softmax + dropout kernels.
#include <cmath>

#include "core/cuda_runtime.h"
#include "ops/dropout_cuda.cuh"
#include "ops/ops_cuda.h"

namespace hukuk::ops::cuda {

constexpr int kSmThreads = 128;

__global__ void rows_to_heads_kernel(const float* rows, float* heads, int H, int T, int dk, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;  // index into heads [B,H,T,dk]
  if (i >= n) return;
  const int c = int(i % dk);
  int64_t r = i / dk;
  const int t = int(r % T);
  r /= T;
  const int h = int(r % H);
  const int64_t b = r / H;
  heads[i] = rows[(b * T + t) * int64_t(H) * dk + int64_t(h) * dk + c];
}
__global__ void heads_to_rows_kernel(const float* heads, float* rows, int H, int T, int dk, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;  // index into rows [B*T, H*dk]
  if (i >= n) return;
  const int inner = H * dk;
  const int col = int(i % inner);
  const int64_t bt = i / inner;
  const int t = int(bt % T);
  const int64_t b = bt / T;
  const int h = col / dk, c = col % dk;
  rows[i] = heads[((b * H + h) * T + t) * dk + c];
}

void rows_to_heads(const float* rows, float* heads, int B, int H, int T, int dk, cudaStream_t s) {
  const int64_t n = int64_t(B) * H * T * dk;
  if (n <= 0) return;
  rows_to_heads_kernel<<<blocks_for(n, 256), 256, 0, s>>>(rows, heads, H, T, dk, n);
  HUKUK_CUDA_LAUNCH_CHECK();
}
void heads_to_rows(const float* heads, float* rows, int B, int H, int T, int dk, cudaStream_t s) {
  const int64_t n = int64_t(B) * H * T * dk;
  if (n <= 0) return;
  heads_to_rows_kernel<<<blocks_for(n, 256), 256, 0, s>>>(heads, rows, H, T, dk, n);
  HUKUK_CUDA_LAUNCH_CHECK();
}

__device__ float sm_block_reduce(float v, float* shm, bool is_max) {
  for (int o = 16; o > 0; o >>= 1) {
    const float u = __shfl_xor_sync(0xffffffffu, v, o);
    v = is_max ? fmaxf(v, u) : v + u;
  }
  const int w = threadIdx.x >> 5, l = threadIdx.x & 31;
  __syncthreads();
  if (l == 0) shm[w] = v;
  __syncthreads();
  float t = shm[0];
  for (int i = 1; i < kSmThreads / 32; ++i) t = is_max ? fmaxf(t, shm[i]) : t + shm[i];
  return t;
}

// one block per row (b, h, i) of [B*H*Tq, Tk]
__global__ void softmax_fwd_kernel(SoftmaxArgs a, float* S, float* Pd) {
  __shared__ float shm[kSmThreads / 32];
  const int64_t row = blockIdx.x;
  const int i = int(row % a.Tq);
  const int64_t bh = row / a.Tq;
  const int h = int(bh % a.H);
  const int64_t b = bh / a.H;
  float* s = S + row * a.Tk;
  const float* bias = a.bias ? a.bias + (int64_t(h) * a.Tq + i) * a.Tk : nullptr;
  const int32_t* km = a.key_mask ? a.key_mask + b * a.key_mask_ld : nullptr;
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < a.Tk; j += kSmThreads) {
    const bool vis = !(a.causal && j > i + a.q_offset) && !(km && km[j] == 0);
    float v = -INFINITY;
    if (vis) {
      v = s[j];
      if (bias) v = v + bias[j];
    }
    s[j] = v;
    mx = fmaxf(mx, v);
  }
  mx = sm_block_reduce(mx, shm, true);
  const bool none = mx == -INFINITY;  // every key masked: uniform, as torch gives
  float sum = 0.f;
  for (int j = threadIdx.x; j < a.Tk; j += kSmThreads) {
    const float e = none ? 1.f : (s[j] == -INFINITY ? 0.f : expf(s[j] - mx));
    s[j] = e;
    sum += e;
  }
  sum = sm_block_reduce(sum, shm, false);
  const float inv = 1.f / sum;
  const float keep_scale = a.dropout > 0.f ? 1.f / (1.f - a.dropout) : 1.f;
  for (int j = threadIdx.x; j < a.Tk; j += kSmThreads) {
    const float p = none ? 1.f / a.Tk : s[j] * inv;
    s[j] = p;
    if (a.dropout > 0.f)
      Pd[row * a.Tk + j] = dropout_keep_d(*a.seed, a.site, uint64_t(row) * a.Tk + j, a.dropout) ? p * keep_scale : 0.f;
  }
}

__global__ void dropped_probs_kernel(SoftmaxArgs a, const float* P, float* Pd, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  Pd[i] = dropout_keep_d(*a.seed, a.site, uint64_t(i), a.dropout) ? P[i] * (1.f / (1.f - a.dropout)) : 0.f;
}

__global__ void softmax_bwd_kernel(SoftmaxArgs a, const float* P, float* G) {
  __shared__ float shm[kSmThreads / 32];
  const int64_t row = blockIdx.x;
  const float* p = P + row * a.Tk;
  float* g = G + row * a.Tk;
  const float keep_scale = a.dropout > 0.f ? 1.f / (1.f - a.dropout) : 1.f;
  float sum = 0.f;
  for (int j = threadIdx.x; j < a.Tk; j += kSmThreads) {
    const bool keep = a.dropout <= 0.f || dropout_keep_d(*a.seed, a.site, uint64_t(row) * a.Tk + j, a.dropout);
    const float v = keep ? g[j] * keep_scale : 0.f;
    g[j] = v;
    sum += v * p[j];
  }
  sum = sm_block_reduce(sum, shm, false);
  for (int j = threadIdx.x; j < a.Tk; j += kSmThreads) g[j] = p[j] * (g[j] - sum);
}

void softmax_forward(const SoftmaxArgs& a, float* scores_to_P, float* Pd, cudaStream_t s) {
  const int64_t rows = int64_t(a.B) * a.H * a.Tq;
  if (rows <= 0) return;
  softmax_fwd_kernel<<<unsigned(rows), kSmThreads, 0, s>>>(a, scores_to_P, Pd);
  HUKUK_CUDA_LAUNCH_CHECK();
}
void dropped_probs(const SoftmaxArgs& a, const float* P, float* Pd, cudaStream_t s) {
  const int64_t n = int64_t(a.B) * a.H * a.Tq * a.Tk;
  if (n <= 0) return;
  dropped_probs_kernel<<<blocks_for(n, 256), 256, 0, s>>>(a, P, Pd, n);
  HUKUK_CUDA_LAUNCH_CHECK();
}
void softmax_backward(const SoftmaxArgs& a, const float* P, float* dPd_to_dS, cudaStream_t s) {
  const int64_t rows = int64_t(a.B) * a.H * a.Tq;
  if (rows <= 0) return;
  softmax_bwd_kernel<<<unsigned(rows), kSmThreads, 0, s>>>(a, P, dPd_to_dS);
  HUKUK_CUDA_LAUNCH_CHECK();
}

}  // namespace hukuk::ops::cuda
