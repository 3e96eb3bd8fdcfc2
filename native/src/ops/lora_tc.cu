// Tensor-core LoRA products for bf16 activations (lora_tc.h). Every product is a
// mma.sync.m16n8k16 (bf16 operands, fp32 accumulate) on fragments loaded straight from global
// memory into registers; the fp32 operand of each product is split into bf16 hi + lo (lora_tc.h).
//
// Fragment layout of mma.m16n8k16 (lane = 4*g + t, g = lane / 4, t = lane % 4; the lower k or
// column index sits in the low 16 bits of a register):
//   A (16 x 16, row major): a0 = (row g, k 2t..2t+1), a1 = (row g+8, k 2t..2t+1),
//                           a2 = (row g, k 2t+8..2t+9), a3 = (row g+8, k 2t+8..2t+9)
//   B (16 x 8):             b0 = (k 2t..2t+1, col g), b1 = (k 2t+8..2t+9, col g)
//   C (16 x 8, fp32):       c0, c1 = (row g, cols 2t, 2t+1), c2, c3 = (row g+8, cols 2t, 2t+1)
// The k index of a product is summed over and the row / column labels are only names, so each
// kernel relabels them to make its global loads 16-byte vectors of 8 consecutive bf16:
//   "row-major K permutation" (x · Aᵀ, dy · B): lane t loads 8 consecutive columns c0 + 8t .. +7 of
//     rows g and g+8 (uint4 U_g, U_g8); k step s in {0, 1} of that 32-wide segment uses
//     a = {U_g.w[2s], U_g8.w[2s], U_g.w[2s+1], U_g8.w[2s+1]}, i.e. label k 2t+e <-> column
//     c0 + 8t + 4s + e and label 2t+8+e <-> c0 + 8t + 4s + 2 + e, and B's b0 / b1 take the
//     same columns (4 consecutive floats: one float4 of A's row).
//   "transposed operand" (dhᵀ · x, dyᵀ · h: the sum runs over rows m): lane g loads 8 columns
//     c0 + 8g .. +7 of rows 2t, 2t+1, 2t+8, 2t+9 and pairs rows with __byte_perm (low halves:
//     the even column, high halves: the odd one), so column label g of n-tile i is column
//     c0 + 8g + i.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "core/cuda_runtime.h"
#include "core/env_switch.h"
#include "cuda/pdl.cuh"
#include "ops/dropout_cuda.cuh"
#include "ops/group_tickets.h"
#include "ops/lora_tc.h"

