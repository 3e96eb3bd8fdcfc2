// CUDA twin of norm.cpp: T5 RMS norm forward/backward, fp32 sums: one block a row, or one warp a row
// by default (HUKUK_NORM_WARP=0: the block kernels; norm_switch.h; below rmsnorm_bwd_drop_kernel). Every kernel is launched
// through pdl::launch (cuda/pdl.cuh: trigger first, wait before any access).
#include <cstdlib>
#include <type_traits>

#include "core/cuda_runtime.h"
#include "cuda/pdl.cuh"
#include "ops/dropout_cuda.cuh"
#include "ops/residual.cuh"
#include "ops/norm_switch.h"
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

// ---- one warp a row (the default; HUKUK_NORM_WARP=0 off, ops/norm_switch.h) --------------------------------------
// Why: at 8192 rows x 768 the block-a-row kernels above move ~2 TB/s: 256 threads hold 3 scalar
// elements each, two __syncthreads per reduction, and the backward reads x, w, dy twice. Here a
// warp owns a row: each lane loads its elements (16-byte vectors where d % 4 == 0 and the
// pointers are aligned) all at once, keeps them in registers through the warp-shuffle reduction
// and writes the outputs from them, so every input is read once and nothing waits on the block.
//
// Which lane owns what: the row is cut into 4-element chunks q = 0, 1, ... (the last one short
// when d % 4 != 0); chunk q belongs to lane q % 32 as its k-th chunk, k = q / 32. Every variant
// (vectors or scalars; the row in registers, NC chunks a lane, or read again when d > 32 * 4 * 8)
// sums a lane's elements in the order (k, j) and then reduces the 32 lane sums with one xor
// butterfly, so a row's sums depend on d and the values only: never on alignment or on which of
// the kernels computes them (the fused and the plain kernels give the same bits by construction).
// Measured (H200, 2026-11-28 11:16 UTC, tests/native/cuda_elementwise.test.ts's norm benchmark, 50
// calls back to back), block -> warp, µs per call at 8192 | 2048 rows x 768, bf16 outputs:
// forward 18.5 -> 8.7 | 6.4 -> 5.2; dropout_add_rmsnorm 37.8 -> 27.4 | 8.8 -> 5.9; backward (acc)
// 37.1 -> 31.5 | 7.7 -> 6.1; backward + dropout (acc) 51.5 -> 35.5 | 10.0 -> 7.1 (~3.2 TB/s at 8192).
// Not tried: loading the accumulated dx before the reduction (it is a second round trip now).
constexpr int kWarpRows = 4;  // rows (warps) a block: small blocks spread a 2048-row call over the SMs
constexpr int kWarpThreads = 32 * kWarpRows;
constexpr int kWarpMaxChunks = 8;  // chunks a lane kept in registers: d <= 1024

__device__ __forceinline__ float warp_sum(float v) {
  // the same bits in every lane: each step adds the same two values (in either order)
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// chunk [i, i + 4) of row p (fp32): one float4 when vec, else the elements below d (the rest 0)
__device__ __forceinline__ void ld4(const float* p, int i, int d, bool vec, float v[4]) {
  if (vec) {
    const float4 a = *reinterpret_cast<const float4*>(p + i);
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w;
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j) v[j] = i + j < d ? p[i + j] : 0.f;
  }
}
__device__ __forceinline__ void st4(float* p, int i, int d, bool vec, const float v[4]) {
  if (vec) {
    *reinterpret_cast<float4*>(p + i) = make_float4(v[0], v[1], v[2], v[3]);
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j)
      if (i + j < d) p[i + j] = v[j];
  }
}
__device__ __forceinline__ void st4(__nv_bfloat16* p, int i, int d, bool vec, const float v[4]) {
  if (vec) {  // 8 bytes; each value rounded once to nearest even, as from_f32
    const __nv_bfloat162 a = __floats2bfloat162_rn(v[0], v[1]), b = __floats2bfloat162_rn(v[2], v[3]);
    *reinterpret_cast<uint2*>(p + i) = make_uint2(*reinterpret_cast<const uint32_t*>(&a),
                                                  *reinterpret_cast<const uint32_t*>(&b));
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j)
      if (i + j < d) p[i + j] = __float2bfloat16_rn(v[j]);
  }
}
// the vector path's alignment: 16 bytes for fp32 (float4), 8 for bf16 (4 elements)
inline bool vec_aligned(const float* p) { return aligned16(p); }
inline bool vec_aligned(const __nv_bfloat16* p) { return (reinterpret_cast<uintptr_t>(p) & 7u) == 0; }

