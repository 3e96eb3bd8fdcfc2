// Fused T5 attention (FlashAttention-2 style) on bf16 tensor cores: see flash_attention.h for the
// semantics. The unfused path writes and re-reads fp32 scores/probabilities of B*H*Tq*Tk floats
// several times per layer and keeps P for the backward; here P lives only in registers.
//
// Algorithm
//   forward, one block (4 warps) per (64 queries, b*H + h); each warp owns 16 query rows.
//     For each key tile of 64 (K and V as bf16 row-major tiles in shared memory; bf16 I/O: two
//     stages, the next tile's cp.async in flight while this one is computed; fp32: the loads are
//     batched in registers): S = bias + Q Kᵀ (mma.sync m16n8k16, the bias loaded straight into the
//     fp32 accumulators), masks -> online softmax (running max m, running sum l of the UNdropped
//     p), Pd = p * keep/(1-p_drop) re-packed from the accumulator registers straight into A
//     fragments (no shared memory), O = O * exp(m_old - m_new) + Pd V. ctx = O / l, lse = m + log l.
//   backward, one block (4 warps) per (64 keys, b*H + h); each warp owns 16 keys; dK, dV
//     accumulate in registers over the query tiles (64 each):
//       Sᵀ = bias + K Qᵀ, dPdᵀ = V dctxᵀ; P = exp(S - lse) (masks as the forward);
//       dV += Pdᵀ dctx; dS = P * (dPd * keep/(1-p_drop) - D), D = rowsum(dctx ⊙ ctx) (a small
//       kernel before); dK += dSᵀ Q; dS -> shared memory (bf16) -> dQ += dS K, added into dQ with
//       fp32 atomics (float2 on sm_90; dQ zeroed first; for bf16 I/O into an fp32 scratch that a
//       last kernel rounds into dQ). The next query tile's Q, dctx, bias, lse, D (and dropout bits)
//       load with cp.async while this one is computed.
//   (An FA2-style split backward, dK/dV per key tile and dQ per query tile in a second kernel with
//   no atomics, at 124-168 registers for 3-4 blocks per SM, was built and measured on H200 at
//   10:55 UTC 2026-11-28 (code 7756764): correct (dK/dV bit for bit, dQ within 3.5e-3) but SLOWER,
//   split/fused 1.18 at 16x12x512² encoder (420.6 vs 356.7 µs), 1.20 causal 512, 1.22 at 64²; the
//   step 139.1 vs 133.0 ms at 16x512x512. It recomputes S and dP (two more products) and the exp +
//   dropout hash once more per score, which costs more than the freed registers win. Removed.)
//   bf16 I/O with all keys in one block (Tk <= 64, HUKUK_FLASH_BWD_ONE_TILE=1) or in a cluster of two
//   (Tk <= 128 on sm_90, =2): flash_bwd_one_tile_kernel, the same backward in ONE launch instead of
//   three: D and the bf16 dctx computed per query tile in the block, dQ written once as bf16 (no
//   atomics, no scratch, no conversion pass). See bwd_one_tile_level for the measurements.
//   (Also removed: rounding dQ to bf16 inside the backward instead of flash_dq_to_bf16_kernel (a
//   per-(b*H+h, query tile) arrival counter; the key block completing it converted the tile, either
//   as soon as it could or at the blocks' ends). Correct, but measured on H200 at 11:45 UTC
//   2026-11-28: the backward 1.10-1.44x SLOWER per call (16x12x512² causal 290-328 vs 232 µs) and
//   the step 130.8 / 136.0 vs 121.8 ms at 16x512x512: each block's __threadfence after its dQ
//   atomics waits for them, the converting block's L2 reads sit in the tail, and the 3-block
//   kernel spilled more (304-472 bytes vs 220); the pass it saves is ~10 µs.)
//   Every fragment comes through ldmatrix; the B operands that need a transpose (V, dctx, Q, K as
//   [k][n]) through ldmatrix.trans from the same row-major tiles. A first version that stored
//   transposed tiles (8-way bank conflicts) was 1.2-1.7x slower.
//   I/O: Q/K/V/ctx/dQ/dK/dV fp32 or bf16 (template E); fp32 tiles are rounded to bf16 in registers
//   on their way to shared memory, bf16 ones go there as they are.
// Dropout: the mask is a hash of (seed, site, flat index) per score (ops/dropout_hash.h), computed
//   in the forward and again in the backward; it is the largest elementwise cost (H200, 16x12x512²:
//   the forward takes 0.8x the time without dropout, the backward 0.75x). The FAST kernels (every
//   flat index < 2^32) form the index in 32-bit arithmetic, so the hash's high word is a
//   compile-time 0, and skip everything per score that the result does not need (the p != 0 test,
//   the 1/(1-p) scaling, moved to ctx / dV, the 64-bit keep-bit shifts, the mask logic on tiles
//   that need none): forward 1.15-1.6x, backward 1.03-1.25x faster than without them. With the optional
//   dropout record the forward writes its decisions (1 bit per score, 64-bit words per (query row,
//   64-key tile)) and the backward reads them. The FAST keep test is the hash with the key xors
//   folded through the shifts (keep32: two logic ops fewer per score, the same decisions).
// Bias: the [H, Tq, Tk] table (fwd: straight from global memory; bwd: 64 x 64 tiles staged with
//   cp.async), or its Toeplitz form bias_diag [H, Tq + Tk - 1] kept in shared memory per block.
// Measured (H200, 2026-11-28 09:03 UTC, bf16 I/O, dropout 0.1, 16x12, µs per call fwd + bwd; old =
//   HUKUK_FLASH_HASH_REF=1 HUKUK_FLASH_FWD_SYNC=1 with the bias table, new = defaults + bias_diag):
//   512² encoder 147 + 394 -> 116 + 356 (-13 %), 512² causal 99 + 271 -> 79 + 245 (-12 %), 512² cross
//   (no bias) 136 + 362 -> 121 + 351 (-5 %), 64² encoder 32.4 -> 31.5, 128² causal 61.1 -> 56.2,
//   128x64 cross 42.1-42.8 -> 42.1-42.4. At 512² encoder the pieces: bias_diag -47 µs (fwd -19, bwd -28),
//   the folded hash fwd -6 bwd -12, the pipelined forward loads fwd -6.
//   ncu (same run, new kernels, 512² encoder): the forward is ALU-pipe bound (53 % of peak: the hash
//   and the mask logic; tensor pipe 19 %, 4 blocks of 4 warps per SM, limited by registers and shared
//   memory alike); the backward is latency bound: 254 registers -> 2 blocks of 4 warps per SM (12.5 %
//   occupancy), issue slots 27 % busy, no eligible warp 71 % of cycles, top stalls "wait" (fixed-latency
//   dependencies, 2.7 cycles per instruction) and short scoreboard (1.1); ALU 21 %, tensor 17 %; the dQ
//   atomics (9.4 M L2 reduction sectors) are not a bottleneck (lg throttle 0.06). More warps per SM
//   (fewer registers per thread, e.g. dQ in its own kernel) is what the backward needs next.
// Masks: a hidden key (key mask 0 or causal j > i) gets the finite score kMasked = -1e30 (not
// -inf): a row with some visible key gives it exp(-1e30 - m) = 0 exactly, and a row with NO
// visible key ends with max kMasked and a uniform 1/Tk over the keys it visited, which is the
// unfused path's answer when it visits all Tk keys; so the causal tile skipping is turned off for
// query tiles that hold such a row (found from the first kept key of the key mask). Keys past Tk
// (tile tails) get -inf and never count. The lse of a row with no visible key is stored as -inf
// (a flag: the backward then uses P = 1/Tk).
// Layouts: Q/ctx/dQ [B, Tq, H*64], K/V/dK/dV [B, Tk, H*64] (head h at columns h*64..).
// Shared tiles are bf16 with rows padded by 8 elements (16 bytes) against bank conflicts.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <type_traits>

#include "core/cuda_runtime.h"
#include "core/env_switch.h"
#include "core/error.h"
#include "cuda/pdl.cuh"
#include "ops/dropout_cuda.cuh"
#include "ops/flash_attention.h"

namespace hukuk::ops::cuda {

namespace {

namespace pdl = hukuk::cuda::pdl;

constexpr int kD = 64;             // head size handled (flash_supported)
constexpr int kTile = 64;          // queries per forward block and tile, keys per tile
constexpr int kPad = kTile + 8;    // padded row length (bf16 elements) of every shared tile (kD == kTile)
constexpr float kMasked = -1e30f;  // score of a hidden key (see the comment block above)

// E: the I/O element type of Q, K, V, ctx, dQ, dK, dV (float or __nv_bfloat16); dctx, lse and the
// scratch are fp32 either way, and all math is fp32 (bf16 only as the tensor-core operands).
template <typename E>
struct FlashParams {
  int B, H, Tq, Tk;
  int64_t ld;  // H * kD
  const E *Q, *K, *V;
  const float* bias;
  const float* bias_diag;  // the Toeplitz form [H, Tq + Tk - 1] (SoftmaxArgs::bias_diag); wins over bias
  bool fwd_pipe;           // bf16 forward: K/V double-buffered with cp.async (HUKUK_FLASH_FWD_SYNC=1: off, A/B)
  const int32_t* key_mask;
  int64_t key_mask_ld;
  bool causal;
  float dropout;
  const uint64_t* seed;
  uint64_t site;
};

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x (low half) = lo
  return *reinterpret_cast<uint32_t*>(&v);
}

// Two adjacent elements of an output row (8-byte / 4-byte aligned: even column), rounded once.
__device__ __forceinline__ void store2(float* p, float a, float b) { *reinterpret_cast<float2*>(p) = make_float2(a, b); }
__device__ __forceinline__ void store2(__nv_bfloat16* p, float a, float b) {
  *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(a, b);
}
__device__ __forceinline__ float2 load2(const float* p) { return *reinterpret_cast<const float2*>(p); }
__device__ __forceinline__ float2 load2(const __nv_bfloat16* p) {
  return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(p));
}

// c += a · b for one m16n8k16 tile (bf16 inputs, fp32 accumulators). Fragment layouts (PTX ISA):
// g = lane/4, t = lane%4; a[0] = (row g, cols 2t..2t+1), a[1] = (row g+8, cols 2t..), a[2] = (row g,
// cols 2t+8..), a[3] = (row g+8, cols 2t+8..); b[0] = (k 2t..2t+1, col g), b[1] = (k 2t+8.., col g);
// c[0..1] = (row g, cols 2t, 2t+1), c[2..3] = (row g+8, cols 2t, 2t+1).
__device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  __trap();  // flash_supported() keeps pre-sm_80 devices off this path
#endif
}

// Smallest key j with key_mask[j] != 0 (Tk when none; 0 without a key mask): a query row i has no
// visible key iff (causal ? first_kept > i : first_kept == Tk). Needs __syncthreads after.
__device__ __forceinline__ void find_first_kept(const int32_t* km, int Tk, int* out) {
  if (threadIdx.x == 0) *out = km ? Tk : 0;
  __syncthreads();
  if (km) {
    int best = Tk;
    for (int j = threadIdx.x; j < Tk; j += blockDim.x)
      if (km[j] != 0) { best = j; break; }
    if (best < Tk) atomicMin(out, best);
  }
}

// --------------------------------------------------------------------------------------- backward
// D[b,h,i] = Σ_d dctx[b,i,h,d] ctx[b,i,h,d]: one warp per (b, i, h), i.e. per 64-float run of the rows.
// dO16 (optional): receives dctx rounded to bf16 (the backward's dctx operand for bf16 I/O).
// dQ32 (optional): dQ's fp32 accumulator, zeroed here (same rows) instead of by a separate
// cudaMemsetAsync: one pass less over B*Tq*H*64 floats and no memset node between the PDL kernels.
template <typename E>
__global__ void flash_bwd_dot_kernel(const float* dctx, const E* ctx, float* D, int H, int Tq, int64_t runs,
                                     __nv_bfloat16* dO16, float* dQ32) {
  pdl::trigger();
  pdl::wait();
  const int64_t run = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (run >= runs) return;
  if (dQ32) reinterpret_cast<float2*>(dQ32 + run * kD)[lane] = make_float2(0.f, 0.f);
  const float2 a = reinterpret_cast<const float2*>(dctx + run * kD)[lane];
  const float2 c = load2(ctx + run * kD + 2 * lane);
  if (dO16) store2(dO16 + run * kD + 2 * lane, a.x, a.y);
  float v = a.x * c.x + a.y * c.y;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if (lane == 0) {
    const int h = int(run % H);
    const int64_t bi = run / H;  // b * Tq + i
    const int i = int(bi % Tq);
    const int64_t b = bi / Tq;
    D[(b * H + h) * Tq + i] = v;
  }
}

