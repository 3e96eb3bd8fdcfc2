// Feed-forward activations of the T5 family, forward and backward (elementwise, in place safe
// for the forward). gelu_new is the tanh approximation transformers uses for "gated-gelu";
// gelu is the exact erf form.
#pragma once
#include <cstdint>
#include <string>

namespace hukuk::ops {

enum class Act { Relu, GeluNew, Gelu, Silu };
Act act_from_name(const std::string& name);  // "relu" | "gelu_new" | "gelu" | "silu" (throws otherwise)

// y = act(x)
void act_forward(Act a, const float* x, float* y, int64_t n);
// dx = dy * act'(x)   (x is the pre-activation)
void act_backward(Act a, const float* x, const float* dy, float* dx, int64_t n);

}  // namespace hukuk::ops