// The forward's row expressions (rmsnorm_fwd_warp_kernel and dropout_add_rmsnorm_warp_kernel):
// ss += x² an explicit fma per element in (k, j) order; rstd = rsqrt(Σ / d + eps) in every lane;
// y = w · (x · rstd) rounded once to Y (rmsnorm_apply_kernel's expression, so it stays bit for bit).
__device__ __forceinline__ float warp_ss_chunk(float ss, const float v[4], int i, int d) {
#pragma unroll
  for (int j = 0; j < 4; ++j)
    if (i + j < d) ss = __fmaf_rn(v[j], v[j], ss);
  return ss;
}
__device__ __forceinline__ float warp_rstd(float ss, int d, float eps) { return rsqrtf(warp_sum(ss) / d + eps); }
template <typename Y>
__device__ __forceinline__ void warp_out_chunk(Y* yr, const float* w, const float v[4], int i, int d, float rs,
                                               bool vec) {
  float wv[4], o[4];
  ld4(w, i, d, vec, wv);
#pragma unroll
  for (int j = 0; j < 4; ++j) o[j] = wv[j] * (v[j] * rs);
  st4(yr, i, d, vec, o);
}

// NC > 0: the row in registers (NC chunks a lane, d <= 128·NC); NC == 0: any d, x read again.
template <int NC, typename Y>
__global__ void __launch_bounds__(kWarpThreads) rmsnorm_fwd_warp_kernel(const float* x, const float* w, Y* y,
                                                                        float* rstd, int64_t rows, int d, float eps,
                                                                        bool vec) {
  pdl::trigger();
  pdl::wait();
  const int64_t r = int64_t(blockIdx.x) * kWarpRows + (threadIdx.x >> 5);
  if (r >= rows) return;  // the whole warp
  const int lane = threadIdx.x & 31;
  const float* xr = x + r * d;
  Y* yr = y + r * d;
  float ss = 0.f;
  if constexpr (NC > 0) {
    float v[NC][4];
#pragma unroll
    for (int k = 0; k < NC; ++k) {
      const int i = (lane + 32 * k) * 4;
      if (i < d) ld4(xr, i, d, vec, v[k]);
    }
#pragma unroll
    for (int k = 0; k < NC; ++k) {
      const int i = (lane + 32 * k) * 4;
      if (i < d) ss = warp_ss_chunk(ss, v[k], i, d);
    }
    const float rs = warp_rstd(ss, d, eps);
    if (rstd && lane == 0) rstd[r] = rs;
#pragma unroll
    for (int k = 0; k < NC; ++k) {
      const int i = (lane + 32 * k) * 4;
      if (i < d) warp_out_chunk(yr, w, v[k], i, d, rs, vec);
    }
  } else {
    for (int i = lane * 4; i < d; i += 128) {
      float v[4];
      ld4(xr, i, d, vec, v);
      ss = warp_ss_chunk(ss, v, i, d);
    }
    const float rs = warp_rstd(ss, d, eps);
    if (rstd && lane == 0) rstd[r] = rs;
    for (int i = lane * 4; i < d; i += 128) {
      float v[4];
      ld4(xr, i, d, vec, v);
      warp_out_chunk(yr, w, v, i, d, rs, vec);
    }
  }
}

