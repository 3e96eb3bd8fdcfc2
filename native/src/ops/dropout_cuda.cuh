// Device side of the dropout hash: ops/dropout_hash.h is compiled for host and device, so the
// kernels make the same keep/drop decisions as the CPU reference.
#pragma once
#include <cuda_bf16.h>

#include <cstdint>
#include <type_traits>

#include "core/cuda_runtime.h"
#include "core/half.h"
#include "cuda/pdl.cuh"
#include "ops/dropout_hash.h"

namespace hukuk::ops::cuda {

// dropout_keep for one element, with the per-call key derivation redone (elementwise kernels and the
// unfused attention, which are memory-bound); loops over many elements per thread compute
// dropout_key / dropout_threshold once and call dropout_keep_bits.
__device__ __forceinline__ bool dropout_keep_d(uint64_t seed, uint64_t site, uint64_t i, float p) {
  return ops::dropout_keep(seed, site, i, p);
}

inline unsigned blocks_for(int64_t n, int threads) { return unsigned((n + threads - 1) / threads); }

// ---- elementwise helpers for the fp32 / bf16 kernels ----------------------------------------
// Kernels are templated on the device element type (float or __nv_bfloat16); the host wrappers
// map the engine's bf16_t to __nv_bfloat16 with dev_ptr().
template <typename T>
using dev_elem_t = std::conditional_t<std::is_same_v<T, bf16_t>, __nv_bfloat16, T>;
inline const __nv_bfloat16* dev_ptr(const bf16_t* p) { return reinterpret_cast<const __nv_bfloat16*>(p); }
inline __nv_bfloat16* dev_ptr(bf16_t* p) { return reinterpret_cast<__nv_bfloat16*>(p); }
inline const float* dev_ptr(const float* p) { return p; }
inline float* dev_ptr(float* p) { return p; }

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T>
__device__ __forceinline__ T from_f32(float v) {
  if constexpr (std::is_same_v<T, float>) return v;
  else return __float2bfloat16_rn(v);
}

// Vectorized elementwise kernels move 8 elements per step (two float4 or one 16-byte bf16 load).
constexpr int kVec = 8;
__device__ __forceinline__ void load8(const float* p, float v[kVec]) {
  const float4 a = reinterpret_cast<const float4*>(p)[0], b = reinterpret_cast<const float4*>(p)[1];
  v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
}
__device__ __forceinline__ void load8(const __nv_bfloat16* p, float v[kVec]) {
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
  for (int j = 0; j < 4; ++j) {  // low half = lower address
    v[2 * j] = __uint_as_float(w[j] << 16);
    v[2 * j + 1] = __uint_as_float(w[j] & 0xffff0000u);
  }
}
__device__ __forceinline__ void store8(float* p, const float v[kVec]) {
  reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
  reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}
__device__ __forceinline__ void store8(__nv_bfloat16* p, const float v[kVec]) {
  uint32_t w[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(v[2 * j], v[2 * j + 1]);  // .x (low half) = v[2j]
    w[j] = *reinterpret_cast<const uint32_t*>(&h);
  }
  *reinterpret_cast<uint4*>(p) = make_uint4(w[0], w[1], w[2], w[3]);
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Grid for a grid-stride elementwise kernel over `items` work items (256 threads a block): enough
// blocks to fill the device several times over, no more (each thread then loops).
unsigned grid_for(int64_t items);

// How an elementwise kernel splits n elements: the first `vec_n` (a multiple of kVec) in 16-byte
// vectors when every pointer is 16-byte aligned, the rest one by one.
struct ElemSplit {
  int64_t vec_n = 0;
  unsigned grid = 0;
};
template <typename... P>
inline ElemSplit elem_split(int64_t n, const P*... ptrs) {
  ElemSplit e;
  const bool ok = (aligned16(ptrs) && ...);
  e.vec_n = ok ? n / kVec * kVec : 0;
  const int64_t items = e.vec_n / kVec + (n - e.vec_n);
  e.grid = grid_for(items);
  return e;
}

}  // namespace hukuk::ops::cuda

namespace hukuk::ops::cuda {

// W elements at p + i (W = kVec: one aligned vector; W = 1: one element), as fp32.
template <int W, typename T>
__device__ __forceinline__ void load_w(const T* p, int64_t i, float* v) {
  if constexpr (W == kVec) load8(p + i, v);
  else v[0] = to_f32(p[i]);
}
template <int W, typename T>
__device__ __forceinline__ void store_w(T* p, int64_t i, const float* v) {
  if constexpr (W == kVec) store8(p + i, v);
  else p[i] = from_f32<T>(v[0]);
}

// The dropout of one call: the key is derived from the device-side seed once per thread.
struct DropParams {
  const uint64_t* seed = nullptr;
  uint64_t site = 0;
  uint32_t threshold = 0;
  float scale = 1.f;  // 1 / (1 - p), computed on the host exactly as the fp32 ops do
};
inline DropParams drop_params(float p, const uint64_t* seed, uint64_t site) {
  DropParams d;
  d.seed = seed;
  d.site = site;
  d.threshold = dropout_threshold(p);
  d.scale = p > 0.f ? 1.f / (1.f - p) : 1.f;
  return d;
}

// Grid-stride elementwise kernel: Op::run<W>(i, key) handles elements [i, i + W). The vectorized
// part [0, vec_n) goes first, then the scalar rest. Op::kDrop says whether it needs the key
// (read from device memory, so a captured graph replays with a new seed).
// Launched through pdl::launch (cuda/pdl.cuh's rule: trigger first, wait before any read or write).
template <typename Op>
__global__ void __launch_bounds__(256) elementwise_kernel(Op op, int64_t n, int64_t vec_n) {
  hukuk::cuda::pdl::trigger();
  hukuk::cuda::pdl::wait();
  DropoutKey key{};
  if constexpr (Op::kDrop) key = dropout_key(*op.drop.seed, op.drop.site);
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t t0 = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t chunks = vec_n / kVec;
  for (int64_t c = t0; c < chunks; c += stride) op.template run<kVec>(c * kVec, key);
  for (int64_t i = vec_n + t0; i < n; i += stride) op.template run<1>(i, key);
}

// Launches op over n elements; ptrs are every pointer the op reads or writes (the vector path
// needs all of them 16-byte aligned).
template <typename Op, typename... P>
void launch_elementwise(const Op& op, int64_t n, cudaStream_t s, const P*... ptrs) {
  if (n <= 0) return;
  const ElemSplit e = elem_split(n, ptrs...);
  hukuk::cuda::pdl::launch(elementwise_kernel<Op>, e.grid, 256, 0, s, op, n, e.vec_n);
}

}  // namespace hukuk::ops::cuda