namespace hukuk::ops::cuda::tc {

namespace {

#include "ops/lora_tc_kernels.cuh"

// ------------------------------------------------------------------------------ host side
bool aligned(const void* p, unsigned bytes) { return (reinterpret_cast<uintptr_t>(p) % bytes) == 0; }

void check(const char* fn, int M, int width, int r, int n) {
  HUKUK_CHECK(M >= 0 && n >= 1 && supported(r, width), "ENGINE_INVALID_ARG",
              std::string("lora_tc::") + fn + ": need M >= 0, n >= 1, r == 16 and a width that is a multiple of 64 in "
                  "[64, 768] (got M=" + std::to_string(M) + " width=" + std::to_string(width) + " r=" +
                  std::to_string(r) + " n=" + std::to_string(n) + "); check tc::supported() and use ops/lora otherwise");
}
void check_align(const char* fn, const char* what, const void* p, unsigned bytes) {
  HUKUK_CHECK(aligned(p, bytes), "ENGINE_INVALID_ARG",
              std::string("lora_tc::") + fn + ": " + what + " must be " + std::to_string(bytes) + "-byte aligned");
}

unsigned reduce_blocks(int64_t count) { return unsigned((count + 255) / 256); }

// The group kernels' g_tc_group_tickets banks on each device (ops/group_tickets.h)
GroupTicketArray g_tc_group_ticket_array{&g_tc_group_tickets, kGrpTicketSlots, "lora_tc::lora_backward_group"};

// HUKUK_T5_LORA_TC_FAST_BWD (lora_tc.h): its mask, read once per process (_MASK's bits win over the
// switch); the test hook's override wins over both (core/env_switch.h)
int read_fast_bwd_env() {
  const char* bits = std::getenv("HUKUK_T5_LORA_TC_FAST_BWD_MASK");
  if (bits && *bits) return int(unsigned(std::strtoul(bits, nullptr, 0)) & kFastBwdAll);
  const int all = env_switch("HUKUK_T5_LORA_TC_FAST_BWD");
  return (all == -1 ? kFastBwdDefault : all == 1) ? int(kFastBwdAll) : 0;
}
CachedEnvSwitch g_fast_bwd{read_fast_bwd_env};

// The split-M partial sums (workspace, S of them per member) into out, with or without kFastReduce
void launch_reduce(const float* ws, float* out, int64_t count, int S, int n, float scale, bool accumulate,
                   int64_t out_stride, cudaStream_t s) {
  if (fast_bwd_mask() & kFastReduce)
    hukuk::cuda::pdl::launch(reduce_split_kernel, dim3(unsigned((count + 31) / 32), unsigned(n)), dim3(kRedWarps * 32), 0,
                             s, ws, out, count, S, scale, accumulate, out_stride);
  else
    hukuk::cuda::pdl::launch(reduce_kernel, dim3(reduce_blocks(count), unsigned(n)), dim3(256), 0, s, ws, out, count, S,
                             scale, accumulate, out_stride);
  HUKUK_CUDA_LAUNCH_CHECK();
}

// kFastGroupStage: the dynamic shared memory of group_backward_staged_kernel<NM, DX> raised once
// per process to what the device allows beside its static arrays; false when `bytes` do not fit.
template <int NM, bool DX>
bool staged_fits(size_t bytes) {
  static const size_t limit = [] {
    int dev = 0, optin = 0;
    cudaFuncAttributes fa{};
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess ||
        cudaFuncGetAttributes(&fa, group_backward_staged_kernel<NM, DX>) != cudaSuccess || optin <= int(fa.sharedSizeBytes))
      return size_t(0);
    const int dyn = optin - int(fa.sharedSizeBytes);
    if (cudaFuncSetAttribute(group_backward_staged_kernel<NM, DX>, cudaFuncAttributeMaxDynamicSharedMemorySize, dyn) !=
        cudaSuccess)
      return size_t(0);
    return size_t(dyn);
  }();
  (void)cudaGetLastError();  // a failed query above leaves nothing behind
  return bytes <= limit;
}

RowSplit up_split(int M, int n) { return (fast_bwd_mask() & kFastUpSplit) ? up_row_split_fine(M, n) : up_row_split(M, n); }

}  // namespace

unsigned fast_bwd_mask() { return unsigned(g_fast_bwd.value()); }
void set_fast_bwd_mask_for_tests(int mask) { g_fast_bwd.set_override(mask < 0 ? -1 : int(unsigned(mask) & kFastBwdAll)); }

// The current device's compute capability major (bf16 mma.sync needs 8+), read once per device.
static int device_major() {
  static int cached[16] = {};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0) return 0;
  if (dev >= 16) {
    int major = 0;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    return major;
  }
  if (!cached[dev]) cudaDeviceGetAttribute(&cached[dev], cudaDevAttrComputeCapabilityMajor, dev);
  return cached[dev];
}

bool supported(int r, int width) {
  return r == kR && width >= kChunk && width % kChunk == 0 && width <= kMaxWarps * kChunk && device_major() >= 8;
}

void lora_down(const bf16_t* x, const float* A, float* h, int M, int in, int r, float p, const uint64_t* seed,
               uint64_t site, cudaStream_t s) {
  check("lora_down", M, in, r, 1);
  if (M == 0) return;
  check_align("lora_down", "x", x, 16);
  check_align("lora_down", "A", A, 16);
  const int tiles = (M + 15) / 16;
  const unsigned grid = unsigned(std::min(tiles, 264));
  hukuk::cuda::pdl::launch(down_kernel, grid, dim3((in / kChunk) * 32), 0, s, dev_ptr(x), A, h, M, in, drop_params(p, seed, site));
  HUKUK_CUDA_LAUNCH_CHECK();
}