// x_out = x_in + dropout_p(y) (dropout_add_elem, flat index r·d + i) and rmsnorm_fwd_warp_kernel's
// row on x_out: the same chunks, sums and output expression, so x_out, rstd and n_out are bit for
// bit dropout_add then rmsnorm_forward on this path. x_out may alias x_in or y: a lane loads all its
// chunks before it stores any, and no other lane touches them.
template <int NC, typename Y>
__global__ void __launch_bounds__(kWarpThreads) dropout_add_rmsnorm_warp_kernel(
    const float* x_in, const float* y, float* x_out, const float* w, Y* n_out, float* rstd, int64_t rows, int d,
    float eps, float p, const uint64_t* seedp, uint64_t site, bool vec) {
  pdl::trigger();
  pdl::wait();
  const int64_t r = int64_t(blockIdx.x) * kWarpRows + (threadIdx.x >> 5);
  if (r >= rows) return;
  const int lane = threadIdx.x & 31;
  const int64_t base = r * d;
  const DropMask drop = make_drop_mask(p, seedp, site);
  const float* xi = x_in + base;
  const float* yi = y + base;
  float* xo = x_out + base;
  Y* no = n_out + base;
  auto add_chunk = [&](const float xv[4], const float yv[4], float v[4], int i) {
#pragma unroll
    for (int j = 0; j < 4; ++j) v[j] = dropout_add_elem(drop, xv[j], yv[j], uint64_t(base + i + j));
  };
  float ss = 0.f;
  if constexpr (NC > 0) {
    float v[NC][4], yv[NC][4];
#pragma unroll
    for (int k = 0; k < NC; ++k) {
      const int i = (lane + 32 * k) * 4;
      if (i < d) {
        ld4(xi, i, d, vec, v[k]);
        ld4(yi, i, d, vec, yv[k]);
      }
    }
#pragma unroll
    for (int k = 0; k < NC; ++k) {
      const int i = (lane + 32 * k) * 4;
      if (i < d) {
        add_chunk(v[k], yv[k], v[k], i);
        st4(xo, i, d, vec, v[k]);
        ss = warp_ss_chunk(ss, v[k], i, d);
      }
    }
    const float rs = warp_rstd(ss, d, eps);
    if (rstd && lane == 0) rstd[r] = rs;
#pragma unroll
    for (int k = 0; k < NC; ++k) {
      const int i = (lane + 32 * k) * 4;
      if (i < d) warp_out_chunk(no, w, v[k], i, d, rs, vec);
    }
  } else {
    for (int i = lane * 4; i < d; i += 128) {
      float xv[4], yv[4], v[4];
      ld4(xi, i, d, vec, xv);
      ld4(yi, i, d, vec, yv);
      add_chunk(xv, yv, v, i);
      st4(xo, i, d, vec, v);
      ss = warp_ss_chunk(ss, v, i, d);
    }
    const float rs = warp_rstd(ss, d, eps);
    if (rstd && lane == 0) rstd[r] = rs;
    for (int i = lane * 4; i < d; i += 128) {  // the lane's own stores, read back
      float v[4];
      ld4(xo, i, d, vec, v);
      warp_out_chunk(no, w, v, i, d, rs, vec);
    }
  }
}

