// T5Cuda's base weights kept as bf16 (bf16 activations, see T5Cuda::weights_to_bf16): back to fp32
// where a product or generation needs fp32 operands.
#pragma once
#include <cstdint>

#include <cuda_runtime.h>

#include "core/half.h"

namespace hukuk::t5cuda {

// y = float(x), exact (a bf16 is the top half of an fp32); plain launch (not part of the PDL chain:
// it runs once per weight outside graphs, or per product of an fp32 plan after the weights went bf16)
void widen_bf16(const bf16_t* x, float* y, int64_t n, cudaStream_t s);

}  // namespace hukuk::t5cuda
