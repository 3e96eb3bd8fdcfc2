// The T5 graph on the GPU (the CUDA twin of t5/model.cpp's training path).
//
// How it hangs together: T5Model::load(device CUDA) first runs the ordinary CPU loader (same
// config parsing, same NF4 quantization, bit-exact with bitsandbytes), then attach() copies the
// weights to the device: NF4 weights as NF4 (q,k,v,o,wi* by the QLoRA policy), the rest fp32.
// LoRA A/B, their gradients and AdamW moments live on the device in fp32; lora_params() hands
// out device pointers (ParamRef.device = CUDA) for the trainer's CUDA AdamW. The host copies of
// the LoRA weights are refreshed by lora_to_host() (saving an adapter, CPU generation).
//
// Compute: activations live in one pre-planned device arena per shape. Compute 'fp32' (parity)
// keeps them fp32 with exact fp32 products. Compute 'bf16' keeps them bf16 (the norms' outputs,
// q/k/v, ctx, the FFN's pre-activations and hidden, and the gradients that feed products), with
// the residual stream, the norms' rstd, LoRA state and the head in fp32: every base product is a
// real bf16 tensor-core GEMM with fp32 accumulation and every pass moves half the bytes
// (want_act_bf16; HUKUK_T5_ACT_BF16=0 keeps fp32 activations, whose products cuBLAS then runs as
// tf32 kernels). NF4 weights are dequantized per use into a scratch (fp32 or bf16, the
// activations' type); q,k,v (and cross k,v) go side by side there and run as one batched GEMM.
// LoRA products are fp32-class math: with bf16 activations on ops/lora_tc's tensor-core kernels
// (each fp32 operand split into bf16 hi + lo) where they apply (r 16, widths 64..768: lora_down,
// lora_up_add, lora_up_backward), otherwise on ops/lora's CUDA-core kernels: the A side with the
// dropout regenerated inside (grad-A and dx in one pass over x), the B side's y += s·h·Bᵀ and (dh,
// gB) in one pass over dy, batched over a group. H200, 2026-11-28: flagship step 74.6 (first
// engine) -> 62.4 (fp32 activations) -> 44.7 (bf16) -> 37.4 ms (+ tensor-core LoRA) at 16x64x128;
// 327.3 -> 263.4 -> 180.3 -> 151.9 ms at 16x512x512.
// Attention: bf16 compute on sm_80+ with d_kv 64 uses the fused kernels (ops/flash_attention: no
// probabilities stored, rows layout); HUKUK_T5_FLASH=0 turns that off; fp32 keeps the exact path.
// StepOptions.recompute: only each block's input and the LoRA h are kept; the backward re-runs a
// block into one shared scratch right before its backward (same results, far less memory).
// Weights under bf16 activations: the non-NF4 Linears (wo by the QLoRA policy) are kept as bf16 only
// from the first bf16-activation plan on (weights_to_bf16); fp32 plans afterwards widen them back
// per product, generation's views get a lasting fp32 copy (of the bf16 values).
// The head and cross-entropy run in chunks of rows (head_and_loss: 32 MiB of logits at a time).
// PDL (cuda/pdl.cuh) is on for a step's kernels on sm_90+ (HUKUK_T5_PDL=0: off), off outside steps.
// common/training/memory-estimate.ts mirrors the arena plan byte for byte (checked on the GPU).
// A/B switches for benchmarks: HUKUK_T5_ACT_BF16=0, HUKUK_T5_LORA_TC=0, HUKUK_T5_LORA_TC_BWD=1, HUKUK_T5_GRAPHS=0, HUKUK_T5_FUSED_LORA=0 (no ops/lora kernel at all),
// HUKUK_T5_LORA_UP=0|1 (B side all cuBLAS | all ours; default: picked per case from H200 timings),
// HUKUK_T5_LORA_UP_FWD=0|1 (its forward only), HUKUK_T5_LORA_ONEPASS=0, HUKUK_T5_BATCH_LORA=0,
// HUKUK_T5_FUSE_QKV=0, HUKUK_T5_GEMM=fp32|tf32|bf16, HUKUK_T5_F32=proj_fwd,proj_bwd,attn,head,
// HUKUK_T5_BF16_WEIGHTS=0 (keep fp32 weights), HUKUK_T5_HEAD_CHUNK_ROWS=n, HUKUK_T5_PDL=0,
// HUKUK_T5_LORA_TC_GROUP=0 (the bf16 LoRA A side per member on ops/lora instead of one tensor-core
// launch per q,k,v / cross k,v group), HUKUK_T5_LORA_GROUP=0; memory savings of a backward plan (each
// =0 keeps what it saves): HUKUK_T5_RELU_BITMASK, HUKUK_T5_NORM_RECOMPUTE, HUKUK_T5_CROSS_KV_RECOMPUTE;
// HUKUK_T5_NORM_DROP_FUSE=0 (norm backward and the next dropout backward as two kernels);
// HUKUK_T5_CROSS_SIDE=1 (off while measured: the decoder's cross k,v backward on a second stream, T5Cuda::cross_side);
// HUKUK_T5_LORA_SIDE=0 (on by default since 14:55 UTC: bf16 + tensor-core LoRA, each Linear's lora_up_backward on a
// side stream beside its dx GEMM(s), T5Cuda::kLoraSideDefault; _BWD=0 leaves that out, _FWD=1 adds the
// forward's LoRA down beside the base GEMM, off by default: it did not pay; only Linears of at most
// 2048 rows, HUKUK_T5_LORA_SIDE_MAX_ROWS=n moves that);
// On by default since this session's measurements (=0 turns each off, A/B): HUKUK_T5_DEQ_PREFETCH
// (bf16 activations: each block's NF4 weights dequantized by one launch on a second stream one block
// ahead into two arena regions, instead of before each NF4 GEMM); HUKUK_T5_LORA_TC_DOWN_GROUP (bf16: a
// group's LoRA down products in one lora_tc launch up to 4224 rows, the same bits);
// HUKUK_NORM_WARP (ops/norm.cu: the RMS norm ops one warp a row, read once per process);
// HUKUK_T5_LORA_TC_FAST_BWD (ops/lora_tc.h: the tensor-core LoRA backward's faster parts, _MASK=bits);
// HUKUK_T5_CROSS_SIDE (the decoder's cross K,V work on a second stream; _FWD=0, _KV=0 for its parts);
// HUKUK_FLASH_FWD_IDX64, HUKUK_FLASH_BWD_DOT16 (ops/flash_attention.cu: the forward's hash per 64-key
// tile, the backward's 16-byte dot kernel; read once per process);
// HUKUK_T5_FFN_BWD_BF16 (wo's input-gradient GEMM writes bf16 with the dropout scale as alpha, masked in
// place), HUKUK_T5_NORM_DROP_XBLOCK (a block's last norm backward also writes the next block's first
// dropout backward), HUKUK_T5_RELU_KEEP_MASK (the ReLU bitmask carries the FFN dropout's keep bit);
// HUKUK_T5_ADD_NORM_FUSE (each sub-layer's residual add also computes the next norm, one kernel: ops
// dropout_add_rmsnorm, the same bits); HUKUK_T5_HEAD_BF16 (compute bf16: the LM head's two products on
// bf16 operands, fp32 accumulation and logits, a bf16 copy of the head made at load).
// Fused attention (ops/flash_attention.cu): HUKUK_FLASH_V2=0 (the [H, T, T] bias tiles instead of the
// Toeplitz vector; on by default); HUKUK_FLASH_FWD_SYNC=1 (the forward's old synchronous K/V loads) and
// HUKUK_FLASH_HASH_REF=1 (the dropout keep test as written, not folded), both read once per process;
// HUKUK_FLASH_BWD_3BLOCKS=0 (the bf16 backward at 2 blocks per SM instead of 3; 3 is the default, -1.7 %).
// H200, 2026-11-28 06:55: 35.45 ms at 16x64x128 (2.697 GiB), 144.7 ms at 16x512x512, 81.3 at 8x512x512
// (bench/RESULTS.md).
// Generation on the GPU (generate/cuda) reads the device weights through device_weights() and encode().
#pragma once
#include <functional>
#include <vector>

