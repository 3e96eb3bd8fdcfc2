// CUDA twins of lora.cpp (see lora.h): fp32-math CUDA-core kernels (activations fp32 or bf16,
// templated on the element type) that regenerate the LoRA input
// dropout from the counter hash of dropout_cuda.cuh while they stream x, so no dropped copy of x
// is written or read. At the LoRA rank (r <= 64) the products are thin: each x element meets r
// weights, so the work per element is the mask hash + r FMAs, and the floor is reading x once,
// not a GEMM's tiling. The hash is not free: on an H200 it added ~18 µs per 25 M elements to
// dropout_add (full occupancy, hidden behind memory) but ~57 µs to a first lora_grad_A that did
// not prefetch (fewer warps to hide it), hence the prefetching below. The r dimension is padded at
// compile time (RP = 8, 16, 32 or 64, zero rows beyond r) so the inner loops unroll fully.
#include <cuda_bf16.h>

#include <algorithm>
#include <string>
#include <type_traits>

#include "core/cuda_runtime.h"
#include "cuda/pdl.cuh"
#include "ops/group_tickets.h"
#include "ops/lora.cuh"
#include "ops/lora.h"

namespace hukuk::ops::cuda {

namespace {

constexpr int kThreads = 256;

void check_sizes(const char* fn, int M, int in, int r) {
  HUKUK_CHECK(M >= 0 && in >= 1 && r >= 1 && r <= 64, "ENGINE_INVALID_ARG",
              std::string(fn) + ": need M >= 0, in >= 1, 1 <= r <= 64 (got M=" + std::to_string(M) +
                  " in=" + std::to_string(in) + " r=" + std::to_string(r) + ")");
}
int padded_rank(int r) { return r <= 8 ? 8 : r <= 16 ? 16 : r <= 32 ? 32 : 64; }

// ------------------------------------------------------------------------------ element types
// The activation operand (x, y, dy) is T = float or __nv_bfloat16 (lora.h's bf16 overloads);
// every value is widened to fp32 as it is loaded (exact), all math is fp32, and a bf16 result is
// rounded once, to nearest even, as it is stored. For T = float these are the plain loads, so
// the fp32 kernels are the same code as before the templating.
__device__ __forceinline__ float ldg_f(const float* p) { return __ldg(p); }
__device__ __forceinline__ float ldg_f(const __nv_bfloat16* p) {
  return __uint_as_float(uint32_t(__ldg(reinterpret_cast<const unsigned short*>(p))) << 16);
}
__device__ __forceinline__ float ld_f(const float* p) { return *p; }
__device__ __forceinline__ float ld_f(const __nv_bfloat16* p) {
  return __uint_as_float(uint32_t(*reinterpret_cast<const unsigned short*>(p)) << 16);
}
__device__ __forceinline__ float bf16_lo(uint32_t w) { return __uint_as_float(w << 16); }  // element 0 of a pair
__device__ __forceinline__ float bf16_hi(uint32_t w) { return __uint_as_float(w & 0xffff0000u); }
__device__ __forceinline__ uint32_t bf16_pair(float lo, float hi) {  // round to nearest even, lo first
  return uint32_t(__bfloat16_as_ushort(__float2bfloat16_rn(lo))) |
         (uint32_t(__bfloat16_as_ushort(__float2bfloat16_rn(hi))) << 16);
}

// C consecutive elements of T as one load: Vec<T, C>::raw is float (fp32, C = 1) or the packed
// bf16 bits (C = 1 or 2: 2 or 4 bytes). The caller guarantees the alignment. (Wider bf16 vectors,
// 8 and 16 bytes, were measured on an H200 on 2026-11-28 and were slower: lora.h.)
template <typename T, int C>
struct Vec;
template <>
struct Vec<float, 1> {
  using raw = float;
  static __device__ __forceinline__ raw zero() { return 0.f; }
  static __device__ __forceinline__ raw ldg(const float* p) { return __ldg(p); }
  static __device__ __forceinline__ raw ld(const float* p) { return *p; }
  static __device__ __forceinline__ void unpack(raw v, float (&f)[1]) { f[0] = v; }
  static __device__ __forceinline__ void store(float* p, const float (&f)[1]) { *p = f[0]; }
};
template <>
struct Vec<__nv_bfloat16, 1> {
  using raw = unsigned short;
  static __device__ __forceinline__ raw zero() { return 0; }
  static __device__ __forceinline__ raw ldg(const __nv_bfloat16* p) { return __ldg(reinterpret_cast<const raw*>(p)); }
  static __device__ __forceinline__ raw ld(const __nv_bfloat16* p) { return *reinterpret_cast<const raw*>(p); }
  static __device__ __forceinline__ void unpack(raw v, float (&f)[1]) { f[0] = __uint_as_float(uint32_t(v) << 16); }
  static __device__ __forceinline__ void store(__nv_bfloat16* p, const float (&f)[1]) { *p = __float2bfloat16_rn(f[0]); }
};
template <>
struct Vec<__nv_bfloat16, 2> {
  using raw = uint32_t;
  static __device__ __forceinline__ raw zero() { return 0u; }
  static __device__ __forceinline__ raw ldg(const __nv_bfloat16* p) {
    return __ldg(reinterpret_cast<const unsigned int*>(p));
  }
  static __device__ __forceinline__ raw ld(const __nv_bfloat16* p) { return *reinterpret_cast<const raw*>(p); }
  static __device__ __forceinline__ void unpack(raw v, float (&f)[2]) { f[0] = bf16_lo(v), f[1] = bf16_hi(v); }
  static __device__ __forceinline__ void store(__nv_bfloat16* p, const float (&f)[2]) {
    *reinterpret_cast<raw*>(p) = bf16_pair(f[0], f[1]);
  }
};
// Whether C-element vectors of T at p + i * ld (any row i) are aligned: p on 2C-byte bounds, ld a
// multiple of C, and the width a multiple of C (so a vector never straddles a row end).
template <typename T>
bool vec_fits(const void* p, int C, int64_t ld, int64_t width, int64_t stride) {
  const uintptr_t bytes = uintptr_t(C) * sizeof(T);
  return C == 1 || (reinterpret_cast<uintptr_t>(p) % bytes == 0 && ld % C == 0 && width % C == 0 && stride % C == 0);
}

// ------------------------------------------------------------------------------ lora_down
// Each warp owns ROWS rows and walks k in tiles of 128 columns: lane l takes columns l, l+32,
// l+64, l+96 of the tile, keeps ROWS x RP partial sums, and the warp adds them by butterfly at
// the end. The block (8 warps x ROWS rows) stages each 128-column tile of A in shared memory, so
// A is read from L2 once per block instead of once per warp; the next tile of A and of x is
// loaded into registers while the current one is hashed and multiplied (loads never wait).
constexpr int kDownTile = 128;

template <int ROWS, typename T>
__device__ __forceinline__ void load_x_tile(float (&xv)[ROWS][4], const T* __restrict__ x, int row0, int M,
                                            int in, int k0, int lane) {
#pragma unroll
  for (int rr = 0; rr < ROWS; ++rr)
#pragma unroll
    for (int t = 0; t < 4; ++t) {
      const int m = row0 + rr, k = k0 + lane + 32 * t;
      xv[rr][t] = (m < M && k < in) ? ldg_f(x + int64_t(m) * in + k) : 0.f;
    }
}

// ------------------------------------------------------------------------------ lora_grad_A
// Block: 64 columns x 4 row groups. The block's rows [m_begin, m_end) go by in chunks of 32 whose
// dh rows are staged in shared memory (read back as float4 broadcasts); row group g takes chunk
// rows g, g+4, ..., each thread keeps RP running sums for its column. The next chunk's x values
// and dh rows are loaded into registers while the current chunk is computed, so no load latency
// is exposed. The 4 groups are then added
// in the fixed order ((0+1)+2)+3, and the block writes either gA (one split) or its split's
// partial sums into the workspace [S][r][in], which lora_grad_A_reduce adds in split order.
// Every sum's order depends on (M, in, r) only, so results are deterministic.
constexpr int kGaCols = 64, kGaGroups = kThreads / kGaCols, kGaChunk = 32;

struct GaPlan {
  int splits = 1, rows_per_split = 0;
};
GaPlan grad_A_plan(int M, int in, bool have_workspace, int target_blocks = 528) {
  GaPlan g;
  g.rows_per_split = M;
  if (!have_workspace || M <= kGaChunk) return g;
  const int col_blocks = (in + kGaCols - 1) / kGaCols;
  // target_blocks: ~4 blocks per SM on a 132-SM H100 by default; a constant, not the GPU's
  const int splits = (target_blocks + col_blocks - 1) / col_blocks;
  int rows = (M + splits - 1) / splits;
  rows = ((rows + kGaChunk - 1) / kGaChunk) * kGaChunk;  // whole chunks
  g.rows_per_split = rows;
  g.splits = (M + rows - 1) / rows;
  return g;
}

__global__ void lora_grad_A_reduce(const float* __restrict__ part, float* __restrict__ gA, int64_t n, int splits,
                                   bool accumulate) {
  hukuk::cuda::pdl::trigger();
  hukuk::cuda::pdl::wait();  // (cuda/pdl.cuh) before any read of the step's data or write
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float sum = part[i];
  for (int sp = 1; sp < splits; ++sp) sum += part[int64_t(sp) * n + i];
  gA[i] = accumulate ? gA[i] + sum : sum;
}

// ------------------------------------------------------------------------------ lora_dx
// Block: 64 columns x 4 row groups. Each thread holds its column of A (RP registers) and the
// block's dh rows are staged in shared memory, read back as float4 broadcasts. Per element: r
// FMAs, the mask hash, one store (details at lora_dx_kernel).
constexpr int kDxCols = 64, kDxGroups = kThreads / kDxCols;

template <int RP>
__device__ __forceinline__ void load_a_tile(float (&an)[RP * kDownTile / kThreads], const float* __restrict__ A,
                                            int r, int in, int k0) {
#pragma unroll
  for (int q = 0; q < RP * kDownTile / kThreads; ++q) {
    const int idx = threadIdx.x + kThreads * q, j = idx / kDownTile, k = k0 + idx % kDownTile;
    an[q] = (j < r && k < in) ? __ldg(A + int64_t(j) * in + k) : 0.f;
  }
}

template <int RP, int ROWS, typename T>
__global__ void __launch_bounds__(kThreads, 2) lora_down_kernel(const T* __restrict__ x,
                                                                   const float* __restrict__ A,
                                                                   float* __restrict__ h, int M, int in, int r,
                                                                   float p, const uint64_t* seedp, uint64_t site) {
  hukuk::cuda::pdl::trigger();
  hukuk::cuda::pdl::wait();  // (cuda/pdl.cuh) before any read of the step's data or write
  constexpr int kAPer = RP * kDownTile / kThreads;
  __shared__ float As[RP][kDownTile];
  const DropMask drop = make_drop_mask(p, seedp, site);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int row0 = (blockIdx.x * (kThreads / 32) + warp) * ROWS;  // rows >= M load zeros; no early return
  float acc[ROWS][RP];
#pragma unroll
  for (int rr = 0; rr < ROWS; ++rr)
#pragma unroll
    for (int j = 0; j < RP; ++j) acc[rr][j] = 0.f;

  // A's next tile waits in registers only where they are to spare (RP <= 16); for r > 16 it is
  // loaded after the barrier (its latency exposed, but no spills).
  constexpr bool kPrefetchA = RP <= 16;
  float xn[ROWS][4], an[kPrefetchA ? kAPer : 1];
  load_x_tile<ROWS>(xn, x, row0, M, in, 0, lane);
  if constexpr (kPrefetchA) load_a_tile<RP>(an, A, r, in, 0);
  for (int k0 = 0; k0 < in; k0 += kDownTile) {
    __syncthreads();  // the previous tile's readers are done
    if constexpr (kPrefetchA) {
#pragma unroll
      for (int q = 0; q < kAPer; ++q) {
        const int idx = threadIdx.x + kThreads * q;
        As[idx / kDownTile][idx % kDownTile] = an[q];
      }
    } else {
      for (int idx = threadIdx.x; idx < RP * kDownTile; idx += kThreads) {
        const int j = idx / kDownTile, k = k0 + idx % kDownTile;
        As[j][idx % kDownTile] = (j < r && k < in) ? __ldg(A + int64_t(j) * in + k) : 0.f;
      }
    }
    __syncthreads();
    float xv[ROWS][4];
#pragma unroll
    for (int rr = 0; rr < ROWS; ++rr)
#pragma unroll
      for (int t = 0; t < 4; ++t) xv[rr][t] = xn[rr][t];
    if (k0 + kDownTile < in) {  // prefetch the next tile (uniform branch)
      load_x_tile<ROWS>(xn, x, row0, M, in, k0 + kDownTile, lane);
      if constexpr (kPrefetchA) load_a_tile<RP>(an, A, r, in, k0 + kDownTile);
    }
#pragma unroll
    for (int rr = 0; rr < ROWS; ++rr)
#pragma unroll
      for (int t = 0; t < 4; ++t)
        xv[rr][t] = drop.apply(xv[rr][t], uint64_t(row0 + rr) * uint64_t(in) + uint64_t(k0 + lane + 32 * t));
#pragma unroll
    for (int t = 0; t < 4; ++t)
#pragma unroll
      for (int j = 0; j < RP; ++j) {
        const float a = As[j][lane + 32 * t];  // zero for j >= r and k >= in
#pragma unroll
        for (int rr = 0; rr < ROWS; ++rr) acc[rr][j] = fmaf(xv[rr][t], a, acc[rr][j]);
      }
  }
#pragma unroll
  for (int rr = 0; rr < ROWS; ++rr) {
    const int m = row0 + rr;
#pragma unroll
    for (int j = 0; j < RP; ++j) {
      float v = acc[rr][j];
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
      if (lane == (j & 31) && j < r && m < M) h[int64_t(m) * r + j] = v;
    }
  }
}

template <int RP, typename T>
void launch_down(const T* x, const float* A, float* h, int M, int in, int r, float p, const uint64_t* seed,
                    uint64_t site, cudaStream_t s) {
  // Rows per warp: A now comes from shared memory, so more rows per block only cut L2 traffic;
  // fewer keep enough blocks (>= ~2 per SM) for small M. At most 32 accumulators per thread
  // (more spill under the 128-register cap of 2 blocks per SM, next to the prefetched tiles).
  constexpr int kMaxRows = RP <= 8 ? 4 : RP <= 16 ? 2 : 1;
  // H200, 2026-11-28 03:12 UTC, 768 wide r16 µs per call (1 / 2 rows per warp): fp32 M=1024 7.2 /
  // 9.3, M=2048 10.0 / 9.4, M=8192 35.5 / 25.3; bf16 M=2048 10.1 / 11.5 (bf16 keeps 1 row there).
  const int want = M >= 8192 ? 4 : M >= 4096 ? 2 : (M >= 2048 && std::is_same_v<T, float>) ? 2 : 1;
  const int rows = want < kMaxRows ? want : kMaxRows;
  const int per_block = rows * (kThreads / 32);
  const unsigned grid = unsigned((M + per_block - 1) / per_block);
  if (rows >= 4) {
    if constexpr (kMaxRows >= 4) hukuk::cuda::pdl::launch(lora_down_kernel<RP, 4, T>, grid, dim3(kThreads), 0, s, x, A, h, M, in, r, p, seed, site);
  } else if (rows == 2) {
    if constexpr (kMaxRows >= 2) hukuk::cuda::pdl::launch(lora_down_kernel<RP, 2, T>, grid, dim3(kThreads), 0, s, x, A, h, M, in, r, p, seed, site);
  } else {
    hukuk::cuda::pdl::launch(lora_down_kernel<RP, 1, T>, grid, dim3(kThreads), 0, s, x, A, h, M, in, r, p, seed, site);
  }
  HUKUK_CUDA_LAUNCH_CHECK();
}

// lora_grad_A (the plan and blocks above)
template <int RP, typename T>
__global__ void __launch_bounds__(kThreads, (RP >= 64 ? 2 : RP >= 32 ? 3 : 4))
    lora_grad_A_kernel(const float* __restrict__ dh, const T* __restrict__ x, float* __restrict__ out, int M,
                          int in, int r, float p, const uint64_t* seedp, uint64_t site, int rows_per_split,
                          bool direct, bool accumulate) {
  hukuk::cuda::pdl::trigger();
  hukuk::cuda::pdl::wait();  // (cuda/pdl.cuh) before any read of the step's data or write
  constexpr int kPer = kGaChunk / kGaGroups;          // x rows per thread per chunk
  constexpr int kDhPer = kGaChunk * RP / kThreads;    // dh values staged per thread per chunk
  __shared__ __align__(16) float dhs[kGaChunk][RP];
  __shared__ float red[RP][kGaCols];
  const DropMask drop = make_drop_mask(p, seedp, site);
  const int tc = threadIdx.x % kGaCols, g = threadIdx.x / kGaCols;
  const int k = blockIdx.x * kGaCols + tc;
  const int split = blockIdx.y;
  const int m_begin = split * rows_per_split;
  const int m_end = min(M, m_begin + rows_per_split);
  float acc[RP];
#pragma unroll
  for (int j = 0; j < RP; ++j) acc[j] = 0.f;

  float xn[kPer], dn[kDhPer];
  auto load_chunk = [&](int c0) {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int m = c0 + g + kGaGroups * i;
      xn[i] = (m < m_end && k < in) ? ldg_f(x + int64_t(m) * in + k) : 0.f;
    }
#pragma unroll
    for (int q = 0; q < kDhPer; ++q) {
      const int idx = threadIdx.x + kThreads * q, mm = idx / RP, j = idx % RP;
      dn[q] = (j < r && c0 + mm < m_end) ? __ldg(dh + int64_t(c0 + mm) * r + j) : 0.f;
    }
  };
  if (m_begin < m_end) load_chunk(m_begin);
  for (int c0 = m_begin; c0 < m_end; c0 += kGaChunk) {
    __syncthreads();  // the previous chunk's readers of dhs are done
#pragma unroll
    for (int q = 0; q < kDhPer; ++q) {
      const int idx = threadIdx.x + kThreads * q;
      dhs[idx / RP][idx % RP] = dn[q];
    }
    __syncthreads();
    float xv[kPer];
#pragma unroll
    for (int i = 0; i < kPer; ++i) xv[i] = xn[i];
    if (c0 + kGaChunk < m_end) load_chunk(c0 + kGaChunk);  // uniform branch
#pragma unroll
    for (int i = 0; i < kPer; ++i)
      xv[i] = drop.apply(xv[i], uint64_t(c0 + g + kGaGroups * i) * uint64_t(in) + uint64_t(k));
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const float4* d4 = reinterpret_cast<const float4*>(&dhs[g + kGaGroups * i][0]);
#pragma unroll
      for (int j4 = 0; j4 < RP / 4; ++j4) {
        const float4 d = d4[j4];
        acc[4 * j4 + 0] = fmaf(d.x, xv[i], acc[4 * j4 + 0]);
        acc[4 * j4 + 1] = fmaf(d.y, xv[i], acc[4 * j4 + 1]);
        acc[4 * j4 + 2] = fmaf(d.z, xv[i], acc[4 * j4 + 2]);
        acc[4 * j4 + 3] = fmaf(d.w, xv[i], acc[4 * j4 + 3]);
      }
    }
  }
  for (int src = 1; src < kGaGroups; ++src) {  // fixed order: group 0 adds 1, then 2, then 3
    __syncthreads();
    if (g == src)
#pragma unroll
      for (int j = 0; j < RP; ++j) red[j][tc] = acc[j];
    __syncthreads();
    if (g == 0)
#pragma unroll
      for (int j = 0; j < RP; ++j) acc[j] += red[j][tc];
  }
  if (g != 0 || k >= in) return;
  float* dst = direct ? out : out + int64_t(split) * r * in;
#pragma unroll
  for (int j = 0; j < RP; ++j)
    if (j < r) {
      float& o = dst[int64_t(j) * in + k];
      o = (direct && accumulate) ? o + acc[j] : acc[j];
    }
}

