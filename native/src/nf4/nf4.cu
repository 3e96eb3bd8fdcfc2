// NF4 on the GPU: quantize (bit-exact with nf4.cpp and bitsandbytes), dequantize, and the GEMMs
// that read 4-bit weights (see nf4_cuda.h). Arithmetic that must match the CPU reference uses the
// explicitly rounded intrinsics (__fmul_rn, __fadd_rn, __fdiv_rn) so that nvcc cannot contract it
// into FMAs.
#include <cuda_bf16.h>
#include <mma.h>

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cstring>
#include <type_traits>

#include "core/cuda_runtime.h"
#include "cuda/pdl.cuh"
#include "nf4/nf4_cuda.h"

namespace hukuk::nf4::cuda {

namespace {

__constant__ float c_nf4_code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

// dQuantizeNF4 (bitsandbytes csrc/kernels.cu), the same tree as nf4.cpp.
__device__ __forceinline__ unsigned char nf4_code_of(float x) {
  if (x > 0.03979014977812767f) {
    if (x > 0.3893125355243683f) {
      if (x > 0.6427869200706482f) return x > 0.8614784181118011f ? 0b1111 : 0b1110;
      return x > 0.5016634166240692f ? 0b1101 : 0b1100;
    }
    if (x > 0.2035212516784668f) return x > 0.2920137718319893f ? 0b1011 : 0b1010;
    return x > 0.1202552504837513f ? 0b1001 : 0b1000;
  }
  if (x > -0.33967943489551544f) {
    if (x > -0.13791173323988914f) return x > -0.045525018125772476f ? 0b0111 : 0b0110;
    return x > -0.23460740596055984f ? 0b0101 : 0b0100;
  }
  if (x > -0.6106329262256622f) return x > -0.4599952697753906f ? 0b0011 : 0b0010;
  return x > -0.8480964004993439f ? 0b0001 : 0b0000;
}

// dQuantize<0> over a sorted 256-value code (in shared memory).
__device__ __forceinline__ unsigned char code8_of(const float* code, float x) {
  int pivot = 127, upper_pivot = 255, lower_pivot = 0;
  float lower = -1.0f, upper = 1.0f;
  float val = code[pivot];
  for (int i = 64; i > 0; i >>= 1) {
    if (x > val) {
      lower_pivot = pivot;
      lower = val;
      pivot += i;
    } else {
      upper_pivot = pivot;
      upper = val;
      pivot -= i;
    }
    val = code[pivot];
  }
  if (upper_pivot == 255) upper = code[upper_pivot];
  if (lower_pivot == 0) lower = code[lower_pivot];
  if (x > val) {
    const float midpoint = __fmul_rn(__fadd_rn(upper, val), 0.5f);
    return x > midpoint ? upper_pivot : pivot;
  }
  const float midpoint = __fmul_rn(__fadd_rn(lower, val), 0.5f);
  return x < midpoint ? lower_pivot : pivot;
}

template <typename T> __device__ __forceinline__ float to_f32(T v);
template <> __device__ __forceinline__ float to_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f32<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <> __device__ __forceinline__ float to_f32<__half>(__half v) { return __half2float(v); }

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// absmax of block b, decoding the double quantization as bitsandbytes does (two fp32 ops).
__device__ __forceinline__ float block_absmax(const DeviceNf4& w, int64_t b) {
  if (w.absmax) return w.absmax[b];
  return __fadd_rn(__fmul_rn(w.code2[w.absmax_q[b]], w.absmax2[b / w.blocksize2]), w.offset);
}

constexpr int kWarpsPerCta = 8;

// One warp per NF4 block: absmax by a warp max, codes by the tree, two per byte (high first).
template <typename T>
__global__ void k_quantize_nf4(const T* __restrict__ x, int64_t n, int blocksize, uint8_t* __restrict__ packed,
                               float* __restrict__ absmax) {
  const int lane = threadIdx.x & 31;
  const int64_t b = static_cast<int64_t>(blockIdx.x) * kWarpsPerCta + (threadIdx.x >> 5);
  const int64_t begin = b * blocksize;
  if (begin >= n) return;
  const int64_t end = min(begin + blocksize, n);
  float amax = -FLT_MAX;
  for (int64_t i = begin + lane; i < end; i += 32) amax = fmaxf(amax, fabsf(to_f32(x[i])));
  amax = warp_max(amax);
  if (lane == 0) absmax[b] = amax;
  const float inv = __fdiv_rn(1.0f, amax);
  for (int64_t i = begin + 2 * lane; i < end; i += 64) {
    const unsigned char hi = nf4_code_of(__fmul_rn(to_f32(x[i]), inv));
    const float second = i + 1 < end ? to_f32(x[i + 1]) : 0.0f;
    const unsigned char lo = nf4_code_of(__fmul_rn(second, inv));
    packed[i / 2] = static_cast<uint8_t>(hi << 4 | lo);
  }
}

// torch's CUDA mean of a contiguous fp32 vector (see nf4.cpp torch_cuda_mean), one block of
// max(B, 32) threads, B = min(last_pow2(n), 512).
__global__ void k_torch_mean(const float* __restrict__ x, int64_t n, int B, float* __restrict__ out) {
  __shared__ float shared[512];
  const int t = threadIdx.x;
  float value = 0.f;
  if (t < B) {
    float acc[4] = {0.f, 0.f, 0.f, 0.f};
    for (int64_t idx = t; idx < n; idx += 4ll * B) {
#pragma unroll
      for (int j = 0; j < 4; ++j)
        if (idx + static_cast<int64_t>(j) * B < n) acc[j] = __fadd_rn(acc[j], x[idx + static_cast<int64_t>(j) * B]);
    }
    value = __fadd_rn(__fadd_rn(__fadd_rn(acc[0], acc[1]), acc[2]), acc[3]);
  }
  int width = B;
  if (width > 32) {
    shared[t] = value;
    for (int off = width / 2; off >= 32; off >>= 1) {
      __syncthreads();
      if (t < off) {
        value = __fadd_rn(value, shared[t + off]);
        shared[t] = value;
      }
    }
    width = 32;
  }
  __syncthreads();
  if (t < 32) {
    for (int off = 1; off < width; off <<= 1) {
      const float other = __shfl_down_sync(0xffffffffu, value, off);
      value = __fadd_rn(value, other);
    }
    if (t == 0) *out = __fmul_rn(value, __fdiv_rn(1.0f, static_cast<float>(n)));
  }
}

// 8-bit blockwise quantization of (absmax - offset), one warp per block of blocksize2.
__global__ void k_quantize_absmax(const float* __restrict__ absmax, int64_t n, const float* __restrict__ offset,
                                  int blocksize2, const float* __restrict__ code2, uint8_t* __restrict__ q,
                                  float* __restrict__ absmax2) {
  __shared__ float code[256];
  for (int i = threadIdx.x; i < 256; i += blockDim.x) code[i] = code2[i];
  __syncthreads();
  const int lane = threadIdx.x & 31;
  const int64_t b = static_cast<int64_t>(blockIdx.x) * kWarpsPerCta + (threadIdx.x >> 5);
  const int64_t begin = b * blocksize2;
  if (begin >= n) return;
  const int64_t end = min(begin + blocksize2, n);
  const float off = *offset;
  float amax = -FLT_MAX;
  for (int64_t i = begin + lane; i < end; i += 32) amax = fmaxf(amax, fabsf(__fsub_rn(absmax[i], off)));
  amax = warp_max(amax);
  if (lane == 0) absmax2[b] = amax;
  const float inv = __fdiv_rn(1.0f, amax);
  for (int64_t i = begin + lane; i < end; i += 32) q[i] = code8_of(code, __fmul_rn(__fsub_rn(absmax[i], off), inv));
}

template <typename OutT> __device__ __forceinline__ OutT from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// One thread per packed byte.
template <typename OutT>
__global__ void k_dequantize(DeviceNf4 w, int64_t n, OutT* __restrict__ out) {
  const int64_t nbytes = (n + 1) / 2;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < nbytes;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint8_t byte = w.packed[i];
    const int64_t e = 2 * i;
    const float a = block_absmax(w, e / w.blocksize);
    out[e] = from_f32<OutT>(__fmul_rn(c_nf4_code[byte >> 4], a));
    if (e + 1 < n) {
      const float a1 = (e + 1) % w.blocksize == 0 ? block_absmax(w, (e + 1) / w.blocksize) : a;
      out[e + 1] = from_f32<OutT>(__fmul_rn(c_nf4_code[byte & 0x0f], a1));
    }
  }
}

// Sixteen values (8 packed bytes) per thread, for n % 16 == 0 and blocksize % 16 == 0 (so one
// thread's values share one absmax) and a 16-byte aligned output: one 8-byte load, one absmax
// decode, 16-byte stores, and the codebook in shared memory (the per-byte kernel's reads of
// c_nf4_code with 16 different indices in a warp serialize in the constant cache). The same
// two fp32 operations per value, so the same bits as k_dequantize. Up to three weights of one
// shape (a q,k,v group), one per blockIdx.y, are written side by side in one launch.
struct Nf4Group {
  DeviceNf4 w[3];
};

template <typename OutT>
__global__ void k_dequantize16(Nf4Group grp, int64_t groups, OutT* __restrict__ out_all) {
  __shared__ float code[16];
  if (threadIdx.x < 16) code[threadIdx.x] = c_nf4_code[threadIdx.x];
  __syncthreads();
  const DeviceNf4& w = grp.w[blockIdx.y];
  OutT* __restrict__ out = out_all + blockIdx.y * (16 * groups);
  const uint2* packed = reinterpret_cast<const uint2*>(w.packed);
  for (int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; g < groups;
       g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint2 p = packed[g];
    const float a = block_absmax(w, (16 * g) / w.blocksize);
    float v[16];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t lo = (p.x >> (8 * j)) & 0xffu, hi = (p.y >> (8 * j)) & 0xffu;
      v[2 * j] = __fmul_rn(code[lo >> 4], a);
      v[2 * j + 1] = __fmul_rn(code[lo & 0x0f], a);
      v[8 + 2 * j] = __fmul_rn(code[hi >> 4], a);
      v[8 + 2 * j + 1] = __fmul_rn(code[hi & 0x0f], a);
    }
    if constexpr (std::is_same_v<OutT, float>) {
      float4* o = reinterpret_cast<float4*>(out + 16 * g);
#pragma unroll
      for (int j = 0; j < 4; ++j) o[j] = make_float4(v[4 * j], v[4 * j + 1], v[4 * j + 2], v[4 * j + 3]);
    } else {
      uint32_t b[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const __nv_bfloat162 t = __floats2bfloat162_rn(v[2 * j], v[2 * j + 1]);
        b[j] = *reinterpret_cast<const uint32_t*>(&t);
      }
      uint4* o = reinterpret_cast<uint4*>(out + 16 * g);
      o[0] = make_uint4(b[0], b[1], b[2], b[3]);
      o[1] = make_uint4(b[4], b[5], b[6], b[7]);
    }
  }
}

