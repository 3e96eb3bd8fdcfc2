// Dense fp32 matrix products for the CPU path (OpenMP over column panels, a register-blocked
// 4x16 kernel; an AVX2 clone is picked at run time where the CPU has it).
//
// One general routine with strides covers the three shapes a Linear layer needs:
//   matmul_nt: C[M,N] = A[M,K] · B[N,K]^T   forward   y = x W^T       (W is [out, in])
//   matmul_nn: C[M,N] = A[M,K] · B[K,N]     input grad dx = dy W
//   matmul_tn: C[M,N] = A[K,M]^T · B[K,N]   weight grad dW = dy^T x
// Every output element is one sequential sum over k (no split-K, no atomics), so results do
// not depend on the thread count. With accumulate, C = C + alpha*acc, else C = alpha*acc;
// alpha is applied to the finished sum (as torch does for LoRA's `lora_B(...) * scaling`).
#pragma once
#include <cstdint>

namespace hukuk::ops {

void gemm(float* C, int64_t ldc, int M, int N, int K, const float* A, int64_t a_sm, int64_t a_sk, const float* B,
          int64_t b_sn, int64_t b_sk, bool accumulate, float alpha);

inline void matmul_nt(float* C, const float* A, const float* B, int M, int N, int K, bool accumulate = false,
                      float alpha = 1.f) {
  gemm(C, N, M, N, K, A, K, 1, B, K, 1, accumulate, alpha);
}
inline void matmul_nn(float* C, const float* A, const float* B, int M, int N, int K, bool accumulate = false,
                      float alpha = 1.f) {
  gemm(C, N, M, N, K, A, K, 1, B, 1, N, accumulate, alpha);
}
inline void matmul_tn(float* C, const float* A, const float* B, int M, int N, int K, bool accumulate = false,
                      float alpha = 1.f) {
  gemm(C, N, M, N, K, A, 1, M, B, 1, N, accumulate, alpha);
}

// Naive triple loop (double accumulation): the reference the tests compare gemm against.
void gemm_reference(float* C, int64_t ldc, int M, int N, int K, const float* A, int64_t a_sm, int64_t a_sk,
                    const float* B, int64_t b_sn, int64_t b_sk, bool accumulate, float alpha);

}  // namespace hukuk::ops
