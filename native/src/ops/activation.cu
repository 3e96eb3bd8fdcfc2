// CUDA twin of activation.cpp (same formulas, same order of operations).
#include "core/cuda_runtime.h"
#include "cuda/pdl.cuh"
#include "ops/dropout_cuda.cuh"
#include "ops/ops_cuda.h"

namespace hukuk::ops::cuda {

namespace pdl = hukuk::cuda::pdl;

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluC = 0.044715f;

__device__ __forceinline__ float act_f(Act a, float v) {
  switch (a) {
    case Act::Relu: return v > 0.f ? v : 0.f;
    case Act::GeluNew: {
      const float inner = kSqrt2OverPi * (v + kGeluC * (v * v * v));
      return (0.5f * v) * (1.f + tanhf(inner));
    }
    case Act::Gelu: return v * 0.5f * (1.f + erff(v * 0.7071067811865476f));
    case Act::Silu: return v / (1.f + expf(-v));
  }
  return 0.f;
}
__device__ __forceinline__ float act_b(Act a, float v, float dy) {
  switch (a) {
    case Act::Relu: return v > 0.f ? dy : 0.f;
    case Act::GeluNew: {
      const float inner = kSqrt2OverPi * (v + kGeluC * v * v * v);
      const float t = tanhf(inner);
      const float dinner = kSqrt2OverPi * (1.f + 3.f * kGeluC * v * v);
      return dy * (0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * dinner);
    }
    case Act::Gelu: {
      const float cdf = 0.5f * (1.f + erff(v * 0.7071067811865476f));
      const float pdf = 0.3989422804014327f * expf(-0.5f * v * v);
      return dy * (cdf + v * pdf);
    }
    case Act::Silu: {
      const float sg = 1.f / (1.f + expf(-v));
      return dy * (sg * (1.f + v * (1.f - sg)));
    }
  }
  return 0.f;
}

// The fp32 kernels below are launched through pdl::launch (trigger first, wait before any access).
__global__ void act_fwd_kernel(Act a, const float* x, float* y, int64_t n) {
  pdl::trigger();
  pdl::wait();
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = act_f(a, x[i]);
}
__global__ void act_bwd_kernel(Act a, const float* x, const float* dy, float* dx, int64_t n) {
  pdl::trigger();
  pdl::wait();
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dx[i] = act_b(a, x[i], dy[i]);
}
__global__ void gated_fwd_kernel(Act a, const float* p0, const float* p1, float* h, int64_t n) {
  pdl::trigger();
  pdl::wait();
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) h[i] = act_f(a, p0[i]) * p1[i];
}
__global__ void gated_bwd_kernel(Act a, const float* p0, const float* p1, const float* dh, float* d0, float* d1,
                                 int64_t n) {
  pdl::trigger();
  pdl::wait();
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = dh[i];
  d1[i] = g * act_f(a, p0[i]);
  d0[i] = act_b(a, p0[i], g * p1[i]);
}

void act_forward(Act a, const float* x, float* y, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  pdl::launch(act_fwd_kernel, blocks_for(n, 256), 256, 0, s, a, x, y, n);
}
void act_backward(Act a, const float* x, const float* dy, float* dx, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  pdl::launch(act_bwd_kernel, blocks_for(n, 256), 256, 0, s, a, x, dy, dx, n);
}
void gated_forward(Act a, const float* pre0, const float* pre1, float* h, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  pdl::launch(gated_fwd_kernel, blocks_for(n, 256), 256, 0, s, a, pre0, pre1, h, n);
}
void gated_backward(Act a, const float* pre0, const float* pre1, const float* dh, float* d0, float* d1, int64_t n,
                    cudaStream_t s) {
  if (n <= 0) return;
  pdl::launch(gated_bwd_kernel, blocks_for(n, 256), 256, 0, s, a, pre0, pre1, dh, d0, d1, n);
}


// ---- bf16 overloads and the fused activation + dropout ---------------------------------------
// One kernel per (op, activation, element type, dropout on/off), vectorized (ops/dropout_cuda.cuh).
// Per element the float operations are the fp32 kernels' above (act_f / act_b), in the same
// order, with dropout.cu's in between, so for T = float the fused ops match the two-kernel
// sequences bit for bit. The plain bf16 ops are the fused ones without dropout.