// The backward, one kernel for rmsnorm_backward (kOut 0) and rmsnorm_backward_dropout (kOut 1:
// g_drop = dx, p == 0; kOut 2: g_drop = keep(r·d + i) ? dx · scale : 0), so dx is the same bits
// for both. Per element, every operation explicit (no contraction the compiler could choose per
// kernel): wg = w·g; dot += wg·x (fma, (k, j) order, then the butterfly); c = (dot / d)·rstd³;
// dx = fma(−x, c, rstd·wg), then (+)= into dx; g_drop as dropout_backward's expressions.
template <int NC, typename G, int kOut>
__global__ void __launch_bounds__(kWarpThreads) rmsnorm_bwd_warp_kernel(const float* x, const float* w,
                                                                        const float* rstd, const float* dy, float* dx,
                                                                        int64_t rows, int d, bool acc, G* g_drop,
                                                                        DropParams drop, bool vec) {
  pdl::trigger();
  pdl::wait();
  const int64_t r = int64_t(blockIdx.x) * kWarpRows + (threadIdx.x >> 5);
  if (r >= rows) return;
  const int lane = threadIdx.x & 31;
  DropoutKey key{};
  if constexpr (kOut == 2) key = dropout_key(*drop.seed, drop.site);
  const int64_t base = r * d;
  const float* xr = x + base;
  const float* gr = dy + base;
  float* o = dx + base;
  G* gd = kOut ? g_drop + base : nullptr;
  const float rs = rstd[r];
  auto load_chunk = [&](int i, float xv[4], float wg[4]) {
    float wv[4], gv[4];
    ld4(xr, i, d, vec, xv);
    ld4(w, i, d, vec, wv);
    ld4(gr, i, d, vec, gv);
#pragma unroll
    for (int j = 0; j < 4; ++j) wg[j] = __fmul_rn(wv[j], gv[j]);
  };
  auto dot_chunk = [&](float dot, const float xv[4], const float wg[4], int i) {
#pragma unroll
    for (int j = 0; j < 4; ++j)
      if (i + j < d) dot = __fmaf_rn(wg[j], xv[j], dot);
    return dot;
  };
  auto out_chunk = [&](const float xv[4], const float wg[4], int i, float c) {
    float t[4], prev[4];
    if (acc) ld4(o, i, d, vec, prev);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float v = __fmaf_rn(-xv[j], c, __fmul_rn(rs, wg[j]));
      t[j] = acc ? __fadd_rn(prev[j], v) : v;
    }
    st4(o, i, d, vec, t);
    if constexpr (kOut == 2) {
#pragma unroll
      for (int j = 0; j < 4; ++j)
        t[j] = dropout_keep_bits(key, uint64_t(base + i + j), drop.threshold) ? t[j] * drop.scale : 0.f;
    }
    if constexpr (kOut > 0) st4(gd, i, d, vec, t);
  };
  float dot = 0.f;
  if constexpr (NC > 0) {
    float xv[NC][4], wg[NC][4];
#pragma unroll
    for (int k = 0; k < NC; ++k) {
      const int i = (lane + 32 * k) * 4;
      if (i < d) load_chunk(i, xv[k], wg[k]);
    }
#pragma unroll
    for (int k = 0; k < NC; ++k) {
      const int i = (lane + 32 * k) * 4;
      if (i < d) dot = dot_chunk(dot, xv[k], wg[k], i);
    }
    const float c = (warp_sum(dot) / d) * rs * rs * rs;
#pragma unroll
    for (int k = 0; k < NC; ++k) {
      const int i = (lane + 32 * k) * 4;
      if (i < d) out_chunk(xv[k], wg[k], i, c);
    }
  } else {
    for (int i = lane * 4; i < d; i += 128) {
      float xv[4], wg[4];
      load_chunk(i, xv, wg);
      dot = dot_chunk(dot, xv, wg, i);
    }
    const float c = (warp_sum(dot) / d) * rs * rs * rs;
    for (int i = lane * 4; i < d; i += 128) {
      float xv[4], wg[4];
      load_chunk(i, xv, wg);
      out_chunk(xv, wg, i, c);
    }
  }
}

// HUKUK_NORM_WARP, read once per process (default on: =0 runs the block-a-row kernels); the test hooks
// may override it (norm_switch.h). H200, 2026-11-28 11:16 UTC, flagship step default -> warp:
// 130.29 -> 125.70 ms at 16x512x512, 31.58 -> 31.03 at 16x64x128, 73.73 -> 72.07 at 8x512x512.
bool norm_warp() { return g_norm_warp.value() == 1; }

// Launches f(std::integral_constant<int, NC>) with the NC that keeps a row of d in registers:
// ceil(d / 128) chunks a lane rounded up to 2, 4, 6 (d = 768) or 8, else 0 (read again).
template <typename F>
void with_chunks(int d, F&& f) {
  const int k = (d + 127) / 128;
  if (k <= 2) f(std::integral_constant<int, 2>{});
  else if (k <= 4) f(std::integral_constant<int, 4>{});
  else if (k <= 6) f(std::integral_constant<int, 6>{});
  else if (k <= kWarpMaxChunks) f(std::integral_constant<int, kWarpMaxChunks>{});
  else f(std::integral_constant<int, 0>{});
}
inline unsigned warp_grid(int64_t rows) { return unsigned((rows + kWarpRows - 1) / kWarpRows); }

