// Fused LoRA products with the LoRA input dropout regenerated in place (no dropped copy of x is
// ever stored). They replace, per LoRA-adapted Linear, the sequences in t5/cuda/t5_cuda.cpp:
//   forward   dropout_forward(x -> xd) + gemm(h = xd · Aᵀ)                  -> lora_down
//   backward  dropout_forward(x -> xd) + gemm(gA += dhᵀ · xd)               -> lora_grad_A
//             gemm(tmp = dh · A) + dropout_backward(tmp -> dx, accumulate)  -> lora_dx
// The B side, h·Bᵀ, dyᵀ·h and dy·B, has no dropout: lora_up_add and lora_up_backward below.
//
// Layouts (all row-major, contiguous, fp32 storage and fp32 math; the CUDA bf16 overloads at the
// end hold the activation operand in bf16):
//   x [M, in]   the Linear's input, UNdropped       A [r, in]   LoRA down weight
//   h [M, r]    = dropout_p(x) · Aᵀ                  dh [M, r]   gradient w.r.t. h
//   gA [r, in]  gradient of A                        dx [M, in]  gradient w.r.t. x
// Dropout: exactly oc::dropout_forward(x, xd, M*in, p, seed, site) of ops/dropout.h, i.e. element
// (m, k) uses the flat index i = m*in + k: kept when dropout_keep(seed, site, i, p), then scaled by
// 1/(1-p); dropped elements are 0. p <= 0 means no dropout (no hash is computed, scale 1).
// The backward of dropout is the same mask and scale (dropout_backward of ops/dropout.h).
// Sizes: 1 <= r <= 64 (checked), M >= 0, in >= 1; any in (no multiple-of-4 requirement).
//
// CPU references (this file's .cpp): each output element is one sequential float sum in index
// order (k for lora_down, m for lora_grad_A, j for lora_dx) and accumulate adds the finished sum,
// like ops::gemm, so they equal "dropout_forward then matmul" (the existing ops) to rounding.
// CUDA (lora.cu): same results to fp32 rounding (different summation order), deterministic
// (no float atomics; the same inputs give the same bits on every run).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/half.h"

#if defined(HUKUK_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace hukuk::ops {

// h[M, r] = dropout_p(x)[M, in] · A[r, in]ᵀ   (h is overwritten)
void lora_down(const float* x, const float* A, float* h, int M, int in, int r, float p, uint64_t seed,
               uint64_t site);
// gA[r, in] (+)= dh[M, r]ᵀ · dropout_p(x)[M, in]   (accumulate: gA += sum, else gA = sum)
void lora_grad_A(const float* dh, const float* x, float* gA, int M, int in, int r, float p, uint64_t seed,
                 uint64_t site, bool accumulate);
// dx[M, in] (+)= dropout_backward_p(dh[M, r] · A[r, in])   (accumulate: dx += v, else dx = v)
void lora_dx(const float* dh, const float* A, float* dx, int M, int in, int r, float p, uint64_t seed,
             uint64_t site, bool accumulate);

// Both backward products of the down projection at once (what linear_bwd needs):
//   gA (+)= dhᵀ · dropout_p(x)   (accumulate_gA)   and, when dx is not null,
//   dx (+)= dropout_backward_p(dh · A)   (accumulate_dx).
// The CPU reference is lora_grad_A then lora_dx.
void lora_backward(const float* dh, const float* x, const float* A, float* gA, float* dx, int M, int in, int r,
                   float p, uint64_t seed, uint64_t site, bool accumulate_gA, bool accumulate_dx);

// The B side (no dropout there), batched over n members i < n of a group (q,k,v: the same rows,
// different adapters): member i's operands start at base + i * stride. Layouts: h [M, r],
// B [out, r], y and dy [M, out], dh [M, r], gB [out, r] (at B's stride: gB_i = gB + i * sB).
//   lora_up_add        y_i (+)= scale · h_i · B_iᵀ            (always accumulates into y)
//   lora_up_backward   dh_i = scale · dy_i · B_i              (overwritten)
//                      gB_i (+)= scale · dy_iᵀ · h_i          (accumulate_gB)
// CPU references: each sum sequential in index order (j for lora_up_add, o for dh, m for gB),
// then scaled and added: equal to ops::gemm + an add to rounding.
void lora_up_add(const float* h, const float* B, float* y, int M, int out, int r, float scale, int n = 1,
                 int64_t sh = 0, int64_t sB = 0, int64_t sy = 0);
void lora_up_backward(const float* dy, const float* h, const float* B, float* dh, float* gB, int M, int out, int r,
                      float scale, bool accumulate_gB, int n = 1, int64_t sdy = 0, int64_t sh = 0, int64_t sB = 0,
                      int64_t sdh = 0);

}  // namespace hukuk::ops

