// CUDA twins of the CPU ops (ops/*.cpp), for the T5 GPU graph (t5/cuda/). Same functions and the
// same layouts as the CPU reference, on device pointers, enqueued on `stream` (nothing here
// synchronizes). Storage is fp32; the GEMM's precision picks fp32 (exact, for parity) or bf16
// tensor cores with fp32 accumulation (CUBLAS_COMPUTE_32F_FAST_16BF: inputs rounded to bf16).
// bf16 activations (hukuk::bf16_t, core/half.h): each bf16 overload has exactly its fp32 twin's
// parameter list with only the activation pointers' types changed; math stays fp32 inside the
// kernels (load bf16 -> float, compute, round to nearest even once on store).
// Dropout uses the CPU's counter hash (ops/dropout.h), so the masks are the same on both devices.
// Seeds (and the loss scale) are read from device memory, so a captured CUDA graph replays a
// step with new values without being captured again.
#pragma once
#include <cstdint>

#include "core/half.h"
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
// bf16 operands: real bf16 tensor cores (CUDA_R_16BF, CUBLAS_COMPUTE_32F: fp32 accumulate), C fp32
// or bf16 (rounded once from the fp32 accumulator; beta 0 or 1 both work). `p` is ignored: the
// operands already are bf16.
void gemm(cudaStream_t s, Precision p, bool ta, bool tb, int M, int N, int K, float alpha, const bf16_t* A, int lda,
          long long sA, const bf16_t* B, int ldb, long long sB, float beta, float* C, int ldc, long long sC,
          int batch = 1);
void gemm(cudaStream_t s, Precision p, bool ta, bool tb, int M, int N, int K, float alpha, const bf16_t* A, int lda,
          long long sA, const bf16_t* B, int ldb, long long sB, float beta, bf16_t* C, int ldc, long long sC,
          int batch = 1);
// Plain y = x · Wᵀ (+beta y) for a Linear weight W[N,K].
inline void linear_xwt(cudaStream_t s, Precision p, const float* x, const float* W, float* y, int M, int N, int K,
                       float alpha = 1.f, float beta = 0.f) {
  gemm(s, p, false, true, M, N, K, alpha, x, K, 0, W, K, 0, beta, y, N, 0);
}
inline void linear_xwt(cudaStream_t s, Precision p, const bf16_t* x, const bf16_t* W, float* y, int M, int N, int K,
                       float alpha = 1.f, float beta = 0.f) {
  gemm(s, p, false, true, M, N, K, alpha, x, K, 0, W, K, 0, beta, y, N, 0);
}
inline void linear_xwt(cudaStream_t s, Precision p, const bf16_t* x, const bf16_t* W, bf16_t* y, int M, int N, int K,
                       float alpha = 1.f, float beta = 0.f) {
  gemm(s, p, false, true, M, N, K, alpha, x, K, 0, W, K, 0, beta, y, N, 0);
}

// elementwise (matmul.cu; convert in dropout.cu, which holds the vectorized bf16 kernels)
void add(float* out, const float* a, const float* b, int64_t n, cudaStream_t s);  // out = a + b
void scale(float* x, int64_t n, float k, cudaStream_t s);                        // x *= k
void convert(const float* x, bf16_t* y, int64_t n, cudaStream_t s);             // y = bf16(x), nearest even

// embedding.cu: out[r] = table[ids[r]] (ids on the device, range-checked on the host)
void embedding_forward(const float* table, int d, const int32_t* ids, int64_t rows, float* out, cudaStream_t s);

// dropout.cu: y = x * keep / (1 - p) (in place allowed; p == 0 copies); dx (+)= dy * keep / (1 - p)
void dropout_forward(const float* x, float* y, int64_t n, float p, const uint64_t* seed, uint64_t site, cudaStream_t s);
void dropout_backward(const float* dy, float* dx, int64_t n, float p, const uint64_t* seed, uint64_t site, bool accumulate,
                      cudaStream_t s);
// bf16: the same masks (flat index i); the backward cannot accumulate into bf16 (accumulate must be false)
void dropout_forward(const bf16_t* x, bf16_t* y, int64_t n, float p, const uint64_t* seed, uint64_t site,
                     cudaStream_t s);
void dropout_backward(const float* dy, bf16_t* dx, int64_t n, float p, const uint64_t* seed, uint64_t site,
                      bool accumulate, cudaStream_t s);

// norm.cu: T5 RMS norm (no mean, no bias); rstd optional in the forward
void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int d, float eps,
                     cudaStream_t s);
void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx, int64_t rows,
                      int d, bool accumulate, cudaStream_t s);
// bf16 output (x, w and rstd fp32; rstd bit-identical to the fp32 overload's)
void rmsnorm_forward(const float* x, const float* w, bf16_t* y, float* rstd, int64_t rows, int d, float eps,
                     cudaStream_t s);