// bf16 I/O under HUKUK_FLASH_BWD_DOT16 (the default): the same D, dO16 and zeroed dQ32 with 16 lanes per 64-float
// run (16-byte dctx loads and zero stores, 8-byte ctx loads and dO16 stores) instead of 32 lanes with
// 8- and 4-byte ones: a memory-bound pass over ~75 MB at 16x12x512 (~23 µs per call in the ncu
// profile of 10:55 UTC). D's sums in another order (within rounding).
__global__ void flash_bwd_dot16_kernel(const float* dctx, const __nv_bfloat16* ctx, float* D, int H, int Tq,
                                       int64_t runs, __nv_bfloat16* dO16, float* dQ32) {
  pdl::trigger();
  pdl::wait();
  const int64_t run = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 4;
  const int l = threadIdx.x & 15;
  const bool ok = run < runs;  // no early return: the half-warp shuffles below need every lane
  float4 a = make_float4(0.f, 0.f, 0.f, 0.f);
  uint2 cb = make_uint2(0, 0);
  if (ok) {
    a = __ldcs(reinterpret_cast<const float4*>(dctx + run * kD) + l);  // read once: evict first
    cb = __ldcs(reinterpret_cast<const uint2*>(ctx + run * kD) + l);
    reinterpret_cast<float4*>(dQ32 + run * kD)[l] = make_float4(0.f, 0.f, 0.f, 0.f);
    reinterpret_cast<uint2*>(dO16 + run * kD)[l] = make_uint2(pack_bf16(a.x, a.y), pack_bf16(a.z, a.w));
  }
  const float2 c01 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&cb.x));
  const float2 c23 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&cb.y));
  float v = a.x * c01.x + a.y * c01.y + a.z * c23.x + a.w * c23.y;
  for (int o = 8; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if (ok && l == 0) {
    const int h = int(run % H);
    const int64_t bi = run / H;  // b * Tq + i
    const int i = int(bi % Tq);
    const int64_t b = bi / Tq;
    D[(b * H + h) * Tq + i] = v;
  }
}

// ------------------------------------------------------------------------------ main kernels
// Dropout per score: ops/dropout_hash.h (the CPU reference's hash); the key of (seed, site) and the
// integer threshold of p are computed once per thread, so each score costs one 32-bit hash
// (dropout_keep_bits: 3 integer multiplies) and a compare.

constexpr int kFwdWarps = 4, kFwdQ = 16 * kFwdWarps;     // queries per forward block
// backward blocks: W warps own 16*W keys (W = kBwdWarps = 4, see launch_backward)
__host__ __device__ constexpr int bwd_keys(int W) { return 16 * W; }
__host__ __device__ constexpr int bwd_pad_s(int W) { return bwd_keys(W) + 8; }  // row length of the dS tile

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void ldsm_x4(uint32_t r[4], const __nv_bfloat16* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t r[4], const __nv_bfloat16* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
// A fragment (16 x 16 at row r0, col c0 of a row-major tile with row stride ld): matrices
// (rows 0-7, cols 0-7), (rows 8-15, cols 0-7), (rows 0-7, cols 8-15), (rows 8-15, cols 8-15).
__device__ __forceinline__ void ldsm_a(uint32_t a[4], const __nv_bfloat16* tile, int ld, int r0, int c0, int lane) {
  ldsm_x4(a, tile + (r0 + (lane & 7) + ((lane >> 3) & 1) * 8) * ld + c0 + (lane >> 4) * 8);
}
// B fragments of two n-tiles (n0, n0+8) for k chunk k0..k0+15, from a tile stored [n][k]
// (row-major, row = output column): r[0], r[1] for n-tile n0, r[2], r[3] for n0+8.
__device__ __forceinline__ void ldsm_b_nk(uint32_t r[4], const __nv_bfloat16* tile, int ld, int n0, int k0, int lane) {
  ldsm_x4(r, tile + (n0 + (lane >> 4) * 8 + (lane & 7)) * ld + k0 + ((lane >> 3) & 1) * 8);
}
// The same from a tile stored [k][n] (row-major, row = reduction index), through .trans.
__device__ __forceinline__ void ldsm_b_kn(uint32_t r[4], const __nv_bfloat16* tile, int ld, int n0, int k0, int lane) {
  ldsm_x4_t(r, tile + (k0 + ((lane >> 3) & 1) * 8 + (lane & 7)) * ld + n0 + (lane >> 4) * 8);
}

// acc[8] (16 x 64) += A · Bᵀ with A = rows r0..r0+15 of a row-major [.][64] tile in shared memory
// (fragments loaded as needed, to keep registers free), B stored [64 n][64 k].
__device__ __forceinline__ void mma_smem_nk(float acc[8][4], const __nv_bfloat16* A, int r0, const __nv_bfloat16* B,
                                            int lane) {
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    uint32_t a[4];
    ldsm_a(a, A, kPad, r0, kk * 16, lane);
#pragma unroll
    for (int np = 0; np < 4; ++np) {
      uint32_t b[4];
      ldsm_b_nk(b, B, kPad, np * 16, kk * 16, lane);
      mma16816(acc[2 * np], a, b[0], b[1]);
      mma16816(acc[2 * np + 1], a, b[2], b[3]);
    }
  }
}
// acc[8] (16 x 64) += C (16 x 64 accumulator-layout values, as bf16 A fragments) · B, B stored [64 k][64 n].
__device__ __forceinline__ void mma_acc_kn(float acc[8][4], const float c[8][4], const __nv_bfloat16* B, int lane) {
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    const uint32_t a[4] = {pack_bf16(c[2 * kk][0], c[2 * kk][1]), pack_bf16(c[2 * kk][2], c[2 * kk][3]),
                           pack_bf16(c[2 * kk + 1][0], c[2 * kk + 1][1]),
                           pack_bf16(c[2 * kk + 1][2], c[2 * kk + 1][3])};
#pragma unroll
    for (int np = 0; np < 4; ++np) {
      uint32_t b[4];
      ldsm_b_kn(b, B, kPad, np * 16, kk * 16, lane);
      mma16816(acc[2 * np], a, b[0], b[1]);
      mma16816(acc[2 * np + 1], a, b[2], b[3]);
    }
  }
}

// Loads rows [r0, r0+R) of one head (64 columns at src, row stride ld) into registers (rows >= T
// as 0), then stores them as bf16 into a row-major tile (row stride kPad). N threads.
template <int R, int N, typename E>
struct TileLoad;
template <int R, int N>
struct TileLoad<R, N, float> {
  static constexpr int kPer = R * (kD / 4) / N;
  float4 v[kPer];
  __device__ __forceinline__ void load(const float* src, int64_t ld, int r0, int T) {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int idx = threadIdx.x + i * N, r = idx >> 4, c = (idx & 15) * 4;
      v[i] = r0 + r < T ? __ldg(reinterpret_cast<const float4*>(src + int64_t(r0 + r) * ld + c))
                        : make_float4(0.f, 0.f, 0.f, 0.f);
    }
  }
  __device__ __forceinline__ void store(__nv_bfloat16* dst) const {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int idx = threadIdx.x + i * N, r = idx >> 4, c = (idx & 15) * 4;
      *reinterpret_cast<uint2*>(dst + r * kPad + c) = make_uint2(pack_bf16(v[i].x, v[i].y), pack_bf16(v[i].z, v[i].w));
    }
  }
};
// bf16 rows: 16-byte loads of 8 elements, stored as they are
template <int R, int N>
struct TileLoad<R, N, __nv_bfloat16> {
  static constexpr int kPer = R * (kD / 8) / N;
  static_assert(kPer * N == R * (kD / 8), "tile rows must split evenly over the threads");
  uint4 v[kPer];
  __device__ __forceinline__ void load(const __nv_bfloat16* src, int64_t ld, int r0, int T) {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int idx = threadIdx.x + i * N, r = idx >> 3, c = (idx & 7) * 8;
      v[i] = r0 + r < T ? __ldg(reinterpret_cast<const uint4*>(src + int64_t(r0 + r) * ld + c)) : make_uint4(0, 0, 0, 0);
    }
  }
  __device__ __forceinline__ void store(__nv_bfloat16* dst) const {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int idx = threadIdx.x + i * N, r = idx >> 3, c = (idx & 7) * 8;
      *reinterpret_cast<uint4*>(dst + r * kPad + c) = v[i];
    }
  }
};

// ----------------------------------------------------------------------------------- cp.async
// cp.async (sm_80+): 16/8/4 bytes global -> shared, zero-filled when !valid (the source is then not
// read; it is still a valid address)
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define HUKUK_FLASH_CP_ASYNC(size, cache, dst, src, valid)                                                  \
  asm volatile("cp.async." cache ".shared.global [%0], [%1], " #size ", %2;\n" ::"r"(smem_addr(dst)), "l"(src), \
               "r"((valid) ? size : 0))
#else  // flash_supported() keeps pre-sm_80 devices off this path (the fat binary still builds sm_75)
#define HUKUK_FLASH_CP_ASYNC(size, cache, dst, src, valid) __trap()
#endif
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  HUKUK_FLASH_CP_ASYNC(16, "cg", dst, src, valid);
}
__device__ __forceinline__ void cp_async8(void* dst, const void* src, bool valid) {
  HUKUK_FLASH_CP_ASYNC(8, "ca", dst, src, valid);
}
__device__ __forceinline__ void cp_async4(void* dst, const void* src, bool valid) {
  HUKUK_FLASH_CP_ASYNC(4, "ca", dst, src, valid);
}
#undef HUKUK_FLASH_CP_ASYNC
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
__device__ __forceinline__ void cp_async_wait_all() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group 0;\n" ::: "memory");
#endif
}

// A tile of R rows x 64 columns of one head (rows >= T as 0) on its way into a bf16 shared tile
// (row stride kPad), in two steps: issue() starts the global loads, land() finishes them; between
// the two the block computes on the previous tile. bf16 sources go straight to shared memory with
// cp.async (land: nothing; the caller waits for the group); fp32 sources are loaded into registers
// (issue) and rounded to bf16 into the tile (land), so the tile passed to both must be the same.
template <int R, int N, typename E>
struct TileAsync;
template <int R, int N>
struct TileAsync<R, N, float> {
  TileLoad<R, N, float> regs;
  __device__ __forceinline__ void issue(const float* src, int64_t ld, int r0, int T, __nv_bfloat16*) {
    regs.load(src, ld, r0, T);
  }
  __device__ __forceinline__ void land(__nv_bfloat16* dst) const { regs.store(dst); }
};
template <int R, int N>
struct TileAsync<R, N, __nv_bfloat16> {
  static constexpr int kPer = R * (kD / 8) / N;
  static_assert(kPer * N == R * (kD / 8), "tile rows must split evenly over the threads");
  __device__ __forceinline__ void issue(const __nv_bfloat16* src, int64_t ld, int r0, int T, __nv_bfloat16* dst) {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int idx = threadIdx.x + i * N, r = idx >> 3, c = (idx & 7) * 8;
      const bool valid = r0 + r < T;
      cp_async16(dst + r * kPad + c, src + int64_t(valid ? r0 + r : 0) * ld + c, valid);
    }
  }
  __device__ __forceinline__ void land(__nv_bfloat16*) const {}
};

