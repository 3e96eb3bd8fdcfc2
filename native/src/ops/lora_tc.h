// Tensor-core LoRA products for the bf16-activation path (the engine's bf16 compute): the same
// functions, parameter lists and semantics as the bf16 overloads at the end of ops/lora.h (same
// dropout mask: element (m, k) of x has flat index m*in + k, dropout_keep of ops/dropout_hash.h,
// kept values scaled by 1/(1-p), p <= 0 no dropout; same member strides on the B side; same
// accumulate flags; h, dh, A, B, gA, gB and dx fp32), as one more implementation the engine can
// pick per call with supported(). ops/lora.cu's CUDA-core kernels stay the fallback.
//
// Why: on an H200 (ncu, 2026-11-28) ops/lora's bf16 kernels took ~40 % of a flagship layer's
// kernel time at 4-15x their read-once floors: per bf16 element of x (2 bytes) a rank-16 product
// is 16 FMAs, which at 3+ TB/s is about all the fp32 CUDA cores of the card can do, and the
// backward kernels do two products per element. mma.sync (bf16 in, fp32 accumulate) makes the
// math free, so these kernels are bound by bytes and latency alone.
//
// Accuracy (fp32 class, not bf16): x and dy are exact in bf16; every fp32 operand (A, B, h, dh)
// is split into hi = bf16(v) and lo = bf16(v - hi), |v - hi - lo| <= 2^-17 |v|, and the products
// run as x·A_hi + x·A_lo (two mma), or hi·hi + hi·lo + lo·hi + lo·lo (four) where both sides are
// fp32 (dh·A, h·Bᵀ). Accumulation in fp32. Results match the fp32 CPU reference (ops/lora.cpp on
// the same bf16 values) to ~2-4e-6 of the output's largest magnitude: on an H200 (2026-11-28,
// tests/native/cuda_lora_tc.test.ts) and, without a GPU, in tools/lora_tc_emulation (the kernels of
// lora_tc_kernels.cuh compiled for the host with the warp and mma.sync emulated; run by
// tests/native/lora_tc_emulation.test.ts in CI). Dropout: the mask zeroes x's bf16 bits and
// 1/(1-p) multiplies the finished sum (the CPU scales each element first: same to rounding).
//
// Deterministic: no atomics; every sum has a fixed order (split-M partial sums in `workspace`,
// then a fixed-order reduce kernel). Capturable: no host sync, no allocation, the seed is read
// from device memory by the kernels.
//
// Measured: NVIDIA H200, 2026-11-28 03:56 UTC (tests/native/cuda_lora_tc.test.ts, commit eb29461:
// 60/60 tests pass, tc = CPU within 1e-5, deterministic), µs per call in a CUDA graph, width 768,
// r 16, tc / ops/lora bf16 (floor: a device-to-device copy of the same bytes on the same card):
//   lora_up_backward x1 M=2048 12.7 / 26.3 (6.1)   x3 17.0 / 57.5 (6.2)
//                    x1 M=8192 20.5 / 53.4 (6.6)   x3 34.3 / 138.7 (10.1)
//   lora_down  p=0.05   M=2048  4.4 / 10.2 (6.5)   M=8192 11.6 / 28.4 (7.0)
//   lora_up_add      x1 M=2048  4.8 / 8.0 (6.0)    x3  6.7 / 20.8 (6.4)
//                    x1 M=8192  7.6 / 27.4 (6.2)   x3 25.9 / 82.4 (21.3)
//   lora_backward p=0.05, dx accumulated: M=2048 27.9 / 14.2, M=8192 74.7 / 46.2 (SLOWER; its
//     dx read-modify-write then ran one load->store chain per element pair; the loads are now
//     issued first, which the emulation checks for results but no GPU has timed yet).
//
// Constraints (HUKUK_CHECKed): supported(r, width) (the lead falls back to ops/lora otherwise);
// the bf16 operands (x, y, dy) 16-byte aligned with member strides a multiple of 8 elements;
// A, B, h, dh 16-byte aligned (cudaMalloc / arena), member strides even.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/half.h"
#include "ops/lora.h"  // LoraGroupMembers

#if defined(HUKUK_CUDA)
#include <cuda_runtime_api.h>

