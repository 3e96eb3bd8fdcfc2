// CPU AdamW + clipping (see adamw.h for the contract). Every elementwise expression is written
// in the order ATen's CPU kernels evaluate it, in fp32 with the scalars rounded to fp32 as ATen
// does, and the build uses -ffp-contract=off, so results match torch to the last bit or two.
#include "train/adamw.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"

namespace hukuk::train {

namespace {
constexpr size_t kChunk = 1 << 14;  // fixed reduction chunk: same sum for any thread count

void check_param(const ParamRef& p) {
  HUKUK_CHECK(p.w && p.g && p.m && p.v, "ENGINE_INVALID_ARG", "parameter '" + p.name + "' has a null buffer");
#if !defined(HUKUK_CUDA)
  HUKUK_CHECK(p.device == DeviceKind::CPU, "ENGINE_INVALID_ARG",
              "parameter '" + p.name + "' lives on the GPU but this addon was built without CUDA");
#endif
}
}  // namespace

double sum_squares_cpu(const float* g, size_t n) {
  const size_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(chunks, 0.0);
#pragma omp parallel for schedule(static) if (n > 4 * kChunk)
  for (long long c = 0; c < static_cast<long long>(chunks); c++) {
    const size_t a = static_cast<size_t>(c) * kChunk, b = std::min(n, a + kChunk);
    double s = 0.0;
    for (size_t i = a; i < b; i++) s += static_cast<double>(g[i]) * static_cast<double>(g[i]);
    part[c] = s;
  }
  double s = 0.0;
  for (double x : part) s += x;
  return s;
}

void scale_cpu(float* g, size_t n, float s) {
#pragma omp parallel for schedule(static) if (n > 4 * kChunk)
  for (long long i = 0; i < static_cast<long long>(n); i++) g[i] = g[i] * s;
}

void adamw_cpu(float* w, const float* g, float* m, float* v, size_t n, float decay_mul, float one_minus_beta1,
               float beta2, float one_minus_beta2, float step_size, float bc2_sqrt, float eps) {
  const bool lerp_low = one_minus_beta1 < 0.5f;
#pragma omp parallel for schedule(static) if (n > 4 * kChunk)
  for (long long j = 0; j < static_cast<long long>(n); j++) {
    const size_t i = static_cast<size_t>(j);
    const float gi = g[i];
    // param.mul_(1 - lr * weight_decay)
    float wi = w[i] * decay_mul;
    // exp_avg.lerp_(grad, 1 - beta1)  (ATen's lerp: two forms, picked by the weight)
    const float mi = lerp_low ? m[i] + one_minus_beta1 * (gi - m[i]) : gi - (gi - m[i]) * (1.0f - one_minus_beta1);
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    const float vi = v[i] * beta2 + one_minus_beta2 * gi * gi;
    // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
    const float denom = std::sqrt(vi) / bc2_sqrt + eps;
    // param.addcdiv_(exp_avg, denom, value=-step_size)
    wi = wi + (-step_size) * (mi / denom);
    w[i] = wi;
    m[i] = mi;
    v[i] = vi;
  }
}

// True when every parameter is on the GPU: then the multi-tensor kernels run (one launch each).
static bool all_on_gpu(const std::vector<ParamRef>& params) {
#if defined(HUKUK_CUDA)
  if (params.empty()) return false;
  for (const auto& p : params)
    if (p.device != DeviceKind::CUDA) return false;
  return true;
#else
  (void)params;
  return false;
#endif
}

static double sum_squares(const ParamRef& p) {
  check_param(p);
#if defined(HUKUK_CUDA)
  if (p.device == DeviceKind::CUDA) return sum_squares_cuda(p.g, p.n);
#endif
  return sum_squares_cpu(p.g, p.n);
}

static void scale(const ParamRef& p, float s) {
#if defined(HUKUK_CUDA)
  if (p.device == DeviceKind::CUDA) return scale_cuda(p.g, p.n, s);
#endif
  scale_cpu(p.g, p.n, s);
}

double global_grad_norm(const std::vector<ParamRef>& params) {
  // torch: vector_norm(stack([vector_norm(g) for g in grads])) — the norm of the norms.
  double total = 0.0;
#if defined(HUKUK_CUDA)
  if (all_on_gpu(params)) {
    for (const auto& p : params) check_param(p);
    for (double ss : sum_squares_cuda_multi(params)) {
      const float norm_f = static_cast<float>(std::sqrt(ss));
      total += static_cast<double>(norm_f) * static_cast<double>(norm_f);
    }
    return static_cast<double>(static_cast<float>(std::sqrt(total)));
  }
#endif
  for (const auto& p : params) {
    const double norm = std::sqrt(sum_squares(p));
    const float norm_f = static_cast<float>(norm);  // each per-tensor norm is an fp32 tensor in torch
    total += static_cast<double>(norm_f) * static_cast<double>(norm_f);
  }
  return static_cast<double>(static_cast<float>(std::sqrt(total)));
}

void scale_grads(const std::vector<ParamRef>& params, float s) {
  if (s == 1.0f) return;
#if defined(HUKUK_CUDA)
  if (all_on_gpu(params)) return scale_cuda_multi(params, s);
#endif
  for (const auto& p : params) {
    check_param(p);
    scale(p, s);
  }
}

double clip_grad_norm(const std::vector<ParamRef>& params, double max_norm) {
  const double total = global_grad_norm(params);
  if (!(max_norm > 0.0)) return total;
  // clip_coef = max_norm / (total_norm + 1e-6); clamp(max=1.0); grads.mul_(coef) — fp32 tensors.
  const float denom = static_cast<float>(total) + 1e-6f;
  const float coef = static_cast<float>(max_norm) / denom;
  if (coef < 1.0f) scale_grads(params, coef);
  return total;
}

void adamw_step(const std::vector<ParamRef>& params, const AdamWHyper& h, int64_t step) {
  HUKUK_CHECK(step >= 1, "ENGINE_INVALID_ARG", "AdamW step must be >= 1, got " + std::to_string(step));
  HUKUK_CHECK(h.lr >= 0 && h.eps > 0 && h.beta1 >= 0 && h.beta1 < 1 && h.beta2 >= 0 && h.beta2 < 1 && h.weight_decay >= 0,
              "ENGINE_INVALID_ARG", "AdamW hyper-parameters out of range");
  // Python-side scalars (double), rounded to fp32 where ATen uses them on fp32 tensors.
  const double bc1 = 1.0 - std::pow(h.beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(h.beta2, static_cast<double>(step));
  const float step_size = static_cast<float>(h.lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float omb1 = static_cast<float>(1.0 - h.beta1);
  const float b2 = static_cast<float>(h.beta2);
  const float omb2 = static_cast<float>(1.0 - h.beta2);
  const float eps = static_cast<float>(h.eps);
#if defined(HUKUK_CUDA)
  if (all_on_gpu(params)) {
    for (const auto& p : params) check_param(p);
    return adamw_cuda_multi(params, static_cast<float>(1.0 - h.lr * h.weight_decay), omb1, b2, omb2, step_size,
                            bc2_sqrt, eps);
  }
#endif
  for (const auto& p : params) {
    check_param(p);
    const float decay_mul = p.decay ? static_cast<float>(1.0 - h.lr * h.weight_decay) : 1.0f;
#if defined(HUKUK_CUDA)
    if (p.device == DeviceKind::CUDA) {
      adamw_cuda(p.w, p.g, p.m, p.v, p.n, decay_mul, omb1, b2, omb2, step_size, bc2_sqrt, eps);
      continue;
    }
#endif
    adamw_cpu(p.w, p.g, p.m, p.v, p.n, decay_mul, omb1, b2, omb2, step_size, bc2_sqrt, eps);
  }
}

}  // namespace hukuk::train
