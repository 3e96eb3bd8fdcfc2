// Which kernels the CUDA RMS norm ops of norm.cu run (rmsnorm_forward, dropout_add_rmsnorm,
// rmsnorm_backward, rmsnorm_backward_dropout): one 256-thread block a row (the first version), or
// one warp a row with the row in registers (the default since 11:16 UTC 2026-11-28; HUKUK_NORM_WARP=0
// runs the block kernels, for A/B).
// In a header of its own so that the test hooks (ops_cuda_napi.cpp, g++) can flip it within one
// process and compare both paths; the engine never sets it.
#pragma once
#include "core/env_switch.h"

namespace hukuk::ops::cuda {

// HUKUK_NORM_WARP read once per process (unset or anything but "0": warp a row); the test hooks'
// override: -1 follows it, 0: block a row, 1: warp a row.
inline int read_norm_warp_env() { return env_switch("HUKUK_NORM_WARP") != 0 ? 1 : 0; }
inline CachedEnvSwitch g_norm_warp{read_norm_warp_env};
inline void set_norm_warp_override(int mode) { g_norm_warp.set_override(mode); }
// The path the next launch takes (defined in norm.cu).
bool norm_warp();

}  // namespace hukuk::ops::cuda
