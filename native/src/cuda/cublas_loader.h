// cuBLAS / cuBLASLt opened at run time (dlopen), never linked: the addon must load and run its
// CPU path on machines without cuBLAS (CI has nvcc + cudart only), and users need only the
// NVIDIA driver plus, for this path, the CUDA toolkit's (or a pip wheel's) cuBLAS.
//
// Search order: $HUKUK_CUBLAS_DIR, the loader's default path (sonames libcublas.so.13/.12),
// $CUDA_HOME/lib64, /usr/local/cuda/lib64. cuBLASLt is loaded first from the same folder (cuBLAS
// depends on it); its matmul API (CublasLtApi) serves cuda/gemm_lt's tuned bf16 GEMMs.
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

// The slice of the cuBLASLt C API that cuda/gemm_lt uses. Handles and descriptors are opaque
// pointers; enums are ints (cublasStatus_t, cudaDataType, cublasComputeType_t and the attribute
// enums are C enums: int-sized). Checked against cublasLt.h of CUDA 13.1 (NVIDIA's nvmath-python
// bindings, generated from the headers 11.0.3..13.1.0) and 12.6: the values below have not moved.
struct CublasLtAlgo {  // cublasLtMatmulAlgo_t: uint64_t data[8]
  uint64_t data[8];
};
struct CublasLtHeuristic {  // cublasLtMatmulHeuristicResult_t
  CublasLtAlgo algo;
  size_t workspace_size;  // workspaceSize
  int state;              // cublasStatus_t
  float waves_count;      // wavesCount
  int reserved[4];
};
static_assert(sizeof(CublasLtHeuristic) == 96, "cublasLtMatmulHeuristicResult_t is 96 bytes");
struct CublasLtApi {
  using Handle = void*;  // cublasLtHandle_t
  using Desc = void*;    // cublasLtMatmulDesc_t, cublasLtMatrixLayout_t, cublasLtMatmulPreference_t
  int (*create)(Handle*) = nullptr;                                                   // cublasLtCreate
  int (*desc_create)(Desc*, int compute_type, int scale_type) = nullptr;              // cublasLtMatmulDescCreate
  int (*desc_destroy)(Desc) = nullptr;                                                // cublasLtMatmulDescDestroy
  int (*desc_set)(Desc, int attr, const void* buf, size_t bytes) = nullptr;           // cublasLtMatmulDescSetAttribute
  int (*layout_create)(Desc*, int type, uint64_t rows, uint64_t cols, int64_t ld) = nullptr;  // cublasLtMatrixLayoutCreate
  int (*layout_destroy)(Desc) = nullptr;                                              // cublasLtMatrixLayoutDestroy
  int (*layout_set)(Desc, int attr, const void* buf, size_t bytes) = nullptr;         // cublasLtMatrixLayoutSetAttribute
  int (*pref_create)(Desc*) = nullptr;                                                // cublasLtMatmulPreferenceCreate
  int (*pref_destroy)(Desc) = nullptr;                                                // cublasLtMatmulPreferenceDestroy
  int (*pref_set)(Desc, int attr, const void* buf, size_t bytes) = nullptr;           // cublasLtMatmulPreferenceSetAttribute
  int (*heuristic)(Handle, Desc op, Desc a, Desc b, Desc c, Desc d, Desc pref, int requested,
                   CublasLtHeuristic* results, int* returned) = nullptr;              // cublasLtMatmulAlgoGetHeuristic
  int (*matmul)(Handle, Desc op, const void* alpha, const void* A, Desc a, const void* B, Desc b, const void* beta,
                const void* C, Desc c, void* D, Desc d, const CublasLtAlgo* algo, void* workspace,
                size_t workspace_bytes, cudaStream_t stream) = nullptr;               // cublasLtMatmul
};
// cublasLtMatmulDescAttributes_t (int32 values: cublasComputeType_t, cudaDataType, cublasOperation_t)
constexpr int kLtDescComputeType = 0, kLtDescScaleType = 1, kLtDescTransA = 3, kLtDescTransB = 4;
// cublasLtMatrixLayoutAttribute_t: BATCH_COUNT int32, STRIDED_BATCH_OFFSET int64 (elements)
constexpr int kLtLayoutBatchCount = 5, kLtLayoutStridedBatchOffset = 6;
// cublasLtMatmulPreferenceAttributes_t: MAX_WORKSPACE_BYTES uint64, MIN_ALIGNMENT_*_BYTES uint32
constexpr int kLtPrefMaxWorkspaceBytes = 1, kLtPrefMinAlignA = 5, kLtPrefMinAlignB = 6, kLtPrefMinAlignC = 7,
              kLtPrefMinAlignD = 8;