// rmsnorm_backward (dx (+)= ...) that also writes g_drop = dropout_backward(dx, accumulate=false)
// of the next residual dropout (p, seed, site) from the same dx: bit for bit the two calls, one
// pass fewer over dx. Launched through pdl::launch.
void rmsnorm_backward_dropout(const float* x, const float* w, const float* rstd, const float* dy, float* dx,
                              int64_t rows, int d, bool accumulate, float* g_drop, float p, const uint64_t* seed,
                              uint64_t site, cudaStream_t s);
void rmsnorm_backward_dropout(const float* x, const float* w, const float* rstd, const float* dy, float* dx,
                              int64_t rows, int d, bool accumulate, bf16_t* g_drop, float p, const uint64_t* seed,
                              uint64_t site, cudaStream_t s);
// The end of a T5 sub-layer and the start of the next one in one pass: x_out = x_in + dropout_p(y)
// (residual.h's dropout_add, same masks) and then n_out = rmsnorm(x_out) with rstd (optional): x_out,
// rstd and n_out bit for bit dropout_add then rmsnorm_forward (the same row reduction, norm.cu),
// one fp32 read of the residual and one launch fewer. One block per row; pdl::launch. CPU
// reference: ops::dropout_add_rmsnorm (norm.h). x_out may alias x_in or y.
void dropout_add_rmsnorm(const float* x_in, const float* y, float* x_out, const float* w, float* n_out, float* rstd,
                         int64_t rows, int d, float eps, float p, const uint64_t* seed, uint64_t site, cudaStream_t s);
void dropout_add_rmsnorm(const float* x_in, const float* y, float* x_out, const float* w, bf16_t* n_out, float* rstd,
                         int64_t rows, int d, float eps, float p, const uint64_t* seed, uint64_t site, cudaStream_t s);
// y = w * (x * rstd) from a stored rstd (the forward's): bit for bit rmsnorm_forward's y, so a
// backward can recompute a norm's output instead of keeping it. Launched through pdl::launch.
void rmsnorm_apply(const float* x, const float* w, const float* rstd, float* y, int64_t rows, int d, cudaStream_t s);
void rmsnorm_apply(const float* x, const float* w, const float* rstd, bf16_t* y, int64_t rows, int d, cudaStream_t s);

// activation.cu
void act_forward(Act a, const float* x, float* y, int64_t n, cudaStream_t s);
void act_backward(Act a, const float* x, const float* dy, float* dx, int64_t n, cudaStream_t s);
// gated FFN: h = act(pre0) * pre1; backward: d0 = act'(pre0) * dh * pre1, d1 = dh * act(pre0)
void gated_forward(Act a, const float* pre0, const float* pre1, float* h, int64_t n, cudaStream_t s);
void gated_backward(Act a, const float* pre0, const float* pre1, const float* dh, float* d0, float* d1, int64_t n,
                    cudaStream_t s);
// bf16 activations; the incoming gradients (dy, dh) stay fp32
void act_forward(Act a, const bf16_t* x, bf16_t* y, int64_t n, cudaStream_t s);
void act_backward(Act a, const bf16_t* x, const float* dy, bf16_t* dx, int64_t n, cudaStream_t s);
void gated_forward(Act a, const bf16_t* pre0, const bf16_t* pre1, bf16_t* h, int64_t n, cudaStream_t s);
void gated_backward(Act a, const bf16_t* pre0, const bf16_t* pre1, const float* dh, bf16_t* d0, bf16_t* d1,
                    int64_t n, cudaStream_t s);

// The FFN's activation fused with its dropout (one pass instead of two), T = float or bf16_t.
// For float, bit-identical to the two-kernel sequences they replace (same masks, same float
// operations in the same order):
//   act_dropout_forward    = act_forward(pre, h); dropout_forward(h, h)        (h may alias pre)
//   act_dropout_backward   = dropout_backward(dh, g, acc=false); act_backward(pre, g, dpre)
//   gated_dropout_forward  = gated_forward(pre0, pre1, h); dropout_forward(h, h)
//   gated_dropout_backward = dropout_backward(dh, g, acc=false); gated_backward(pre0, pre1, g, d0, d1)
// ReLU in place: with h == pre in the forward, the backward may pass the dropped output as `pre`
// (relu'(h) = h > 0, and dropped positions get a zero gradient from the mask anyway).
void act_dropout_forward(Act a, const float* pre, float* h, int64_t n, float p, const uint64_t* seed, uint64_t site,
                         cudaStream_t s);
void act_dropout_forward(Act a, const bf16_t* pre, bf16_t* h, int64_t n, float p, const uint64_t* seed, uint64_t site,
                         cudaStream_t s);
void act_dropout_backward(Act a, const float* pre, const float* dh, float* dpre, int64_t n, float p,
                          const uint64_t* seed, uint64_t site, cudaStream_t s);