// lora_dx: a block owns 64 columns x `rows` rows (runtime, a multiple of 32, at most
// kDx2MaxRows(RP)); all its dh rows are staged in shared memory once (one barrier per block),
// then each thread walks its rows in groups of 8, loading the next group's old dx values (when
// accumulating) before it stores the current group's.
constexpr int kDx2Group = 8;
template <int RP>
constexpr int kDx2MaxRows = (4096 / RP) > 256 ? 256 : 4096 / RP;  // 16 KiB of dh at most

template <int RP>
__global__ void __launch_bounds__(kThreads, (RP >= 64 ? 2 : RP >= 32 ? 3 : 4))
    lora_dx_kernel(const float* __restrict__ dh, const float* __restrict__ A, float* __restrict__ dx, int M,
                      int in, int r, float p, const uint64_t* seedp, uint64_t site, bool accumulate,
                      int rows_per_block) {
  hukuk::cuda::pdl::trigger();
  hukuk::cuda::pdl::wait();  // (cuda/pdl.cuh) before any read of the step's data or write
  __shared__ __align__(16) float dhs[kDx2MaxRows<RP>][RP];
  const DropMask drop = make_drop_mask(p, seedp, site);
  const int tc = threadIdx.x % kDxCols, g = threadIdx.x / kDxCols;
  const int k = blockIdx.x * kDxCols + tc;
  const bool kin = k < in;
  const int m_begin = blockIdx.y * rows_per_block, m_end = min(M, m_begin + rows_per_block);
  for (int idx = threadIdx.x; idx < rows_per_block * RP; idx += kThreads) {
    const int mm = idx / RP, j = idx % RP;
    dhs[mm][j] = (j < r && m_begin + mm < m_end) ? __ldg(dh + int64_t(m_begin + mm) * r + j) : 0.f;
  }
  float a[RP];
#pragma unroll
  for (int j = 0; j < RP; ++j) a[j] = (j < r && kin) ? __ldg(A + int64_t(j) * in + k) : 0.f;
  __syncthreads();
  if (!kin) return;  // no barriers below
  // thread rows: m_begin + g + 4 * t for t = 0, 1, ... (rows_per_block / 4 of them, a multiple of 8)
  const int per_thread = rows_per_block / kDxGroups;
  float prev[kDx2Group], next[kDx2Group];
  auto load_prev = [&](float (&dst)[kDx2Group], int t0) {
#pragma unroll
    for (int i = 0; i < kDx2Group; ++i) {
      const int m = m_begin + g + kDxGroups * (t0 + i);
      dst[i] = (accumulate && m < m_end) ? dx[int64_t(m) * in + k] : 0.f;
    }
  };
  load_prev(next, 0);
  for (int t0 = 0; t0 < per_thread; t0 += kDx2Group) {
    if (m_begin + g + kDxGroups * t0 >= m_end) break;  // this thread's remaining rows are past M
#pragma unroll
    for (int i = 0; i < kDx2Group; ++i) prev[i] = next[i];
    if (t0 + kDx2Group < per_thread) load_prev(next, t0 + kDx2Group);
#pragma unroll
    for (int i = 0; i < kDx2Group; ++i) {
      const int mm = g + kDxGroups * (t0 + i), m = m_begin + mm;
      const float4* d4 = reinterpret_cast<const float4*>(&dhs[mm][0]);
      float v = 0.f;
#pragma unroll
      for (int j4 = 0; j4 < RP / 4; ++j4) {
        const float4 d = d4[j4];
        v = fmaf(d.x, a[4 * j4 + 0], v);
        v = fmaf(d.y, a[4 * j4 + 1], v);
        v = fmaf(d.z, a[4 * j4 + 2], v);
        v = fmaf(d.w, a[4 * j4 + 3], v);
      }
      if (m < m_end) {
        const int64_t i_flat = int64_t(m) * in + k;
        v = drop.apply(v, uint64_t(i_flat));
        dx[i_flat] = accumulate ? prev[i] + v : v;
      }
    }
  }
}

