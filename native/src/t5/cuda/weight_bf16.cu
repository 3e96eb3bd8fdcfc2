// See weight_bf16.h.
#include "t5/cuda/weight_bf16.h"

#include <algorithm>

#include "core/cuda_runtime.h"

namespace hukuk::t5cuda {

namespace {
__global__ void widen_bf16_kernel(const uint16_t* __restrict__ x, float* __restrict__ y, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = __uint_as_float(uint32_t(x[i]) << 16);
}
}  // namespace

void widen_bf16(const bf16_t* x, float* y, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((n + threads - 1) / threads, 65535 * 8);
  widen_bf16_kernel<<<unsigned(blocks), threads, 0, s>>>(reinterpret_cast<const uint16_t*>(x), y, n);
  HUKUK_CUDA_LAUNCH_CHECK();
}

}  // namespace hukuk::t5cuda