// dropout_forward of a computed value: v * scale where kept, else 0
template <bool D>
__device__ __forceinline__ float drop_fwd(float v, const DropParams& d, DropoutKey key, int64_t i) {
  if constexpr (D) return dropout_keep_bits(key, uint64_t(i), d.threshold) ? v * d.scale : 0.f;
  else return v;
}
// dropout_backward (accumulate = false) of an incoming gradient: the same expression
template <bool D>
__device__ __forceinline__ float drop_bwd(float g, const DropParams& d, DropoutKey key, int64_t i) {
  return drop_fwd<D>(g, d, key, i);
}

template <Act A, typename T, bool D>
struct ActDropFwd {
  static constexpr bool kDrop = D;
  const T* pre;
  T* h;
  DropParams drop;
  template <int W>
  __device__ __forceinline__ void run(int64_t i, DropoutKey key) const {
    float v[W];
    load_w<W>(pre, i, v);
#pragma unroll
    for (int j = 0; j < W; ++j) v[j] = drop_fwd<D>(act_f(A, v[j]), drop, key, i + j);
    store_w<W>(h, i, v);
  }
};

template <Act A, typename T, bool D>
struct ActDropBwd {
  static constexpr bool kDrop = D;
  const T* pre;
  const float* dh;
  T* dpre;
  DropParams drop;
  template <int W>
  __device__ __forceinline__ void run(int64_t i, DropoutKey key) const {
    float v[W], g[W];
    load_w<W>(pre, i, v);
    load_w<W>(dh, i, g);
#pragma unroll
    for (int j = 0; j < W; ++j) v[j] = act_b(A, v[j], drop_bwd<D>(g[j], drop, key, i + j));
    store_w<W>(dpre, i, v);
  }
};

template <Act A, typename T, bool D>
struct GatedDropFwd {
  static constexpr bool kDrop = D;
  const T* pre0;
  const T* pre1;
  T* h;
  DropParams drop;
  template <int W>
  __device__ __forceinline__ void run(int64_t i, DropoutKey key) const {
    float a[W], b[W];
    load_w<W>(pre0, i, a);
    load_w<W>(pre1, i, b);
#pragma unroll
    for (int j = 0; j < W; ++j) a[j] = drop_fwd<D>(act_f(A, a[j]) * b[j], drop, key, i + j);
    store_w<W>(h, i, a);
  }
};

template <Act A, typename T, bool D>
struct GatedDropBwd {
  static constexpr bool kDrop = D;
  const T* pre0;
  const T* pre1;
  const float* dh;
  T* d0;
  T* d1;
  DropParams drop;
  template <int W>
  __device__ __forceinline__ void run(int64_t i, DropoutKey key) const {
    float a[W], b[W], g[W];
    load_w<W>(pre0, i, a);
    load_w<W>(pre1, i, b);
    load_w<W>(dh, i, g);
#pragma unroll
    for (int j = 0; j < W; ++j) {  // as gated_bwd_kernel: d1 = g * act(p0), d0 = act'(p0) applied to g * p1
      const float gj = drop_bwd<D>(g[j], drop, key, i + j), v = a[j];
      a[j] = gj * act_f(A, v);
      b[j] = act_b(A, v, gj * b[j]);
    }
    store_w<W>(d0, i, b);
    store_w<W>(d1, i, a);
  }
};

// Calls f(integral_constant<Act, A>, bool_constant<D>) for the runtime activation and dropout flag.
template <typename F>
void with_act_drop(Act a, bool drop, F&& f) {
  auto d = [&](auto A) {
    if (drop) f(A, std::true_type{});
    else f(A, std::false_type{});
  };
  switch (a) {
    case Act::Relu: d(std::integral_constant<Act, Act::Relu>{}); return;
    case Act::GeluNew: d(std::integral_constant<Act, Act::GeluNew>{}); return;
    case Act::Gelu: d(std::integral_constant<Act, Act::Gelu>{}); return;
    case Act::Silu: d(std::integral_constant<Act, Act::Silu>{}); return;
  }
  HUKUK_FAIL("ENGINE_INVALID_ARG", "unknown activation");
}

