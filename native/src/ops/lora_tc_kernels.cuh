// The kernels of ops/lora_tc (constants, fragment helpers, lora_down, the fixed-order reduce, the
// row splits, lora_backward, lora_up_add, lora_up_backward), in a file of their own so that two
// translation units can include them: native/src/ops/lora_tc.cu (device code, inside its anonymous
// namespace, after <cuda_bf16.h> and ops/dropout_cuda.cuh) and tools/lora_tc_emulation/ (a host
// emulation of the warp, mma.sync fragments included, run by tests/native/lora_tc_emulation.test.ts
// on machines without a GPU). No includes here: the includer provides the CUDA types, DropParams,
// DropoutKey / dropout_key / dropout_keep_bits and dev_ptr.
#pragma once

// PDL (cuda/pdl.cuh, included by lora_tc.cu): every kernel starts with trigger() then wait(), so
// lora_tc.cu may launch them through pdl::launch; no-ops in the host emulation.
#if defined(HUKUK_LORA_TC_EMULATE)
#define HUKUK_LORA_TC_PDL_ENTRY() ((void)0)
#else
#define HUKUK_LORA_TC_PDL_ENTRY() (hukuk::cuda::pdl::trigger(), hukuk::cuda::pdl::wait())
#endif

constexpr int kR = 16;      // the LoRA rank these kernels take
constexpr int kChunk = 64;  // columns per warp
constexpr int kMaxWarps = 12;

// ------------------------------------------------------------------------------ fragments
__device__ __forceinline__ uint32_t bits2(__nv_bfloat162 v) { return *reinterpret_cast<uint32_t*>(&v); }

// (a, b) -> bf16 pairs hi = (bf16(a), bf16(b)) and lo = the rounding residues, a in the low half.
// v - float(bf16(v)) is exact in fp32, so hi + lo carries v to 2^-17 relative.
__device__ __forceinline__ void split2(float a, float b, uint32_t& hi, uint32_t& lo) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
  const float2 hf = __bfloat1622float2(h);
  hi = bits2(h);
  lo = bits2(__floats2bfloat162_rn(a - hf.x, b - hf.y));
}

__device__ __forceinline__ void mma(float d[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
#if defined(HUKUK_LORA_TC_EMULATE)  // a host-side emulation of the warp (fragment-layout check without a GPU)
  emulate_mma(d, a, b0, b1);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  // bf16 mma needs sm_80+: the fat binary's sm_75 code never runs these kernels (supported() is
  // false there, and bf16 activations need sm_80+ anyway)
  (void)d; (void)a; (void)b0; (void)b1;
  __trap();
#else
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

__device__ __forceinline__ uint4 ld16(const __nv_bfloat16* p) { return __ldg(reinterpret_cast<const uint4*>(p)); }
__device__ __forceinline__ uint32_t word(const uint4& u, int q) { return q == 0 ? u.x : q == 1 ? u.y : q == 2 ? u.z : u.w; }
__device__ __forceinline__ void set_word(uint4& u, int q, uint32_t v) {
  if (q == 0) u.x = v;
  else if (q == 1) u.y = v;
  else if (q == 2) u.z = v;
  else u.w = v;
}

// The dropout of one call inside a kernel: threshold 0 means none (no hash computed).
struct Drop {
  DropoutKey key{};
  uint32_t threshold = 0;
  __device__ __forceinline__ bool keep(uint64_t i) const {
    return threshold == 0 || dropout_keep_bits(key, i, threshold);
  }
};
__device__ __forceinline__ Drop make_drop(const DropParams& dp) {
  Drop d;
  d.threshold = dp.threshold;
  if (dp.threshold) d.key = dropout_key(*dp.seed, dp.site);
  return d;
}
// Zeroes the dropped elements of 8 bf16 (columns col .. col+7 of row `row`, row length `in`).
__device__ __forceinline__ void mask8(uint4& u, const Drop& d, int64_t row, int in, int col) {
  if (d.threshold == 0) return;
  const uint64_t base = uint64_t(row) * uint64_t(in) + uint64_t(col);
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    uint32_t w = word(u, q);
    if (!d.keep(base + 2 * q)) w &= 0xffff0000u;
    if (!d.keep(base + 2 * q + 1)) w &= 0x0000ffffu;
    set_word(u, q, w);
  }
}

// ------------------------------------------------------------------------------ lora_down's tile
// What down_kernel and down_group_kernel do alike per 16-row tile, one source for both so that the
// group's h_i keep down_kernel's bits: a tile's two rows of x, their dropout, the mma steps and the
// warp's partial in shared memory (mma_tile and store_partial serve up_backward_kernel's dh too).
// A's fragment load and the warp-order sum stay written out in each kernel: as helpers they
// changed down_group_kernel's sm_90 code (its PTX differed in the order of virtual registers, of a
// multiply's operands and of the sum loop's blocks); with these four helpers every kernel's sm_90
// code is byte for byte what it was when each was written out.

// Rows ra and rb of x (row length `in`), columns col .. col+7; zeros for a row past M.
__device__ __forceinline__ void load_x_rows(uint4 (&u)[2], const __nv_bfloat16* x, int M, int in, int ra, int rb, int col) {
  u[0] = ra < M ? ld16(x + int64_t(ra) * in + col) : make_uint4(0, 0, 0, 0);
  u[1] = rb < M ? ld16(x + int64_t(rb) * in + col) : make_uint4(0, 0, 0, 0);
}
__device__ __forceinline__ void mask_x_rows(uint4 (&u)[2], const Drop& d, int ra, int rb, int in, int col) {
  mask8(u[0], d, ra, in, col);
  mask8(u[1], d, rb, in, col);
}

// acc[j tile] += a 16 x 64 bf16 tile (X[seg][0 / 1]: rows g and g + 8) times hi/lo fragments, per
// segment and k step hi then lo (lora_down's x · Aᵀ and up_backward's dy · B alike).
__device__ __forceinline__ void mma_tile(float (&acc)[2][4], const uint4 (&X)[2][2], const uint32_t (&bh)[2][2][2][2],
                                         const uint32_t (&bl)[2][2][2][2]) {
#pragma unroll
  for (int seg = 0; seg < 2; ++seg)
#pragma unroll
    for (int s = 0; s < 2; ++s) {
      const uint32_t a[4] = {word(X[seg][0], 2 * s), word(X[seg][1], 2 * s), word(X[seg][0], 2 * s + 1),
                             word(X[seg][1], 2 * s + 1)};
#pragma unroll
      for (int jt = 0; jt < 2; ++jt) {
        mma(acc[jt], a, bh[seg][s][jt][0], bh[seg][s][jt][1]);
        mma(acc[jt], a, bl[seg][s][jt][0], bl[seg][s][jt][1]);
      }
    }
}

// This warp's partial 16 x kR tile (lora_down's h, up_backward's dh) into its shared-memory slot r
// (the accumulator layout), for the warp-order sum.
__device__ __forceinline__ void store_partial(float* r, const float (&acc)[2][4], int g, int t) {
#pragma unroll
  for (int jt = 0; jt < 2; ++jt) {
    r[g * kR + 8 * jt + 2 * t] = acc[jt][0];
    r[g * kR + 8 * jt + 2 * t + 1] = acc[jt][1];
    r[(g + 8) * kR + 8 * jt + 2 * t] = acc[jt][2];
    r[(g + 8) * kR + 8 * jt + 2 * t + 1] = acc[jt][3];
  }
}

// ------------------------------------------------------------------------------ lora_down
// Block: one warp per 64 columns of x (C warps), a grid-stride loop over 16-row tiles. Each warp
// holds its 64 columns of A (hi/lo fragments) in registers for the whole kernel, multiplies its
// 16 x 64 slice of x, and the C partial h tiles are summed in shared memory in warp order.
__global__ void __launch_bounds__(kMaxWarps * 32) down_kernel(const __nv_bfloat16* __restrict__ x,
                                                               const float* __restrict__ A, float* __restrict__ h,
                                                               int M, int in, DropParams dp) {
  HUKUK_LORA_TC_PDL_ENTRY();
  __shared__ float red[2][kMaxWarps][16 * kR];
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, C = blockDim.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int c0 = kChunk * w;
  uint32_t bh[2][2][2][2], bl[2][2][2][2];  // [segment][k step][j tile][b0/b1]
#pragma unroll
  for (int seg = 0; seg < 2; ++seg)
#pragma unroll
    for (int s = 0; s < 2; ++s)
#pragma unroll
      for (int jt = 0; jt < 2; ++jt) {
        const float4 v = __ldg(reinterpret_cast<const float4*>(A + int64_t(8 * jt + g) * in + c0 + 32 * seg + 8 * t + 4 * s));
        split2(v.x, v.y, bh[seg][s][jt][0], bl[seg][s][jt][0]);
        split2(v.z, v.w, bh[seg][s][jt][1], bl[seg][s][jt][1]);
      }
  const Drop drop = make_drop(dp);
  const int tiles = (M + 15) / 16;
  int buf = 0;
  for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int m0 = tile * 16, ra = m0 + g, rb = m0 + g + 8;
    uint4 U[2][2];
#pragma unroll
    for (int seg = 0; seg < 2; ++seg) {
      const int col = c0 + 32 * seg + 8 * t;
      load_x_rows(U[seg], x, M, in, ra, rb, col);
      mask_x_rows(U[seg], drop, ra, rb, in, col);
    }
    float acc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
    mma_tile(acc, U, bh, bl);
    store_partial(red[buf][w], acc, g, t);
    __syncthreads();  // double-buffered: the next tile writes the other buffer
    for (int e = threadIdx.x; e < 16 * kR; e += blockDim.x) {
      float sum = 0.f;
      for (int ww = 0; ww < C; ++ww) sum += red[buf][ww][e];
      const int row = m0 + e / kR;
      if (row < M) h[int64_t(row) * kR + e % kR] = sum * dp.scale;
    }
    buf ^= 1;
  }
}

