// AdamW and global-norm gradient clipping with torch's semantics, over the model's list of
// trainable tensors (core/param.h). CPU path here (adamw.cpp); a CUDA twin (adamw.cu) handles
// parameters that live on the GPU. Same function, to fp32 rounding, as
//   torch.nn.utils.clip_grad_norm_(params, max_norm)     (foreach=False, error_if_nonfinite=False)
//   torch.optim.AdamW(params, lr, betas, eps, weight_decay) (foreach=False, fused=False, amsgrad=False)
// in the order the trainer calls them: scale (accumulation) -> norm/clip -> AdamW update.
#pragma once
#include <cstdint>
#include <vector>

#include "core/param.h"

namespace hukuk::train {

struct AdamWHyper {
  double lr = 1e-4;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

// ||g||_2 over every tensor's gradient together (the norm of the per-tensor norms, as torch
// computes it). Accumulated in double in fixed-size chunks summed in order, so the result does
// not depend on the number of threads.
double global_grad_norm(const std::vector<ParamRef>& params);

// Multiplies every gradient by s (used for 1/accumulation_steps). No-op for s == 1.
void scale_grads(const std::vector<ParamRef>& params, float s);

// torch.nn.utils.clip_grad_norm_: returns the total norm BEFORE clipping; when max_norm > 0,
// scales every gradient by min(1, max_norm / (norm + 1e-6)) computed in fp32 like torch.
// max_norm <= 0 disables clipping (the norm is still returned, for the metrics).
double clip_grad_norm(const std::vector<ParamRef>& params, double max_norm);

// One AdamW update; `step` is the 1-based count of updates including this one (torch's
// state['step'] after its increment), used for the bias corrections.
void adamw_step(const std::vector<ParamRef>& params, const AdamWHyper& h, int64_t step);

// ---- per-tensor kernels (CPU). The CUDA twins live in adamw.cu. ----
double sum_squares_cpu(const float* g, size_t n);
void scale_cpu(float* g, size_t n, float s);
void adamw_cpu(float* w, const float* g, float* m, float* v, size_t n, float decay_mul, float one_minus_beta1,
               float beta2, float one_minus_beta2, float step_size, float bc2_sqrt, float eps);

#if defined(HUKUK_CUDA)
// Multi-tensor forms for a parameter list that lives entirely on the GPU: one launch per
// operation for all tensors (a LoRA adapter of the flagship has ~860 small tensors; a launch
// and a host sync per tensor would cost tens of milliseconds per update). The chunk table is
// built once per parameter list and reused while the list stays the same.
std::vector<double> sum_squares_cuda_multi(const std::vector<ParamRef>& params);  // per tensor
void scale_cuda_multi(const std::vector<ParamRef>& params, float s);
void adamw_cuda_multi(const std::vector<ParamRef>& params, float decay_mul, float one_minus_beta1, float beta2,
                      float one_minus_beta2, float step_size, float bc2_sqrt, float eps);
double sum_squares_cuda(const float* g, size_t n);
void scale_cuda(float* g, size_t n, float s);
void adamw_cuda(float* w, const float* g, float* m, float* v, size_t n, float decay_mul, float one_minus_beta1,
                float beta2, float one_minus_beta2, float step_size, float bc2_sqrt, float eps);
#endif

}  // namespace hukuk::train
