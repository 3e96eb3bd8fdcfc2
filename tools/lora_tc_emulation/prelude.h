// Host emulation of the CUDA bits lora_tc.cu's kernels use: each CUDA thread is a std::thread,
// mma.sync is a warp-wide exchange through shared slots (the PTX fragment layouts).
#pragma once
#include <cstdint>
#include <cstring>
#include <cmath>
#include <algorithm>
#include <thread>
#include <mutex>
#include <condition_variable>
#include <vector>
#include <functional>
#include "core/half.h"
#include "ops/dropout_hash.h"
using namespace hukuk;
using hukuk::ops::DropoutKey; using hukuk::ops::dropout_key; using hukuk::ops::dropout_keep_bits; using hukuk::ops::dropout_threshold;
#define __device__
#define __forceinline__ inline
#define __global__
#define __launch_bounds__(...)
#define __shared__ static
#define HUKUK_LORA_TC_EMULATE 1
struct dim3 { unsigned x = 1, y = 1, z = 1; dim3() {} dim3(unsigned a, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {} };
thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;
struct uint4 { uint32_t x, y, z, w; };
struct uint2 { uint32_t x, y; };
inline uint2 make_uint2(uint32_t a, uint32_t b) { return {a, b}; }
struct float2 { float x, y; };
struct float4 { float x, y, z, w; };
inline uint4 make_uint4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return {a, b, c, d}; }
inline float2 make_float2(float a, float b) { return {a, b}; }
struct __nv_bfloat16 { uint16_t x; };
struct __nv_bfloat162 { __nv_bfloat16 x, y; };
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { __nv_bfloat162 r; r.x.x = f32_to_bf16(a); r.y.x = f32_to_bf16(b); return r; }
inline float2 __bfloat1622float2(__nv_bfloat162 v) { return {bf16_to_f32(v.x.x), bf16_to_f32(v.y.x)}; }
template <typename T> inline T __ldg(const T* p) { return *p; }
inline uint32_t __byte_perm(uint32_t x, uint32_t y, uint32_t s) {
  uint8_t b[8]; std::memcpy(b, &x, 4); std::memcpy(b + 4, &y, 4);
  uint32_t r = 0;
  for (int n = 0; n < 4; ++n) r |= uint32_t(b[(s >> (4 * n)) & 7]) << (8 * n);
  return r;
}
using std::min;
struct Barrier {
  std::mutex m; std::condition_variable cv; int n = 0, count = 0; long gen = 0;
  void init(int k) { n = k; count = 0; }
  void wait() {
    std::unique_lock<std::mutex> l(m);
    long g = gen;
    if (++count == n) { count = 0; ++gen; cv.notify_all(); }
    else cv.wait(l, [&] { return gen != g; });
  }
};
Barrier g_block;
struct WarpSlots { uint32_t a[32][4]; uint32_t b[32][2]; uint32_t s[32]; Barrier bar; };
WarpSlots g_warps[16];
inline void __syncthreads() { g_block.wait(); }
inline float lo_f(uint32_t w) { return bf16_to_f32(uint16_t(w & 0xffff)); }
inline float hi_f(uint32_t w) { return bf16_to_f32(uint16_t(w >> 16)); }
inline float half_f(uint32_t w, int h) { return h ? hi_f(w) : lo_f(w); }
inline void emulate_mma(float d[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  const int lane = threadIdx.x & 31, wi = threadIdx.x >> 5;
  WarpSlots& W = g_warps[wi];
  for (int q = 0; q < 4; ++q) W.a[lane][q] = a[q];
  W.b[lane][0] = b0; W.b[lane][1] = b1;
  W.bar.wait();
  auto A = [&](int i, int k) { return half_f(W.a[4 * (i % 8) + (k % 8) / 2][(i >= 8) + 2 * (k >= 8)], k % 2); };
  auto B = [&](int k, int n) { return half_f(W.b[4 * n + (k % 8) / 2][k >= 8], k % 2); };
  const int g = lane >> 2, t = lane & 3;
  const int rows[4] = {g, g, g + 8, g + 8}, cols[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
  float out[4];
  for (int e = 0; e < 4; ++e) {
    double s = d[e];
    for (int k = 0; k < 16; ++k) s += double(A(rows[e], k)) * double(B(k, cols[e]));
    out[e] = float(s);
  }
  W.bar.wait();
  for (int e = 0; e < 4; ++e) d[e] = out[e];
}
// the pieces of dropout_cuda.cuh the kernels use
struct DropParams { const uint64_t* seed = nullptr; uint64_t site = 0; uint32_t threshold = 0; float scale = 1.f; };
inline DropParams drop_params(float p, const uint64_t* seed, uint64_t site) {
  DropParams d; d.seed = seed; d.site = site; d.threshold = dropout_threshold(p); d.scale = p > 0.f ? 1.f / (1.f - p) : 1.f; return d;
}
// runs grid x block threads, blocks one after another
inline void launch(dim3 grid, dim3 block, const std::function<void()>& body) {
  const int nt = block.x;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        g_block.init(nt);
        for (int w = 0; w < (nt + 31) / 32; ++w) g_warps[w].bar.init(32);
        std::vector<std::thread> th;
        for (int i = 0; i < nt; ++i)
          th.emplace_back([&, i, bx, by, bz] {
            threadIdx = dim3(i); blockIdx = dim3(bx, by, bz); blockDim = block; gridDim = grid;
            body();
          });
        for (auto& x : th) x.join();
      }
}
inline void __syncwarp() { g_warps[threadIdx.x >> 5].bar.wait(); }
// lora_backward_group's extras: a warp shuffle, the ticket atomic (blocks run one after another
// here, threads of a block concurrently: a mutex), fences (no-ops: std::thread joins order memory)
inline uint32_t __shfl_sync(unsigned, uint32_t v, int src) {
  WarpSlots& W = g_warps[threadIdx.x >> 5];
  W.s[threadIdx.x & 31] = v;
  W.bar.wait();
  const uint32_t r = W.s[src & 31];
  W.bar.wait();
  return r;
}
template <typename T> inline T __ldcg(const T* p) { return *p; }
inline std::mutex g_atomic_mutex;
inline unsigned atomicAdd(unsigned* p, unsigned v) { std::lock_guard<std::mutex> l(g_atomic_mutex); const unsigned o = *p; *p = o + v; return o; }
// CUDA's atomicInc: old >= limit ? 0 : old + 1, returns old
inline unsigned atomicInc(unsigned* p, unsigned limit) { std::lock_guard<std::mutex> l(g_atomic_mutex); const unsigned o = *p; *p = o >= limit ? 0u : o + 1u; return o; }
inline void __threadfence() {}