// ------------------------------------------------------------------------------ lora_down_group
// h_i = dropout_i(x) · A_iᵀ for the n <= 3 members of a group sharing x (q,k,v; cross k,v), in ONE
// launch: each 16-row tile of x is loaded once, then per member masked with its own dropout site
// and multiplied exactly as down_kernel does (same fragments, same mma order hi then lo per k
// step, the warps' partials summed in warp order, then scaled), so every h_i has down_kernel's bits.
// Member i's A fragments are (re)loaded per tile and member from L1/L2 rather than held for the
// whole kernel (3 members' fragments would not fit in registers; at M <= 4224 each block runs a
// single tile anyway). One shared buffer per member, two barriers per tile.
constexpr int kDownGroupMax = 3;
struct DownGroupParams {  // by value
  const float* A[kDownGroupMax];
  float* h[kDownGroupMax];
  DropParams dp[kDownGroupMax];
};
template <int NM>
__global__ void __launch_bounds__(kMaxWarps * 32) down_group_kernel(const __nv_bfloat16* __restrict__ x,
                                                                     DownGroupParams P, int M, int in) {
  HUKUK_LORA_TC_PDL_ENTRY();
  __shared__ float red[NM][kMaxWarps][16 * kR];  // 12 KB a member
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, C = blockDim.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int c0 = kChunk * w;
  Drop drop[NM];
#pragma unroll
  for (int mi = 0; mi < NM; ++mi) drop[mi] = make_drop(P.dp[mi]);
  const int tiles = (M + 15) / 16;
  for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int m0 = tile * 16, ra = m0 + g, rb = m0 + g + 8;
    uint4 U[2][2];
#pragma unroll
    for (int seg = 0; seg < 2; ++seg) load_x_rows(U[seg], x, M, in, ra, rb, c0 + 32 * seg + 8 * t);
    float acc[NM][2][4];
#pragma unroll
    for (int mi = 0; mi < NM; ++mi) {
      const float* A = P.A[mi];
      uint32_t bh[2][2][2][2], bl[2][2][2][2];  // as down_kernel's (written out: see "lora_down's tile")
#pragma unroll
      for (int seg = 0; seg < 2; ++seg)
#pragma unroll
        for (int s = 0; s < 2; ++s)
#pragma unroll
          for (int jt = 0; jt < 2; ++jt) {
            const float4 v =
                __ldg(reinterpret_cast<const float4*>(A + int64_t(8 * jt + g) * in + c0 + 32 * seg + 8 * t + 4 * s));
            split2(v.x, v.y, bh[seg][s][jt][0], bl[seg][s][jt][0]);
            split2(v.z, v.w, bh[seg][s][jt][1], bl[seg][s][jt][1]);
          }
      uint4 X[2][2];
#pragma unroll
      for (int seg = 0; seg < 2; ++seg) {
        X[seg][0] = U[seg][0];
        X[seg][1] = U[seg][1];
        mask_x_rows(X[seg], drop[mi], ra, rb, in, c0 + 32 * seg + 8 * t);
      }
#pragma unroll
      for (int jt = 0; jt < 2; ++jt) acc[mi][jt][0] = acc[mi][jt][1] = acc[mi][jt][2] = acc[mi][jt][3] = 0.f;
      mma_tile(acc[mi], X, bh, bl);
    }
    __syncthreads();  // the previous tile's sums have read red
#pragma unroll
    for (int mi = 0; mi < NM; ++mi) store_partial(red[mi][w], acc[mi], g, t);
    __syncthreads();
#pragma unroll
    for (int mi = 0; mi < NM; ++mi)
      for (int e = threadIdx.x; e < 16 * kR; e += blockDim.x) {
        float sum = 0.f;
        for (int ww = 0; ww < C; ++ww) sum += red[mi][ww][e];
        const int row = m0 + e / kR;
        if (row < M) P.h[mi][int64_t(row) * kR + e % kR] = sum * P.dp[mi].scale;
      }
  }
}

// ------------------------------------------------------------------------------ fixed-order reduce
// out_i[e] = (accumulate ? out_i[e] : 0) + scale * sum over y < S of ws[(i * S + y) * count + e]
__global__ void reduce_kernel(const float* __restrict__ ws, float* out, int64_t count, int S, float scale,
                              bool accumulate, int64_t out_stride) {
  HUKUK_LORA_TC_PDL_ENTRY();
  const int i = blockIdx.y;
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= count) return;
  const float* p = ws + int64_t(i) * S * count + e;
  float sum = 0.f;
  for (int y = 0; y < S; ++y) sum += p[int64_t(y) * count];
  float& o = out[int64_t(i) * out_stride + e];
  o = accumulate ? o + scale * sum : scale * sum;
}

// The same sums with the splits spread over the 8 warps of a block (HUKUK_T5_LORA_TC_FAST_BWD,
// lora_tc.h): reduce_kernel's threads each walk all S partials one after another (S = 64 at 2048
// rows: a chain of L2 round trips, ~4 µs on an H200 for 50 KB of output); here lane l of warp w
// takes output e = 32 blockIdx.x + l and the splits w, w + 8, ... (in that order; independent
// loads, all in flight together), then warp 0 adds the 8 warps' sums in warp order. Fixed order
// (a function of S alone), not reduce_kernel's bits.
constexpr int kRedWarps = 8;
__global__ void __launch_bounds__(kRedWarps * 32) reduce_split_kernel(const float* __restrict__ ws, float* out,
                                                                      int64_t count, int S, float scale,
                                                                      bool accumulate, int64_t out_stride) {
  HUKUK_LORA_TC_PDL_ENTRY();
  __shared__ float part[kRedWarps][32];
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, i = blockIdx.y;
  const int64_t e = int64_t(blockIdx.x) * 32 + lane;
  float sum = 0.f;
  if (e < count) {
    const float* p = ws + int64_t(i) * S * count + e;
#pragma unroll 8
    for (int y = w; y < S; y += kRedWarps) sum += __ldcg(p + int64_t(y) * count);
  }
  part[w][lane] = sum;
  __syncthreads();
  if (w != 0 || e >= count) return;
  float total = part[0][lane];
#pragma unroll
  for (int k = 1; k < kRedWarps; ++k) total += part[k][lane];
  float& o = out[int64_t(i) * out_stride + e];
  o = accumulate ? o + scale * total : scale * total;
}