// n weights of one shape side by side (n == 1: a single weight). The 16-values-per-thread kernel
// when every member qualifies (one launch for the group), else the per-byte kernel per member.
template <typename OutT>
void launch_dequantize(const DeviceNf4* const* ws, int n, OutT* out, cudaStream_t s) {
  HUKUK_CHECK(n >= 1 && n <= 3, "ENGINE_INVALID_ARG", "nf4 dequantize: a group has 1 to 3 weights");
  const int64_t numel = ws[0]->rows * ws[0]->cols;
  bool vec = numel % 16 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0;
  Nf4Group grp;
  for (int i = 0; i < n; ++i) {
    HUKUK_CHECK(ws[i]->rows * ws[i]->cols == numel, "ENGINE_INVALID_ARG", "nf4 dequantize: a group's weights differ in size");
    vec = vec && ws[i]->blocksize % 16 == 0 && reinterpret_cast<uintptr_t>(ws[i]->packed) % 8 == 0;
    grp.w[i] = *ws[i];
  }
  if (vec) {
    const int64_t groups = numel / 16;
    const dim3 grid(static_cast<unsigned>(std::min<int64_t>((groups + 255) / 256, 65535)), static_cast<unsigned>(n));
    k_dequantize16<OutT><<<grid, 256, 0, s>>>(grp, groups, out);
    HUKUK_CUDA_LAUNCH_CHECK();
    return;
  }
  const int64_t nbytes = (numel + 1) / 2;
  for (int i = 0; i < n; ++i) {
    k_dequantize<OutT><<<static_cast<unsigned>(std::min<int64_t>((nbytes + 255) / 256, 65535)), 256, 0, s>>>(
        *ws[i], numel, out + i * numel);
    HUKUK_CUDA_LAUNCH_CHECK();
  }
}