namespace hukuk::ops::cuda::tc {

// HUKUK_T5_LORA_TC_FAST_BWD=1 (off by default until measured; read once per process): the LoRA
// backward's latency changes of 2026-11-28 11:30 UTC, all at once; HUKUK_T5_LORA_TC_FAST_BWD_MASK=
// bits (wins over it) picks some. Why: ncu on an H200 (10:55 UTC, flagship width, eager) put each
// LoRA'd Linear's backward at up_backward ~10.5 + reduce ~4.4 + group_backward ~14 µs at 1024-2048
// rows, against ~7.5 µs for its base dx GEMM; the bytes are ~3 MB (~1 µs at 3 TB/s), so every
// round trip to memory on a block's critical path counts, and so do idle SMs:
//   kFastReduce        reduce_split_kernel: the split-M partials summed by 8 warps a block (all
//                      loads of a thread in flight together), not one thread walking all S (64 at
//                      2048 rows: a chain of L2 round trips). gA / gB in another fixed order.
//   kFastUpSplit       lora_up_backward's row splits down to one 16-row tile (up_row_split_fine):
//                      2048 rows n = 1 run 128 blocks, not 64 (1024 rows: 64, not 32); twice the
//                      workspace below 132 * 32 / n rows (in the engine's plan the q,k,v group's
//                      need is still the largest: no arena growth there). gB in another order.
//   kFastUpPrefetch    up_backward_kernel<true>: gB's dy rows and h loaded a tile ahead, the gB
//                      partials stored as float2 pairs (bit for bit).
//   kFastGroupPrefetch group_backward_pf_kernel (one member): x, old dx and dh loaded a tile ahead,
//                      the first tile's before A's staging barrier (bit for bit).
//   kFastGroupStage    group_backward_staged_kernel (2-3 members): the block's dh rows of every
//                      member staged in shared memory once (dynamic, 80 bytes a row and member:
//                      46 KB at 2048 rows, n = 3), not loaded per member and tile (bit for bit);
//                      above 2048 rows (slower at 8192, below) or where they do not fit,
//                      group_backward_kernel.
// Measured: NVIDIA H200, 2026-11-28 12:04 UTC (tests/native/cuda_lora_tc.test.ts, commit 8e9acb7: 121/121
// pass, every part = CPU, the bit-for-bit parts bit for bit; cuda_t5 59/59), µs per call in a CUDA
// graph (no PDL), width 768, r 16, p 0.05, accumulate; today / each bit alone (1 2 4 8 16) / all 31:
//   up+reduce    M=1024 n=1 11.12 / 11.18 10.89  8.92  -     -     /  7.45
//                M=2048 n=1 12.47 / 11.36 15.33 10.19  -     -     /  9.59
//                M=2048 n=3 16.91 / 17.90 16.68 12.91  -     -     / 13.77
//   group        M=1024 n=1  8.90 /  -     -     -     9.66  -     /  9.68   (groupPf: slower)
//                M=2048 n=1 11.71 /  -     -     -    12.15  -     / 12.20
//                M=1024 n=3 19.21 /  -     -     -     -    18.73  / 18.77
//                M=2048 n=3 26.65 /  -     -     -     -    25.22  / 25.26
//                M=8192 n=3 67.31 /  -     -     -     -    71.23  / 71.09   (stage: slower there)
//   the Linear's whole LoRA backward (up + reduce + group): M=1024 n=1 20.33 -> 17.29, 2048 n=1
//   24.24 -> 21.37, 2048 n=3 45.04 -> 40.92, 2048 n=2 35.67 -> 30.63, 8192 n=1 50.49 -> 42.92,
//   8192 n=3 105.04 -> 98.07 (the up_backward prefetch is most of it; the finer split alone is
//   slower at 2048 rows, 15.33, and pays only with the split reduce).
// Step (flagship, 10 steps, one process each, the same call): ms/step default / HUKUK_T5_LORA_TC_FAST_BWD=1:
//   16x64x128 29.12 / 28.75, 16x512x512 121.30 / 119.45, 8x512x512 69.10 / 67.20; peak memory and
//   arena the same; loss equal to 1e-4. Not measured in the step: mask 7 (without groupPf / stage).
constexpr unsigned kFastReduce = 1, kFastUpSplit = 2, kFastUpPrefetch = 4, kFastGroupPrefetch = 8,
                   kFastGroupStage = 16, kFastBwdAll = 31;
// All parts on by default since 12:15 UTC (the step measurement above); HUKUK_T5_LORA_TC_FAST_BWD=0
// turns them off, _MASK=bits picks parts. common/training/memory-estimate.ts mirrors the finer
// up_backward split's workspace (LORA_TC_FAST_BWD_DEFAULT; flip both together).
static constexpr bool kFastBwdDefault = true;
unsigned fast_bwd_mask();
// Test / benchmark hook (lora_tc_napi.cpp): a mask that wins over the environment; -1 restores it.
// Workspace sizes follow the mask: size and launch under the same one.
void set_fast_bwd_mask_for_tests(int mask);

// What these kernels take: r == 16, width (in for the A side, out for the B side) a multiple of
// 64 in [64, 768] (one warp per 64 columns, a block holds every column of a row tile).
bool supported(int r, int width);

// h[M, r] = dropout_p(x)[M, in] · A[r, in]ᵀ   (h overwritten)
void lora_down(const bf16_t* x, const float* A, float* h, int M, int in, int r, float p, const uint64_t* seed,
               uint64_t site, cudaStream_t s);

// h_i[M, r] = dropout_{p_i}(x) · A_iᵀ for n <= 3 members sharing x (q,k,v; cross k,v), ONE launch:
// x read once, member i with its own dropout (p[i], site[i]) and A[i]; every h_i bit-identical to
// lora_down(x, A[i], h[i], M, in, r, p[i], seed, site[i]) (the same products in the same order).
// A, h, p, site: host arrays of n entries (A_i and h_i device pointers; A_i 16-byte aligned).
// Why: per layer the forward ran one lora_down per member (3 launches for q,k,v).
// Measured: NVIDIA H200, 2026-11-28 08:40 UTC (tests/native/cuda_lora_tc.test.ts: bit for bit n
// lora_down at M 5..8192, widths 64..768, p 0 / 0.05 / 0.5), µs per call in a CUDA graph, width
// 768, r 16, p 0.05, group / n x lora_down:
//   n=3  M=1024 10.4 / 12.4   M=2048 10.5 / 12.9   M=4096 19.7 / 20.8   M=8192 35.6 / 34.0
//   n=2  M=1024  7.5 /  8.3   M=2048  7.7 /  8.6   M=4096 14.0 / 13.8   M=8192 24.6 / 22.7
// (beyond 264 tiles its blocks re-load each member's A per tile, where lora_down holds A in
// registers across tiles: the engine takes it up to 4224 rows). In the step (flagship, 16x64x128,
// HUKUK_T5_LORA_TC_DOWN_GROUP=1): 35.75 ms against 35.81, within noise.
void lora_down_group(const bf16_t* x, int n, const float* const* A, float* const* h, const float* p,
                     const uint64_t* site, int M, int in, int r, const uint64_t* seed, cudaStream_t s);

// gA (+)= dhᵀ · dropout_p(x)  and, when dx is not null, dx (+)= dropout_backward_p(dh · A).
// workspace: lora_backward_workspace_floats(M, in, r) floats (required when > 0; no init needed).
size_t lora_backward_workspace_floats(int M, int in, int r);
void lora_backward(const float* dh, const bf16_t* x, const float* A, float* gA, float* dx, int M, int in, int r,
                   float p, const uint64_t* seed, uint64_t site, bool accumulate_gA, bool accumulate_dx,
                   float* workspace, cudaStream_t s);

// The A side of a group of n <= 3 members sharing x and dx (ops/lora.h lora_backward_group: the
// same semantics and LoraGroupMembers; member 0's dx with accumulate_dx, the others adding), in ONE
// launch: x and dx read once for all members, each member's own mask, the split-M partial sums of
// gA reduced inside the kernel by the last block of each column block (atomic ticket, reset by
// that block: deterministic, graph-replay safe). gA_i = scale_i · sum (the tc rounding above, not
// ops/lora's bits); dx = ((dx + d_0) + d_1) + d_2. Two launches must not run concurrently on
// different streams of one device (the tickets are per device). dx may be null; dx must not
// overlap x, any dh, A or gA. workspace: lora_backward_group_workspace_floats(M, in, r, n) floats
// (required when > 0; no init needed).
// Measured: NVIDIA H200, 2026-11-28 06:42 UTC (tests/native/cuda_lora_fused.test.ts, tc: true: = CPU
// within 1e-5 for n 1..3, M 5..8192, widths 64..768, p 0 / 0.05 / 0.5; run to run bit-identical, the
// tickets reset), µs per call in a CUDA graph, width 768, r 16, p 0.05, dx accumulated, tc group /
// ops/lora group / n x ops/lora lora_backward (read-once floor):
//   M=2048  n=1 11.6 / 18.5 / 14.2 (5.8)   n=2 20.6 / 23.1 / 28.4 (6.7)   n=3 26.8 / 30.8 / 42.6 (6.1)
//   M=8192  n=1 23.9 / 56.8 / 45.5 (16.9)  n=2 43.1 / 66.9 / 95.4 (16.7)  n=3 67.3 / 88.8 / 144.4 (17.1)
// So one member is near 2x its floor, but each further member adds ~7.5 µs at 2048 rows and ~22 at
// 8192: the per-member work (16 mask hashes per lane per 16 x 32 tile, 24 mma, the hi/lo splits of
// dh, and at n = 3 a 136-byte register spill under the 128-register cap of 16-warp blocks) is the
// bound, not the bytes. Not profiled (ncu gave nothing in that call).
// Tried and removed (commits 24871f0, d15bd06, 8dddb29; reverted): the group launch split in two so
// that gA leaves the backward's serial path: lora_dx_group (dx alone, row-parallel, one 16 x 32
// tile per warp, bit for bit this kernel's dx) on the main stream, then this kernel without dx on
// a side stream, joined at the next writer of what it reads (HUKUK_T5_LORA_GA_SIDE). NVIDIA H200,
// 2026-11-28 16:40 UTC, µs per call in a CUDA graph, width 768, r 16, p 0.05, dx accumulated,
// one launch / dx alone / the pair: M=1024 n=1 9.58 / 5.17 / 13.57, n=3 18.84 / 11.43 / 27.14;
// M=2048 n=1 12.24 / 7.47 / 17.14, n=3 25.43 / 16.25 / 36.73; M=8192 n=1 24.25 / 20.86 / 39.86, n=3
// 67.28 / 51.88 / 96.66. The dx half alone is still 54-86 % of the launch (per-member work and
// latency, not the gA products, bound it), and the gA launches beside the serial
// path slowed it: 16x64x128 28.31 / 28.59 / 28.37 ms against 27.56 / 27.39 / 27.78 off (one process
// each, alternating; with gA queued on the LoRA side stream instead: 29.05-29.48 against
// 27.55-28.01); 16x512x512 with every Linear forking (HUKUK_T5_LORA_SIDE_MAX_ROWS=8192) 123.42
// against 121.16. Loss and every gradient were bit for bit the one launch's.
bool lora_backward_group_supported(int r, int in, int n);
size_t lora_backward_group_workspace_floats(int M, int in, int r, int n);
void lora_backward_group(const LoraGroupMembers& members, int n, const bf16_t* x, float* dx, int M, int in, int r,
                         const uint64_t* seed, bool accumulate_gA, bool accumulate_dx, float* workspace,
                         cudaStream_t s);

// y_i (+)= scale · h_i · B_iᵀ over n members (always accumulates; y read, added in fp32, rounded once)
void lora_up_add(const float* h, const float* B, bf16_t* y, int M, int out, int r, float scale, int n, int64_t sh,
                 int64_t sB, int64_t sy, cudaStream_t s);

// dh_i = scale · dy_i · B_i (overwritten);  gB_i (+)= scale · dy_iᵀ · h_i (accumulate_gB).
// workspace: lora_up_backward_workspace_floats(M, out, r, n) floats (required when > 0).
// Tried and removed: summing gB's split partials inside this launch (the last blocks to finish
// took atomicInc tickets, spin-waited for the rest and split the fixed-order sums; gB bit for bit
// the reduce launch's) instead of reduce_kernel's launch (added in commits 815a153 and 09126fd, then removed).
// Measured SLOWER on an NVIDIA H200, 2026-11-28 08:40 UTC, µs per call in a CUDA graph (no PDL),
// width 768, r 16, accumulate, every block reducing / 32 reducers / 8 reducers / today's two
// launches: M=1024 n=1 12.9 / 12.9 / 17.0 / 11.0, n=3 14.9 / 18.2 / 29.8 / 13.3; M=2048 n=1
// 14.0 / 14.3 / 20.6 / 12.3, n=3 18.2 / 21.7 / 36.1 / 17.0; M=8192 n=1 21.2 / 22.0 / 32.6 / 20.2,
// n=3 39.8 / 43.3 / 59.9 / 38.7; the last block alone 86-261. Step 16x64x128: 36.17 ms against
// 35.75. The wait for the slowest block, the fences and ticket round trips cost more than a launch
// the graph and PDL already hide, and its waiting blocks needed an occupancy-bounded spin-wait
// (a deadlock hazard if the bound is wrong). Do not re-try it without a new reason.
size_t lora_up_backward_workspace_floats(int M, int out, int r, int n);
void lora_up_backward(const bf16_t* dy, const float* h, const float* B, float* dh, float* gB, int M, int out, int r,
                      float scale, bool accumulate_gB, int n, int64_t sdy, int64_t sh, int64_t sB, int64_t sdh,
                      float* workspace, cudaStream_t s);

}  // namespace hukuk::ops::cuda::tc
#endif  // HUKUK_CUDA