// Row splits of the sums over M (lora_backward's gA, lora_up_backward's gB): a function of M
// alone, so the summation order never depends on the GPU. ~64-128 rows a split, at most 64.
struct RowSplit {
  int rows = 16, S = 1;
};
RowSplit split_rows(int M, int s0) {
  RowSplit p;
  if (M <= 0) return p;
  p.rows = ((M + s0 - 1) / s0 + 15) / 16 * 16;
  p.S = (M + p.rows - 1) / p.rows;
  return p;
}
RowSplit row_split(int M) { return split_rows(M, std::min(64, std::max(1, (M + 63) / 64))); }
// lora_up_backward's blocks are 12 warps, one per block and SM: S * n ~ 132 blocks (the SM count of
// an H100 / H200, a constant here so the split stays a function of the sizes), >= 32 rows a split.
RowSplit up_row_split(int M, int n) {
  return split_rows(M, std::min((132 + n - 1) / n, std::max(1, (M + 31) / 32)));
}
// HUKUK_T5_LORA_TC_FAST_BWD (lora_tc.h): down to one 16-row tile a split, so that small M still
// fills the card (2048 rows, n = 1: 128 blocks, not 64; 1024 rows: 64, not 32). Twice the
// partials (the workspace) where M < 132 * 32 / n; the same split from there on.
RowSplit up_row_split_fine(int M, int n) {
  return split_rows(M, std::min((132 + n - 1) / n, std::max(1, (M + 15) / 16)));
}

// ------------------------------------------------------------------------------ lora_backward
// Grid (in / 64, S), one warp per block: the warp owns 64 columns k0.. of x and rows
// [y * rows, (y + 1) * rows). gA: rows j x 64 columns, summed over m with the transposed-operand
// load of x (n-tile i, column label g <-> column k0 + 8g + i), dhᵀ split hi/lo (two mma). dx:
// the warp's 64 columns of A held as B fragments (column label g of tile i <-> k0 + 8i + g),
// dh · A as hi·hi + hi·lo + lo·hi + lo·lo. The next tile's x and dh are loaded before the current one is
// used (software pipelining: more bytes in flight per warp).
struct BwdTile {
  uint4 X[4];     // x rows m0 + 2t, 2t+1, 2t+8, 2t+9, columns k0 + 8g .. +7 (masked)
  float dT[8];    // dh for dhᵀ, (row, j): (2t, g), (2t+1, g), (2t, g+8), (2t+1, g+8), (2t+8, g), (2t+9, g), (2t+8, g+8), (2t+9, g+8)
  float2 dN[4];   // dh natural: (g, 2t..), (g+8, 2t..), (g, 2t+8..), (g+8, 2t+8..)
  uint32_t keep;  // dropout: bit 8q + e = element (row q of X, column k0 + 8g + e) kept
};

template <bool kDx>
__device__ __forceinline__ void bwd_load(BwdTile& T, const float* __restrict__ dh, const __nv_bfloat16* __restrict__ x,
                                         int M, int in, int k0, int m0, int g, int t, const Drop& drop) {
  const int rows[4] = {m0 + 2 * t, m0 + 2 * t + 1, m0 + 2 * t + 8, m0 + 2 * t + 9};
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const bool ok = rows[q] < M;
    T.X[q] = ok ? ld16(x + int64_t(rows[q]) * in + k0 + 8 * g) : make_uint4(0, 0, 0, 0);
    const float* d = dh + int64_t(rows[q]) * kR;
    T.dT[(q & 1) + 4 * (q >> 1)] = ok ? __ldg(d + g) : 0.f;
    T.dT[(q & 1) + 4 * (q >> 1) + 2] = ok ? __ldg(d + g + 8) : 0.f;
  }
  if (kDx) {
    const int ra = m0 + g, rb = m0 + g + 8;
    const float2 z = make_float2(0.f, 0.f);
    T.dN[0] = ra < M ? __ldg(reinterpret_cast<const float2*>(dh + int64_t(ra) * kR + 2 * t)) : z;
    T.dN[1] = rb < M ? __ldg(reinterpret_cast<const float2*>(dh + int64_t(rb) * kR + 2 * t)) : z;
    T.dN[2] = ra < M ? __ldg(reinterpret_cast<const float2*>(dh + int64_t(ra) * kR + 2 * t + 8)) : z;
    T.dN[3] = rb < M ? __ldg(reinterpret_cast<const float2*>(dh + int64_t(rb) * kR + 2 * t + 8)) : z;
  }
  // The mask is hashed once per element here; dx reads the same bits back through shared memory.
  T.keep = ~0u;
  if (drop.threshold) {
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const uint64_t base = uint64_t(rows[q]) * uint64_t(in) + uint64_t(k0 + 8 * g);
#pragma unroll
      for (int e = 0; e < 8; ++e)
        if (!drop.keep(base + e)) T.keep &= ~(1u << (8 * q + e));
#pragma unroll
      for (int wd = 0; wd < 4; ++wd) {
        uint32_t v = word(T.X[q], wd);
        if (!((T.keep >> (8 * q + 2 * wd)) & 1u)) v &= 0xffff0000u;
        if (!((T.keep >> (8 * q + 2 * wd + 1)) & 1u)) v &= 0x0000ffffu;
        set_word(T.X[q], wd, v);
      }
    }
  }
}

template <bool kDx>
__global__ void __launch_bounds__(32) backward_kernel(const float* __restrict__ dh, const __nv_bfloat16* __restrict__ x,
                                                      const float* __restrict__ A, float* gA, float* dx, float* ws,
                                                      int M, int in, int rows, DropParams dp, bool accumulate_gA,
                                                      bool accumulate_dx) {
  HUKUK_LORA_TC_PDL_ENTRY();
  const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
  const int k0 = blockIdx.x * kChunk, y = blockIdx.y, S = gridDim.y;
  const int mBeg = y * rows, mEnd = min(M, mBeg + rows);
  uint32_t bxh[8][2], bxl[8][2];  // dx's B fragments: A[j][k0 + 8i + g], j = 2t.., 2t+8..
  if (kDx) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const float* a = A + k0 + 8 * i + g;
      split2(__ldg(a + int64_t(2 * t) * in), __ldg(a + int64_t(2 * t + 1) * in), bxh[i][0], bxl[i][0]);
      split2(__ldg(a + int64_t(2 * t + 8) * in), __ldg(a + int64_t(2 * t + 9) * in), bxh[i][1], bxl[i][1]);
    }
  }
  const Drop drop = make_drop(dp);
  __shared__ uint32_t keep_bits[32];  // this tile's mask, lane L's word: see BwdTile::keep
  float ga[8][4];