template <int RP>
void launch_dx(const float* dh, const float* A, float* dx, int M, int in, int r, float p, const uint64_t* seed,
                  uint64_t site, bool accumulate, cudaStream_t s) {
  // Rows per block: as many as the staged dh allows, but enough blocks (>= 528, ~4 per SM) to
  // fill the GPU; a multiple of 32 (8 rows per thread-group step x 4 groups).
  const int col_blocks = (in + kDxCols - 1) / kDxCols;
  int rows = kDx2MaxRows<RP>;
  while (rows > 32 && int64_t(col_blocks) * ((M + rows - 1) / rows) < 528) rows -= 32;
  const dim3 grid(unsigned(col_blocks), unsigned((M + rows - 1) / rows));
  hukuk::cuda::pdl::launch(lora_dx_kernel<RP>, grid, dim3(kThreads), 0, s, dh, A, dx, M, in, r, p, seed, site, accumulate, rows);
  HUKUK_CUDA_LAUNCH_CHECK();
}

// ============================================================================== lora_backward
// Both backward products of the down projection in one pass over x, so the mask of each element
// is hashed once (lora_grad_A + lora_dx hash it twice and read the same rows of dh twice).
// Generation 2's lora_grad_A blocks (64 columns x 4 row groups, 32-row chunks of dh staged in
// shared memory, the next chunk prefetched), plus each thread's column of A in registers for dx:
// per element, one hash, r FMAs for gA, r FMAs for dx, one read of x, one write (and with
// accumulate one read) of dx. The gA sums run in lora_grad_A's order for this kernel's split plan.
// Instantiated for r <= 16 only: with r > 16 the gA sums and A's column (2 x RP registers) do not
// fit beside the prefetched chunk, so lora_backward runs lora_grad_A then lora_dx there.
// Blocks per SM (register bound): 3 for RP = 8, 2 for RP = 16; the split plan aims at filling a
// 132-SM H100 once (a constant, not the GPU's, so results do not depend on the card).
constexpr int bw_blocks_per_sm(int RP) { return RP <= 8 ? 3 : 2; }
int bw_target_blocks(int r) { return 132 * (r <= 8 ? bw_blocks_per_sm(8) : bw_blocks_per_sm(16)); }

template <int RP, typename T>
__global__ void __launch_bounds__(kThreads, bw_blocks_per_sm(RP))
    lora_backward_kernel(const float* __restrict__ dh, const T* __restrict__ x, const float* __restrict__ A,
                         float* __restrict__ out, float* __restrict__ dx, int M, int in, int r, float p,
                         const uint64_t* seedp, uint64_t site, int rows_per_split, bool direct, bool acc_gA,
                         bool acc_dx) {
  hukuk::cuda::pdl::trigger();
  hukuk::cuda::pdl::wait();  // (cuda/pdl.cuh) before any read of the step's data or write
  constexpr int kPer = kGaChunk / kGaGroups;
  constexpr int kDhPer = kGaChunk * RP / kThreads;
  __shared__ __align__(16) float dhs[kGaChunk][RP];
  __shared__ float red[RP][kGaCols];
  const DropMask drop = make_drop_mask(p, seedp, site);
  const int tc = threadIdx.x % kGaCols, g = threadIdx.x / kGaCols;
  const int k = blockIdx.x * kGaCols + tc;
  const bool kin = k < in;
  const int split = blockIdx.y;
  const int m_begin = split * rows_per_split;
  const int m_end = min(M, m_begin + rows_per_split);
  const bool want_dx = dx != nullptr;
  float acc[RP], a[RP];
#pragma unroll
  for (int j = 0; j < RP; ++j) {
    acc[j] = 0.f;
    a[j] = (want_dx && j < r && kin) ? __ldg(A + int64_t(j) * in + k) : 0.f;
  }

  float xn[kPer], pn[kPer], dn[kDhPer];
  auto load_chunk = [&](int c0) {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int m = c0 + g + kGaGroups * i;
      const bool in_range = m < m_end && kin;
      xn[i] = in_range ? ldg_f(x + int64_t(m) * in + k) : 0.f;
      pn[i] = (in_range && want_dx && acc_dx) ? dx[int64_t(m) * in + k] : 0.f;
    }
#pragma unroll
    for (int q = 0; q < kDhPer; ++q) {
      const int idx = threadIdx.x + kThreads * q, mm = idx / RP, j = idx % RP;
      dn[q] = (j < r && c0 + mm < m_end) ? __ldg(dh + int64_t(c0 + mm) * r + j) : 0.f;
    }
  };
  if (m_begin < m_end) load_chunk(m_begin);
  for (int c0 = m_begin; c0 < m_end; c0 += kGaChunk) {
    __syncthreads();  // the previous chunk's readers of dhs are done
#pragma unroll
    for (int q = 0; q < kDhPer; ++q) {
      const int idx = threadIdx.x + kThreads * q;
      dhs[idx / RP][idx % RP] = dn[q];
    }
    __syncthreads();
    float xv[kPer], pv[kPer];
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      xv[i] = xn[i];
      pv[i] = pn[i];
    }
    if (c0 + kGaChunk < m_end) load_chunk(c0 + kGaChunk);  // uniform branch
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int m = c0 + g + kGaGroups * i;
      const int64_t i_flat = int64_t(m) * in + k;
      const bool kept = !drop.on || drop.keep(uint64_t(i_flat));
      const float xd = kept ? xv[i] * drop.scale : 0.f;
      const float4* d4 = reinterpret_cast<const float4*>(&dhs[g + kGaGroups * i][0]);
      float v = 0.f;
#pragma unroll
      for (int j4 = 0; j4 < RP / 4; ++j4) {
        const float4 d = d4[j4];
        acc[4 * j4 + 0] = fmaf(d.x, xd, acc[4 * j4 + 0]);
        acc[4 * j4 + 1] = fmaf(d.y, xd, acc[4 * j4 + 1]);
        acc[4 * j4 + 2] = fmaf(d.z, xd, acc[4 * j4 + 2]);
        acc[4 * j4 + 3] = fmaf(d.w, xd, acc[4 * j4 + 3]);
        v = fmaf(d.x, a[4 * j4 + 0], v);
        v = fmaf(d.y, a[4 * j4 + 1], v);
        v = fmaf(d.z, a[4 * j4 + 2], v);
        v = fmaf(d.w, a[4 * j4 + 3], v);
      }
      if (want_dx && kin && m < m_end) {
        const float dv = kept ? v * drop.scale : 0.f;
        dx[i_flat] = acc_dx ? pv[i] + dv : dv;
      }
    }
  }
  for (int src = 1; src < kGaGroups; ++src) {  // fixed order, as lora_grad_A
    __syncthreads();
    if (g == src)
#pragma unroll
      for (int j = 0; j < RP; ++j) red[j][tc] = acc[j];
    __syncthreads();
    if (g == 0)
#pragma unroll
      for (int j = 0; j < RP; ++j) acc[j] += red[j][tc];
  }
  if (g != 0 || !kin) return;
  float* dst = direct ? out : out + int64_t(split) * r * in;
#pragma unroll
  for (int j = 0; j < RP; ++j)
    if (j < r) {
      float& o = dst[int64_t(j) * in + k];
      o = (direct && acc_gA) ? o + acc[j] : acc[j];
    }
}

}  // namespace