// The FAST kernels' keep test (flat index i < 2^32, so the hash's high word is 0):
// ops::dropout_keep_bits(key, i, thr) with the key xors folded through the shifts
// ((x ^ k) >> n == (x >> n) ^ (k >> n), so (i ^ k0) ^ ((i ^ k0) >> 17) == i ^ (i >> 17) ^ a with
// a = k0 ^ (k0 >> 17), and likewise k1 around the >> 11) and the threshold moved before the final
// >> 8 ((x >> 8) >= thr  <=>  x >= thr << 8, thr < 2^24): two logic ops fewer per score, the very
// same decisions. FM (the kernels' FAST mode): 1 = dropout_keep_bits as written (A/B reference,
// HUKUK_FLASH_HASH_REF=1), 2 = the folded form, 3 = the folded form with its first step once per
// 64-key tile and row (the forward only, see keep32_tile_x).
struct KeepHash32 {
  uint32_t a, b, thr8;
};
__device__ __forceinline__ KeepHash32 keep_hash32(ops::DropoutKey k, uint32_t thr) {
  return KeepHash32{k.k0 ^ (k.k0 >> 17), k.k1 ^ (k.k1 >> 11), thr << 8};
}
// The folded test after its first step: x = i ^ (i >> 17) ^ f.a
__device__ __forceinline__ bool keep32_x(KeepHash32 f, uint32_t x) {
  x *= 0xed5ad4bbu;
  x = x ^ (x >> 11) ^ f.b;
  x *= 0xac4c1b51u;
  x ^= x >> 15;
  x *= 0x31848babu;
  x ^= x >> 14;
  return x >= f.thr8;
}
template <int FM>
__device__ __forceinline__ bool keep32(ops::DropoutKey key, uint32_t thr, KeepHash32 f, uint32_t i) {
  if constexpr (FM == 1) return ops::dropout_keep_bits(key, uint64_t(i), thr);
  else return keep32_x(f, i ^ (i >> 17) ^ f.a);
}
// FM = 3 (the forward only, Tk % 64 == 0, HUKUK_FLASH_FWD_IDX64, the default): the first step per 64-key tile and
// row instead of per score. A row's indices in a tile are i = st + jl with st = row*Tk + j0 a
// multiple of 64 and jl < 64, so i = st ^ jl and i >> 17 == st >> 17 (no carry past bit 5); hence
// i ^ (i >> 17) ^ f.a == (st ^ (st >> 17) ^ f.a) ^ jl, and jl = nt*8 + 2t + (e&1) == (nt*8 + (e&1)) ^ 2t
// (disjoint bits): one xor with a compile-time constant per score instead of an add, a shift and an
// xor. The same decisions bit for bit.
__device__ __forceinline__ uint32_t keep32_tile_x(KeepHash32 f, uint32_t st, int t) {
  return st ^ (st >> 17) ^ f.a ^ uint32_t(2 * t);
}

// Floats of the forward's shared Toeplitz-bias window (keys up to Tk + 63, rows of one block):
// Tk + 2*64, rounded to 4
__host__ __device__ constexpr int fwd_diag_floats(int Tk) { return (Tk + 2 * kFwdQ + 3) & ~3; }

// bits (optional): the keep/drop decisions, 64 per (query row, 64-key tile), see flash_attention.h
// MINB: blocks per SM the registers are fitted to. FAST (only where every flat score index fits
// in 32 bits, see idx32_ok): the dropout index in 32-bit arithmetic (the hash's high word is then a
// compile-time 0), no per-score mask logic on tiles that need none, the keep decision is the hash
// alone (a score with p = 0 adds 0 either way) and 1/(1-p) is applied once to ctx instead of to
// every kept score. RECORD (FAST only; !FAST reads `bits` at run time): bits != null.
template <typename E, int MINB, int FM, bool RECORD>
__global__ void __launch_bounds__(kFwdWarps * 32, MINB) flash_fwd_kernel(FlashParams<E> p, E* O, float* lse,
                                                                         uint64_t* bits) {
  constexpr bool FAST = FM > 0;
  static_assert(kFwdQ == kTile, "the dropout bits are laid out in 64 x 64 tiles");
  constexpr int N = kFwdWarps * 32;
  // bf16 I/O: two K/V stages, the next key tile loading (cp.async) while this one is computed
  constexpr int kStages = std::is_same<E, __nv_bfloat16>::value ? 2 : 1;
  __shared__ __align__(16) __nv_bfloat16 sQ[kFwdQ * kPad];
  __shared__ __align__(16) __nv_bfloat16 sK[kStages * kTile * kPad];
  __shared__ __align__(16) __nv_bfloat16 sV[kStages * kTile * kPad];
  __shared__ int sFirstKept;
  // Toeplitz bias (p.bias_diag): the diagonals this block's rows q0..q0+63 meet, sDiag[j - i + q0 + 63]
  // for keys j < Tk + 64 (fwd_diag_floats; 0 outside the table: tile tails, rows >= Tq)
  extern __shared__ __align__(16) float sDiag[];
  pdl::trigger();
  pdl::wait();

  const int bh = blockIdx.y, b = bh / p.H, h = bh % p.H;
  const int q0 = blockIdx.x * kFwdQ;
  if (p.bias_diag) {
    const int n_diag = p.Tq + p.Tk - 1;
    const float* diag_h = p.bias_diag + int64_t(h) * n_diag;
    // sDiag[u] = diag_h[x], x = u + (Tq - 1) - (q0 + 63)
    const int x0 = p.Tq - 1 - q0 - (kFwdQ - 1);
    for (int u = threadIdx.x; u < fwd_diag_floats(p.Tk); u += N) {
      const int x = u + x0;
      sDiag[u] = x >= 0 && x < n_diag ? __ldg(diag_h + x) : 0.f;
    }
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int32_t* km = p.key_mask ? p.key_mask + int64_t(b) * p.key_mask_ld : nullptr;
  const float keep_scale = p.dropout > 0.f ? 1.f / (1.f - p.dropout) : 1.f;
  const ops::DropoutKey drop_key = p.dropout > 0.f ? ops::dropout_key(*p.seed, p.site) : ops::DropoutKey{};
  const uint32_t drop_thr = ops::dropout_threshold(p.dropout);
  const KeepHash32 fold = keep_hash32(drop_key, drop_thr);
  const E* Kh = p.K + int64_t(b) * p.Tk * p.ld + int64_t(h) * kD;
  const E* Vh = p.V + int64_t(b) * p.Tk * p.ld + int64_t(h) * kD;

  find_first_kept(km, p.Tk, &sFirstKept);
  {
    TileLoad<kFwdQ, N, E> q;
    q.load(p.Q + int64_t(b) * p.Tq * p.ld + int64_t(h) * kD, p.ld, q0, p.Tq);
    q.store(sQ);
  }
  __syncthreads();
  int j_end = p.Tk;  // causal: key tiles past the diagonal are all hidden, unless a row here sees no key
  if (p.causal && sFirstKept <= q0) j_end = min(p.Tk, q0 + kFwdQ);

  const int row0 = q0 + warp * 16 + g, row1 = row0 + 8;  // the two rows this thread holds
  const float* bias0 = p.bias && row0 < p.Tq ? p.bias + (int64_t(h) * p.Tq + row0) * p.Tk : nullptr;
  const float* bias1 = p.bias && row1 < p.Tq ? p.bias + (int64_t(h) * p.Tq + row1) * p.Tk : nullptr;
  const bool bias_pairs = p.bias && p.Tk % 2 == 0 && (reinterpret_cast<uintptr_t>(p.bias) & 7) == 0;
  const uint64_t base0 = (uint64_t(bh) * p.Tq + row0) * p.Tk, base1 = base0 + uint64_t(8) * p.Tk;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  float acc[8][4];
#pragma unroll
  for (int nt = 0; nt < 8; ++nt) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;

  const bool pipe = kStages == 2 && p.fwd_pipe;  // block-uniform
  if constexpr (kStages == 2) {
    if (pipe) {  // key tile 0 into stage 0
      TileAsync<kTile, N, E> k, v;
      k.issue(Kh, p.ld, 0, p.Tk, sK);
      v.issue(Vh, p.ld, 0, p.Tk, sV);
      cp_async_commit();
    }
  }
  for (int j0 = 0, st = 0; j0 < j_end; j0 += kTile, st ^= kStages - 1) {
    __nv_bfloat16* sKt = sK + st * (kTile * kPad);
    __nv_bfloat16* sVt = sV + st * (kTile * kPad);
    if constexpr (kStages == 2) {
      if (pipe) {
        cp_async_wait_all();
        __syncthreads();  // tile j0 in stage st; everyone is done with stage st^1 (the previous tile)
        if (j0 + kTile < j_end) {
          TileAsync<kTile, N, E> k, v;
          k.issue(Kh, p.ld, j0 + kTile, p.Tk, sK + (st ^ 1) * (kTile * kPad));
          v.issue(Vh, p.ld, j0 + kTile, p.Tk, sV + (st ^ 1) * (kTile * kPad));
          cp_async_commit();
        }
      }
    }
    if (!pipe) {
      TileLoad<kTile, N, E> k, v;
      k.load(Kh, p.ld, j0, p.Tk);
      v.load(Vh, p.ld, j0, p.Tk);
      __syncthreads();  // everyone is done with the previous K/V tile
      k.store(sKt);
      v.store(sVt);
    }
    // the bias goes straight into the accumulators: S = bias + Q Kᵀ
    float s[8][4];
    if (p.bias_diag) {  // row r = q0 + warp*16 + g (+8), key j = j0 + nt*8 + 2t (+1): sDiag[j - r + q0 + 63]
      const float* d = sDiag + j0 + (kFwdQ - 1) - warp * 16 - g + 2 * t;
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[nt][e] = d[nt * 8 + (e & 1) - (e < 2 ? 0 : 8)];
    } else if (FAST && bias_pairs) {  // (j, j+1) with j even: both in or both out, one 8-byte load
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int k = 0; k < 2; ++k) {
          const int j = j0 + nt * 8 + 2 * t;
          const float* bias = k ? bias1 : bias0;
          const float2 v = bias && j < p.Tk ? __ldg(reinterpret_cast<const float2*>(bias + j)) : make_float2(0.f, 0.f);
          s[nt][2 * k] = v.x;
          s[nt][2 * k + 1] = v.y;
        }
    } else {
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int j = j0 + nt * 8 + 2 * t + (e & 1);
          const float* bias = e < 2 ? bias0 : bias1;
          s[nt][e] = bias && j < p.Tk ? __ldg(bias + j) : 0.f;
        }
    }
    if (!pipe) __syncthreads();
    mma_smem_nk(s, sQ, warp * 16, sKt, lane);

    // keys of the tile not hidden by the key mask, one bit each (keys j0..j0+31, j0+32..j0+63)
    const int ja = j0 + lane, jb = ja + 32;
    const uint32_t open_lo = __ballot_sync(0xffffffffu, !km || (ja < p.Tk && km[ja] != 0));
    const uint32_t open_hi = __ballot_sync(0xffffffffu, !km || (jb < p.Tk && km[jb] != 0));
    float mt[2] = {-INFINITY, -INFINITY};
    uint64_t kbits[2] = {0, 0};  // this thread's keep decisions of its two rows (bit = key in the tile)
    uint32_t kb16[2] = {0, 0};   // FAST: the same, bit nt*2 + (e&1) (shifts known at compile time)
    // FAST: every key of the tile < Tk, none hidden by the key mask, and (causal) none after the
    // warp's first row: no mask to apply (warp-uniform)
    const bool plain = FAST && j0 + kTile <= p.Tk && (open_lo & open_hi) == ~0u &&
                       (!p.causal || j0 + kTile - 1 <= q0 + warp * 16);
    if (plain) {
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) mt[e >> 1] = fmaxf(mt[e >> 1], s[nt][e]);
    } else {
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int jl = nt * 8 + 2 * t + (e & 1), j = j0 + jl, r = e < 2 ? row0 : row1;
          const bool open = ((nt < 4 ? open_lo : open_hi) >> (jl & 31)) & 1u;
          float v = s[nt][e];
          if (j >= p.Tk) v = -INFINITY;
          else if (!open || (p.causal && j > r)) v = kMasked;
          s[nt][e] = v;
          mt[e >> 1] = fmaxf(mt[e >> 1], v);
        }
    }
    // FM 3: the dropout hash's first step for this tile's rows (keep32_tile_x)
    uint32_t tile_x[2] = {0, 0};
    if constexpr (FM == 3) {
      tile_x[0] = keep32_tile_x(fold, uint32_t(base0) + uint32_t(j0), t);
      tile_x[1] = keep32_tile_x(fold, uint32_t(base1) + uint32_t(j0), t);
    }
    float alpha[2];
