// Which kernels the CUDA RMS norm ops of norm.cu run (rmsnorm_forward, dropout_add_rmsnorm,
// rmsnorm_backward, rmsnorm_backward_dropout): one 256-thread block a row (the first version), or
// one warp a row with the row in registers (the default since 11:16 UTC 2026-11-28; HUKUK_NORM_WARP=0
// runs the block kernels, for A/B).
// In a header of its own so that the test hooks (ops_cuda_napi.cpp, g++) can flip it within one
// process and compare both paths; the engine never sets it.
#pragma once

namespace hukuk::ops::cuda {

// -1: follow HUKUK_NORM_WARP (read once per process); 0: block a row; 1: warp a row.
inline int g_norm_warp_override = -1;
inline void set_norm_warp_override(int mode) { g_norm_warp_override = mode; }
// The path the next launch takes (defined in norm.cu).
bool norm_warp();

}  // namespace hukuk::ops::cuda
