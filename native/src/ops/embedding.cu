// CUDA twin of embedding.cpp: row gather from the (fp32) table.
#include "core/cuda_runtime.h"
#include "cuda/pdl.cuh"
#include "ops/dropout_cuda.cuh"
#include "ops/ops_cuda.h"

namespace hukuk::ops::cuda {

namespace pdl = hukuk::cuda::pdl;

__global__ void embedding_kernel(const float* table, int d, const int32_t* ids, float* out) {
  pdl::trigger();  // cuda/pdl.cuh: next kernel may launch; wait before reading the step's data or writing
  pdl::wait();
  const int64_t r = blockIdx.x;
  const float* src = table + int64_t(ids[r]) * d;
  for (int i = threadIdx.x; i < d; i += blockDim.x) out[r * d + i] = src[i];
}

void embedding_forward(const float* table, int d, const int32_t* ids, int64_t rows, float* out, cudaStream_t s) {
  if (rows <= 0) return;
  pdl::launch(embedding_kernel, dim3(unsigned(rows)), dim3(256), 0, s, table, d, ids, out);
}

}  // namespace hukuk::ops::cuda