#pragma unroll
    for (int k = 0; k < 2; ++k) {
      mt[k] = fmaxf(mt[k], __shfl_xor_sync(0xffffffffu, mt[k], 1));
      mt[k] = fmaxf(mt[k], __shfl_xor_sync(0xffffffffu, mt[k], 2));
      const float mn = fmaxf(m[k], mt[k]);  // finite: every tile holds a key < Tk
      alpha[k] = __expf(m[k] - mn);         // 0 on the first tile (m = -inf)
      m[k] = mn;
      l[k] *= alpha[k];
    }
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int k = e >> 1;
        const float pr = __expf(s[nt][e] - m[k]);
        l[k] += pr;
        float pd = pr;
        if (p.dropout > 0.f) {  // flat index into [B, H, Tq, Tk], as softmax_forward's mask
          const int jl = nt * 8 + 2 * t + (e & 1);
          if constexpr (FAST) {
            bool keep;
            if constexpr (FM == 3) {
              keep = keep32_x(fold, tile_x[k] ^ uint32_t(nt * 8 + (e & 1)));
            } else {
              const uint32_t idx = uint32_t(k ? base1 : base0) + uint32_t(j0 + jl);
              keep = keep32<FM>(drop_key, drop_thr, fold, idx);
            }
            pd = keep ? pr : 0.f;
            // bit (nt, e&1), known at compile time; spread to key positions below
            if (RECORD && keep) kb16[k] |= 1u << (nt * 2 + (e & 1));
          } else {
            const uint64_t idx = (k ? base1 : base0) + uint64_t(j0 + jl);
            // with bits, every decision is recorded (the backward's p may differ from 0 where ours underflowed)
            const bool keep = (pr != 0.f || bits) && (k ? row1 : row0) < p.Tq &&
                              ops::dropout_keep_bits(drop_key, idx, drop_thr);
            pd = keep ? pr * keep_scale : 0.f;
            if (keep) kbits[k] |= 1ull << jl;
          }
        }
        s[nt][e] = pd;
        acc[nt][e] *= alpha[k];
      }
    if (FAST && RECORD && p.dropout > 0.f) {
#pragma unroll
      for (int k = 0; k < 2; ++k)
#pragma unroll
        for (int q = 0; q < 16; ++q)
          if ((kb16[k] >> q) & 1u) kbits[k] |= 1ull << ((q >> 1) * 8 + 2 * t + (q & 1));
    }
    if (bits && p.dropout > 0.f) {  // the quad's four threads hold the 64 keys of a row between them
#pragma unroll
      for (int k = 0; k < 2; ++k) {
        kbits[k] |= __shfl_xor_sync(0xffffffffu, kbits[k], 1);
        kbits[k] |= __shfl_xor_sync(0xffffffffu, kbits[k], 2);
      }
      if (t == 0) {
        uint64_t* w = bits + ((int64_t(bh) * gridDim.x + blockIdx.x) * ((p.Tk + kTile - 1) / kTile) + j0 / kTile) * kTile;
        w[warp * 16 + g] = kbits[0];
        w[warp * 16 + g + 8] = kbits[1];
      }
    }
    mma_acc_kn(acc, s, sVt, lane);
  }

#pragma unroll
  for (int k = 0; k < 2; ++k) {
    l[k] += __shfl_xor_sync(0xffffffffu, l[k], 1);
    l[k] += __shfl_xor_sync(0xffffffffu, l[k], 2);
  }
#pragma unroll
  for (int k = 0; k < 2; ++k) {
    const int r = k ? row1 : row0;
    if (r >= p.Tq) continue;
    const float inv = (FAST ? keep_scale : 1.f) / l[k];
    E* o = O + (int64_t(b) * p.Tq + r) * p.ld + int64_t(h) * kD;
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) store2(o + nt * 8 + 2 * t, acc[nt][2 * k] * inv, acc[nt][2 * k + 1] * inv);
    if (t == 0) lse[int64_t(bh) * p.Tq + r] = m[k] <= kMasked ? -INFINITY : m[k] + logf(l[k]);
  }
}

// Rows [r0, r0+R) x columns [c0, c0+C) of one head's bias [Tq, Tk] (fp32) into a shared tile of
// row stride ldd, zero outside [Tq, Tk), with cp.async chunks of VEC floats (Tk % VEC == 0, so a
// chunk is all in or all out). N threads.
template <int VEC, int R, int C, int N>
__device__ __forceinline__ void bias_tile_async_vec(float* dst, int ldd, const float* bias_h, int Tq, int Tk, int r0,
                                                    int c0) {
  constexpr int kChunks = C / VEC;
#pragma unroll 4
  for (int idx = threadIdx.x; idx < R * kChunks; idx += N) {
    const int r = idx / kChunks, c = (idx % kChunks) * VEC, q = r0 + r, k = c0 + c;
    const bool valid = q < Tq && k < Tk;
    const float* src = valid ? bias_h + int64_t(q) * Tk + k : bias_h;
    if constexpr (VEC == 4) cp_async16(dst + r * ldd + c, src, valid);
    else if constexpr (VEC == 2) cp_async8(dst + r * ldd + c, src, valid);
    else cp_async4(dst + r * ldd + c, src, valid);
  }
}
template <int R, int C, int N>
__device__ __forceinline__ void bias_tile_async(float* dst, int ldd, const float* bias_h, int Tq, int Tk, int r0,
                                                int c0) {
  const uintptr_t at = reinterpret_cast<uintptr_t>(bias_h);
  if (Tk % 4 == 0 && at % 16 == 0) bias_tile_async_vec<4, R, C, N>(dst, ldd, bias_h, Tq, Tk, r0, c0);
  else if (Tk % 2 == 0 && at % 8 == 0) bias_tile_async_vec<2, R, C, N>(dst, ldd, bias_h, Tq, Tk, r0, c0);
  else bias_tile_async_vec<1, R, C, N>(dst, ldd, bias_h, Tq, Tk, r0, c0);
}

// backward: one block of W warps per (16*W keys, b*H + h), each warp owning 16 keys; dK, dV
// accumulate in registers over the query tiles (64 each), dQ with fp32 atomics (see the top).
//   - the next query tile's Q, dctx, bias tile, lse, D and dropout bits load while this one is
//     computed (two shared stages; cp.async, or registers for fp32 Q/dctx), 2 __syncthreads per tile;
//   - the bias from shared memory (row stride 16*W + 4 floats: conflict-free in the transposed reads);
//   - for bf16 I/O dctx is read as the bf16 copy the dot kernel leaves in dQ's memory (written by the
//     final conversion only): half the bytes, straight to shared memory;
//   - FAST: see below; on sm_90 dSᵀ goes to shared memory with stmatrix.trans.
// dO: dctx (fp32 I/O) or its bf16 copy (bf16 I/O), i.e. always of type E.
__host__ __device__ constexpr int bwd_bias_ld(int W) { return bwd_keys(W) + 4; }
// Shared memory: [K, V, dS, first-kept flag, Toeplitz bias window] then two stages of [Q, dctx,
// bias tile, lse, D, bits] (byte offsets; every part a multiple of 16 bytes). bias: the [H, Tq, Tk]
// table's tiles are staged; diag_floats: the Toeplitz window's size (0 without p.bias_diag).
struct BwdLayout {
  int k, v, s, first, diag, stage0, stage_bytes, o, bias, l, d, bits, total;
};
// The backward's Toeplitz window: the diagonals of keys j0..j0+16W-1 against queries 0..Tq+63
// (query tile tails): sDiag[j - i + Tq + 63 - j0]
__host__ __device__ constexpr int bwd_diag_floats(int W, int Tq) { return (Tq + 64 + bwd_keys(W) + 3) & ~3; }
__host__ __device__ constexpr int align16(int x) { return (x + 15) & ~15; }
__host__ __device__ inline BwdLayout bwd_layout(int W, bool bias, int diag_floats = 0) {
  BwdLayout L{};
  const int kv = bwd_keys(W) * kPad * 2, qt = kTile * kPad * 2;
  L.k = 0;
  L.v = kv;
  L.s = 2 * kv;
  L.first = L.s + align16(kTile * bwd_pad_s(W) * 2);
  L.diag = L.first + 16;
  L.stage0 = L.diag + align16(diag_floats * 4);
  // within a stage: Q at 0
  L.o = qt;
  L.bias = 2 * qt;
  L.l = L.bias + (bias ? kTile * bwd_bias_ld(W) * 4 : 0);
  L.d = L.l + kTile * 4;
  L.bits = L.d + kTile * 4;
  L.stage_bytes = L.bits + (bwd_keys(W) / kTile) * kTile * 8;
  L.total = L.stage0 + 2 * L.stage_bytes;
  return L;
}

// The one-tile backward's share of the dot kernel (ONE below): one query tile's dctx (fp32, rows
// [r0, r0+64) of one head, rows >= T as 0) and ctx (bf16) in registers, laid out as
// flash_bwd_dot16_kernel's lanes (the 16 threads of a half warp hold one row, thread l its columns
// 4l..4l+3), so that land() computes D with the very same arithmetic (the same products, fma
// contractions and shuffle order: D bit for bit) and rounds dctx to bf16 as it does (pack_bf16).
// N threads (a multiple of 16).
template <int N>
struct DotTile {
  static constexpr int kPer = kTile * (kD / 4) / N;
  static_assert(kPer * N == kTile * (kD / 4) && N % 16 == 0, "rows must split evenly over half warps");
  float4 a[kPer];
  uint2 c[kPer];
  __device__ __forceinline__ void load(const float* dctx, const __nv_bfloat16* ctx, int64_t ld, int r0, int T) {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int idx = threadIdx.x + i * N, r = idx >> 4, col = (idx & 15) * 4;
      const bool in = r0 + r < T;
      const int64_t at = int64_t(in ? r0 + r : 0) * ld + col;
      a[i] = in ? __ldcs(reinterpret_cast<const float4*>(dctx + at)) : make_float4(0.f, 0.f, 0.f, 0.f);
      c[i] = in ? __ldcs(reinterpret_cast<const uint2*>(ctx + at)) : make_uint2(0, 0);
    }
  }
  // D of the 64 rows into sD[row], dctx as bf16 into the tile sdO (row stride kPad)
  __device__ __forceinline__ void land(__nv_bfloat16* sdO, float* sD) const {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int idx = threadIdx.x + i * N, r = idx >> 4, col = (idx & 15) * 4;
      *reinterpret_cast<uint2*>(sdO + r * kPad + col) =
          make_uint2(pack_bf16(a[i].x, a[i].y), pack_bf16(a[i].z, a[i].w));
      const float2 c01 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&c[i].x));
      const float2 c23 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&c[i].y));
      float v = a[i].x * c01.x + a[i].y * c01.y + a[i].z * c23.x + a[i].w * c23.y;
      for (int o = 8; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
      if ((idx & 15) == 0) sD[r] = v;
    }
  }
};

// Thread-block clusters (sm_90; ONE == 2 below): the block's rank in its cluster, a barrier over the
// cluster (release/acquire: shared-memory writes before it, remote ones too, are visible after it),
// and an 8-byte store into the shared memory of block `rank` of the cluster at the address that
// `local` has in ours.
__device__ __forceinline__ void cluster_sync() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::: "memory");
#else
  __trap();  // the host launches clusters on sm_90 only
#endif
}
__device__ __forceinline__ void st_cluster_f2(const void* local, uint32_t rank, float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  uint32_t remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(smem_addr(local)), "r"(rank));
  asm volatile("st.shared::cluster.v2.f32 [%0], {%1, %2};\n" ::"r"(remote), "f"(a), "f"(b) : "memory");
#else
  __trap();
#endif
}