template <typename T>
void act_dropout_forward_t(Act a, const T* pre, T* h, int64_t n, float p, const uint64_t* seed, uint64_t site,
                           cudaStream_t s) {
  with_act_drop(a, p > 0.f, [&](auto A, auto D) {
    const ActDropFwd<decltype(A)::value, dev_elem_t<T>, decltype(D)::value> op{dev_ptr(pre), dev_ptr(h),
                                                                                drop_params(p, seed, site)};
    launch_elementwise(op, n, s, op.pre, op.h);
  });
}
template <typename T>
void act_dropout_backward_t(Act a, const T* pre, const float* dh, T* dpre, int64_t n, float p, const uint64_t* seed,
                            uint64_t site, cudaStream_t s) {
  with_act_drop(a, p > 0.f, [&](auto A, auto D) {
    const ActDropBwd<decltype(A)::value, dev_elem_t<T>, decltype(D)::value> op{dev_ptr(pre), dh, dev_ptr(dpre),
                                                                                drop_params(p, seed, site)};
    launch_elementwise(op, n, s, op.pre, op.dh, op.dpre);
  });
}
template <typename T>
void gated_dropout_forward_t(Act a, const T* pre0, const T* pre1, T* h, int64_t n, float p, const uint64_t* seed,
                             uint64_t site, cudaStream_t s) {
  with_act_drop(a, p > 0.f, [&](auto A, auto D) {
    const GatedDropFwd<decltype(A)::value, dev_elem_t<T>, decltype(D)::value> op{
        dev_ptr(pre0), dev_ptr(pre1), dev_ptr(h), drop_params(p, seed, site)};
    launch_elementwise(op, n, s, op.pre0, op.pre1, op.h);
  });
}
template <typename T>
void gated_dropout_backward_t(Act a, const T* pre0, const T* pre1, const float* dh, T* d0, T* d1, int64_t n, float p,
                              const uint64_t* seed, uint64_t site, cudaStream_t s) {
  with_act_drop(a, p > 0.f, [&](auto A, auto D) {
    const GatedDropBwd<decltype(A)::value, dev_elem_t<T>, decltype(D)::value> op{
        dev_ptr(pre0), dev_ptr(pre1), dh, dev_ptr(d0), dev_ptr(d1), drop_params(p, seed, site)};
    launch_elementwise(op, n, s, op.pre0, op.pre1, op.dh, op.d0, op.d1);
  });
}

void act_forward(Act a, const bf16_t* x, bf16_t* y, int64_t n, cudaStream_t s) {
  act_dropout_forward_t(a, x, y, n, 0.f, nullptr, 0, s);
}
void act_backward(Act a, const bf16_t* x, const float* dy, bf16_t* dx, int64_t n, cudaStream_t s) {
  act_dropout_backward_t(a, x, dy, dx, n, 0.f, nullptr, 0, s);
}
void gated_forward(Act a, const bf16_t* pre0, const bf16_t* pre1, bf16_t* h, int64_t n, cudaStream_t s) {
  gated_dropout_forward_t(a, pre0, pre1, h, n, 0.f, nullptr, 0, s);
}
void gated_backward(Act a, const bf16_t* pre0, const bf16_t* pre1, const float* dh, bf16_t* d0, bf16_t* d1,
                    int64_t n, cudaStream_t s) {
  gated_dropout_backward_t(a, pre0, pre1, dh, d0, d1, n, 0.f, nullptr, 0, s);
}

