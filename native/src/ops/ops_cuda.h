// CUDA twins of the CPU ops (ops/*.cpp), for the T5 GPU graph (t5/cuda/). Same functions and the
// same layouts as the CPU reference, on device pointers, enqueued on `stream` (nothing here
// synchronizes). Storage is fp32; the GEMM's precision picks fp32 (exact, for parity) or bf16
// tensor cores with fp32 accumulation (CUBLAS_COMPUTE_32F_FAST_16BF: inputs rounded to bf16).
// Dropout uses the CPU's counter hash (ops/dropout.h), so the masks are the same on both devices.
// Seeds (and the loss scale) are read from device memory, so a captured CUDA graph replays a
// step with new values without being captured again.
#pragma once
#include <cstdint>

#include "ops/activation.h"

#if defined(HUKUK_CUDA)
#include <cuda_runtime_api.h>

namespace hukuk::ops::cuda {

enum class Precision { F32, BF16, TF32 };

// Row-major C[M,N] (ldc) = alpha * op(A) · op(B) + beta * C over `batch` matrices (strides in
// elements; 0 = shared). op(A) = A^T when ta (A stored [K,M]), op(B) = B^T when tb (B stored [N,K]).
// cuBLAS through cuda/cublas_loader (dlopen); throws ENGINE_NO_CUBLAS when it is missing.
void gemm(cudaStream_t s, Precision p, bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
          long long sA, const float* B, int ldb, long long sB, float beta, float* C, int ldc, long long sC,
          int batch = 1);
// Plain y = x · Wᵀ (+beta y) for a Linear weight W[N,K].
inline void linear_xwt(cudaStream_t s, Precision p, const float* x, const float* W, float* y, int M, int N, int K,
                       float alpha = 1.f, float beta = 0.f) {
  gemm(s, p, false, true, M, N, K, alpha, x, K, 0, W, K, 0, beta, y, N, 0);
}

// elementwise (matmul.cu)
void add(float* out, const float* a, const float* b, int64_t n, cudaStream_t s);  // out = a + b
void scale(float* x, int64_t n, float k, cudaStream_t s);                        // x *= k

// embedding.cu: out[r] = table[ids[r]] (ids on the device, range-checked on the host)
void embedding_forward(const float* table, int d, const int32_t* ids, int64_t rows, float* out, cudaStream_t s);

// dropout.cu: y = x * keep / (1 - p) (in place allowed; p == 0 copies); dx (+)= dy * keep / (1 - p)
void dropout_forward(const float* x, float* y, int64_t n, float p, const uint64_t* seed, uint64_t site, cudaStream_t s);
void dropout_backward(const float* dy, float* dx, int64_t n, float p, const uint64_t* seed, uint64_t site, bool accumulate,
                      cudaStream_t s);

// norm.cu: T5 RMS norm (no mean, no bias); rstd optional in the forward
void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int d, float eps,
                     cudaStream_t s);
void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx, int64_t rows,
                      int d, bool accumulate, cudaStream_t s);

// activation.cu
void act_forward(Act a, const float* x, float* y, int64_t n, cudaStream_t s);
void act_backward(Act a, const float* x, const float* dy, float* dx, int64_t n, cudaStream_t s);
// gated FFN: h = act(pre0) * pre1; backward: d0 = act'(pre0) * dh * pre1, d1 = dh * act(pre0)
void gated_forward(Act a, const float* pre0, const float* pre1, float* h, int64_t n, cudaStream_t s);
void gated_backward(Act a, const float* pre0, const float* pre1, const float* dh, float* d0, float* d1, int64_t n,
                    cudaStream_t s);

// attention.cu: layout changes between the training rows [B*T, H*dk] and heads [B, H, T, dk]
void rows_to_heads(const float* rows, float* heads, int B, int H, int T, int dk, cudaStream_t s);
void heads_to_rows(const float* heads, float* rows, int B, int H, int T, int dk, cudaStream_t s);
// In place over scores [B*H, Tq, Tk]: + bias[H, Tq, Tk] (optional), masks (key_mask [B, ld] with
// 0 = hidden, causal j > i + q_offset), softmax -> P (before dropout, as the CPU saves it).
// With dropout > 0, Pd receives the dropped, rescaled probabilities (the CPU's mask indices).
struct SoftmaxArgs {
  int B = 0, H = 0, Tq = 0, Tk = 0;
  const float* bias = nullptr;
  const int32_t* key_mask = nullptr;
  int64_t key_mask_ld = 0;
  bool causal = false;
  int q_offset = 0;
  float dropout = 0.f;
  const uint64_t* seed = nullptr;  // device pointer (read only when dropout > 0)
  uint64_t site = 0;
};
void softmax_forward(const SoftmaxArgs& a, float* scores_to_P, float* Pd, cudaStream_t s);
// Pd = dropout(P) again (the backward's dV needs it; nothing stored)
void dropped_probs(const SoftmaxArgs& a, const float* P, float* Pd, cudaStream_t s);
// In place: dPd (gradient w.r.t. the dropped probabilities) -> dS = P * (dP - sum(dP * P))
void softmax_backward(const SoftmaxArgs& a, const float* P, float* dPd_to_dS, cudaStream_t s);

// cross_entropy.cu: per row loss (0 for label -100) into loss_rows; with backward, the logits
// are overwritten by *grad_scale (device) * (softmax - onehot) (zero rows for -100). One pass per row;
// the probabilities never exist as a separate tensor.
void cross_entropy(float* logits, const int32_t* labels, int64_t rows, int V, const float* grad_scale, bool backward,
                   float* loss_rows, cudaStream_t s);

}  // namespace hukuk::ops::cuda

#endif  // HUKUK_CUDA