namespace {
template <typename T>
void lora_down_t(const T* x, const float* A, float* h, int M, int in, int r, float p, const uint64_t* seed,
                 uint64_t site, cudaStream_t s) {
  check_sizes("cuda::lora_down", M, in, r);
  if (M == 0) return;
  switch (padded_rank(r)) {
    case 8: launch_down<8>(x, A, h, M, in, r, p, seed, site, s); break;
    case 16: launch_down<16>(x, A, h, M, in, r, p, seed, site, s); break;
    case 32: launch_down<32>(x, A, h, M, in, r, p, seed, site, s); break;
    default: launch_down<64>(x, A, h, M, in, r, p, seed, site, s); break;
  }
}

template <typename T>
void lora_grad_A_t(const float* dh, const T* x, float* gA, int M, int in, int r, float p, const uint64_t* seed,
                   uint64_t site, bool accumulate, float* workspace, cudaStream_t s) {
  check_sizes("cuda::lora_grad_A", M, in, r);
  const GaPlan g = grad_A_plan(M, in, workspace != nullptr);
  const bool direct = g.splits == 1;
  if (M == 0) {  // an empty sum: gA = 0, or unchanged when accumulating
    if (!accumulate) HUKUK_CUDA_CHECK(cudaMemsetAsync(gA, 0, size_t(r) * in * sizeof(float), s));
    return;
  }
  const dim3 grid(unsigned((in + kGaCols - 1) / kGaCols), unsigned(g.splits));
  float* out = direct ? gA : workspace;
  const int rps = g.rows_per_split;
  switch (padded_rank(r)) {
    case 8: hukuk::cuda::pdl::launch(lora_grad_A_kernel<8, T>, grid, dim3(kThreads), 0, s, dh, x, out, M, in, r, p, seed, site, rps, direct, accumulate); break;
    case 16: hukuk::cuda::pdl::launch(lora_grad_A_kernel<16, T>, grid, dim3(kThreads), 0, s, dh, x, out, M, in, r, p, seed, site, rps, direct, accumulate); break;
    case 32: hukuk::cuda::pdl::launch(lora_grad_A_kernel<32, T>, grid, dim3(kThreads), 0, s, dh, x, out, M, in, r, p, seed, site, rps, direct, accumulate); break;
    default: hukuk::cuda::pdl::launch(lora_grad_A_kernel<64, T>, grid, dim3(kThreads), 0, s, dh, x, out, M, in, r, p, seed, site, rps, direct, accumulate); break;
  }
  HUKUK_CUDA_LAUNCH_CHECK();
  if (!direct) {
    const int64_t n = int64_t(r) * in;
    hukuk::cuda::pdl::launch(lora_grad_A_reduce, blocks_for(n, kThreads), dim3(kThreads), 0, s, workspace, gA, n, g.splits, accumulate);
    HUKUK_CUDA_LAUNCH_CHECK();
  }
}

template <typename T>
void lora_backward_t(const float* dh, const T* x, const float* A, float* gA, float* dx, int M, int in, int r, float p,
                     const uint64_t* seed, uint64_t site, bool accumulate_gA, bool accumulate_dx, float* workspace,
                     cudaStream_t s) {
  check_sizes("cuda::lora_backward", M, in, r);
  if (M == 0) {
    if (!accumulate_gA) HUKUK_CUDA_CHECK(cudaMemsetAsync(gA, 0, size_t(r) * in * sizeof(float), s));
    return;
  }
  if (r > 16) {  // see lora_backward_kernel: two kernels (three with the reduce)
    lora_grad_A_t(dh, x, gA, M, in, r, p, seed, site, accumulate_gA, workspace, s);
    if (dx) lora_dx(dh, A, dx, M, in, r, p, seed, site, accumulate_dx, s);
    return;
  }
  const GaPlan g = grad_A_plan(M, in, workspace != nullptr, bw_target_blocks(r));
  const bool direct = g.splits == 1;
  const dim3 grid(unsigned((in + kGaCols - 1) / kGaCols), unsigned(g.splits));
  float* out = direct ? gA : workspace;
  const int rps = g.rows_per_split;
  if (r <= 8)
    hukuk::cuda::pdl::launch(lora_backward_kernel<8, T>, grid, dim3(kThreads), 0, s, dh, x, A, out, dx, M, in, r, p, seed, site, rps, direct, accumulate_gA, accumulate_dx);
  else
    hukuk::cuda::pdl::launch(lora_backward_kernel<16, T>, grid, dim3(kThreads), 0, s, dh, x, A, out, dx, M, in, r, p, seed, site, rps, direct, accumulate_gA, accumulate_dx);
  HUKUK_CUDA_LAUNCH_CHECK();
  if (!direct) {
    const int64_t n = int64_t(r) * in;
    hukuk::cuda::pdl::launch(lora_grad_A_reduce, blocks_for(n, kThreads), dim3(kThreads), 0, s, workspace, gA, n, g.splits, accumulate_gA);
    HUKUK_CUDA_LAUNCH_CHECK();
  }
}

const __nv_bfloat16* dev(const bf16_t* p) { return reinterpret_cast<const __nv_bfloat16*>(p); }
__nv_bfloat16* dev(bf16_t* p) { return reinterpret_cast<__nv_bfloat16*>(p); }
}  // namespace

void lora_down(const float* x, const float* A, float* h, int M, int in, int r, float p, const uint64_t* seed,
               uint64_t site, cudaStream_t s) {
  lora_down_t(x, A, h, M, in, r, p, seed, site, s);
}
void lora_down(const bf16_t* x, const float* A, float* h, int M, int in, int r, float p, const uint64_t* seed,
               uint64_t site, cudaStream_t s) {
  lora_down_t(dev(x), A, h, M, in, r, p, seed, site, s);
}

size_t lora_grad_A_workspace_floats(int M, int in, int r) {
  const GaPlan g = grad_A_plan(M, in, true);
  return g.splits > 1 ? size_t(g.splits) * size_t(r) * size_t(in) : 0;
}

void lora_grad_A(const float* dh, const float* x, float* gA, int M, int in, int r, float p, const uint64_t* seed,
                 uint64_t site, bool accumulate, float* workspace, cudaStream_t s) {
  lora_grad_A_t(dh, x, gA, M, in, r, p, seed, site, accumulate, workspace, s);
}

void lora_dx(const float* dh, const float* A, float* dx, int M, int in, int r, float p, const uint64_t* seed,
             uint64_t site, bool accumulate, cudaStream_t s) {
  check_sizes("cuda::lora_dx", M, in, r);
  if (M == 0) return;
  switch (padded_rank(r)) {
    case 8: launch_dx<8>(dh, A, dx, M, in, r, p, seed, site, accumulate, s); break;
    case 16: launch_dx<16>(dh, A, dx, M, in, r, p, seed, site, accumulate, s); break;
    case 32: launch_dx<32>(dh, A, dx, M, in, r, p, seed, site, accumulate, s); break;
    default: launch_dx<64>(dh, A, dx, M, in, r, p, seed, site, accumulate, s); break;
  }
}

size_t lora_backward_workspace_floats(int M, int in, int r) {
  if (r > 16) return lora_grad_A_workspace_floats(M, in, r);  // the two-kernel path
  const GaPlan g = grad_A_plan(M, in, true, bw_target_blocks(r));
  return g.splits > 1 ? size_t(g.splits) * size_t(r) * size_t(in) : 0;
}

void lora_backward(const float* dh, const float* x, const float* A, float* gA, float* dx, int M, int in, int r,
                   float p, const uint64_t* seed, uint64_t site, bool accumulate_gA, bool accumulate_dx,
                   float* workspace, cudaStream_t s) {
  lora_backward_t(dh, x, A, gA, dx, M, in, r, p, seed, site, accumulate_gA, accumulate_dx, workspace, s);
}
void lora_backward(const float* dh, const bf16_t* x, const float* A, float* gA, float* dx, int M, int in, int r,
                   float p, const uint64_t* seed, uint64_t site, bool accumulate_gA, bool accumulate_dx,
                   float* workspace, cudaStream_t s) {
  lora_backward_t(dh, dev(x), A, gA, dx, M, in, r, p, seed, site, accumulate_gA, accumulate_dx, workspace, s);
}

}  // namespace hukuk::ops::cuda