// A list of n <= kDequantizeListMax weights of any shapes, each into its own bf16 destination,
// as ONE launch (T5Cuda's per-block prefetch: a block's q,k,v, o, wi... at once): the grid runs
// over the concatenation of the weights' 16-value groups; weight i owns groups [begin[i],
// begin[i+1]). Per group the same loads and the same two fp32 operations per value as
// k_dequantize16, so the same bits as dequantize_bf16 per weight. __grid_constant__: the list is
// indexed by a run-time weight number, which must not copy the 1.4 KB parameter block into each
// thread's local memory. PDL (cuda/pdl.cuh): trigger first; wait before the first store (the
// destinations may still be read by the previous kernel); the weights are never written in a step.
struct Nf4List {
  DeviceNf4 w[kDequantizeListMax];
  __nv_bfloat16* out[kDequantizeListMax];
  int64_t begin[kDequantizeListMax + 1];
  int n;
};

__global__ void k_dequantize16_list(const __grid_constant__ Nf4List lst) {
  hukuk::cuda::pdl::trigger();
  __shared__ float code[16];
  if (threadIdx.x < 16) code[threadIdx.x] = c_nf4_code[threadIdx.x];
  __syncthreads();
  hukuk::cuda::pdl::wait();
  const int64_t total = lst.begin[lst.n];
  int i = 0;  // the grid-stride loop only moves forward: the weight number never decreases
  for (int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; g < total;
       g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    while (g >= lst.begin[i + 1]) ++i;
    const DeviceNf4& w = lst.w[i];
    const int64_t gl = g - lst.begin[i];
    const uint2 p = reinterpret_cast<const uint2*>(w.packed)[gl];
    const float a = block_absmax(w, (16 * gl) / w.blocksize);
    uint32_t b[8];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t lo = (p.x >> (8 * j)) & 0xffu, hi = (p.y >> (8 * j)) & 0xffu;
      const __nv_bfloat162 t0 = __floats2bfloat162_rn(__fmul_rn(code[lo >> 4], a), __fmul_rn(code[lo & 0x0f], a));
      const __nv_bfloat162 t1 = __floats2bfloat162_rn(__fmul_rn(code[hi >> 4], a), __fmul_rn(code[hi & 0x0f], a));
      b[j] = *reinterpret_cast<const uint32_t*>(&t0);
      b[4 + j] = *reinterpret_cast<const uint32_t*>(&t1);
    }
    uint4* o = reinterpret_cast<uint4*>(lst.out[i] + 16 * gl);
    o[0] = make_uint4(b[0], b[1], b[2], b[3]);
    o[1] = make_uint4(b[4], b[5], b[6], b[7]);
  }
}

// ---- the GEMMs ----
//
// C[M, Nc] = alpha * A[M, Kr] · B + beta * C with B(kr, nc) = W[nc][kr] (forward, Nc = N, Kr = K)
// or W[kr][nc] (backward, Nc = K, Kr = N). A CTA computes a TBM x TBN tile with TWM x TWN warps
// (wmma 16x16x16 bf16 fragments, fp32 accumulate), stepping the reduction by BK = 64. Per step it
// stages A by cp.async (double buffered) and dequantizes the W tile it needs into shared memory
// as bf16: W[r0 .. r0+R)[c0 .. c0+Cc) with (R, Cc) = forward ? (TBN, BK) : (BK, TBN). Each thread
// takes 32-column segments of W rows; a segment lies in one NF4 block (K % 64 == 0, blocksize %
// 64 == 0), so it decodes one absmax. The global loads for the next step's W tile are issued
// before the current step's MMAs and decoded after them.
constexpr int BK = 64;

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
#if __CUDA_ARCH__ >= 800
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int src_size = valid ? 16 : 0;  // 0: zero-fill (rows past M)
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_size));
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