size_t lora_backward_workspace_floats(int M, int in, int r) {
  const RowSplit rs = row_split(M);
  return rs.S > 1 ? size_t(rs.S) * size_t(r) * size_t(in) : 0;
}

void lora_backward(const float* dh, const bf16_t* x, const float* A, float* gA, float* dx, int M, int in, int r,
                   float p, const uint64_t* seed, uint64_t site, bool accumulate_gA, bool accumulate_dx,
                   float* workspace, cudaStream_t s) {
  check("lora_backward", M, in, r, 1);
  if (M == 0) {  // gA = 0 (or unchanged); dx empty
    if (!accumulate_gA) HUKUK_CUDA_CHECK(cudaMemsetAsync(gA, 0, size_t(r) * in * sizeof(float), s));
    return;
  }
  check_align("lora_backward", "x", x, 16);
  check_align("lora_backward", "dh", dh, 8);
  if (dx) check_align("lora_backward", "dx", dx, 8);
  const RowSplit rs = row_split(M);
  HUKUK_CHECK(rs.S == 1 || workspace, "ENGINE_INVALID_ARG",
              "lora_tc::lora_backward: needs a workspace of lora_backward_workspace_floats(M, in, r) floats");
  const DropParams dp = drop_params(p, seed, site);
  const dim3 grid(unsigned(in / kChunk), unsigned(rs.S));
  if (dx)
    hukuk::cuda::pdl::launch(backward_kernel<true>, grid, dim3(32), 0, s, dh, dev_ptr(x), A, gA, dx, workspace, M, in, rs.rows, dp, accumulate_gA,
                                               accumulate_dx);
  else
    hukuk::cuda::pdl::launch(backward_kernel<false>, grid, dim3(32), 0, s, dh, dev_ptr(x), A, gA, dx, workspace, M, in, rs.rows, dp,
                                                accumulate_gA, accumulate_dx);
  HUKUK_CUDA_LAUNCH_CHECK();
  if (rs.S > 1) launch_reduce(workspace, gA, int64_t(r) * in, rs.S, 1, dp.scale, accumulate_gA, 0, s);
}

void lora_down_group(const bf16_t* x, int n, const float* const* A, float* const* h, const float* p,
                     const uint64_t* site, int M, int in, int r, const uint64_t* seed, cudaStream_t s) {
  check("lora_down_group", M, in, r, n);
  HUKUK_CHECK(n <= kDownGroupMax, "ENGINE_INVALID_ARG",
              "lora_tc::lora_down_group: at most 3 members (got n=" + std::to_string(n) + ")");
  if (M == 0) return;
  check_align("lora_down_group", "x", x, 16);
  DownGroupParams P = {};
  for (int i = 0; i < n; ++i) {
    check_align("lora_down_group", "A", A[i], 16);
    P.A[i] = A[i];
    P.h[i] = h[i];
    P.dp[i] = drop_params(p[i], seed, site[i]);
  }
  const int tiles = (M + 15) / 16;
  const dim3 grid(unsigned(std::min(tiles, 264))), block((in / kChunk) * 32);
  const __nv_bfloat16* xd = dev_ptr(x);
  if (n == 1) hukuk::cuda::pdl::launch(down_group_kernel<1>, grid, block, 0, s, xd, P, M, in);
  else if (n == 2) hukuk::cuda::pdl::launch(down_group_kernel<2>, grid, block, 0, s, xd, P, M, in);
  else hukuk::cuda::pdl::launch(down_group_kernel<3>, grid, block, 0, s, xd, P, M, in);
  HUKUK_CUDA_LAUNCH_CHECK();
}

bool lora_backward_group_supported(int r, int in, int n) {
  return n >= 1 && n <= kGrpMax && n <= kLoraGroupMax && supported(r, in) && in / kChunk <= kGrpTicketSlots;
}

