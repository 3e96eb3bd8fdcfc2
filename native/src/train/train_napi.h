// Shared between the Node-API files of native/src/train.
#pragma once
#include <napi.h>

#include <cstdint>
#include <vector>

#include "core/param.h"
#include "train/adamw.h"

namespace hukuk::train {

struct OptimStepOptions {
  AdamWHyper hyper;
  double max_grad_norm = 1.0;  // <= 0: no clipping
  double grad_scale = 1.0;     // multiplies the accumulated gradients first (1/accumulation steps)
  int64_t step = 1;            // 1-based update count
};

// Reads { lr, beta1, beta2, eps, weightDecay, maxGradNorm, gradScale, step }.
OptimStepOptions step_options(const Napi::Value& v);

// scale -> clip -> AdamW; returns the gradient norm before clipping (after scaling).
double run_step(const std::vector<ParamRef>& params, const OptimStepOptions& s);

}  // namespace hukuk::train
