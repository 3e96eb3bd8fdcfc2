// The element of dropout_add (residual.h): x_in + dropout_p(y) for flat index i, with lora.cuh's
// keep test. One definition for residual.cu's dropout_add_kernel and norm.cu's
// dropout_add_rmsnorm_kernel, so that both store the same bits for every element. The add is
// __fadd_rn so that it is never contracted with the dropout's multiply into an fma (a choice the
// compiler could make differently in the two kernels): round(x_in + round(y * scale)), as the CPU.
#pragma once
#include <cstdint>

#include "ops/lora.cuh"

namespace hukuk::ops::cuda {

__device__ __forceinline__ float dropout_add_elem(const DropMask& drop, float xv, float yv, uint64_t i) {
  return __fadd_rn(xv, drop.apply(yv, i));
}

}  // namespace hukuk::ops::cuda
