// A bump allocator over one block of memory, for "one memory plan per shape bucket": a step's
// buffers are carved from one allocation at fixed offsets, with no allocator calls (and so no
// churn or fragmentation) inside the step, and reset() at its end.
//
// The same class plans before it allocates: an Arena built with base == nullptr and capacity 0
// hands out offsets from address 0 without limit and records high_water(), so the exact number of
// bytes a configuration needs is known before any cudaMalloc (the VRAM estimate in the run form).
//
//   hukuk::Arena plan;                         // measuring pass
//   build_step_buffers(plan);                  // same code as the real pass
//   hukuk::cuda::DeviceArena arena(plan.high_water());
//   build_step_buffers(arena.arena());         // real pointers, same offsets
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace hukuk {

class Arena {
 public:
  Arena() = default;  // measuring mode
  Arena(void* base, size_t capacity) : base_(static_cast<uint8_t*>(base)), capacity_(capacity) {}

  bool measuring() const { return base_ == nullptr && capacity_ == 0; }

  // `bytes` aligned to `align` (a power of two; 256 suits every CUDA access width).
  void* alloc(size_t bytes, size_t align = 256) {
    HUKUK_CHECK(align && (align & (align - 1)) == 0, "ENGINE_INVALID_ARG", "arena alignment must be a power of two");
    size_t start = (used_ + align - 1) & ~(align - 1);
    if (!measuring() && start + bytes > capacity_)
      HUKUK_FAIL("ENGINE_OOM", "memory plan exceeded: needed " + std::to_string(start + bytes) + " bytes of a " +
                                   std::to_string(capacity_) + "-byte arena (the plan was made for a smaller shape)");
    used_ = start + bytes;
    if (used_ > high_water_) high_water_ = used_;
    return base_ + start;  // in measuring mode: the offset, as a pointer; never dereferenced
  }

  template <typename T>
  T* alloc_array(size_t n, size_t align = 256) {
    return static_cast<T*>(alloc(n * sizeof(T), align));
  }

  size_t mark() const { return used_; }
  void reset(size_t mark = 0) { used_ = mark; }
  size_t used() const { return used_; }
  size_t high_water() const { return high_water_; }
  size_t capacity() const { return capacity_; }

 private:
  uint8_t* base_ = nullptr;
  size_t capacity_ = 0;
  size_t used_ = 0;
  size_t high_water_ = 0;
};

}  // namespace hukuk
