#include "ops/activation.h"

#include <cmath>

#include "core/error.h"

namespace hukuk::ops {

Act act_from_name(const std::string& name) {
  if (name == "relu") return Act::Relu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return Act::GeluNew;
  if (name == "gelu") return Act::Gelu;
  if (name == "silu" || name == "swish") return Act::Silu;
  HUKUK_FAIL("ENGINE_UNSUPPORTED", "activation '" + name + "' is not supported (relu, gelu_new, gelu, silu)");
}

static constexpr float kSqrt2OverPi = 0.7978845608028654f;  // math.sqrt(2.0 / math.pi)
static constexpr float kGeluC = 0.044715f;

void act_forward(Act a, const float* x, float* y, int64_t n) {
  switch (a) {
    case Act::Relu:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
      break;
    case Act::GeluNew:
#pragma omp parallel for schedule(static) if (n > 65536)
      for (int64_t i = 0; i < n; ++i) {
        // 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))), in torch's order
        const float v = x[i];
        const float inner = kSqrt2OverPi * (v + kGeluC * (v * v * v));
        y[i] = (0.5f * v) * (1.f + std::tanh(inner));
      }
      break;
    case Act::Gelu:
#pragma omp parallel for schedule(static) if (n > 65536)
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] * 0.5f * (1.f + std::erf(x[i] * 0.7071067811865476f));
      break;
    case Act::Silu:
#pragma omp parallel for schedule(static) if (n > 65536)
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.f + std::exp(-x[i]));
      break;
  }
}

void act_backward(Act a, const float* x, const float* dy, float* dx, int64_t n) {
  switch (a) {
    case Act::Relu:
      for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > 0.f ? dy[i] : 0.f;
      break;
    case Act::GeluNew:
#pragma omp parallel for schedule(static) if (n > 65536)
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        const float inner = kSqrt2OverPi * (v + kGeluC * v * v * v);
        const float t = std::tanh(inner);
        const float dinner = kSqrt2OverPi * (1.f + 3.f * kGeluC * v * v);
        dx[i] = dy[i] * (0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * dinner);
      }
      break;
    case Act::Gelu:
#pragma omp parallel for schedule(static) if (n > 65536)
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        const float cdf = 0.5f * (1.f + std::erf(v * 0.7071067811865476f));
        const float pdf = 0.3989422804014327f * std::exp(-0.5f * v * v);
        dx[i] = dy[i] * (cdf + v * pdf);
      }
      break;
    case Act::Silu:
#pragma omp parallel for schedule(static) if (n > 65536)
      for (int64_t i = 0; i < n; ++i) {
        const float s = 1.f / (1.f + std::exp(-x[i]));
        dx[i] = dy[i] * (s * (1.f + x[i] * (1.f - s)));
      }
      break;
  }
}

}  // namespace hukuk::ops
