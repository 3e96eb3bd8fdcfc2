// What the engine's micro-benchmark hooks (ops/*_napi.cpp) share: CUDA-event timing of a batch
// of calls on a stream, and fixed pseudo-random inputs so a benchmark needs no data from JS.
#pragma once
#if defined(HUKUK_CUDA)
#include <cstdint>
#include <vector>

#include <cuda_runtime_api.h>

#include "core/cuda_runtime.h"
#include "ops/dropout_hash.h"

namespace hukuk::cuda {

// µs per call of `calls` calls that f() enqueues on stream s (one event pair, reused).
struct EventTimer {
  cudaEvent_t a = nullptr, b = nullptr;
  EventTimer() {
    HUKUK_CUDA_CHECK(cudaEventCreate(&a));
    HUKUK_CUDA_CHECK(cudaEventCreate(&b));
  }
  ~EventTimer() {
    cudaEventDestroy(a);
    cudaEventDestroy(b);
  }
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
  template <typename F>
  double us(cudaStream_t s, int calls, F&& f) {
    HUKUK_CUDA_CHECK(cudaEventRecord(a, s));
    f();
    HUKUK_CUDA_CHECK(cudaEventRecord(b, s));
    HUKUK_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0.f;
    HUKUK_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    return double(ms) * 1000.0 / calls;
  }
};

// A fixed pseudo-random sequence in [-1, 1) per salt (splitmix).
inline void fill_random(std::vector<float>& v, uint64_t salt) {
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = float(ops::mix64(salt * 0x9E3779B97F4A7C15ull + i) >> 40) * (2.f / 16777216.f) - 1.f;
}

}  // namespace hukuk::cuda
#endif  // HUKUK_CUDA
