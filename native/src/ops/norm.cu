// CUDA twin of norm.cpp: T5 RMS norm forward/backward, one block per row, fp32 sums. Every kernel
// is launched through pdl::launch (cuda/pdl.cuh: trigger first, wait before any access).
#include "core/cuda_runtime.h"
#include "cuda/pdl.cuh"
#include "ops/dropout_cuda.cuh"
#include "ops/residual.cuh"
#include "ops/ops_cuda.h"

namespace hukuk::ops::cuda {

namespace pdl = hukuk::cuda::pdl;

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

// The RMS norm backward of one row, shared by rmsnorm_bwd_kernel and rmsnorm_bwd_drop_kernel so
// that both compute the same float expressions (their dx must be bit for bit the same):
// c = (Σ w·g·x / d) · rstd³ over the row (every thread gets it), then per element dx = rstd·(w·g) − x·c.
__device__ __forceinline__ float rmsnorm_bwd_row_c(const float* xr, const float* w, const float* gr, float rs, int d,
                                                   float* shm) {
  float dot = 0.f;
  for (int i = threadIdx.x; i < d; i += kNormThreads) dot += (w[i] * gr[i]) * xr[i];
  dot = block_sum(dot, shm);
  return (dot / d) * rs * rs * rs;
}
__device__ __forceinline__ float rmsnorm_bwd_elem(float x, float w, float g, float rs, float c) {
  return rs * (w * g) - x * c;
}

// The forward of one row, shared by rmsnorm_fwd_kernel and dropout_add_rmsnorm_kernel so that both
// compute the same float expressions (rstd and y must be bit for bit the same):
// rmsnorm_row_rstd: thread t sums x_i² over i = t, t + 256, ... in that order (x_at(i) gives x_i:
// a load, or the fused kernel's residual sum, written as it goes), then block_sum; every thread
// gets rstd = rsqrt(mean + eps) (the square-add an explicit fma: what nvcc contracted `ss += x * x`
// into before, now fixed, whatever the code around it). rmsnorm_row_out: y_i = w_i · (x_i · rstd), rounded once to Y.
template <typename XAt>
__device__ __forceinline__ float rmsnorm_row_rstd(XAt x_at, int d, float eps, float* shm) {
  float ss = 0.f;
  for (int i = threadIdx.x; i < d; i += kNormThreads) {
    const float v = x_at(i);
    ss = __fmaf_rn(v, v, ss);  // explicit: the same instruction in every kernel that shares this
  }
  ss = block_sum(ss, shm);
  return rsqrtf(ss / d + eps);
}
template <typename Y>
__device__ __forceinline__ void rmsnorm_row_out(const float* xr, const float* w, Y* yr, float rs, int d) {
  for (int i = threadIdx.x; i < d; i += kNormThreads) yr[i] = from_f32<Y>(w[i] * (xr[i] * rs));
}

// Y = float or __nv_bfloat16 (the output only: the sums, rstd and the product are fp32 either way,
// so rstd is the same bits for both, and a bf16 y is the fp32 y rounded once)
template <typename Y>
__global__ void rmsnorm_fwd_kernel(const float* x, const float* w, Y* y, float* rstd, int d, float eps) {
  __shared__ float shm[kNormThreads / 32];
  pdl::trigger();
  pdl::wait();
  const int64_t r = blockIdx.x;
  const float* xr = x + r * d;
  const float rs = rmsnorm_row_rstd([xr](int i) { return xr[i]; }, d, eps, shm);
  if (rstd && threadIdx.x == 0) rstd[r] = rs;
  rmsnorm_row_out(xr, w, y + r * d, rs, d);
}

// x_out = x_in + dropout_p(y) (residual.cu's dropout_add: flat index r·d + i, make_drop_mask's keep
// test and scale, x_in + dropped y) and then rmsnorm_fwd_kernel's row on x_out, one block a row:
// each thread sums the squares of exactly the values it stores, in rmsnorm_row_rstd's order, and
// re-reads its own stores for the output (a thread sees its own writes), so x_out, rstd and n_out
// are bit for bit dropout_add then rmsnorm_forward. x_out may alias x_in or y (each element is read
// by the thread that writes it, before it writes it).
template <typename Y>
__global__ void dropout_add_rmsnorm_kernel(const float* x_in, const float* y, float* x_out, const float* w, Y* n_out,
                                           float* rstd, int d, float eps, float p, const uint64_t* seedp,
                                           uint64_t site) {
  __shared__ float shm[kNormThreads / 32];
  pdl::trigger();
  pdl::wait();
  const int64_t r = blockIdx.x, base = r * d;
  const DropMask drop = make_drop_mask(p, seedp, site);
  const float* xi = x_in + base;
  const float* yi = y + base;
  float* xo = x_out + base;
  const float rs = rmsnorm_row_rstd(
      [&](int i) {
        const float yv = yi[i], xv = xi[i];
        const float v = dropout_add_elem(drop, xv, yv, uint64_t(base + i));
        xo[i] = v;
        return v;
      },
      d, eps, shm);
  if (rstd && threadIdx.x == 0) rstd[r] = rs;
  rmsnorm_row_out(static_cast<const float*>(xo), w, n_out + base, rs, d);
}

__global__ void rmsnorm_bwd_kernel(const float* x, const float* w, const float* rstd, const float* dy, float* dx,
                                   int d, bool acc) {
  __shared__ float shm[kNormThreads / 32];
  pdl::trigger();
  pdl::wait();
  const int64_t r = blockIdx.x;
  const float* xr = x + r * d;
  const float* gr = dy + r * d;
  const float rs = rstd[r];
  const float c = rmsnorm_bwd_row_c(xr, w, gr, rs, d, shm);
  float* o = dx + r * d;
  for (int i = threadIdx.x; i < d; i += kNormThreads) {
    const float v = rmsnorm_bwd_elem(xr[i], w[i], gr[i], rs, c);
    o[i] = acc ? o[i] + v : v;
  }
}

// y = w * (x * rstd) with a stored rstd: rmsnorm_fwd_kernel's last loop, the same float
// expression, so y is bit for bit the forward's. Elementwise over rows * d (all SMs busy, unlike
// one block a row): with d % 8 == 0 and 16-byte aligned x, w, y, 8 elements of one row a step.
template <typename Y>
__global__ void __launch_bounds__(256) rmsnorm_apply_kernel(const float* x, const float* w, const float* rstd, Y* y,
                                                            int64_t rows, int d, bool vec) {
  pdl::trigger();
  pdl::wait();
  const int64_t n = rows * d, stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t t0 = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (vec) {
    for (int64_t c = t0; c < n / kVec; c += stride) {
      const int64_t i = c * kVec, r = i / d, col = i - r * d;
      const float rs = rstd[r];
      float v[kVec], wv[kVec];
      load8(x + i, v);
      load8(w + col, wv);
#pragma unroll
      for (int j = 0; j < kVec; ++j) v[j] = wv[j] * (v[j] * rs);
      store8(y + i, v);
    }
    return;
  }
  for (int64_t i = t0; i < n; i += stride) {
    const int64_t r = i / d, col = i - r * d;
    y[i] = from_f32<Y>(w[col] * (x[i] * rstd[r]));
  }
}

template <typename Y>
void rmsnorm_apply_t(const float* x, const float* w, const float* rstd, Y* y, int64_t rows, int d, cudaStream_t s) {
  if (rows <= 0 || d <= 0) return;
  const bool vec = d % kVec == 0 && aligned16(x) && aligned16(w) && aligned16(y);
  const int64_t n = rows * int64_t(d);
  const unsigned grid = grid_for(vec ? n / kVec : n);
  pdl::launch(rmsnorm_apply_kernel<Y>, grid, 256, 0, s, x, w, rstd, y, rows, d, vec);
}
void rmsnorm_apply(const float* x, const float* w, const float* rstd, float* y, int64_t rows, int d, cudaStream_t s) {
  rmsnorm_apply_t(x, w, rstd, y, rows, d, s);
}
void rmsnorm_apply(const float* x, const float* w, const float* rstd, bf16_t* y, int64_t rows, int d, cudaStream_t s) {
  rmsnorm_apply_t(x, w, rstd, dev_ptr(y), rows, d, s);
}

// rmsnorm_bwd_kernel that also writes g_drop = dropout_backward(dx) (accumulate false) of the
// next residual dropout, from the dx value it stores: per element the float expressions of
// rmsnorm_bwd_kernel, then of dropout_backward (fp32: keep ? dx * scale : 0, p == 0 a copy; bf16:
// DropToBf16, rounded once), so both outputs are bit for bit the two-kernel sequence's.
template <typename G, bool D>
__global__ void rmsnorm_bwd_drop_kernel(const float* x, const float* w, const float* rstd, const float* dy, float* dx,
                                        int d, bool acc, G* g_drop, DropParams drop) {
  __shared__ float shm[kNormThreads / 32];
  pdl::trigger();
  pdl::wait();
  DropoutKey key{};
  if constexpr (D) key = dropout_key(*drop.seed, drop.site);
  const int64_t r = blockIdx.x;
  const float* xr = x + r * d;
  const float* gr = dy + r * d;
  const float rs = rstd[r];
  const float c = rmsnorm_bwd_row_c(xr, w, gr, rs, d, shm);
  float* o = dx + r * d;
  G* gd = g_drop + r * d;
  for (int i = threadIdx.x; i < d; i += kNormThreads) {
    const float v = rmsnorm_bwd_elem(xr[i], w[i], gr[i], rs, c);
    const float t = acc ? o[i] + v : v;
    o[i] = t;
    float g = t;
    if constexpr (D) g = dropout_keep_bits(key, uint64_t(r * d + i), drop.threshold) ? t * drop.scale : 0.f;
    gd[i] = from_f32<G>(g);
  }
}

template <typename G>
void rmsnorm_backward_dropout_t(const float* x, const float* w, const float* rstd, const float* dy, float* dx,
                                int64_t rows, int d, bool accumulate, G* g_drop, float p, const uint64_t* seed,
                                uint64_t site, cudaStream_t s) {
  if (rows <= 0) return;
  const DropParams dp = drop_params(p, seed, site);
  if (p > 0.f)
    pdl::launch(rmsnorm_bwd_drop_kernel<G, true>, unsigned(rows), kNormThreads, 0, s, x, w, rstd, dy, dx, d, accumulate,
                g_drop, dp);
  else
    pdl::launch(rmsnorm_bwd_drop_kernel<G, false>, unsigned(rows), kNormThreads, 0, s, x, w, rstd, dy, dx, d, accumulate,
                g_drop, dp);
}
void rmsnorm_backward_dropout(const float* x, const float* w, const float* rstd, const float* dy, float* dx,
                              int64_t rows, int d, bool accumulate, float* g_drop, float p, const uint64_t* seed,
                              uint64_t site, cudaStream_t s) {
  rmsnorm_backward_dropout_t(x, w, rstd, dy, dx, rows, d, accumulate, g_drop, p, seed, site, s);
}
void rmsnorm_backward_dropout(const float* x, const float* w, const float* rstd, const float* dy, float* dx,
                              int64_t rows, int d, bool accumulate, bf16_t* g_drop, float p, const uint64_t* seed,
                              uint64_t site, cudaStream_t s) {
  rmsnorm_backward_dropout_t(x, w, rstd, dy, dx, rows, d, accumulate, dev_ptr(g_drop), p, seed, site, s);
}

void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int d, float eps,
                     cudaStream_t s) {
  if (rows <= 0) return;
  pdl::launch(rmsnorm_fwd_kernel<float>, unsigned(rows), kNormThreads, 0, s, x, w, y, rstd, d, eps);
}