#include "core/param.h"
#include "t5/model.h"

namespace hukuk {
class T5Impl;
namespace t5cuda {

void attach(T5Impl& I);            // after the CPU loader: uploads the weights
void detach(const T5Impl& I);      // frees the device state (T5Model's destructor)
StepResult run(T5Impl& I, const Batch& b, const StepOptions& o, bool backward);
void lora_to_device(T5Impl& I);    // after add_lora / load_adapter (host LoRA -> device)
void lora_to_host(const T5Impl& I);  // device LoRA (weights, grads, moments) -> host vectors
std::vector<ParamRef> lora_params(T5Impl& I);
std::vector<float> download(const float* device_ptr, size_t n);  // a copy on the host (loraTensors)
void zero_grad(T5Impl& I);
// Bytes of device memory the model holds: weights, LoRA state, the activation arena (high water
// over the model's life) and the plan of the last shape (what that shape needs).
struct MemoryUse {
  size_t weights = 0, lora = 0, arena = 0, arena_plan = 0;
};
MemoryUse memory_use(const T5Impl& I);

// ---- for GPU generation (generate/cuda): read-only views of the device weights ----------------
// A Linear on the device: either an NF4 base (nf4 != nullptr) or an fp32 weight w [out, in];
// LoRA (when attached and A != nullptr): y += scale * (x · Aᵀ) · Bᵀ, A [r, in], B [out, r].
struct DeviceLinearView {
  int in = 0, out = 0;
  const float* w = nullptr;
  const void* nf4 = nullptr;  // const nf4::cuda::DeviceNf4* (nf4/nf4_cuda.h), valid while the model lives
  const float *lora_A = nullptr, *lora_B = nullptr;
  int r = 0;
  float scale = 0.f;
  bool present() const { return out > 0; }
};
struct DeviceBlockView {
  DeviceLinearView q, k, v, o, cq, ck, cv, co, wi, wi0, wi1, wo;
  const float *ln_self = nullptr, *ln_cross = nullptr, *ln_ff = nullptr;
};
struct DeviceWeightsView {
  const float *shared = nullptr, *head = nullptr, *enc_final_ln = nullptr, *dec_final_ln = nullptr;
  std::vector<DeviceBlockView> enc, dec;
  void* stream = nullptr;  // cudaStream_t the model's kernels run on
};
// Uploads the host LoRA state first when it changed (add_lora / load_adapter).
DeviceWeightsView device_weights(T5Impl& I);
// Runs the encoder (eval: no dropout; LoRA when use_adapter) over ids/mask [B, S] (host pointers)
// and calls use(enc_out, stream) with the device pointer of its output [B*S, d_model] fp32 (final
// norm applied) and the model's cudaStream_t, under the model's lock: enqueue work reading enc_out
// on that stream there (it is synchronized before the lock is released); the pointer is not valid
// after use returns. Plans the arena for shape (B, S, 1).
void encode(T5Impl& I, const int32_t* ids, const int32_t* mask, int B, int S, bool use_adapter,
            const std::function<void(const float* enc_out, void* stream)>& use);

}  // namespace t5cuda
}  // namespace hukuk