void act_dropout_forward(Act a, const float* pre, float* h, int64_t n, float p, const uint64_t* seed, uint64_t site,
                         cudaStream_t s) {
  act_dropout_forward_t(a, pre, h, n, p, seed, site, s);
}
void act_dropout_forward(Act a, const bf16_t* pre, bf16_t* h, int64_t n, float p, const uint64_t* seed, uint64_t site,
                         cudaStream_t s) {
  act_dropout_forward_t(a, pre, h, n, p, seed, site, s);
}
void act_dropout_backward(Act a, const float* pre, const float* dh, float* dpre, int64_t n, float p,
                          const uint64_t* seed, uint64_t site, cudaStream_t s) {
  act_dropout_backward_t(a, pre, dh, dpre, n, p, seed, site, s);
}
void act_dropout_backward(Act a, const bf16_t* pre, const float* dh, bf16_t* dpre, int64_t n, float p,
                          const uint64_t* seed, uint64_t site, cudaStream_t s) {
  act_dropout_backward_t(a, pre, dh, dpre, n, p, seed, site, s);
}
void gated_dropout_forward(Act a, const float* pre0, const float* pre1, float* h, int64_t n, float p,
                           const uint64_t* seed, uint64_t site, cudaStream_t s) {
  gated_dropout_forward_t(a, pre0, pre1, h, n, p, seed, site, s);
}
void gated_dropout_forward(Act a, const bf16_t* pre0, const bf16_t* pre1, bf16_t* h, int64_t n, float p,
                           const uint64_t* seed, uint64_t site, cudaStream_t s) {
  gated_dropout_forward_t(a, pre0, pre1, h, n, p, seed, site, s);
}
void gated_dropout_backward(Act a, const float* pre0, const float* pre1, const float* dh, float* d0, float* d1,
                            int64_t n, float p, const uint64_t* seed, uint64_t site, cudaStream_t s) {
  gated_dropout_backward_t(a, pre0, pre1, dh, d0, d1, n, p, seed, site, s);
}
void gated_dropout_backward(Act a, const bf16_t* pre0, const bf16_t* pre1, const float* dh, bf16_t* d0, bf16_t* d1,
                            int64_t n, float p, const uint64_t* seed, uint64_t site, cudaStream_t s) {
  gated_dropout_backward_t(a, pre0, pre1, dh, d0, d1, n, p, seed, site, s);
}

// ---- ReLU + dropout with a bitmask of relu' (the T5 FFN when wo has no LoRA) ------------------
// The backward of ReLU needs only where pre > 0: one bit per element instead of the (dropped)
// activation (16x fewer bytes for bf16). Layout: bit b of word w is element 32 * w + b; the last
// word's unused bits are zero. A warp handles 256 elements at a time, lane L the 8 at 8 L (one
// 16-byte vector for bf16, the same loads as elementwise_kernel's), and the 4 lanes of a word
// combine their bytes with two shuffles; the chunk loop is warp-uniform so every shuffle has its
// full warp. Per element the float operations are ActDropFwd / ActDropBwd's for Act::Relu, so the
// outputs are bit-identical to act_dropout_forward / act_dropout_backward's:
//   forward:  h = drop(relu(pre)), bit = pre > 0
//   backward: dpre = bit ? drop(dh) : 0 (= act_b(Relu, pre, drop(dh)); a dropped element gives
//             +0 from drop() where the old path gave +0 from relu' of the zero output)
constexpr int kMaskChunk = 256;  // elements per warp step (32 lanes x 8)

template <typename T>
__device__ __forceinline__ void load_lane8(const T* p, int64_t e0, int64_t n, bool vec, float v[kVec]) {
  if (vec && e0 + kVec <= n) {
    load8(p + e0, v);
  } else {
#pragma unroll
    for (int j = 0; j < kVec; ++j) v[j] = e0 + j < n ? to_f32(p[e0 + j]) : 0.f;
  }
}
template <typename T>
__device__ __forceinline__ void store_lane8(T* p, int64_t e0, int64_t n, bool vec, const float v[kVec]) {
  if (vec && e0 + kVec <= n) {
    store8(p + e0, v);
  } else {
#pragma unroll
    for (int j = 0; j < kVec; ++j)
      if (e0 + j < n) p[e0 + j] = from_f32<T>(v[j]);
  }
}

// K (keep_in_mask): bit = pre > 0 && kept by the dropout, so that the backward needs no hash (its
// integer work bounds these kernels at d_ff widths); h is the same either way.
template <typename T, bool D, bool K>
__global__ void __launch_bounds__(256) relu_dropout_fwd_bitmask_kernel(const T* pre, T* h, uint32_t* mask, int64_t n,
                                                                       DropParams drop, bool vec) {
  pdl::trigger();
  pdl::wait();
  DropoutKey key{};
  if constexpr (D) key = dropout_key(*drop.seed, drop.site);
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  const int64_t chunks = (n + kMaskChunk - 1) / kMaskChunk, words = (n + 31) / 32;
  for (int64_t c = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; c < chunks; c += warps) {
    const int64_t e0 = c * kMaskChunk + int64_t(lane) * kVec;
    float v[kVec];
    load_lane8(pre, e0, n, vec, v);
    uint32_t byte = 0;
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
      if constexpr (K && D) {  // the same keep test and value as drop_fwd<D>, the decision kept in the bit
        const bool keep = dropout_keep_bits(key, uint64_t(e0 + j), drop.threshold);
        byte |= uint32_t(e0 + j < n && v[j] > 0.f && keep) << j;
        v[j] = keep ? act_f(Act::Relu, v[j]) * drop.scale : 0.f;
      } else {
        byte |= uint32_t(e0 + j < n && v[j] > 0.f) << j;
        v[j] = drop_fwd<D>(act_f(Act::Relu, v[j]), drop, key, e0 + j);
      }
    }
    store_lane8(h, e0, n, vec, v);
    uint32_t word = byte << (8 * (lane & 3));
    word |= __shfl_xor_sync(0xffffffffu, word, 1);
    word |= __shfl_xor_sync(0xffffffffu, word, 2);
    const int64_t wi = c * (kMaskChunk / 32) + (lane >> 2);
    if ((lane & 3) == 0 && wi < words) mask[wi] = word;
  }
}