// ONE (HUKUK_FLASH_BWD_ONE_TILE, bf16 I/O: flash_bwd_one_tile_kernel) != 0: the block (1) or the
// cluster of two key blocks (2) holds every key of its (b, h), so it owns dQ of its queries: per query
// tile each block reads dctx in fp32 and ctx (DotTile: D and the bf16 dctx tile, the dot kernel's
// arithmetic), and dQ is written once as bf16 (dQ16) instead of added into the fp32 scratch with
// atomics; dO, Dsum and dQ are then unused.
//   1 (Tk <= 64): one key block, its dQ tile is complete.
//   2 (64 < Tk <= 128, sm_90): a cluster of the two key blocks (blockIdx.x = the cluster rank). Per
//     query tile both visit, each sends the half of its dQ partial that the other writes (block r
//     writes columns 32r..32r+31) into the other's dS tile (free once the dQ product has read it:
//     64 x 32 fp32, row stride 36) through distributed shared memory, and writes its half as
//     mine + theirs (the fp32 sum the atomics formed, a + b == b + a: the same values). A query tile
//     only key block 0 visits (causal: block 1 skips tile 0 unless a row there sees no key) is
//     complete in block 0. Two cluster barriers per shared tile.
// !ONE: dctx32, ctx, dQ16 are unused (null).
// FAST (only where every flat score index fits in 32 bits, see idx32_ok): the dropout index in
// 32-bit arithmetic, no per-score mask logic on tiles that need none, the keep decision without
// the p != 0 test (a score with p = 0 gives 0 either way), and 1/(1-p) applied once to dV
template <int W, typename E, int FM, int ONE>
__device__ __forceinline__ void flash_bwd_body(FlashParams<E> p, const E* dO, const float* lse,
                                               const float* Dsum, float* dQ, E* dK, E* dV, const uint64_t* bits,
                                               const float* dctx32, const E* ctx, E* dQ16) {
  constexpr bool FAST = FM > 0;
  constexpr int N = W * 32, kBwdKeys = bwd_keys(W), kPadS = bwd_pad_s(W), kBiasLd = bwd_bias_ld(W);
  constexpr int kDqCols = 64 / (W / 4), kDqTiles = kDqCols / 8;
  constexpr int kBitWords = (kBwdKeys / kTile) * kTile;
  extern __shared__ __align__(16) unsigned char smem[];
  pdl::trigger();
  pdl::wait();
  const bool has_bias = p.bias != nullptr;  // the [H, Tq, Tk] table (null when p.bias_diag is used)
  const BwdLayout L = bwd_layout(W, has_bias, p.bias_diag ? bwd_diag_floats(W, p.Tq) : 0);
  float* sDiag = reinterpret_cast<float*>(smem + L.diag);
  __nv_bfloat16* sK = reinterpret_cast<__nv_bfloat16*>(smem + L.k);
  __nv_bfloat16* sV = reinterpret_cast<__nv_bfloat16*>(smem + L.v);
  __nv_bfloat16* sdS = reinterpret_cast<__nv_bfloat16*>(smem + L.s);
  auto stage = [&](int st) { return smem + L.stage0 + st * L.stage_bytes; };
  auto sQ = [&](int st) { return reinterpret_cast<__nv_bfloat16*>(stage(st)); };
  auto sdO = [&](int st) { return reinterpret_cast<__nv_bfloat16*>(stage(st) + L.o); };
  auto sB = [&](int st) { return reinterpret_cast<float*>(stage(st) + L.bias); };
  auto sL = [&](int st) { return reinterpret_cast<float*>(stage(st) + L.l); };
  auto sD = [&](int st) { return reinterpret_cast<float*>(stage(st) + L.d); };
  auto sBits = [&](int st) { return reinterpret_cast<uint64_t*>(stage(st) + L.bits); };
  int* sFirstKept = reinterpret_cast<int*>(smem + L.first);
  const bool use_bits = bits && p.dropout > 0.f;
  const int nKT = (p.Tk + kTile - 1) / kTile, nQT = (p.Tq + kTile - 1) / kTile;

  const int bh = blockIdx.y, b = bh / p.H, h = bh % p.H;
  const int j0 = blockIdx.x * kBwdKeys;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int32_t* km = p.key_mask ? p.key_mask + int64_t(b) * p.key_mask_ld : nullptr;
  const float keep_scale = p.dropout > 0.f ? 1.f / (1.f - p.dropout) : 1.f;
  const ops::DropoutKey drop_key = p.dropout > 0.f ? ops::dropout_key(*p.seed, p.site) : ops::DropoutKey{};
  const uint32_t drop_thr = ops::dropout_threshold(p.dropout);
  const KeepHash32 fold = keep_hash32(drop_key, drop_thr);
  const float uniform = 1.f / p.Tk;
  const int64_t qbase = int64_t(b) * p.Tq * p.ld + int64_t(h) * kD;
  const int64_t kbase = int64_t(b) * p.Tk * p.ld + int64_t(h) * kD;
  const float* bias_h = has_bias ? p.bias + int64_t(h) * p.Tq * p.Tk : nullptr;
  const float* lse_bh = lse + int64_t(bh) * p.Tq;
  const float* D_bh = ONE ? nullptr : Dsum + int64_t(bh) * p.Tq;
  // ONE 1: query tile 0's dctx and ctx (the first tile visited) on their way now, their latency
  // overlapping the setup below (not for the pair: its registers fitted to 3 blocks per SM then
  // spill 568 bytes instead of ~300)
  DotTile<N> dot0;
  if constexpr (ONE == 1) dot0.load(dctx32 + qbase, ctx + qbase, p.ld, 0, p.Tq);

  TileAsync<kTile, N, E> qq, oq;  // the next query tile's Q / dctx in flight
  // the next query tile (>= i) that this block visits; causal: a tile wholly before our keys is
  // skipped unless a row of it sees no key
  auto next_tile = [&](int i, int first_kept) {
    while (i < p.Tq && p.causal && i + kTile - 1 < j0 && i >= first_kept) i += kTile;
    return i;
  };
  auto issue = [&](int i0, int st) {
    qq.issue(p.Q + qbase, p.ld, i0, p.Tq, sQ(st));
    if constexpr (!ONE) oq.issue(dO + qbase, p.ld, i0, p.Tq, sdO(st));  // ONE: DotTile at the tile's start
    if (has_bias) bias_tile_async<kTile, kBwdKeys, N>(sB(st), kBiasLd, bias_h, p.Tq, p.Tk, i0, j0);
    for (int i = threadIdx.x; i < kTile; i += N) {
      const bool in = i0 + i < p.Tq;
      cp_async4(sL(st) + i, lse_bh + (in ? i0 + i : 0), in);
      if constexpr (!ONE) cp_async4(sD(st) + i, D_bh + (in ? i0 + i : 0), in);
    }
    if (use_bits)
      for (int x = threadIdx.x; x < kBitWords; x += N) {
        const int kt = j0 / kTile + x / kTile;
        const bool in = kt < nKT;
        cp_async8(sBits(st) + x, bits + (in ? ((int64_t(bh) * nQT + i0 / kTile) * nKT + kt) * kTile + x % kTile : 0), in);
      }
    cp_async_commit();
  };

  find_first_kept(km, p.Tk, sFirstKept);
  if (p.bias_diag) {  // sDiag[u] = diag_h[x], x = u + j0 - 64 (0 outside the table); visible after the sync below
    const int n_diag = p.Tq + p.Tk - 1;
    const float* diag_h = p.bias_diag + int64_t(h) * n_diag;
    for (int u = threadIdx.x; u < bwd_diag_floats(W, p.Tq); u += N) {
      const int x = u + j0 - 64;
      sDiag[u] = x >= 0 && x < n_diag ? __ldg(diag_h + x) : 0.f;
    }
  }
  {
    TileAsync<kBwdKeys, N, E> k, v;
    k.issue(p.K + kbase, p.ld, j0, p.Tk, sK);
    v.issue(p.V + kbase, p.ld, j0, p.Tk, sV);
    k.land(sK);
    v.land(sV);
    cp_async_commit();
  }
  __syncthreads();
  const int first_kept = *sFirstKept;
  const int key0 = j0 + warp * 16 + g, key1 = key0 + 8;
  const int ks0 = key0 >= p.Tk ? 0 : (km && km[key0] == 0 ? 1 : 2);
  const int ks1 = key1 >= p.Tk ? 0 : (km && km[key1] == 0 ? 1 : 2);
  const uint64_t kidx0 = uint64_t(bh) * p.Tq * p.Tk + key0, kidx1 = kidx0 + 8;
  const int dq_r0 = (warp & 3) * 16, dq_c0 = (warp >> 2) * kDqCols;
  const bool warp_keys_visible = __all_sync(0xffffffffu, ks0 == 2 && ks1 == 2);

  float dk[8][4], dv[8][4];
#pragma unroll
  for (int nt = 0; nt < 8; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[nt][e] = dv[nt][e] = 0.f;

  int i0 = next_tile(0, first_kept);
  if (i0 < p.Tq) issue(i0, 0);
  for (int st = 0; i0 < p.Tq; st ^= 1) {
    if constexpr (ONE) {
      // ONE 1: the first tile's loads went out at the start (dot0); the others here, their latency
      // exposed (1-2 query tiles at the shapes this serves)
      DotTile<N> dt;
      if (ONE == 1 && i0 == 0) dt = dot0;
      else dt.load(dctx32 + qbase, ctx + qbase, p.ld, i0, p.Tq);
      cp_async_wait_all();
      qq.land(sQ(st));
      dt.land(sdO(st), sD(st));
    } else {
      cp_async_wait_all();
      qq.land(sQ(st));
      oq.land(sdO(st));
    }
    __syncthreads();  // tile i0 in stage st; everyone is done with stage st^1 and with sdS
    const int i_next = next_tile(i0 + kTile, first_kept);
    if (i_next < p.Tq) issue(i_next, st ^ 1);
    const __nv_bfloat16 *Q_ = sQ(st), *O_ = sdO(st);
    const float *L_ = sL(st), *D_ = sD(st);

    float st_[8][4], dpt[8][4];  // Sᵀ then Pdᵀ; dPdᵀ then dSᵀ (rows = our keys, cols = queries)
    if (p.bias_diag) {  // key j0 + warp*16 + g (+8), query i0 + nt*8 + 2t (+1): sDiag[j - i + Tq + 63 - j0]
      const float* d = sDiag + warp * 16 + g - 2 * t + p.Tq + 63 - i0;
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) st_[nt][e] = d[(e < 2 ? 0 : 8) - nt * 8 - (e & 1)];
    } else if (has_bias) {
      const float* bcol = sB(st) + warp * 16 + g;
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) st_[nt][e] = bcol[(nt * 8 + 2 * t + (e & 1)) * kBiasLd + (e < 2 ? 0 : 8)];
    } else {
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) st_[nt][0] = st_[nt][1] = st_[nt][2] = st_[nt][3] = 0.f;
    }
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) dpt[nt][0] = dpt[nt][1] = dpt[nt][2] = dpt[nt][3] = 0.f;
    mma_smem_nk(st_, sK, warp * 16, Q_, lane);
    mma_smem_nk(dpt, sV, warp * 16, O_, lane);

    // dropout and dS for score (nt, e) of probability pr
    auto finish = [&](int nt, int e, float pr) {
      const int il = nt * 8 + 2 * t + (e & 1), i = i0 + il;
      float pd = pr, dp = dpt[nt][e];
      if (p.dropout > 0.f) {
        bool keep;
        if constexpr (FAST) {
          if (use_bits) {
            keep = (uint32_t(sBits(st)[(warp / 4) * kTile + il] >> ((warp & 3) * 16 + g)) >> (e < 2 ? 0 : 8)) & 1u;
          } else {
            const uint32_t idx = uint32_t(e < 2 ? kidx0 : kidx1) + uint32_t(i) * uint32_t(p.Tk);
            keep = keep32<FM>(drop_key, drop_thr, fold, idx);
          }
          pd = keep ? pr : 0.f;
        } else {
          if (use_bits) {
            keep = pr != 0.f &&
                   ((sBits(st)[(warp / 4) * kTile + il] >> (((warp & 3) * 16) + g + (e < 2 ? 0 : 8))) & 1u);
          } else {
            const uint64_t idx = (e < 2 ? kidx0 : kidx1) + uint32_t(i) * uint32_t(p.Tk);
            keep = pr != 0.f && ops::dropout_keep_bits(drop_key, idx, drop_thr);
          }
          pd = keep ? pr * keep_scale : 0.f;
        }
        dp = keep ? dp * keep_scale : 0.f;
      }
      st_[nt][e] = pd;
      dpt[nt][e] = pr * (dp - D_[il]);
    };
    // FAST: every query of the tile < Tq and seeing some key, every key of this warp visible and
    // (causal) before every query: P = exp(S - lse), no mask (warp-uniform)
    bool plain = false;
    if constexpr (FAST)
      plain = warp_keys_visible && i0 + kTile <= p.Tq && (!p.causal || j0 + warp * 16 + 15 <= i0) &&
              __all_sync(0xffffffffu, L_[lane] != -INFINITY && L_[lane + 32] != -INFINITY);
    if (plain) {
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) finish(nt, e, __expf(st_[nt][e] - L_[nt * 8 + 2 * t + (e & 1)]));
    } else {
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int il = nt * 8 + 2 * t + (e & 1), i = i0 + il;
          const int key = e < 2 ? key0 : key1, state = e < 2 ? ks0 : ks1;
          const float Lr = L_[il];
          float pr = 0.f;
          if (i < p.Tq && state != 0) {
            if (Lr == -INFINITY) pr = uniform;
            else if (state == 2 && !(p.causal && key > i)) pr = __expf(st_[nt][e] - Lr);
          }
          finish(nt, e, pr);
        }
    }
    mma_acc_kn(dv, st_, O_, lane);
    mma_acc_kn(dk, dpt, Q_, lane);
    // dSᵀ -> sdS[q][key]
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (FAST) {
      // stmatrix .trans: four 8x8 matrices (n-tiles nt, nt+1 x keys 0-7, 8-15 of the warp), each
      // fragment element (key g, query 2t..2t+1) landing at row = query, column = key; lanes 8m..8m+7
      // give the row addresses of matrix m
      const int m = lane >> 3;
#pragma unroll
      for (int nt = 0; nt < 8; nt += 2) {
        const __nv_bfloat16* row = sdS + ((nt + (m >> 1)) * 8 + (lane & 7)) * kPadS + warp * 16 + (m & 1) * 8;
        asm volatile("stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(smem_addr(row)),
                     "r"(pack_bf16(dpt[nt][0], dpt[nt][1])), "r"(pack_bf16(dpt[nt][2], dpt[nt][3])),
                     "r"(pack_bf16(dpt[nt + 1][0], dpt[nt + 1][1])), "r"(pack_bf16(dpt[nt + 1][2], dpt[nt + 1][3]))
                     : "memory");
      }
    } else