size_t lora_backward_group_workspace_floats(int M, int in, int r, int n) {
  if (M <= 0) return 0;
  const RowSplit rs = group_row_split(M, in);
  return rs.S > 1 ? size_t(n) * size_t(rs.S) * size_t(r) * size_t(in) : 0;
}

void lora_backward_group(const LoraGroupMembers& members, int n, const bf16_t* x, float* dx, int M, int in, int r,
                         const uint64_t* seed, bool accumulate_gA, bool accumulate_dx, float* workspace,
                         cudaStream_t s) {
  HUKUK_CHECK(lora_backward_group_supported(r, in, n) && M >= 0, "ENGINE_INVALID_ARG",
              "lora_tc::lora_backward_group: need 1 <= n <= 3, r == 16, M >= 0 and a width that is a multiple of 64 "
              "in [64, 768] (got n=" + std::to_string(n) + " r=" + std::to_string(r) + " in=" + std::to_string(in) +
                  " M=" + std::to_string(M) + ")");
  if (M == 0) {  // empty sums: gA = 0 (or unchanged); dx empty
    if (!accumulate_gA)
      for (int i = 0; i < n; ++i) HUKUK_CUDA_CHECK(cudaMemsetAsync(members.gA[i], 0, size_t(r) * in * sizeof(float), s));
    return;
  }
  check_align("lora_backward_group", "x", x, 8);
  if (dx) check_align("lora_backward_group", "dx", dx, 8);
  GroupParams G = {};
  G.tickets = g_tc_group_ticket_array.bank(group_ticket_bank());
  for (int i = 0; i < n; ++i) {
    check_align("lora_backward_group", "dh", members.dh[i], 8);
    G.dh[i] = members.dh[i];
    G.A[i] = members.A[i];
    G.gA[i] = members.gA[i];
    G.dp[i] = drop_params(members.p[i], seed, members.site[i]);
  }
  const RowSplit rs = group_row_split(M, in);
  HUKUK_CHECK(rs.S == 1 || workspace, "ENGINE_INVALID_ARG",
              "lora_tc::lora_backward_group: needs a workspace of lora_backward_group_workspace_floats floats");
  const dim3 grid(unsigned(in / kChunk), unsigned(rs.S)), block(kGrpThreads);
  const __nv_bfloat16* xd = dev_ptr(x);
  // kFastGroupPrefetch with one member (with 2-3 the registers a tile ahead spill: sm_90 244 / 556
  // bytes against 8 / 152 without); kFastGroupStage with 2-3 up to kStageMaxRows rows (slower above),
  // where the block's dh rows fit
  const unsigned mask = fast_bwd_mask();
  const bool pf = n == 1 && (mask & kFastGroupPrefetch);
  const size_t stage = group_stage_bytes(n, rs.rows);
  const bool stage_wanted = n >= 2 && M <= kStageMaxRows && (mask & kFastGroupStage);
  // one dispatch for both kDx values (the same chain of forms with and without dx)
  const auto launch = [&](auto dx_tag) {
    constexpr bool DX = decltype(dx_tag)::value;
    const bool staged = stage_wanted && (n == 2 ? staged_fits<2, DX>(stage) : staged_fits<3, DX>(stage));
#define HUKUK_TC_GROUP_LAUNCH(KERNEL, NM, SMEM)                                                                      \
  hukuk::cuda::pdl::launch(KERNEL<NM, DX>, grid, block, SMEM, s, G, xd, dx, workspace, M, in, rs.rows, accumulate_gA, \
                           accumulate_dx)
    if (n == 1 && pf) HUKUK_TC_GROUP_LAUNCH(group_backward_pf_kernel, 1, 0);
    else if (n == 1) HUKUK_TC_GROUP_LAUNCH(group_backward_kernel, 1, 0);
    else if (n == 2 && staged) HUKUK_TC_GROUP_LAUNCH(group_backward_staged_kernel, 2, stage);
    else if (n == 2) HUKUK_TC_GROUP_LAUNCH(group_backward_kernel, 2, 0);
    else if (staged) HUKUK_TC_GROUP_LAUNCH(group_backward_staged_kernel, 3, stage);
    else HUKUK_TC_GROUP_LAUNCH(group_backward_kernel, 3, 0);
#undef HUKUK_TC_GROUP_LAUNCH
  };
  if (dx) launch(std::true_type{});
  else launch(std::false_type{});
  HUKUK_CUDA_LAUNCH_CHECK();
}