void act_dropout_backward(Act a, const bf16_t* pre, const float* dh, bf16_t* dpre, int64_t n, float p,
                          const uint64_t* seed, uint64_t site, cudaStream_t s);
// ReLU only: act_dropout_forward that also writes relu's derivative as a bitmask (bit b of word w:
// pre[32 w + b] > 0; relu_mask_words(n) uint32 words, the last one's unused bits zero), and the
// backward that reads that mask instead of pre. Bit-identical to act_dropout_forward /
// act_dropout_backward(Relu, pre, ...) (h may alias pre). 32x (fp32) / 16x (bf16) fewer bytes
// kept for the backward than pre itself. Launched through pdl::launch.
// keep_in_mask (both directions alike, p > 0): the bit is pre > 0 AND kept by the dropout, and the
// backward then tests the bit alone (no hash); the outputs are the same bits either way.
int64_t relu_mask_words(int64_t n);
void act_dropout_forward_bitmask(Act a, const float* pre, float* h, uint32_t* mask, int64_t n, float p,
                                 const uint64_t* seed, uint64_t site, cudaStream_t s, bool keep_in_mask = false);
void act_dropout_forward_bitmask(Act a, const bf16_t* pre, bf16_t* h, uint32_t* mask, int64_t n, float p,
                                 const uint64_t* seed, uint64_t site, cudaStream_t s, bool keep_in_mask = false);
void act_dropout_backward_bitmask(Act a, const uint32_t* mask, const float* dh, float* dpre, int64_t n, float p,
                                  const uint64_t* seed, uint64_t site, cudaStream_t s, bool keep_in_mask = false);
void act_dropout_backward_bitmask(Act a, const uint32_t* mask, const float* dh, bf16_t* dpre, int64_t n, float p,
                                  const uint64_t* seed, uint64_t site, cudaStream_t s, bool keep_in_mask = false);
// The same on a bf16 dh already scaled by 1/(1-p) (ReLU only; dpre may alias dh_scaled).
void act_dropout_backward_bitmask_prescaled(Act a, const uint32_t* mask, const bf16_t* dh_scaled, bf16_t* dpre,
                                            int64_t n, float p, const uint64_t* seed, uint64_t site, cudaStream_t s,
                                            bool keep_in_mask = false);
void gated_dropout_forward(Act a, const float* pre0, const float* pre1, float* h, int64_t n, float p,
                           const uint64_t* seed, uint64_t site, cudaStream_t s);
void gated_dropout_forward(Act a, const bf16_t* pre0, const bf16_t* pre1, bf16_t* h, int64_t n, float p,
                           const uint64_t* seed, uint64_t site, cudaStream_t s);
void gated_dropout_backward(Act a, const float* pre0, const float* pre1, const float* dh, float* d0, float* d1,
                            int64_t n, float p, const uint64_t* seed, uint64_t site, cudaStream_t s);
void gated_dropout_backward(Act a, const bf16_t* pre0, const bf16_t* pre1, const float* dh, bf16_t* d0, bf16_t* d1,
                            int64_t n, float p, const uint64_t* seed, uint64_t site, cudaStream_t s);

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
  // Fused attention only (ops/flash_attention.h), optional: the same bias as `bias` in its Toeplitz
  // form (T5's relative position bias depends on j - i alone): [H, Tq + Tk - 1] with
  // bias[h,i,j] == bias_diag[h * (Tq + Tk - 1) + j - i + Tq - 1]. When set, the fused kernels read it
  // instead of `bias` (which the unfused path still needs).
  const float* bias_diag = nullptr;
};
void softmax_forward(const SoftmaxArgs& a, float* scores_to_P, float* Pd, cudaStream_t s);
// Pd = dropout(P) again (the backward's dV needs it; nothing stored)
void dropped_probs(const SoftmaxArgs& a, const float* P, float* Pd, cudaStream_t s);
// In place: dPd (gradient w.r.t. the dropped probabilities) -> dS = P * (dP - sum(dP * P))
void softmax_backward(const SoftmaxArgs& a, const float* P, float* dPd_to_dS, cudaStream_t s);

// cross_entropy.cu: per row loss (0 for label -100) into loss_rows; with backward, the logits
// are overwritten by *grad_scale (device) * (softmax - onehot) (zero rows for -100). One pass per row;
// the probabilities never exist as a separate tensor. grad_bf16 (with backward): the gradient is
// written as bf16 instead (each the fp32 value rounded once), row r's at the start of row r's own
// fp32 storage: a bf16 [rows, V] matrix of leading dimension 2V over `logits` (the bf16 LM head's
// backward product reads it; T5Cuda::head_and_loss).
void cross_entropy(float* logits, const int32_t* labels, int64_t rows, int V, const float* grad_scale, bool backward,
                   float* loss_rows, cudaStream_t s, bool grad_bf16 = false);

}  // namespace hukuk::ops::cuda

#endif  // HUKUK_CUDA