#endif
    {
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; e += 2) {
          const int il = nt * 8 + 2 * t, kl = warp * 16 + g + (e < 2 ? 0 : 8);
          sdS[il * kPadS + kl] = __float2bfloat16_rn(dpt[nt][e]);
          sdS[(il + 1) * kPadS + kl] = __float2bfloat16_rn(dpt[nt][e + 1]);
        }
    }
    __syncthreads();
    float dq[kDqTiles][4];
#pragma unroll
    for (int nt = 0; nt < kDqTiles; ++nt) dq[nt][0] = dq[nt][1] = dq[nt][2] = dq[nt][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < kBwdKeys / 16; ++kk) {
      uint32_t a[4];
      ldsm_a(a, sdS, kPadS, dq_r0, kk * 16, lane);
#pragma unroll
      for (int np = 0; np < kDqTiles / 2; ++np) {
        uint32_t bb[4];
        ldsm_b_kn(bb, sK, kPad, dq_c0 + np * 16, kk * 16, lane);
        mma16816(dq[2 * np], a, bb[0], bb[1]);
        mma16816(dq[2 * np + 1], a, bb[2], bb[3]);
      }
    }
    if constexpr (ONE == 2) {
      static_assert(W == 4 && kDqTiles == 8, "the pair splits a warp's 64 dQ columns in halves");
      static_assert(kTile * 36 * 4 <= kTile * kPadS * 2, "the dQ exchange fits the dS tile");
      const int rank = blockIdx.x, other = rank ^ 1;
      // does the other key block visit this query tile (its next_tile)? Key block 0 visits every tile
      const int jo = other * kBwdKeys;
      const bool pair = !(p.causal && i0 + kTile - 1 < jo && i0 >= first_kept);
      float* xbuf = reinterpret_cast<float*>(sdS);  // [64 rows][36]: the other's partial of our columns
      if (pair) {
        cluster_sync();  // both blocks are done reading their dS tiles
#pragma unroll
        for (int k = 0; k < 2; ++k)
#pragma unroll
          for (int q = 0; q < 4; ++q) {
            const int nt = other * 4 + q;
            st_cluster_f2(xbuf + (dq_r0 + g + 8 * k) * 36 + q * 8 + 2 * t, uint32_t(other), dq[nt][2 * k],
                          dq[nt][2 * k + 1]);
          }
        cluster_sync();  // theirs in our xbuf
      }
#pragma unroll
      for (int k = 0; k < 2; ++k) {
        const int i = i0 + dq_r0 + g + 8 * k;
        if (i >= p.Tq) continue;
        E* q = dQ16 + qbase + int64_t(i) * p.ld;
        if (pair) {
#pragma unroll
          for (int qq2 = 0; qq2 < 4; ++qq2) {
            const int nt = rank * 4 + qq2;
            const float2 o = *reinterpret_cast<const float2*>(xbuf + (dq_r0 + g + 8 * k) * 36 + qq2 * 8 + 2 * t);
            store2(q + nt * 8 + 2 * t, dq[nt][2 * k] + o.x, dq[nt][2 * k + 1] + o.y);
          }
        } else {  // only key block 0 visits it: its dQ is complete
#pragma unroll
          for (int nt = 0; nt < kDqTiles; ++nt) store2(q + nt * 8 + 2 * t, dq[nt][2 * k], dq[nt][2 * k + 1]);
        }
      }
    } else {
      // float2 atomics: float4 ones (lanes t, t^1 swapping halves so that each holds 4 consecutive
      // columns) measured 4-7% slower at 512x512 (H200 06:40 UTC, 60 bytes of register spills), dropped
#pragma unroll
      for (int k = 0; k < 2; ++k) {
        const int i = i0 + dq_r0 + g + 8 * k;
        if (i >= p.Tq) continue;
        if constexpr (ONE == 1) {  // every key is ours: dQ of this row is complete, written once
          E* q = dQ16 + qbase + int64_t(i) * p.ld + dq_c0;
#pragma unroll
          for (int nt = 0; nt < kDqTiles; ++nt) store2(q + nt * 8 + 2 * t, dq[nt][2 * k], dq[nt][2 * k + 1]);
          continue;
        }
        float* q = dQ + qbase + int64_t(i) * p.ld + dq_c0;
#pragma unroll
        for (int nt = 0; nt < kDqTiles; ++nt) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
          atomicAdd(reinterpret_cast<float2*>(q + nt * 8 + 2 * t), make_float2(dq[nt][2 * k], dq[nt][2 * k + 1]));
#else
          atomicAdd(q + nt * 8 + 2 * t, dq[nt][2 * k]);
          atomicAdd(q + nt * 8 + 2 * t + 1, dq[nt][2 * k + 1]);
#endif
        }
      }
    }
    i0 = i_next;
  }
  cp_async_wait_all();  // the K/V group when no query tile was visited
  if (FAST && p.dropout > 0.f)
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) dv[nt][e] *= keep_scale;

#pragma unroll
  for (int k = 0; k < 2; ++k) {
    const int key = k ? key1 : key0;
    if (key >= p.Tk) continue;
    E* dkp = dK + kbase + int64_t(key) * p.ld;
    E* dvp = dV + kbase + int64_t(key) * p.ld;
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
      store2(dkp + nt * 8 + 2 * t, dk[nt][2 * k], dk[nt][2 * k + 1]);
      store2(dvp + nt * 8 + 2 * t, dv[nt][2 * k], dv[nt][2 * k + 1]);
    }
  }
}

// MINB: blocks per SM the registers are fitted to (1: up to 255 registers, 2 blocks of 4 warps per SM;
// 3: 168 registers with some spilling, 3 blocks, the bf16 default where the shared memory fits: see
// bwd_three_blocks)
template <int W, typename E, int FM, int MINB = 1>
__global__ void __launch_bounds__(W * 32, MINB) flash_bwd_kernel(FlashParams<E> p, const E* dO, const float* lse,
                                                            const float* Dsum, float* dQ, E* dK, E* dV,
                                                            const uint64_t* bits) {
  flash_bwd_body<W, E, FM, 0>(p, dO, lse, Dsum, dQ, dK, dV, bits, nullptr, nullptr, nullptr);
}

// The whole bf16 backward in one launch where one block (ONE 1: Tk <= 16*W) or a cluster of two
// (ONE 2: Tk <= 32*W, sm_90) holds every key: D and the bf16 dctx per query tile in the block, dQ
// written once (flash_bwd_body's ONE). MINB as flash_bwd_kernel's.
template <int W, int FM, int ONE, int MINB>
__global__ void __launch_bounds__(W * 32, MINB)
    flash_bwd_one_tile_kernel(FlashParams<__nv_bfloat16> p, const float* dctx, const __nv_bfloat16* ctx,
                              const float* lse, __nv_bfloat16* dQ, __nv_bfloat16* dK, __nv_bfloat16* dV,
                              const uint64_t* bits) {
  flash_bwd_body<W, __nv_bfloat16, FM, ONE>(p, nullptr, lse, nullptr, nullptr, dK, dV, bits, dctx, ctx, dQ);
}

// dQ's fp32 accumulator (bf16 I/O) -> the bf16 output, 4 elements per thread (n % 4 == 0)
__global__ void flash_dq_to_bf16_kernel(const float* acc, __nv_bfloat16* dQ, int64_t n4) {
  pdl::trigger();
  pdl::wait();
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n4) return;
  const float4 v = reinterpret_cast<const float4*>(acc)[i];
  reinterpret_cast<uint2*>(dQ)[i] = make_uint2(pack_bf16(v.x, v.y), pack_bf16(v.z, v.w));
}

template <typename E>
FlashParams<E> make_params(const SoftmaxArgs& a, const E* Q, const E* K, const E* V) {
  FlashParams<E> p;
  p.B = a.B; p.H = a.H; p.Tq = a.Tq; p.Tk = a.Tk;
  p.ld = int64_t(a.H) * kD;
  p.Q = Q; p.K = K; p.V = V;
  p.bias = a.bias_diag ? nullptr : a.bias;
  p.bias_diag = a.bias_diag;
  static const bool fwd_sync = [] {
    const char* e = std::getenv("HUKUK_FLASH_FWD_SYNC");
    return e && e[0] == '1';
  }();
  p.fwd_pipe = !fwd_sync;
  p.key_mask = a.key_mask;
  p.key_mask_ld = a.key_mask_ld;
  p.causal = a.causal;
  p.dropout = a.dropout;
  p.seed = a.seed;
  p.site = a.site;
  return p;
}

bool aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15) == 0; }

void check_args(const SoftmaxArgs& a, int dk, std::initializer_list<const void*> ptrs) {
  HUKUK_CHECK(dk == kD && a.q_offset == 0 && a.B > 0 && a.H > 0 && a.Tq > 0 && a.Tk > 0, "ENGINE_INVALID_ARG",
              "flash attention: unsupported case (check flash_supported first)");
  HUKUK_CHECK(a.dropout <= 0.f || (a.seed && a.dropout < 1.f), "ENGINE_INVALID_ARG",
              "flash attention: dropout needs a seed and p < 1");
  HUKUK_CHECK(a.B * int64_t(a.H) <= 65535, "ENGINE_INVALID_ARG", "flash attention: B*H over 65535");
  // the Toeplitz windows fit the shared memory the kernels are given (forward: ~45 KiB of static
  // tiles (bf16, two K/V stages) + fwd_diag_floats, past 48 KiB through the opt-in attribute that
  // launch_forward sets; backward: under the bias-tile layout's size)
  HUKUK_CHECK(!a.bias_diag || int64_t(a.Tq) + a.Tk <= kFlashBiasDiagMaxLen, "ENGINE_INVALID_ARG",
              "flash attention: bias_diag needs Tq + Tk <= kFlashBiasDiagMaxLen");
  for (const void* ptr : ptrs)
    HUKUK_CHECK(ptr && aligned16(ptr), "ENGINE_INVALID_ARG", "flash attention: tensors must be 16-byte aligned");
}