template <typename G>
void rmsnorm_backward_dropout_t(const float* x, const float* w, const float* rstd, const float* dy, float* dx,
                                int64_t rows, int d, bool accumulate, G* g_drop, float p, const uint64_t* seed,
                                uint64_t site, cudaStream_t s) {
  if (rows <= 0) return;
  const DropParams dp = drop_params(p, seed, site);
  if (norm_warp()) {
    const bool vec = d % 4 == 0 && aligned16(x) && aligned16(w) && aligned16(dy) && aligned16(dx) && vec_aligned(g_drop);
    with_chunks(d, [&](auto nc) {
      constexpr int NC = decltype(nc)::value;
      if (p > 0.f)
        pdl::launch(rmsnorm_bwd_warp_kernel<NC, G, 2>, warp_grid(rows), kWarpThreads, 0, s, x, w, rstd, dy, dx, rows,
                    d, accumulate, g_drop, dp, vec);
      else
        pdl::launch(rmsnorm_bwd_warp_kernel<NC, G, 1>, warp_grid(rows), kWarpThreads, 0, s, x, w, rstd, dy, dx, rows,
                    d, accumulate, g_drop, dp, vec);
    });
    return;
  }
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

template <typename Y>
void rmsnorm_forward_t(const float* x, const float* w, Y* y, float* rstd, int64_t rows, int d, float eps,
                       cudaStream_t s) {
  if (rows <= 0) return;
  if (norm_warp()) {
    const bool vec = d % 4 == 0 && aligned16(x) && aligned16(w) && vec_aligned(y);
    with_chunks(d, [&](auto nc) {
      pdl::launch(rmsnorm_fwd_warp_kernel<decltype(nc)::value, Y>, warp_grid(rows), kWarpThreads, 0, s, x, w, y, rstd,
                  rows, d, eps, vec);
    });
    return;
  }
  pdl::launch(rmsnorm_fwd_kernel<Y>, unsigned(rows), kNormThreads, 0, s, x, w, y, rstd, d, eps);
}
void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int d, float eps,
                     cudaStream_t s) {
  rmsnorm_forward_t(x, w, y, rstd, rows, d, eps, s);
}
void rmsnorm_forward(const float* x, const float* w, bf16_t* y, float* rstd, int64_t rows, int d, float eps,
                     cudaStream_t s) {
  rmsnorm_forward_t(x, w, dev_ptr(y), rstd, rows, d, eps, s);
}

template <typename Y>
void dropout_add_rmsnorm_t(const float* x_in, const float* y, float* x_out, const float* w, Y* n_out, float* rstd,
                           int64_t rows, int d, float eps, float p, const uint64_t* seed, uint64_t site, cudaStream_t s) {
  if (rows <= 0) return;
  if (norm_warp()) {
    const bool vec = d % 4 == 0 && aligned16(x_in) && aligned16(y) && aligned16(x_out) && aligned16(w) &&
                     vec_aligned(n_out);
    with_chunks(d, [&](auto nc) {
      pdl::launch(dropout_add_rmsnorm_warp_kernel<decltype(nc)::value, Y>, warp_grid(rows), kWarpThreads, 0, s, x_in, y,
                  x_out, w, n_out, rstd, rows, d, eps, p, seed, site, vec);
    });
    return;
  }
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
  if (norm_warp()) {
    const bool vec = d % 4 == 0 && aligned16(x) && aligned16(w) && aligned16(dy) && aligned16(dx);
    with_chunks(d, [&](auto nc) {
      pdl::launch(rmsnorm_bwd_warp_kernel<decltype(nc)::value, float, 0>, warp_grid(rows), kWarpThreads, 0, s, x, w, rstd,
                  dy, dx, rows, d, accumulate, static_cast<float*>(nullptr), DropParams{}, vec);
    });
    return;
  }
  pdl::launch(rmsnorm_bwd_kernel, unsigned(rows), kNormThreads, 0, s, x, w, rstd, dy, dx, d, accumulate);
}

}  // namespace hukuk::ops::cuda