void rmsnorm_forward(const float* x, const float* w, bf16_t* y, float* rstd, int64_t rows, int d, float eps,
                     cudaStream_t s) {
  if (rows <= 0) return;
  pdl::launch(rmsnorm_fwd_kernel<__nv_bfloat16>, unsigned(rows), kNormThreads, 0, s, x, w, dev_ptr(y), rstd, d, eps);
}

template <typename Y>
void dropout_add_rmsnorm_t(const float* x_in, const float* y, float* x_out, const float* w, Y* n_out, float* rstd,
                           int64_t rows, int d, float eps, float p, const uint64_t* seed, uint64_t site, cudaStream_t s) {
  if (rows <= 0) return;
  pdl::launch(dropout_add_rmsnorm_kernel<Y>, unsigned(rows), kNormThreads, 0, s, x_in, y, x_out, w, n_out, rstd, d, eps,
              p, seed, site);
}
void dropout_add_rmsnorm(const float* x_in, const float* y, float* x_out, const float* w, float* n_out, float* rstd,
                         int64_t rows, int d, float eps, float p, const uint64_t* seed, uint64_t site, cudaStream_t s) {
  dropout_add_rmsnorm_t(x_in, y, x_out, w, n_out, rstd, rows, d, eps, p, seed, site, s);
}
void dropout_add_rmsnorm(const float* x_in, const float* y, float* x_out, const float* w, bf16_t* n_out, float* rstd,
                         int64_t rows, int d, float eps, float p, const uint64_t* seed, uint64_t site, cudaStream_t s) {
  dropout_add_rmsnorm_t(x_in, y, x_out, w, dev_ptr(n_out), rstd, rows, d, eps, p, seed, site, s);
}

void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx, int64_t rows,
                      int d, bool accumulate, cudaStream_t s) {
  if (rows <= 0) return;
  pdl::launch(rmsnorm_bwd_kernel, unsigned(rows), kNormThreads, 0, s, x, w, rstd, dy, dx, d, accumulate);
}

}  // namespace hukuk::ops::cuda
