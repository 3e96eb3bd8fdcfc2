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
      U[seg][0] = ra < M ? ld16(x + int64_t(ra) * in + col) : make_uint4(0, 0, 0, 0);
      U[seg][1] = rb < M ? ld16(x + int64_t(rb) * in + col) : make_uint4(0, 0, 0, 0);
      mask8(U[seg][0], drop, ra, in, col);
      mask8(U[seg][1], drop, rb, in, col);
    }
    float acc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#pragma unroll
    for (int seg = 0; seg < 2; ++seg)
#pragma unroll
      for (int s = 0; s < 2; ++s) {
        const uint32_t a[4] = {word(U[seg][0], 2 * s), word(U[seg][1], 2 * s), word(U[seg][0], 2 * s + 1),
                               word(U[seg][1], 2 * s + 1)};
#pragma unroll
        for (int jt = 0; jt < 2; ++jt) {
          mma(acc[jt], a, bh[seg][s][jt][0], bh[seg][s][jt][1]);
          mma(acc[jt], a, bl[seg][s][jt][0], bl[seg][s][jt][1]);
        }
      }
    float* r = red[buf][w];
#pragma unroll
    for (int jt = 0; jt < 2; ++jt) {
      r[g * kR + 8 * jt + 2 * t] = acc[jt][0];
      r[g * kR + 8 * jt + 2 * t + 1] = acc[jt][1];
      r[(g + 8) * kR + 8 * jt + 2 * t] = acc[jt][2];
      r[(g + 8) * kR + 8 * jt + 2 * t + 1] = acc[jt][3];
    }
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
  if (mBeg < mEnd) load_u(Un, mBeg);
  int buf = 0;
  for (int m0 = mBeg; m0 < mEnd; m0 += 16) {
    // ---- dh partial over the warp's 64 columns
#pragma unroll
    for (int seg = 0; seg < 2; ++seg) U[seg][0] = Un[seg][0], U[seg][1] = Un[seg][1];
    if (m0 + 16 < mEnd) load_u(Un, m0 + 16);
    // ---- gB: dy rows 2t, 2t+1, 2t+8, 2t+9 at columns o0 + 8g .. +7, h at the same rows
    const int rq[4] = {m0 + 2 * t, m0 + 2 * t + 1, m0 + 2 * t + 8, m0 + 2 * t + 9};
    uint4 V[4];
    float hv[2][4];  // [j tile][row q]: h[rq][8 jt + g]
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const bool ok = rq[q] < M;
      V[q] = ok ? ld16(dyi + int64_t(rq[q]) * out + o0 + 8 * g) : make_uint4(0, 0, 0, 0);
      hv[0][q] = ok ? __ldg(hi + int64_t(rq[q]) * kR + g) : 0.f;
      hv[1][q] = ok ? __ldg(hi + int64_t(rq[q]) * kR + 8 + g) : 0.f;
    }
    float acc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#pragma unroll
    for (int seg = 0; seg < 2; ++seg)
#pragma unroll
      for (int s = 0; s < 2; ++s) {
        const uint32_t a[4] = {word(U[seg][0], 2 * s), word(U[seg][1], 2 * s), word(U[seg][0], 2 * s + 1),
                               word(U[seg][1], 2 * s + 1)};
#pragma unroll
        for (int jt = 0; jt < 2; ++jt) {
          mma(acc[jt], a, bh[seg][s][jt][0], bh[seg][s][jt][1]);
          mma(acc[jt], a, bl[seg][s][jt][0], bl[seg][s][jt][1]);
        }
      }
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
    float* r = red[buf][w];
#pragma unroll
    for (int jt = 0; jt < 2; ++jt) {
      r[g * kR + 8 * jt + 2 * t] = acc[jt][0];
      r[g * kR + 8 * jt + 2 * t + 1] = acc[jt][1];
      r[(g + 8) * kR + 8 * jt + 2 * t] = acc[jt][2];
      r[(g + 8) * kR + 8 * jt + 2 * t + 1] = acc[jt][3];
    }
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