// G: dh's type (fp32, or bf16 already scaled by 1/(1-p): drop.scale is then 1, see
// act_dropout_backward_bitmask_prescaled). dpre may alias dh (each lane reads its 8 elements first).
// K: the mask holds relu' && keep (the forward's K): dpre = bit ? dh · scale : 0, no hash.
template <typename G, typename T, bool D, bool K = false>
__global__ void __launch_bounds__(256) relu_dropout_bwd_bitmask_kernel(const uint32_t* mask, const G* dh, T* dpre,
                                                                       int64_t n, DropParams drop, bool vec) {
  pdl::trigger();
  pdl::wait();
  DropoutKey key{};
  if constexpr (D && !K) key = dropout_key(*drop.seed, drop.site);
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  const int64_t chunks = (n + kMaskChunk - 1) / kMaskChunk;
  for (int64_t c = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; c < chunks; c += warps) {
    const int64_t e0 = c * kMaskChunk + int64_t(lane) * kVec;
    if (e0 >= n) continue;  // no shuffles here: lanes may leave
    const uint32_t byte = (mask[c * (kMaskChunk / 32) + (lane >> 2)] >> (8 * (lane & 3))) & 0xffu;
    float g[kVec];
    load_lane8(dh, e0, n, vec, g);
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
      if constexpr (K) g[j] = (byte >> j) & 1u ? (D ? g[j] * drop.scale : g[j]) : 0.f;
      else g[j] = (byte >> j) & 1u ? drop_bwd<D>(g[j], drop, key, e0 + j) : 0.f;
    }
    store_lane8(dpre, e0, n, vec, g);
  }
}

int64_t relu_mask_words(int64_t n) { return n > 0 ? (n + 31) / 32 : 0; }

template <typename T>
void act_dropout_forward_bitmask_t(Act a, const T* pre, T* h, uint32_t* mask, int64_t n, float p,
                                   const uint64_t* seed, uint64_t site, cudaStream_t s, bool keep_in_mask) {
  HUKUK_CHECK(a == Act::Relu, "ENGINE_INVALID_ARG", "act_dropout_forward_bitmask: ReLU only");
  if (n <= 0) return;
  using E = dev_elem_t<T>;
  const E* x = dev_ptr(pre);
  E* y = dev_ptr(h);
  const bool vec = aligned16(x) && aligned16(y);
  const unsigned grid = grid_for((n + kMaskChunk - 1) / kMaskChunk * 32);
  const DropParams d = drop_params(p, seed, site);
  if (p > 0.f && keep_in_mask) pdl::launch(relu_dropout_fwd_bitmask_kernel<E, true, true>, grid, 256, 0, s, x, y, mask, n, d, vec);
  else if (p > 0.f) pdl::launch(relu_dropout_fwd_bitmask_kernel<E, true, false>, grid, 256, 0, s, x, y, mask, n, d, vec);
  else pdl::launch(relu_dropout_fwd_bitmask_kernel<E, false, false>, grid, 256, 0, s, x, y, mask, n, d, vec);
}
template <typename T>
void act_dropout_backward_bitmask_t(Act a, const uint32_t* mask, const float* dh, T* dpre, int64_t n, float p,
                                    const uint64_t* seed, uint64_t site, cudaStream_t s, bool keep_in_mask) {
  HUKUK_CHECK(a == Act::Relu, "ENGINE_INVALID_ARG", "act_dropout_backward_bitmask: ReLU only");
  if (n <= 0) return;
  using E = dev_elem_t<T>;
  E* y = dev_ptr(dpre);
  const bool vec = aligned16(dh) && aligned16(y);
  const unsigned grid = grid_for((n + kMaskChunk - 1) / kMaskChunk * 32);
  const DropParams d = drop_params(p, seed, site);
  if (p > 0.f && keep_in_mask)
    pdl::launch(relu_dropout_bwd_bitmask_kernel<float, E, true, true>, grid, 256, 0, s, mask, dh, y, n, d, vec);
  else if (p > 0.f) pdl::launch(relu_dropout_bwd_bitmask_kernel<float, E, true>, grid, 256, 0, s, mask, dh, y, n, d, vec);
  else pdl::launch(relu_dropout_bwd_bitmask_kernel<float, E, false>, grid, 256, 0, s, mask, dh, y, n, d, vec);
}