// ============================================================================== the B side
// lora_up_add and lora_up_backward (lora.h): the products with B, which carry no dropout. At
// rank r each element of y / dy meets r values of B, so, as on the A side, the floor is one pass
// over y (read + write) or dy (read), not a GEMM's tiling.
namespace hukuk::ops::cuda {
namespace {

// ------------------------------------------------------------------------------ lora_up_add
// Block: 64 columns x 4 row groups over 64 rows of one member (blockIdx.z). Each thread holds its
// column's row of B (RP registers); the block's 64 rows of h are staged in shared memory and read
// back as float4 broadcasts; the 16 old y values of a thread are loaded before the barrier, so
// the loads overlap. Per element: r FMAs, one load and one store of y (bf16: the old value
// widened, the sum added in fp32, rounded once). For bf16, 2, 4 and 8 columns per thread (4- to
// 16-byte accesses of y) measured SLOWER on an H200 (2026-11-28 03:12 UTC, 768 wide r16, µs per
// call, 1 / 2 / 4 columns: x1 M=2048 8.0 / 12.6 / 13.3, x3 M=8192 82.0 / 105.0 / 101.1; r8: 4
// columns 7.7, 8 columns 13.0): fewer blocks, and this kernel is bound by latency, not bytes.
constexpr int kUpCols = 64, kUpGroups = kThreads / kUpCols, kUpRows = 64, kUpPer = kUpRows / kUpGroups;

template <int RP, typename T>
__global__ void __launch_bounds__(kThreads) lora_up_add_kernel(const float* __restrict__ h,
                                                               const float* __restrict__ B, T* __restrict__ y,
                                                               int M, int out, int r, float scale, int64_t sh,
                                                               int64_t sB, int64_t sy) {
  hukuk::cuda::pdl::trigger();
  hukuk::cuda::pdl::wait();  // (cuda/pdl.cuh) before any read of the step's data or write
  using V = Vec<T, 1>;
  __shared__ __align__(16) float hs[kUpRows][RP];
  const int member = blockIdx.z;
  h += member * sh;
  B += member * sB;
  y += member * sy;
  const int tc = threadIdx.x % kUpCols, g = threadIdx.x / kUpCols;
  const int o = blockIdx.x * kUpCols + tc;
  const bool oin = o < out;
  const int m_begin = blockIdx.y * kUpRows, m_end = min(M, m_begin + kUpRows);
  for (int idx = threadIdx.x; idx < kUpRows * RP; idx += kThreads) {
    const int mm = idx / RP, j = idx % RP;
    hs[mm][j] = (j < r && m_begin + mm < m_end) ? __ldg(h + int64_t(m_begin + mm) * r + j) : 0.f;
  }
  float b[RP];
#pragma unroll
  for (int j = 0; j < RP; ++j) b[j] = (j < r && oin) ? __ldg(B + int64_t(o) * r + j) : 0.f;
  typename V::raw old[kUpPer];
#pragma unroll
  for (int i = 0; i < kUpPer; ++i) {
    const int m = m_begin + g + kUpGroups * i;
    old[i] = (oin && m < m_end) ? V::ld(y + int64_t(m) * out + o) : V::zero();
  }
  __syncthreads();
  if (!oin) return;  // no barriers below
#pragma unroll
  for (int i = 0; i < kUpPer; ++i) {
    const int mm = g + kUpGroups * i, m = m_begin + mm;
    const float4* h4 = reinterpret_cast<const float4*>(&hs[mm][0]);
    float v = 0.f;
#pragma unroll
    for (int j4 = 0; j4 < RP / 4; ++j4) {
      const float4 d = h4[j4];
      v = fmaf(d.x, b[4 * j4 + 0], v);
      v = fmaf(d.y, b[4 * j4 + 1], v);
      v = fmaf(d.z, b[4 * j4 + 2], v);
      v = fmaf(d.w, b[4 * j4 + 3], v);
    }
    if (m < m_end) {
      float f[1];
      V::unpack(old[i], f);
      f[0] = f[0] + scale * v;
      V::store(y + int64_t(m) * out + o, f);
    }
  }
}

// ------------------------------------------------------------------------------ lora_up_backward
// Block: 256 threads over a column group of 256 columns of dy (blockIdx.x), the rows of one split
// (blockIdx.y) of one member (blockIdx.z). The threads form C row groups of 256 / C threads; each
// thread owns C consecutive columns (C = 1 for fp32: one row group, a thread per column; C = 2
// for bf16: one 4-byte load per row, and the dh reduce below runs once per 2 columns). The rows
// go by in chunks of 8 per row group (the next chunk's dy and h loaded while the current one is
// used). Per row, a thread adds dy[m,o]·h[m,:] into its C x r gB sums and forms
// sum_c dy[m,o+c]·B[o+c,:]; the warp reduces those r values by a transpose-reduce (each step
// halves the values a lane keeps: log2(RP) steps, then plain xor steps over the lanes that
// remain), the row group's warps' sums are added in warp order, and the dh of the chunk's rows is
// written (one column group) or its partial per column group. gB: the row groups' sums are added
// in group order, then written (one split) or the split's partial; the reduce kernels add partials
// in index order. Every sum's order is a function of (M, out, r, C) only. The plan (and so the
// workspace) is the same for every C.
constexpr int kUbCols = kThreads, kUbChunk = 8, kUbTarget = 264, kUbMinRows = 64;

struct UbPlan {
  int col_groups = 1, splits = 1, rows_per_split = 0;
};
UbPlan up_backward_plan(int M, int out) {
  UbPlan u;
  u.col_groups = (out + kUbCols - 1) / kUbCols;
  const int want = (kUbTarget + u.col_groups - 1) / u.col_groups;  // splits that fill ~2 blocks per SM
  int rows = (M + want - 1) / want;
  rows = ((rows + kUbChunk - 1) / kUbChunk) * kUbChunk;
  rows = rows < kUbMinRows ? kUbMinRows : rows;
  u.rows_per_split = rows;
  u.splits = M > 0 ? (M + rows - 1) / rows : 1;
  return u;
}
size_t up_backward_member_floats(int M, int out, int r) {
  const UbPlan u = up_backward_plan(M, out);
  return (u.splits > 1 ? size_t(u.splits) * out * r : 0) + (u.col_groups > 1 ? size_t(u.col_groups) * M * r : 0);
}

// One transpose-reduce step over NV values: lanes l and l ^ off swap halves; the lane with bit off
// set keeps (and sums) the upper half, the other the lower half, in v[0 .. NV/2). Inlined with
// constant indices, so v stays in registers.
template <int NV>
__device__ __forceinline__ void transpose_step(float* v, int lane, int off) {
  const bool upper = (lane & off) != 0;
#pragma unroll
  for (int k = 0; k < NV / 2; ++k) {
    const float send = upper ? v[k] : v[k + NV / 2];
    const float keep = upper ? v[k + NV / 2] : v[k];
    v[k] = keep + __shfl_xor_sync(0xffffffffu, send, off);
  }
}

template <int RP, typename T, int C>
__global__ void __launch_bounds__(kThreads, 2)
    lora_up_backward_kernel(const T* __restrict__ dy, const float* __restrict__ h, const float* __restrict__ B,
                            float* __restrict__ dh, float* __restrict__ gB, float* __restrict__ ws_gB,
                            float* __restrict__ ws_dh, int M, int out, int r, float scale, bool acc_gB,
                            int rows_per_split, int splits, int col_groups, int64_t sdy, int64_t sh, int64_t sB,
                            int64_t sdh) {
  hukuk::cuda::pdl::trigger();
  hukuk::cuda::pdl::wait();  // (cuda/pdl.cuh) before any read of the step's data or write
  static_assert(RP <= 32 && 32 % RP == 0, "one lane per reduced value");
  static_assert(C == 1 || C == 2, "1 or 2 columns per thread (registers)");
  static_assert(kUbCols % (32 * C) == 0, "whole warps per row group");
  using V = Vec<T, C>;
  constexpr int kGroups = C;                       // row groups
  constexpr int kColThreads = kThreads / kGroups;  // threads per row group: kUbCols / C
  constexpr int kGroupWarps = kColThreads / 32;
  constexpr int kRows = kUbChunk * kGroups;        // rows per chunk (kUbChunk per row group)
  constexpr int kLanesPer = 32 / RP;               // lanes that end with the same j
  constexpr int kHPer = kRows * RP;                // h values per chunk
  constexpr int kHn = (kHPer + kThreads - 1) / kThreads;
  __shared__ __align__(16) float hs[kRows][RP];
  __shared__ float red[kRows][kGroupWarps][RP];
  const int member = blockIdx.z, cg = blockIdx.x, split = blockIdx.y;
  dy += member * sdy;
  h += member * sh;
  B += member * sB;
  const int lane = threadIdx.x & 31;
  const int tc = kGroups == 1 ? int(threadIdx.x) : int(threadIdx.x) % kColThreads;
  const int g = kGroups == 1 ? 0 : int(threadIdx.x) / kColThreads, gw = tc >> 5;
  const int o = cg * kUbCols + tc * C;  // the first of this thread's C columns (out % C == 0)
  const bool oin = o < out;
  const int m_begin = split * rows_per_split, m_end = min(M, m_begin + rows_per_split);
  float b[C][RP], acc[C][RP];
#pragma unroll
  for (int c = 0; c < C; ++c)
#pragma unroll
    for (int j = 0; j < RP; ++j) {
      b[c][j] = (j < r && oin) ? __ldg(B + int64_t(o + c) * r + j) : 0.f;
      acc[c][j] = 0.f;
    }
  typename V::raw dn[kUbChunk];
  float hn[kHn];
  auto load_chunk = [&](int c0) {
#pragma unroll
    for (int i = 0; i < kUbChunk; ++i) {
      const int m = c0 + g * kUbChunk + i;
      dn[i] = (oin && m < m_end) ? V::ldg(dy + int64_t(m) * out + o) : V::zero();
    }
#pragma unroll
    for (int q = 0; q < kHn; ++q) {
      const int t = threadIdx.x + kThreads * q;
      if (t < kHPer) {
        const int i = t / RP, j = t % RP;
        hn[q] = (j < r && c0 + i < m_end) ? __ldg(h + int64_t(c0 + i) * r + j) : 0.f;
      }
    }
  };
  if (m_begin < m_end) load_chunk(m_begin);
  for (int c0 = m_begin; c0 < m_end; c0 += kRows) {
    __syncthreads();  // the previous chunk's readers of hs and red are done
#pragma unroll
    for (int q = 0; q < kHn; ++q) {
      const int t = threadIdx.x + kThreads * q;
      if (t < kHPer) hs[t / RP][t % RP] = hn[q];
    }
    typename V::raw dv[kUbChunk];
#pragma unroll
    for (int i = 0; i < kUbChunk; ++i) dv[i] = dn[i];
    __syncthreads();
    if (c0 + kRows < m_end) load_chunk(c0 + kRows);  // uniform branch
#pragma unroll
    for (int i = 0; i < kUbChunk; ++i) {
      const int row = g * kUbChunk + i;  // in the chunk
      float f[C];
      V::unpack(dv[i], f);
      const float4* h4 = reinterpret_cast<const float4*>(&hs[row][0]);
      float v[RP];
#pragma unroll
      for (int j4 = 0; j4 < RP / 4; ++j4) {
        const float4 hv = h4[j4];
#pragma unroll
        for (int c = 0; c < C; ++c) {
          acc[c][4 * j4 + 0] = fmaf(f[c], hv.x, acc[c][4 * j4 + 0]);
          acc[c][4 * j4 + 1] = fmaf(f[c], hv.y, acc[c][4 * j4 + 1]);
          acc[c][4 * j4 + 2] = fmaf(f[c], hv.z, acc[c][4 * j4 + 2]);
          acc[c][4 * j4 + 3] = fmaf(f[c], hv.w, acc[c][4 * j4 + 3]);
        }
      }
#pragma unroll
      for (int j = 0; j < RP; ++j) {
        v[j] = f[0] * b[0][j];
#pragma unroll
        for (int c = 1; c < C; ++c) v[j] = fmaf(f[c], b[c][j], v[j]);
      }
      // transpose-reduce: at offset off the lane with that bit set keeps the upper half
      transpose_step<RP>(v, lane, 16);
      if constexpr (RP / 2 > 1) transpose_step<RP / 2>(v, lane, 8);
      if constexpr (RP / 4 > 1) transpose_step<RP / 4>(v, lane, 4);
      if constexpr (RP / 8 > 1) transpose_step<RP / 8>(v, lane, 2);
      if constexpr (RP / 16 > 1) transpose_step<RP / 16>(v, lane, 1);
#pragma unroll
      for (int off = kLanesPer / 2; off >= 1; off >>= 1) v[0] += __shfl_xor_sync(0xffffffffu, v[0], off);
      if ((lane & (kLanesPer - 1)) == 0) red[row][gw][lane / kLanesPer] = v[0];
    }
    __syncthreads();
#pragma unroll
    for (int q = 0; q < kHn; ++q) {
      const int t = threadIdx.x + kThreads * q;
      if (t < kHPer) {
        const int row = t / RP, j = t % RP, m = c0 + row;
        float sum = red[row][0][j];
#pragma unroll
        for (int w = 1; w < kGroupWarps; ++w) sum += red[row][w][j];
        if (j < r && m < m_end) {
          if (col_groups == 1) dh[member * sdh + int64_t(m) * r + j] = scale * sum;
          else ws_dh[(int64_t(member) * col_groups + cg) * M * r + int64_t(m) * r + j] = sum;
        }
      }
    }
  }
  if constexpr (kGroups > 1) {  // the row groups' gB sums, added in group order into group 0
    __shared__ float gred[C * RP][kColThreads];
    for (int src = 1; src < kGroups; ++src) {
      __syncthreads();
      if (g == src)
#pragma unroll
        for (int c = 0; c < C; ++c)
#pragma unroll
          for (int j = 0; j < RP; ++j) gred[c * RP + j][tc] = acc[c][j];
      __syncthreads();
      if (g == 0)
#pragma unroll
        for (int c = 0; c < C; ++c)
#pragma unroll
          for (int j = 0; j < RP; ++j) acc[c][j] += gred[c * RP + j][tc];
    }
    if (g != 0) return;
  }
  if (!oin) return;
  if (splits == 1) {
    float* gp = gB + member * sB + int64_t(o) * r;
#pragma unroll
    for (int c = 0; c < C; ++c)
#pragma unroll
      for (int j = 0; j < RP; ++j)
        if (j < r) gp[c * r + j] = acc_gB ? gp[c * r + j] + scale * acc[c][j] : scale * acc[c][j];
  } else {
    float* part = ws_gB + (int64_t(member) * splits + split) * out * r + int64_t(o) * r;
#pragma unroll
    for (int c = 0; c < C; ++c)
#pragma unroll
      for (int j = 0; j < RP; ++j)
        if (j < r) part[c * r + j] = acc[c][j];
  }
}

// sum over `parts` partials (index order) of each of n members' `count` values; dst_i = dst + i *
// dst_stride; dst (+)= scale * sum
__global__ void lora_parts_reduce(const float* __restrict__ part, float* __restrict__ dst, int64_t count, int parts,
                                  int64_t dst_stride, float scale, bool accumulate) {
  hukuk::cuda::pdl::trigger();
  hukuk::cuda::pdl::wait();  // (cuda/pdl.cuh) before any read of the step's data or write
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int member = blockIdx.y;
  if (e >= count) return;
  const float* p = part + int64_t(member) * parts * count + e;
  float sum = p[0];
  for (int q = 1; q < parts; ++q) sum += p[int64_t(q) * count];
  float& d = dst[member * dst_stride + e];
  d = accumulate ? d + scale * sum : scale * sum;
}

// r > 16: plain kernels, one thread per output (sequential sums, like the CPU reference).
template <typename T>
__global__ void lora_up_dh_plain(const T* __restrict__ dy, const float* __restrict__ B, float* __restrict__ dh,
                                 int M, int out, int r, float scale, int64_t sdy, int64_t sB, int64_t sdh) {
  hukuk::cuda::pdl::trigger();
  hukuk::cuda::pdl::wait();  // (cuda/pdl.cuh) before any read of the step's data or write
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int member = blockIdx.y;
  if (e >= int64_t(M) * r) return;
  const int64_t m = e / r;
  const int j = int(e % r);
  const T* d = dy + member * sdy + m * out;
  const float* b = B + member * sB + j;
  float acc = 0.f;
  for (int o = 0; o < out; ++o) acc = fmaf(ld_f(d + o), b[int64_t(o) * r], acc);
  dh[member * sdh + e] = scale * acc;
}
template <typename T>
__global__ void lora_up_gB_plain(const T* __restrict__ dy, const float* __restrict__ h, float* __restrict__ gB,
                                 int M, int out, int r, float scale, bool accumulate, int64_t sdy, int64_t sh,
                                 int64_t sB) {
  hukuk::cuda::pdl::trigger();
  hukuk::cuda::pdl::wait();  // (cuda/pdl.cuh) before any read of the step's data or write
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int member = blockIdx.y;
  if (e >= int64_t(out) * r) return;
  const int64_t o = e / r;
  const int j = int(e % r);
  const T* d = dy + member * sdy + o;
  const float* hh = h + member * sh + j;
  float acc = 0.f;
  for (int m = 0; m < M; ++m) acc = fmaf(ld_f(d + int64_t(m) * out), hh[int64_t(m) * r], acc);
  float& g = gB[member * sB + e];
  g = accumulate ? g + scale * acc : scale * acc;
}

}  // namespace

namespace {
// the partial sums of lora_up_backward: gB over the row splits, dh over the
// column groups, each in index order
void reduce_up_backward_parts(const float* ws_gB, const float* ws_dh, float* gB, float* dh, int M, int out, int r,
                              int n, int splits, int col_groups, int64_t sB, int64_t sdh, float scale,
                              bool accumulate_gB, cudaStream_t s) {
  if (splits > 1) {
    const int64_t count = int64_t(out) * r;
    const dim3 g(unsigned(blocks_for(count, kThreads)), unsigned(n));
    hukuk::cuda::pdl::launch(lora_parts_reduce, g, dim3(kThreads), 0, s, ws_gB, gB, count, splits, sB, scale, accumulate_gB);
    HUKUK_CUDA_LAUNCH_CHECK();
  }
  if (col_groups > 1) {
    const int64_t count = int64_t(M) * r;
    const dim3 g(unsigned(blocks_for(count, kThreads)), unsigned(n));
    hukuk::cuda::pdl::launch(lora_parts_reduce, g, dim3(kThreads), 0, s, ws_dh, dh, count, col_groups, sdh, scale, false);
    HUKUK_CUDA_LAUNCH_CHECK();
  }
}
}  // namespace

namespace {
template <typename T>
void lora_up_add_t(const float* h, const float* B, T* y, int M, int out, int r, float scale, int n, int64_t sh,
                   int64_t sB, int64_t sy, cudaStream_t s) {
  check_sizes("cuda::lora_up_add", M, out, r);
  HUKUK_CHECK(n >= 1 && n <= 65535, "ENGINE_INVALID_ARG", "cuda::lora_up_add: need 1 <= n <= 65535");
  if (M == 0) return;
  const dim3 grid(unsigned((out + kUpCols - 1) / kUpCols), unsigned((M + kUpRows - 1) / kUpRows), unsigned(n));
  switch (padded_rank(r)) {
    case 8: hukuk::cuda::pdl::launch(lora_up_add_kernel<8, T>, grid, dim3(kThreads), 0, s, h, B, y, M, out, r, scale, sh, sB, sy); break;
    case 16: hukuk::cuda::pdl::launch(lora_up_add_kernel<16, T>, grid, dim3(kThreads), 0, s, h, B, y, M, out, r, scale, sh, sB, sy); break;
    case 32: hukuk::cuda::pdl::launch(lora_up_add_kernel<32, T>, grid, dim3(kThreads), 0, s, h, B, y, M, out, r, scale, sh, sB, sy); break;
    default: hukuk::cuda::pdl::launch(lora_up_add_kernel<64, T>, grid, dim3(kThreads), 0, s, h, B, y, M, out, r, scale, sh, sB, sy); break;
  }
  HUKUK_CUDA_LAUNCH_CHECK();
}

template <typename T, int C>
void launch_up_backward(const T* dy, const float* h, const float* B, float* dh, float* gB, float* ws_gB,
                        float* ws_dh, int M, int out, int r, float scale, bool accumulate_gB, const UbPlan& u, int n,
                        int64_t sdy, int64_t sh, int64_t sB, int64_t sdh, cudaStream_t s) {
  const dim3 grid(unsigned(u.col_groups), unsigned(u.splits), unsigned(n));
  if (r <= 8)
    hukuk::cuda::pdl::launch(lora_up_backward_kernel<8, T, C>, grid, dim3(kThreads), 0, s, dy, h, B, dh, gB, ws_gB, ws_dh, M, out, r, scale,
                                                               accumulate_gB, u.rows_per_split, u.splits,
                                                               u.col_groups, sdy, sh, sB, sdh);
  else
    hukuk::cuda::pdl::launch(lora_up_backward_kernel<16, T, C>, grid, dim3(kThreads), 0, s, dy, h, B, dh, gB, ws_gB, ws_dh, M, out, r, scale,
                                                                accumulate_gB, u.rows_per_split, u.splits,
                                                                u.col_groups, sdy, sh, sB, sdh);
  HUKUK_CUDA_LAUNCH_CHECK();
}

template <typename T>
void lora_up_backward_t(const T* dy, const float* h, const float* B, float* dh, float* gB, int M, int out, int r,
                        float scale, bool accumulate_gB, int n, int64_t sdy, int64_t sh, int64_t sB, int64_t sdh,
                        float* workspace, cudaStream_t s) {
  check_sizes("cuda::lora_up_backward", M, out, r);
  HUKUK_CHECK(n >= 1 && n <= 65535, "ENGINE_INVALID_ARG", "cuda::lora_up_backward: need 1 <= n <= 65535");
  if (M == 0) {  // dh is empty; gB gets an empty sum
    if (!accumulate_gB)
      for (int i = 0; i < n; ++i) HUKUK_CUDA_CHECK(cudaMemsetAsync(gB + i * sB, 0, size_t(out) * r * sizeof(float), s));
    return;
  }
  if (r > 16) {
    const dim3 g1(unsigned(blocks_for(int64_t(M) * r, kThreads)), unsigned(n));
    hukuk::cuda::pdl::launch(lora_up_dh_plain<T>, g1, dim3(kThreads), 0, s, dy, B, dh, M, out, r, scale, sdy, sB, sdh);
    HUKUK_CUDA_LAUNCH_CHECK();
    const dim3 g2(unsigned(blocks_for(int64_t(out) * r, kThreads)), unsigned(n));
    hukuk::cuda::pdl::launch(lora_up_gB_plain<T>, g2, dim3(kThreads), 0, s, dy, h, gB, M, out, r, scale, accumulate_gB, sdy, sh, sB);
    HUKUK_CUDA_LAUNCH_CHECK();
    return;
  }
  const size_t need = lora_up_backward_workspace_floats(M, out, r, n);
  const UbPlan u = up_backward_plan(M, out);
  HUKUK_CHECK(need == 0 || workspace != nullptr, "ENGINE_INVALID_ARG",
              "cuda::lora_up_backward: these sizes need a workspace (lora_up_backward_workspace_floats)");
  float* ws_gB = u.splits > 1 ? workspace : nullptr;
  float* ws_dh = u.col_groups > 1 ? workspace + (u.splits > 1 ? size_t(n) * u.splits * out * r : 0) : nullptr;
  // bf16: 2 columns per thread (4-byte loads of dy) where dy's rows and members are aligned for
  // them, else 1. H200, 2026-11-28 03:12 UTC, 768 wide r16, µs per call, 1 / 2 / 4 columns: x1
  // M=2048 29.0 / 27.0 / 30.2, x3 M=2048 59.5 / 57.5 / 72.2, x1 M=8192 54.8 / 53.7 / 63.4, x3
  // M=8192 143.9 / 138.3 / 176.9 (4 columns: 255 registers, one block per SM).
  if constexpr (!std::is_same_v<T, float>) {
    if (vec_fits<T>(dy, 2, out, out, sdy)) {
      launch_up_backward<T, 2>(dy, h, B, dh, gB, ws_gB, ws_dh, M, out, r, scale, accumulate_gB, u, n, sdy, sh, sB,
                               sdh, s);
      reduce_up_backward_parts(ws_gB, ws_dh, gB, dh, M, out, r, n, u.splits, u.col_groups, sB, sdh, scale,
                               accumulate_gB, s);
      return;
    }
  }
  launch_up_backward<T, 1>(dy, h, B, dh, gB, ws_gB, ws_dh, M, out, r, scale, accumulate_gB, u, n, sdy, sh, sB, sdh, s);
  reduce_up_backward_parts(ws_gB, ws_dh, gB, dh, M, out, r, n, u.splits, u.col_groups, sB, sdh, scale, accumulate_gB, s);
}
}  // namespace

void lora_up_add(const float* h, const float* B, float* y, int M, int out, int r, float scale, int n, int64_t sh,
                 int64_t sB, int64_t sy, cudaStream_t s) {
  lora_up_add_t(h, B, y, M, out, r, scale, n, sh, sB, sy, s);
}
void lora_up_add(const float* h, const float* B, bf16_t* y, int M, int out, int r, float scale, int n, int64_t sh,
                 int64_t sB, int64_t sy, cudaStream_t s) {
  lora_up_add_t(h, B, dev(y), M, out, r, scale, n, sh, sB, sy, s);
}

size_t lora_up_backward_workspace_floats(int M, int out, int r, int n) {
  if (r > 16 || M <= 0) return 0;  // the plain kernels need none
  return size_t(n) * up_backward_member_floats(M, out, r);
}

void lora_up_backward(const float* dy, const float* h, const float* B, float* dh, float* gB, int M, int out, int r,
                      float scale, bool accumulate_gB, int n, int64_t sdy, int64_t sh, int64_t sB, int64_t sdh,
                      float* workspace, cudaStream_t s) {
  lora_up_backward_t(dy, h, B, dh, gB, M, out, r, scale, accumulate_gB, n, sdy, sh, sB, sdh, workspace, s);
}
void lora_up_backward(const bf16_t* dy, const float* h, const float* B, float* dh, float* gB, int M, int out, int r,
                      float scale, bool accumulate_gB, int n, int64_t sdy, int64_t sh, int64_t sB, int64_t sdh,
                      float* workspace, cudaStream_t s) {
  lora_up_backward_t(dev(dy), h, B, dh, gB, M, out, r, scale, accumulate_gB, n, sdy, sh, sB, sdh, workspace, s);
}

}  // namespace hukuk::ops::cuda

