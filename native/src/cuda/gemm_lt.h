// bf16-operand GEMMs through cuBLASLt with algorithms we choose by timing (HUKUK_GEMM_LT=1; off
// by default until measured). cuBLAS's GemmEx with CUBLAS_GEMM_DEFAULT takes its heuristic's first
// pick, which on the H200 is e.g. a 96x128-tile kernel filling one wave on half the SMs for the
// T5 engine's 1024..2048 x 768 x 768 products. Here each distinct GEMM (the key: device, sizes,
// ops, types, lds, batch and strides, beta != 0, pointer alignment) is timed once over cuBLASLt's
// top kLtCandidates heuristic algorithms and GemmEx's default on scratch buffers, and the fastest
// is kept for the process (GemmEx too, where it wins or cuBLASLt has no algorithm).
//
// CUDA graphs: timing cannot run inside stream capture. A key first seen while its stream is being
// captured runs cuBLASLt's heuristic #0 and is queued; the graph's owner calls gemm_tune_run()
// after the step (outside capture) when gemm_tune_pending(), then drops its graphs so the next
// step re-captures with the tuned algorithms (the T5 engine: T5Cuda::run). Outside capture a key
// is tuned on first sight (the device is synchronized for it).
//
// Measured (NVIDIA H200, 2026-11-28 13:50 and 13:55 UTC, code 1f22741 / 2980cb8, flagship model,
// bench/gpu/train_bench.mjs, one process per setting, 3 off and 3 on runs alternating): ms/step
// off -> on 16x64x128 28.21 28.64 28.92 -> 28.70 28.29 28.71 (0 %); 16x512x512 119.05 119.16 119.19
// -> 119.48 119.35 120.12 (+0.4 %); 8x512x512 66.76 67.12 67.08 -> 65.83 66.19 66.04 (-1.4 %). The
// tuning log (timed alone, warm L2) promised 0.8 / 1.7 / 1.3 % of the step: cuBLASLt's heuristic
// returns 8 algorithms per key, its #0 is GemmEx's default (same time), and the best of the other 7
// is 0-10 % faster per GEMM (3072x8192x768: 59.9 -> 53.9 us; 768x1024x768: 4.4 us either way).
// Under the 3 % bar, so HUKUK_GEMM_LT stays off. Tuning takes 0.5-0.7 s at the first shape, then
// 0.13-0.24 s per new shape (20 / 10 / 10 keys).
//
// Determinism: the winner is chosen by timing, so two processes can pick different algorithms
// (split-K or not, other tiles) for the same GEMM and differ in the last bits; within a process a
// key's algorithm is fixed once tuned (a captured first step ran heuristic #0 before tuning).
// fp32-operand GEMMs stay on GemmEx.
//
// Workspace: kGemmLtWorkspaceBytes (32 MiB, cuBLAS's own default on Hopper; on the H200 the chosen
// algorithms of the flagship step needed at most 6 MiB, the head's k = 32128 product, all others
// none, so 8 MiB would do there; the heuristic is offered 32 MiB) per thread and device
// for the streams without a handle of their own, and one per stream that has its own cuBLAS handle
// (Cublas::own_handle: the T5 engine's cross-attention stream, whose GEMMs run beside the main
// stream's). Made outside capture (own_handle, a GEMM outside capture, or gemm_tune_run); a capture
// that finds none runs the no-workspace heuristic #0 and asks for a re-capture (gemm_tune_pending).
// Not in the arena: it is not planned per shape. State (cache, queue, workspace) is per host
// thread, so the hot path takes no lock.
#pragma once
#if defined(HUKUK_CUDA)
#include <cuda_runtime_api.h>

#include <cstddef>

namespace hukuk::cuda {

constexpr size_t kGemmLtWorkspaceBytes = size_t(32) << 20;
constexpr int kLtCandidates = 16;  // heuristic algorithms timed per key

// One GEMM in cuBLAS's column-major terms (GemmEx's arguments):
//   C[m,n] = alpha * op_a(a)[m,k] · op_b(b)[k,n] + beta * C, strides in elements (batch > 1).
struct ColGemm {
  int op_a, op_b, m, n, k;
  const void* a;
  int a_type;
  long long lda, stride_a;
  const void* b;
  int b_type;
  long long ldb, stride_b;
  void* c;
  int c_type;
  long long ldc, stride_c;
  int batch;
  float alpha, beta;
};

// HUKUK_GEMM_LT=1 (read at each call; gemm_lt_force overrides it) and cuBLASLt loaded.
bool gemm_lt_on();
// Runs g through cuBLASLt when gemm_lt_on() and both operands are bf16 and the key's tuning did
// not pick GemmEx; returns false (nothing done) otherwise, and the caller runs GemmEx.
bool gemm_lt(cudaStream_t stream, const ColGemm& g);
// GEMM keys queued during a capture (or a capture that ran without a workspace) on this thread.
bool gemm_tune_pending();
// Tunes them (outside capture; synchronizes the device) and makes the missing workspaces.
void gemm_tune_run();

// For the tests: what this thread's cache did.
struct GemmLtStats {
  long long keys = 0;          // distinct keys seen
  long long tuned = 0;         // keys timed
  long long lt_calls = 0;      // GEMMs run through cuBLASLt
  long long ex_calls = 0;      // GEMMs handed back to GemmEx by a key's tuning
  long long pending = 0;       // keys waiting for gemm_tune_run
  long long capture_calls = 0; // GEMMs recorded into a capture
  double tune_ms = 0;          // host time spent tuning
};
GemmLtStats gemm_lt_stats();
// Test override of HUKUK_GEMM_LT on this thread: 1 on, 0 off, -1 the environment (default).
void gemm_lt_force(int mode);

}  // namespace hukuk::cuda

#endif  // HUKUK_CUDA