#pragma unroll
  for (int i = 0; i < 8; ++i) ga[i][0] = ga[i][1] = ga[i][2] = ga[i][3] = 0.f;
  BwdTile cur, nxt;
  if (mBeg < mEnd) bwd_load<kDx>(nxt, dh, x, M, in, k0, mBeg, g, t, drop);
  for (int m0 = mBeg; m0 < mEnd; m0 += 16) {
    cur = nxt;
    if (m0 + 16 < mEnd) bwd_load<kDx>(nxt, dh, x, M, in, k0, m0 + 16, g, t, drop);
    // gA += dhᵀ · x
    uint32_t ah[4], al[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) split2(cur.dT[2 * q], cur.dT[2 * q + 1], ah[q], al[q]);
    // dT pairs: q=0 (2t,g),(2t+1,g) = a0; q=1 (2t,g+8),(2t+1,g+8) = a1; q=2 rows 2t+8.. col g = a2; q=3 = a3
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int wd = i >> 1;
      const uint32_t sel = (i & 1) ? 0x7632u : 0x5410u;
      const uint32_t b0 = __byte_perm(word(cur.X[0], wd), word(cur.X[1], wd), sel);
      const uint32_t b1 = __byte_perm(word(cur.X[2], wd), word(cur.X[3], wd), sel);
      mma(ga[i], ah, b0, b1);
      mma(ga[i], al, b0, b1);
    }
    if (kDx) {
      if (drop.threshold) {
        __syncwarp();  // the previous tile's reads are done
        keep_bits[lane] = cur.keep;
        __syncwarp();
      }
      uint32_t dah[4], dal[4];
#pragma unroll
      for (int q = 0; q < 4; ++q) split2(cur.dN[q].x, cur.dN[q].y, dah[q], dal[q]);
      const int ra = m0 + g, rb = m0 + g + 8;
      // dx's old values, all 16 loads issued before any store (one memory latency per tile, not
      // one per load: the compiler cannot move a load of dx above a store to dx by itself)
      float2 old[8][2];
      if (accumulate_dx) {
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int half = 0; half < 2; ++half) {
            const int row = half ? rb : ra;
            old[i][half] = row < M ? *reinterpret_cast<const float2*>(dx + int64_t(row) * in + k0 + 8 * i + 2 * t)
                                   : make_float2(0.f, 0.f);
          }
      }
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        float c[4] = {0.f, 0.f, 0.f, 0.f};
        mma(c, dah, bxh[i][0], bxh[i][1]);
        mma(c, dah, bxl[i][0], bxl[i][1]);
        mma(c, dal, bxh[i][0], bxh[i][1]);
        mma(c, dal, bxl[i][0], bxl[i][1]);
        const int col = k0 + 8 * i + 2 * t;
        // element (row g + 8 half, column 8i + 2t + e) of the tile: lane 4i + g/2's word, bit
        // 8 (g % 2) + 16 half + 2t + e (rows 2t', 2t'+1, 2t'+8, 2t'+9 of lane t' = g/2 are its q = 0..3)
        const uint32_t kw = drop.threshold ? keep_bits[4 * i + (g >> 1)] : ~0u;
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int row = half ? rb : ra;
          if (row >= M) continue;
          const int bit = 8 * (g & 1) + 16 * half + 2 * t;
          float2 v;
          v.x = ((kw >> bit) & 1u) ? c[2 * half] * dp.scale : 0.f;
          v.y = ((kw >> (bit + 1)) & 1u) ? c[2 * half + 1] * dp.scale : 0.f;
          float2* o = reinterpret_cast<float2*>(dx + int64_t(row) * in + col);
          if (accumulate_dx) {
            v.x = old[i][half].x + v.x;
            v.y = old[i][half].y + v.y;
          }
          *o = v;
        }
      }
    }
  }
  // ga[i]: c0 = (j g, column k0 + 16t + i), c1 = (g, k0 + 16t + 8 + i), c2 / c3 the same for j = g + 8
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int j = g + 8 * (e >> 1), k = k0 + 16 * t + 8 * (e & 1) + i;
      if (S == 1) {
        float& o = gA[int64_t(j) * in + k];
        o = accumulate_gA ? o + dp.scale * ga[i][e] : dp.scale * ga[i][e];
      } else {
        ws[(int64_t(y) * kR + j) * in + k] = ga[i][e];
      }
    }
}

// ------------------------------------------------------------------------------ lora_up_add
// Grid (ceil(C / 4), row groups, n), 4 warps a block, each warp 64 columns of y (two groups of 32)
// and kUpTiles 16-row tiles. B's rows are the n index; column label g of tile q in a 32-column
// group <-> o0 + 8(g/2) + 2q + g%2, so lane t's outputs of row g are columns o0 + 8t .. +7: one
// 16-byte read-modify-write of y per row and group.
constexpr int kUpTiles = 2;
__global__ void __launch_bounds__(128) up_add_kernel(const float* __restrict__ h, const float* __restrict__ B,
                                                     __nv_bfloat16* y, int M, int out, float scale, int64_t sh,
                                                     int64_t sB, int64_t sy) {
  HUKUK_LORA_TC_PDL_ENTRY();
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
  const int chunk = blockIdx.x * 4 + w;
  if (chunk * kChunk >= out) return;  // no barriers in this kernel
  const int i = blockIdx.z;
  const float* hi = h + i * sh;
  const float* Bi = B + i * sB;
  __nv_bfloat16* yi = y + i * sy;
  uint32_t bh[2][4][2], bl[2][4][2];  // [group][tile][b0/b1]
#pragma unroll
  for (int G = 0; G < 2; ++G)
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int o = chunk * kChunk + 32 * G + 8 * (g >> 1) + 2 * q + (g & 1);
      const float2 v0 = __ldg(reinterpret_cast<const float2*>(Bi + int64_t(o) * kR + 2 * t));
      const float2 v1 = __ldg(reinterpret_cast<const float2*>(Bi + int64_t(o) * kR + 2 * t + 8));
      split2(v0.x, v0.y, bh[G][q][0], bl[G][q][0]);
      split2(v1.x, v1.y, bh[G][q][1], bl[G][q][1]);
    }
  const int tile0 = blockIdx.y * kUpTiles;
  for (int tt = 0; tt < kUpTiles; ++tt) {
    const int m0 = (tile0 + tt) * 16;
    if (m0 >= M) break;
    const int ra = m0 + g, rb = m0 + g + 8;
    const float2 z = make_float2(0.f, 0.f);
    const float2 hN[4] = {ra < M ? __ldg(reinterpret_cast<const float2*>(hi + int64_t(ra) * kR + 2 * t)) : z,
                          rb < M ? __ldg(reinterpret_cast<const float2*>(hi + int64_t(rb) * kR + 2 * t)) : z,
                          ra < M ? __ldg(reinterpret_cast<const float2*>(hi + int64_t(ra) * kR + 2 * t + 8)) : z,
                          rb < M ? __ldg(reinterpret_cast<const float2*>(hi + int64_t(rb) * kR + 2 * t + 8)) : z};
    uint32_t ah[4], al[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) split2(hN[q].x, hN[q].y, ah[q], al[q]);
    uint4 Y[2][2];  // both groups' y loaded before any store (one latency, not two)
#pragma unroll
    for (int G = 0; G < 2; ++G) {
      const int col = chunk * kChunk + 32 * G + 8 * t;
      Y[G][0] = ra < M ? *reinterpret_cast<const uint4*>(yi + int64_t(ra) * out + col) : make_uint4(0, 0, 0, 0);
      Y[G][1] = rb < M ? *reinterpret_cast<const uint4*>(yi + int64_t(rb) * out + col) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int G = 0; G < 2; ++G) {
      const int col = chunk * kChunk + 32 * G + 8 * t;
      uint4 ya = Y[G][0], yb = Y[G][1];
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        float c[4] = {0.f, 0.f, 0.f, 0.f};
        mma(c, ah, bh[G][q][0], bh[G][q][1]);
        mma(c, ah, bl[G][q][0], bl[G][q][1]);
        mma(c, al, bh[G][q][0], bh[G][q][1]);
        mma(c, al, bl[G][q][0], bl[G][q][1]);
        uint32_t wa = word(ya, q), wb = word(yb, q);
        const float2 fa = __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&wa));
        const float2 fb = __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&wb));
        set_word(ya, q, bits2(__floats2bfloat162_rn(fa.x + scale * c[0], fa.y + scale * c[1])));
        set_word(yb, q, bits2(__floats2bfloat162_rn(fb.x + scale * c[2], fb.y + scale * c[3])));
      }
      if (ra < M) *reinterpret_cast<uint4*>(yi + int64_t(ra) * out + col) = ya;
      if (rb < M) *reinterpret_cast<uint4*>(yi + int64_t(rb) * out + col) = yb;
    }
  }
}