// ============================================================================== lora_backward_group
// The A side of the backward for the n members of a group that read the same x and add into the
// same dx (q,k,v: n = 3; cross k,v: n = 2; one Linear: n = 1), in ONE launch (lora.h). It is
// lora_backward_kernel<16> with the member loop inside: per 32-row chunk the x tile and the old dx
// tile are loaded once, then for each member (in member order) its mask is hashed with its own
// key (seed, site_i), its r gA sums are advanced and its dx contribution is added to the running
// dx value; dx is stored once. Member i's gA sums run in exactly lora_backward_kernel's order (same
// split plan, same fmaf chain, same row-group order, same split order in the reduce), so gA is
// bit-identical to n calls of lora_backward; dx is ((dx + d_0) + d_1) + d_2, the same additions the
// n calls make in memory. The split partials are reduced inside the kernel: each block writes its
// partial, and the last block of a column block to finish (an atomic ticket per column block after
// a __threadfence) adds the column block's partials in split order and resets the ticket to 0 for
// the next launch / graph replay. Registers: NM * 16 gA sums stay in registers; with NM > 1 the
// members' A columns sit in shared memory and are read into 16 registers per member per chunk (8
// rows), with NM = 1 they stay in registers as in lora_backward_kernel.
namespace hukuk::ops::cuda {
namespace {

constexpr int kGroupRP = 16;            // padded rank (r <= 16)
constexpr int kGroupTicketSlots = 4096;  // column blocks: in <= 64 * 4096
// One ticket per column block, zero between launches: atomicInc wraps it to 0 when the last block
// takes it (so a count left wrong by a fault cannot stop every later launch's reduction, as an
// atomicAdd + explicit reset could: found in review). Process-wide per device, so two launches
// running at once on two streams take different banks (ops/group_tickets.h; PDL launches on one
// stream wait for the previous kernel before touching them).
__device__ unsigned int g_group_tickets[kGroupTicketBanks * kGroupTicketSlots];  // banks: ops/group_tickets.h

template <int NM, bool kDx, typename T>
__global__ void __launch_bounds__(kThreads, 2)
    lora_backward_group_kernel(LoraGroupMembers G, const T* __restrict__ x, float* __restrict__ dx,
                               float* __restrict__ ws, const uint64_t* seedp, int M, int in, int r,
                               int rows_per_split, int splits, bool acc_gA, bool acc_dx) {
  constexpr int RP = kGroupRP;
  // rows per chunk: 16 where the members' dx work needs the registers (NM > 1 with dx: 32 rows
  // spilled on sm_90), else lora_backward_kernel's 32. A thread's rows are g, g+4, g+8, ... of its
  // split either way, so the gA sums' order does not depend on it (rows_per_split is a multiple of 32).
  constexpr int kCh = (kDx && NM > 1) ? 16 : kGaChunk;
  constexpr int kPer = kCh / kGaGroups;
  constexpr int kDhPer = kCh * RP / kThreads;
  static_assert(kDhPer >= 1 && kCh * RP % kThreads == 0, "whole dh rows per thread");
  constexpr bool kARegs = NM == 1;
  __shared__ __align__(16) float dhs[NM][kCh][RP];
  __shared__ float red[RP][kGaCols];
  __shared__ float As[(kDx && !kARegs) ? NM : 1][RP][kGaCols];
  __shared__ unsigned int ticket;
  // the members' masks, uniform: read back as broadcasts (registers are short); raw storage, as
  // __shared__ variables take no constructor (DropMask has member initializers)
  __shared__ __align__(16) unsigned char drop_raw[NM * sizeof(DropMask)];
  DropMask* drop = reinterpret_cast<DropMask*>(drop_raw);
  hukuk::cuda::pdl::trigger();
  const int tc = threadIdx.x % kGaCols, g = threadIdx.x / kGaCols;
  const int k = blockIdx.x * kGaCols + tc;
  const bool kin = k < in;
  const int split = blockIdx.y;
  const int m_begin = split * rows_per_split;
  const int m_end = min(M, m_begin + rows_per_split);
  hukuk::cuda::pdl::wait();  // everything below reads the step's data (dh, x, A, seed) or writes
  if (threadIdx.x == 0)
#pragma unroll
    for (int i = 0; i < NM; ++i) drop[i] = make_drop_mask(G.p[i], seedp, G.site[i]);
  float acc[NM][RP];
#pragma unroll
  for (int i = 0; i < NM; ++i)
#pragma unroll
    for (int j = 0; j < RP; ++j) acc[i][j] = 0.f;
  float a[RP];  // NM == 1: member 0's column of A for the whole block; else refilled per member
#pragma unroll
  for (int j = 0; j < RP; ++j) a[j] = (kDx && kARegs && j < r && kin) ? __ldg(G.A[0] + int64_t(j) * in + k) : 0.f;
  if constexpr (kDx && !kARegs) {  // (members unrolled: G's arrays indexed by constants only)
#pragma unroll
    for (int i = 0; i < NM; ++i)
#pragma unroll
      for (int q = 0; q < RP * kGaCols / kThreads; ++q) {
        const int idx = threadIdx.x + kThreads * q, j = idx / kGaCols, c = idx % kGaCols;
        const int kk = blockIdx.x * kGaCols + c;
        As[i][j][c] = (j < r && kk < in) ? __ldg(G.A[i] + int64_t(j) * in + kk) : 0.f;
      }  // visible after the loop's first barrier
  }

  float xn[kPer], pn[kPer], dn[NM][kDhPer];
  auto load_chunk = [&](int c0) {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int m = c0 + g + kGaGroups * i;
      const bool in_range = m < m_end && kin;
      xn[i] = in_range ? ldg_f(x + int64_t(m) * in + k) : 0.f;
      pn[i] = (kDx && in_range && acc_dx) ? dx[int64_t(m) * in + k] : 0.f;
    }
#pragma unroll
    for (int mi = 0; mi < NM; ++mi)
#pragma unroll
      for (int q = 0; q < kDhPer; ++q) {
        const int idx = threadIdx.x + kThreads * q, mm = idx / RP, j = idx % RP;
        dn[mi][q] = (j < r && c0 + mm < m_end) ? __ldg(G.dh[mi] + int64_t(c0 + mm) * r + j) : 0.f;
      }
  };
  if (m_begin < m_end) load_chunk(m_begin);
  for (int c0 = m_begin; c0 < m_end; c0 += kCh) {
    __syncthreads();  // the previous chunk's readers of dhs are done
#pragma unroll
    for (int mi = 0; mi < NM; ++mi)
#pragma unroll
      for (int q = 0; q < kDhPer; ++q) {
        const int idx = threadIdx.x + kThreads * q;
        dhs[mi][idx / RP][idx % RP] = dn[mi][q];
      }
    __syncthreads();
    float xv[kPer], dxv[kPer];
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      xv[i] = xn[i];
      dxv[i] = pn[i];
    }
    if (c0 + kCh < m_end) load_chunk(c0 + kCh);  // uniform branch
#pragma unroll
    for (int mi = 0; mi < NM; ++mi) {
      if constexpr (kDx && !kARegs) {
#pragma unroll
        for (int j = 0; j < RP; ++j) a[j] = As[mi][j][tc];
      }
      const DropMask dm = drop[mi];
#pragma unroll
      for (int i = 0; i < kPer; ++i) {
        const int m = c0 + g + kGaGroups * i;
        const int64_t i_flat = int64_t(m) * in + k;
        const bool kept = !dm.on || dm.keep(uint64_t(i_flat));
        const float xd = kept ? xv[i] * dm.scale : 0.f;
        const float4* d4 = reinterpret_cast<const float4*>(&dhs[mi][g + kGaGroups * i][0]);
        float v = 0.f;
#pragma unroll
        for (int j4 = 0; j4 < RP / 4; ++j4) {
          const float4 d = d4[j4];
          acc[mi][4 * j4 + 0] = fmaf(d.x, xd, acc[mi][4 * j4 + 0]);
          acc[mi][4 * j4 + 1] = fmaf(d.y, xd, acc[mi][4 * j4 + 1]);
          acc[mi][4 * j4 + 2] = fmaf(d.z, xd, acc[mi][4 * j4 + 2]);
          acc[mi][4 * j4 + 3] = fmaf(d.w, xd, acc[mi][4 * j4 + 3]);
          if constexpr (kDx) {
            v = fmaf(d.x, a[4 * j4 + 0], v);
            v = fmaf(d.y, a[4 * j4 + 1], v);
            v = fmaf(d.z, a[4 * j4 + 2], v);
            v = fmaf(d.w, a[4 * j4 + 3], v);
          }
        }
        if constexpr (kDx) {
          const float dv = kept ? v * dm.scale : 0.f;
          dxv[i] = (mi > 0 || acc_dx) ? dxv[i] + dv : dv;  // as n calls: member 0 (+)=, the rest +=
        }
      }
    }
    if constexpr (kDx) {
#pragma unroll
      for (int i = 0; i < kPer; ++i) {
        const int m = c0 + g + kGaGroups * i;
        if (kin && m < m_end) dx[int64_t(m) * in + k] = dxv[i];
      }
    }
  }
  // the row groups' sums, per member, in lora_backward_kernel's fixed order
#pragma unroll
  for (int mi = 0; mi < NM; ++mi)
    for (int src = 1; src < kGaGroups; ++src) {
      __syncthreads();
      if (g == src)
#pragma unroll
        for (int j = 0; j < RP; ++j) red[j][tc] = acc[mi][j];
      __syncthreads();
      if (g == 0)
#pragma unroll
        for (int j = 0; j < RP; ++j) acc[mi][j] += red[j][tc];
    }
  if (splits == 1) {  // the block holds the whole sum: straight into gA
    if (g == 0 && kin)
#pragma unroll
      for (int mi = 0; mi < NM; ++mi)
#pragma unroll
        for (int j = 0; j < RP; ++j)
          if (j < r) {
            float& o = G.gA[mi][int64_t(j) * in + k];
            o = acc_gA ? o + acc[mi][j] : acc[mi][j];
          }
    return;
  }
  // partials: ws[mi][split][j][k]
  if (g == 0 && kin) {
#pragma unroll
    for (int mi = 0; mi < NM; ++mi)
#pragma unroll
      for (int j = 0; j < RP; ++j)
        if (j < r) ws[((int64_t(mi) * splits + split) * r + j) * in + k] = acc[mi][j];
    __threadfence();  // the partials are visible device-wide before the ticket is taken
  }
  __syncthreads();
  if (threadIdx.x == 0) ticket = atomicInc(&G.tickets[blockIdx.x], unsigned(splits - 1));  // -> 0 after the last
  __syncthreads();
  if (ticket != unsigned(splits - 1)) return;
  // the last block of this column block: every split's partial is written
  __threadfence();
  // Thread (tc, g) adds the outputs (member mi, row j = g + 4q, column k) for every mi and q: all
  // 4 NM of them advance together, split by split (each sum in split order, as lora_grad_A_reduce),
  // so each step issues 4 NM independent loads (and the unrolled steps more) instead of one chain.
  constexpr int kQ = RP / kGaGroups;
  const int64_t step = int64_t(r) * in;  // one split's partials of one member
  const int64_t mstep = int64_t(splits) * step;
  const float* base = ws + int64_t(g) * in + k;
  float sum[NM][kQ];
#pragma unroll
  for (int mi = 0; mi < NM; ++mi)
#pragma unroll
    for (int q = 0; q < kQ; ++q) {
      const int j = g + kGaGroups * q;
      sum[mi][q] = (kin && j < r) ? __ldcg(base + mi * mstep + int64_t(kGaGroups * q) * in) : 0.f;
    }
#pragma unroll 4
  for (int sp = 1; sp < splits; ++sp) {
    float t[NM][kQ];
#pragma unroll
    for (int mi = 0; mi < NM; ++mi)
#pragma unroll
      for (int q = 0; q < kQ; ++q) {
        const int j = g + kGaGroups * q;
        t[mi][q] = (kin && j < r) ? __ldcg(base + mi * mstep + sp * step + int64_t(kGaGroups * q) * in) : 0.f;
      }
#pragma unroll
    for (int mi = 0; mi < NM; ++mi)
#pragma unroll
      for (int q = 0; q < kQ; ++q) sum[mi][q] += t[mi][q];
  }
  if (kin)
#pragma unroll
    for (int mi = 0; mi < NM; ++mi)
#pragma unroll
      for (int q = 0; q < kQ; ++q) {
        const int j = g + kGaGroups * q;
        if (j < r) {
          float& o = G.gA[mi][int64_t(j) * in + k];
          o = acc_gA ? o + sum[mi][q] : sum[mi][q];
        }
      }
}

