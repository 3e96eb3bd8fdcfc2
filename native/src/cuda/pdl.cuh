// Programmatic dependent launch (PDL, Hopper sm_90+) for the training step's own kernels.
//
// Why: a training step is a few thousand kernels, many of them a few microseconds long; between
// two kernels of one stream the GPU idles while the second one launches and ramps up. A kernel
// launched with the PDL attribute may start (and run its prologue) while the previous kernel
// drains; it must then block in pdl::wait() until that kernel finished and its writes are visible.
//
// The rule for every kernel launched through pdl::launch():
//   - call pdl::wait() before reading anything a previous kernel of the step wrote, and before
//     writing anything (a previous kernel may still be reading it); reading weights that no kernel
//     of the step writes is allowed before it;
//   - call pdl::trigger() (early, e.g. first thing) to let the next kernel start launching.
// A kernel that does not call pdl::wait() must never be launched through pdl::launch().
// Without the attribute (PDL off, or a card before sm_90) wait() and trigger() are no-ops, so the
// same kernel also runs under a plain <<<>>> launch.
//
// The switch: process-wide, set by the engine before it records or runs a step
// (HUKUK_T5_PDL=0 turns it off; only cards of compute capability 9+ turn it on).
#pragma once
#include <utility>

#include "core/cuda_runtime.h"
#include "cuda/pdl_switch.h"

namespace hukuk::cuda::pdl {

__device__ __forceinline__ void wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

// kernel<<<grid, block, smem, s>>>(args...), with the programmatic-stream-serialization attribute
// when `on` (generation passes its own switch, HUKUK_GEN_PDL). The kernel must follow the rule above.
// A launch with the PDL attribute when `on`, in clusters of cluster_x blocks along x when cluster_x
// > 1 (sm_90+; the grid's x a multiple of it); a plain <<<>>> launch when neither applies.
template <typename... KArgs, typename... Args>
void launch_ex(bool on, unsigned cluster_x, void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem,
               cudaStream_t s, Args&&... args) {
  if (!on && cluster_x <= 1) {
    kernel<<<grid, block, smem, s>>>(std::forward<Args>(args)...);
    HUKUK_CUDA_LAUNCH_CHECK();
    return;
  }
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s;
  cudaLaunchAttribute attr[2];
  unsigned n = 0;
  if (cluster_x > 1) {
    attr[n].id = cudaLaunchAttributeClusterDimension;
    attr[n].val.clusterDim.x = cluster_x;
    attr[n].val.clusterDim.y = 1;
    attr[n].val.clusterDim.z = 1;
    ++n;
  }
  if (on) {
    attr[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[n].val.programmaticStreamSerializationAllowed = 1;
    ++n;
  }
  cfg.attrs = attr;
  cfg.numAttrs = n;
  HUKUK_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
}

template <typename... KArgs, typename... Args>
void launch_if(bool on, void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t s, Args&&... args) {
  launch_ex(on, 1u, kernel, grid, block, smem, s, std::forward<Args>(args)...);
}

template <typename... KArgs, typename... Args>
void launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t s, Args&&... args) {
  launch_if(enabled(), kernel, grid, block, smem, s, std::forward<Args>(args)...);
}

}  // namespace hukuk::cuda::pdl