// ------------------------------------------------------------------------------ lora_up_backward
// Grid (S, n), one warp per 64 columns of dy (C warps), block y owns rows [y * rows, ...).
// dh: dy · B with the row-major K permutation (B fragments of the warp's 64 rows of B in
// registers), the C partial dh tiles summed in shared memory in warp order (double-buffered, one
// barrier per tile). gB: dyᵀ · h with the transposed-operand load of dy: o-tile q's row label g
// <-> column o0 + 8g + 2q, label g+8 <-> o0 + 8g + 2q + 1; h split hi/lo as the B operand. Each
// block's gB partial goes to the workspace (or straight to gB when S == 1).
//
// kPf (HUKUK_T5_LORA_TC_FAST_BWD, lora_tc.h): the gB operands of a tile (dy's transposed-operand
// rows V and h) are loaded one tile ahead with U, so the first tile's are in flight with B's
// fragments and no tile waits for an h load from DRAM (h was written by the forward, long ago);
// the gB partials stored as float2 pairs. The same products in the same order: dh and gB bit for
// bit kPf = false's. (The workspace must be 8-byte aligned: lora_up_backward checks it.)
template <bool kPf = false>
__global__ void __launch_bounds__(kMaxWarps * 32, 1) up_backward_kernel(
    const __nv_bfloat16* __restrict__ dy, const float* __restrict__ h, const float* __restrict__ B, float* dh,
    float* gB, float* ws, int M, int out, int rows, float scale, bool accumulate_gB, int64_t sdy, int64_t sh,
    int64_t sB, int64_t sdh) {
  HUKUK_LORA_TC_PDL_ENTRY();
  __shared__ float red[2][kMaxWarps][16 * kR];
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, C = blockDim.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int y = blockIdx.x, S = gridDim.x, i = blockIdx.y;
  const __nv_bfloat16* dyi = dy + i * sdy;
  const float* hi = h + i * sh;
  const float* Bi = B + i * sB;
  float* dhi = dh + i * sdh;
  const int o0 = kChunk * w;
  // dh's B fragments: b0 <-> rows o = o0 + 32 seg + 8t + 4s + {0,1} of B, b1 <-> + {2,3}; column j = 8 jt + g
  uint32_t bh[2][2][2][2], bl[2][2][2][2];  // [segment][k step][j tile][b0/b1]
#pragma unroll
  for (int seg = 0; seg < 2; ++seg)
#pragma unroll
    for (int s = 0; s < 2; ++s)
#pragma unroll
      for (int jt = 0; jt < 2; ++jt) {
        const float* b = Bi + int64_t(o0 + 32 * seg + 8 * t + 4 * s) * kR + 8 * jt + g;
        split2(__ldg(b), __ldg(b + kR), bh[seg][s][jt][0], bl[seg][s][jt][0]);
        split2(__ldg(b + 2 * kR), __ldg(b + 3 * kR), bh[seg][s][jt][1], bl[seg][s][jt][1]);
      }
  float gb[4][2][4];  // [o tile q][j tile][c]
#pragma unroll
  for (int q = 0; q < 4; ++q)
#pragma unroll
    for (int jt = 0; jt < 2; ++jt) gb[q][jt][0] = gb[q][jt][1] = gb[q][jt][2] = gb[q][jt][3] = 0.f;
  const int mBeg = y * rows, mEnd = min(M, mBeg + rows);
  // U: dy rows g and g+8 of a tile at columns o0 + 32 seg + 8t .. +7 (the whole 16 x 64 tile, so
  // the gB loads of the same tile below hit L1); the next tile's is loaded before this one is used.
  uint4 U[2][2], Un[2][2];
  auto load_u = [&](uint4 (&D)[2][2], int m0) {
    const int ra = m0 + g, rb = m0 + g + 8;
#pragma unroll
    for (int seg = 0; seg < 2; ++seg) {
      const int col = o0 + 32 * seg + 8 * t;
      D[seg][0] = ra < M ? ld16(dyi + int64_t(ra) * out + col) : make_uint4(0, 0, 0, 0);
      D[seg][1] = rb < M ? ld16(dyi + int64_t(rb) * out + col) : make_uint4(0, 0, 0, 0);
    }
  };
  // gB's operands of the tile at m0: dy rows 2t, 2t+1, 2t+8, 2t+9 at columns o0 + 8g .. +7, h at the same rows
  auto load_v = [&](uint4 (&V)[4], float (&hv)[2][4], int m0) {
    const int rq[4] = {m0 + 2 * t, m0 + 2 * t + 1, m0 + 2 * t + 8, m0 + 2 * t + 9};
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const bool ok = rq[q] < M;
      V[q] = ok ? ld16(dyi + int64_t(rq[q]) * out + o0 + 8 * g) : make_uint4(0, 0, 0, 0);
      hv[0][q] = ok ? __ldg(hi + int64_t(rq[q]) * kR + g) : 0.f;
      hv[1][q] = ok ? __ldg(hi + int64_t(rq[q]) * kR + 8 + g) : 0.f;
    }
  };
  uint4 Vn[kPf ? 4 : 1];
  float hvn[kPf ? 2 : 1][4];
  if (mBeg < mEnd) {
    load_u(Un, mBeg);
    if constexpr (kPf) load_v(Vn, hvn, mBeg);
  }
  int buf = 0;
  for (int m0 = mBeg; m0 < mEnd; m0 += 16) {
    // ---- dh partial over the warp's 64 columns
#pragma unroll
    for (int seg = 0; seg < 2; ++seg) U[seg][0] = Un[seg][0], U[seg][1] = Un[seg][1];
    uint4 V[4];
    float hv[2][4];  // [j tile][row q]: h[rq][8 jt + g]
    if constexpr (kPf) {
#pragma unroll
      for (int q = 0; q < 4; ++q) V[q] = Vn[q], hv[0][q] = hvn[0][q], hv[1][q] = hvn[1][q];
      if (m0 + 16 < mEnd) {
        load_u(Un, m0 + 16);
        load_v(Vn, hvn, m0 + 16);
      }
    } else {
      if (m0 + 16 < mEnd) load_u(Un, m0 + 16);
      // ---- gB: dy rows 2t, 2t+1, 2t+8, 2t+9 at columns o0 + 8g .. +7, h at the same rows
      load_v(V, hv, m0);
    }
    float acc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
    mma_tile(acc, U, bh, bl);
    uint32_t hbh[2][2], hbl[2][2];  // [j tile][b0/b1]
#pragma unroll
    for (int jt = 0; jt < 2; ++jt) {
      split2(hv[jt][0], hv[jt][1], hbh[jt][0], hbl[jt][0]);
      split2(hv[jt][2], hv[jt][3], hbh[jt][1], hbl[jt][1]);
    }
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const uint32_t a[4] = {__byte_perm(word(V[0], q), word(V[1], q), 0x5410u),
                             __byte_perm(word(V[0], q), word(V[1], q), 0x7632u),
                             __byte_perm(word(V[2], q), word(V[3], q), 0x5410u),
                             __byte_perm(word(V[2], q), word(V[3], q), 0x7632u)};
#pragma unroll
      for (int jt = 0; jt < 2; ++jt) {
        mma(gb[q][jt], a, hbh[jt][0], hbh[jt][1]);
        mma(gb[q][jt], a, hbl[jt][0], hbl[jt][1]);
      }
    }
    store_partial(red[buf][w], acc, g, t);
    __syncthreads();
    for (int e = threadIdx.x; e < 16 * kR; e += blockDim.x) {
      float sum = 0.f;
      for (int ww = 0; ww < C; ++ww) sum += red[buf][ww][e];
      const int row = m0 + e / kR;
      if (row < M) dhi[int64_t(row) * kR + e % kR] = scale * sum;
    }
    buf ^= 1;
  }
  // gb[q][jt]: c0 = (o = o0 + 8g + 2q, j = 8jt + 2t), c1 = (o, j + 1), c2 / c3 = (o + 1, j / j + 1)
  const int64_t count = int64_t(out) * kR;
  if (kPf && S > 1) {  // the partials as float2 pairs (c0, c1) and (c2, c3): half the store instructions
    float* wp = ws + (int64_t(i) * S + y) * count;
#pragma unroll
    for (int q = 0; q < 4; ++q)
#pragma unroll
      for (int jt = 0; jt < 2; ++jt) {
        const int o = o0 + 8 * g + 2 * q, j = 8 * jt + 2 * t;
        *reinterpret_cast<float2*>(wp + int64_t(o) * kR + j) = make_float2(gb[q][jt][0], gb[q][jt][1]);
        *reinterpret_cast<float2*>(wp + int64_t(o + 1) * kR + j) = make_float2(gb[q][jt][2], gb[q][jt][3]);
      }
    return;
  }
#pragma unroll
  for (int q = 0; q < 4; ++q)
#pragma unroll
    for (int jt = 0; jt < 2; ++jt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int o = o0 + 8 * g + 2 * q + (e >> 1), j = 8 * jt + 2 * t + (e & 1);
        const float v = gb[q][jt][e];
        if (S == 1) {
          float& dst = gB[i * sB + int64_t(o) * kR + j];
          dst = accumulate_gB ? dst + scale * v : scale * v;
        } else {
          ws[(int64_t(i) * S + y) * count + int64_t(o) * kR + j] = v;
        }
      }
}

