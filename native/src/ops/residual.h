// The end of every T5 sub-layer, x_out = x_in + dropout_p(branch), in one pass instead of
// dropout_forward(branch, branch) + add(x_out, x_in, branch) (two kernels, two extra trips through
// memory). Mask convention: exactly oc::dropout_forward(y, ., n, p, seed, site) of ops/dropout.h
// (flat index i, kept when dropout_keep(seed, site, i, p), scaled by 1/(1-p)); p <= 0 adds y as is.
//
// Backward needs no new op: the residual passes g through unchanged to x_in, and the branch gets
// dropout_backward(g, g_branch, n, p, seed, site, false) (ops/dropout.h), already one kernel.
//
// NOTE the difference from the unfused sequence: y is NOT overwritten with dropout_p(y) unless
// out == y. Nothing in the backward reads the dropped branch, so the graph does not need it.
#pragma once
#include <cstdint>

#if defined(HUKUK_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace hukuk::ops {

// out[i] = x_in[i] + dropout_p(y)[i] for i < n. out may alias x_in or y (elementwise).
void dropout_add(const float* x_in, const float* y, float* out, int64_t n, float p, uint64_t seed, uint64_t site);

}  // namespace hukuk::ops

#if defined(HUKUK_CUDA)
namespace hukuk::ops::cuda {

// Same on device pointers, one kernel on `s`; `seed` is a device pointer (graph replay).
void dropout_add(const float* x_in, const float* y, float* out, int64_t n, float p, const uint64_t* seed,
                 uint64_t site, cudaStream_t s);

}  // namespace hukuk::ops::cuda
#endif  // HUKUK_CUDA