// What one thread loads from global memory for one 32-column segment of the next W tile:
// independent loads only (the double-quant map is in shared memory).
struct WSegRegs {
  uint4 codes;  // 32 codes (16 bytes)
  float scale;  // plain absmax, or absmax2 of the block's group when double-quantized
  unsigned q;   // absmax code when double-quantized
};

template <bool kBackward, int TBM, int TBN>
struct TileShape {
  static constexpr int WR = kBackward ? BK : TBN;   // W tile rows
  static constexpr int WC = kBackward ? TBN : BK;   // W tile columns
  static constexpr int LDA = BK + 8;                // bf16 elements per smem row of A
  static constexpr int LDW = WC + 8;                // ... of the W tile
  static constexpr int LDC = TBN + 4;               // floats per row of the epilogue tile
  static constexpr size_t a_bytes = size_t(2) * TBM * LDA * 2;
  static constexpr size_t w_bytes = size_t(2) * WR * LDW * 2;
  static constexpr size_t c_bytes = size_t(TBM) * LDC * 4;
  static constexpr size_t smem = (a_bytes + w_bytes) > c_bytes ? (a_bytes + w_bytes) : c_bytes;
};

template <bool kBackward, typename OutT, int TBM, int TBN, int TWM, int TWN, int MINB>
__global__ void __launch_bounds__(TWM * TWN * 32, MINB) k_gemm_nf4_tc(DeviceNf4 w, const __nv_bfloat16* __restrict__ A,
                                                                int64_t M, OutT* __restrict__ C, float alpha, float beta) {
#if __CUDA_ARCH__ >= 800
  using namespace nvcuda;
  using S = TileShape<kBackward, TBM, TBN>;
  constexpr int kThreads = TWM * TWN * 32;
  constexpr int FM = TBM / TWM / 16, FN = TBN / TWN / 16;  // fragments per warp
  constexpr int kSegs = S::WR * S::WC / 32;                 // 32-column W segments per tile
  constexpr int kSegsPerThread = kSegs / kThreads;
  constexpr int kAChunks = TBM * BK / 8 / kThreads;         // 16-byte A chunks per thread
  static_assert(kSegs % kThreads == 0 && (TBM * BK / 8) % kThreads == 0, "tile/thread mismatch");
  const int64_t K = w.cols;
  const int64_t Kr = kBackward ? w.rows : w.cols;  // reduction length
  const int64_t Nc = kBackward ? w.cols : w.rows;  // output columns
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * TBM;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * TBN;
  const int tid = threadIdx.x, warp = tid >> 5;
  const int wm = warp / TWN, wn = warp % TWN;

  extern __shared__ __align__(128) unsigned char smem_raw[];
  __nv_bfloat16 (*As)[TBM][S::LDA] = reinterpret_cast<__nv_bfloat16 (*)[TBM][S::LDA]>(smem_raw);
  __nv_bfloat16 (*Ws)[S::WR][S::LDW] = reinterpret_cast<__nv_bfloat16 (*)[S::WR][S::LDW]>(smem_raw + S::a_bytes);
  __shared__ float code[16];
  __shared__ float code2[256];
  if (tid < 16) code[tid] = c_nf4_code[tid];
  if (!w.absmax)
    for (int i = tid; i < 256; i += kThreads) code2[i] = w.code2[i];

  auto load_a = [&](int stage, int64_t k0) {
#pragma unroll
    for (int j = 0; j < kAChunks; ++j) {
      const int chunk = tid + j * kThreads;  // chunks of 8 bf16, 8 per row
      const int row = chunk >> 3, col = (chunk & 7) * 8;
      const int64_t gm = m0 + row;
      const __nv_bfloat16* src = A + (gm < M ? gm : 0) * Kr + k0 + col;
      cp_async16(&As[stage][row][col], src, gm < M);
    }
  };
  constexpr int kSegsPerRow = S::WC / 32;
  auto fetch_w = [&](int64_t k0, WSegRegs (&r)[kSegsPerThread]) {
#pragma unroll
    for (int j = 0; j < kSegsPerThread; ++j) {
      const int seg = tid + j * kThreads;
      const int row = seg / kSegsPerRow, col = (seg % kSegsPerRow) * 32;
      const int64_t gr = (kBackward ? k0 : n0) + row;
      const int64_t gc = (kBackward ? n0 : k0) + col;
      const int64_t e = gr * K + gc;
      r[j].codes = *reinterpret_cast<const uint4*>(w.packed + e / 2);
      const int64_t b = e / w.blocksize;
      if (w.absmax) {
        r[j].scale = w.absmax[b];
      } else {
        r[j].q = w.absmax_q[b];
        r[j].scale = w.absmax2[b / w.blocksize2];
      }
    }
  };
  auto store_w = [&](int stage, const WSegRegs (&r)[kSegsPerThread]) {
#pragma unroll
    for (int j = 0; j < kSegsPerThread; ++j) {
      const int seg = tid + j * kThreads;
      const int row = seg / kSegsPerRow, col = (seg % kSegsPerRow) * 32;
      const uint8_t* bytes = reinterpret_cast<const uint8_t*>(&r[j].codes);
      // bitsandbytes' decode: code2[q] * absmax2 + offset, two separately rounded fp32 ops
      const float am = w.absmax ? r[j].scale : __fadd_rn(__fmul_rn(code2[r[j].q], r[j].scale), w.offset);
      alignas(16) __nv_bfloat162 v[16];
#pragma unroll
      for (int i = 0; i < 16; ++i) {
        v[i].x = __float2bfloat16_rn(__fmul_rn(code[bytes[i] >> 4], am));
        v[i].y = __float2bfloat16_rn(__fmul_rn(code[bytes[i] & 0x0f], am));
      }
      uint4* dst = reinterpret_cast<uint4*>(&Ws[stage][row][col]);
      const uint4* src = reinterpret_cast<const uint4*>(v);
#pragma unroll
      for (int i = 0; i < 4; ++i) dst[i] = src[i];
    }
  };

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[FM][FN];
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.f);

  using BLayout = typename std::conditional<kBackward, wmma::row_major, wmma::col_major>::type;
  const int64_t nk = Kr / BK;
  WSegRegs regs[kSegsPerThread];
  load_a(0, 0);
  cp_async_commit();
  fetch_w(0, regs);
  __syncthreads();  // code[], code2[] ready
  store_w(0, regs);

  for (int64_t kt = 0; kt < nk; ++kt) {
    const int cur = static_cast<int>(kt & 1);
    const bool more = kt + 1 < nk;
    if (more) {
      load_a(cur ^ 1, (kt + 1) * BK);
      cp_async_commit();
      fetch_w((kt + 1) * BK, regs);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa[FM];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, BLayout> fb[FN];
#pragma unroll
      for (int i = 0; i < FM; ++i) wmma::load_matrix_sync(fa[i], &As[cur][wm * (TBM / TWM) + i * 16][kk], S::LDA);
#pragma unroll
      for (int j = 0; j < FN; ++j) {
        // forward: B(k, n) = Ws[n][k] (col_major); backward: B(k, n) = Ws[k][n] (row_major)
        const int nn = wn * (TBN / TWN) + j * 16;
        const __nv_bfloat16* p = kBackward ? &Ws[cur][kk][nn] : &Ws[cur][nn][kk];
        wmma::load_matrix_sync(fb[j], p, S::LDW);
      }
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    if (more) store_w(cur ^ 1, regs);
    __syncthreads();
  }

  // Epilogue through shared memory (reusing the staging buffers): alpha * acc + beta * C.
  float (*Cs)[S::LDC] = reinterpret_cast<float (*)[S::LDC]>(smem_raw);
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j)
      wmma::store_matrix_sync(&Cs[wm * (TBM / TWM) + i * 16][wn * (TBN / TWN) + j * 16], acc[i][j], S::LDC,
                              wmma::mem_row_major);
  __syncthreads();
  for (int idx = tid; idx < TBM * TBN; idx += kThreads) {
    const int r = idx / TBN, c = idx % TBN;
    const int64_t gm = m0 + r, gn = n0 + c;
    if (gm >= M) continue;
    float v = alpha * Cs[r][c];
    OutT* dst = C + gm * Nc + gn;
    if (beta != 0.f) v += beta * to_f32(*dst);
    *dst = from_f32<OutT>(v);
  }
