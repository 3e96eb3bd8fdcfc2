// CUDA runtime helpers shared by every module (host side; usable from .cpp and .cu files).
//
// Only meaningful when the addon is built with CUDA (HUKUK_CUDA defined by native/build.mjs,
// which then also puts the toolkit's include folder on g++'s path). The runtime is linked
// statically (cudart_static), so a machine without the NVIDIA driver still loads the addon:
// every call then returns an error, which device_count() turns into 0.
//
//   HUKUK_CUDA_CHECK(cudaMemcpyAsync(...));   // throws EngineError 'ENGINE_CUDA' / 'ENGINE_OOM'
//   kernel<<<g, b, 0, s>>>(...); HUKUK_CUDA_LAUNCH_CHECK();
//   hukuk::cuda::DeviceBuffer<float> buf(n);  // RAII cudaMalloc/cudaFree
#pragma once
#include <cstddef>
#include <string>

#include "core/arena.h"
#include "core/error.h"

#if defined(HUKUK_CUDA)
#include <cuda_runtime_api.h>

namespace hukuk::cuda {

// Turns a failed runtime call into an EngineError. Out-of-memory says how much was asked,
// how much is free and what to lower, so the UI can show something a person can act on.
inline void fail(cudaError_t e, const char* expr, const char* file, int line, size_t asked = 0) {
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clear the sticky-free error so later calls can go on
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    std::string msg = "out of GPU memory";
    if (asked) msg += ": needed " + std::to_string(asked >> 20) + " MiB";
    msg += ", free " + std::to_string(free_b >> 20) + " MiB of " + std::to_string(total_b >> 20) +
           " MiB; lower the batch size or the sequence length, or turn on activation recomputation";
    throw EngineError("ENGINE_OOM", msg, file, line);
  }
  throw EngineError("ENGINE_CUDA", std::string(expr) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")",
                    file, line);
}

// Number of usable devices; 0 when there is no driver, no device, or the driver is too old.
inline int device_count() {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) { resize(n); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), n_(o.n_) { o.ptr_ = nullptr; o.n_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) { release(); ptr_ = o.ptr_; n_ = o.n_; o.ptr_ = nullptr; o.n_ = 0; }
    return *this;
  }
  void resize(size_t n) {
    release();
    if (n == 0) return;
    cudaError_t e = cudaMalloc(reinterpret_cast<void**>(&ptr_), n * sizeof(T));
    if (e != cudaSuccess) { ptr_ = nullptr; fail(e, "cudaMalloc", __FILE__, __LINE__, n * sizeof(T)); }
    n_ = n;
  }
  void release() {
    if (ptr_) cudaFree(ptr_);
    ptr_ = nullptr;
    n_ = 0;
  }
  T* get() const { return ptr_; }
  size_t size() const { return n_; }
  size_t bytes() const { return n_ * sizeof(T); }

 private:
  T* ptr_ = nullptr;
  size_t n_ = 0;
};

// One cudaMalloc'd block handed out by an Arena (see core/arena.h).
class DeviceArena {
 public:
  explicit DeviceArena(size_t bytes) : buf_(bytes), arena_(buf_.get(), bytes) {}
  Arena& arena() { return arena_; }

 private:
  DeviceBuffer<uint8_t> buf_;
  Arena arena_;
};

// Free and total device memory (for estimates and OOM messages).
inline void memory_info(size_t* free_bytes, size_t* total_bytes) {
  cudaError_t e = cudaMemGetInfo(free_bytes, total_bytes);
  if (e != cudaSuccess) fail(e, "cudaMemGetInfo", __FILE__, __LINE__);
}

}  // namespace hukuk::cuda

#define HUKUK_CUDA_CHECK(expr)                                                        \
  do {                                                                                \
    cudaError_t hukuk_cuda_err_ = (expr);                                             \
    if (hukuk_cuda_err_ != cudaSuccess) ::hukuk::cuda::fail(hukuk_cuda_err_, #expr, __FILE__, __LINE__); \
  } while (0)
#define HUKUK_CUDA_LAUNCH_CHECK() HUKUK_CUDA_CHECK(cudaGetLastError())

#endif  // HUKUK_CUDA