GaPlan group_plan(int M, int in, int r, bool have_workspace) {
  return grad_A_plan(M, in, have_workspace, bw_target_blocks(r));  // lora_backward's plan: same gA bits
}

// g_group_tickets' banks on each device (ops/group_tickets.h)
GroupTicketArray g_group_ticket_array{&g_group_tickets, kGroupTicketSlots, "lora_backward_group"};

template <int NM, typename T>
void launch_group(const LoraGroupMembers& G, const T* x, float* dx, float* ws, const uint64_t* seed, int M, int in,
                  int r, const GaPlan& g, bool acc_gA, bool acc_dx, cudaStream_t s) {
  const dim3 grid(unsigned((in + kGaCols - 1) / kGaCols), unsigned(g.splits));
  if (dx)
    hukuk::cuda::pdl::launch(lora_backward_group_kernel<NM, true, T>, grid, dim3(kThreads), 0, s, G, x, dx, ws, seed,
                             M, in, r, g.rows_per_split, g.splits, acc_gA, acc_dx);
  else
    hukuk::cuda::pdl::launch(lora_backward_group_kernel<NM, false, T>, grid, dim3(kThreads), 0, s, G, x, dx, ws, seed,
                             M, in, r, g.rows_per_split, g.splits, acc_gA, acc_dx);
}