constexpr int kCublasOpN = 0, kCublasOpT = 1;
constexpr int kCudaR32F = 0, kCudaR16F = 2, kCudaR16BF = 14;
constexpr int kCublasCompute32F = 68;
constexpr int kCublasGemmDefault = -1;

struct CublasInfo {
  bool available = false;
  std::string path;   // the libcublas file that was opened
  std::string error;  // why not, when unavailable
  bool lt_available = false;  // cuBLASLt's matmul API opened too (cuda/gemm_lt)
  std::string lt_error;
};

// Loads once per process (thread-safe); never throws.
const CublasInfo& cublas_info();

class Cublas {
 public:
  Cublas(const CublasApi& api, const CublasLtApi* lt) : api_(api), lt_(lt) {}
  const CublasApi& api() const { return api_; }
  // cuBLASLt's matmul API, or nullptr where the library lacks it.
  const CublasLtApi* lt() const { return lt_; }
  // A handle for the current device, created on first use (one per thread), bound to `stream`; a
  // stream given its own handle by own_handle() gets that one instead.
  void* handle(cudaStream_t stream) const;
  // Side streams whose GEMMs may run at the same time as another stream's (the T5 engine's
  // cross-attention stream): each gets a handle of its own, so that it has its own default
  // workspace (one handle's workspace under two concurrent streams would be shared by kernels
  // that use it, e.g. split-K). own_handle(s) once after creating s, release_handle(s) before
  // destroying it. own_handle / release_handle take a lock among themselves; handle() reads the
  // owned streams without one (atomic slots, at most kMaxOwnedStreams), which is correct when they
  // run on the thread that issues the stream's GEMMs (the T5 engine's case) or before it starts.
  // release_handle also frees the stream's cuBLASLt workspace (cuda/gemm_lt).
  static constexpr int kMaxOwnedStreams = 8;
  void own_handle(cudaStream_t stream) const;
  void release_handle(cudaStream_t stream) const;
  // For cuda/gemm_lt: whether `stream` has its own handle, and its cuBLASLt workspace (nullptr
  // until set_owned_workspace gave it one; `bytes` of it).
  bool owned_workspace(cudaStream_t stream, void** workspace) const;
  void set_owned_workspace(cudaStream_t stream, void* workspace) const;
  // Gives each owned stream without a workspace one of `bytes` (cudaMalloc: call outside capture).
  void alloc_owned_workspaces(size_t bytes) const;

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
  // bf16 A and B go through cuda/gemm_lt (cuBLASLt, tuned algorithms) under HUKUK_GEMM_LT=1.
  void gemm_rowmajor(cudaStream_t stream, int64_t M, int64_t N, int64_t K, Operand A, Operand B, void* C, int c_type,
                     float alpha = 1.f, float beta = 0.f, int batch = 1, long long c_batch_stride = 0) const;

 private:
  CublasApi api_;
  const CublasLtApi* lt_;
};

// The loaded library; throws EngineError 'ENGINE_NO_CUBLAS' (with where it looked) if missing.
const Cublas& cublas();

}  // namespace hukuk::cuda

#include "cuda/gemm_lt.h"  // the tuned cuBLASLt path and its hooks (gemm_tune_pending / gemm_tune_run)

#endif  // HUKUK_CUDA
