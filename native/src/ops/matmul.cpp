#include "ops/matmul.h"

#pragma GCC diagnostic ignored "-Wpsabi"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace hukuk::ops {

namespace {
typedef float v8 __attribute__((vector_size(32)));
constexpr int NR = 16;  // columns per panel (two v8)
constexpr int MR = 4;   // rows per kernel call
constexpr int MB = 256; // rows per block (A block reused across panels from cache)

inline v8 load8(const float* p) {
  v8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <int R>
__attribute__((always_inline)) inline void kernel(const float* A, int64_t a_sm, int64_t a_sk, const float* Bp, int K,
                                                  float* C, int64_t ldc, int ncols, bool accumulate, float alpha) {
  v8 c0[R], c1[R];
  for (int i = 0; i < R; ++i) { c0[i] = v8{}; c1[i] = v8{}; }
  for (int k = 0; k < K; ++k) {
    const v8 b0 = load8(Bp + k * NR), b1 = load8(Bp + k * NR + 8);
    for (int i = 0; i < R; ++i) {
      const float a = A[i * a_sm + k * a_sk];
      c0[i] += a * b0;
      c1[i] += a * b1;
    }
  }
  for (int i = 0; i < R; ++i) {
    float tmp[NR];
    std::memcpy(tmp, &c0[i], 32);
    std::memcpy(tmp + 8, &c1[i], 32);
    float* c = C + i * ldc;
    if (accumulate) {
      if (alpha == 1.f) for (int j = 0; j < ncols; ++j) c[j] = c[j] + tmp[j];
      else for (int j = 0; j < ncols; ++j) c[j] = c[j] + alpha * tmp[j];
    } else {
      if (alpha == 1.f) for (int j = 0; j < ncols; ++j) c[j] = tmp[j];
      else for (int j = 0; j < ncols; ++j) c[j] = alpha * tmp[j];
    }
  }
}

__attribute__((target_clones("avx2", "default"))) void panel(float* C, int64_t ldc, int m0, int m1, int n0, int ncols,
                                                             int K, const float* A, int64_t a_sm, int64_t a_sk,
                                                             const float* Bp, bool accumulate, float alpha) {
  int m = m0;
  for (; m + MR <= m1; m += MR)
    kernel<MR>(A + m * a_sm, a_sm, a_sk, Bp, K, C + m * ldc + n0, ldc, ncols, accumulate, alpha);
  const int rest = m1 - m;
  const float* Am = A + m * a_sm;
  float* Cm = C + m * ldc + n0;
  if (rest == 3) kernel<3>(Am, a_sm, a_sk, Bp, K, Cm, ldc, ncols, accumulate, alpha);
  else if (rest == 2) kernel<2>(Am, a_sm, a_sk, Bp, K, Cm, ldc, ncols, accumulate, alpha);
  else if (rest == 1) kernel<1>(Am, a_sm, a_sk, Bp, K, Cm, ldc, ncols, accumulate, alpha);
}
}  // namespace

void gemm(float* C, int64_t ldc, int M, int N, int K, const float* A, int64_t a_sm, int64_t a_sk, const float* B,
          int64_t b_sn, int64_t b_sk, bool accumulate, float alpha) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) C[m * ldc + n] = accumulate ? C[m * ldc + n] : 0.f;
    return;
  }
  const int npanels = (N + NR - 1) / NR;
  const int mblocks = (M + MB - 1) / MB;
  const int64_t tasks = int64_t(npanels) * mblocks;
  const bool par = int64_t(M) * N * K > 32768;
#pragma omp parallel if (par)
  {
    std::vector<float> Bp(size_t(K) * NR);
    int last_panel = -1;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int p = int(t / mblocks), mb = int(t % mblocks);  // neighbours share a packed panel
      const int n0 = p * NR, ncols = std::min(NR, N - n0);
      if (p != last_panel) {
        // pack B's columns n0..n0+15 as [K][16] (zeros past N)
        for (int k = 0; k < K; ++k) {
          float* dst = Bp.data() + size_t(k) * NR;
          const float* src = B + k * b_sk + int64_t(n0) * b_sn;
          int j = 0;
          for (; j < ncols; ++j) dst[j] = src[j * b_sn];
          for (; j < NR; ++j) dst[j] = 0.f;
        }
        last_panel = p;
      }
      const int m0 = mb * MB, m1 = std::min(M, m0 + MB);
      panel(C, ldc, m0, m1, n0, ncols, K, A, a_sm, a_sk, Bp.data(), accumulate, alpha);
    }
  }
}

void gemm_reference(float* C, int64_t ldc, int M, int N, int K, const float* A, int64_t a_sm, int64_t a_sk,
                    const float* B, int64_t b_sn, int64_t b_sk, bool accumulate, float alpha) {
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double s = 0;
      for (int k = 0; k < K; ++k) s += double(A[m * a_sm + k * a_sk]) * double(B[n * b_sn + k * b_sk]);
      float v = alpha * float(s);
      C[m * ldc + n] = accumulate ? C[m * ldc + n] + v : v;
    }
}

}  // namespace hukuk::ops