#endif
}

// Plain fallback for any shape and for sm_75: one thread per output element, fp32 accumulate.
// InT = __nv_bfloat16 (weights rounded to bf16, like the tensor-core path) or float (fp32 compute:
// bitsandbytes' fp32 weight values, for parity with the CPU reference).
template <bool kBackward, typename InT, typename OutT>
__global__ void k_gemm_nf4_simt(DeviceNf4 w, const InT* __restrict__ A, int64_t M, OutT* __restrict__ C, float alpha,
                                float beta) {
  const int64_t K = w.cols;
  const int64_t Kr = kBackward ? w.rows : w.cols;
  const int64_t Nc = kBackward ? w.cols : w.rows;
  const int64_t n = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= Nc) return;
  for (int64_t m = blockIdx.y; m < M; m += gridDim.y) {
    float acc = 0.f;
    for (int64_t k = 0; k < Kr; ++k) {
      const int64_t e = kBackward ? k * K + n : n * K + k;
      const uint8_t byte = w.packed[e / 2];
      const uint8_t c = (e & 1) ? (byte & 0x0f) : (byte >> 4);
      float wv = __fmul_rn(c_nf4_code[c], block_absmax(w, e / w.blocksize));
      if (std::is_same<InT, __nv_bfloat16>::value) wv = __bfloat162float(__float2bfloat16_rn(wv));
      acc = fmaf(to_f32(A[m * Kr + k]), wv, acc);
    }
    OutT* dst = C + m * Nc + n;
    float v = alpha * acc;
    if (beta != 0.f) v += beta * to_f32(*dst);
    *dst = from_f32<OutT>(v);
  }
}

struct DeviceFacts {
  int major = 0, sms = 0;
};
DeviceFacts device_facts() {
  int dev = 0;
  DeviceFacts f;
  HUKUK_CUDA_CHECK(cudaGetDevice(&dev));
  HUKUK_CUDA_CHECK(cudaDeviceGetAttribute(&f.major, cudaDevAttrComputeCapabilityMajor, dev));
  HUKUK_CUDA_CHECK(cudaDeviceGetAttribute(&f.sms, cudaDevAttrMultiProcessorCount, dev));
  return f;
}