void act_dropout_forward_bitmask(Act a, const float* pre, float* h, uint32_t* mask, int64_t n, float p,
                                 const uint64_t* seed, uint64_t site, cudaStream_t s, bool keep_in_mask) {
  act_dropout_forward_bitmask_t(a, pre, h, mask, n, p, seed, site, s, keep_in_mask);
}
void act_dropout_forward_bitmask(Act a, const bf16_t* pre, bf16_t* h, uint32_t* mask, int64_t n, float p,
                                 const uint64_t* seed, uint64_t site, cudaStream_t s, bool keep_in_mask) {
  act_dropout_forward_bitmask_t(a, pre, h, mask, n, p, seed, site, s, keep_in_mask);
}
void act_dropout_backward_bitmask(Act a, const uint32_t* mask, const float* dh, float* dpre, int64_t n, float p,
                                  const uint64_t* seed, uint64_t site, cudaStream_t s, bool keep_in_mask) {
  act_dropout_backward_bitmask_t(a, mask, dh, dpre, n, p, seed, site, s, keep_in_mask);
}
void act_dropout_backward_bitmask(Act a, const uint32_t* mask, const float* dh, bf16_t* dpre, int64_t n, float p,
                                  const uint64_t* seed, uint64_t site, cudaStream_t s, bool keep_in_mask) {
  act_dropout_backward_bitmask_t(a, mask, dh, dpre, n, p, seed, site, s, keep_in_mask);
}

// dh_scaled = (1/(1-p)) · dh rounded once to bf16 (the wo backward GEMM's alpha carries the scale):
// dpre = relu' && keep ? dh_scaled : 0, the same keep decisions, no second multiply. In place when
// dpre == dh_scaled. Against act_dropout_backward_bitmask on the fp32 dh: the same values, as
// fl(fl32(acc)·scale) rounded to bf16 is what both compute, given the same accumulation.
void act_dropout_backward_bitmask_prescaled(Act a, const uint32_t* mask, const bf16_t* dh_scaled, bf16_t* dpre,
                                            int64_t n, float p, const uint64_t* seed, uint64_t site, cudaStream_t s,
                                            bool keep_in_mask) {
  HUKUK_CHECK(a == Act::Relu, "ENGINE_INVALID_ARG", "act_dropout_backward_bitmask_prescaled: ReLU only");
  if (n <= 0) return;
  const __nv_bfloat16* g = dev_ptr(dh_scaled);
  __nv_bfloat16* y = dev_ptr(dpre);
  const bool vec = aligned16(g) && aligned16(y);
  const unsigned grid = grid_for((n + kMaskChunk - 1) / kMaskChunk * 32);
  DropParams d = drop_params(p, seed, site);
  d.scale = 1.f;  // already in dh_scaled
  if (p > 0.f && keep_in_mask)  // the bit says it all: dpre = bit ? dh_scaled : 0
    pdl::launch(relu_dropout_bwd_bitmask_kernel<__nv_bfloat16, __nv_bfloat16, false, true>, grid, 256, 0, s, mask, g, y,
                n, d, vec);
  else if (p > 0.f)
    pdl::launch(relu_dropout_bwd_bitmask_kernel<__nv_bfloat16, __nv_bfloat16, true>, grid, 256, 0, s, mask, g, y, n, d, vec);
  else
    pdl::launch(relu_dropout_bwd_bitmask_kernel<__nv_bfloat16, __nv_bfloat16, false>, grid, 256, 0, s, mask, g, y, n, d,
                vec);
}

}  // namespace hukuk::ops::cuda