template <typename T>
void lora_backward_group_t(const LoraGroupMembers& G, int n, const T* x, float* dx, int M, int in, int r,
                           const uint64_t* seed, bool acc_gA, bool acc_dx, float* workspace, cudaStream_t s) {
  HUKUK_CHECK(lora_backward_group_supported(r, in, n) && M >= 0, "ENGINE_INVALID_ARG",
              "cuda::lora_backward_group: need 1 <= n <= 3, 1 <= r <= 16, 1 <= in <= 262144, M >= 0 (got n=" +
                  std::to_string(n) + " r=" + std::to_string(r) + " in=" + std::to_string(in) + " M=" +
                  std::to_string(M) + ")");
  if (M == 0) {  // empty sums: gA = 0 (or unchanged); dx empty
    if (!acc_gA)
      for (int i = 0; i < n; ++i) HUKUK_CUDA_CHECK(cudaMemsetAsync(G.gA[i], 0, size_t(r) * in * sizeof(float), s));
    return;
  }
  const GaPlan g = group_plan(M, in, r, workspace != nullptr);
  LoraGroupMembers Gt = G;
  Gt.tickets = g_group_ticket_array.bank(group_ticket_bank());
  switch (n) {
    case 1: launch_group<1>(Gt, x, dx, workspace, seed, M, in, r, g, acc_gA, acc_dx, s); break;
    case 2: launch_group<2>(Gt, x, dx, workspace, seed, M, in, r, g, acc_gA, acc_dx, s); break;
    default: launch_group<3>(Gt, x, dx, workspace, seed, M, in, r, g, acc_gA, acc_dx, s); break;
  }
}

}  // namespace

bool lora_backward_group_supported(int r, int in, int n) {
  return n >= 1 && n <= kLoraGroupMax && r >= 1 && r <= kGroupRP && in >= 1 && in <= kGaCols * kGroupTicketSlots;
}

size_t lora_backward_group_workspace_floats(int M, int in, int r, int n) {
  if (M <= 0) return 0;
  const GaPlan g = group_plan(M, in, r, true);
  return g.splits > 1 ? size_t(n) * size_t(g.splits) * size_t(r) * size_t(in) : 0;
}

void lora_backward_group(const LoraGroupMembers& members, int n, const float* x, float* dx, int M, int in, int r,
                         const uint64_t* seed, bool accumulate_gA, bool accumulate_dx, float* workspace,
                         cudaStream_t s) {
  lora_backward_group_t(members, n, x, dx, M, in, r, seed, accumulate_gA, accumulate_dx, workspace, s);
}
void lora_backward_group(const LoraGroupMembers& members, int n, const bf16_t* x, float* dx, int M, int in, int r,
                         const uint64_t* seed, bool accumulate_gA, bool accumulate_dx, float* workspace,
                         cudaStream_t s) {
  lora_backward_group_t(members, n, dev(x), dx, M, in, r, seed, accumulate_gA, accumulate_dx, workspace, s);
}

}  // namespace hukuk::ops::cuda
