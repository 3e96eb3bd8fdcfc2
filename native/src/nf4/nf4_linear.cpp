// NF4 Linear on the GPU: dequantize-to-scratch + cuBLAS when cuBLAS opens, else the fused kernel
// (see nf4_cuda.h). Host code only.
#include "nf4/nf4_cuda.h"

#if defined(HUKUK_CUDA)
#include "cuda/cublas_loader.h"

namespace hukuk::nf4::cuda {

static bool use_cublas(const uint16_t* scratch) {
  return scratch != nullptr && hukuk::cuda::cublas_info().available;
}

void linear_xwt(const DeviceNf4& w, const uint16_t* x, int64_t M, void* y, OutType out, float alpha, float beta,
                uint16_t* scratch, cudaStream_t stream) {
  if (!use_cublas(scratch)) return gemm_xwt(w, x, M, y, out, alpha, beta, stream);
  dequantize_bf16(w, scratch, stream);
  hukuk::cuda::cublas().gemm_bf16_rowmajor(stream, M, w.rows, w.cols, x, scratch, /*b_transposed=*/true, y,
                                           out == OutType::BF16, alpha, beta);
}

void linear_dyw(const DeviceNf4& w, const uint16_t* dy, int64_t M, void* dx, OutType out, float alpha, float beta,
                uint16_t* scratch, cudaStream_t stream) {
  if (!use_cublas(scratch)) return gemm_dyw(w, dy, M, dx, out, alpha, beta, stream);
  dequantize_bf16(w, scratch, stream);
  hukuk::cuda::cublas().gemm_bf16_rowmajor(stream, M, w.cols, w.rows, dy, scratch, /*b_transposed=*/false, dx,
                                           out == OutType::BF16, alpha, beta);
}

void linear_xwt_f32(const DeviceNf4& w, const float* x, int64_t M, float* y, float alpha, float beta, float* scratch,
                    cudaStream_t stream) {
  if (scratch == nullptr || !hukuk::cuda::cublas_info().available) return gemm_xwt_f32(w, x, M, y, alpha, beta, stream);
  dequantize_f32(w, scratch, stream);
  using Op = hukuk::cuda::Cublas::Operand;
  hukuk::cuda::cublas().gemm_rowmajor(stream, M, w.rows, w.cols, Op{x, hukuk::cuda::kCudaR32F, false},
                                      Op{scratch, hukuk::cuda::kCudaR32F, true}, y, hukuk::cuda::kCudaR32F, alpha, beta);
}

void linear_dyw_f32(const DeviceNf4& w, const float* dy, int64_t M, float* dx, float alpha, float beta,
                    float* scratch, cudaStream_t stream) {
  if (scratch == nullptr || !hukuk::cuda::cublas_info().available) return gemm_dyw_f32(w, dy, M, dx, alpha, beta, stream);
  dequantize_f32(w, scratch, stream);
  using Op = hukuk::cuda::Cublas::Operand;
  hukuk::cuda::cublas().gemm_rowmajor(stream, M, w.cols, w.rows, Op{dy, hukuk::cuda::kCudaR32F, false},
                                      Op{scratch, hukuk::cuda::kCudaR32F, false}, dx, hukuk::cuda::kCudaR32F, alpha, beta);
}

}  // namespace hukuk::nf4::cuda

#endif  // HUKUK_CUDA