template <bool kBackward, typename OutT, int TBM, int TBN, int TWM, int TWN, int MINB>
void launch_tc(const DeviceNf4& w, const __nv_bfloat16* A, int64_t M, void* c, float alpha, float beta,
               cudaStream_t stream) {
  using S = TileShape<kBackward, TBM, TBN>;
  auto kernel = k_gemm_nf4_tc<kBackward, OutT, TBM, TBN, TWM, TWN, MINB>;
  if (S::smem > 48 * 1024) {
    // Over 48 KB of dynamic shared memory must be allowed per kernel and device, once.
    static std::atomic<uint64_t> raised{0};
    int dev = 0;
    HUKUK_CUDA_CHECK(cudaGetDevice(&dev));
    const uint64_t bit = uint64_t(1) << (dev & 63);
    if (!(raised.load() & bit)) {
      HUKUK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(S::smem)));
      raised.fetch_or(bit);
    }
  }
  const int64_t Nc = kBackward ? w.cols : w.rows;
  dim3 grid(static_cast<unsigned>(Nc / TBN), static_cast<unsigned>((M + TBM - 1) / TBM));
  kernel<<<grid, TWM * TWN * 32, S::smem, stream>>>(w, A, M, static_cast<OutT*>(c), alpha, beta);
}

template <bool kBackward, typename OutT>
void launch_gemm(const DeviceNf4& w, const __nv_bfloat16* A, int64_t M, void* c, float alpha, float beta,
                 cudaStream_t stream, GemmImpl impl, const DeviceFacts& dev) {
  const int64_t Nc = kBackward ? w.cols : w.rows;
  const bool tc = impl != GemmImpl::Simt && tensor_core_ok(w) && dev.major >= 8;
  if (impl != GemmImpl::Auto && impl != GemmImpl::Simt && !tc)
    HUKUK_FAIL("ENGINE_INVALID_ARG", "NF4 GEMM: the tensor-core path needs sm_80+ and N, K, blocksize multiples of 64");
  if (!tc) {
    dim3 grid(static_cast<unsigned>((Nc + 127) / 128), static_cast<unsigned>(std::min<int64_t>(M, 65535)));
    k_gemm_nf4_simt<kBackward, __nv_bfloat16, OutT><<<grid, 128, 0, stream>>>(w, A, M, static_cast<OutT*>(c), alpha, beta);
    return;
  }
  // 128x128 tiles (8 warps of 64x32) once they alone fill the GPU; 64x64 tiles (4 warps of
  // 32x32) otherwise, so that small token counts still spread over every SM.
  const bool big_ok = Nc % 128 == 0;
  const bool big = impl == GemmImpl::TensorCore128 || impl == GemmImpl::TensorCore128x1 ||
                   (impl != GemmImpl::TensorCore64 && big_ok && ((M + 127) / 128) * (Nc / 128) >= dev.sms);
  if (big) {
    HUKUK_CHECK(big_ok, "ENGINE_INVALID_ARG", "NF4 GEMM: 128-wide tiles need the output width to be a multiple of 128");
    // Two CTAs per SM (registers capped at 128) hide latency better than one CTA at ~154
    // registers; the x1 variant stays for the benchmark's comparison.
    if (impl == GemmImpl::TensorCore128x1) launch_tc<kBackward, OutT, 128, 128, 2, 4, 1>(w, A, M, c, alpha, beta, stream);
    else launch_tc<kBackward, OutT, 128, 128, 2, 4, 2>(w, A, M, c, alpha, beta, stream);
  } else {
    launch_tc<kBackward, OutT, 64, 64, 2, 2, 1>(w, A, M, c, alpha, beta, stream);
  }
}

template <bool kBackward>
void gemm(const DeviceNf4& w, const uint16_t* a, int64_t M, void* c, OutType out, float alpha, float beta,
          cudaStream_t stream, GemmImpl impl) {
  HUKUK_CHECK(M > 0 && w.rows > 0 && w.cols > 0, "ENGINE_INVALID_ARG", "NF4 GEMM: empty operand");
  HUKUK_CHECK(M < (1ll << 31) / 128, "ENGINE_INVALID_ARG", "NF4 GEMM: too many rows");
  const auto* A = reinterpret_cast<const __nv_bfloat16*>(a);
  static thread_local int cached_dev = -1;
  static thread_local DeviceFacts facts;
  int dev = 0;
  HUKUK_CUDA_CHECK(cudaGetDevice(&dev));
  if (dev != cached_dev) {
    facts = device_facts();
    cached_dev = dev;
  }
  if (out == OutType::F32) launch_gemm<kBackward, float>(w, A, M, c, alpha, beta, stream, impl, facts);
  else launch_gemm<kBackward, __nv_bfloat16>(w, A, M, c, alpha, beta, stream, impl, facts);
  HUKUK_CUDA_LAUNCH_CHECK();
}

template <typename T>
void upload_vec(hukuk::cuda::DeviceBuffer<T>& dst, const std::vector<T>& src, cudaStream_t s) {
  dst.resize(src.size());
  if (!src.empty()) HUKUK_CUDA_CHECK(cudaMemcpyAsync(dst.get(), src.data(), src.size() * sizeof(T), cudaMemcpyHostToDevice, s));
}
template <typename T>
std::vector<T> download_vec(const hukuk::cuda::DeviceBuffer<T>& src, cudaStream_t s) {
  std::vector<T> out(src.size());
  if (!out.empty()) HUKUK_CUDA_CHECK(cudaMemcpyAsync(out.data(), src.get(), src.bytes(), cudaMemcpyDeviceToHost, s));
  return out;
}