// ------------------------------------------------------------------------------ lora_backward_group
// The A side of the n <= 3 members of a group that share x and dx (ops/lora.h lora_backward_group:
// q,k,v; cross k,v; one Linear), in ONE launch with the split-M reduce inside the kernel.
// Why not backward_kernel per member: one warp per block left ~3-6 warps per SM in flight (latency
// bound: 27.9 µs at 2048 rows, lora_tc.h), and per member x is read and dx read and written again.
// Block: 16 warps = 2 column halves (32 columns each) x 8 row groups over the block's 64 columns
// and its split's rows; warp (h, g8) takes the 16-row tiles g8, g8 + 8, ... of the split. Per tile:
// x (rows 2t, 2t+1, 2t+8, 2t+9, columns c0 + 4g .. +3) and the old dx are loaded once; for each
// member in order: its mask hashed on the warp's 16 x 32 elements (16 per lane), gA_i += dh_iᵀ ·
// (x masked) as backward_kernel (two mma, dh split hi/lo; column label g of n-tile i <-> c0 + 4g +
// i), dh_i · A_i as four mma (A_i's fragments staged once per block in shared memory, column label
// g of tile i <-> c0 + 8i + g), masked with the bits fetched from the lane that hashed them
// (__shfl_sync), scaled, added to the running dx value; dx stored once: ((dx + d_0) + d_1) + d_2.
// gA: the 8 row groups' sums added in row-group order in shared memory, the block's partial (or,
// with one split, scale x sum straight into gA) written to the workspace; the last block of each
// column block (an atomic ticket, reset by it) adds the partials in split order, then scales.
// Deterministic: every sum's order is a function of (M, in) alone.
constexpr int kGrpMax = 3;       // members
constexpr int kGrpRowGroups = 8;  // warps per column half
constexpr int kGrpThreads = 2 * kGrpRowGroups * 32;
constexpr int kGrpTicketSlots = 4096;
struct GroupParams {  // by value
  const float* dh[kGrpMax];
  const float* A[kGrpMax];
  float* gA[kGrpMax];
  DropParams dp[kGrpMax];
  unsigned int* tickets;  // this launch's ticket bank (ops/group_tickets.h; lora_backward_group sets it)
};
// One ticket per column block, zero between launches: atomicInc wraps it to 0 when the last block
// takes it (a wrong count cannot stop later launches' reductions for good; found in review).
// Per device and bank: two launches running at once on two streams take different banks
// (GroupParams::tickets, ops/group_tickets.h).
__device__ unsigned int g_tc_group_tickets[kGroupTicketBanks * kGrpTicketSlots];  // banks: ops/group_tickets.h

// Splits of M for lora_backward_group: ~132 blocks of 16 warps (one per SM of an H100 / H200, a
// constant so the summation order never depends on the GPU), whole 16-row tiles per split.
RowSplit group_row_split(int M, int in) {
  const int col_blocks = std::max(1, in / kChunk);
  return split_rows(M, std::max(1, std::min((132 + col_blocks - 1) / col_blocks, (M + 15) / 16)));
}

// The three forms of the group kernel, one body (group_backward_body, kMode):
//   kGrpPlain   group_backward_kernel: each tile's x, old dx and every member's dh loaded at the tile.
//   kGrpPf      group_backward_pf_kernel (kFastGroupPrefetch, HUKUK_T5_LORA_TC_FAST_BWD, lora_tc.h): a
//               warp's next tile of x and of the old dx (and, with one member, of dh) loaded while
//               the current one is used, the first tile's before A's fragments are staged (its loads
//               in flight across that barrier): at 1024-2048 rows a warp has 1-2 tiles, so each load
//               round trip is on the critical path. The engine runs it with one member only (with
//               2-3 the registers a tile ahead spill).
//   kGrpStaged  group_backward_staged_kernel (kFastGroupStage): every member's dh rows of the block's
//               split staged in shared memory once (dynamic, NM x rows x kStageStride floats; all of
//               a thread's loads in flight together, overlapping A's staging), so that no tile waits
//               for a member's dh from memory: with 2-3 members the dh loads sat inside the member
//               loop (registers at the 128 cap), one round trip per member per tile. For groups of
//               2-3 of up to kStageMaxRows rows.
// The same products in the same order in every form: gA and dx bit for bit group_backward_kernel's.
// Each form's own statements sit in `if constexpr` branches, kGrpPlain's those of the kernel it
// was: when the three copies were folded (2026-11-28) lora_tc.cu's sm_90 cubin stayed byte for byte
// the same file, all three forms' code included. Keep it so (nvcc -cubin before and after, cmp):
// in the attempts, the prefetch's loads as lambdas in the body, the tile loop starting from a
// variable of the prefetch's, or the plain form's dT loads through grp_load_dT's m0 overload each
// changed the plain form's code, although the first two never run in it.
constexpr int kGrpPlain = 0, kGrpPf = 1, kGrpStaged = 2;
constexpr int kStageStride = 20;  // floats a row: dT's reads (rows 2t.., column g) hit 32 banks
constexpr int kStageEmuFloats = 3 * 2048 * kStageStride;  // the host emulation's static buffer
// M above it: group_backward_kernel (H200, 12:04 UTC 2026-11-28, n = 3, width 768, µs per call: the
// staged form 18.73 vs 19.21 at 1024 rows and 25.22 vs 26.65 at 2048, but 71.23 vs 67.31 at 8192;
// 4096 not measured)
constexpr int kStageMaxRows = 2048;
inline size_t group_stage_bytes(int NM, int rows) { return size_t(NM) * size_t(rows) * kStageStride * sizeof(float); }

// A tile's loads (kGrpPf's a tile ahead): x (rows rq = m0 + 2t, 2t+1, 2t+8, 2t+9, columns c0 + 4g
// .. +3), the old dx (rows m0 + g, m0 + g + 8; [tile i][half]: columns c0 + 8i + 2t, +1) and a
// member's dh (dT for dhᵀ, gA; dN natural, dx)
__device__ __forceinline__ void grp_load_x(uint2 (&Xo)[4], const __nv_bfloat16* __restrict__ x, int m0, int mEnd,
                                           int in, int c0, int g, int t) {
  const int rq[4] = {m0 + 2 * t, m0 + 2 * t + 1, m0 + 2 * t + 8, m0 + 2 * t + 9};
#pragma unroll
  for (int q = 0; q < 4; ++q)
    Xo[q] = rq[q] < mEnd ? __ldg(reinterpret_cast<const uint2*>(x + int64_t(rq[q]) * in + c0 + 4 * g))
                         : make_uint2(0u, 0u);
}
template <bool kDx>
__device__ __forceinline__ void grp_load_dx(float2 (&dv)[4][2], const float* dx, bool accumulate_dx, int m0, int mEnd,
                                            int in, int c0, int g, int t) {
  if (!kDx) return;
  const int ra = m0 + g, rb = m0 + g + 8;
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      const int row = hh ? rb : ra;
      dv[i][hh] = (accumulate_dx && row < mEnd)
                      ? *reinterpret_cast<const float2*>(dx + int64_t(row) * in + c0 + 8 * i + 2 * t)
                      : make_float2(0.f, 0.f);
    }
}
__device__ __forceinline__ void grp_load_dT(float (&dT)[8], const float* dh, const int (&rq)[4], int mEnd, int g) {
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const bool ok = rq[q] < mEnd;
    const float* d = dh + int64_t(rq[q]) * kR;
    dT[(q & 1) + 4 * (q >> 1)] = ok ? __ldg(d + g) : 0.f;
    dT[(q & 1) + 4 * (q >> 1) + 2] = ok ? __ldg(d + g + 8) : 0.f;
  }
}
__device__ __forceinline__ void grp_load_dT(float (&dT)[8], const float* dh, int m0, int mEnd, int g, int t) {
  const int rq[4] = {m0 + 2 * t, m0 + 2 * t + 1, m0 + 2 * t + 8, m0 + 2 * t + 9};
  grp_load_dT(dT, dh, rq, mEnd, g);
}
template <bool kDx>
__device__ __forceinline__ void grp_load_dN(float2 (&dN)[4], const float* dh, int m0, int mEnd, int g, int t) {
  if (kDx) {
    const int ra = m0 + g, rb = m0 + g + 8;
    const float2 z = make_float2(0.f, 0.f);
    dN[0] = ra < mEnd ? __ldg(reinterpret_cast<const float2*>(dh + int64_t(ra) * kR + 2 * t)) : z;
    dN[1] = rb < mEnd ? __ldg(reinterpret_cast<const float2*>(dh + int64_t(rb) * kR + 2 * t)) : z;
    dN[2] = ra < mEnd ? __ldg(reinterpret_cast<const float2*>(dh + int64_t(ra) * kR + 2 * t + 8)) : z;
    dN[3] = rb < mEnd ? __ldg(reinterpret_cast<const float2*>(dh + int64_t(rb) * kR + 2 * t + 8)) : z;
  }
}

