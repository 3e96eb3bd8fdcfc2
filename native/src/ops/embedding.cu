// CUDA twin of embedding.cpp: row gather from the (fp32) table.
#include "core/cuda_runtime.h"
#include "ops/dropout_cuda.cuh"
#include "ops/ops_cuda.h"

namespace hukuk::ops::cuda {

__global__ void embedding_kernel(const float* table, int d, const int32_t* ids, float* out) {
  const int64_t r = blockIdx.x;
  const float* src = table + int64_t(ids[r]) * d;
  for (int i = threadIdx.x; i < d; i += blockDim.x) out[r * d + i] = src[i];
}

void embedding_forward(const float* table, int d, const int32_t* ids, int64_t rows, float* out, cudaStream_t s) {
  if (rows <= 0) return;
  embedding_kernel<<<unsigned(rows), 256, 0, s>>>(table, d, ids, out);
  HUKUK_CUDA_LAUNCH_CHECK();
}

}  // namespace hukuk::ops::cuda