unsigned grid_for(int64_t items, int per_cta) {
  return static_cast<unsigned>((items + per_cta - 1) / per_cta);
}

}  // namespace

bool tensor_core_ok(const DeviceNf4& w) {
  return w.rows % 64 == 0 && w.cols % 64 == 0 && w.blocksize % 64 == 0;
}

Nf4Weight Nf4Weight::upload(const Nf4Tensor& t, cudaStream_t s) {
  Nf4Weight w;
  w.shape_ = t.shape;
  w.numel_ = t.numel;
  w.dtype_ = t.dtype;
  w.blocksize_ = t.blocksize;
  w.blocksize2_ = t.blocksize2;
  w.nested_ = t.nested;
  w.offset_ = t.offset;
  HUKUK_CHECK(t.shape.size() <= 2, "ENGINE_INVALID_ARG", "NF4 upload: only 1-D and 2-D weights");
  upload_vec(w.packed_, t.packed, s);
  if (t.nested) {
    upload_vec(w.absmax_q_, t.absmax_q, s);
    upload_vec(w.absmax2_, t.absmax2, s);
    upload_vec(w.code2_, t.code2, s);
  } else {
    upload_vec(w.absmax_, t.absmax, s);
  }
  return w;
}

Nf4Tensor Nf4Weight::download(cudaStream_t s) const {
  Nf4Tensor t;
  t.shape = shape_;
  t.numel = numel_;
  t.dtype = dtype_;
  t.blocksize = blocksize_;
  t.blocksize2 = blocksize2_;
  t.nested = nested_;
  t.offset = offset_;
  t.quant_map.assign(kNf4Code, kNf4Code + 16);
  t.packed = download_vec(packed_, s);
  if (nested_) {
    t.absmax_q = download_vec(absmax_q_, s);
    t.absmax2 = download_vec(absmax2_, s);
    t.code2 = download_vec(code2_, s);
  } else {
    t.absmax = download_vec(absmax_, s);
  }
  HUKUK_CUDA_CHECK(cudaStreamSynchronize(s));
  return t;
}

DeviceNf4 Nf4Weight::view() const {
  DeviceNf4 v;
  v.packed = packed_.get();
  v.absmax = nested_ ? nullptr : absmax_.get();
  v.absmax_q = absmax_q_.get();
  v.absmax2 = absmax2_.get();
  v.code2 = code2_.get();
  v.offset = offset_;
  v.blocksize = blocksize_;
  v.blocksize2 = blocksize2_;
  v.rows = shape_.size() == 2 ? shape_[0] : 1;
  v.cols = shape_.empty() ? 1 : shape_.back();
  return v;
}

size_t Nf4Weight::device_bytes() const {
  return packed_.bytes() + absmax_q_.bytes() + absmax_.bytes() + absmax2_.bytes() + code2_.bytes();
}

void mean(const float* x, int64_t n, float* out, cudaStream_t stream) {
  HUKUK_CHECK(n > 0, "ENGINE_INVALID_ARG", "mean of an empty tensor");
  int B = 1;
  if (n >= 512) B = 512;
  else while (B * 2 <= n) B *= 2;
  k_torch_mean<<<1, B < 32 ? 32 : B, 0, stream>>>(x, n, B, out);
  HUKUK_CUDA_LAUNCH_CHECK();
}

Nf4Weight quantize(const void* x, DType dtype, const std::vector<int64_t>& shape, int blocksize, bool nested,
                   cudaStream_t s) {
  HUKUK_CHECK(blocksize >= 2 && (blocksize & (blocksize - 1)) == 0 && blocksize <= 4096, "ENGINE_INVALID_ARG",
              "NF4 blocksize must be a power of two in [2, 4096]");
  HUKUK_CHECK(shape.size() >= 1 && shape.size() <= 2, "ENGINE_INVALID_ARG", "NF4 quantize: only 1-D and 2-D weights");
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  HUKUK_CHECK(n > 0, "ENGINE_INVALID_ARG", "NF4 quantize: empty tensor");
  Nf4Weight w;
  w.shape_ = shape;
  w.numel_ = n;
  w.dtype_ = dtype;
  w.blocksize_ = blocksize;
  w.blocksize2_ = kDefaultBlocksize2;
  w.nested_ = nested;
  const int64_t nb = (n + blocksize - 1) / blocksize;
  w.packed_.resize(static_cast<size_t>((n + 1) / 2));
  w.absmax_.resize(static_cast<size_t>(nb));
  const unsigned grid = grid_for(nb, kWarpsPerCta);
  const int threads = 32 * kWarpsPerCta;
  switch (dtype) {
    case DType::F32:
      k_quantize_nf4<float><<<grid, threads, 0, s>>>(static_cast<const float*>(x), n, blocksize, w.packed_.get(), w.absmax_.get());
      break;
    case DType::BF16:
      k_quantize_nf4<__nv_bfloat16><<<grid, threads, 0, s>>>(static_cast<const __nv_bfloat16*>(x), n, blocksize,
                                                             w.packed_.get(), w.absmax_.get());
      break;
    case DType::F16:
      k_quantize_nf4<__half><<<grid, threads, 0, s>>>(static_cast<const __half*>(x), n, blocksize, w.packed_.get(),
                                                      w.absmax_.get());
      break;
  }
  HUKUK_CUDA_LAUNCH_CHECK();
  if (!nested) {
    HUKUK_CUDA_CHECK(cudaStreamSynchronize(s));
    return w;
  }
  hukuk::cuda::DeviceBuffer<float> offset(1);
  mean(w.absmax_.get(), nb, offset.get(), s);
  std::vector<float> code2(kDynamicCode, kDynamicCode + 256);
  upload_vec(w.code2_, code2, s);
  w.absmax_q_.resize(static_cast<size_t>(nb));
  w.absmax2_.resize(static_cast<size_t>((nb + w.blocksize2_ - 1) / w.blocksize2_));
  k_quantize_absmax<<<grid_for(static_cast<int64_t>(w.absmax2_.size()), kWarpsPerCta), threads, 0, s>>>(
      w.absmax_.get(), nb, offset.get(), w.blocksize2_, w.code2_.get(), w.absmax_q_.get(), w.absmax2_.get());
  HUKUK_CUDA_LAUNCH_CHECK();
  HUKUK_CUDA_CHECK(cudaMemcpyAsync(&w.offset_, offset.get(), sizeof(float), cudaMemcpyDeviceToHost, s));
  HUKUK_CUDA_CHECK(cudaStreamSynchronize(s));  // offset_ is read by view(); the plain absmax can go
  w.absmax_.release();
  return w;
}

