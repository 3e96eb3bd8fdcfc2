// cuBLAS / cuBLASLt opened at run time (dlopen), never linked: the addon must load and run its
// CPU path on machines without cuBLAS (CI has nvcc + cudart only), and users need only the
// NVIDIA driver plus, for this path, the CUDA toolkit's (or a pip wheel's) cuBLAS.
//
// Search order: $HUKUK_CUBLAS_DIR, the loader's default path (sonames libcublas.so.13/.12),
// $CUDA_HOME/lib64, /usr/local/cuda/lib64. cuBLASLt is loaded first from the same folder (cuBLAS
// depends on it).
//
//   const hukuk::cuda::Cublas& blas = hukuk::cuda::cublas();   // throws ENGINE_NO_CUBLAS if missing
//   blas.gemm_bf16_rowmajor(...);
#pragma once
#include <cstdint>
#include <string>

#if defined(HUKUK_CUDA)
#include <cuda_runtime_api.h>

namespace hukuk::cuda {

// The slice of the cuBLAS C API we use, with its ABI types spelled as plain integers
// (cublasStatus_t, cublasOperation_t, cudaDataType, cublasComputeType_t, cublasGemmAlgo_t).
struct CublasApi {
  using Handle = void*;
  int (*create)(Handle*) = nullptr;                       // cublasCreate_v2
  int (*destroy)(Handle) = nullptr;                       // cublasDestroy_v2
  int (*set_stream)(Handle, cudaStream_t) = nullptr;      // cublasSetStream_v2
  int (*set_workspace)(Handle, void*, size_t) = nullptr;  // cublasSetWorkspace_v2 (may be absent)
  int (*gemm_ex)(Handle, int, int, int, int, int, const void*, const void*, int, int, const void*, int, int,
                 const void*, void*, int, int, int, int) = nullptr;  // cublasGemmEx
  int (*gemm_strided_batched_ex)(Handle, int, int, int, int, int, const void*, const void*, int, int, long long,
                                 const void*, int, int, long long, const void*, void*, int, int, long long, int, int,
                                 int) = nullptr;  // cublasGemmStridedBatchedEx
  const char* (*status_string)(int) = nullptr;    // cublasGetStatusString (may be absent)
  int (*get_version)(Handle, int*) = nullptr;     // cublasGetVersion_v2
};

constexpr int kCublasOpN = 0, kCublasOpT = 1;
constexpr int kCudaR32F = 0, kCudaR16F = 2, kCudaR16BF = 14;
constexpr int kCublasCompute32F = 68;
constexpr int kCublasGemmDefault = -1;

struct CublasInfo {
  bool available = false;
  std::string path;   // the libcublas file that was opened
  std::string error;  // why not, when unavailable
};

// Loads once per process (thread-safe); never throws.
const CublasInfo& cublas_info();

class Cublas {
 public:
  explicit Cublas(const CublasApi& api) : api_(api) {}
  const CublasApi& api() const { return api_; }
  // A handle for the current device, created on first use (one per thread), bound to `stream`; a
  // stream given its own handle by own_handle() gets that one instead.
  void* handle(cudaStream_t stream) const;
  // Side streams whose GEMMs may run at the same time as another stream's (the T5 engine's
  // cross-attention stream): each gets a handle of its own, so that it has its own default
  // workspace (one handle's workspace under two concurrent streams would be shared by kernels
  // that use it, e.g. split-K). own_handle(s) once after creating s, release_handle(s) before
  // destroying it. Thread-safe.
  void own_handle(cudaStream_t stream) const;
  void release_handle(cudaStream_t stream) const;

  // Row-major C[M,N] = alpha * A[M,K] · op(B) + beta * C, op(B) = B[N,K]^T when b_transposed
  // (torch Linear: y = x Wᵀ), else B[K,N]. A, B bf16; C fp32 or bf16 (c_bf16); fp32 accumulate.
  void gemm_bf16_rowmajor(cudaStream_t stream, int64_t M, int64_t N, int64_t K, const void* A, const void* B,
                          bool b_transposed, void* C, bool c_bf16, float alpha = 1.f, float beta = 0.f) const;

  // The general row-major form, optionally batched (strides in elements; batch 1 ignores them):
  //   C[M,N] = alpha * op(A) · op(B) + beta * C
  //   op(A) = A[M,K], or A stored [K,M] transposed (a_transposed: e.g. dW = dyᵀ·x)
  //   op(B) = B[K,N], or B stored [N,K] transposed (b_transposed: e.g. y = x·Wᵀ)
  // Types are each kCudaR32F / kCudaR16BF / kCudaR16F; accumulation is fp32 (CUBLAS_COMPUTE_32F,
  // no TF32 under the default math mode, so fp32 inputs give fp32 results).
  struct Operand {
    const void* ptr;
    int type;
    bool transposed;
    long long batch_stride = 0;
  };
  void gemm_rowmajor(cudaStream_t stream, int64_t M, int64_t N, int64_t K, Operand A, Operand B, void* C, int c_type,
                     float alpha = 1.f, float beta = 0.f, int batch = 1, long long c_batch_stride = 0) const;

 private:
  CublasApi api_;
};

// The loaded library; throws EngineError 'ENGINE_NO_CUBLAS' (with where it looked) if missing.
const Cublas& cublas();

}  // namespace hukuk::cuda

#endif  // HUKUK_CUDA
