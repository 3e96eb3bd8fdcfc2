// Kernels of one T5 decoder step on the GPU, for few rows (batch * beams): the weights are read
// once per step for all rows, so a step costs about one pass over the decoder's weights.
//
//   gemv       y[n, N] = x[n, K] · Wᵀ for up to 3 weights sharing x (q, k, v), W either NF4 codes
//              (bitsandbytes layout, dequantized in registers exactly as nf4.cu does) or fp32;
//              a warp computes 4 neighbouring outputs from one read of the activations;
//              fused epilogue: + scale · (h · Bᵀ) (LoRA), + residual, ReLU; the output row may sit
//              at a position read from device memory (K/V appended to the cache).
//   attention  one query per (row, head) over keys 0..Tk-1 (self: Tk = pos + 1 with the
//              relative-position bias; cross: the encoder keys with its padding mask).
//   rmsnorm, embedding, KV gather (beam reorder).
// All fp32 with fp32 accumulation. Sizes that change per step (pos) are read from device memory,
// so one captured CUDA graph replays every step.
#pragma once
#include <cstdint>

#if defined(HUKUK_CUDA)
#include <cuda_runtime_api.h>

#include "nf4/nf4_cuda.h"

namespace hukuk::gen::cuda {

// One product of a gemv launch. Exactly one of w (fp32 [N, K]) and nf4 (codes of [N, K]) is set.
struct GemvJob {
  const float* w = nullptr;
  nf4::cuda::DeviceNf4 nf4{};
  bool is_nf4 = false;
  int N = 0;
  // output row r: y + r * y_ld + (*pos) * y_pos_stride (pos_stride 0 = ignore pos)
  float* y = nullptr;
  int64_t y_ld = 0, y_pos_stride = 0;
  const float* residual = nullptr;  // row r: residual + r * res_ld (may equal y: in place)
  int64_t res_ld = 0;
  const float* lora_h = nullptr;  // [n, r] (h = x · Aᵀ, computed before)
  const float* lora_B = nullptr;  // [N, r]
  int lora_r = 0;
  float lora_scale = 0.f;
  bool relu = false;
  // epilogue(): the product x · Wᵀ was computed elsewhere (cuBLAS), [n, N] row-major
  const float* base = nullptr;
};
constexpr int kMaxGemvJobs = 3;

struct GemvArgs {
  GemvJob job[kMaxGemvJobs];
  int njobs = 0;
  const float* x = nullptr;  // [n, K], row stride x_ld
  int64_t x_ld = 0;
  int n = 0, K = 0;
  const int32_t* pos = nullptr;  // device: the step's position (for y_pos_stride)
  // Fused T5 RMS norm of the input (n <= kMaxFusedNormRows): the products see
  // norm_w[k] * (x[k] * rsqrt-like(mean(x²) + eps)), exactly the values rmsnorm() would write.
  const float* norm_w = nullptr;
  float norm_eps = 0.f;
  // launch with programmatic dependent launch (sm_90+; the step model's default there,
  // HUKUK_GEN_PDL=0 off): the kernel may start while the previous one drains and reads its first
  // weights meanwhile
  bool pdl = false;
};
constexpr int kMaxFusedNormRows = 8;
void gemv(const GemvArgs& a, cudaStream_t s);
// The gemv epilogue alone, over products computed before (job.base): LoRA, residual, ReLU, and
// the write at the step's position. For many rows, where the products run in cuBLAS.
void epilogue(const GemvArgs& a, cudaStream_t s);

// T5 RMS norm of n rows of d: y = w * (x * rsqrt(mean(x²) + eps)) [* post_scale when != 1]
void rmsnorm(const float* x, const float* w, float* y, int n, int d, float eps, float post_scale, cudaStream_t s,
             bool pdl = false);

// x[r] = table[tokens[r]] (rows of d)
void embed(const float* table, const int32_t* tokens, float* x, int n, int d, cudaStream_t s, bool pdl = false);

// ctx[r, h*dk + :] = softmax(q·Kᵀ + bias, masked) · V for one query per (row r, head h).
// K/V of row r: kv + (r / kv_row_div) * kv_row_stride + j * kv_ld + h * dk.
struct AttnArgs {
  const float *q = nullptr, *k = nullptr, *v = nullptr;
  float* out = nullptr;
  int n = 0, H = 0, dk = 0, inner = 0;  // q/out row stride = inner
  int64_t kv_row_stride = 0, kv_ld = 0;
  int kv_row_div = 1;
  // self-attention: Tk = *pos + 1, bias[h, j] = table[bucket[pos - j] * H + h]
  const int32_t* pos = nullptr;
  const float* bias_table = nullptr;  // [num_buckets, H]
  const int32_t* bucket = nullptr;    // [max_len] bucket of distance pos - j
  // cross-attention: Tk = fixed, key_mask[(r / kv_row_div) * Tk + j] == 0 hides key j
  int Tk = 0;
  const int32_t* key_mask = nullptr;
  int max_keys = 0;  // upper bound of Tk (shared memory)
  bool pdl = false;  // see GemvArgs::pdl
};
void attention(const AttnArgs& a, cudaStream_t s);

// Beam reorder of a cache laid out [L][rows][per_row] floats (only the first `used` floats of each
// row matter): dst[l][r] = src[l][src_rows[r]].
void gather_rows(const float* src, float* dst, const int32_t* src_rows, int L, int rows, int64_t per_row, int64_t used,
                 cudaStream_t s);

// y = act(x) (GELU/SiLU/ReLU, elementwise), h = act(pre0) * pre1 for gated FFNs: from ops/*.cu.

}  // namespace hukuk::gen::cuda

#endif  // HUKUK_CUDA