void dequantize_f32(const DeviceNf4& w, float* out, cudaStream_t s) {
  const DeviceNf4* ws[1] = {&w};
  launch_dequantize(ws, 1, out, s);
}
void dequantize_bf16(const DeviceNf4& w, uint16_t* out, cudaStream_t s) {
  const DeviceNf4* ws[1] = {&w};
  launch_dequantize(ws, 1, reinterpret_cast<__nv_bfloat16*>(out), s);
}
void dequantize_group_f32(const DeviceNf4* const* ws, int n, float* out, cudaStream_t s) {
  launch_dequantize(ws, n, out, s);
}
void dequantize_group_bf16(const DeviceNf4* const* ws, int n, uint16_t* out, cudaStream_t s) {
  launch_dequantize(ws, n, reinterpret_cast<__nv_bfloat16*>(out), s);
}

void dequantize_list_bf16(const DeviceNf4* const* ws, uint16_t* const* outs, int n, cudaStream_t s) {
  HUKUK_CHECK(n >= 0 && n <= kDequantizeListMax, "ENGINE_INVALID_ARG",
              "nf4 dequantize list: at most " + std::to_string(kDequantizeListMax) + " weights");
  Nf4List lst{};
  int64_t total = 0;
  for (int i = 0; i < n; ++i) {
    const DeviceNf4& w = *ws[i];
    const int64_t numel = w.rows * w.cols;
    // the 16-values-per-thread form's conditions (as launch_dequantize's); any other weight gets
    // its own dequantize_bf16 launch (the same bits)
    const bool vec = numel > 0 && numel % 16 == 0 && w.blocksize % 16 == 0 &&
                     reinterpret_cast<uintptr_t>(w.packed) % 8 == 0 && reinterpret_cast<uintptr_t>(outs[i]) % 16 == 0;
    if (!vec) {
      if (numel > 0) dequantize_bf16(w, outs[i], s);
      continue;
    }
    lst.w[lst.n] = w;
    lst.out[lst.n] = reinterpret_cast<__nv_bfloat16*>(outs[i]);
    lst.begin[lst.n] = total;
    total += numel / 16;
    ++lst.n;
  }
  if (lst.n == 0) return;
  for (int i = lst.n; i <= kDequantizeListMax; ++i) lst.begin[i] = total;
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>((total + 255) / 256, 65535));
  hukuk::cuda::pdl::launch(k_dequantize16_list, dim3(grid), dim3(256), 0, s, lst);
}

void gemm_xwt(const DeviceNf4& w, const uint16_t* x, int64_t M, void* y, OutType out, float alpha, float beta,
              cudaStream_t stream, GemmImpl impl) {
  gemm<false>(w, x, M, y, out, alpha, beta, stream, impl);
}

void gemm_dyw(const DeviceNf4& w, const uint16_t* dy, int64_t M, void* dx, OutType out, float alpha, float beta,
              cudaStream_t stream, GemmImpl impl) {
  gemm<true>(w, dy, M, dx, out, alpha, beta, stream, impl);
}

template <bool kBackward>
static void gemm_f32(const DeviceNf4& w, const float* a, int64_t M, float* c, float alpha, float beta,
                     cudaStream_t stream) {
  HUKUK_CHECK(M > 0 && w.rows > 0 && w.cols > 0, "ENGINE_INVALID_ARG", "NF4 GEMM: empty operand");
  const int64_t Nc = kBackward ? w.cols : w.rows;
  dim3 grid(static_cast<unsigned>((Nc + 127) / 128), static_cast<unsigned>(std::min<int64_t>(M, 65535)));
  k_gemm_nf4_simt<kBackward, float, float><<<grid, 128, 0, stream>>>(w, a, M, c, alpha, beta);
  HUKUK_CUDA_LAUNCH_CHECK();
}

void gemm_xwt_f32(const DeviceNf4& w, const float* x, int64_t M, float* y, float alpha, float beta,
                  cudaStream_t stream) {
  gemm_f32<false>(w, x, M, y, alpha, beta, stream);
}

void gemm_dyw_f32(const DeviceNf4& w, const float* dy, int64_t M, float* dx, float alpha, float beta,
                  cudaStream_t stream) {
  gemm_f32<true>(w, dy, M, dx, alpha, beta, stream);
}

}  // namespace hukuk::nf4::cuda
