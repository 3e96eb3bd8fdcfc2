// Fused (flash-style) T5 attention on bf16 tensor cores, forward and backward, for the CUDA
// training path. Same semantics as the unfused path (ops/attention.cu softmax_* + the GEMMs in
// t5/cuda/t5_cuda.cpp attention_fwd/attention_bwd) and the CPU reference (ops/attention.cpp):
//
//   S[b,h,i,j] = Q[b,i,h,:] · K[b,j,h,:]  (+ bias[h,i,j] when a.bias)     NO 1/sqrt(d) scaling
//   key j hidden for query i when a.key_mask[b*key_mask_ld + j] == 0, or a.causal and j > i
//   P = softmax over the visible keys; a row with NO visible key is uniform 1/Tk over all Tk keys
//       (what torch gives and what softmax_fwd_kernel does)
//   Pd = P * keep / (1 - p), keep = dropout_keep_d(*a.seed, a.site, ((b*H + h)*Tq + i)*Tk + j, p)
//       (ops/dropout_cuda.cuh: the very same mask as softmax_forward's Pd for the same seed/site)
//   ctx[b,i,h,:] = Σ_j Pd[b,h,i,j] V[b,j,h,:]
// P is never stored: the forward keeps the log-sum-exp per row, and the backward recomputes P
// tile by tile from Q, K, bias, mask and L (FlashAttention-2), regenerating the dropout mask.
//
// Layouts (device pointers, contiguous): the training "rows" layout the q/k/v Linears produce, so
// no rows_to_heads / heads_to_rows permutes are needed. Q, K, V, ctx, dQ, dK, dV are fp32 or bf16
// (the two overloads; for bf16 the math is the same fp32 inside, each output rounded once on store);
// dctx, lse, bias and the scratch are fp32 in both:
//   Q, ctx, dctx, dQ : [B, Tq, H*dk]   head h at columns h*dk .. h*dk+dk-1
//   K, V, dK, dV     : [B, Tk, H*dk]
//   lse              : [B, H, Tq]      (written by the forward, read by the backward; -inf marks a
//                                       row with no visible key, see the .cu)
//   bias             : [H, Tq, Tk] or null (cross-attention: null); key_mask [B, key_mask_ld] or null
//   bias_diag        : optional, the same bias in Toeplitz form [H, Tq + Tk - 1] (T5's relative
//                      position bias depends on j - i only): bias[h,i,j] = bias_diag[h][j - i + Tq - 1].
//                      When set it is read instead of bias (same results bit for bit): a block keeps
//                      the Tq + Tk + O(64) values it meets in shared memory instead of streaming
//                      64 x 64 fp32 tiles of the table. Needs Tq + Tk <= kFlashBiasDiagMaxLen.
//                      H200, 16x12x512x512 bf16 encoder: fwd + bwd 519 -> 472 µs (see the .cu).
// q_offset must be 0 (training; generation keeps the unfused path). Every pointer 16-byte aligned.
// The first backward call sets the kernels' shared-memory attribute: make it before graph capture.
//
// Precision: Q, K, V, dctx (and P, dS) are rounded to bf16 for the tensor-core products, with fp32
// accumulation and fp32 softmax; so use it only where the caller's precision is BF16 (the F32
// parity mode keeps the unfused path). Needs sm_80+ and dk == 64 (see flash_supported).
#pragma once
#include <cstdint>

#if defined(HUKUK_CUDA)
#include <cuda_runtime_api.h>

#include "core/half.h"
#include "ops/ops_cuda.h"