template <int NM, bool kDx, int kMode>
__device__ __forceinline__ void group_backward_body(const GroupParams& G, const __nv_bfloat16* __restrict__ x,
                                                    float* dx, float* ws, int M, int in, int rows,
                                                    bool accumulate_gA, bool accumulate_dx) {
  HUKUK_LORA_TC_PDL_ENTRY();
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int half = w & 1, rg = w >> 1;
  const int kb = blockIdx.x * kChunk, c0 = kb + 32 * half;
  const int y = blockIdx.y, S = gridDim.y;
  const int mBeg = y * rows, mEnd = min(M, mBeg + rows);
  // dx's B fragments of every member for this block's 64 columns: [member][half][tile i][lane] =
  // {hi b0, hi b1, lo b0, lo b1}, b0 <-> A[2t..2t+1][c0 + 8i + g], b1 <-> A[2t+8..2t+9][...]
  __shared__ uint4 a_frag[kDx ? NM : 1][2][4][32];
  // the row groups' gA sums on their way to row group 0: [half][lane][member][tile][c]
  __shared__ float red[2][32][NM * 16];
  __shared__ unsigned int ticket;
  // kGrpStaged: every member's dh rows of this split, staged once (row stride kStageStride:
  // conflict-free dT reads)
#if defined(HUKUK_LORA_TC_EMULATE)
  static float dh_s[kMode == kGrpStaged ? kStageEmuFloats : 1];
#else
  extern __shared__ float dh_s[];
#endif
  if constexpr (kMode == kGrpStaged) {
    const int nrows = mEnd - mBeg;
#pragma unroll
    for (int mi = 0; mi < NM; ++mi) {
      const float2* src = reinterpret_cast<const float2*>(G.dh[mi] + int64_t(mBeg) * kR);
      float* dst = dh_s + mi * rows * kStageStride;
      for (int e = threadIdx.x; e < nrows * (kR / 2); e += blockDim.x) {
        const float2 v = __ldg(src + e);
        const int row = e / (kR / 2), c = 2 * (e % (kR / 2));
        *reinterpret_cast<float2*>(dst + row * kStageStride + c) = v;
      }
    }
  }
  constexpr bool kPf = kMode == kGrpPf;
  constexpr bool kPfDh = kPf && NM == 1;  // three members' dh ahead would not fit the registers
  uint2 Xn[4];
  float2 dxn[4][2];
  float dTn[kPfDh ? 8 : 1];
  float2 dNn[kPfDh ? 4 : 1];
  if constexpr (kPf) {
    const int mFirst = mBeg + 16 * rg;
    if (mFirst < mEnd) {
      grp_load_x(Xn, x, mFirst, mEnd, in, c0, g, t);
      grp_load_dx<kDx>(dxn, dx, accumulate_dx, mFirst, mEnd, in, c0, g, t);
      if constexpr (kPfDh) grp_load_dT(dTn, G.dh[0], mFirst, mEnd, g, t), grp_load_dN<kDx>(dNn, G.dh[0], mFirst, mEnd, g, t);
    }
  }
  if (kDx && rg < 4) {  // warp (half, rg) fills tile i = rg of its half
#pragma unroll
    for (int mi = 0; mi < NM; ++mi) {
      const float* a = G.A[mi] + c0 + 8 * rg + g;
      uint4 f;
      split2(__ldg(a + int64_t(2 * t) * in), __ldg(a + int64_t(2 * t + 1) * in), f.x, f.z);
      split2(__ldg(a + int64_t(2 * t + 8) * in), __ldg(a + int64_t(2 * t + 9) * in), f.y, f.w);
      a_frag[mi][half][rg][lane] = f;
    }
  }
  Drop drop[NM];
  float scale[NM];
#pragma unroll
  for (int mi = 0; mi < NM; ++mi) {
    drop[mi] = make_drop(G.dp[mi]);
    scale[mi] = G.dp[mi].scale;
  }
  __syncthreads();  // a_frag (and dh_s)
  float ga[NM][4][4];
#pragma unroll
  for (int mi = 0; mi < NM; ++mi)
#pragma unroll
    for (int i = 0; i < 4; ++i) ga[mi][i][0] = ga[mi][i][1] = ga[mi][i][2] = ga[mi][i][3] = 0.f;

  for (int m0 = mBeg + 16 * rg; m0 < mEnd; m0 += 16 * kGrpRowGroups) {
    const int rq[4] = {m0 + 2 * t, m0 + 2 * t + 1, m0 + 2 * t + 8, m0 + 2 * t + 9};
    uint2 X[4];
    if constexpr (!kPf) grp_load_x(X, x, m0, mEnd, in, c0, g, t);
    const int ra = m0 + g, rb = m0 + g + 8;
    float2 dxv[4][2];  // [tile i][half]: (row ra / rb, columns c0 + 8i + 2t, +1)
    float dTc[kPfDh ? 8 : 1];
    float2 dNc[kPfDh ? 4 : 1];
    if constexpr (!kPf) {
      grp_load_dx<kDx>(dxv, dx, accumulate_dx, m0, mEnd, in, c0, g, t);
    } else {
#pragma unroll
      for (int q = 0; q < 4; ++q) X[q] = Xn[q];
#pragma unroll
      for (int i = 0; i < 4; ++i) dxv[i][0] = dxn[i][0], dxv[i][1] = dxn[i][1];
      if constexpr (kPfDh) {
#pragma unroll
        for (int q = 0; q < 8; ++q) dTc[q] = dTn[q];
#pragma unroll
        for (int q = 0; q < 4; ++q) dNc[q] = dNn[q];
      }
      const int mn = m0 + 16 * kGrpRowGroups;
      if (mn < mEnd) {
        grp_load_x(Xn, x, mn, mEnd, in, c0, g, t);
        grp_load_dx<kDx>(dxn, dx, accumulate_dx, mn, mEnd, in, c0, g, t);
        if constexpr (kPfDh) grp_load_dT(dTn, G.dh[0], mn, mEnd, g, t), grp_load_dN<kDx>(dNn, G.dh[0], mn, mEnd, g, t);
      }
    }
#pragma unroll
    for (int mi = 0; mi < NM; ++mi) {
      const float* dh = G.dh[mi];
      // the mask of this lane's 16 elements: bit 4q + c = (row rq[q], column c0 + 4g + c) kept
      uint32_t keep = 0xffffu;
      if (drop[mi].threshold) {
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const uint64_t base = uint64_t(rq[q]) * uint64_t(in) + uint64_t(c0 + 4 * g);
#pragma unroll
          for (int c = 0; c < 4; ++c)
            if (!drop[mi].keep(base + c)) keep &= ~(1u << (4 * q + c));
        }
      }
      uint2 Xm[4];
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const uint32_t kq = keep >> (4 * q);
        Xm[q].x = X[q].x & (((kq & 1u) ? 0x0000ffffu : 0u) | ((kq & 2u) ? 0xffff0000u : 0u));
        Xm[q].y = X[q].y & (((kq & 4u) ? 0x0000ffffu : 0u) | ((kq & 8u) ? 0xffff0000u : 0u));
      }
      // gA += dhᵀ · x: A operand (row j, k = tile row): a0 = (g, 2t..), a1 = (g+8, 2t..), a2 = (g, 2t+8..), a3 = (g+8, 2t+8..)
      float dT[8];
      if constexpr (kPfDh) {
#pragma unroll
        for (int q = 0; q < 8; ++q) dT[q] = dTc[q];
      } else if constexpr (kMode == kGrpStaged) {
        const float* dhs = dh_s + mi * rows * kStageStride;  // row m at (m - mBeg) * kStageStride
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const bool ok = rq[q] < mEnd;
          const float* d = dhs + (rq[q] - mBeg) * kStageStride;
          dT[(q & 1) + 4 * (q >> 1)] = ok ? d[g] : 0.f;
          dT[(q & 1) + 4 * (q >> 1) + 2] = ok ? d[g + 8] : 0.f;
        }
      } else {
        grp_load_dT(dT, dh, rq, mEnd, g);
      }
      uint32_t ah[4], al[4];