// Every flat score index ((b*H + h)*Tq + i)*Tk + j fits in 32 bits: the dropout hash then sees a
// zero high word, so the kernels may form the index in 32-bit arithmetic (same masks).
bool idx32_ok(const SoftmaxArgs& a) {
  return uint64_t(a.B) * uint64_t(a.H) * uint64_t(a.Tq) * uint64_t(a.Tk) <= (uint64_t(1) << 32);
}

// The FAST kernels' keep test: 2 (folded, the default) or 1 (HUKUK_FLASH_HASH_REF=1: dropout_keep_bits
// as written; same masks, for an A/B measurement)
int fast_mode() {
  static const int m = [] {
    const char* e = std::getenv("HUKUK_FLASH_HASH_REF");
    return e && e[0] == '1' ? 1 : 2;
  }();
  return m;
}

template <typename E, int MINB, int FM>
void launch_forward(const FlashParams<E>& p, dim3 grid, E* ctx, float* lse, cudaStream_t s, uint64_t* bits) {
  constexpr bool FAST = FM > 0;
  const size_t smem = p.bias_diag ? size_t(fwd_diag_floats(p.Tk)) * sizeof(float) : 0;
  static bool attr_set = false;  // bf16: 45 KiB of static tiles + the window can pass 48 KiB (opt-in)
  if (!attr_set) {
    const int bytes = fwd_diag_floats(kFlashBiasDiagMaxLen) * int(sizeof(float));
    HUKUK_CUDA_CHECK(cudaFuncSetAttribute(flash_fwd_kernel<E, MINB, FM, true>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
    HUKUK_CUDA_CHECK(cudaFuncSetAttribute(flash_fwd_kernel<E, MINB, FM, false>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
    attr_set = true;
  }
  if (FAST && bits && p.dropout > 0.f)
    pdl::launch(flash_fwd_kernel<E, MINB, FM, true>, grid, kFwdWarps * 32, smem, s, p, ctx, lse, bits);
  else
    pdl::launch(flash_fwd_kernel<E, MINB, FM, false>, grid, kFwdWarps * 32, smem, s, p, ctx, lse,
                FAST ? nullptr : bits);
}

// HUKUK_FLASH_FWD_IDX64 (on by default since 12:20 UTC; =0 off): the bf16 forward's dropout hash with its
// first step per 64-key tile (FM 3, keep32_tile_x) where Tk % 64 == 0 (the same keep decisions: ctx bit
// for bit; H200 11:43 UTC, forward 0.957x at 512, 0.98x at 128); read once per process, the test hook
// overrides it (flash_set_test_switches)
CachedEnvSwitch g_fwd_idx64{[] { return env_switch("HUKUK_FLASH_FWD_IDX64") == 0 ? 0 : 1; }};
bool fwd_idx64() { return g_fwd_idx64.value() == 1; }

template <typename E>
void forward_impl(const SoftmaxArgs& a, int dk, const E* Q, const E* K, const E* V, E* ctx, float* lse,
                  cudaStream_t s, uint64_t* dropout_bits) {
  check_args(a, dk, {Q, K, V, ctx, lse});
  const FlashParams<E> p = make_params(a, Q, K, V);
  const dim3 grid(unsigned((a.Tq + kFwdQ - 1) / kFwdQ), unsigned(a.B * a.H));
  // registers fitted to 4 blocks per SM pay where the key range is long (H200, 16x12: 5-7% faster at
  // Tk 512) and cost at Tk 64-128 (up to 12% slower), where 3 blocks stay
  const bool ref = fast_mode() == 1;
  if (!idx32_ok(a)) {
    launch_forward<E, 3, 0>(p, grid, ctx, lse, s, dropout_bits);
    return;
  }
  if constexpr (std::is_same<E, __nv_bfloat16>::value) {  // the engine's I/O type only (fewer kernels to build)
    if (!ref && a.Tk % kTile == 0 && fwd_idx64()) {
      (a.Tk >= 256 ? launch_forward<E, 4, 3> : launch_forward<E, 3, 3>)(p, grid, ctx, lse, s, dropout_bits);
      return;
    }
  }
  if (a.Tk >= 256) (ref ? launch_forward<E, 4, 1> : launch_forward<E, 4, 2>)(p, grid, ctx, lse, s, dropout_bits);
  else (ref ? launch_forward<E, 3, 1> : launch_forward<E, 3, 2>)(p, grid, ctx, lse, s, dropout_bits);
}

// The backward runs 4-warp blocks (64 keys) for every Tk: on H200 at 16x12x512x512 they were 1-10%
// faster than 8-warp blocks (128 keys) once the loads were pipelined (two blocks per SM instead of one).
constexpr int kBwdWarps = 4;

// The bf16 FAST backward with registers fitted to 3 blocks per SM (168 registers; ptxas: 220 bytes
// of spill stores, 132 of loads) where 3 blocks' shared memory fits (the Toeplitz bias or none: ~69
// KiB at Tq 512; the table's two bias stages need ~99 KiB, so it stays at 2). ON by default since
// H200, 10:55 UTC 2026-11-28 (code 7756764): the training step 130.75 vs 133.02 ms at 16x512x512,
// 74.07 vs 75.45 at 8x512x512, 32.24 vs 32.11 at 16x64x128 (noise). Why: ncu (09:04 UTC) had the
// backward latency bound at 2 blocks of 4 warps per SM (no eligible warp 71 % of cycles); 12 warps
// instead of 8 hide more than the spills cost. HUKUK_FLASH_BWD_3BLOCKS=0 turns it off (A/B); the
// variable is read once per process, and flash_set_backward_three_blocks overrides it (test hook).
CachedEnvSwitch g_bwd_three_blocks{[] { return env_switch("HUKUK_FLASH_BWD_3BLOCKS") == 0 ? 0 : 1; }};
bool bwd_three_blocks() { return g_bwd_three_blocks.value() == 1; }

// An attribute of the current device, 0 when the query fails (the error cleared)
int current_device_attribute(cudaDeviceAttr what) {
  int dev = 0, r = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&r, what, dev) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return r;
}
// The shared memory of one SM (228 KiB on sm_90, 164 on sm_80, ~100 on sm_86/89: asked of the
// device, not assumed; 0 when the query fails), once per process
int sm_shared_bytes() {
  static const int v = current_device_attribute(cudaDevAttrMaxSharedMemoryPerMultiprocessor);
  return v;
}

// The backward's dynamic shared memory for these parameters
template <typename E>
int bwd_smem_bytes(const FlashParams<E>& p) {
  return bwd_layout(kBwdWarps, p.bias != nullptr, p.bias_diag ? bwd_diag_floats(kBwdWarps, p.Tq) : 0).total;
}

// Whether the bf16 backward (FAST mode FM) runs the 3-blocks-per-SM kernel: the switch is on and 3 x
// (smem + 1 KiB reserved per block) fit in the SM's shared memory
template <typename E>
bool bwd_runs_three_blocks(const FlashParams<E>& p, int fm) {
  return fm == 2 && std::is_same<E, __nv_bfloat16>::value && bwd_three_blocks() &&
         3 * (bwd_smem_bytes(p) + 1024) <= sm_shared_bytes();
}

// A backward kernel's launch attributes, once: the dynamic shared memory of the largest layout and,
// at MINB > 1 blocks per SM, the largest shared-memory carveout. Returns true (for the caller's flag).
template <typename K>
bool set_bwd_attributes(K* k, int minb) {
  HUKUK_CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        int(bwd_layout(kBwdWarps, true).total)));
  if (minb > 1)
    HUKUK_CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributePreferredSharedMemoryCarveout,
                                          int(cudaSharedmemCarveoutMaxShared)));
  return true;
}

// MINB: see flash_bwd_kernel
template <typename E, int FM, int MINB>
void launch_bwd_kernel(const FlashParams<E>& p, dim3 grid, int smem, const E* dO, const float* lse, const float* D,
                       float* dQ32, E* dK, E* dV, const uint64_t* bits, cudaStream_t s) {
  static bool attr_set = false;  // per process and instantiation; one device in practice
  if (!attr_set) attr_set = set_bwd_attributes(flash_bwd_kernel<kBwdWarps, E, FM, MINB>, MINB);
  pdl::launch(flash_bwd_kernel<kBwdWarps, E, FM, MINB>, grid, kBwdWarps * 32, smem, s, p, dO, lse, D, dQ32, dK, dV,
              bits);
}

template <typename E, int FM>
void launch_backward(const FlashParams<E>& p, dim3 grid, const E* dO, const float* lse, const float* D, float* dQ32,
                     E* dK, E* dV, const uint64_t* bits, cudaStream_t s) {
  const int smem = bwd_smem_bytes(p);
  if constexpr (FM == 2 && std::is_same<E, __nv_bfloat16>::value) {
    if (bwd_runs_three_blocks(p, FM)) {
      launch_bwd_kernel<E, FM, 3>(p, grid, smem, dO, lse, D, dQ32, dK, dV, bits, s);
      return;
    }
  }
  launch_bwd_kernel<E, FM, 1>(p, grid, smem, dO, lse, D, dQ32, dK, dV, bits, s);
}