void lora_up_add(const float* h, const float* B, bf16_t* y, int M, int out, int r, float scale, int n, int64_t sh,
                 int64_t sB, int64_t sy, cudaStream_t s) {
  check("lora_up_add", M, out, r, n);
  if (M == 0) return;
  check_align("lora_up_add", "y", y, 16);
  check_align("lora_up_add", "h", h, 8);
  check_align("lora_up_add", "B", B, 8);
  HUKUK_CHECK(n == 1 || (sy % 8 == 0 && sh % 2 == 0 && sB % 2 == 0), "ENGINE_INVALID_ARG",
              "lora_tc::lora_up_add: member strides must keep the alignment (sy % 8, sh % 2, sB % 2)");
  const int C = out / kChunk, tiles = (M + 15) / 16;
  const dim3 grid(unsigned((C + 3) / 4), unsigned((tiles + kUpTiles - 1) / kUpTiles), unsigned(n));
  hukuk::cuda::pdl::launch(up_add_kernel, grid, dim3(128), 0, s, h, B, dev_ptr(y), M, out, scale, sh, sB, sy);
  HUKUK_CUDA_LAUNCH_CHECK();
}

size_t lora_up_backward_workspace_floats(int M, int out, int r, int n) {
  const RowSplit rs = up_split(M, n);
  return rs.S > 1 ? size_t(rs.S) * size_t(n) * size_t(out) * size_t(r) : 0;
}

void lora_up_backward(const bf16_t* dy, const float* h, const float* B, float* dh, float* gB, int M, int out, int r,
                      float scale, bool accumulate_gB, int n, int64_t sdy, int64_t sh, int64_t sB, int64_t sdh,
                      float* workspace, cudaStream_t s) {
  check("lora_up_backward", M, out, r, n);
  if (M == 0) {  // dh empty; gB = 0 (or unchanged)
    if (!accumulate_gB)
      for (int i = 0; i < n; ++i)
        HUKUK_CUDA_CHECK(cudaMemsetAsync(gB + i * sB, 0, size_t(out) * r * sizeof(float), s));
    return;
  }
  check_align("lora_up_backward", "dy", dy, 16);
  HUKUK_CHECK(n == 1 || sdy % 8 == 0, "ENGINE_INVALID_ARG", "lora_tc::lora_up_backward: sdy must be a multiple of 8");
  const RowSplit rs = up_split(M, n);
  HUKUK_CHECK(rs.S == 1 || workspace, "ENGINE_INVALID_ARG",
              "lora_tc::lora_up_backward: needs a workspace of lora_up_backward_workspace_floats(M, out, r, n) floats");
  const dim3 grid(unsigned(rs.S), unsigned(n)), block((out / kChunk) * 32);
  if (fast_bwd_mask() & kFastUpPrefetch) {
    if (rs.S > 1) check_align("lora_up_backward", "workspace", workspace, 8);  // float2 partials
    hukuk::cuda::pdl::launch(up_backward_kernel<true>, grid, block, 0, s, dev_ptr(dy), h, B, dh, gB, workspace, M, out,
                             rs.rows, scale, accumulate_gB, sdy, sh, sB, sdh);
  } else {
    hukuk::cuda::pdl::launch(up_backward_kernel<false>, grid, block, 0, s, dev_ptr(dy), h, B, dh, gB, workspace, M, out,
                             rs.rows, scale, accumulate_gB, sdy, sh, sB, sdh);
  }
  HUKUK_CUDA_LAUNCH_CHECK();
  if (rs.S > 1) launch_reduce(workspace, gB, int64_t(out) * r, rs.S, n, scale, accumulate_gB, sB, s);
}

}  // namespace hukuk::ops::cuda::tc