#pragma unroll
      for (int q = 0; q < 4; ++q) split2(dT[2 * q], dT[2 * q + 1], ah[q], al[q]);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const uint32_t sel = (i & 1) ? 0x7632u : 0x5410u;
        const uint32_t w0 = (i >> 1) ? Xm[0].y : Xm[0].x, w1 = (i >> 1) ? Xm[1].y : Xm[1].x;
        const uint32_t w2 = (i >> 1) ? Xm[2].y : Xm[2].x, w3 = (i >> 1) ? Xm[3].y : Xm[3].x;
        const uint32_t b0 = __byte_perm(w0, w1, sel), b1 = __byte_perm(w2, w3, sel);
        mma(ga[mi][i], ah, b0, b1);
        mma(ga[mi][i], al, b0, b1);
      }
      if (kDx) {
        float2 dN[4];
        if constexpr (kPfDh) {
#pragma unroll
          for (int q = 0; q < 4; ++q) dN[q] = dNc[q];
        } else if constexpr (kMode == kGrpStaged) {
          const float2 z = make_float2(0.f, 0.f);
          const float* dhs = dh_s + mi * rows * kStageStride;
          const float* da = dhs + (ra - mBeg) * kStageStride + 2 * t;
          const float* db = dhs + (rb - mBeg) * kStageStride + 2 * t;
          dN[0] = ra < mEnd ? *reinterpret_cast<const float2*>(da) : z;
          dN[1] = rb < mEnd ? *reinterpret_cast<const float2*>(db) : z;
          dN[2] = ra < mEnd ? *reinterpret_cast<const float2*>(da + 8) : z;
          dN[3] = rb < mEnd ? *reinterpret_cast<const float2*>(db + 8) : z;
        } else {
          grp_load_dN<kDx>(dN, dh, m0, mEnd, g, t);
        }
        uint32_t dah[4], dal[4];
#pragma unroll
        for (int q = 0; q < 4; ++q) split2(dN[q].x, dN[q].y, dah[q], dal[q]);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          // element (row g + 8hh, column c0 + 8i + 2t + e) was hashed by lane 4(2i + t/2) + g/2:
          // its bit 4((g & 1) + 2hh) + ((2t + e) & 3)
          const uint32_t kw = __shfl_sync(0xffffffffu, keep, 4 * (2 * i + (t >> 1)) + (g >> 1));
          const uint4 f = a_frag[mi][half][i][lane];
          float c[4] = {0.f, 0.f, 0.f, 0.f};
          mma(c, dah, f.x, f.y);
          mma(c, dah, f.z, f.w);
          mma(c, dal, f.x, f.y);
          mma(c, dal, f.z, f.w);
#pragma unroll
          for (int hh = 0; hh < 2; ++hh) {
            const int bit = 4 * ((g & 1) + 2 * hh) + ((2 * t) & 3);
            dxv[i][hh].x += ((kw >> bit) & 1u) ? c[2 * hh] * scale[mi] : 0.f;
            dxv[i][hh].y += ((kw >> (bit + 1)) & 1u) ? c[2 * hh + 1] * scale[mi] : 0.f;
          }
        }
      }
    }
    if (kDx) {
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
          const int row = hh ? rb : ra;
          if (row < mEnd) *reinterpret_cast<float2*>(dx + int64_t(row) * in + c0 + 8 * i + 2 * t) = dxv[i][hh];
        }
    }
  }
  // the row groups' sums in row-group order: ((0 + 1) + 2) + ... into row group 0
  for (int src = 1; src < kGrpRowGroups; ++src) {
    __syncthreads();
    if (rg == src)
#pragma unroll
      for (int mi = 0; mi < NM; ++mi)
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int e = 0; e < 4; ++e) red[half][lane][16 * mi + 4 * i + e] = ga[mi][i][e];
    __syncthreads();
    if (rg == 0)
#pragma unroll
      for (int mi = 0; mi < NM; ++mi)
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int e = 0; e < 4; ++e) ga[mi][i][e] += red[half][lane][16 * mi + 4 * i + e];
  }
  // ga[mi][i][e]: j = g + 8 (e / 2), column c0 + 8t + 4 (e % 2) + i
  if (rg == 0) {
#pragma unroll
    for (int mi = 0; mi < NM; ++mi)
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int j = g + 8 * (e >> 1), k = c0 + 8 * t + 4 * (e & 1) + i;
          if (S == 1) {
            float& o = G.gA[mi][int64_t(j) * in + k];
            o = accumulate_gA ? o + scale[mi] * ga[mi][i][e] : scale[mi] * ga[mi][i][e];
          } else {
            ws[((int64_t(mi) * S + y) * kR + j) * in + k] = ga[mi][i][e];
          }
        }
    if (S > 1) __threadfence();  // the partials are visible device-wide before the ticket is taken
  }
  if (S == 1) return;
  __syncthreads();
  if (threadIdx.x == 0) ticket = atomicInc(&G.tickets[blockIdx.x], unsigned(S - 1));  // -> 0 after the last
  __syncthreads();
  if (ticket != unsigned(S - 1)) return;
  __threadfence();  // every split's partial of this column block is written
  // NM x 16 x 64 outputs, (member, j, column kb + tc) for tc = tid % 64, j = tid / 64 + 8 q: each
  // summed over the splits in split order, all of a thread's sums advancing together
  constexpr int kQ = kR * kChunk / kGrpThreads;  // 2
  const int tc = threadIdx.x % kChunk, j0 = threadIdx.x / kChunk;
  const int64_t step = int64_t(kR) * in, mstep = int64_t(S) * step;
  const float* base = ws + int64_t(j0) * in + kb + tc;
  float sum[NM][kQ];
#pragma unroll
  for (int mi = 0; mi < NM; ++mi)
#pragma unroll
    for (int q = 0; q < kQ; ++q) sum[mi][q] = __ldcg(base + mi * mstep + int64_t(8 * q) * in);
#pragma unroll 8  // (S <= 11 at width 768: the loads of a whole column block's splits in flight together)
  for (int sp = 1; sp < S; ++sp) {
    float v[NM][kQ];
#pragma unroll
    for (int mi = 0; mi < NM; ++mi)
#pragma unroll
      for (int q = 0; q < kQ; ++q) v[mi][q] = __ldcg(base + mi * mstep + sp * step + int64_t(8 * q) * in);
#pragma unroll
    for (int mi = 0; mi < NM; ++mi)
#pragma unroll
      for (int q = 0; q < kQ; ++q) sum[mi][q] += v[mi][q];
  }
#pragma unroll
  for (int mi = 0; mi < NM; ++mi)
#pragma unroll
    for (int q = 0; q < kQ; ++q) {
      float& o = G.gA[mi][int64_t(j0 + 8 * q) * in + kb + tc];
      o = accumulate_gA ? o + scale[mi] * sum[mi][q] : scale[mi] * sum[mi][q];
    }
}

// The three kernels, one per form (their names are what lora_tc.cu launches and the emulation calls)
#define HUKUK_TC_GROUP_KERNEL(NAME, MODE)                                                                      \
  template <int NM, bool kDx>                                                                                  \
  __global__ void __launch_bounds__(kGrpThreads, 1)                                                            \
      NAME(GroupParams G, const __nv_bfloat16* __restrict__ x, float* dx, float* ws, int M, int in, int rows,  \
           bool accumulate_gA, bool accumulate_dx) {                                                           \
    group_backward_body<NM, kDx, MODE>(G, x, dx, ws, M, in, rows, accumulate_gA, accumulate_dx);              \
  }
HUKUK_TC_GROUP_KERNEL(group_backward_kernel, kGrpPlain)
HUKUK_TC_GROUP_KERNEL(group_backward_pf_kernel, kGrpPf)
HUKUK_TC_GROUP_KERNEL(group_backward_staged_kernel, kGrpStaged)
#undef HUKUK_TC_GROUP_KERNEL
