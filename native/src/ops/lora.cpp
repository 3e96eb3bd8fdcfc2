// CPU references of the fused LoRA products (lora.h). Each output element is one sequential float
// sum in index order, the accumulate flag adds the finished sum, and the dropout is the counter
// hash of dropout.h: the same numbers as dropout_forward + ops::gemm, without the dropped copy.
#include "ops/lora.h"

#include <string>
#include <vector>

#include "core/error.h"
#include "ops/dropout.h"

namespace hukuk::ops {

namespace {
void check_sizes(const char* fn, int M, int in, int r) {
  HUKUK_CHECK(M >= 0 && in >= 1 && r >= 1 && r <= 64, "ENGINE_INVALID_ARG",
              std::string(fn) + ": need M >= 0, in >= 1, 1 <= r <= 64 (got M=" + std::to_string(M) +
                  " in=" + std::to_string(in) + " r=" + std::to_string(r) + ")");
}
}  // namespace

void lora_down(const float* x, const float* A, float* h, int M, int in, int r, float p, uint64_t seed,
               uint64_t site) {
  check_sizes("lora_down", M, in, r);
  const float scale = p > 0.f ? 1.f / (1.f - p) : 1.f;
#pragma omp parallel if (int64_t(M) * in * r > (1 << 20))
  {
    std::vector<float> xd(static_cast<size_t>(in), 0.f);
#pragma omp for schedule(static)
    for (int m = 0; m < M; ++m) {
      const float* xr = x + int64_t(m) * in;
      const uint64_t base = uint64_t(m) * uint64_t(in);
      for (int k = 0; k < in; ++k)
        xd[k] = (p <= 0.f) ? xr[k] : dropout_keep(seed, site, base + uint64_t(k), p) ? xr[k] * scale : 0.f;
      for (int j = 0; j < r; ++j) {
        const float* a = A + int64_t(j) * in;
        float acc = 0.f;
        for (int k = 0; k < in; ++k) acc += xd[k] * a[k];
        h[int64_t(m) * r + j] = acc;
      }
    }
  }
}

void lora_grad_A(const float* dh, const float* x, float* gA, int M, int in, int r, float p, uint64_t seed,
                 uint64_t site, bool accumulate) {
  check_sizes("lora_grad_A", M, in, r);
  const float scale = p > 0.f ? 1.f / (1.f - p) : 1.f;
  // Columns k in parallel; each thread keeps r running sums of its column, in m order.
#pragma omp parallel if (int64_t(M) * in * r > (1 << 20))
  {
    std::vector<float> acc(static_cast<size_t>(r), 0.f);
#pragma omp for schedule(static)
    for (int k = 0; k < in; ++k) {
      for (int j = 0; j < r; ++j) acc[j] = 0.f;
      for (int m = 0; m < M; ++m) {
        const float xv = x[int64_t(m) * in + k];
        const float xd = (p <= 0.f) ? xv
                         : dropout_keep(seed, site, uint64_t(m) * uint64_t(in) + uint64_t(k), p) ? xv * scale
                                                                                                  : 0.f;
        const float* d = dh + int64_t(m) * r;
        for (int j = 0; j < r; ++j) acc[j] += d[j] * xd;
      }
      for (int j = 0; j < r; ++j) {
        float& g = gA[int64_t(j) * in + k];
        g = accumulate ? g + acc[j] : acc[j];
      }
    }
  }
}

void lora_dx(const float* dh, const float* A, float* dx, int M, int in, int r, float p, uint64_t seed,
             uint64_t site, bool accumulate) {
  check_sizes("lora_dx", M, in, r);
  const float scale = p > 0.f ? 1.f / (1.f - p) : 1.f;
#pragma omp parallel for schedule(static) if (int64_t(M) * in * r > (1 << 20))
  for (int m = 0; m < M; ++m) {
    const float* d = dh + int64_t(m) * r;
    const uint64_t base = uint64_t(m) * uint64_t(in);
    for (int k = 0; k < in; ++k) {
      float acc = 0.f;
      for (int j = 0; j < r; ++j) acc += d[j] * A[int64_t(j) * in + k];
      const float v = (p <= 0.f || dropout_keep(seed, site, base + uint64_t(k), p)) ? acc * scale : 0.f;
      float& o = dx[int64_t(m) * in + k];
      o = accumulate ? o + v : v;
    }
  }
}

void lora_backward(const float* dh, const float* x, const float* A, float* gA, float* dx, int M, int in, int r,
                   float p, uint64_t seed, uint64_t site, bool accumulate_gA, bool accumulate_dx) {
  lora_grad_A(dh, x, gA, M, in, r, p, seed, site, accumulate_gA);
  if (dx) lora_dx(dh, A, dx, M, in, r, p, seed, site, accumulate_dx);
}

void lora_up_add(const float* h, const float* B, float* y, int M, int out, int r, float scale, int n, int64_t sh,
                 int64_t sB, int64_t sy) {
  check_sizes("lora_up_add", M, out, r);
  HUKUK_CHECK(n >= 1, "ENGINE_INVALID_ARG", "lora_up_add: need n >= 1");
  for (int i = 0; i < n; ++i) {
    const float* hi = h + i * sh;
    const float* Bi = B + i * sB;
    float* yi = y + i * sy;
#pragma omp parallel for schedule(static) if (int64_t(M) * out * r > (1 << 20))
    for (int m = 0; m < M; ++m)
      for (int o = 0; o < out; ++o) {
        float acc = 0.f;
        for (int j = 0; j < r; ++j) acc += hi[int64_t(m) * r + j] * Bi[int64_t(o) * r + j];
        yi[int64_t(m) * out + o] += scale * acc;
      }
  }
}

void lora_up_backward(const float* dy, const float* h, const float* B, float* dh, float* gB, int M, int out, int r,
                      float scale, bool accumulate_gB, int n, int64_t sdy, int64_t sh, int64_t sB, int64_t sdh) {
  check_sizes("lora_up_backward", M, out, r);
  HUKUK_CHECK(n >= 1, "ENGINE_INVALID_ARG", "lora_up_backward: need n >= 1");
  const bool big = int64_t(M) * out * r > (1 << 20);
  for (int i = 0; i < n; ++i) {
    const float* dyi = dy + i * sdy;
    const float* hi = h + i * sh;
    const float* Bi = B + i * sB;
    float* dhi = dh + i * sdh;
    float* gBi = gB + i * sB;
#pragma omp parallel for schedule(static) if (big)
    for (int m = 0; m < M; ++m)
      for (int j = 0; j < r; ++j) {
        float acc = 0.f;
        for (int o = 0; o < out; ++o) acc += dyi[int64_t(m) * out + o] * Bi[int64_t(o) * r + j];
        dhi[int64_t(m) * r + j] = scale * acc;
      }
#pragma omp parallel for schedule(static) if (big)
    for (int o = 0; o < out; ++o)
      for (int j = 0; j < r; ++j) {
        float acc = 0.f;
        for (int m = 0; m < M; ++m) acc += dyi[int64_t(m) * out + o] * hi[int64_t(m) * r + j];
        float& g = gBi[int64_t(o) * r + j];
        g = accumulate_gB ? g + scale * acc : scale * acc;
      }
  }
}

}  // namespace hukuk::ops