#if defined(HUKUK_CUDA)
namespace hukuk::ops::cuda {

// Same semantics as the CPU functions above, on device pointers, enqueued on `s` (nothing
// synchronizes, nothing allocates: safe inside CUDA graph capture). `seed` is a DEVICE pointer,
// read by the kernels at run time, so a captured graph replays with a new seed. One kernel each,
// except lora_grad_A with a workspace (two: split-M partial sums, then a fixed-order reduce).

// One kernel, software-pipelined (the next tile of x and A loaded while the current one is
// used). H200, 2026-11-28 03:12 UTC (tests/native/cuda_lora_fused.test.ts), µs per call in a CUDA
// graph, 768 wide r16 p=0.1: M=1024 7.2, M=2048 10.0 (9.4 with 2 rows per warp, the fp32 plan
// since then: same bits), M=8192 25.3; lora_grad_A 9.8 and lora_dx 8.5 at M=2048 p=0.05. The
// read-once floor at M=2048 is ~2 µs: the kernel is bound by latency, not bytes.
void lora_down(const float* x, const float* A, float* h, int M, int in, int r, float p, const uint64_t* seed,
               uint64_t site, cudaStream_t s);

// Floats of scratch lora_grad_A wants for these sizes (0 when it needs none). A function of
// (M, in, r) alone, never of the GPU, so results are bit-identical across cards.
size_t lora_grad_A_workspace_floats(int M, int in, int r);
// workspace: device scratch of lora_grad_A_workspace_floats(M, in, r) floats (arena memory is
// fine; no initialisation needed; not read after the call returns on the stream). With nullptr
// the reduction over M runs in one pass per column block: still correct and deterministic, but
// slow for large M (few blocks) and summed in a different order than with a workspace.
void lora_grad_A(const float* dh, const float* x, float* gA, int M, int in, int r, float p, const uint64_t* seed,
                 uint64_t site, bool accumulate, float* workspace, cudaStream_t s);

// One kernel. dx must not overlap dh or A.
void lora_dx(const float* dh, const float* A, float* dx, int M, int in, int r, float p, const uint64_t* seed,
             uint64_t site, bool accumulate, cudaStream_t s);

// lora_grad_A + lora_dx in ONE pass over x (one kernel, plus the fixed-order reduce when a
// workspace is given): each element's mask is hashed once instead of twice and dh is staged
// once. For r > 16 it simply runs lora_grad_A then lora_dx (registers). Workspace: lora_backward_workspace_floats(M, in, r) floats (its own split plan, so its
// gA sums may differ in the last bits from lora_grad_A's), or nullptr (one pass per column
// block). dx may be null (gA only). dx must not overlap x, dh or A.
// H200, 2026-11-28 03:12 UTC: CUDA = CPU; µs per call (graph), 768 wide r16 p=0.1 with dx
// accumulated: M=1024 10.9, M=2048 13.4 (unfused sequence 31.2), M=8192 38.9; read-once floors
// 6.3 / 6.2 / 20.5.
size_t lora_backward_workspace_floats(int M, int in, int r);
void lora_backward(const float* dh, const float* x, const float* A, float* gA, float* dx, int M, int in, int r,
                   float p, const uint64_t* seed, uint64_t site, bool accumulate_gA, bool accumulate_dx,
                   float* workspace, cudaStream_t s);

// The A side of the backward for the n <= 3 members of a group that read the SAME x and add into
// the SAME dx (q,k,v of self-attention: n = 3; cross-attention k,v: n = 2; n = 1: one Linear), in
// ONE launch: for each member i (its dh_i [M, r], A_i, gA_i, its own dropout site_i and p_i, one
// seed for all)
//   gA_i (+)= dh_iᵀ · dropout_{p_i, site_i}(x)           (accumulate_gA)
//   dx   (+)= Σ_i dropout_backward_{p_i, site_i}(dh_i · A_i)   (accumulate_dx; dx may be null)
// i.e. exactly n calls of lora_backward (member 0 with accumulate_dx, the others accumulating).
// Each x and dx element is read once and dx written once for all members, and the split-M partial
// sums of gA are reduced inside the kernel (the last block of each column block, found with an
// atomic ticket, adds them in split order and resets the ticket: no reduce launch, deterministic,
// graph-replay safe). Results: gA_i bit-identical to lora_backward's (same split plan, same sums
// in the same order); dx the same additions in the same order (((dx + d_0) + d_1) + d_2), equal
// to the n calls up to the compiler's fma contraction of each d_i's scale-and-add (fp32 rounding).
// Launched through cuda/pdl.cuh. Limits: lora_backward_group_supported (r <= 16, in <= 262144,
// n <= 3); x fp32 or bf16. Two launches must not run concurrently on different streams of one
// device (the tickets are per device). dx must not overlap x, any dh, A or gA.
// Workspace: lora_backward_group_workspace_floats(M, in, r, n) floats = n x lora_backward's (or
// nullptr: one pass per column block, then the sums' order differs from lora_backward's with one).
// H200, 2026-11-28 06:02 UTC (tests/native/cuda_lora_fused.test.ts: = CPU within 1e-5, gA and dx
// bit-identical to n lora_backward calls in every case tested, n = 1..3, M = 5..8192, p 0 / 0.05 /
// 0.5, fp32 and bf16 x; deterministic), µs per call in a CUDA graph, 768 wide r16 p=0.05 dx
// accumulated, group / n x lora_backward (each with its reduce launch):
//   bf16 M=2048  n=1 18.7 / 14.3   n=2 23.5 / 28.4   n=3 30.9 / 42.4   (read-once floor ~7)
//   bf16 M=8192  n=1 63.6 / 47.9   n=2 68.4 / 91.1   n=3 87.4 / 136.9  (floor ~17.5)
//   fp32 M=2048  n=1 16.9 / 13.3   n=2 23.2 / 26.8   n=3 30.8 / 40.0
//   fp32 M=8192  n=1 44.8 / 38.5   n=2 64.1 / 76.8   n=3 85.2 / 115.4
// (Since 2026-11-28 06:42 UTC the engine runs bf16 x on ops/lora_tc's lora_backward_group, the tensor-core
// twin, faster at every n: lora_tc.h; this kernel remains for fp32 x, r < 16 and widths lora_tc does not take.)
// So the engine uses it for groups of 2 and 3 only: a group of one is SLOWER than lora_backward +
// its reduce launch, by more than the in-kernel reduce could cost (+16 µs at bf16 M=8192, where
// the reduce is the same size as at M=2048), so the main loop itself is slower. Not profiled;
// the suspect is the members' dropout masks, which sit in shared memory (for the registers of n =
// 3) and may be re-read per element instead of once per chunk, adding to the load/store pipe that
// lora_backward_kernel already keeps busy (an ncu run of both at n = 1 would tell).
constexpr int kLoraGroupMax = 3;
struct LoraGroupMembers {  // passed by value to the kernel
  const float* dh[kLoraGroupMax] = {};
  const float* A[kLoraGroupMax] = {};
  float* gA[kLoraGroupMax] = {};
  uint64_t site[kLoraGroupMax] = {};
  float p[kLoraGroupMax] = {};
  unsigned int* tickets = nullptr;  // set by lora_backward_group (the calling thread's bank, group_tickets.h)
};
bool lora_backward_group_supported(int r, int in, int n);
size_t lora_backward_group_workspace_floats(int M, int in, int r, int n);
void lora_backward_group(const LoraGroupMembers& members, int n, const float* x, float* dx, int M, int in, int r,
                         const uint64_t* seed, bool accumulate_gA, bool accumulate_dx, float* workspace,
                         cudaStream_t s);
void lora_backward_group(const LoraGroupMembers& members, int n, const bf16_t* x, float* dx, int M, int in, int r,
                         const uint64_t* seed, bool accumulate_gA, bool accumulate_dx, float* workspace,
                         cudaStream_t s);

// The B side (lora_up_add, lora_up_backward above), on device pointers, batched over n members in
// one launch (blockIdx.z), replacing cuBLAS's fp32 SIMT kernels there (15 % of an H200 step's
// kernel time). fp32 math. lora_up_add: one read-modify-write of y, B's row and h's rows on chip.
// lora_up_backward: ONE pass over dy for both products: per element r FMAs for gB and r for dh;
// dh's sum over out runs as a warp transpose-reduce, then the 8 warps in a fixed order, then (out
// > 256) the column groups in a fixed order; gB's sum over M runs per row split, then the splits
// in a fixed order (deterministic, like lora_grad_A). For r > 16 it runs two plain kernels (the
// register budget), still deterministic. Workspace: lora_up_backward_workspace_floats(M, out, r, n)
// floats, required when that is > 0 (a function of the sizes only, n times that of one member).
// H200, 2026-11-28 03:12 UTC (tests/native/cuda_lora_fused.test.ts: CUDA = CPU within 1e-5,
// deterministic), µs per call in a CUDA graph, ours vs cuBLAS fp32, out 768 r16:
//   lora_up_backward x3 (q,k,v)  M=2048: 59.7 vs 58.9    M=8192: 143.6 vs 329.1
//   lora_up_backward x1          M=2048: 28.8 vs 20.4    M=8192: 54.2 vs 39.1
//   lora_up_add      x1 / x3     M=2048: 7.6 vs 11.1 / 19.6 vs 14.1   M=8192: 25.7 vs 16.2 / 75.2 vs 70.1
// (read+write floors: up x1 M=8192 ~14, x3 ~41; up_backward x3 M=2048 ~7), so cuBLAS is still
// ahead for single members and most forwards. Room left: the dh transpose-reduce and 3 barriers
// per 8-row chunk bound lora_up_backward well above its read-once floor; lora_up_add is bound by
// latency (one pass, few blocks), not bytes.
void lora_up_add(const float* h, const float* B, float* y, int M, int out, int r, float scale, int n, int64_t sh,
                 int64_t sB, int64_t sy, cudaStream_t s);
size_t lora_up_backward_workspace_floats(int M, int out, int r, int n);

void lora_up_backward(const float* dy, const float* h, const float* B, float* dh, float* gB, int M, int out, int r,
                      float scale, bool accumulate_gB, int n, int64_t sdy, int64_t sh, int64_t sB, int64_t sdh,
                      float* workspace, cudaStream_t s);

// ---- bf16 activations (the engine's bf16 compute path): the same functions with the Linear's
// activation operand in bf16 (x of lora_down / lora_backward, y of lora_up_add, dy of
// lora_up_backward); every parameter list is its fp32 twin's with only that pointer's type
// changed, so generic code calls oc::f(...) the same way for both. LoRA's own tensors (h, dh, A,
// B, gA, gB) and lora_backward's dx stay fp32. The same kernels, templated on the input type:
// each bf16 value is widened to fp32 on load (exact) and all math is fp32; lora_up_add reads y,
// adds in fp32 and rounds once to bf16 (round to nearest even). lora_down, lora_backward and
// lora_up_add do the fp32 sums in the fp32 order (on the widened values); lora_up_backward runs 2
// columns per thread (4-byte loads of dy, when out, sdy and dy are 2-element aligned, else 1) in
// 2 row groups, so its sums are ordered differently. The workspace sizes are the fp32 functions
// above (functions of the sizes only, the same for both types). Deterministic like the fp32 ones.
// H200, 2026-11-28 03:12 UTC (tests/native/cuda_lora_fused.test.ts: bf16 CUDA = the CPU reference
// on the same bf16 values within 1e-5, y of lora_up_add within half a bf16 ulp; every r <= 64
// path; deterministic), µs per call in a CUDA graph, 768 wide r16, fp32 / bf16 (bf16 read-once
// floor at ~3.2-3.7 TB/s):
//   lora_down    p=0.1  M=1024 7.2 / 7.9 (0.9)   M=2048 10.0 / 10.1 (1.0)   M=8192 25.3 / 28.4 (3.4)
//   lora_backward p=0.1 M=1024 10.9 / 11.4 (4.5) M=2048 13.4 / 14.2 (5.0)   M=8192 38.9 / 45.3 (17.2)
//   lora_up_add      x1 M=2048 7.5 / 8.0 (2.0)   x3 19.6 / 20.7 (6.0)   x1 M=8192 25.7 / 27.3 (6.9)   x3 75.2 / 82.0 (20.6)
//   lora_up_backward x1 M=2048 28.5 / 27.0 (1.6) x3 59.7 / 57.5 (3.7)   x1 M=8192 53.6 / 53.7 (3.7)   x3 143.5 / 138.3 (10.9)
// i.e. bf16 is no faster than fp32 here: these kernels are bound by latency and instructions, not
// bytes (5-15x their bf16 floor). Measured slower and removed (same call): lora_up_add with 2 / 4 /
// 8 columns per thread (x1 M=2048 12.6 / 13.3 µs, r8 8 columns 13.0 vs 4 columns 7.7: fewer
// blocks), lora_up_backward with 4 columns per thread (x3 M=2048 72.2, M=8192 176.9: 255 registers,
// one block per SM), 2 rows per warp in bf16 lora_down at M=2048 (11.5).
void lora_down(const bf16_t* x, const float* A, float* h, int M, int in, int r, float p, const uint64_t* seed,
               uint64_t site, cudaStream_t s);
void lora_backward(const float* dh, const bf16_t* x, const float* A, float* gA, float* dx, int M, int in, int r,
                   float p, const uint64_t* seed, uint64_t site, bool accumulate_gA, bool accumulate_dx,
                   float* workspace, cudaStream_t s);
void lora_up_add(const float* h, const float* B, bf16_t* y, int M, int out, int r, float scale, int n, int64_t sh,
                 int64_t sB, int64_t sy, cudaStream_t s);
void lora_up_backward(const bf16_t* dy, const float* h, const float* B, float* dh, float* gB, int M, int out, int r,
                      float scale, bool accumulate_gB, int n, int64_t sdy, int64_t sh, int64_t sB, int64_t sdh,
                      float* workspace, cudaStream_t s);

}  // namespace hukuk::ops::cuda
#endif  // HUKUK_CUDA