// HUKUK_FLASH_BWD_DOT16 (on by default since 12:20 UTC; =0 off): the bf16 backward's dot kernel with
// 16-byte accesses (flash_bwd_dot16_kernel; dV bit for bit, D summed in another order; H200 11:43 UTC,
// backward 0.96-0.99x per call); read once per process, the test hook overrides it
CachedEnvSwitch g_bwd_dot16{[] { return env_switch("HUKUK_FLASH_BWD_DOT16") == 0 ? 0 : 1; }};
bool bwd_dot16() { return g_bwd_dot16.value() == 1; }
// HUKUK_FLASH_BWD_ONE_TILE (level 1 on by default; =0 off, =2 also the pair): the bf16 backward in ONE launch instead
// of three (dot16 kernel, flash_bwd_kernel with dQ atomics into the fp32 scratch, flash_dq_to_bf16_kernel)
// where the keys of a (b, h) fit one block (=1: Tk <= 64; at 16x64x128 the encoder self- and the
// cross-attention, 72 of the step's 108 backward calls) or a cluster of two (=2: also 64 < Tk <= 128 on
// sm_90, the decoder self-attention at 16x64x128): flash_bwd_one_tile_kernel. D and the bf16 dctx per
// query tile in the block with the dot kernel's arithmetic (D, dK, dV bit for bit the three-launch
// path's with HUKUK_FLASH_BWD_DOT16 on, its default); dQ written once as bf16, the same values (one
// key block: the atomics added each element once into zero; two: a + b in either order). The scratch
// is then not touched. Read once per process; the test hook overrides it.
// Measured on H200 (13:48 and 13:58 UTC 2026-11-28, code c38e4e2; 16x12, dropout 0.1, bias_diag, µs
// per backward call, one process per setting, each twice): =1: 64² encoder 22.3 -> 15.4 (0.68x),
// 128x64 cross 32.6 -> 22.8 (0.70x); =2 also the 128² causal decoder 37.8 -> 34.6 (0.92x; the pair at
// 2 blocks per SM instead of 3: 47.5, slower). The 16x64x128 training step (train_bench, 10 steps,
// order 0,1,2,0,1,2): =0 28.40 / 28.38 ms, =1 27.87 / 27.92 (-1.7 %), =2 28.08 / 27.99; the same loss
// in all six. So =1 pays; =2's pair (cluster launch) loses in the step what it wins per call (not
// understood: cluster scheduling beside the side streams' kernels, or PDL with clusters, are guesses).
// on (level 1) by default since 14:05 UTC 2026-11-28 (the step A/B above); =0 off, =2 adds the pair
CachedEnvSwitch g_bwd_one_tile{[] {
  const char* e = std::getenv("HUKUK_FLASH_BWD_ONE_TILE");
  if (!e || !*e) return 1;
  return e[0] == '2' ? 2 : e[0] == '0' ? 0 : 1;
}};
int bwd_one_tile_level() { return g_bwd_one_tile.value(); }
int device_cc_major() {
  static const int v = current_device_attribute(cudaDevAttrComputeCapabilityMajor);
  return v;
}
// Which one-launch bf16 backward `a` takes: 0 none (the three launches), 1 one key block, 2 a cluster
// of two (the FAST folded hash only: FM 2)
int bwd_one_tile_mode(const SoftmaxArgs& a) {
  if (!idx32_ok(a) || fast_mode() != 2) return 0;
  const int level = bwd_one_tile_level();
  if (level >= 1 && a.Tk <= bwd_keys(kBwdWarps)) return 1;
  if (level >= 2 && a.Tk <= 2 * bwd_keys(kBwdWarps) && device_cc_major() >= 9) return 2;
  return 0;
}
template <int ONE, int MINB>
void launch_one_tile_kernel(const FlashParams<__nv_bfloat16>& p, int B, int H, const __nv_bfloat16* ctx,
                            const float* lse, const float* dctx, __nv_bfloat16* dQ, __nv_bfloat16* dK,
                            __nv_bfloat16* dV, cudaStream_t s, const uint64_t* bits) {
  auto* k = flash_bwd_one_tile_kernel<kBwdWarps, 2, ONE, MINB>;
  static bool attr_set = false;  // per process and instantiation; one device in practice
  if (!attr_set) attr_set = set_bwd_attributes(k, MINB);
  const int smem = bwd_smem_bytes(p);
  if constexpr (ONE == 1) {
    pdl::launch(k, dim3(1u, unsigned(B * H)), kBwdWarps * 32, smem, s, p, dctx, ctx, lse, dQ, dK, dV, bits);
  } else {  // clusters of the two key blocks of a (b, h); PDL as pdl::launch
    pdl::launch_ex(pdl::enabled(), 2u, k, dim3(2u, unsigned(B * H)), kBwdWarps * 32, smem, s, p, dctx, ctx, lse,
                   dQ, dK, dV, bits);
  }
}
void launch_backward_one_tile(int mode, const SoftmaxArgs& a, const __nv_bfloat16* Q, const __nv_bfloat16* K,
                              const __nv_bfloat16* V, const __nv_bfloat16* ctx, const float* lse, const float* dctx,
                              __nv_bfloat16* dQ, __nv_bfloat16* dK, __nv_bfloat16* dV, cudaStream_t s,
                              const uint64_t* bits) {
  const FlashParams<__nv_bfloat16> p = make_params(a, Q, K, V);
  // one block per (b, h): up to 255 registers (B*H blocks, 2 per SM, fit at once at the shapes this
  // serves); the pair: 2*B*H blocks, at 3 per SM where the shared memory fits, as flash_bwd_kernel
  if (mode == 1) launch_one_tile_kernel<1, 1>(p, a.B, a.H, ctx, lse, dctx, dQ, dK, dV, s, bits);
  else if (bwd_runs_three_blocks(p, 2)) launch_one_tile_kernel<2, 3>(p, a.B, a.H, ctx, lse, dctx, dQ, dK, dV, s, bits);
  else launch_one_tile_kernel<2, 1>(p, a.B, a.H, ctx, lse, dctx, dQ, dK, dV, s, bits);
}

// dQ32: where dQ accumulates in fp32 (dQ itself for fp32 I/O; the scratch for bf16), D: the row
// dots; dO16 (bf16 I/O): dQ's own memory, which holds dctx in bf16 until the final conversion
template <typename E>
void backward_impl(const SoftmaxArgs& a, const E* Q, const E* K, const E* V, const E* ctx, const float* lse,
                   const float* dctx, float* dQ32, E* dK, E* dV, float* D, __nv_bfloat16* dO16, cudaStream_t s,
                   const uint64_t* dropout_bits) {
  const FlashParams<E> p = make_params(a, Q, K, V);
  const int64_t runs = int64_t(a.B) * a.Tq * a.H;
  // HUKUK_FLASH_DQ_MEMSET=1: the old separate memset of dQ's accumulator (kept for one A/B measurement)
  static const bool dq_memset = [] {
    const char* e = std::getenv("HUKUK_FLASH_DQ_MEMSET");
    return e && e[0] == '1';
  }();
  bool dot16 = false;
  if constexpr (std::is_same<E, __nv_bfloat16>::value) {
    dot16 = bwd_dot16();
    if (dot16)
      pdl::launch(flash_bwd_dot16_kernel, blocks_for(runs * 16, 256), 256, 0, s, dctx, ctx, D, a.H, a.Tq, runs, dO16,
                  dQ32);
  }
  if (!dot16) {
    pdl::launch(flash_bwd_dot_kernel<E>, blocks_for(runs * 32, 256), 256, 0, s, dctx, ctx, D, a.H, a.Tq, runs, dO16,
                dq_memset ? nullptr : dQ32);
    if (dq_memset) HUKUK_CUDA_CHECK(cudaMemsetAsync(dQ32, 0, size_t(runs) * kD * sizeof(float), s));
  }
  const E* dO = nullptr;
  if constexpr (std::is_same<E, float>::value) dO = dctx;
  else dO = dO16;
  const dim3 grid(unsigned((a.Tk + bwd_keys(kBwdWarps) - 1) / bwd_keys(kBwdWarps)), unsigned(a.B * a.H));
  if (!idx32_ok(a)) launch_backward<E, 0>(p, grid, dO, lse, D, dQ32, dK, dV, dropout_bits, s);
  else if (fast_mode() == 1) launch_backward<E, 1>(p, grid, dO, lse, D, dQ32, dK, dV, dropout_bits, s);
  else launch_backward<E, 2>(p, grid, dO, lse, D, dQ32, dK, dV, dropout_bits, s);
}

const __nv_bfloat16* dev(const bf16_t* p) { return reinterpret_cast<const __nv_bfloat16*>(p); }
__nv_bfloat16* dev(bf16_t* p) { return reinterpret_cast<__nv_bfloat16*>(p); }

}  // namespace

void flash_bias_diag_from_table(const float* bias, int H, int Tq, int Tk, float* diag) {
  const int64_t n = int64_t(Tq) + Tk - 1;
  for (int h = 0; h < H; ++h) {
    const float* t = bias + int64_t(h) * Tq * Tk;
    float* d = diag + h * n;
    for (int i = 0; i < Tq; ++i) d[Tq - 1 - i] = t[int64_t(i) * Tk];  // j = 0: j - i = -i
    for (int j = 1; j < Tk; ++j) d[Tq - 1 + j] = t[j];                // i = 0
  }
}

bool flash_bias_is_toeplitz(const float* bias, int H, int Tq, int Tk) {
  for (int h = 0; h < H; ++h) {
    const float* t = bias + int64_t(h) * Tq * Tk;
    for (int i = 1; i < Tq; ++i)
      for (int j = 1; j < Tk; ++j)
        if (t[int64_t(i) * Tk + j] != t[int64_t(i - 1) * Tk + j - 1]) return false;
  }
  return true;
}

bool flash_supported(const SoftmaxArgs& a, int dk) {
  return device_cc_major() >= 8 && dk == kD && a.q_offset == 0 && a.B > 0 && a.H > 0 && a.Tq > 0 && a.Tk > 0 &&
         int64_t(a.B) * a.H <= 65535;
}

void flash_set_test_switches(const FlashTestSwitches& sw) {
  auto mode = [](int m) { return m < 0 ? -1 : (m ? 1 : 0); };
  g_bwd_three_blocks.set_override(mode(sw.bwd_three_blocks));
  g_fwd_idx64.set_override(mode(sw.fwd_idx64));
  g_bwd_dot16.set_override(mode(sw.bwd_dot16));
  g_bwd_one_tile.set_override(sw.bwd_one_tile < 0 ? -1 : std::min(sw.bwd_one_tile, 2));
}

int flash_backward_one_tile(const SoftmaxArgs& a, bool bf16_io) { return bf16_io ? bwd_one_tile_mode(a) : 0; }

bool flash_backward_dot16(const SoftmaxArgs&, bool bf16_io) { return bf16_io && bwd_dot16(); }

bool flash_forward_idx64(const SoftmaxArgs& a, bool bf16_io) {
  return bf16_io && idx32_ok(a) && fast_mode() == 2 && a.Tk % kTile == 0 && fwd_idx64();
}

bool flash_backward_three_blocks(const SoftmaxArgs& a, bool bf16_io) {
  if (!bf16_io || !idx32_ok(a)) return false;
  const FlashParams<__nv_bfloat16> p = make_params<__nv_bfloat16>(a, nullptr, nullptr, nullptr);
  return bwd_runs_three_blocks(p, fast_mode());
}

int64_t flash_dropout_bits_words(const SoftmaxArgs& a) {
  return int64_t(a.B) * a.H * ((a.Tq + kTile - 1) / kTile) * ((a.Tk + kTile - 1) / kTile) * kTile;
}

int64_t flash_backward_scratch_floats(const SoftmaxArgs& a, int dk, bool bf16_io) {
  const int64_t rows = int64_t(a.B) * a.H * a.Tq;
  return bf16_io ? rows + rows * dk : rows;
}

void flash_attention_forward(const SoftmaxArgs& a, int dk, const float* Q, const float* K, const float* V,
                             float* ctx, float* lse, cudaStream_t s, uint64_t* dropout_bits) {
  forward_impl(a, dk, Q, K, V, ctx, lse, s, dropout_bits);
}

void flash_attention_forward(const SoftmaxArgs& a, int dk, const bf16_t* Q, const bf16_t* K, const bf16_t* V,
                             bf16_t* ctx, float* lse, cudaStream_t s, uint64_t* dropout_bits) {
  forward_impl(a, dk, dev(Q), dev(K), dev(V), dev(ctx), lse, s, dropout_bits);
}

void flash_attention_backward(const SoftmaxArgs& a, int dk, const float* Q, const float* K, const float* V,
                              const float* ctx, const float* lse, const float* dctx, float* dQ, float* dK, float* dV,
                              float* scratch, cudaStream_t s, const uint64_t* dropout_bits) {
  check_args(a, dk, {Q, K, V, ctx, lse, dctx, dQ, dK, dV, scratch});
  backward_impl(a, Q, K, V, ctx, lse, dctx, dQ, dK, dV, scratch, nullptr, s, dropout_bits);
}

void flash_attention_backward(const SoftmaxArgs& a, int dk, const bf16_t* Q, const bf16_t* K, const bf16_t* V,
                              const bf16_t* ctx, const float* lse, const float* dctx, bf16_t* dQ, bf16_t* dK,
                              bf16_t* dV, float* scratch, cudaStream_t s, const uint64_t* dropout_bits) {
  check_args(a, dk, {Q, K, V, ctx, lse, dctx, dQ, dK, dV, scratch});
  if (const int mode = bwd_one_tile_mode(a)) {  // one launch, the scratch unused (HUKUK_FLASH_BWD_ONE_TILE)
    launch_backward_one_tile(mode, a, dev(Q), dev(K), dev(V), dev(ctx), lse, dctx, dev(dQ), dev(dK), dev(dV), s,
                             dropout_bits);
    return;
  }
  // scratch = [dQ accumulator, B*Tq*H*64 floats (16-byte aligned: scratch is)][D, B*H*Tq floats]
  const int64_t n = int64_t(a.B) * a.Tq * a.H * kD;
  float* dq32 = scratch;
  backward_impl(a, dev(Q), dev(K), dev(V), dev(ctx), lse, dctx, dq32, dev(dK), dev(dV), scratch + n, dev(dQ), s,
                dropout_bits);
  pdl::launch(flash_dq_to_bf16_kernel, blocks_for(n / 4, 256), 256, 0, s, static_cast<const float*>(dq32), dev(dQ),
              n / 4);
}

}  // namespace hukuk::ops::cuda
