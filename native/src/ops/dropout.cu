// CUDA twin of dropout.cpp (the same counter hash, ops/dropout_hash.h, so the same masks as the CPU for a seed).
#include "core/cuda_runtime.h"
#include "ops/dropout_cuda.cuh"
#include "ops/ops_cuda.h"

namespace hukuk::ops::cuda {

namespace pdl = hukuk::cuda::pdl;

// Every kernel here is launched through pdl::launch (trigger first, wait before any access).

__global__ void dropout_fwd_kernel(const float* x, float* y, int64_t n, float p, float scale, const uint64_t* seedp,
                                   uint64_t site) {
  pdl::trigger();
  pdl::wait();
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = dropout_keep_d(*seedp, site, uint64_t(i), p) ? x[i] * scale : 0.f;
}
__global__ void dropout_bwd_kernel(const float* dy, float* dx, int64_t n, float p, float scale, const uint64_t* seedp,
                                   uint64_t site, bool acc) {
  pdl::trigger();
  pdl::wait();
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = (p <= 0.f || dropout_keep_d(*seedp, site, uint64_t(i), p)) ? dy[i] * scale : 0.f;
  dx[i] = acc ? dx[i] + v : v;
}

void dropout_forward(const float* x, float* y, int64_t n, float p, const uint64_t* seed, uint64_t site, cudaStream_t s) {
  if (n <= 0) return;
  if (p <= 0.f) {
    if (x != y) HUKUK_CUDA_CHECK(cudaMemcpyAsync(y, x, size_t(n) * sizeof(float), cudaMemcpyDeviceToDevice, s));
    return;
  }
  pdl::launch(dropout_fwd_kernel, blocks_for(n, 256), 256, 0, s, x, y, n, p, 1.f / (1.f - p), seed, site);
}

void dropout_backward(const float* dy, float* dx, int64_t n, float p, const uint64_t* seed, uint64_t site, bool accumulate,
                      cudaStream_t s) {
  if (n <= 0) return;
  if (p <= 0.f && !accumulate) {
    if (dy != dx) HUKUK_CUDA_CHECK(cudaMemcpyAsync(dx, dy, size_t(n) * sizeof(float), cudaMemcpyDeviceToDevice, s));
    return;
  }
  pdl::launch(dropout_bwd_kernel, blocks_for(n, 256), 256, 0, s, dy, dx, n, p, p > 0.f ? 1.f / (1.f - p) : 1.f, seed,
              site, accumulate);
}


// ---- grid size of the grid-stride elementwise kernels (dropout_cuda.cuh) ---------------------
unsigned grid_for(int64_t items) {
  // 8 blocks of 256 threads per SM fill it (2048 threads); the SM count is read once per device
  // (a host-side attribute query: allowed while a stream is being captured).
  static int sms[64] = {};
  int dev = 0;
  HUKUK_CUDA_CHECK(cudaGetDevice(&dev));
  int& m = sms[dev & 63];
  if (m == 0) HUKUK_CUDA_CHECK(cudaDeviceGetAttribute(&m, cudaDevAttrMultiProcessorCount, dev));
  const int64_t want = (items + 255) / 256, cap = int64_t(m) * 8;
  return unsigned(want < 1 ? 1 : want < cap ? want : cap);
}

// ---- bf16 ------------------------------------------------------------------------------------
// y = bf16(x * keep * scale), x bf16 (dropout_forward) or fp32 (dropout_backward's dy, and with
// D = false the plain conversion, ops::cuda::convert); the product rounded once
template <typename In, bool D>
struct DropToBf16 {
  static constexpr bool kDrop = D;
  const In* x;
  __nv_bfloat16* y;
  DropParams drop;
  template <int W>
  __device__ __forceinline__ void run(int64_t i, DropoutKey key) const {
    float v[W];
    load_w<W>(x, i, v);
#pragma unroll
    for (int j = 0; j < W; ++j)
      if constexpr (D) v[j] = dropout_keep_bits(key, uint64_t(i + j), drop.threshold) ? v[j] * drop.scale : 0.f;
    store_w<W>(y, i, v);
  }
};

void dropout_forward(const bf16_t* x, bf16_t* y, int64_t n, float p, const uint64_t* seed, uint64_t site,
                     cudaStream_t s) {
  if (n <= 0) return;
  if (p <= 0.f) {
    if (x != y) HUKUK_CUDA_CHECK(cudaMemcpyAsync(y, x, size_t(n) * sizeof(bf16_t), cudaMemcpyDeviceToDevice, s));
    return;
  }
  const DropToBf16<__nv_bfloat16, true> op{dev_ptr(x), dev_ptr(y), drop_params(p, seed, site)};
  launch_elementwise(op, n, s, op.x, op.y);
}

void dropout_backward(const float* dy, bf16_t* dx, int64_t n, float p, const uint64_t* seed, uint64_t site,
                      bool accumulate, cudaStream_t s) {
  HUKUK_CHECK(!accumulate, "ENGINE_INVALID_ARG",
              "dropout_backward: accumulate=true is not supported into a bf16 gradient (sum in fp32 first)");
  if (n <= 0) return;
  if (p <= 0.f) {
    const DropToBf16<float, false> op{dy, dev_ptr(dx), drop_params(p, seed, site)};
    launch_elementwise(op, n, s, op.x, op.y);
    return;
  }
  const DropToBf16<float, true> op{dy, dev_ptr(dx), drop_params(p, seed, site)};
  launch_elementwise(op, n, s, op.x, op.y);
}

// fp32 -> bf16 (nearest even): the dropout-free backward above (declared with the elementwise helpers)
void convert(const float* x, bf16_t* y, int64_t n, cudaStream_t s) {
  const DropToBf16<float, false> op{x, dev_ptr(y), DropParams{}};
  launch_elementwise(op, n, s, op.x, op.y);
}

}  // namespace hukuk::ops::cuda
