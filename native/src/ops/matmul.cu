// CUDA twin of matmul.cpp: fp32-storage GEMMs through cuBLAS (opened with dlopen by
// cuda/cublas_loader), plus the two elementwise helpers the graph needs.
#include "core/cuda_runtime.h"
#include "cuda/cublas_loader.h"
#include "ops/dropout_cuda.cuh"
#include "ops/ops_cuda.h"

namespace hukuk::ops::cuda {

// cublasComputeType_t values (cublas_api.h), spelled here since no cuBLAS header is present.
constexpr int kCompute32F = 68, kCompute32FFast16BF = 75, kCompute32FFastTF32 = 77;

void gemm(cudaStream_t s, Precision p, bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
          long long sA, const float* B, int ldb, long long sB, float beta, float* C, int ldc, long long sC,
          int batch) {
  if (M <= 0 || N <= 0 || batch <= 0) return;
  const hukuk::cuda::Cublas& blas = hukuk::cuda::cublas();
  void* h = blas.handle(s);
  // Row-major C = op(A) op(B) is column-major Cᵀ = op(B)ᵀ op(A)ᵀ: swap the operands; a row-major
  // matrix read column-major is its transpose, so each operand keeps its own op flag.
  using namespace hukuk::cuda;
  const int st = blas.api().gemm_strided_batched_ex(
      h, tb ? kCublasOpT : kCublasOpN, ta ? kCublasOpT : kCublasOpN, N, M, K, &alpha, B, kCudaR32F, ldb, sB, A,
      kCudaR32F, lda, sA, &beta, C, kCudaR32F, ldc, sC, batch, p == Precision::BF16 ? kCompute32FFast16BF : p == Precision::TF32 ? kCompute32FFastTF32 : kCompute32F,
      kCublasGemmDefault);
  if (st != 0)
    HUKUK_FAIL("ENGINE_CUDA", "cublasGemmStridedBatchedEx failed with status " + std::to_string(st) + " (M=" +
                                  std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K) + ")");
}

// Tried and removed (2026-11-28, commits 98d10ea..3a796a8): these GEMMs through cuBLASLt with the
// algorithm picked by timing the top heuristic candidates per shape (HUKUK_GEMM_LT). H200, one process
// per setting, ms/step 16x64x128 / 16x512x512 / 8x512x512: 0 % / +0.4 % / -1.4 % (the GEMMs timed alone
// 0.8-1.7 % faster: cuBLASLt offers ~8 algorithms per shape and its first is the one GemmEx runs), and
// its capture test failed once under a busy GPU (a timing-picked algorithm, not understood): not worth
// a second GEMM path.
// bf16 operands: one body for both C types. CUBLAS_COMPUTE_32F with CUDA_R_16BF inputs runs the
// bf16 tensor cores with fp32 accumulation; alpha and beta stay fp32.
static void gemm_bf16(cudaStream_t s, bool ta, bool tb, int M, int N, int K, float alpha, const void* A, int lda,
                      long long sA, const void* B, int ldb, long long sB, float beta, void* C, int c_type, int ldc,
                      long long sC, int batch) {
  if (M <= 0 || N <= 0 || batch <= 0) return;
  const hukuk::cuda::Cublas& blas = hukuk::cuda::cublas();
  void* h = blas.handle(s);
  using namespace hukuk::cuda;
  // operands swapped as in the fp32 gemm above (row-major C is column-major Cᵀ)
  const int st = blas.api().gemm_strided_batched_ex(h, tb ? kCublasOpT : kCublasOpN, ta ? kCublasOpT : kCublasOpN, N,
                                                    M, K, &alpha, B, kCudaR16BF, ldb, sB, A, kCudaR16BF, lda, sA,
                                                    &beta, C, c_type, ldc, sC, batch, kCompute32F, kCublasGemmDefault);
  if (st != 0)
    HUKUK_FAIL("ENGINE_CUDA", std::string("cublasGemmStridedBatchedEx (bf16 operands, ") +
                                  (c_type == kCudaR16BF ? "bf16" : "fp32") + " C) failed with status " +
                                  std::to_string(st) + " (M=" + std::to_string(M) + " N=" + std::to_string(N) +
                                  " K=" + std::to_string(K) + ")");
}

void gemm(cudaStream_t s, Precision, bool ta, bool tb, int M, int N, int K, float alpha, const bf16_t* A, int lda,
          long long sA, const bf16_t* B, int ldb, long long sB, float beta, float* C, int ldc, long long sC,
          int batch) {
  gemm_bf16(s, ta, tb, M, N, K, alpha, A, lda, sA, B, ldb, sB, beta, C, hukuk::cuda::kCudaR32F, ldc, sC, batch);
}
void gemm(cudaStream_t s, Precision, bool ta, bool tb, int M, int N, int K, float alpha, const bf16_t* A, int lda,
          long long sA, const bf16_t* B, int ldb, long long sB, float beta, bf16_t* C, int ldc, long long sC,
          int batch) {
  gemm_bf16(s, ta, tb, M, N, K, alpha, A, lda, sA, B, ldb, sB, beta, C, hukuk::cuda::kCudaR16BF, ldc, sC, batch);
}

__global__ void add_kernel(float* out, const float* a, const float* b, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a[i] + b[i];
}
__global__ void scale_kernel(float* x, int64_t n, float k) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] = x[i] * k;
}

void add(float* out, const float* a, const float* b, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  add_kernel<<<blocks_for(n, 256), 256, 0, s>>>(out, a, b, n);
  HUKUK_CUDA_LAUNCH_CHECK();
}
void scale(float* x, int64_t n, float k, cudaStream_t s) {
  if (n <= 0) return;
  scale_kernel<<<blocks_for(n, 256), 256, 0, s>>>(x, n, k);
  HUKUK_CUDA_LAUNCH_CHECK();
}

}  // namespace hukuk::ops::cuda