namespace hukuk::ops::cuda {

// Largest Tq + Tk for SoftmaxArgs::bias_diag (bounds the forward's and the backward's shared windows)
constexpr int kFlashBiasDiagMaxLen = 4096;

// bias_diag [H, Tq + Tk - 1] from a Toeplitz table bias [H, Tq, Tk] (host arrays): its first row
// and first column. Checks nothing; flash_bias_is_toeplitz does.
void flash_bias_diag_from_table(const float* bias, int H, int Tq, int Tk, float* diag);
bool flash_bias_is_toeplitz(const float* bias, int H, int Tq, int Tk);

// True when the fused kernels handle this case: a current device of compute capability >= 8.0,
// dk == 64, a.q_offset == 0, positive sizes. Otherwise use the unfused path.
bool flash_supported(const SoftmaxArgs& a, int dk);

// ctx (rows, written) and lse [B*H*Tq] (written). a.B, a.H, a.Tq, a.Tk, bias, key_mask(+ld),
// causal, dropout, seed (device, read only when dropout > 0), site as in SoftmaxArgs.
// dropout_bits (optional, see below): written when given and a.dropout > 0.
void flash_attention_forward(const SoftmaxArgs& a, int dk, const float* Q, const float* K, const float* V,
                             float* ctx, float* lse, cudaStream_t s, uint64_t* dropout_bits = nullptr);
void flash_attention_forward(const SoftmaxArgs& a, int dk, const bf16_t* Q, const bf16_t* K, const bf16_t* V,
                             bf16_t* ctx, float* lse, cudaStream_t s, uint64_t* dropout_bits = nullptr);

// Floats of device scratch the backward needs: D = rowsum(dctx ⊙ ctx) [B, H, Tq], and for bf16 I/O
// also dQ's fp32 accumulator [B, Tq, H*dk] (converted to bf16 at the end):
//   fp32 I/O: B*H*Tq;   bf16 I/O: B*H*Tq + B*Tq*H*dk.
int64_t flash_backward_scratch_floats(const SoftmaxArgs& a, int dk, bool bf16_io);

// dQ, dK, dV (rows layout, all three WRITTEN, not accumulated; none may be null) from dctx, the
// forward's inputs, its ctx and lse. `scratch` holds flash_backward_scratch_floats(a, dk, bf16 I/O)
// floats (16-byte aligned, as every pointer here). dQ is accumulated across key tiles with fp32
// atomics (so the last bits of dQ can vary run to run; for bf16 I/O, in the scratch, then rounded).
// bf16 I/O: dQ's buffer also holds dctx rounded to bf16 during the call, so it must not alias any
// input (the fp32 twin has the same rule for dQ/dK/dV in practice).
void flash_attention_backward(const SoftmaxArgs& a, int dk, const float* Q, const float* K, const float* V,
                              const float* ctx, const float* lse, const float* dctx, float* dQ, float* dK, float* dV,
                              float* scratch, cudaStream_t s, const uint64_t* dropout_bits = nullptr);
void flash_attention_backward(const SoftmaxArgs& a, int dk, const bf16_t* Q, const bf16_t* K, const bf16_t* V,
                              const bf16_t* ctx, const float* lse, const float* dctx, bf16_t* dQ, bf16_t* dK,
                              bf16_t* dV, float* scratch, cudaStream_t s, const uint64_t* dropout_bits = nullptr);

// The bf16 backward runs a kernel with registers fitted to 3 blocks per SM where their shared memory
// fits (the Toeplitz bias or none; on by default, HUKUK_FLASH_BWD_3BLOCKS=0 turns it off; the
// variable is read once per process), else 2; the same results up to the dQ atomics' order.
// flash_backward_three_blocks: whether the backward of `a` (bf16 I/O or fp32) takes the 3-block
// kernel on the current device.
bool flash_backward_three_blocks(const SoftmaxArgs& a, bool bf16_io);
// Experiments, default off, each env variable read once per process (see the .cu):
//   HUKUK_FLASH_FWD_IDX64=1: the bf16 forward's dropout hash with its first step once per 64-key tile
//     and row where Tk % 64 == 0, the same decisions (flash_forward_idx64: whether the forward of `a`
//     takes it);
//   HUKUK_FLASH_BWD_DOT16=1: the bf16 backward's dot kernel (D, the bf16 dctx copy, dQ's accumulator
//     zeroed) with 16-byte accesses; D within rounding (flash_backward_dot16: whether it runs).
//   HUKUK_FLASH_BWD_ONE_TILE (=1, the default since 14:05 UTC 2026-11-28; =0 off): the bf16 backward in one launch where Tk <= 64 (one
//     block holds every key: D and the bf16 dctx in the block, dQ written once, no atomics; the
//     scratch is not touched); =2: also where 64 < Tk <= 128 on sm_90 (a cluster of the two key
//     blocks sums dQ through distributed shared memory). The same dQ, dK, dV as the three launches
//     with HUKUK_FLASH_BWD_DOT16 on. flash_backward_one_tile: which one the backward of `a` takes
//     (0: the three launches, 1: one block, 2: the cluster pair). H200, 16x64x128 step: =1 -1.7 %,
//     =2 -1.3 % (the pair wins per call but not in the step; see the .cu).
bool flash_forward_idx64(const SoftmaxArgs& a, bool bf16_io);
bool flash_backward_dot16(const SoftmaxArgs& a, bool bf16_io);
int flash_backward_one_tile(const SoftmaxArgs& a, bool bf16_io);
// Test / micro-benchmark hook: overrides of the switches above and of HUKUK_FLASH_BWD_3BLOCKS for this
// process's later calls (each 1 on, 0 off, -1 back to its env variable; bwd_one_tile: its level 0-2).
struct FlashTestSwitches {
  int bwd_three_blocks = -1, fwd_idx64 = -1, bwd_dot16 = -1, bwd_one_tile = -1;
};
void flash_set_test_switches(const FlashTestSwitches& sw);

// Optional dropout record (a speed option, same results): a device buffer of
// flash_dropout_bits_words(a) uint64 (1 bit per score: 6 MiB at 16*12*512*512) given to the forward
// receives its keep/drop decisions, and the backward given the same buffer reads them instead of
// hashing every score again. Give it to both calls of a layer or to neither; without it the
// backward regenerates the mask from (seed, site, index). Measured on H200 at 16*12*512*512, bf16
// I/O, 2026-11-28: the backward 5-7% faster, the forward 11-17% slower, 0-1% overall: not worth
// its memory today.
int64_t flash_dropout_bits_words(const SoftmaxArgs& a);

}  // namespace hukuk::ops::cuda

#endif  // HUKUK_CUDA
