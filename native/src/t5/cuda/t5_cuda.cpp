// See t5_cuda.h. Mirrors model.cpp's run()/encoder_forward/decoder_forward/..._backward op for
// op (same dropout sites, same order), with device buffers and cuBLAS products.
#include "t5/cuda/t5_cuda.h"

#include "core/error.h"

#if !defined(HUKUK_CUDA)

namespace hukuk::t5cuda {
[[noreturn]] static void no_cuda() {
  HUKUK_FAIL("ENGINE_UNSUPPORTED", "this addon was built without CUDA (nvcc was not found at build time)");
}
void attach(T5Impl&) { no_cuda(); }
void detach(const T5Impl&) {}
StepResult run(T5Impl&, const Batch&, const StepOptions&, bool) { no_cuda(); }
void lora_to_device(T5Impl&) { no_cuda(); }
void lora_to_host(const T5Impl&) { no_cuda(); }
std::vector<ParamRef> lora_params(T5Impl&) { no_cuda(); }
void zero_grad(T5Impl&) { no_cuda(); }
MemoryUse memory_use(const T5Impl&) { return {}; }
std::vector<float> download(const float*, size_t) { no_cuda(); }
DeviceWeightsView device_weights(T5Impl&) { no_cuda(); }
void encode(T5Impl&, const int32_t*, const int32_t*, int, int, bool, const std::function<void(const float*, void*)>&) {
  no_cuda();
}
}  // namespace hukuk::t5cuda

#else

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>

#include "core/arena.h"
#include "core/cuda_runtime.h"
#include "core/env_switch.h"
#include "core/half.h"
#include "cuda/cublas_loader.h"
#include "cuda/pdl_switch.h"
#include "nf4/nf4_cuda.h"
#include "ops/attention.h"
#include "ops/flash_attention.h"
#include "ops/group_tickets.h"
#include "ops/lora.h"
#include "ops/lora_tc.h"
#include "ops/residual.h"
#include "ops/ops_cuda.h"
#include "t5/cuda/weight_bf16.h"
#include "t5/impl.h"

namespace hukuk::t5cuda {

namespace oc = hukuk::ops::cuda;
using hukuk::cuda::DeviceBuffer;
using hukuk::bf16_t;

namespace {

// dropout sites: the same numbering as model.cpp (site_of / linear_slot)
enum Slot : uint64_t {
  kEmbed = 0, kSelfProbs = 1, kSelfRes = 2, kCrossProbs = 3, kCrossRes = 4, kFfAct = 5, kFfRes = 6, kFinal = 7,
  kLoraBase = 8
};
uint64_t site_of(int stack, int layer, uint64_t slot) { return (uint64_t(stack) * 4096 + layer) * 32 + slot; }
int linear_slot(const std::string& module, const std::string& kind) {
  static const char* attn[] = {"q", "k", "v", "o"};
  for (int i = 0; i < 4; ++i)
    if (kind == attn[i]) return module == "EncDecAttention" ? 4 + i : i;
  if (kind == "wi") return 8;
  if (kind == "wi_0") return 9;
  if (kind == "wi_1") return 10;
  return 11;
}

struct DLora {
  LoraState* host = nullptr;
  int r = 0;
  float scale = 1.f, dropout = 0.f;
  float *A = nullptr, *B = nullptr, *gA = nullptr, *gB = nullptr, *mA = nullptr, *vA = nullptr, *mB = nullptr,
        *vB = nullptr;
  float* h = nullptr;  // arena: A(dropout(x)) of the last forward
};

struct DLin {
  Linear* host = nullptr;
  int in = 0, out = 0;
  float* w = nullptr;  // fp32 weight [out, in] (not quantized); nullptr once only wb is kept
  bf16_t* wb = nullptr;  // its bf16 copy, once bf16 activations run (T5Cuda::weights_to_bf16)
  std::unique_ptr<nf4::cuda::Nf4Weight> q;
  nf4::cuda::DeviceNf4 qv;  // q->view(), kept so views handed out stay valid
  std::unique_ptr<DLora> lora;
  bool enc_rows = false;  // LoRA h has encoder rows (encoder, or cross k/v)
  size_t pf_off = 0;  // NF4: bf16 elements into its block's prefetch region (T5Cuda::pf_assign)
  bool present() const { return out > 0; }
};

struct DBlock {
  DLin q, k, v, o, cq, ck, cv, co, wi, wi0, wi1, wo;
  float *ln_self = nullptr, *ln_cross = nullptr, *ln_ff = nullptr;
  bool qkv_fused = false, ckv_fused = false;  // base products of q,k,v (cross k,v) as one batched GEMM
};

// One block's activations. The residual stream (x_in, x_mid, x_mid2), the norms' rstd and the
// attention's P (probabilities, or the fused kernels' row log-sum-exp) are fp32; the rest are the
// plan's activation type (act_t: fp32, or bf16 for bf16 compute), held untyped here and read
// through ActsT<T>.
struct Acts {
  float *x_in = nullptr, *rstd1 = nullptr, *P = nullptr, *x_mid = nullptr, *rstdc = nullptr, *cP = nullptr,
        *x_mid2 = nullptr, *rstd3 = nullptr;
  void *n1 = nullptr, *qh = nullptr, *kh = nullptr, *vh = nullptr, *ctx = nullptr, *nc = nullptr, *cqh = nullptr,
       *ckh = nullptr, *cvh = nullptr, *cctx = nullptr, *n3 = nullptr, *pre0 = nullptr, *pre1 = nullptr,
       *hff = nullptr;
  // ReLU FFN whose wo has no LoRA (T5Cuda::ffn_bitmask): relu' as bits, [ceil(M d_ff / 32)] words,
  // kept instead of pre0/hff (then nullptr: the hidden lives in the step's scratch g_ff0)
  uint32_t* relu_mask = nullptr;
};
template <typename T>
struct ActsT {
  float *x_in, *rstd1, *P, *x_mid, *rstdc, *cP, *x_mid2, *rstd3;
  T *n1, *qh, *kh, *vh, *ctx, *nc, *cqh, *ckh, *cvh, *cctx, *n3, *pre0, *pre1, *hff;
  uint32_t* relu_mask;
  explicit ActsT(const Acts& a)
      : x_in(a.x_in), rstd1(a.rstd1), P(a.P), x_mid(a.x_mid), rstdc(a.rstdc), cP(a.cP), x_mid2(a.x_mid2),
        rstd3(a.rstd3), n1(tp(a.n1)), qh(tp(a.qh)), kh(tp(a.kh)), vh(tp(a.vh)), ctx(tp(a.ctx)), nc(tp(a.nc)),
        cqh(tp(a.cqh)), ckh(tp(a.ckh)), cvh(tp(a.cvh)), cctx(tp(a.cctx)), n3(tp(a.n3)), pre0(tp(a.pre0)),
        pre1(tp(a.pre1)), hff(tp(a.hff)), relu_mask(a.relu_mask) {}
  static T* tp(void* p) { return static_cast<T*>(p); }
};
template <typename T>
T* tp(void* p) {
  return static_cast<T*>(p);
}
template <typename T>
constexpr bool is_f32 = std::is_same_v<T, float>;

struct Ctx {
  bool train = false, use_lora = true;
  const uint64_t* seed = nullptr;  // device slot holding the step's dropout seed
};

// What a captured step depends on besides the arena's pointers (fixed per plan).
struct GraphKey {
  Shape sh;
  bool backward, train, use_lora, need_enc, recompute;
  bool pdl;  // recorded with programmatic dependent launch (the attribute is baked into the graph)
  bool operator<(const GraphKey& o) const {
    auto t = [](const GraphKey& k) {
      return std::make_tuple(k.sh.B, k.sh.S, k.sh.T, k.backward, k.train, k.use_lora, k.need_enc, k.recompute, k.pdl);
    };
    return t(*this) < t(o);
  }
};

// PDL (cuda/pdl.cuh) for one training step's kernels: the process-wide switch on (or off) while the
// step records or launches them, and off again when the step returns or throws, so that other code
// (generation, the single-op tests) never runs with it.
struct PdlStepScope {
  explicit PdlStepScope(bool on) { hukuk::cuda::pdl::set_enabled(on); }
  ~PdlStepScope() { hukuk::cuda::pdl::set_enabled(false); }
  PdlStepScope(const PdlStepScope&) = delete;
  PdlStepScope& operator=(const PdlStepScope&) = delete;
};

struct Profile {
  bool on = false;
  std::vector<std::pair<const char*, cudaEvent_t>> marks;
  void mark(const char* name, cudaStream_t s) {
    if (!on) return;
    cudaEvent_t e;
    HUKUK_CUDA_CHECK(cudaEventCreate(&e));
    HUKUK_CUDA_CHECK(cudaEventRecord(e, s));
    marks.push_back({name, e});
  }
  void report() {
    if (!on || marks.size() < 2) return;
    HUKUK_CUDA_CHECK(cudaEventSynchronize(marks.back().second));
    std::string line = "t5cuda phases (ms):";
    for (size_t i = 1; i < marks.size(); ++i) {
      float ms = 0;
      cudaEventElapsedTime(&ms, marks[i - 1].second, marks[i].second);
      char buf[96];
      std::snprintf(buf, sizeof buf, " %s=%.3f", marks[i].first, ms);
      line += buf;
    }
    std::fprintf(stderr, "%s\n", line.c_str());
    for (auto& m : marks) cudaEventDestroy(m.second);
    marks.clear();
  }
};

}  // namespace

class T5Cuda {
 public:
  T5Impl& I;
  // Our own (blocking) stream: it can be captured into a CUDA graph, and it still synchronizes
  // with the legacy default stream that the trainer's AdamW kernels use.
  cudaStream_t s = nullptr;
  // Captured training steps (one per shape and mode), replayed with new inputs and seeds.
  std::map<GraphKey, cudaGraphExec_t> graphs;
  bool graphs_ok = true;
  uint64_t* d_seed = nullptr;  // [1] the step's dropout seed
  float* d_gscale = nullptr;   // [1] 1 / number of label tokens
  size_t head_rows = 1;        // rows of one head chunk (the arena's logits; head_and_loss)
  oc::Precision prec = oc::Precision::F32;
  // Per product family (the base Linears' forward and input-gradient products, attention, the
  // head): `prec`, except those HUKUK_T5_F32=proj_fwd,proj_bwd,attn,head names, which run at fp32.
  // Measured (H100 and H200, 2026-11-28, tests/native/cuda_t5.test.ts): the bf16 gradient error of
  // the gated_gelu_untied and padding fixtures (6.0e-2, 5.1e-2 against issue 5's 3e-2) comes from
  // the base Linears' forward products: with those alone at fp32 it is 1.4e-3 / 0.8e-3, with any
  // other family alone at fp32 it stays at 5-6e-2. TF32 (CUBLAS_COMPUTE_32F_FAST_TF32) gave
  // bit-identical results to FAST_16BF: with fp32 operands cuBLAS runs the same tf32 kernels for
  // both (ncu shows sm90 ...tf32f32... GEMMs in 'bf16' mode), so it is no cure.
  oc::Precision p_fwd = oc::Precision::F32, p_bwd = oc::Precision::F32, p_attn = oc::Precision::F32,
                p_head = oc::Precision::F32;
  std::vector<DeviceBuffer<float>> owned;  // fp32 weights
  // The non-quantized Linears' base weights (wo under the QLoRA policy; every Linear without NF4):
  // one buffer per upload (a q,k,v / cross k,v group side by side, or one Linear), fp32 as loaded.
  // The first plan with bf16 activations swaps each for a bf16 copy (weights_to_bf16), which the
  // products then read directly, and frees the fp32 one.
  struct LinWeights {
    DeviceBuffer<float> f32;
    DeviceBuffer<bf16_t> b16;
    size_t n = 0;
    std::vector<DLin*> users;  // their w = f32 + offset (wb = b16 + the same offset)
  };
  std::vector<LinWeights> lin_weights;
  bool weights_bf16 = false;  // weights_to_bf16 ran (one way: see there)
  float *shared = nullptr, *lm_head = nullptr, *enc_final_ln = nullptr, *dec_final_ln = nullptr;
  std::vector<DBlock> enc, dec;
  DeviceBuffer<float> deq;  // NF4 dequantization scratch (largest quantized weight, or a q,k,v group)
  // The LM head in bf16 products (HUKUK_T5_HEAD_BF16=1 under compute bf16, read at load; default
  // kHeadBf16Default, on): head_and_loss's two vocabulary-wide products on bf16 operands
  // with fp32 accumulation and fp32 logits, as torch autocast runs lm_head, instead of fp32
  // operands on TF32/bf16-fast cuBLAS kernels: logits = bf16(dec_seq) · head_b16ᵀ, and g_n =
  // bf16(dlogits) · head_b16 (the cross-entropy writes its gradient as bf16 in place). head_b16: the
  // head (the tied embedding or lm_head) rounded once at upload, + vocab x d_model x 2 bytes of
  // weights; dec_seq_b16 in the arena (+ Mt x d_model x 2 bytes). HUKUK_T5_F32=head or
  // HUKUK_T5_GEMM=fp32|tf32 run the fp32 head as before. memory-estimate.ts mirrors the bytes
  // (headBf16, HEAD_BF16_DEFAULT). H200, 2026-11-28 08:57-09:00 UTC, flagship, ms/step off -> on
  // (ADD_NORM_FUSE off): 16x64x128 35.4-35.8 -> 35.25 (head phase 1.17 -> 0.64 ms), 16x512x512
  // 144.7-145.2 -> 143.2 (4.6 -> 2.55 ms); weights +47 MiB, arena +3 / +12 MiB. Precision against the
  // fp32 head (tests/native/cuda_t5.test.ts, vocab 4096): loss 4e-5 relative, LoRA grads 9.3e-3
  // (worst tensor, relative L2), eval logits 2.4e-3. On by default since 09:10 UTC (HUKUK_T5_HEAD_BF16=0: fp32).
  static constexpr bool kHeadBf16Default = true;
  DeviceBuffer<bf16_t> head_b16;
  bf16_t* dec_seq_b16 = nullptr;
  size_t weight_bytes = 0;
  // LoRA state: four regions (weights, grads, m, v) with the same offsets
  DeviceBuffer<float> lora_buf;
  size_t lora_n = 0;
  std::vector<DLora*> loras;  // in linears() order
  // arena
  DeviceBuffer<uint8_t> arena_buf;
  size_t arena_high = 0, arena_plan = 0;
  Shape planned{};
  bool planned_bwd = false;
  bool planned_keep = true;  // every block's activations stored (false: recomputed in the backward)
  std::vector<Acts> ea, da;
  Acts ea_scr, da_scr;       // recompute: one block's activations (encoder / decoder; same memory)
  void *deq_self = nullptr, *deq_cross = nullptr;  // recompute: NF4 q,k,v / cross k,v kept dequantized (act_t)
  // NF4 prefetch (HUKUK_T5_DEQ_PREFETCH=1; bf16 activations): instead of a dequantization before
  // each NF4 GEMM (~9.5 launches per block, forward and backward, on the step's serial path), ONE
  // nf4::cuda::dequantize_list_bf16 launch per block writes all its NF4 weights (pf_assign's
  // layout) into one of two arena regions (block use i: region i % 2), on a second stream one
  // block ahead of the main one: forward in block order, backward in reverse (the recompute re-run,
  // cross_kv_again and the backward's products read the same region). Events order it: the main
  // stream waits for pf_ready[r] before a block's first kernel; the refill of region r for the
  // block two uses later waits for pf_free[r], recorded when the main stream leaves the block. The
  // side stream forks from the main one at the step's start and joins it at its end (pf_begin /
  // pf_end), so the step still captures into one CUDA graph. Same bf16 weights and GEMMs: the same
  // step (loss and LoRA grads bit for bit, tests/native/cuda_t5.test.ts). Read at each plan.
  // H200, 2026-11-28 08:33-08:37 UTC, flagship, ms/step off -> on (two A/B pairs per call, two
  // calls): 16x64x128 35.1-35.7 -> 33.3-33.5; 16x512x512 143.9-144.5 -> 142.3-142.7; 8x512x512
  // 80.8-80.9 -> 79.0-79.2; recompute 43.9 -> 41.1 and 184.6 -> 182.5. Arena +27 MiB (two 13.5 MiB
  // regions; recompute +21 MiB: deq_self/deq_cross go). On by default (HUKUK_T5_DEQ_PREFETCH=0: off).
  static constexpr bool kDeqPrefetchDefault = true;  // memory-estimate.ts DEQ_PREFETCH_DEFAULT mirrors it
  bool deq_prefetch = false;     // this plan prefetches
  size_t pf_region_elems = 0;    // bf16 elements of one region: the largest block's (upload_weights)
  void* pf_region[2] = {nullptr, nullptr};  // arena (layout)
  cudaStream_t s_pf = nullptr;   // the prefetch stream (created at first use)
  cudaEvent_t pf_fork = nullptr, pf_join = nullptr, pf_ready[2] = {nullptr, nullptr}, pf_free[2] = {nullptr, nullptr};
  std::vector<DBlock*> pf_seq;  // this step's block uses in order (consecutive repeats merged)
  size_t pf_issued = 0;          // prefetches launched (pf_seq[0 .. pf_issued))
  long pf_active = -1;           // the use the main stream is in (index into pf_seq)
  const DBlock* pf_block = nullptr;  // its block, and its region
  const bf16_t* pf_cur = nullptr;
  bool pf_cs_held[2] = {false, false};  // pf_cs_hold[r] recorded on s_cs: region r's refill waits for it
  cudaEvent_t pf_cs_hold[2] = {nullptr, nullptr};
  // Cross K,V backward on a side stream (HUKUK_T5_CROSS_SIDE=1; read at each plan; default
  // kCrossSideDefault): in the decoder backward, each layer's cross k,v projections_bwd (the two dx
  // GEMMs into g_enc, the LoRA B and A sides of ck, cv) needs only enc_out, the layer's weights and
  // LoRA, and the cross attention's dK,dV; nothing later in the decoder reads what it writes (g_enc:
  // encoder_backward, after the loop; the LoRA grads: the optimizer). So it runs on s_cs beside the
  // rest of the decoder backward: the cross attention's backward writes dK,dV into their own slot
  // (cs_dkv[l % 2], not g_qkv, which the self attention's backward reuses at once), the main stream
  // forks s_cs there (cs_fork) and waits for the side's layer l + 2 (cs_done) before refilling a
  // slot; the side has its own LoRA scratch (cs_tmp_r, cs_ws, and cs_gws for the group kernels where
  // the main stream borrows g_ffh, which its FFN backward uses meanwhile); the NF4 region of a block
  // is refilled by the prefetch only after the side is done with it (pf_cs_hold). s_cs joins s
  // before encoder_backward (cs_end; cs_abandon when a step throws), so the step still captures
  // into one CUDA graph. The same kernels in the same order on each stream, g_enc accumulated in
  // layer order as before: the same step. Only for bf16 activations whose cross k,v weights are
  // prefetched (NF4) or kept as bf16 (no dequantization scratch on the side). memory-estimate.ts
  // mirrors the arena (crossSide, CROSS_SIDE_DEFAULT). H200, 2026-11-28 11:35 UTC (code 79a8680 +
  // others' switched-off WIP; one process per setting, alternating, 10 steps): ms/step off -> on (all three parts)
  // 16x64x128 30.42 / 30.26 / 30.65 -> 29.25 / 28.96 / 29.01 (the backward k,v part alone 29.66);
  // 16x512x512 122.61 / 122.57 -> 122.08 / 122.07; 8x512x512 70.40 / 70.28 -> 68.81 / 69.04. Peak
  // +13 / +67 / +37 MiB. tests/native/cuda_t5.test.ts (CROSS_SIDE): loss, every LoRA grad, eval
  // logits bit for bit on vs off (graphs and eager, recompute, K,V kept), arena = estimate.
  // On by default since 11:45 UTC (HUKUK_T5_CROSS_SIDE=0: the serial path). s_cs has its own cuBLAS
  // handle (cuda/cublas_loader own_handle: its own default workspace beside the main stream's).
  static constexpr bool kCrossSideDefault = true;  // memory-estimate.ts CROSS_SIDE_DEFAULT mirrors it
  bool cross_side = false;                          // this plan runs it
  void* cs_dkv[2] = {nullptr, nullptr};             // arena: layer l's cross dK,dV (act_t, 2 Ms inner) in slot l % 2
  float *cs_tmp_r = nullptr, *cs_ws = nullptr, *cs_gws = nullptr;  // arena: the side's tmp_r, lora_ws, group scratch
  size_t cs_gws_floats = 0;
  bool cs_on = false;  // the side's work is being recorded (group_scratch: cs_gws instead of g_ffh)
  cudaStream_t s_cs = nullptr;
  cudaEvent_t cs_fork[2] = {nullptr, nullptr}, cs_done[2] = {nullptr, nullptr}, cs_join = nullptr;
  bool cs_live = false;                        // s_cs forked in this step (cs_end joins it)
  // ... and in the decoder forward (HUKUK_T5_CROSS_SIDE_FWD=0 leaves it out; read at each plan):
  // layer l's cross K,V projections of enc_out (base GEMM, LoRA down into the kept h, up_add) on
  // s_cs a layer ahead, into the same slots (free in the forward) or the kept a.ckh, so the main
  // stream only waits for them before the cross attention (cross_kv_fwd_side).
  bool cross_side_fwd = false;  // this plan
  // ... and the backward's K,V recompute (cross_kv_recomputed; HUKUK_T5_CROSS_SIDE_KV=0 leaves it on
  // the main stream; read at each plan): layer l - 1's K,V on s_cs right after layer l's k,v
  // backward, into slot (l - 1) % 2, whose dK,dV that backward has just read; layer l's dK,dV then go
  // into slot (l + 1) % 2 (the K,V of layer l + 1 are read by then). The main stream waits for
  // cs_kvr (layer l's K,V) before the cross attention's backward: nothing else to wait for.
  bool cross_side_kv = false;  // this plan
  cudaEvent_t cs_kvr = nullptr;
  bool cs_fwd = false;          // inside a decoder forward that runs it (not in a re-run)
  bool cs_slot_busy[2] = {false, false};       // cs_done[k] recorded in this step
  // LoRA kernels beside the base GEMMs on a side stream (HUKUK_T5_LORA_SIDE; =0 off; read at each plan;
  // default kLoraSideDefault). At the small shapes every kernel is latency-bound and a base GEMM
  // fills about half the SMs, while the LoRA kernels of the same Linear read only its inputs:
  // - backward (linear_bwd, projections_bwd; the lora_tc B side, tc_in(r, out)): the dx GEMM(s)
  //   read dy and W; tc::lora_up_backward reads dy, h, B and writes dh (tmp_r), gB and its partials
  //   (lora_ws). s_ls forks from s at the function's start (dy is ready), runs lora_up_backward;
  //   s runs the dx GEMMs, waits for s_ls (ls_join), then the A side (lora_bwd_A*) as before.
  // - forward (linear_fwd, projections' batched group; not in a re-run, which reuses the kept h):
  //   the base GEMM reads x and W; the LoRA down (tc::lora_down / lora_down_group) reads x and A
  //   and writes h (the kept lo.h, or tmp_r). s_ls runs the down, s the GEMM, join, up_add on s.
  // Scratch: while s_ls runs, s issues only the base GEMMs (cuBLAS on its own handle and
  // workspace) and, where the weights are NF4, their dequantization into deq / the block's region
  // (and the prefetch's event waits): nothing there touches tmp_r, lora_ws, h, dh or gB. The next
  // fork's record of ls_fork on s comes after the previous function's lora_bwd_A* / up_add (which
  // read tmp_r and lora_ws) in s's order, so the side's next writes into them wait for those reads:
  // one pair of scratch serves both streams, no arena added (memory-estimate.ts unchanged). Every
  // fork is joined before its function returns (ls_abandon on the unwinding paths), so the step
  // still captures into one CUDA graph. s_ls runs only our kernels (no cuBLAS: no handle) and none
  // of them takes a group ticket (only lora_backward_group does, on s: ops/group_tickets.h bank 0).
  // Never while cs_on (the cross side's work is being recorded on s_cs); only bf16 activations
  // with lora_tc (the fp32 / ops/lora paths stay serial). The same kernels with the same operands:
  // the same bits. HUKUK_T5_LORA_SIDE_BWD=0 leaves the backward part out, HUKUK_T5_LORA_SIDE_FWD=1 adds
  // the forward part (off by default: it did not pay). H200, 2026-11-28 13:51 UTC (code ebf95fd, one
  // process per setting, 10 steps, ms/step): 16x64x128 off 28.33 / 28.52 / 28.20, both parts 28.12 /
  // 28.07, backward alone 27.79, forward alone 28.54; 16x512x512 off 119.09 / 119.23, both 118.99 /
  // 118.85; 8x512x512 off 66.94 / 66.78, both 66.92 / 66.97 (a down of ~5-10 us beside a GEMM of about
  // the same, against the join's cross-branch dependency; lora_up_backward is the longer kernel).
  // H200 13:56 UTC (code 1843088 + others' WIP, one process each, alternating): 16x64x128 off 28.32 /
  // 28.49 / 28.31, backward part 27.98 / 28.21 / 28.03, both parts 28.40; 16x512x512 off 119.06 /
  // 118.99, backward part 119.57 / 119.63 (slower: its 8192-row kernels fill the GPU alone);
  // 8x512x512 off 67.04 / 66.89, backward part 67.06 / 66.79. So only Linears of at most
  // kLoraSideMaxRows rows fork (16x64x128: all, 1024 and 2048 rows; 8x512x512 and 16x512x512: none,
  // the switch-off path), HUKUK_T5_LORA_SIDE_MAX_ROWS=n to move it (A/B). Over both calls, 16x64x128
  // off 28.20-28.52 (mean 28.36) against the backward part 27.79-28.21 (mean 28.00): -1.3 %.
  // on by default since 14:55 UTC 2026-11-28 (the backward part, up to kLoraSideMaxRows: the A/B above)
  static constexpr bool kLoraSideDefault = true;
  static constexpr bool kLoraSideFwdDefault = false;
  static constexpr int kLoraSideMaxRows = 2048;
  bool lora_side_fwd = false, lora_side_bwd = false;  // this plan
  int ls_max_rows = kLoraSideMaxRows;                 // this plan
  cudaStream_t s_ls = nullptr;
  cudaEvent_t ls_fork = nullptr, ls_join = nullptr;
  bool ls_live = false;  // s_ls forked and not yet joined
  // This plan's activation type (struct Acts): bf16 for bf16 compute (the base GEMMs then run
  // real bf16 tensor-core kernels and every pass moves half the bytes), fp32 otherwise; see
  // want_act_bf16. HUKUK_T5_ACT_BF16=0 keeps fp32 activations under bf16 compute (A/B).
  bool act_bf16 = false;
  // This plan runs bf16 activations' LoRA products on ops/lora_tc's tensor-core kernels where they
  // apply (tc::supported: r 16, widths 64..768); ops/lora's CUDA-core kernels otherwise.
  // HUKUK_T5_LORA_TC=0 keeps ops/lora's everywhere (A/B; read at each plan).
  bool lora_tc = false;
  // ... and lora_tc's lora_backward (the A side's grad-A + dx) too: measured SLOWER than ops/lora's on
  // an H200 (2026-11-28 03:56 UTC, bf16, 768 wide, r 16: 27.9 vs 14.2 µs at 2048 rows, 74.7 vs
  // 46.2 at 8192), so off unless HUKUK_T5_LORA_TC_BWD=1 (A/B; its workspace is sized either way)
  bool lora_tc_bwd = false;
  bool flash = false;           // this plan's attention runs on the fused kernels (ops/flash_attention.h)
  bool lora_fused = true;       // this plan's LoRA dropout products run on ops/lora.h's kernels
  bool lora_unfused_env = false;  // HUKUK_T5_FUSED_LORA=0 (A/B)
  bool lora_unbatched_env = false;  // HUKUK_T5_BATCH_LORA=0 (A/B)
  // HUKUK_T5_LORA_UP: "0" the B side on cuBLAS fp32 everywhere, "1" on ops/lora's lora_up_add /
  // lora_up_backward everywhere (the default before 2026-11-28 01:30), unset: per case, whichever
  // measured faster (up_fwd_ours / up_bwd_ours). HUKUK_T5_LORA_UP_FWD likewise for the forward alone.
  int lora_up_env = -1;
  bool lora_onepass_off_env = false;  // HUKUK_T5_LORA_ONEPASS=0: lora_grad_A + lora_dx, not lora_backward (A/B)
  int lora_up_fwd_env = -1;
  bool lora_up = true;  // this plan's LoRA B side may run on ops/lora.h's lora_up_add / lora_up_backward
  bool lora_up_fwd = true;  // ... and the forward's y += s·h·Bᵀ too
  size_t ff_grad_floats = 0;  // floats in each of g_ff0, g_ffh (the backward's FFN gradients)
  // This plan keeps the ReLU FFN's relu' as a bitmask (Acts::relu_mask) instead of the M x d_ff
  // hidden activation: a backward plan, ReLU not gated, and no wo with LoRA (wo's backward then
  // needs only dy · W, not its input). The forward writes the dropped hidden into g_ff0 (free until
  // the FFN's backward) for wo's GEMM. HUKUK_T5_RELU_BITMASK=0 keeps the hidden (A/B; read at each plan).
  bool ffn_bitmask = false;
  // This plan keeps no norm output (Acts::n1, nc, n3 nullptr): a backward plan writes them into g_d
  // (free in the forward) for the projections that read them, and the backward recomputes one
  // from the kept residual input and rstd (ops rmsnorm_apply: bit for bit the forward's) into g_d,
  // where a LoRA's A side needs it, right before that projection's backward (g_d's dy has been
  // consumed by then). HUKUK_T5_NORM_RECOMPUTE=0 keeps them (A/B; read at each plan).
  bool norms_recomputed = false;
  // This plan keeps no cross-attention K,V (Acts::ckh, cvh nullptr): the forward writes them into
  // g_ff0 (free until the FFN, which comes after), the backward computes them again there from
  // enc_out right before the cross attention's backward (the same products with the forward's
  // LoRA h, as a recompute re-run does: the same bits). Needs g_ff0 to hold them (2 Ms inner <=
  // Mx d_ff). HUKUK_T5_CROSS_KV_RECOMPUTE=0 keeps them (A/B; read at each plan).
  bool cross_kv_recomputed = false;
  // Within a block's backward, a norm's backward also writes the next sub-layer's residual
  // dropout backward (g_d) from the dx it stores (ops rmsnorm_backward_dropout: the same bits, one
  // pass fewer over the residual gradient): FFN -> cross / self attention, cross -> self.
  // HUKUK_T5_NORM_DROP_FUSE=0: two kernels (A/B; read at each plan).
  bool norm_drop_fused = true;
  // The forward's residual add of every sub-layer also computes the norm that opens the next one
  // (self -> cross / FFN, cross -> FFN, FFN -> the next block's self attention or the stack's final
  // norm) in one pass (ops dropout_add_rmsnorm: x_out, rstd and the norm output bit for bit
  // dropout_add then rmsnorm_forward, one launch and one fp32 read of the residual fewer); the
  // norm then skips its own launch. A stack's first norm and a recompute re-run's first norm
  // (nothing before it in the re-run) still run alone. HUKUK_T5_ADD_NORM_FUSE=1 (read at each plan;
  // default kAddNormFuseDefault). H200, 2026-11-28 08:57-09:00 UTC, flagship, ms/step off -> on (head
  // fp32): 16x64x128 35.4-35.8 -> 34.6-34.75, 16x512x512 144.7-145.2 -> 141.7-142.1; the step bit for
  // bit at fp32 compute, the forward bit for bit at bf16 (tests/native/cuda_t5.test.ts; the whole
  // file passed with it on). On by default (HUKUK_T5_ADD_NORM_FUSE=0: two kernels).
  static constexpr bool kAddNormFuseDefault = true;
  bool add_norm_fused = false;
  bool lora_down_grouped = true;  // HUKUK_T5_LORA_TC_DOWN_GROUP (read at each plan, like the switches above)
  // The ReLU FFN's backward under bf16 activations (ffn_bitmask, wo without LoRA): wo's input-gradient
  // GEMM writes bf16 straight into g_ff0 with the dropout scale 1/(1-p) as its alpha, and the
  // bitmask kernel then zeroes the dropped / inactive units in place (ops
  // act_dropout_backward_bitmask_prescaled), instead of an fp32 [M, d_ff] gradient in g_ffh read
  // back by the kernel: half the bytes written and read, one rounding as before (fl(acc·scale) to
  // bf16). HUKUK_T5_FFN_BWD_BF16 (read at each plan; default kFfnBwdBf16Default).
  // H200, 2026-11-28 11:17 UTC, flagship, ms/step default -> on (one process each): 16x64x128 31.76 ->
  // 31.55, 16x512x512 130.51 -> 129.34, 8x512x512 73.98 -> 73.12; the tiny bf16 step's grads the same
  // bits (tests/native/cuda_t5.test.ts). On by default (=0: the fp32 gradient in g_ffh).
  static constexpr bool kFfnBwdBf16Default = true;
  bool ffn_bwd_bf16 = false;
  // A block's last norm backward (its self attention's) also writes the dropout backward that opens
  // the next block's backward (the FFN residual's, g_d), as norm_drop_fused does within a block: one
  // launch and one fp32 read of the residual gradient fewer per block. Only where nothing runs
  // between the two (no re-run: planned_keep). HUKUK_T5_NORM_DROP_XBLOCK (read at each plan;
  // default kNormDropXblockDefault). With RELU_KEEP_MASK below, H200 11:17 UTC, ms/step default -> both
  // on: 31.76 -> 31.47, 130.51 -> 129.9, 73.98 -> 74.0 (noise); all three of these switches on: 31.24,
  // 128.1, 72.93 (-1.6 / -1.8 / -1.4 %). The step bit for bit (fp32 and bf16 tests). On by default.
  static constexpr bool kNormDropXblockDefault = true;
  bool norm_drop_xblock = false;
  // ffn_bitmask: the ReLU mask's bit also carries the FFN dropout's keep decision (ops
  // act_dropout_*_bitmask keep_in_mask), so the backward's mask kernel does no hashing (integer-bound
  // at d_ff widths); the same bits out. HUKUK_T5_RELU_KEEP_MASK (read at each plan; default
  // kReluKeepMaskDefault). On by default (measured with NORM_DROP_XBLOCK above).
  static constexpr bool kReluKeepMaskDefault = true;
  bool relu_keep_mask = false;
  bool rerunning = false;  // inside a block's re-run (recompute): the LoRA h of the forward are reused
  float *lora_ws = nullptr, *flash_scratch = nullptr;
  size_t lora_ws_floats = 0;
  float *enc_fin_rstd = nullptr, *dec_fin_rstd = nullptr, *dec_fin_n = nullptr, *dec_seq = nullptr,
        *logits = nullptr, *enc_bias = nullptr, *dec_bias = nullptr, *loss_rows = nullptr;
  void *enc_fin_n = nullptr, *enc_out = nullptr;  // act_t
  float *tmp_d = nullptr, *tmp_qkv = nullptr, *tmp_ctxh = nullptr, *tmp_lora_x = nullptr, *tmp_r = nullptr,
        *tmp_pd = nullptr;
  float *g_dec = nullptr, *g_enc = nullptr, *g_inner = nullptr, *gh_ctx = nullptr, *gh_qkv = nullptr,
        *g_dp = nullptr, *g_ffh = nullptr, *g_n = nullptr;
  // act_t: the masked residual gradient fed to o / wo (g_d), attention's dQ, dK, dV (g_qkv) and
  // the FFN input products' dy (g_ff0, g_ff1): all GEMM operands
  void *g_d = nullptr, *g_qkv = nullptr, *g_ff0 = nullptr, *g_ff1 = nullptr;
  int32_t *d_ids = nullptr, *d_mask = nullptr, *d_dec_ids = nullptr, *d_labels = nullptr;
  Shape bias_shape{};
  std::mutex mu;
  Profile prof;
  bool pdl_capable = false;  // compute capability 9+: a step may run with PDL (run())

  explicit T5Cuda(T5Impl& impl) : I(impl) {
    HUKUK_CHECK(hukuk::cuda::device_count() > 0, "ENGINE_CUDA", "device 'cuda' was asked for but no CUDA GPU is usable");
    prec = impl.load_opt.compute_bf16 ? oc::Precision::BF16 : oc::Precision::F32;
    {
      int dev = 0, major = 0;
      HUKUK_CUDA_CHECK(cudaGetDevice(&dev));
      HUKUK_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
      pdl_capable = major >= 9;  // griddepcontrol: sm_90+
    }
    if (prec == oc::Precision::BF16) {
      int dev = 0, major = 0;
      HUKUK_CUDA_CHECK(cudaGetDevice(&dev));
      HUKUK_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
      HUKUK_CHECK(major >= 8, "ENGINE_UNSUPPORTED", "compute 'bf16' needs an sm_80+ GPU; use compute 'fp32' here");
    }
    hukuk::cuda::cublas();  // fail early (ENGINE_NO_CUBLAS) rather than at the first step
    prof.on = std::getenv("HUKUK_T5_PROFILE") != nullptr;
    graphs_ok = !(std::getenv("HUKUK_T5_GRAPHS") && std::string(std::getenv("HUKUK_T5_GRAPHS")) == "0");
    lora_unfused_env = std::getenv("HUKUK_T5_FUSED_LORA") && std::string(std::getenv("HUKUK_T5_FUSED_LORA")) == "0";
    lora_unbatched_env = std::getenv("HUKUK_T5_BATCH_LORA") && std::string(std::getenv("HUKUK_T5_BATCH_LORA")) == "0";
    lora_up_env = env_switch("HUKUK_T5_LORA_UP");
    lora_onepass_off_env = std::getenv("HUKUK_T5_LORA_ONEPASS") && std::string(std::getenv("HUKUK_T5_LORA_ONEPASS")) == "0";
    lora_up_fwd_env = env_switch("HUKUK_T5_LORA_UP_FWD");
    HUKUK_CUDA_CHECK(cudaStreamCreate(&s));
    scalars.resize(2);
    d_seed = reinterpret_cast<uint64_t*>(scalars.get());
    d_gscale = reinterpret_cast<float*>(scalars.get() + 1);
    upload_weights();
  }
  ~T5Cuda() {
    drop_graphs();
    if (s) {
      cudaStreamSynchronize(s);
      cudaStreamDestroy(s);
    }
    if (s_pf) {
      cudaStreamSynchronize(s_pf);
      cudaStreamDestroy(s_pf);
    }
    for (cudaEvent_t e : {pf_fork, pf_join, pf_ready[0], pf_ready[1], pf_free[0], pf_free[1]})
      if (e) cudaEventDestroy(e);
    if (s_cs) {
      cudaStreamSynchronize(s_cs);
      if (hukuk::cuda::cublas_info().available) hukuk::cuda::cublas().release_handle(s_cs);  // never throws here
      cudaStreamDestroy(s_cs);
    }
    for (cudaEvent_t e : {cs_fork[0], cs_fork[1], cs_done[0], cs_done[1], cs_join, pf_cs_hold[0], pf_cs_hold[1], cs_kvr})
      if (e) cudaEventDestroy(e);
    if (s_ls) {
      cudaStreamSynchronize(s_ls);
      cudaStreamDestroy(s_ls);
    }
    for (cudaEvent_t e : {ls_fork, ls_join})
      if (e) cudaEventDestroy(e);
  }
  DeviceBuffer<uint64_t> scalars;

  void drop_graphs() {
    for (auto& g : graphs) cudaGraphExecDestroy(g.second);
    graphs.clear();
  }

  float* upload(const std::vector<float>& v) {
    owned.emplace_back(v.size());
    HUKUK_CUDA_CHECK(cudaMemcpy(owned.back().get(), v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice));
    weight_bytes += v.size() * sizeof(float);
    return owned.back().get();
  }

  float* upload_lin(const std::vector<float>& v, DLin* const* users, int n) {
    LinWeights& lw = lin_weights.emplace_back();
    lw.n = v.size();
    lw.f32.resize(v.size());
    HUKUK_CUDA_CHECK(cudaMemcpy(lw.f32.get(), v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice));
    weight_bytes += lw.f32.bytes();
    lw.users.assign(users, users + n);
    return lw.f32.get();
  }

  // bf16 activations (the first plan with them; want_act_bf16): every non-quantized Linear weight
  // becomes a bf16 copy and its fp32 one is freed. The bf16 products read the copy directly: the
  // same values as before, when weight<bf16_t> rounded the fp32 weight (oc::convert, nearest even)
  // into `deq` for each product. One way, decided at run time rather than at load so that a model
  // that never runs bf16 activations (fp32 compute, sm_75, HUKUK_T5_ACT_BF16=0, no fused
  // attention, r > 64) keeps its exact fp32 weights. A later fp32 plan (encode() for generation,
  // the env switch) widens the bf16 values back into `deq` per product (weight<float>, exact:
  // the bf16-rounded weight, which is bf16 compute's precision anyway), so `deq` grows here to a
  // whole fp32 weight (group) where it was sized for half; view() makes a lasting fp32 copy.
  // common/training/memory-estimate.ts mirrors the bytes (activations 'bf16').
  // HUKUK_T5_BF16_WEIGHTS=0 keeps the fp32 weights (A/B and the tests' reference; read at each plan).
  void weights_to_bf16() {
    if (weights_bf16 || env_switch("HUKUK_T5_BF16_WEIGHTS") == 0) return;
    HUKUK_CUDA_CHECK(cudaStreamSynchronize(s));
    size_t deq_need = deq.size();
    for (LinWeights& lw : lin_weights) {
      lw.b16.resize(lw.n);
      oc::convert(lw.f32.get(), lw.b16.get(), int64_t(lw.n), s);
      for (DLin* L : lw.users) {
        L->wb = lw.b16.get() + (L->w - lw.f32.get());
        L->w = nullptr;
      }
      HUKUK_CUDA_CHECK(cudaStreamSynchronize(s));
      weight_bytes = weight_bytes - lw.f32.bytes() + lw.b16.bytes();
      lw.f32.release();
      deq_need = std::max(deq_need, lw.n);
    }
    if (deq_need > deq.size()) {
      weight_bytes -= deq.bytes();
      deq.resize(deq_need);
      weight_bytes += deq.bytes();
    }
    weights_bf16 = true;
  }

  // view() (generation reads fp32 weights through DeviceLinearView.w): a lasting fp32 copy of the
  // bf16 values, made once; generation then runs on the bf16-rounded weights the training used.
  void weights_fp32_for_views() {
    for (LinWeights& lw : lin_weights) {
      if (lw.f32.get() || !lw.b16.get()) continue;
      lw.f32.resize(lw.n);
      widen_bf16(lw.b16.get(), lw.f32.get(), int64_t(lw.n), s);
      for (DLin* L : lw.users) L->w = lw.f32.get() + (L->wb - lw.b16.get());
      weight_bytes += lw.f32.bytes();
    }
    HUKUK_CUDA_CHECK(cudaStreamSynchronize(s));
  }

  void upload_linear(DLin& d, Linear& L, size_t& deq_max) {
    d.host = &L;
    d.in = L.in;
    d.out = L.out;
    if (L.out == 0) return;
    d.enc_rows = !L.decoder || (L.module == "EncDecAttention" && (L.kind == "k" || L.kind == "v"));
    if (L.q) {
      d.q = std::make_unique<nf4::cuda::Nf4Weight>(nf4::cuda::Nf4Weight::upload(*L.q, s));
      d.qv = d.q->view();
      weight_bytes += d.q->device_bytes();
      deq_max = std::max(deq_max, size_t(L.out) * L.in);
    } else {
      DLin* self[1] = {&d};
      d.w = upload_lin(L.w, self, 1);
      // compute bf16 with fp32 activations (r > 64, no fused attention, HUKUK_T5_ACT_BF16=0): the
      // fp32 weight is rounded into the scratch for each product (weight<T>) should a plan with
      // bf16 activations run before weights_to_bf16 (never today: plan() calls it first); half a
      // weight, mirrored by memory-estimate.ts
      if (prec == oc::Precision::BF16) deq_max = std::max(deq_max, (size_t(L.out) * L.in + 1) / 2);
    }
  }

  // q,k,v (or cross k,v): fp32 weights of one shape go side by side in one buffer, so their base
  // products run as one batched GEMM (NF4 ones are dequantized side by side instead).
  bool upload_group(DLin* const* ds, Linear* const* Ls, int n, size_t& deq_max) {
    bool same = true;
    for (int i = 0; i < n; ++i)
      same = same && Ls[i]->out > 0 && Ls[i]->in == Ls[0]->in && Ls[i]->out == Ls[0]->out &&
             bool(Ls[i]->q) == bool(Ls[0]->q);
    if (same && !Ls[0]->q) {
      const size_t one = size_t(Ls[0]->out) * Ls[0]->in;
      std::vector<float> all(n * one);
      for (int i = 0; i < n; ++i) {
        HUKUK_CHECK(Ls[i]->w.size() == one, "ENGINE_INTERNAL", "unexpected weight size for " + Ls[i]->name);
        std::memcpy(all.data() + i * one, Ls[i]->w.data(), one * sizeof(float));
      }
      float* base = upload_lin(all, ds, n);
      for (int i = 0; i < n; ++i) {
        DLin& d = *ds[i];
        d.host = Ls[i];
        d.in = Ls[i]->in;
        d.out = Ls[i]->out;
        d.enc_rows = !Ls[i]->decoder || (Ls[i]->module == "EncDecAttention" && (Ls[i]->kind == "k" || Ls[i]->kind == "v"));
        d.w = base + i * one;
      }
    } else {
      for (int i = 0; i < n; ++i) upload_linear(*ds[i], *Ls[i], deq_max);
    }
    if (same && Ls[0]->q) deq_max = std::max(deq_max, size_t(n) * Ls[0]->out * Ls[0]->in);
    else if (same && prec == oc::Precision::BF16) deq_max = std::max(deq_max, (size_t(n) * Ls[0]->out * Ls[0]->in + 1) / 2);
    return same && fusable(ds, n);
  }

  void upload_weights() {
    shared = upload(I.shared);
    if (!I.cfg.tie_word_embeddings) lm_head = upload(I.lm_head);
    enc_final_ln = upload(I.enc_final_ln);
    dec_final_ln = upload(I.dec_final_ln);
    size_t deq_max = 0;
    // HUKUK_T5_FUSE_QKV=0: one GEMM per projection (A/B of the batched q,k,v product)
    const bool no_fuse = std::getenv("HUKUK_T5_FUSE_QKV") && std::string(std::getenv("HUKUK_T5_FUSE_QKV")) == "0";
    auto blocks = [&](std::vector<Block>& hb, std::vector<DBlock>& db, bool decoder) {
      db.resize(hb.size());
      for (size_t l = 0; l < hb.size(); ++l) {
        Block& b = hb[l];
        DBlock& d = db[l];
        DLin* dqkv[3] = {&d.q, &d.k, &d.v};
        Linear* hqkv[3] = {&b.self.q, &b.self.k, &b.self.v};
        d.qkv_fused = upload_group(dqkv, hqkv, 3, deq_max) && !no_fuse;
        upload_linear(d.o, b.self.o, deq_max);
        if (decoder) {
          upload_linear(d.cq, b.cross.q, deq_max);
          DLin* dkv[2] = {&d.ck, &d.cv};
          Linear* hkv[2] = {&b.cross.k, &b.cross.v};
          d.ckv_fused = upload_group(dkv, hkv, 2, deq_max) && !no_fuse;
          upload_linear(d.co, b.cross.o, deq_max);
          d.ln_cross = upload(b.ln_cross);
        }
        upload_linear(d.wi, b.ff.wi, deq_max);
        upload_linear(d.wi0, b.ff.wi_0, deq_max);
        upload_linear(d.wi1, b.ff.wi_1, deq_max);
        upload_linear(d.wo, b.ff.wo, deq_max);
        d.ln_self = upload(b.ln_self);
        d.ln_ff = upload(b.ln_ff);
      }
    };
    blocks(I.enc, enc, false);
    blocks(I.dec, dec, true);
    pf_region_elems = 0;
    for (auto* bs : {&enc, &dec})
      for (DBlock& b : *bs) pf_region_elems = std::max(pf_region_elems, pf_assign(b));
    if (deq_max) deq.resize(deq_max);
    weight_bytes += deq.bytes();
    const int hb = env_switch("HUKUK_T5_HEAD_BF16");
    if (prec == oc::Precision::BF16 && (hb == -1 ? kHeadBf16Default : hb == 1)) {
      const size_t n = size_t(I.cfg.vocab_size) * I.cfg.d_model;
      head_b16.resize(n);
      oc::convert(head(), head_b16.get(), int64_t(n), s);
      weight_bytes += head_b16.bytes();
    }
    HUKUK_CUDA_CHECK(cudaDeviceSynchronize());
  }

  std::vector<DLin*> all_linears() {
    std::vector<DLin*> v;
    for (auto* bs : {&enc, &dec})
      for (DBlock& b : *bs)
        for (DLin* L : {&b.q, &b.k, &b.v, &b.o, &b.cq, &b.ck, &b.cv, &b.co, &b.wi, &b.wi0, &b.wi1, &b.wo})
          if (L->present()) v.push_back(L);
    return v;
  }

  // ---------------------------------------------------------------- LoRA state
  void lora_to_device() {
    loras.clear();
    size_t n = 0;
    for (DLin* L : all_linears()) {
      L->lora.reset();
      if (!L->host->lora) continue;
      n += L->host->lora->A.size() + L->host->lora->B.size();
    }
    lora_buf.release();
    lora_n = n;
    planned = Shape{};  // h buffers live in the arena: plan again
    drop_graphs();
    if (!n) return;
    lora_buf.resize(4 * n);
    float* base = lora_buf.get();
    HUKUK_CUDA_CHECK(cudaMemset(base, 0, 4 * n * sizeof(float)));
    size_t off = 0;
    for (DLin* L : all_linears()) {
      if (!L->host->lora) continue;
      LoraState& h = *L->host->lora;
      auto d = std::make_unique<DLora>();
      d->host = &h;
      d->r = h.r;
      d->scale = h.scale;
      d->dropout = h.dropout;
      const size_t na = h.A.size(), nb = h.B.size();
      d->A = base + off;
      d->B = base + off + na;
      d->gA = base + n + off;
      d->gB = base + n + off + na;
      d->mA = base + 2 * n + off;
      d->mB = base + 2 * n + off + na;
      d->vA = base + 3 * n + off;
      d->vB = base + 3 * n + off + na;
      auto put = [](float* dst, const std::vector<float>& src) {
        if (!src.empty()) HUKUK_CUDA_CHECK(cudaMemcpy(dst, src.data(), src.size() * sizeof(float), cudaMemcpyHostToDevice));
      };
      put(d->A, h.A); put(d->B, h.B); put(d->gA, h.gA); put(d->gB, h.gB);
      put(d->mA, h.mA); put(d->mB, h.mB); put(d->vA, h.vA); put(d->vB, h.vB);
      off += na + nb;
      loras.push_back(d.get());
      L->lora = std::move(d);
    }
  }

  void lora_to_host() {
    HUKUK_CUDA_CHECK(cudaDeviceSynchronize());
    for (DLora* d : loras) {
      LoraState& h = *d->host;
      auto get = [](std::vector<float>& dst, const float* src) {
        if (!dst.empty()) HUKUK_CUDA_CHECK(cudaMemcpy(dst.data(), src, dst.size() * sizeof(float), cudaMemcpyDeviceToHost));
      };
      get(h.A, d->A); get(h.B, d->B); get(h.gA, d->gA); get(h.gB, d->gB);
      get(h.mA, d->mA); get(h.mB, d->mB); get(h.vA, d->vA); get(h.vB, d->vB);
    }
  }

  std::vector<ParamRef> params() {
    std::vector<ParamRef> ps;
    for (DLora* d : loras) {
      const std::string& key = d->host->key;
      ps.push_back({key + ".lora_A.weight", d->A, d->gA, d->mA, d->vA, d->host->A.size(), true, DeviceKind::CUDA});
      ps.push_back({key + ".lora_B.weight", d->B, d->gB, d->mB, d->vB, d->host->B.size(), true, DeviceKind::CUDA});
    }
    return ps;
  }

  void zero_grad() {
    if (lora_n) HUKUK_CUDA_CHECK(cudaMemsetAsync(lora_buf.get() + lora_n, 0, lora_n * sizeof(float), s));
  }

  // ---------------------------------------------------------------- memory plan
  template <typename T>
  static T* take(Arena& a, size_t n) {
    return a.alloc_array<T>(std::max<size_t>(n, 1));
  }

  // One block's activations. q,k,v (and cross k,v) heads are adjacent, [3, B, H, T, dk], so one
  // layout permute serves all three.
  void block_layout(Arena& ar, Acts& a, const Shape& sh, size_t M, size_t Tq, bool decoder) {
    const T5Config& c = I.cfg;
    const size_t Ms = size_t(sh.B) * sh.S, d = c.d_model, inner = c.inner_dim(), ff = c.d_ff, H = c.num_heads;
    const size_t ab = act_bytes();
    auto f = [&](size_t n) { return take<float>(ar, n); };
    auto v = [&](size_t n) { return take_bytes(ar, n * ab); };  // act_t
    auto at = [&](void* p, size_t n) { return static_cast<void*>(static_cast<char*>(p) + n * ab); };
    a.n1 = norms_recomputed ? nullptr : v(M * d); a.rstd1 = f(M);
    // fused attention: q,k,v stay in rows layout, and the row log-sum-exp [B, H, Tq] replaces P
    a.qh = v(3 * M * inner); a.kh = at(a.qh, M * inner); a.vh = at(a.kh, M * inner);
    a.P = f(size_t(sh.B) * H * Tq * (flash ? 1 : Tq)); a.ctx = v(M * inner); a.x_mid = f(M * d);
    if (decoder) {
      a.nc = norms_recomputed ? nullptr : v(M * d); a.rstdc = f(M);
      a.cqh = v(M * inner);
      if (cross_kv_recomputed) a.ckh = a.cvh = nullptr;
      else { a.ckh = v(2 * Ms * inner); a.cvh = at(a.ckh, Ms * inner); }
      a.cP = f(size_t(sh.B) * H * sh.T * (flash ? 1 : sh.S)); a.cctx = v(M * inner); a.x_mid2 = f(M * d);
    }
    a.n3 = norms_recomputed ? nullptr : v(M * d); a.rstd3 = f(M);
    a.relu_mask = nullptr;
    if (ffn_bitmask) {  // relu' as bits; the hidden itself lives in g_ff0 (see ffn_fwd)
      a.pre0 = a.pre1 = a.hff = nullptr;
      a.relu_mask = take<uint32_t>(ar, (M * ff + 31) / 32);
      return;
    }
    a.pre0 = v(M * ff); a.pre1 = c.is_gated ? v(M * ff) : nullptr;
    // ReLU, not gated: the backward needs only where pre0 > 0, which the (dropped) output keeps
    // (a dropped position has a zero gradient anyway), so the activation is computed in place.
    a.hff = relu_in_place() ? a.pre0 : v(M * ff);
  }
  size_t act_bytes() const { return act_bf16 ? sizeof(bf16_t) : sizeof(float); }
  static void* take_bytes(Arena& a, size_t n) { return a.alloc(std::max<size_t>(n, 1)); }

  // keep: every block's activations stay for the backward (no recomputation). Otherwise only
  // the blocks' inputs (x_in) and the LoRA h stay; a block's activations live in one scratch
  // (the encoder's and the decoder's share memory: they are never live at once), refilled by
  // the backward's re-run of that block. common/training/memory-estimate.ts mirrors this.
  void layout(Arena& ar, const Shape& sh, bool backward, bool keep, bool use_flash, bool bf16_acts) {
    flash = use_flash;
    lora_fused = !lora_unfused_env;
    for (DLora* lo : loras) lora_fused = lora_fused && lo->r <= 64;  // ops/lora.h's kernels take r <= 64
    lora_up = lora_fused && lora_up_env != 0;
    lora_up_fwd = lora_up && lora_up_fwd_env != 0;
    act_bf16 = bf16_acts;
    lora_tc = bf16_acts && want_lora_tc();
    lora_tc_bwd = lora_tc && env_switch("HUKUK_T5_LORA_TC_BWD") == 1;
    {  // the LoRA side stream (see kLoraSideDefault): made now, outside any graph capture
      const int ls = lora_side_wanted(bf16_acts);
      lora_side_fwd = ls & 1;
      lora_side_bwd = ls & 2;
      ls_max_rows = lora_side_max_rows();
      if (ls) ls_create();
    }
    ffn_bitmask = backward && relu_in_place() && !any_wo_lora() && env_switch("HUKUK_T5_RELU_BITMASK") != 0;
    norms_recomputed = backward && env_switch("HUKUK_T5_NORM_RECOMPUTE") != 0;
    norm_drop_fused = env_switch("HUKUK_T5_NORM_DROP_FUSE") != 0;
    {
      const int e = env_switch("HUKUK_T5_ADD_NORM_FUSE");
      add_norm_fused = e == -1 ? kAddNormFuseDefault : e == 1;
    }
    lora_down_grouped = env_switch("HUKUK_T5_LORA_TC_DOWN_GROUP") != 0;
    {
      const int e = env_switch("HUKUK_T5_FFN_BWD_BF16");
      ffn_bwd_bf16 = bf16_acts && ffn_bitmask && (e == -1 ? kFfnBwdBf16Default : e == 1);
      const int x = env_switch("HUKUK_T5_NORM_DROP_XBLOCK");
      norm_drop_xblock = backward && keep && norm_drop_fused && (x == -1 ? kNormDropXblockDefault : x == 1);
      const int k = env_switch("HUKUK_T5_RELU_KEEP_MASK");
      relu_keep_mask = ffn_bitmask && (k == -1 ? kReluKeepMaskDefault : k == 1);
    }
    cross_kv_recomputed = backward && 2 * size_t(sh.B) * sh.S * I.cfg.inner_dim() <=
                                          size_t(sh.B) * std::max(sh.S, sh.T) * size_t(I.cfg.d_ff) &&
                          env_switch("HUKUK_T5_CROSS_KV_RECOMPUTE") != 0;
    const T5Config& c = I.cfg;
    const size_t Ms = size_t(sh.B) * sh.S, Mt = size_t(sh.B) * sh.T, Mx = std::max(Ms, Mt);
    const size_t d = c.d_model, inner = c.inner_dim(), ff = c.d_ff, H = c.num_heads;
    auto f = [&](size_t n) { return take<float>(ar, n); };
    auto v = [&](size_t n) { return take_bytes(ar, n * act_bytes()); };  // act_t
    ea.assign(enc.size() + 1, Acts{});
    da.assign(dec.size() + 1, Acts{});
    for (size_t l = 0; l <= enc.size(); ++l) {
      ea[l].x_in = f(Ms * d);
      if (l < enc.size() && keep) block_layout(ar, ea[l], sh, Ms, sh.S, false);
    }
    enc_fin_rstd = f(Ms); enc_fin_n = v(Ms * d); enc_out = v(Ms * d);
    enc_bias = f(H * sh.S * sh.S);
    for (size_t l = 0; l <= dec.size(); ++l) {
      da[l].x_in = f(Mt * d);
      if (l < dec.size() && keep) block_layout(ar, da[l], sh, Mt, sh.T, true);
    }
    dec_fin_rstd = f(Mt); dec_fin_n = f(Mt * d); dec_seq = f(Mt * d);
    dec_seq_b16 = head_b16.get() ? static_cast<bf16_t*>(take_bytes(ar, Mt * d * sizeof(bf16_t))) : nullptr;
    dec_bias = f(H * sh.T * sh.T);
    head_rows = head_chunk_rows(Mt);
    logits = f(head_rows * c.vocab_size);  // one chunk of rows (head_and_loss)
    loss_rows = f(Mt);
    size_t rmax = 1, inmax = std::max({d, inner, ff}), ws = 0;
    for (DLin* L : all_linears())
      if (L->lora) {
        const size_t M = L->enc_rows ? Ms : Mt;
        rmax = std::max(rmax, size_t(L->lora->r));
        L->lora->h = backward ? f(M * L->lora->r) : nullptr;  // read by the backward only
        if (lora_fused) {  // one scratch for all (used one op at a time on the stream), whatever the switches
          const int r = L->lora->r;
          // (lora_backward's split plan aims at fewer blocks: never more than grad-A's, so the
          // arena, and common/training/memory-estimate.ts, are what they were)
          ws = std::max({ws, oc::lora_grad_A_workspace_floats(int(M), L->in, r),
                         oc::lora_backward_workspace_floats(int(M), L->in, r)});
          // bf16 activations run every B side on ops/lora (cuBLAS cannot mix an fp32 h with a
          // bf16 y), lora_up_backward with this scratch too (a group of up to 3 members)
          if (act_bf16) ws = std::max(ws, oc::lora_up_backward_workspace_floats(int(M), L->out, r, group_members(*L)));
          if (tc_in(r, L->in)) ws = std::max(ws, oc::tc::lora_backward_workspace_floats(int(M), L->in, r));
          if (tc_in(r, L->out))
            ws = std::max(ws, oc::tc::lora_up_backward_workspace_floats(int(M), L->out, r, group_members(*L)));
        }
      }
    const size_t pmax = size_t(sh.B) * H * std::max({size_t(sh.S) * sh.S, size_t(sh.T) * sh.T, size_t(sh.T) * sh.S});
    tmp_d = f(Mx * d);
    tmp_qkv = tmp_ctxh = tmp_pd = tmp_lora_x = lora_ws = nullptr;
    if (!flash) { tmp_qkv = f(3 * Mx * inner); tmp_ctxh = f(Mx * inner); tmp_pd = f(pmax); }
    lora_ws_floats = lora_fused ? ws : 0;
    if (lora_fused) lora_ws = ws ? f(ws) : nullptr;
    else tmp_lora_x = f(Mx * inmax);
    tmp_r = f(3 * Mx * rmax);  // a group's (q,k,v) batched LoRA uses one slot per member
    d_ids = take<int32_t>(ar, Ms); d_mask = take<int32_t>(ar, Ms);
    d_dec_ids = take<int32_t>(ar, Mt); d_labels = take<int32_t>(ar, Mt);
    ff_grad_floats = 0;
    if (backward) {
      g_dec = f(Mt * d); g_enc = f(Ms * d); g_d = v(Mx * d); g_inner = f(Mx * inner); g_qkv = v(3 * Mx * inner);
      if (flash) {
        flash_scratch = f(flash_scratch_floats(sh));
      } else {
        gh_ctx = f(Mx * inner); gh_qkv = f(3 * Mx * inner); g_dp = f(pmax);
      }
      g_ff0 = v(Mx * ff); g_ff1 = c.is_gated ? v(Mx * ff) : nullptr; g_ffh = f(Mx * ff); g_n = f(Mx * d);
      ff_grad_floats = Mx * ff;
    }
    // NF4 prefetch: two regions of the largest block's NF4 weights in bf16 (they replace deq_self
    // and deq_cross: a block's re-run and backward read its region)
    deq_prefetch = pf_wanted(bf16_acts);
    pf_region[0] = pf_region[1] = nullptr;
    if (deq_prefetch)
      for (void*& r : pf_region) r = take_bytes(ar, pf_region_elems * sizeof(bf16_t));
    // the cross K,V backward's side stream (see cross_side): two dK,dV slots, its own LoRA scratch
    cross_side = cross_side_wanted(backward, bf16_acts, use_flash, deq_prefetch);
    cross_side_fwd = cross_side && env_switch("HUKUK_T5_CROSS_SIDE_FWD") != 0;
    cross_side_kv = cross_side && cross_kv_recomputed && env_switch("HUKUK_T5_CROSS_SIDE_KV") != 0;
    cs_dkv[0] = cs_dkv[1] = nullptr;
    cs_tmp_r = cs_ws = cs_gws = nullptr;
    cs_gws_floats = 0;
    // the stream, its events and its cuBLAS handle now, outside any graph capture
    if (cross_side) cs_create();
    if (cross_side) {
      for (void*& k : cs_dkv) k = v(2 * Ms * inner);
      cs_tmp_r = f(2 * Ms * rmax);
      if (lora_ws) cs_ws = f(lora_ws_floats);
      for (DBlock& b : dec)
        for (DLin* L : {&b.ck, &b.cv})
          if (L->present() && L->lora) {
            const int r = L->lora->r;
            if (oc::tc::lora_backward_group_supported(r, L->in, 2))
              cs_gws_floats = std::max(cs_gws_floats, oc::tc::lora_backward_group_workspace_floats(int(Ms), L->in, r, 2));
            if (oc::lora_backward_group_supported(r, L->in, 2))
              cs_gws_floats = std::max(cs_gws_floats, oc::lora_backward_group_workspace_floats(int(Ms), L->in, r, 2));
          }
      if (cs_gws_floats) cs_gws = f(cs_gws_floats);
    }
    deq_self = deq_cross = nullptr;
    if (!keep) {
      // NF4 q,k,v (cross k,v) dequantized by a block's re-run stay here for its backward
      if (any_group_nf4(false) && !deq_prefetch) deq_self = v(3 * inner * d);
      if (any_group_nf4(true) && !deq_prefetch) deq_cross = v(2 * inner * d);
      const size_t m = ar.mark();
      if (!enc.empty()) block_layout(ar, ea_scr, sh, Ms, sh.S, false);
      ar.reset(m);
      if (!dec.empty()) block_layout(ar, da_scr, sh, Mt, sh.T, true);
    }
  }

  // allow_bf16: false keeps fp32 activations whatever want_act_bf16 says (encode: generation
  // reads the encoder output as fp32)
  void plan(const Shape& sh, bool backward, bool recompute, bool use_flash, bool allow_bf16 = true) {
    const bool bf16_acts = allow_bf16 && want_act_bf16(use_flash);
    const bool keep = backward && !recompute;
    // a forward reuses any plan of its shape and attention kind; a backward needs one made for
    // it, in its mode
    if (planned == sh && flash == use_flash && act_bf16 == bf16_acts && lora_tc == (bf16_acts && want_lora_tc()) &&
        lora_tc_bwd == (lora_tc && env_switch("HUKUK_T5_LORA_TC_BWD") == 1) && deq_prefetch == pf_wanted(bf16_acts) &&
        (backward ? planned_bwd && planned_keep == keep &&
                        cross_side == cross_side_wanted(true, bf16_acts, use_flash, pf_wanted(bf16_acts))
                  : true) &&
        (int(lora_side_fwd) | int(lora_side_bwd) << 1) == lora_side_wanted(bf16_acts) &&
        ls_max_rows == lora_side_max_rows())
      return;
    // Forget the old plan first: the measuring layout below overwrites the activation pointers
    // and the resize can throw (out of memory), and a later call of the old shape must then plan
    // again, not run (or replay a graph) on stale pointers.
    planned = Shape{};
    planned_bwd = false;
    bias_shape = Shape{};
    drop_graphs();
    if (bf16_acts) weights_to_bf16();
    Arena measure;
    layout(measure, sh, backward, keep, use_flash, bf16_acts);
    const size_t need = measure.high_water();
    // grow when too small, shrink when under half used (a smaller shape bucket after a larger one)
    if (need > arena_buf.size() || need < arena_buf.size() / 2) {
      arena_buf.release();  // never hold two arenas at once
      arena_buf.resize(need);
    }
    drop_graphs();  // captured pointers are the old plan's
    Arena real(arena_buf.get(), arena_buf.size());
    layout(real, sh, backward, keep, use_flash, bf16_acts);
    arena_high = std::max(arena_high, need);
    arena_plan = need;
    planned = sh;
    planned_bwd = backward;
    planned_keep = keep;
    bias_shape = Shape{};
  }

  // Activations of block l: its own (keep) or the shared scratch with the block's stored input.
  template <typename T>
  ActsT<T> acts(bool decoder, size_t l) const {
    const std::vector<Acts>& v = decoder ? da : ea;
    if (planned_keep) return ActsT<T>(v[l]);
    Acts a = decoder ? da_scr : ea_scr;
    a.x_in = v[l].x_in;
    return ActsT<T>(a);
  }

  // The fused attention serves bf16 compute on sm_80+ (flash_supported); HUKUK_T5_FLASH=0 turns it
  // off (A/B). fp32 compute keeps the exact unfused path (parity at the CPU tolerances).
  bool want_flash(const Shape& sh) {
    if (p_attn != oc::Precision::BF16) return false;
    const char* e = std::getenv("HUKUK_T5_FLASH");
    if (e && std::string(e) == "0") return false;
    const Ctx st{false, true, d_seed};
    const int dk = I.cfg.d_kv;
    return oc::flash_supported(self_args(sh, false, st, 0), dk) && oc::flash_supported(self_args(sh, true, st, 0), dk) &&
           oc::flash_supported(cross_args(sh, st, 0), dk);
  }

  // bf16 activations (struct Acts) under bf16 compute in every product family (HUKUK_T5_F32
  // unset), with the fused attention (the unfused path is fp32 only) and ops/lora's kernels for
  // every LoRA (ranks <= 64: they carry the whole LoRA there, B side included); fp32 otherwise.
  bool want_act_bf16(bool use_flash) const {
    using P = oc::Precision;
    // (the switch is read here, not at load, so a benchmark can A/B it on one model: a change
    // re-plans)
    const bool off_env = env_switch("HUKUK_T5_ACT_BF16") == 0;
    // compute bf16 at load (not only HUKUK_T5_GEMM=bf16 at run time): upload_weights sized the
    // bf16 weight scratch and the constructor checked for sm_80+ then
    if (off_env || !I.load_opt.compute_bf16 || prec != P::BF16 || p_fwd != P::BF16 || p_bwd != P::BF16 || !use_flash) return false;
    if (lora_unfused_env || lora_onepass_off_env || lora_up_env == 0 || lora_up_fwd_env == 0) return false;
    for (const DLora* lo : loras)
      if (lo->r > 64) return false;
    return true;
  }
  static bool want_lora_tc() { return env_switch("HUKUK_T5_LORA_TC") != 0; }
  // A bf16-activation LoRA product of rank r over `width` columns runs on ops/lora_tc
  bool tc_in(int r, int width) const { return lora_tc && oc::tc::supported(r, width); }

  // The fused attention backward's scratch: its row sums D [B, H, Tq], and for bf16 I/O an fp32
  // dQ accumulator [B, Tq, H*dk], for the longest query side of the three attentions.
  size_t flash_scratch_floats(const Shape& sh) {
    const Ctx st{false, true, d_seed};
    const int dk = I.cfg.d_kv;
    return size_t(std::max({oc::flash_backward_scratch_floats(self_args(sh, false, st, 0), dk, act_bf16),
                            oc::flash_backward_scratch_floats(self_args(sh, true, st, 0), dk, act_bf16),
                            oc::flash_backward_scratch_floats(cross_args(sh, st, 0), dk, act_bf16)}));
  }

  void set_family_precisions() {
    const char* e = std::getenv("HUKUK_T5_F32");
    const std::string v = e ? e : "";
    auto pick = [&](const char* family, oc::Precision def) {
      return v.find(family) != std::string::npos ? oc::Precision::F32 : def;
    };
    const oc::Precision f = pick("proj_fwd", prec), b = pick("proj_bwd", prec), a = pick("attn", prec), h = pick("head", prec);
    if (f != p_fwd || b != p_bwd || a != p_attn || h != p_head) drop_graphs();
    p_fwd = f; p_bwd = b; p_attn = a; p_head = h;
  }

  // ---------------------------------------------------------------- Linear (+ LoRA)
  // A Linear's base weight as the GEMM's operand type: fp32 as stored (or NF4 dequantized to
  // fp32) for fp32 activations; for bf16 activations NF4 dequantized to bf16 (bitsandbytes' value
  // rounded once, as its bf16 QLoRA path does) or the fp32 weight's bf16 copy (weights_to_bf16;
  // rounded into the scratch `deq` if there is none). fp32 after weights_to_bf16: the bf16 copy
  // widened into `deq` (exact), unless view() made a lasting fp32 copy.
  template <typename T>
  const T* weight(DLin& L) {
    if constexpr (is_f32<T>) {
      if (!L.q && L.w) return L.w;
      if (!L.q) widen_bf16(L.wb, deq.get(), int64_t(L.out) * L.in, s);
      else nf4::cuda::dequantize_f32(L.q->view(), deq.get(), s);
      return deq.get();
    } else {
      if (!L.q && L.wb) return L.wb;
      if (L.q && deq_prefetch) return pf_weight(L);  // prefetched with its block
      bf16_t* dst = reinterpret_cast<bf16_t*>(deq.get());
      if (L.q) nf4::cuda::dequantize_bf16(L.q->view(), reinterpret_cast<uint16_t*>(dst), s);
      else oc::convert(L.w, dst, int64_t(L.out) * L.in, s);
      return dst;
    }
  }

  // q,k,v (n = 3) or cross k,v (n = 2) whose base products run as one batched GEMM: all NF4, or
  // all fp32 and uploaded side by side (upload_weights), same shape.
  static bool fusable(DLin* const* Ls, int n) {
    for (int i = 0; i < n; ++i)
      if (!Ls[i]->present() || Ls[i]->in != Ls[0]->in || Ls[i]->out != Ls[0]->out || bool(Ls[i]->q) != bool(Ls[0]->q))
        return false;
    if (Ls[0]->q) return true;
    for (int i = 1; i < n; ++i)
      if (Ls[i]->w != Ls[0]->w + size_t(i) * Ls[0]->out * Ls[0]->in) return false;
    return true;
  }
  bool any_group_nf4(bool cross) {
    for (DBlock& b : cross ? dec : enc)
      if (cross ? b.ckv_fused && b.ck.q : b.qkv_fused && b.q.q) return true;
    if (!cross)
      for (DBlock& b : dec)
        if (b.qkv_fused && b.q.q) return true;
    return false;
  }
  // The n consecutive base weights of a fused group. NF4 (and, for bf16 activations, fp32 ones
  // rounded): written into `region` (the arena's scratch in recompute mode, else the general one)
  // unless `dequantized` says they already are.
  template <typename T>
  const T* group_weights(DLin* const* Ls, int n, void* region, bool dequantized) {
    if constexpr (is_f32<T>) {
      if (!Ls[0]->q && Ls[0]->w) return Ls[0]->w;
    } else {
      if (!Ls[0]->q && Ls[0]->wb) return Ls[0]->wb;  // weights_to_bf16 kept the group side by side
      if (Ls[0]->q && deq_prefetch) return pf_weight(*Ls[0]);  // prefetched, members side by side (pf_assign)
    }
    T* dst = region ? tp<T>(region) : reinterpret_cast<T*>(deq.get());
    if (dequantized) return dst;
    if (Ls[0]->q) {  // fusable: all NF4 of one shape, dequantized in one launch
      const nf4::cuda::DeviceNf4* ws[3] = {};
      for (int i = 0; i < n; ++i) ws[i] = &Ls[i]->qv;
      if constexpr (is_f32<T>) nf4::cuda::dequantize_group_f32(ws, n, dst, s);
      else nf4::cuda::dequantize_group_bf16(ws, n, reinterpret_cast<uint16_t*>(dst), s);
    } else if constexpr (!is_f32<T>) {  // fp32 weights side by side, rounded for bf16 activations
      oc::convert(Ls[0]->w, dst, int64_t(n) * Ls[0]->out * Ls[0]->in, s);
    } else {  // bf16 copies side by side (weights_to_bf16), widened for fp32 activations
      widen_bf16(Ls[0]->wb, dst, int64_t(n) * Ls[0]->out * Ls[0]->in, s);
    }
    return dst;
  }

  // ---------------------------------------------------------------- NF4 prefetch (see deq_prefetch)
  // A block's NF4 Linears, in the order of their region layout.
  static std::array<DLin*, 12> block_linears(DBlock& b) {
    return {&b.q, &b.k, &b.v, &b.o, &b.cq, &b.ck, &b.cv, &b.co, &b.wi, &b.wi0, &b.wi1, &b.wo};
  }
  // Block b's NF4 weights side by side in one bf16 region: each at a 128-element (256-byte)
  // boundary (the list kernel's 16-byte stores need 8), except that a fused group's members follow
  // each other (its one batched GEMM reads them at one stride). Sets each pf_off; returns the
  // block's elements. common/training/memory-estimate.ts mirrors it (prefetchRegionElems).
  static size_t pf_assign(DBlock& b) {
    size_t off = 0;
    for (DLin* L : block_linears(b)) {
      if (!L->present() || !L->q) continue;
      const bool follows = (b.qkv_fused && (L == &b.k || L == &b.v)) || (b.ckv_fused && L == &b.cv);
      if (!follows) off = (off + 127) / 128 * 128;
      L->pf_off = off;
      off += size_t(L->out) * L->in;
    }
    return off;
  }
  bool pf_wanted(bool bf16_acts) const {
    const int e = env_switch("HUKUK_T5_DEQ_PREFETCH");
    return bf16_acts && pf_region_elems > 0 && (e == -1 ? kDeqPrefetchDefault : e == 1);
  }
  // NF4 weight L of the block the main stream is in, from its region.
  const bf16_t* pf_weight(const DLin& L) const {
    const char* p = reinterpret_cast<const char*>(&L);
    const char* b = reinterpret_cast<const char*>(pf_block);
    HUKUK_CHECK(pf_cur && p >= b && p < b + sizeof(DBlock), "ENGINE_INTERNAL",
                "NF4 prefetch: " + L.host->name + " read outside its block's turn");
    return pf_cur + L.pf_off;
  }
  // The lowest block each backward reaches (decoder_backward / encoder_backward loop down to it).
  int dec_bwd_lowest(bool need_enc) {
    if (need_enc) return 0;
    int lowest = int(dec.size());
    for (size_t l = 0; l < dec.size(); ++l)
      if (block_has_lora(dec[l])) lowest = std::min(lowest, int(l));
    return lowest;
  }
  int enc_bwd_lowest() {
    int lowest = int(enc.size());
    for (size_t l = 0; l < enc.size(); ++l)
      if (block_has_lora(enc[l])) lowest = std::min(lowest, int(l));
    return lowest;
  }
  // Dequantizes the next planned use's block into its region on s_pf, then marks it ready.
  void pf_issue() {
    DBlock& b = *pf_seq[pf_issued];
    const int r = int(pf_issued % 2);
    const nf4::cuda::DeviceNf4* ws[nf4::cuda::kDequantizeListMax];
    uint16_t* outs[nf4::cuda::kDequantizeListMax];
    int n = 0;
    for (DLin* L : block_linears(b))
      if (L->present() && L->q) {
        ws[n] = &L->qv;
        outs[n++] = static_cast<uint16_t*>(pf_region[r]) + L->pf_off;
      }
    nf4::cuda::dequantize_list_bf16(ws, outs, n, s_pf);
    HUKUK_CUDA_CHECK(cudaEventRecord(pf_ready[r], s_pf));
    ++pf_issued;
  }
  // The step's start (main stream s): plans the block uses (the forward's, then the backward's in
  // reverse, as the loops run them), forks s_pf from s and launches the first two prefetches.
  void pf_begin(bool do_bwd, bool need_enc) {
    pf_reset();
    if (!deq_prefetch) return;
    auto use = [&](DBlock& b) {
      if (pf_seq.empty() || pf_seq.back() != &b) pf_seq.push_back(&b);
    };
    for (DBlock& b : enc) use(b);
    for (DBlock& b : dec) use(b);
    if (do_bwd) {
      for (int l = int(dec.size()) - 1; l >= dec_bwd_lowest(need_enc); --l) use(dec[size_t(l)]);
      if (need_enc)
        for (int l = int(enc.size()) - 1; l >= enc_bwd_lowest(); --l) use(enc[size_t(l)]);
    }
    if (pf_seq.empty()) return;
    if (!s_pf) {  // the events first: s_pf set means all of them exist
      for (cudaEvent_t* e : {&pf_fork, &pf_join, &pf_ready[0], &pf_ready[1], &pf_free[0], &pf_free[1]})
        if (!*e) HUKUK_CUDA_CHECK(cudaEventCreateWithFlags(e, cudaEventDisableTiming));
      HUKUK_CUDA_CHECK(cudaStreamCreateWithFlags(&s_pf, cudaStreamNonBlocking));
    }
    HUKUK_CUDA_CHECK(cudaEventRecord(pf_fork, s));
    HUKUK_CUDA_CHECK(cudaStreamWaitEvent(s_pf, pf_fork, 0));
    while (pf_issued < std::min<size_t>(2, pf_seq.size())) pf_issue();
  }
  // The main stream enters block b (a no-op while it is still in b): it leaves the previous block's
  // region to the prefetch two uses ahead, then waits for b's.
  void pf_enter(const DBlock& b) {
    if (!deq_prefetch || pf_seq.empty()) return;
    if (pf_active >= 0 && pf_seq[size_t(pf_active)] == &b) return;
    const size_t next = size_t(pf_active + 1);
    HUKUK_CHECK(next < pf_seq.size() && pf_seq[next] == &b, "ENGINE_INTERNAL", "NF4 prefetch: a block out of the planned order");
    if (pf_active >= 0) {
      const int r = int(pf_active % 2);
      HUKUK_CUDA_CHECK(cudaEventRecord(pf_free[r], s));
      if (pf_issued < pf_seq.size()) {
        HUKUK_CUDA_CHECK(cudaStreamWaitEvent(s_pf, pf_free[r], 0));
        if (pf_cs_held[r]) HUKUK_CUDA_CHECK(cudaStreamWaitEvent(s_pf, pf_cs_hold[r], 0));  // the side read it too
        pf_cs_held[r] = false;
        pf_issue();
      }
    }
    pf_active = long(next);
    HUKUK_CUDA_CHECK(cudaStreamWaitEvent(s, pf_ready[next % 2], 0));
    pf_block = &b;
    pf_cur = static_cast<const bf16_t*>(pf_region[next % 2]);
  }
  // The step's end: s_pf joins s (before a capture ends; the next step's fork orders it after).
  void pf_end() {
    if (!pf_seq.empty()) {
      HUKUK_CUDA_CHECK(cudaEventRecord(pf_join, s_pf));
      HUKUK_CUDA_CHECK(cudaStreamWaitEvent(s, pf_join, 0));
    }
    pf_reset();
  }

  // pf_end for the unwinding path: no checks (it runs in a destructor), the same join and reset.
  void pf_abandon() noexcept {
    if (pf_seq.empty()) return;
    if (s_pf && pf_join) {
      (void)cudaEventRecord(pf_join, s_pf);
      (void)cudaStreamWaitEvent(s, pf_join, 0);
    }
    pf_reset();
  }
  // No block planned or entered: the state pf_begin starts from and pf_end / pf_abandon leave.
  void pf_reset() noexcept {
    pf_seq.clear();
    pf_issued = 0;
    pf_active = -1;
    pf_block = nullptr;
    pf_cur = nullptr;
    pf_cs_held[0] = pf_cs_held[1] = false;
  }

  // ---------------------------------------------------------------- cross K,V backward on s_cs (see cross_side)
  // Whether a plan runs it: a backward plan of bf16 activations (the fused attention writes dK,dV
  // where it is told; the LoRA scratch is lora_ws, never g_ff0) whose decoder cross k,v weights need
  // no dequantization scratch: NF4 prefetched into the block's region, or bf16 copies (wb).
  bool cross_side_wanted(bool backward, bool bf16_acts, bool use_flash, bool prefetch) const {
    const int e = env_switch("HUKUK_T5_CROSS_SIDE");
    if (!backward || !bf16_acts || !use_flash || dec.empty() || !(e == -1 ? kCrossSideDefault : e == 1)) return false;
    for (const DBlock& b : dec)
      for (const DLin* L : {&b.ck, &b.cv})
        if (L->present() && (L->q ? !prefetch : !L->wb)) return false;
    return true;
  }
  // Main stream, before the cross attention's backward of layer l: its dK,dV slot, once the side is
  // done with the layer that used it before (l + 2).
  template <typename T>
  T* cs_slot(int l) {
    const int k = l & 1;
    if (cs_slot_busy[k]) HUKUK_CUDA_CHECK(cudaStreamWaitEvent(s, cs_done[k], 0));
    return tp<T>(cs_dkv[k]);
  }
  // While recording the side's work: its stream and LoRA scratch in place of the main ones (the
  // kernels' code is the main path's; group_scratch picks cs_gws for g_ffh).
  struct CsScope {
    T5Cuda& t;
    cudaStream_t s0;
    float *r0, *w0;
    // the LoRA group kernels' ticket bank 1 while issuing on s_cs (ops/group_tickets.h: their
    // launches on s and s_cs may run at once; one bank would interleave their tickets)
    oc::GroupTicketBankScope bank{1};
    explicit CsScope(T5Cuda& x) : t(x), s0(x.s), r0(x.tmp_r), w0(x.lora_ws) {
      t.s = t.s_cs;
      t.tmp_r = t.cs_tmp_r;
      t.lora_ws = t.cs_ws;
      t.cs_on = true;
    }
    ~CsScope() {
      t.s = s0;
      t.tmp_r = r0;
      t.lora_ws = w0;
      t.cs_on = false;
    }
    CsScope(const CsScope&) = delete;
    CsScope& operator=(const CsScope&) = delete;
  };
  // Main stream, right after the cross attention's backward of layer l wrote dK,dV (gkv, its
  // slot): forks s_cs there and records the layer's k,v backward on it.
  void cs_create() {
    if (s_cs) return;  // the events first: s_cs set means all of them exist
    for (cudaEvent_t* e : {&cs_fork[0], &cs_fork[1], &cs_done[0], &cs_done[1], &cs_join, &pf_cs_hold[0], &pf_cs_hold[1], &cs_kvr})
      if (!*e) HUKUK_CUDA_CHECK(cudaEventCreateWithFlags(e, cudaEventDisableTiming));
    cudaStream_t made = nullptr;
    HUKUK_CUDA_CHECK(cudaStreamCreateWithFlags(&made, cudaStreamNonBlocking));
    // its own cuBLAS handle (own default workspace): its GEMMs run beside the main stream's; made
    // before s_cs is published, so a failure leaves no stream without its handle
    try {
      hukuk::cuda::cublas().own_handle(made);
    } catch (...) {
      cudaStreamDestroy(made);
      throw;
    }
    s_cs = made;
  }
  // Where layer l's cross K,V go when s_cs computes them in the forward: the kept ones (the backward
  // reads them), else the layer's slot (the backward computes them again, or re-runs the block).
  template <typename T>
  T* cs_kv(const ActsT<T>& a, int l) const {
    return planned_keep && a.ckh ? a.ckh : tp<T>(cs_dkv[l & 1]);
  }
  // Decoder forward (cross_side_fwd), the main stream before layer l: records layer l's cross K,V
  // on s_cs once its slot is free (cs_fork[l % 2]: the cross attention of layer l - 2 read it, or
  // the decoder's start) and, under the NF4 prefetch, once the block's region is filled (the main
  // stream is in the use before, so the block's prefetch has been issued: pf_ready); marks them
  // ready (cs_done[l % 2]). The main stream stays in its block; the region is refilled only after
  // the main stream leaves block l, after it waited for cs_done.
  template <typename T>
  void cross_kv_fwd_side(int l, const Shape& sh, const Ctx& st, bool save) {
    const int k = l & 1;
    HUKUK_CUDA_CHECK(cudaStreamWaitEvent(s_cs, cs_fork[k], 0));
    cross_kv_side<T>(l, cs_kv(acts<T>(true, size_t(l)), l), sh, st, save, false);
    HUKUK_CUDA_CHECK(cudaEventRecord(cs_done[k], s_cs));
  }
  // Records decoder layer l's cross K,V projections of enc_out into dst on s_cs (already ordered
  // after what it needs on the main stream): the forward's (again: the backward's recompute with the
  // forward's LoRA h, as cross_kv_again). Its NF4 weights from its block's region: the main stream's
  // current use, or the next one (its prefetch under way: s_cs waits for pf_ready).
  template <typename T>
  void cross_kv_side(int l, T* dst, const Shape& sh, const Ctx& st, bool save, bool again) {
    DBlock& b = dec[size_t(l)];
    struct PfSwap {  // pf_weight reads block l's region during the side's recording
      T5Cuda& t;
      const DBlock* b0;
      const bf16_t* c0;
      ~PfSwap() { t.pf_block = b0; t.pf_cur = c0; }
    } swap{*this, pf_block, pf_cur};
    if (deq_prefetch && !pf_seq.empty()) {
      const bool cur = pf_active >= 0 && pf_seq[size_t(pf_active)] == &b;
      const size_t use = cur ? size_t(pf_active) : size_t(pf_active + 1);
      HUKUK_CHECK(use < pf_seq.size() && pf_seq[use] == &b && use < pf_issued, "ENGINE_INTERNAL",
                  "cross side stream: the block's NF4 prefetch is not under way");
      if (!cur) HUKUK_CUDA_CHECK(cudaStreamWaitEvent(s_cs, pf_ready[use % 2], 0));
      pf_block = &b;
      pf_cur = static_cast<const bf16_t*>(pf_region[use % 2]);
    }
    CsScope on(*this);
    DLin* kv[2] = {&b.ck, &b.cv};
    const bool was = rerunning;
    rerunning = again;  // (a re-run's path: the forward's h, none saved)
    projections(kv, 2, b.ckv_fused, tp<const T>(enc_out), sh.B * sh.S, sh.S, dst, deq_cross, st, 1, l, save && !again);
    rerunning = was;
  }
  template <typename T>
  void cross_kv_bwd_side(DBlock& b, const T* gkv, float* dx, int Ms, const Ctx& st, int l) {
    cs_create();
    const int k = l & 1;
    HUKUK_CUDA_CHECK(cudaEventRecord(cs_fork[k], s));
    HUKUK_CUDA_CHECK(cudaStreamWaitEvent(s_cs, cs_fork[k], 0));
    cs_live = true;
    {
      CsScope on(*this);
      DLin* kv[2] = {&b.ck, &b.cv};
      projections_bwd<T>(kv, 2, b.ckv_fused, tp<const T>(enc_out), Ms, gkv, dx, true, deq_cross, st, 1, l);
    }
    HUKUK_CUDA_CHECK(cudaEventRecord(cs_done[k], s_cs));
    cs_slot_busy[k] = true;
    if (deq_prefetch && pf_active >= 0) {  // the block's NF4 region: refilled only after this
      const int r = int(pf_active % 2);
      HUKUK_CUDA_CHECK(cudaEventRecord(pf_cs_hold[r], s_cs));
      pf_cs_held[r] = true;
    }
  }
  // s_cs joins s (after the decoder loop: g_enc is read next; before a capture ends).
  void cs_end() {
    if (cs_live) {
      HUKUK_CUDA_CHECK(cudaEventRecord(cs_join, s_cs));
      HUKUK_CUDA_CHECK(cudaStreamWaitEvent(s, cs_join, 0));
    }
    cs_live = false;
    cs_slot_busy[0] = cs_slot_busy[1] = false;
  }
  // cs_end for the unwinding path (a destructor): no checks.
  void cs_abandon() noexcept {
    if (cs_live && s_cs && cs_join) {
      (void)cudaEventRecord(cs_join, s_cs);
      (void)cudaStreamWaitEvent(s, cs_join, 0);
    }
    cs_live = false;
    cs_slot_busy[0] = cs_slot_busy[1] = false;
    cs_on = false;
    cs_fwd = false;
  }

  // ---------------------------------------------------------------- LoRA kernels on s_ls (see kLoraSideDefault)
  // Which parts a plan of these activations runs (bits: 1 the forward's down, 2 the backward's B side)
  int lora_side_wanted(bool bf16_acts) const {
    const int e = env_switch("HUKUK_T5_LORA_SIDE");
    if (!bf16_acts || !want_lora_tc() || !(e == -1 ? kLoraSideDefault : e == 1)) return 0;
    const int f = env_switch("HUKUK_T5_LORA_SIDE_FWD");
    return ((f == -1 ? kLoraSideFwdDefault : f == 1) ? 1 : 0) | (env_switch("HUKUK_T5_LORA_SIDE_BWD") != 0 ? 2 : 0);
  }
  // The most rows a Linear may have for its LoRA to go on s_ls: kLoraSideMaxRows, or
  // HUKUK_T5_LORA_SIDE_MAX_ROWS=n (A/B; read at each plan)
  static int lora_side_max_rows() {
    const char* e = std::getenv("HUKUK_T5_LORA_SIDE_MAX_ROWS");
    if (!e || !*e) return kLoraSideMaxRows;
    char* end = nullptr;
    const long v = std::strtol(e, &end, 10);
    // not a whole non-negative number (e.g. "abc", "-1", "12x"): the default, not 0 (which turns the side off)
    return end && *end == '\0' && v >= 0 ? int(std::min<long>(v, 1L << 30)) : kLoraSideMaxRows;
  }
  void ls_create() {
    if (s_ls) return;  // the events first: s_ls set means both exist
    for (cudaEvent_t* e : {&ls_fork, &ls_join})
      if (!*e) HUKUK_CUDA_CHECK(cudaEventCreateWithFlags(e, cudaEventDisableTiming));
    // (the default priority: s_ls at the device's greatest priority measured no better, H200 13:56 UTC)
    HUKUK_CUDA_CHECK(cudaStreamCreateWithFlags(&s_ls, cudaStreamNonBlocking));
  }
  // Main stream: whether to fork s_ls here (part: this plan's forward or backward part; M: the
  // Linear's rows), and the fork itself (what s has enqueued so far, i.e. the inputs the side reads,
  // comes first for s_ls).
  bool ls_fork_here(bool part, int M) {
    if (!part || M > ls_max_rows || cs_on || !s_ls || ls_live) return false;
    HUKUK_CUDA_CHECK(cudaEventRecord(ls_fork, s));
    HUKUK_CUDA_CHECK(cudaStreamWaitEvent(s_ls, ls_fork, 0));
    ls_live = true;
    return true;
  }
  // s waits for everything issued on s_ls (before the side's results are read)
  void ls_join_here() {
    HUKUK_CUDA_CHECK(cudaEventRecord(ls_join, s_ls));
    HUKUK_CUDA_CHECK(cudaStreamWaitEvent(s, ls_join, 0));
    ls_live = false;
  }
  // ls_join_here for the unwinding paths (a throw between fork and join; a failed capture): no checks
  void ls_abandon() noexcept {
    if (ls_live && s_ls && ls_join) {
      (void)cudaEventRecord(ls_join, s_ls);
      (void)cudaStreamWaitEvent(s, ls_join, 0);
    }
    ls_live = false;
  }
  // While issuing the side's kernels through code that launches on `s` (lora_down_into and its group)
  struct LsScope {
    T5Cuda& t;
    cudaStream_t s0;
    explicit LsScope(T5Cuda& x) : t(x), s0(x.s) { t.s = t.s_ls; }
    ~LsScope() { t.s = s0; }
    LsScope(const LsScope&) = delete;
    LsScope& operator=(const LsScope&) = delete;
  };

  // -1 unset, 0 for "0", 1 for any other value (core/env_switch.h)
  static int env_switch(const char* name) { return hukuk::env_switch(name); }

  // Which side of the B products runs ops/lora's kernels, per case (n members, M rows), for fp32
  // activations (bf16 ones always run ops/lora: cuBLAS cannot mix an fp32 h with a bf16 y). Unset
  // switches pick what measured faster on an H200 (2026-11-28 01:12 UTC, r16, width 768, µs per
  // call in a CUDA graph, ours vs cuBLAS fp32): forward y += s·h·Bᵀ x1 7.6 vs 11.0 at M = 2048 but
  // 25.7 vs 16.4 at 8192, x3 19.6 vs 14.1 and 75.4 vs 70.2; backward x1 28.9 vs 20.3 and 55.0 vs
  // 38.6, x3 60.4 vs 58.8 and 145.4 vs 328.8. So: ours for the forward of one member up to 2048
  // rows and for a group's backward, cuBLAS for the rest. In the flagship step (H200, 01:32 UTC,
  // 5 steps) this pick gave 61.08 ms at 16x64x128 and 262.28 at 16x512x512, against 62.32 / 265.72
  // with ours everywhere (HUKUK_T5_LORA_UP=1).
  template <typename T>
  bool up_fwd_ours(int n, int M) const {
    if constexpr (!is_f32<T>) return true;
    if (!lora_up_fwd) return false;
    if (lora_up_fwd_env == 1 || lora_up_env == 1) return true;
    return n == 1 && M <= 2048;
  }
  template <typename T>
  bool up_bwd_ours(int n) const {
    if constexpr (!is_f32<T>) return true;
    if (!lora_up) return false;
    if (lora_up_env == 1) return true;
    return n >= 2;
  }

  // h = A(dropout(x)) [M, r]
  template <typename T>
  void lora_down_into(DLin& L, const T* x, int M, float* h, const Ctx& st, uint64_t site) {
    DLora& lo = *L.lora;
    const float p = st.train ? lo.dropout : 0.f;
    if constexpr (!is_f32<T>) {  // bf16 x: ops/lora_tc or ops/lora (want_act_bf16 made sure it is on), any p
      if (tc_in(lo.r, L.in)) oc::tc::lora_down(x, lo.A, h, M, L.in, lo.r, p, st.seed, site, s);
      else oc::lora_down(x, lo.A, h, M, L.in, lo.r, p, st.seed, site, s);
    } else {
      if (p > 0.f && lora_fused) {
        oc::lora_down(x, lo.A, h, M, L.in, lo.r, p, st.seed, site, s);  // dropout regenerated in the kernel
        return;
      }
      const float* xd = x;
      if (p > 0.f) {
        oc::dropout_forward(x, tmp_lora_x, int64_t(M) * L.in, p, st.seed, site, s);
        xd = tmp_lora_x;
      }
      oc::linear_xwt(s, lora_prec, xd, lo.A, h, M, lo.r, L.in);
    }
  }

  // h_i = A_i(dropout_i(x)) for a batchable group (h_i at h0 + i * sh), member by member (one
  // launch for the group measured slower on an H200, 2026-11-28: 37.0 µs for 3 members against
  // 3 x 11.4 at 2048 x 768 r16, ops/lora's kernel). HUKUK_T5_LORA_TC_DOWN_GROUP=1 (bf16 x on
  // tensor cores): one ops/lora_tc lora_down_group launch for the n <= 3 members instead, x read
  // once, each h_i bit-identical to its lora_down (on by default; =0 turns it off),
  // where it measured faster: up to 4224 rows (264 tiles, one per block). H200, 2026-11-28 08:40
  // UTC, µs per call in a CUDA graph, width 768 r16 p 0.05, group vs n x tc::lora_down: M=1024
  // n=3 10.4 / 12.4, M=2048 n=3 10.5 / 12.9, n=2 7.7 / 8.6; M=8192 n=3 35.6 / 34.0, n=2 24.6 / 22.7
  // (slower: its blocks re-load A per tile and member, lora_down keeps A in registers across its
  // tiles). Step at 16x64x128: 35.75 ms against 35.81 (within noise; 16x512x512 never takes it).
  template <typename T>
  void lora_down_group_into(DLin* const* Ls, int n, const T* x, int M, float* h0, long long sh, const Ctx& st,
                            int stack, int layer) {
    if constexpr (!is_f32<T>) {
      bool one = n >= 2 && n <= 3 && M <= 4224 && lora_down_grouped;
      for (int i = 0; one && i < n; ++i)
        one = Ls[i]->lora->r == Ls[0]->lora->r && Ls[i]->in == Ls[0]->in && tc_in(Ls[i]->lora->r, Ls[i]->in);
      if (one) {
        const float* A[3] = {};
        float* h[3] = {};
        float p[3] = {};
        uint64_t site[3] = {};
        for (int i = 0; i < n; ++i) {
          const DLora& lo = *Ls[i]->lora;
          A[i] = lo.A;
          h[i] = h0 + i * sh;
          p[i] = st.train ? lo.dropout : 0.f;
          site[i] = lsite(*Ls[i], stack, layer);
        }
        oc::tc::lora_down_group(x, n, A, h, p, site, M, Ls[0]->in, Ls[0]->lora->r, st.seed, s);
        return;
      }
    }
    for (int i = 0; i < n; ++i) lora_down_into(*Ls[i], x, M, h0 + i * sh, st, lsite(*Ls[i], stack, layer));
  }

  // y += scale * B(A(dropout(x))); h = A(dropout(x)) kept for the backward when save.
  // T: x's type; Y: y's (fp32, or the activation type for a product that feeds another product)
  template <typename T, typename Y>
  void lora_fwd(DLin& L, const T* x, int M, Y* y, const Ctx& st, uint64_t site, bool save_h) {
    if (!st.use_lora || !L.lora) return;
    DLora& lo = *L.lora;
    float* h = save_h || (rerunning && lo.h) ? lo.h : tmp_r;
    if (!(rerunning && lo.h)) lora_down_into(L, x, M, h, st, site);  // a re-run reuses the forward's h
    lora_up_into(L, h, M, y);
  }
  // y += scale * h · Bᵀ (lora_fwd's B side)
  template <typename Y>
  void lora_up_into(DLin& L, const float* h, int M, Y* y) {
    DLora& lo = *L.lora;
    if constexpr (!is_f32<Y>) {
      if (tc_in(lo.r, L.out)) oc::tc::lora_up_add(h, lo.B, y, M, L.out, lo.r, lo.scale, 1, 0, 0, 0, s);
      else oc::lora_up_add(h, lo.B, y, M, L.out, lo.r, lo.scale, 1, 0, 0, 0, s);
    } else {
      if (up_fwd_ours<float>(1, M)) oc::lora_up_add(h, lo.B, y, M, L.out, lo.r, lo.scale, 1, 0, 0, 0, s);
      else oc::linear_xwt(s, lora_prec, h, lo.B, y, M, L.out, lo.r, lo.scale, 1.f);
    }
  }

  template <typename T, typename Y>
  void linear_fwd(DLin& L, const T* x, int M, Y* y, const Ctx& st, uint64_t site, bool save_h) {
    if constexpr (!is_f32<T>) {
      // lora side (kLoraSideDefault): the down on s_ls beside the base GEMM, then up_add on s
      if (st.use_lora && L.lora && !rerunning && tc_in(L.lora->r, L.in) && ls_fork_here(lora_side_fwd, M)) {
        float* h = save_h ? L.lora->h : tmp_r;  // lora_fwd's pick outside a re-run (hence !rerunning above)
        {
          LsScope side(*this);
          lora_down_into(L, x, M, h, st, site);
        }
        oc::linear_xwt(s, p_fwd, x, weight<T>(L), y, M, L.out, L.in);
        ls_join_here();
        lora_up_into(L, h, M, y);
        return;
      }
    }
    oc::linear_xwt(s, p_fwd, x, weight<T>(L), y, M, L.out, L.in);
    lora_fwd(L, x, M, y, st, site, save_h);
  }

  // Whether Linear L's A side (rows M, dropout p) runs on ops/lora's one-pass kernel, i.e. may run
  // as (a member of) one lora_backward_group launch of n: the path lora_bwd_A takes below is
  // oc::lora_backward, r <= 16. HUKUK_T5_LORA_GROUP=0: never (A/B).
  template <typename T>
  bool lora_A_groupable(const DLin& L, int n, float p) const {
    static const bool group_off = std::getenv("HUKUK_T5_LORA_GROUP") && std::string(std::getenv("HUKUK_T5_LORA_GROUP")) == "0";
    const DLora& lo = *L.lora;
    if (group_off || !oc::lora_backward_group_supported(lo.r, L.in, n)) return false;
    if constexpr (!is_f32<T>) return !(lora_tc_bwd && tc_in(lo.r, L.in));
    else return p > 0.f && lora_fused && !lora_onepass_off_env;
  }
  // Scratch for lora_backward_group's split partials (need floats; nullptr when none fits): the
  // LoRA workspace where it is large enough, else g_ffh, the FFN's gradient scratch, which is free
  // outside ffn_bwd, i.e. during the attention backward, where the groups of 2 and 3 run (so the
  // arena, and common/training/memory-estimate.ts, stay as they were).
  float* group_scratch(size_t need) const {
    if (lora_ws && need <= lora_ws_floats) return lora_ws;
    if (g_ffh && need <= ff_grad_floats) {
      if (!cs_on) return g_ffh;
      // the side stream (cross_side): the same choice, in its own scratch (g_ffh is the FFN's meanwhile)
      HUKUK_CHECK(cs_gws && need <= cs_gws_floats, "ENGINE_INTERNAL", "the cross side stream's group scratch is too small");
      return cs_gws;
    }
    return nullptr;
  }

  // The A side of LoRA's backward for the n Linears Ls[i] of a group that read the same x and add
  // into the same dx (q,k,v: 3; cross k,v: 2; called from projections_bwd, outside ffn_bwd), member
  // i's dh at dh + i * M * r: ONE lora_backward_group launch (x and dx read once, no reduce launch)
  // where every member is groupable and scratch fits, else lora_bwd_A per member (the same gA bits;
  // dx bit-identical on an H200, fp32 rounding at worst: ops/lora.h). H200, 2026-11-28 06:02 UTC,
  // 768 wide r16 p=0.05 bf16, µs per call (graph), group vs n x lora_backward: n=3 M=2048 30.9 vs
  // 42.4, M=8192 87.4 vs 136.9; n=2 M=2048 23.5 vs 28.4, M=8192 68.4 vs 91.1.
  // The n members of an A-side group (dh of member i at dh + i * M * r) for ops/lora's and lora_tc's
  // group kernels: each member's A, gA, dropout site and p.
  static oc::LoraGroupMembers group_members(DLin* const* Ls, int n, const float* dh, int M, const Ctx& st,
                                            const uint64_t* sites) {
    oc::LoraGroupMembers g;
    for (int i = 0; i < n; ++i) {
      DLora& lo = *Ls[i]->lora;
      g.dh[i] = dh + size_t(i) * M * lo.r;
      g.A[i] = lo.A;
      g.gA[i] = lo.gA;
      g.site[i] = sites[i];
      g.p[i] = st.train ? lo.dropout : 0.f;
    }
    return g;
  }

  // bf16 x: the A side of the n <= 3 Linears Ls[i] (dh of member i at dh + i * M * r) as ONE
  // ops/lora_tc lora_backward_group launch (tensor cores, in-kernel reduce), where it applies and
  // its scratch fits (n = 1: the LoRA workspace only, as linear_bwd may run inside ffn_bwd; groups:
  // group_scratch). Returns false when it did not run. HUKUK_T5_LORA_TC_GROUP=0 turns it off (A/B).
  // H200, 2026-11-28 06:42 UTC, bf16 768 wide r16 p=0.05, µs per call (graph), tc group / ops/lora
  // group / n x lora_backward: n=1 M=2048 11.6 / 18.5 / 14.2, M=8192 23.9 / 56.8 / 45.5; n=3 M=2048
  // 26.8 / 30.8 / 42.6, M=8192 67.3 / 88.8 / 144.4 (ops/lora_tc.h).
  template <typename T>
  bool lora_bwd_A_tc_group(DLin* const* Ls, int n, const T* x, const float* dh, int M, float* dx, const Ctx& st,
                           const uint64_t* sites) {
    static const bool on = env_switch("HUKUK_T5_LORA_TC_GROUP") != 0;
    if constexpr (is_f32<T>) {
      return false;
    } else {
      const int r = Ls[0]->lora->r, in = Ls[0]->in;
      if (!on || !tc_in(r, in) || !oc::tc::lora_backward_group_supported(r, in, n)) return false;
      for (int i = 1; i < n; ++i)
        if (Ls[i]->lora->r != r || Ls[i]->in != in) return false;
      const size_t need = oc::tc::lora_backward_group_workspace_floats(M, in, r, n);
      float* ws = need == 0 ? nullptr : n == 1 ? (need <= lora_ws_floats ? lora_ws : nullptr) : group_scratch(need);
      if (need > 0 && !ws) return false;
      oc::tc::lora_backward_group(group_members(Ls, n, dh, M, st, sites), n, x, dx, M, in, r, st.seed, true, true, ws,
                                  s);
      return true;
    }
  }

  template <typename T>
  void lora_bwd_A_group(DLin* const* Ls, int n, const T* x, const float* dh, int M, float* dx, const Ctx& st,
                        int stack, int l) {
    const int r = Ls[0]->lora->r;
    if (n <= oc::kLoraGroupMax) {
      uint64_t sites[oc::kLoraGroupMax];
      for (int i = 0; i < n; ++i) sites[i] = lsite(*Ls[i], stack, l);
      if (lora_bwd_A_tc_group(Ls, n, x, dh, M, dx, st, sites)) return;
    }
    bool all = n >= 2 && n <= oc::kLoraGroupMax;  // a group of one measured slower than lora_backward
    for (int i = 0; i < n && all; ++i)
      all = Ls[i]->lora->r == r && Ls[i]->in == Ls[0]->in &&
            lora_A_groupable<T>(*Ls[i], n, st.train ? Ls[i]->lora->dropout : 0.f);
    const size_t need = all ? oc::lora_backward_group_workspace_floats(M, Ls[0]->in, r, n) : 0;
    float* ws = all ? group_scratch(need) : nullptr;
    if (!all || (need > 0 && !ws)) {
      for (int i = 0; i < n; ++i) lora_bwd_A(*Ls[i], x, dh + size_t(i) * M * r, M, dx, st, lsite(*Ls[i], stack, l));
      return;
    }
    uint64_t sites[oc::kLoraGroupMax];
    for (int i = 0; i < n; ++i) sites[i] = lsite(*Ls[i], stack, l);
    oc::lora_backward_group(group_members(Ls, n, dh, M, st, sites), n, x, dx, M, Ls[0]->in, r, st.seed, true, true,
                            ws, s);
  }

  // The A side of LoRA's backward from dh [M, r]: gA += dhᵀ dropout(x); dx += dropout'(dh A)
  template <typename T>
  void lora_bwd_A(DLin& L, const T* x, const float* dh, int M, float* dx, const Ctx& st, uint64_t site) {
    DLora& lo = *L.lora;
    const float p = st.train ? lo.dropout : 0.f;
    // bf16 x on tensor cores: lora_tc's group kernel with one member (11.6 vs 14.2 µs at 2048 rows).
    // Otherwise lora_backward, not ops/lora's lora_backward_group of one, which measured slower (ops/lora.h)
    DLin* self = &L;
    if (lora_bwd_A_tc_group(&self, 1, x, dh, M, dx, st, &site)) return;
    if constexpr (!is_f32<T>) {  // bf16 x: ops/lora_tc's or ops/lora's one pass, any p
      if (lora_tc_bwd && tc_in(lo.r, L.in)) {
        HUKUK_CHECK(oc::tc::lora_backward_workspace_floats(M, L.in, lo.r) <= lora_ws_floats, "ENGINE_INTERNAL",
                    "the LoRA workspace is smaller than lora_tc::lora_backward needs");
        oc::tc::lora_backward(dh, x, lo.A, lo.gA, dx, M, L.in, lo.r, p, st.seed, site, true, true, lora_ws, s);
      } else {
        oc::lora_backward(dh, x, lo.A, lo.gA, dx, M, L.in, lo.r, p, st.seed, site, true, true, lora_ws, s);
      }
    } else {
      if (p > 0.f && lora_fused && !lora_onepass_off_env) {  // grad-A and dx in one pass over x, mask regenerated
        oc::lora_backward(dh, x, lo.A, lo.gA, dx, M, L.in, lo.r, p, st.seed, site, true, true, lora_ws, s);
        return;
      }
      if (p > 0.f && lora_fused) {  // the dropout mask regenerated inside the kernels (ops/lora.h)
        oc::lora_grad_A(dh, x, lo.gA, M, L.in, lo.r, p, st.seed, site, true, lora_ws, s);
        if (dx) oc::lora_dx(dh, lo.A, dx, M, L.in, lo.r, p, st.seed, site, true, s);
        return;
      }
      const float* xd = x;
      if (p > 0.f) {
        oc::dropout_forward(x, tmp_lora_x, int64_t(M) * L.in, p, st.seed, site, s);
        xd = tmp_lora_x;
      }
      oc::gemm(s, lora_prec, true, false, lo.r, L.in, M, 1.f, dh, lo.r, 0, xd, L.in, 0, 1.f, lo.gA, L.in, 0);
      if (dx) {
        if (p > 0.f) {
          oc::gemm(s, lora_prec, false, false, M, L.in, lo.r, 1.f, dh, lo.r, 0, lo.A, L.in, 0, 0.f, tmp_lora_x, L.in, 0);
          oc::dropout_backward(tmp_lora_x, dx, int64_t(M) * L.in, p, st.seed, site, true, s);
        } else {
          oc::gemm(s, lora_prec, false, false, M, L.in, lo.r, 1.f, dh, lo.r, 0, lo.A, L.in, 0, 1.f, dx, L.in, 0);
        }
      }
    }
  }

  // Scratch for lora_up_backward's partial sums. bf16 activations: the LoRA workspace (layout
  // sized it for this; lora_up_backward is done with it before lora_backward uses it). fp32 ones,
  // without growing the arena: whichever of the FFN's gradient buffers g_ff0 / g_ffh this
  // backward call does not use. Outside ffn_bwd both are free; inside it wo's backward writes
  // g_ffh (g_ff0 not yet written), and wi's (wi0's, wi1's) read g_ff0 (g_ff1) after the
  // activation's backward has consumed g_ffh. nullptr when neither is free or the need is larger
  // (the caller then runs the B side on cuBLAS); need == 0 needs no scratch.
  template <typename T>
  float* up_scratch(const void* dy, const float* dx, size_t need) const {
    if (need == 0) return nullptr;
    if constexpr (!is_f32<T>) {
      (void)dy; (void)dx;
      HUKUK_CHECK(need <= lora_ws_floats, "ENGINE_INTERNAL", "the LoRA workspace is smaller than lora_up_backward needs");
      return lora_ws;
    } else {
      if (need > ff_grad_floats) return nullptr;
      float* ff0 = tp<float>(g_ff0);
      float* cand = (dy == ff0 || dx == ff0) ? g_ffh : ff0;
      return (cand && cand != dy && cand != dx) ? cand : nullptr;
    }
  }

  // W: the base weight when the caller has it at hand (a fused group), else weight(L)
  template <typename T>
  void linear_bwd(DLin& L, const T* x, const T* dy, int M, float* dx, bool acc_dx, const Ctx& st, uint64_t site,
                  const T* W = nullptr) {
    // lora side (kLoraSideDefault): lora_up_backward (dh into tmp_r, gB) on s_ls beside the dx GEMM
    bool side = false;
    if constexpr (!is_f32<T>) {
      if (dx && st.use_lora && L.lora && tc_in(L.lora->r, L.out)) {
        DLora& lo = *L.lora;
        float* up_ws = up_scratch<T>(dy, dx, oc::tc::lora_up_backward_workspace_floats(M, L.out, lo.r, 1));
        side = ls_fork_here(lora_side_bwd, M);
        if (side)
          oc::tc::lora_up_backward(dy, lo.h, lo.B, tmp_r, lo.gB, M, L.out, lo.r, lo.scale, true, 1, 0, 0, 0, 0, up_ws,
                                   s_ls);
      }
    }
    // dx = dy · W  (C[M,in] = dy[M,out] · W[out,in])
    if (dx)
      oc::gemm(s, p_bwd, false, false, M, L.in, L.out, 1.f, dy, L.out, 0, W ? W : weight<T>(L), L.in, 0,
               acc_dx ? 1.f : 0.f, dx, L.in, 0);
    if (side) {
      ls_join_here();
      lora_bwd_A(L, x, tmp_r, M, dx, st, site);
      return;
    }
    if (!st.use_lora || !L.lora) return;
    DLora& lo = *L.lora;
    // gB += scale * dyᵀ h ; dh = scale * dy B ; then the A side
    const bool ours = up_bwd_ours<T>(1);
    const bool tc = tc_in(lo.r, L.out);
    const size_t up_need = tc ? oc::tc::lora_up_backward_workspace_floats(M, L.out, lo.r, 1)
                           : ours ? oc::lora_up_backward_workspace_floats(M, L.out, lo.r, 1) : 0;
    float* up_ws = up_scratch<T>(dy, dx, up_need);
    if (tc) {  // bf16 activations only (lora_tc)
      if constexpr (!is_f32<T>)
        oc::tc::lora_up_backward(dy, lo.h, lo.B, tmp_r, lo.gB, M, L.out, lo.r, lo.scale, true, 1, 0, 0, 0, 0, up_ws, s);
      lora_bwd_A(L, x, tmp_r, M, dx, st, site);
      return;
    }
    if (ours && (up_need == 0 || up_ws)) {  // both in one pass over dy
      oc::lora_up_backward(dy, lo.h, lo.B, tmp_r, lo.gB, M, L.out, lo.r, lo.scale, true, 1, 0, 0, 0, 0, up_ws, s);
      lora_bwd_A(L, x, tmp_r, M, dx, st, site);
      return;
    }
    if constexpr (is_f32<T>) {
      oc::gemm(s, lora_prec, true, false, L.out, lo.r, M, lo.scale, dy, L.out, 0, lo.h, lo.r, 0, 1.f, lo.gB, lo.r, 0);
      oc::gemm(s, lora_prec, false, false, M, lo.r, L.out, lo.scale, dy, L.out, 0, lo.B, lo.r, 0, 0.f, tmp_r, lo.r, 0);
      lora_bwd_A(L, x, tmp_r, M, dx, st, site);
    } else {
      HUKUK_FAIL("ENGINE_INTERNAL", "bf16 activations need ops/lora's lora_up_backward (no scratch for " + L.host->name + ")");
    }
  }

  // A fused group's LoRA (q,k,v or cross k,v) with its B side as batched products: possible when
  // every member has an adapter of the same r and scale whose B, gB (lora_to_device) and, when
  // need_h, h (layout) sit at one stride from each other, as they are laid out side by side.
  // Returns the strides (elements) of B/gB and h. HUKUK_T5_BATCH_LORA=0 turns it off (A/B).
  bool lora_batchable(DLin* const* Ls, int n, bool need_h, long long& sB, long long& sh) const {
    if (n < 2 || lora_unbatched_env) return false;
    for (int i = 0; i < n; ++i)
      if (!Ls[i]->lora || Ls[i]->lora->r != Ls[0]->lora->r || Ls[i]->lora->scale != Ls[0]->lora->scale) return false;
    const DLora& a = *Ls[0]->lora;
    sB = Ls[1]->lora->B - a.B;
    sh = need_h ? Ls[1]->lora->h - a.h : 0;
    if (need_h && !a.h) return false;
    for (int i = 1; i < n; ++i) {
      const DLora& b = *Ls[i]->lora;
      if (b.B - a.B != i * sB || b.gB - a.gB != i * sB) return false;
      if (need_h && b.h - a.h != i * sh) return false;
    }
    return true;
  }

  // Members of the group whose B side one lora_up_backward call may carry: q,k,v (3), cross k,v (2)
  static int group_members(const DLin& L) {
    const std::string& k = L.host->kind;
    if (L.host->module == "SelfAttention" && (k == "q" || k == "k" || k == "v")) return 3;
    if (L.host->module == "EncDecAttention" && (k == "k" || k == "v")) return 2;
    return 1;
  }

  uint64_t lsite(const DLin& L, int stack, int layer) {
    return site_of(stack, layer, kLoraBase + linear_slot(L.host->module, L.host->kind));
  }

  // ---------------------------------------------------------------- attention
  // Q/K/V come in heads layout; ctx rows out. P: saved probabilities [B,H,Tq,Tk].
  // With the fused kernels (flash): Q/K/V in rows layout and P holds the row log-sum-exp.
  template <typename T>
  void attention_fwd(const oc::SoftmaxArgs& a, const T* qh, const T* kh, const T* vh, float* P, T* ctx_rows) {
    const int dk = I.cfg.d_kv, BH = a.B * a.H;
    if (flash) {
      oc::flash_attention_forward(a, dk, qh, kh, vh, ctx_rows, P, s);
      return;
    }
    if constexpr (!is_f32<T>) {
      HUKUK_FAIL("ENGINE_INTERNAL", "bf16 activations need the fused attention");
    } else {
    oc::gemm(s, p_attn, false, true, a.Tq, a.Tk, dk, 1.f, qh, dk, (long long)a.Tq * dk, kh, dk, (long long)a.Tk * dk,
             0.f, P, a.Tk, (long long)a.Tq * a.Tk, BH);
    oc::softmax_forward(a, P, tmp_pd, s);
    const float* Pd = a.dropout > 0.f ? tmp_pd : P;
    oc::gemm(s, p_attn, false, false, a.Tq, dk, a.Tk, 1.f, Pd, a.Tk, (long long)a.Tq * a.Tk, vh, dk,
             (long long)a.Tk * dk, 0.f, tmp_ctxh, dk, (long long)a.Tq * dk, BH);
    oc::heads_to_rows(tmp_ctxh, ctx_rows, a.B, a.H, a.Tq, dk, s);
    }
  }

  // dctx rows in; dQ/dK/dV rows out (written) at g_rows = [dQ (Tq rows), dK (Tk rows), dV (Tk rows)];
  // dkv_rows (fused attention only): dK, dV there instead, dQ alone at g_rows (cross_side)
  template <typename T>
  void attention_bwd(const oc::SoftmaxArgs& a, const T* qh, const T* kh, const T* vh, const float* P,
                     const T* ctx_rows, const float* dctx_rows, T* g_rows, T* dkv_rows = nullptr) {
    const int dk = I.cfg.d_kv, BH = a.B * a.H;
    const long long sq = (long long)a.Tq * dk, sk = (long long)a.Tk * dk, sp = (long long)a.Tq * a.Tk;
    if (flash) {
      T* dq = g_rows;
      T* dkr = dkv_rows ? dkv_rows : dq + size_t(BH) * sq;
      oc::flash_attention_backward(a, dk, qh, kh, vh, ctx_rows, P, dctx_rows, dq, dkr, dkr + size_t(BH) * sk,
                                   flash_scratch, s);
      return;
    }
    HUKUK_CHECK(!dkv_rows, "ENGINE_INTERNAL", "dK,dV apart from dQ need the fused attention");
    if constexpr (!is_f32<T>) {
      HUKUK_FAIL("ENGINE_INTERNAL", "bf16 activations need the fused attention");
    } else {
    float* gh_q = gh_qkv;
    float* gh_k = gh_q + size_t(BH) * sq;
    float* gh_v = gh_k + size_t(BH) * sk;
    oc::rows_to_heads(dctx_rows, gh_ctx, a.B, a.H, a.Tq, dk, s);
    const float* Pd = P;
    if (a.dropout > 0.f) {
      oc::dropped_probs(a, P, tmp_pd, s);
      Pd = tmp_pd;
    }
    // dV = Pdᵀ dctx ; dPd = dctx Vᵀ ; dS ; dQ = dS K ; dK = dSᵀ Q
    oc::gemm(s, p_attn, true, false, a.Tk, dk, a.Tq, 1.f, Pd, a.Tk, sp, gh_ctx, dk, sq, 0.f, gh_v, dk, sk, BH);
    oc::gemm(s, p_attn, false, true, a.Tq, a.Tk, dk, 1.f, gh_ctx, dk, sq, vh, dk, sk, 0.f, g_dp, a.Tk, sp, BH);
    oc::softmax_backward(a, P, g_dp, s);
    oc::gemm(s, p_attn, false, false, a.Tq, dk, a.Tk, 1.f, g_dp, a.Tk, sp, kh, dk, sk, 0.f, gh_q, dk, sq, BH);
    oc::gemm(s, p_attn, true, false, a.Tk, dk, a.Tq, 1.f, g_dp, a.Tk, sp, qh, dk, sq, 0.f, gh_k, dk, sk, BH);
    // heads -> rows: gh_k, gh_v (and gh_q when Tq == Tk) are adjacent like their row twins
    if (a.Tq == a.Tk) {
      oc::heads_to_rows(gh_q, g_rows, 3 * a.B, a.H, a.Tq, dk, s);
    } else {
      oc::heads_to_rows(gh_q, g_rows, a.B, a.H, a.Tq, dk, s);
      oc::heads_to_rows(gh_k, g_rows + size_t(BH) * sq, 2 * a.B, a.H, a.Tk, dk, s);
    }
    }
  }

  // HUKUK_FLASH_V2 (on by default since 09:20 UTC; =0: the [H, T, T] tiles, A/B): the fused attention reads the position bias in
  // its Toeplitz form (SoftmaxArgs::bias_diag, [H, 2T - 1]: T5's bias depends on j - i alone) from
  // shared memory instead of streaming [H, T, T] fp32 tiles; same results bit for bit. The vectors
  // are built with the tables (once per shape) into fixed buffers (never reallocated: captured
  // graphs keep their pointers); *_diag_len says which length they hold (0: none).
  const bool flash_bias_diag_on = env_switch("HUKUK_FLASH_V2") != 0;
  DeviceBuffer<float> enc_bias_diag, dec_bias_diag;
  int enc_diag_len = 0, dec_diag_len = 0;
  void set_bias_diag(const std::vector<float>& table, int H, int T, DeviceBuffer<float>& buf, int& len) {
    len = 0;
    if (2 * T > oc::kFlashBiasDiagMaxLen || !oc::flash_bias_is_toeplitz(table.data(), H, T, T)) return;
    if (!buf.get()) buf.resize(size_t(H) * (oc::kFlashBiasDiagMaxLen - 1));
    std::vector<float> diag(size_t(H) * (2 * T - 1));
    oc::flash_bias_diag_from_table(table.data(), H, T, T, diag.data());
    HUKUK_CUDA_CHECK(cudaMemcpy(buf.get(), diag.data(), diag.size() * sizeof(float), cudaMemcpyHostToDevice));
    len = T;
  }

  oc::SoftmaxArgs self_args(const Shape& sh, bool decoder, const Ctx& st, int layer) {
    oc::SoftmaxArgs a;
    a.B = sh.B; a.H = I.cfg.num_heads;
    a.Tq = a.Tk = decoder ? sh.T : sh.S;
    a.bias = decoder ? dec_bias : enc_bias;
    if (flash_bias_diag_on && (decoder ? dec_diag_len : enc_diag_len) == a.Tq)  // only the fused kernels read it
      a.bias_diag = (decoder ? dec_bias_diag : enc_bias_diag).get();
    if (decoder) a.causal = true;
    else { a.key_mask = d_mask; a.key_mask_ld = sh.S; }
    a.dropout = st.train ? I.cfg.dropout_rate : 0.f;
    a.seed = st.seed;
    a.site = site_of(decoder ? 1 : 0, layer, kSelfProbs);
    return a;
  }
  oc::SoftmaxArgs cross_args(const Shape& sh, const Ctx& st, int layer) {
    oc::SoftmaxArgs a;
    a.B = sh.B; a.H = I.cfg.num_heads; a.Tq = sh.T; a.Tk = sh.S;
    a.key_mask = d_mask; a.key_mask_ld = sh.S;
    a.dropout = st.train ? I.cfg.dropout_rate : 0.f;
    a.seed = st.seed;
    a.site = site_of(1, layer, kCrossProbs);
    return a;
  }

  // n projections (q,k,v or cross k,v) of the same input x [M, in] into adjacent heads
  // [n, B, H, T, dk] at heads: the base products as one batched GEMM when the group is fused,
  // then each Linear's LoRA (their dropout masks differ), then one permute.
  template <typename T>
  void projections(DLin* const* Ls, int n, bool fused, const T* x, int M, int Tlen, T* heads, void* region,
                   const Ctx& st, int stack, int layer, bool save) {
    const int B = planned.B, H = I.cfg.num_heads, dk = I.cfg.d_kv;
    const int out = Ls[0]->out, in = Ls[0]->in;
    const long long so = (long long)M * out;
    T* y = heads;  // the fused attention reads rows: no permute
    if constexpr (is_f32<T>)
      if (!flash) y = tmp_qkv;
    long long sB = 0, sh = 0;
    const bool kept_h = save || rerunning;  // a re-run reuses the forward's h
    const bool batched = st.use_lora && lora_batchable(Ls, n, kept_h, sB, sh);
    // lora side (kLoraSideDefault): the batched group's downs on s_ls beside the base GEMM(s)
    bool side = false;
    if constexpr (!is_f32<T>) {
      if (batched && !rerunning && tc_in(Ls[0]->lora->r, in) && ls_fork_here(lora_side_fwd, M)) {
        side = true;
        const DLora& l0 = *Ls[0]->lora;
        LsScope on(*this);
        lora_down_group_into(Ls, n, x, M, kept_h ? l0.h : tmp_r, kept_h ? sh : (long long)M * l0.r, st, stack, layer);
      }
    }
    if (fused) {
      const T* W = group_weights<T>(Ls, n, region, false);
      oc::gemm(s, p_fwd, false, true, M, out, in, 1.f, x, in, 0, W, in, (long long)out * in, 0.f, y, out, so, n);
    } else {
      for (int i = 0; i < n; ++i) oc::linear_xwt(s, p_fwd, x, weight<T>(*Ls[i]), y + i * so, M, out, in);
    }
    if (side) ls_join_here();
    if (batched) {
      // h of each member (their dropout masks differ), then y_i += scale * h_i · B_iᵀ in one GEMM
      const DLora& l0 = *Ls[0]->lora;
      float* h0 = kept_h ? l0.h : tmp_r;  // tmp_r holds n slots of [M, r]
      if (!kept_h) sh = (long long)M * l0.r;
      if (!rerunning && !side) lora_down_group_into(Ls, n, x, M, h0, sh, st, stack, layer);
      if (tc_in(l0.r, out)) {
        if constexpr (!is_f32<T>) oc::tc::lora_up_add(h0, l0.B, y, M, out, l0.r, l0.scale, n, sh, sB, so, s);
      } else if (up_fwd_ours<T>(n, M)) {
        oc::lora_up_add(h0, l0.B, y, M, out, l0.r, l0.scale, n, sh, sB, so, s);
      } else {
        if constexpr (is_f32<T>)
          oc::gemm(s, lora_prec, false, true, M, out, l0.r, l0.scale, h0, l0.r, sh, l0.B, l0.r, sB, 1.f, y, out, so, n);
        else
          HUKUK_FAIL("ENGINE_INTERNAL", "bf16 activations need ops/lora's lora_up_add");
      }
    } else {
      for (int i = 0; i < n; ++i) lora_fwd(*Ls[i], x, M, y + i * so, st, lsite(*Ls[i], stack, layer), save);
    }
    if constexpr (is_f32<T>)
      if (!flash) oc::rows_to_heads(tmp_qkv, heads, n * B, H, Tlen, dk, s);
  }

  // The norm that opens the next sub-layer, for the current one's residual add to compute
  // (add_norm_fused); w == nullptr: none, the add runs alone.
  struct NextNorm {
    const float* w = nullptr;
    float* y32 = nullptr;
    bf16_t* y16 = nullptr;
    float* rstd = nullptr;
  };
  template <typename T>
  NextNorm next_norm(const float* w, T* y, float* rstd) const {
    if (!add_norm_fused) return NextNorm{};
    NextNorm n;
    n.w = w;
    n.rstd = rstd;
    if constexpr (is_f32<T>) n.y32 = y;
    else n.y16 = y;
    return n;
  }
  // A sub-layer's end: x_out = x_in + dropout_p(branch) at `site`, and the next norm when given.
  void residual_end(const float* x_in, const float* branch, float* x_out, int M, float p, uint64_t site, const Ctx& st,
                    const NextNorm& next) {
    const int d = I.cfg.d_model;
    const float eps = I.cfg.layer_norm_epsilon;
    if (!next.w) oc::dropout_add(x_in, branch, x_out, int64_t(M) * d, p, st.seed, site, s);
    else if (next.y16) oc::dropout_add_rmsnorm(x_in, branch, x_out, next.w, next.y16, next.rstd, M, d, eps, p, st.seed, site, s);
    else oc::dropout_add_rmsnorm(x_in, branch, x_out, next.w, next.y32, next.rstd, M, d, eps, p, st.seed, site, s);
  }

  // normed: the previous sub-layer's residual_end already wrote this one's norm (and rstd);
  // next: the norm the residual add computes too.
  template <typename T>
  void self_attn_fwd(DBlock& b, const ActsT<T>& a, int M, int Tlen, bool decoder, const Shape& sh, const Ctx& st,
                     int l, bool save, bool normed, const NextNorm& next) {
    const T5Config& c = I.cfg;
    const int stack = decoder ? 1 : 0, d = c.d_model;
    const float p = st.train ? c.dropout_rate : 0.f;
    T* n1 = norm_out(a.n1);
    if (!normed) oc::rmsnorm_forward(a.x_in, b.ln_self, n1, a.rstd1, M, d, c.layer_norm_epsilon, s);
    DLin* qkv[3] = {&b.q, &b.k, &b.v};
    projections(qkv, 3, b.qkv_fused, static_cast<const T*>(n1), M, Tlen, a.qh, deq_self, st, stack, l, save);
    attention_fwd(self_args(sh, decoder, st, l), a.qh, a.kh, a.vh, a.P, a.ctx);
    linear_fwd(b.o, a.ctx, M, tmp_d, st, lsite(b.o, stack, l), save);
    residual_end(a.x_in, tmp_d, a.x_mid, M, p, site_of(stack, l, kSelfRes), st, next);
  }

  template <typename T>
  void cross_attn_fwd(DBlock& b, const ActsT<T>& a, const Shape& sh, const Ctx& st, int l, bool save, bool normed,
                      const NextNorm& next) {
    const T5Config& c = I.cfg;
    const int Ms = sh.B * sh.S, Mt = sh.B * sh.T, d = c.d_model;
    const float p = st.train ? c.dropout_rate : 0.f;
    T* nc = norm_out(a.nc);
    if (!normed) oc::rmsnorm_forward(a.x_mid, b.ln_cross, nc, a.rstdc, Mt, d, c.layer_norm_epsilon, s);
    DLin* q[1] = {&b.cq};
    projections(q, 1, false, static_cast<const T*>(nc), Mt, sh.T, a.cqh, nullptr, st, 1, l, save);
    DLin* kv[2] = {&b.ck, &b.cv};
    const bool side = cs_fwd && !rerunning;  // cross_side_fwd: computed on s_cs (cross_kv_fwd_side)
    T* ckv = side ? cs_kv(a, l) : a.ckh ? a.ckh : tp<T>(g_ff0);  // cross_kv_recomputed: in g_ff0
    if (side) HUKUK_CUDA_CHECK(cudaStreamWaitEvent(s, cs_done[l & 1], 0));
    else projections(kv, 2, b.ckv_fused, tp<const T>(enc_out), Ms, sh.S, ckv, deq_cross, st, 1, l, save);
    attention_fwd(cross_args(sh, st, l), a.cqh, ckv, ckv + size_t(Ms) * c.inner_dim(), a.cP, a.cctx);
    if (side) HUKUK_CUDA_CHECK(cudaEventRecord(cs_fork[l & 1], s));  // the slot is free for layer l + 2
    linear_fwd(b.co, a.cctx, Mt, tmp_d, st, lsite(b.co, 1, l), save);
    residual_end(a.x_mid, tmp_d, a.x_mid2, Mt, p, site_of(1, l, kCrossRes), st, next);
  }

  // rerun: a recompute pass before the block's backward, which needs everything up to the FFN's
  // hidden activation but not its output (wo's LoRA h is kept from the forward).
  template <typename T>
  void ffn_fwd(DBlock& b, const ActsT<T>& a, const float* x_before, float* x_after, int M, const Ctx& st, int stack,
               int l, bool save, bool rerun, bool normed, const NextNorm& next) {
    const T5Config& c = I.cfg;
    const int d = c.d_model;
    const float p = st.train ? c.dropout_rate : 0.f;
    T* n3w = norm_out(a.n3);
    if (!normed) oc::rmsnorm_forward(x_before, b.ln_ff, n3w, a.rstd3, M, d, c.layer_norm_epsilon, s);
    const T* n3 = n3w;
    const int64_t nff = int64_t(M) * c.d_ff;
    const uint64_t act_site = site_of(stack, l, kFfAct);
    if (c.is_gated) {
      linear_fwd(b.wi0, n3, M, a.pre0, st, lsite(b.wi0, stack, l), save);
      linear_fwd(b.wi1, n3, M, a.pre1, st, lsite(b.wi1, stack, l), save);
      oc::gated_dropout_forward(I.act, a.pre0, a.pre1, a.hff, nff, p, st.seed, act_site, s);
    } else if (a.relu_mask) {  // ffn_bitmask: relu' kept as bits, the dropped hidden in g_ff0 for wo
      T* hidden = tp<T>(g_ff0);
      linear_fwd(b.wi, n3, M, hidden, st, lsite(b.wi, stack, l), save);
      oc::act_dropout_forward_bitmask(I.act, hidden, hidden, a.relu_mask, nff, p, st.seed, act_site, s, relu_keep_mask);
      if (rerun) return;
      linear_fwd(b.wo, static_cast<const T*>(hidden), M, tmp_d, st, lsite(b.wo, stack, l), save);
      residual_end(x_before, tmp_d, x_after, M, p, site_of(stack, l, kFfRes), st, next);
      return;
    } else {
      linear_fwd(b.wi, n3, M, a.pre0, st, lsite(b.wi, stack, l), save);
      oc::act_dropout_forward(I.act, a.pre0, a.hff, nff, p, st.seed, act_site, s);  // hff == pre0 for ReLU
    }
    if (rerun) return;
    linear_fwd(b.wo, a.hff, M, tmp_d, st, lsite(b.wo, stack, l), save);
    residual_end(x_before, tmp_d, x_after, M, p, site_of(stack, l, kFfRes), st, next);
  }

  // One block's forward: x_out = block(a.x_in). A rerun saves no LoRA h (the forward's are kept)
  // and stops after the FFN's hidden activation. normed: the previous block's FFN wrote this
  // block's first norm (add_norm_fused); next: the norm after the block (the next block's first or
  // the stack's final one) for the FFN's residual add to compute (none in a re-run: no add).
  template <typename T>
  void block_fwd(bool decoder, size_t l, const ActsT<T>& a, float* x_out, const Shape& sh, const Ctx& st, bool save,
                 bool rerun, bool normed, const NextNorm& next) {
    DBlock& b = decoder ? dec[l] : enc[l];
    const int M = sh.B * (decoder ? sh.T : sh.S), li = int(l);
    pf_enter(b);  // (a re-run: already in it)
    const NextNorm ffn_norm = next_norm(b.ln_ff, norm_out(a.n3), a.rstd3);
    const NextNorm after_self = decoder ? next_norm(b.ln_cross, norm_out(a.nc), a.rstdc) : ffn_norm;
    self_attn_fwd(b, a, M, decoder ? sh.T : sh.S, decoder, sh, st, li, save && !rerun, normed, after_self);
    if (decoder) cross_attn_fwd(b, a, sh, st, li, save && !rerun, add_norm_fused, ffn_norm);
    ffn_fwd(b, a, decoder ? a.x_mid2 : a.x_mid, x_out, M, st, decoder ? 1 : 0, li, save && !rerun, rerun, add_norm_fused,
            rerun ? NextNorm{} : next);
  }
  // The norm after block l of a stack, for block l's FFN to compute (add_norm_fused): the next
  // block's self-attention norm, or the stack's final norm after the last block.
  template <typename T>
  NextNorm norm_after_block(bool decoder, size_t l) {
    const std::vector<DBlock>& bs = decoder ? dec : enc;
    if (l + 1 < bs.size()) {
      const ActsT<T> n = acts<T>(decoder, l + 1);
      return next_norm(bs[l + 1].ln_self, norm_out(n.n1), n.rstd1);
    }
    if (decoder) return next_norm(dec_final_ln, dec_fin_n, dec_fin_rstd);
    return next_norm(enc_final_ln, tp<T>(enc_fin_n), enc_fin_rstd);
  }

  template <typename T>
  void encoder_forward(const Shape& sh, const Ctx& st, bool save) {
    const T5Config& c = I.cfg;
    const int Ms = sh.B * sh.S, d = c.d_model;
    const float p = st.train ? c.dropout_rate : 0.f;
    oc::embedding_forward(shared, d, d_ids, Ms, ea[0].x_in, s);
    oc::dropout_forward(ea[0].x_in, ea[0].x_in, int64_t(Ms) * d, p, st.seed, site_of(0, 0, kEmbed), s);
    for (size_t l = 0; l < enc.size(); ++l)
      block_fwd(false, l, acts<T>(false, l), ea[l + 1].x_in, sh, st, save, false, add_norm_fused && l > 0,
                norm_after_block<T>(false, l));
    if (!(add_norm_fused && !enc.empty()))  // (fused: the last block's FFN wrote it)
      oc::rmsnorm_forward(ea[enc.size()].x_in, enc_final_ln, tp<T>(enc_fin_n), enc_fin_rstd, Ms, d, c.layer_norm_epsilon, s);
    oc::dropout_forward(tp<const T>(enc_fin_n), tp<T>(enc_out), int64_t(Ms) * d, p, st.seed,
                        site_of(0, int(enc.size()), kFinal), s);
  }

  template <typename T>
  void decoder_forward(const Shape& sh, const Ctx& st, bool save) {
    const T5Config& c = I.cfg;
    const int Mt = sh.B * sh.T, d = c.d_model;
    const float p = st.train ? c.dropout_rate : 0.f;
    oc::embedding_forward(shared, d, d_dec_ids, Mt, da[0].x_in, s);
    oc::dropout_forward(da[0].x_in, da[0].x_in, int64_t(Mt) * d, p, st.seed, site_of(1, 0, kEmbed), s);
    // cross_side_fwd: s_cs forks here (enc_out is written) and runs layer l + 1's cross K,V while
    // the main stream is in layer l (see cross_kv_fwd_side)
    cs_fwd = cross_side_fwd && !dec.empty();
    if (cs_fwd) {
      cs_create();
      for (cudaEvent_t e : cs_fork) HUKUK_CUDA_CHECK(cudaEventRecord(e, s));
      cs_live = true;
      cross_kv_fwd_side<T>(0, sh, st, save);
    }
    for (size_t l = 0; l < dec.size(); ++l) {
      if (cs_fwd && l + 1 < dec.size()) {
        pf_enter(dec[l]);  // (block_fwd's own pf_enter is then a no-op): block l + 1's prefetch is under way
        cross_kv_fwd_side<T>(int(l) + 1, sh, st, save);
      }
      block_fwd(true, l, acts<T>(true, l), da[l + 1].x_in, sh, st, save, false, add_norm_fused && l > 0,
                norm_after_block<T>(true, l));
    }
    if (cs_fwd) cs_end();  // (every layer's K,V was waited for; the join closes the side's branch)
    cs_fwd = false;
    if (!(add_norm_fused && !dec.empty()))  // (fused: the last block's FFN wrote it)
      oc::rmsnorm_forward(da[dec.size()].x_in, dec_final_ln, dec_fin_n, dec_fin_rstd, Mt, d, c.layer_norm_epsilon, s);
    oc::dropout_forward(dec_fin_n, dec_seq, int64_t(Mt) * d, p, st.seed, site_of(1, int(dec.size()), kFinal), s);
    if (c.scale_decoder_outputs) oc::scale(dec_seq, int64_t(Mt) * d, float(std::pow(double(d), -0.5)), s);
    if (head_bf16_now()) oc::convert(dec_seq, dec_seq_b16, int64_t(Mt) * d, s);  // the bf16 head's operand
    // the head runs in head_and_loss, a chunk of rows at a time
  }

  const float* head() const { return I.cfg.tie_word_embeddings ? shared : lm_head; }
  // This step's head runs on bf16 operands (head_b16; the head family's precision is bf16)
  bool head_bf16_now() const { return dec_seq_b16 && p_head == oc::Precision::BF16; }

  // The head, the cross-entropy and the head's backward, in chunks of head_rows rows, so the
  // [Mt x vocab] fp32 logits never exist at once (263 MB at 16x128 rows of the flagship vocab;
  // one chunk is <= 32 MiB: 256 rows). Per chunk: logits = dec_seq · headᵀ, then (labels) the
  // row-wise cross-entropy (loss_rows; with the backward dlogits in place, scaled by d_gscale =
  // 1 / the whole batch's label count, set on the host before the step, so chunking changes
  // nothing), then g_n's rows = dlogits · head. The same kernels per row as one pass over all
  // rows: loss bit for bit, g_n to fp32 rounding (cuBLAS may split a product of fewer rows
  // differently). logits_out (eval asking for logits) gets each chunk copied out; that path is
  // never graphed. No host sync otherwise (graph-capturable).
  void head_and_loss(int Mt, bool labels, bool do_bwd, float* logits_out) {
    const int V = I.cfg.vocab_size, d = I.cfg.d_model;
    if (!labels && !logits_out) return;  // nobody reads the logits
    const bool hb = head_bf16_now();
    for (int r0 = 0; r0 < Mt; r0 += int(head_rows)) {
      const int rows = std::min(int(head_rows), Mt - r0);
      if (hb) oc::linear_xwt(s, p_head, dec_seq_b16 + size_t(r0) * d, head_b16.get(), logits, rows, V, d);
      else oc::linear_xwt(s, p_head, dec_seq + size_t(r0) * d, head(), logits, rows, V, d);
      if (logits_out)
        HUKUK_CUDA_CHECK(cudaMemcpyAsync(logits_out + size_t(r0) * V, logits, sizeof(float) * size_t(rows) * V,
                                         cudaMemcpyDeviceToHost, s));
      if (!labels) continue;
      oc::cross_entropy(logits, d_labels + r0, rows, V, d_gscale, do_bwd, loss_rows + r0, s, hb);
      // logits hold dLoss/dlogits: g_n = dlogits · head (fp32 out; the final norm's backward follows
      // in decoder_backward). hb: bf16 dlogits at the start of each fp32 row (leading dimension 2V)
      if (do_bwd && hb)
        oc::gemm(s, p_head, false, false, rows, d, V, 1.f, reinterpret_cast<const bf16_t*>(logits), 2 * V, 0,
                 head_b16.get(), d, 0, 0.f, g_n + size_t(r0) * d, d, 0);
      else if (do_bwd)
        oc::gemm(s, p_head, false, false, rows, d, V, 1.f, logits, V, 0, head(), d, 0, 0.f, g_n + size_t(r0) * d, d, 0);
    }
    if (logits_out) HUKUK_CUDA_CHECK(cudaStreamSynchronize(s));
  }
  // Rows of one head chunk: as many as fit 32 MiB of fp32 logits (a multiple of 64 rows where
  // that is at least 64; the flagship vocab gives 256), at most Mt: small enough that the chunk's
  // logits stay far below the activations (8 chunks at 16x128), large enough that each chunk's
  // products still fill the GPU (256 x 32128 x 768). HUKUK_T5_HEAD_CHUNK_ROWS=n forces n (tests;
  // read at each plan). common/training/memory-estimate.ts mirrors it (headChunkRows).
  size_t head_chunk_rows(size_t Mt) const {
    const size_t V = size_t(std::max(1, I.cfg.vocab_size));
    size_t rows = std::max<size_t>(1, (size_t(32) << 20) / (V * sizeof(float)));
    if (rows >= 64) rows = rows / 64 * 64;
    if (const char* e = std::getenv("HUKUK_T5_HEAD_CHUNK_ROWS")) rows = size_t(std::max(1L, std::atol(e)));
    return std::max<size_t>(1, std::min(rows, Mt));
  }
  // The LoRA products are tiny (rank r) and carry the whole training signal: always fp32, so
  // bf16 rounding of A, B and h never reaches the gradients (measured: bf16 LoRA products put the
  // fixtures' gradient errors at 3-6e-2, over issue 5's 3e-2).
  static constexpr oc::Precision lora_prec = oc::Precision::F32;
  bool relu_in_place() const { return !I.cfg.is_gated && I.act == ops::Act::Relu; }
  // norms_recomputed: a norm's output for the forward's projections goes to g_d (a backward plan's,
  // free in the forward) when the plan keeps none
  template <typename T>
  T* norm_out(T* kept) const {
    return kept ? kept : tp<T>(g_d);
  }
  // The norm output x of Linears Ls for their backward: the kept one, or (norms_recomputed) the
  // forward's again in g_d from the residual input and rstd, where a LoRA's A side reads it;
  // nullptr where none does (linear_bwd then never reads x). Call once g_d's dy is consumed.
  template <typename T>
  const T* norm_for_bwd(const T* kept, DLin* const* Ls, int n, const float* x_res, const float* ln, const float* rstd,
                        int M, const Ctx& st) {
    if (kept) return kept;
    bool need = false;
    for (int i = 0; i < n; ++i) need = need || (st.use_lora && Ls[i]->lora);
    if (!need) return nullptr;
    T* y = tp<T>(g_d);
    oc::rmsnorm_apply(x_res, ln, rstd, y, M, I.cfg.d_model, s);
    return y;
  }
  // cross_kv_recomputed: block l's cross K,V again in g_ff0 (after co's backward, which may use
  // g_ff0 as its LoRA scratch; read by the cross attention's backward only), the forward's
  // products with its LoRA h (a re-run's path), so bit for bit the forward's K,V.
  template <typename T>
  T* cross_kv_again(DBlock& b, const Shape& sh, const Ctx& st, int l) {
    T* ckv = tp<T>(g_ff0);
    DLin* kv[2] = {&b.ck, &b.cv};
    const bool was = rerunning;
    rerunning = true;
    projections(kv, 2, b.ckv_fused, tp<const T>(enc_out), sh.B * sh.S, sh.S, ckv, deq_cross, st, 1, l, false);
    rerunning = was;
    return ckv;
  }
  bool any_wo_lora() const {
    for (const std::vector<DBlock>* st : {&enc, &dec})
      for (const DBlock& b : *st)
        if (b.wo.lora) return true;
    return false;
  }

  // ---------------------------------------------------------------- backward
  // g = dLoss/d(block output) in place; FFN then returns dLoss/d(ffn input) accumulated into g.
  // fuse_next: the norm's backward also writes g_d = dropout_backward(g) of next_site (norm_drop_fused)
  template <typename T>
  void ffn_bwd(DBlock& b, const ActsT<T>& a, const float* x_before, float* g, int M, const Ctx& st, int stack, int l,
               bool fuse_next = false, uint64_t next_site = 0, bool gd_ready = false) {
    const T5Config& c = I.cfg;
    const int d = c.d_model;
    const float p = st.train ? c.dropout_rate : 0.f;
    const int64_t nff = int64_t(M) * c.d_ff, Md = int64_t(M) * d;
    T* gd = tp<T>(g_d);
    T* gf0 = tp<T>(g_ff0);
    if (!gd_ready) oc::dropout_backward(g, gd, Md, p, st.seed, site_of(stack, l, kFfRes), false, s);
    // ffn_bwd_bf16: dpre = scale·(gd·Wo) rounded once into g_ff0, masked in place below
    const bool wo_bf16 = !is_f32<T> && ffn_bwd_bf16 && a.relu_mask && !(st.use_lora && b.wo.lora);
    if (wo_bf16)
      oc::gemm(s, p_bwd, false, false, M, b.wo.in, b.wo.out, p > 0.f ? 1.f / (1.f - p) : 1.f, gd, b.wo.out, 0,
               weight<T>(b.wo), b.wo.in, 0, 0.f, gf0, b.wo.in, 0);
    else
      linear_bwd<T>(b.wo, a.hff, gd, M, g_ffh, false, st, lsite(b.wo, stack, l));
    DLin* wis[2] = {c.is_gated ? &b.wi0 : &b.wi, &b.wi1};
    const T* n3 = norm_for_bwd<T>(a.n3, wis, c.is_gated ? 2 : 1, x_before, b.ln_ff, a.rstd3, M, st);  // gd consumed
    const uint64_t act_site = site_of(stack, l, kFfAct);
    if (c.is_gated) {
      T* gf1 = tp<T>(g_ff1);
      oc::gated_dropout_backward(I.act, a.pre0, a.pre1, g_ffh, gf0, gf1, nff, p, st.seed, act_site, s);
      linear_bwd<T>(b.wi0, n3, gf0, M, g_n, false, st, lsite(b.wi0, stack, l));
      linear_bwd<T>(b.wi1, n3, gf1, M, g_n, true, st, lsite(b.wi1, stack, l));
    } else if (a.relu_mask) {  // ffn_bitmask (wo has no LoRA: its backward did not read a.hff)
      if constexpr (!is_f32<T>) {
        if (wo_bf16)
          oc::act_dropout_backward_bitmask_prescaled(I.act, a.relu_mask, gf0, gf0, nff, p, st.seed, act_site, s,
                                                     relu_keep_mask);
        else
          oc::act_dropout_backward_bitmask(I.act, a.relu_mask, g_ffh, gf0, nff, p, st.seed, act_site, s, relu_keep_mask);
      } else {
        oc::act_dropout_backward_bitmask(I.act, a.relu_mask, g_ffh, gf0, nff, p, st.seed, act_site, s, relu_keep_mask);
      }
      linear_bwd<T>(b.wi, n3, gf0, M, g_n, false, st, lsite(b.wi, stack, l));
    } else {
      // pre0 == hff (the dropped output) when relu_in_place(): relu' is right there (see block_layout)
      oc::act_dropout_backward(I.act, a.pre0, g_ffh, gf0, nff, p, st.seed, act_site, s);
      linear_bwd<T>(b.wi, n3, gf0, M, g_n, false, st, lsite(b.wi, stack, l));
    }
    if (fuse_next) oc::rmsnorm_backward_dropout(x_before, b.ln_ff, a.rstd3, g_n, g, M, d, true, gd, p, st.seed, next_site, s);
    else oc::rmsnorm_backward(x_before, b.ln_ff, a.rstd3, g_n, g, M, d, true, s);
  }

  // Backward of n projections of x: dY rows of each at g_rows (adjacent, [n, M, out]); dx (+)= Σ dY_i W_i.
  // With a recompute plan, a fused NF4 group is still dequantized in its region from the re-run.
  template <typename T>
  void projections_bwd(DLin* const* Ls, int n, bool fused, const T* x, int M, const T* g_rows, float* dx,
                       bool acc_dx, void* region, const Ctx& st, int stack, int l) {
    const size_t so = size_t(M) * Ls[0]->out;
    const int out = Ls[0]->out;
    long long sB = 0, sh = 0;
    const bool batched = st.use_lora && lora_batchable(Ls, n, true, sB, sh);
    // lora side (kLoraSideDefault): the group's lora_up_backward (dh into tmp_r's n slots, gB) on s_ls,
    // forked here (g_rows is ready), beside the dx GEMMs; joined before the A side reads dh
    bool side = false;
    if constexpr (!is_f32<T>) {
      if (batched && dx && tc_in(Ls[0]->lora->r, out)) {
        const DLora& l0 = *Ls[0]->lora;
        float* up_ws = up_scratch<T>(g_rows, dx, oc::tc::lora_up_backward_workspace_floats(M, out, l0.r, n));
        side = ls_fork_here(lora_side_bwd, M);
        if (side)
          oc::tc::lora_up_backward(g_rows, l0.h, l0.B, tmp_r, l0.gB, M, out, l0.r, l0.scale, true, n, (long long)so, sh,
                                   sB, (long long)M * l0.r, up_ws, s_ls);
      }
    }
    const T* W = fused ? group_weights<T>(Ls, n, region, !planned_keep && region) : nullptr;
    if (!batched) {
      for (int i = 0; i < n; ++i)
        linear_bwd<T>(*Ls[i], x, g_rows + i * so, M, dx, acc_dx || i > 0, st, lsite(*Ls[i], stack, l),
                      W ? W + size_t(i) * Ls[i]->out * Ls[i]->in : nullptr);
      return;
    }
    if (dx)
      for (int i = 0; i < n; ++i)
        oc::gemm(s, p_bwd, false, false, M, Ls[i]->in, out, 1.f, g_rows + i * so, out, 0,
                 W ? W + size_t(i) * out * Ls[i]->in : weight<T>(*Ls[i]), Ls[i]->in, 0, acc_dx || i > 0 ? 1.f : 0.f,
                 dx, Ls[i]->in, 0);
    if (side) {
      ls_join_here();
      lora_bwd_A_group<T>(Ls, n, x, tmp_r, M, dx, st, stack, l);
      return;
    }
    // gB_i += scale * dy_iᵀ h_i ; dh_i = scale * dy_i B_i (tmp_r: n slots), one GEMM each
    const DLora& l0 = *Ls[0]->lora;
    const int r = l0.r;
    const bool ours = up_bwd_ours<T>(n);
    const bool tc = tc_in(r, out);
    const size_t up_need = tc ? oc::tc::lora_up_backward_workspace_floats(M, out, r, n)
                           : ours ? oc::lora_up_backward_workspace_floats(M, out, r, n) : 0;
    float* up_ws = up_scratch<T>(g_rows, dx, up_need);
    if (tc) {  // bf16 activations only (lora_tc)
      if constexpr (!is_f32<T>)
        oc::tc::lora_up_backward(g_rows, l0.h, l0.B, tmp_r, l0.gB, M, out, r, l0.scale, true, n, (long long)so, sh, sB,
                                 (long long)M * r, up_ws, s);
    } else if (ours && (up_need == 0 || up_ws)) {  // one launch for the n members, one pass over each dy
      oc::lora_up_backward(g_rows, l0.h, l0.B, tmp_r, l0.gB, M, out, r, l0.scale, true, n, (long long)so, sh, sB,
                           (long long)M * r, up_ws, s);
    } else {
      if constexpr (is_f32<T>) {
        oc::gemm(s, lora_prec, true, false, out, r, M, l0.scale, g_rows, out, (long long)so, l0.h, r, sh, 1.f, l0.gB, r,
                 sB, n);
        oc::gemm(s, lora_prec, false, false, M, r, out, l0.scale, g_rows, out, (long long)so, l0.B, r, sB, 0.f, tmp_r, r,
                 (long long)M * r, n);
      } else {
        HUKUK_FAIL("ENGINE_INTERNAL", "bf16 activations need ops/lora's lora_up_backward (no scratch)");
      }
    }
    lora_bwd_A_group<T>(Ls, n, x, tmp_r, M, dx, st, stack, l);  // one launch for the group where it applies
  }

  template <typename T>
  // gd_ready: g_d already holds dropout_backward(g) of this residual (the norm backward before wrote it)
  // fuse_next: the last norm backward also writes g_d = dropout_backward(g) of next_site (the next
  // block's FFN residual: norm_drop_xblock)
  void self_attn_bwd(DBlock& b, const ActsT<T>& a, float* g, int M, const Shape& sh, bool decoder, const Ctx& st,
                     int l, bool gd_ready = false, bool fuse_next = false, uint64_t next_site = 0) {
    const T5Config& c = I.cfg;
    const int stack = decoder ? 1 : 0;
    const float p = st.train ? c.dropout_rate : 0.f;
    T* gd = tp<T>(g_d);
    T* gqkv = tp<T>(g_qkv);
    if (!gd_ready) oc::dropout_backward(g, gd, int64_t(M) * c.d_model, p, st.seed, site_of(stack, l, kSelfRes), false, s);
    linear_bwd<T>(b.o, a.ctx, gd, M, g_inner, false, st, lsite(b.o, stack, l));
    attention_bwd(self_args(sh, decoder, st, l), a.qh, a.kh, a.vh, a.P, a.ctx, g_inner, gqkv);
    DLin* qkv[3] = {&b.q, &b.k, &b.v};
    const T* n1 = norm_for_bwd<T>(a.n1, qkv, 3, a.x_in, b.ln_self, a.rstd1, M, st);  // gd consumed by o's
    projections_bwd<T>(qkv, 3, b.qkv_fused, n1, M, gqkv, g_n, false, deq_self, st, stack, l);
    if (fuse_next)
      oc::rmsnorm_backward_dropout(a.x_in, b.ln_self, a.rstd1, g_n, g, M, c.d_model, true, gd, p, st.seed, next_site, s);
    else
      oc::rmsnorm_backward(a.x_in, b.ln_self, a.rstd1, g_n, g, M, c.d_model, true, s);
  }

  static bool block_has_lora(DBlock& b) {
    for (DLin* L : {&b.q, &b.k, &b.v, &b.o, &b.cq, &b.ck, &b.cv, &b.co, &b.wi, &b.wi0, &b.wi1, &b.wo})
      if (L->lora) return true;
    return false;
  }

  // Block l's activations for its backward: stored ones, or re-run into the scratch (recompute).
  template <typename T>
  ActsT<T> acts_for_backward(bool decoder, size_t l, const Shape& sh, const Ctx& st) {
    ActsT<T> a = acts<T>(decoder, l);
    if (!planned_keep) {
      rerunning = true;
      block_fwd(decoder, l, a, nullptr, sh, st, false, true, false, NextNorm{});
      rerunning = false;
    }
    return a;
  }

  template <typename T>
  void decoder_backward(const Shape& sh, const Ctx& st, bool need_enc) {
    const T5Config& c = I.cfg;
    const int Ms = sh.B * sh.S, Mt = sh.B * sh.T, d = c.d_model;
    const float p = st.train ? c.dropout_rate : 0.f;
    // g_n = dlogits · head, written chunk by chunk by head_and_loss; then the final norm's backward
    if (c.scale_decoder_outputs) oc::scale(g_n, int64_t(Mt) * d, float(std::pow(double(d), -0.5)), s);
    oc::dropout_backward(g_n, g_n, int64_t(Mt) * d, p, st.seed, site_of(1, int(dec.size()), kFinal), false, s);
    oc::rmsnorm_backward(da[dec.size()].x_in, dec_final_ln, dec_fin_rstd, g_n, g_dec, Mt, d, false, s);
    if (need_enc) HUKUK_CUDA_CHECK(cudaMemsetAsync(g_enc, 0, sizeof(float) * size_t(Ms) * d, s));
    cs_live = false;  // (a capture that failed may have left them set; its recording is gone)
    cs_slot_busy[0] = cs_slot_busy[1] = false;
    const int lowest = dec_bwd_lowest(need_enc);
    T* gd = tp<T>(g_d);
    T* gqkv = tp<T>(g_qkv);
    for (int l = int(dec.size()) - 1; l >= lowest; --l) {
      DBlock& b = dec[size_t(l)];
      pf_enter(b);
      const ActsT<T> a = acts_for_backward<T>(true, size_t(l), sh, st);
      const bool xb_in = norm_drop_xblock && l < int(dec.size()) - 1, xb_out = norm_drop_xblock && l > lowest;
      ffn_bwd(b, a, a.x_mid2, g_dec, Mt, st, 1, l, norm_drop_fused, site_of(1, l, kCrossRes), xb_in);
      // cross-attention
      if (!norm_drop_fused)
        oc::dropout_backward(g_dec, gd, int64_t(Mt) * d, p, st.seed, site_of(1, l, kCrossRes), false, s);
      linear_bwd<T>(b.co, a.cctx, gd, Mt, g_inner, false, st, lsite(b.co, 1, l));
      // cross_side: dK,dV into the layer's slot, their k,v backward on s_cs from here; cross_side_kv:
      // the K,V (recomputed) come from s_cs too, in slot l % 2, and dK,dV go into slot (l + 1) % 2
      const bool kv_side = cross_side_kv && !a.ckh;
      T* ckv;
      if (kv_side) {
        if (l == int(dec.size()) - 1) {  // the first layer of the backward: s_cs forks here for it
          cs_create();
          HUKUK_CUDA_CHECK(cudaEventRecord(cs_fork[0], s));
          HUKUK_CUDA_CHECK(cudaStreamWaitEvent(s_cs, cs_fork[0], 0));
          cs_live = true;
          cross_kv_side<T>(l, tp<T>(cs_dkv[l & 1]), sh, st, false, true);
          HUKUK_CUDA_CHECK(cudaEventRecord(cs_kvr, s_cs));
        }
        HUKUK_CUDA_CHECK(cudaStreamWaitEvent(s, cs_kvr, 0));
        ckv = tp<T>(cs_dkv[l & 1]);
      } else {
        ckv = a.ckh ? a.ckh : cross_kv_again<T>(b, sh, st, l);
      }
      T* gkv = !cross_side ? gqkv + size_t(Mt) * c.inner_dim() : kv_side ? tp<T>(cs_dkv[(l + 1) & 1]) : cs_slot<T>(l);
      attention_bwd(cross_args(sh, st, l), a.cqh, ckv, ckv + size_t(Ms) * c.inner_dim(), a.cP, a.cctx, g_inner, gqkv,
                    cross_side ? gkv : nullptr);
      if (cross_side) cross_kv_bwd_side<T>(b, gkv, need_enc ? g_enc : nullptr, Ms, st, l);
      if (kv_side && l > lowest) {  // layer l - 1's K,V, after the side has read this layer's dK,dV
        cross_kv_side<T>(l - 1, tp<T>(cs_dkv[(l - 1) & 1]), sh, st, false, true);
        HUKUK_CUDA_CHECK(cudaEventRecord(cs_kvr, s_cs));
      }
      DLin* cq[1] = {&b.cq};
      const T* nc = norm_for_bwd<T>(a.nc, cq, 1, a.x_mid, b.ln_cross, a.rstdc, Mt, st);  // gd consumed by co's
      linear_bwd<T>(b.cq, nc, gqkv, Mt, g_n, false, st, lsite(b.cq, 1, l));
      DLin* kv[2] = {&b.ck, &b.cv};
      if (!cross_side)
        projections_bwd<T>(kv, 2, b.ckv_fused, tp<const T>(enc_out), Ms, gkv, need_enc ? g_enc : nullptr, true,
                           deq_cross, st, 1, l);
      if (norm_drop_fused)
        oc::rmsnorm_backward_dropout(a.x_mid, b.ln_cross, a.rstdc, g_n, g_dec, Mt, d, true, gd, p, st.seed,
                                     site_of(1, l, kSelfRes), s);
      else
        oc::rmsnorm_backward(a.x_mid, b.ln_cross, a.rstdc, g_n, g_dec, Mt, d, true, s);
      self_attn_bwd(b, a, g_dec, Mt, sh, true, st, l, norm_drop_fused, xb_out, site_of(1, l - 1, kFfRes));
    }
    cs_end();  // the side's k,v backward joins: encoder_backward reads g_enc
  }

  template <typename T>
  void encoder_backward(const Shape& sh, const Ctx& st) {
    const T5Config& c = I.cfg;
    const int Ms = sh.B * sh.S, d = c.d_model;
    const float p = st.train ? c.dropout_rate : 0.f;
    oc::dropout_backward(g_enc, g_enc, int64_t(Ms) * d, p, st.seed, site_of(0, int(enc.size()), kFinal), false, s);
    oc::rmsnorm_backward(ea[enc.size()].x_in, enc_final_ln, enc_fin_rstd, g_enc, g_n, Ms, d, false, s);
    HUKUK_CUDA_CHECK(cudaMemcpyAsync(g_enc, g_n, sizeof(float) * size_t(Ms) * d, cudaMemcpyDeviceToDevice, s));
    const int lowest = enc_bwd_lowest();
    for (int l = int(enc.size()) - 1; l >= lowest; --l) {
      DBlock& b = enc[size_t(l)];
      pf_enter(b);
      const ActsT<T> a = acts_for_backward<T>(false, size_t(l), sh, st);
      const bool xb_in = norm_drop_xblock && l < int(enc.size()) - 1, xb_out = norm_drop_xblock && l > lowest;
      ffn_bwd(b, a, a.x_mid, g_enc, Ms, st, 0, l, norm_drop_fused, site_of(0, l, kSelfRes), xb_in);
      self_attn_bwd(b, a, g_enc, Ms, sh, false, st, l, norm_drop_fused, xb_out, site_of(0, l - 1, kFfRes));
    }
  }
  bool encoder_has_lora() {
    for (DBlock& b : enc)
      if (block_has_lora(b)) return true;
    return false;
  }

  // The plan's activation type picks the instantiation.
  void encoder_fwd(const Shape& sh, const Ctx& st, bool save) {
    act_bf16 ? encoder_forward<bf16_t>(sh, st, save) : encoder_forward<float>(sh, st, save);
  }
  void decoder_fwd(const Shape& sh, const Ctx& st, bool save) {
    act_bf16 ? decoder_forward<bf16_t>(sh, st, save) : decoder_forward<float>(sh, st, save);
  }
  void decoder_bwd(const Shape& sh, const Ctx& st, bool need_enc) {
    act_bf16 ? decoder_backward<bf16_t>(sh, st, need_enc) : decoder_backward<float>(sh, st, need_enc);
  }
  void encoder_bwd(const Shape& sh, const Ctx& st) {
    act_bf16 ? encoder_backward<bf16_t>(sh, st) : encoder_backward<float>(sh, st);
  }

  // Replays the graph for `key`, capturing `body` first if needed. A capture that fails (a call
  // that cannot be captured) turns graphs off for this model and runs `body` directly.
  template <typename F>
  void run_graph(const GraphKey& key, F&& body) {
    auto it = graphs.find(key);
    if (it == graphs.end()) {
      cudaGraph_t g = nullptr;
      cudaGraphExec_t exec = nullptr;
      HUKUK_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
      try {
        body();
      } catch (const std::exception& e) {
        ls_abandon();  // (lora side: s_ls joins s; it waits on nothing but s)
        cs_abandon();  // join the side streams first: a capture with a stream still forked cannot end
        pf_abandon();
        cudaStreamEndCapture(s, &g);
        if (g) cudaGraphDestroy(g);
        cudaGetLastError();
        // Only a call that cannot be captured turns graphs off for this model; any other error
        // (bad input, out of memory) is the caller's, with graphs still on for the next step.
        if (!std::strstr(e.what(), "Capture")) throw;
        graphs_ok = false;
        std::fprintf(stderr, "t5cuda: CUDA graph capture failed (%s); running without graphs\n", e.what());
        body();
        return;
      }
      HUKUK_CUDA_CHECK(cudaStreamEndCapture(s, &g));
      const cudaError_t ie = cudaGraphInstantiate(&exec, g, 0);
      cudaGraphDestroy(g);
      HUKUK_CUDA_CHECK(ie);
      it = graphs.emplace(key, exec).first;
    }
    HUKUK_CUDA_CHECK(cudaGraphLaunch(it->second, s));
  }

  // ---------------------------------------------------------------- views for generation
  DeviceWeightsView view() {
    if (I.has_lora && loras.empty()) lora_to_device();
    if (weights_bf16) weights_fp32_for_views();
    auto lin = [](const DLin& L) {
      DeviceLinearView v;
      v.in = L.in;
      v.out = L.out;
      v.w = L.w;
      v.nf4 = L.q ? &L.qv : nullptr;
      if (L.lora) {
        v.lora_A = L.lora->A;
        v.lora_B = L.lora->B;
        v.r = L.lora->r;
        v.scale = L.lora->scale;
      }
      return v;
    };
    auto blocks = [&](const std::vector<DBlock>& db) {
      std::vector<DeviceBlockView> out;
      for (const DBlock& b : db) {
        DeviceBlockView v;
        v.q = lin(b.q); v.k = lin(b.k); v.v = lin(b.v); v.o = lin(b.o);
        v.cq = lin(b.cq); v.ck = lin(b.ck); v.cv = lin(b.cv); v.co = lin(b.co);
        v.wi = lin(b.wi); v.wi0 = lin(b.wi0); v.wi1 = lin(b.wi1); v.wo = lin(b.wo);
        v.ln_self = b.ln_self; v.ln_cross = b.ln_cross; v.ln_ff = b.ln_ff;
        out.push_back(v);
      }
      return out;
    };
    DeviceWeightsView w;
    w.shared = shared;
    w.head = head();
    w.enc_final_ln = enc_final_ln;
    w.dec_final_ln = dec_final_ln;
    w.enc = blocks(enc);
    w.dec = blocks(dec);
    w.stream = s;
    return w;
  }

  // The encoder alone (generation): eval mode, output in the arena's enc_out.
  // `use` runs under the model's lock with the encoder output (on stream s), so no step of
  // another thread can re-plan or overwrite the arena while the caller reads it.
  void encode(const int32_t* ids, const int32_t* mask, int B, int S, bool use_adapter,
              const std::function<void(const float*, cudaStream_t)>& use) {
    std::lock_guard<std::mutex> lock(mu);
    const T5Config& c = I.cfg;
    HUKUK_CHECK(B > 0 && S > 0 && ids, "ENGINE_INVALID_ARG", "encode needs ids of a positive shape");
    if (I.has_lora && loras.empty()) lora_to_device();
    const Shape sh{B, S, 1};
    const int Ms = B * S;
    for (int i = 0; i < Ms; ++i)
      HUKUK_CHECK(ids[i] >= 0 && ids[i] < c.vocab_size, "ENGINE_INVALID_ARG",
                  "input id " + std::to_string(ids[i]) + " at position " + std::to_string(i) + " is outside the vocabulary");
    std::vector<int32_t> m(static_cast<size_t>(Ms), 1);
    if (mask) std::memcpy(m.data(), mask, sizeof(int32_t) * size_t(Ms));
    set_family_precisions();
    plan(sh, false, false, want_flash(sh), false);
    HUKUK_CUDA_CHECK(cudaMemcpyAsync(d_ids, ids, sizeof(int32_t) * Ms, cudaMemcpyHostToDevice, s));
    HUKUK_CUDA_CHECK(cudaMemcpyAsync(d_mask, m.data(), sizeof(int32_t) * Ms, cudaMemcpyHostToDevice, s));
    if (!(bias_shape == sh)) {
      std::vector<float> eb(size_t(c.num_heads) * S * S);
      ops::relative_bias(I.enc[0].self.rel_bias.data(), c.num_heads, S, S, 0, true, c.relative_attention_num_buckets,
                         c.relative_attention_max_distance, eb.data());
      HUKUK_CUDA_CHECK(cudaMemcpy(enc_bias, eb.data(), eb.size() * sizeof(float), cudaMemcpyHostToDevice));
      bias_shape = Shape{};  // the decoder table of this plan was not written
    }
    const Ctx st{false, use_adapter && I.has_lora, d_seed};
    encoder_fwd(sh, st, false);
    use(tp<const float>(enc_out), s);  // fp32: planned with allow_bf16 = false
    HUKUK_CUDA_CHECK(cudaStreamSynchronize(s));
  }

  // ---------------------------------------------------------------- one step
  StepResult run(const Batch& bt, const StepOptions& o, bool backward) {
    std::lock_guard<std::mutex> lock(mu);
    const T5Config& c = I.cfg;
    HUKUK_CHECK(bt.batch > 0 && bt.src_len > 0 && bt.tgt_len > 0, "ENGINE_INVALID_ARG",
                "batch, srcLen and tgtLen must be positive");
    HUKUK_CHECK(bt.input_ids, "ENGINE_INVALID_ARG", "inputIds are required");
    HUKUK_CHECK(bt.labels || bt.decoder_input_ids, "ENGINE_INVALID_ARG", "labels (or decoderInputIds) are required");
    HUKUK_CHECK(!backward || bt.labels, "ENGINE_INVALID_ARG", "forwardBackward needs labels");
    rerunning = false;  // (an exception inside a re-run leaves it set)
    HUKUK_CHECK(!backward || (o.use_adapter && I.has_lora), "ENGINE_INVALID_ARG",
                "forwardBackward needs a LoRA adapter (addLora or loadAdapter first)");
    if (I.has_lora && loras.empty()) lora_to_device();
    const Shape sh{bt.batch, bt.src_len, bt.tgt_len};
    const int Ms = sh.B * sh.S, Mt = sh.B * sh.T;
    // host-side checks and inputs (the CPU path's rules)
    for (int i = 0; i < Ms; ++i)
      HUKUK_CHECK(bt.input_ids[i] >= 0 && bt.input_ids[i] < c.vocab_size, "ENGINE_INVALID_ARG",
                  "input id " + std::to_string(bt.input_ids[i]) + " at position " + std::to_string(i) +
                      " is outside the vocabulary");
    std::vector<int32_t> mask(static_cast<size_t>(Ms), 1), dec_ids(static_cast<size_t>(Mt));
    if (bt.attention_mask) std::memcpy(mask.data(), bt.attention_mask, sizeof(int32_t) * size_t(Ms));
    if (bt.decoder_input_ids) {
      std::memcpy(dec_ids.data(), bt.decoder_input_ids, sizeof(int32_t) * size_t(Mt));
    } else {
      for (int b = 0; b < sh.B; ++b) {
        dec_ids[size_t(b) * sh.T] = c.decoder_start_token_id;
        for (int t = 1; t < sh.T; ++t) {
          const int32_t y = bt.labels[size_t(b) * sh.T + t - 1];
          dec_ids[size_t(b) * sh.T + t] = y == -100 ? c.pad_token_id : y;
        }
      }
    }
    for (int i = 0; i < Mt; ++i)
      HUKUK_CHECK(dec_ids[size_t(i)] >= 0 && dec_ids[size_t(i)] < c.vocab_size, "ENGINE_INVALID_ARG",
                  "decoder input id " + std::to_string(dec_ids[size_t(i)]) + " is outside the vocabulary");
    int64_t count = 0;
    if (bt.labels)
      for (int i = 0; i < Mt; ++i) {
        const int y = bt.labels[i];
        if (y == -100) continue;
        if (y < 0 || y >= c.vocab_size)
          HUKUK_FAIL("ENGINE_INVALID_ARG", "label " + std::to_string(y) + " at position " + std::to_string(i) +
                                               " is outside the vocabulary (0.." + std::to_string(c.vocab_size - 1) + ")");
        ++count;
      }
    if (const char* e = std::getenv("HUKUK_T5_GEMM")) {  // benchmark experiments: fp32 | bf16 | tf32
      const std::string v = e;
      const oc::Precision p = v == "tf32" ? oc::Precision::TF32 : v == "fp32" ? oc::Precision::F32 : oc::Precision::BF16;
      if (p != prec) drop_graphs();
      prec = p;
    }
    set_family_precisions();
    plan(sh, backward, o.recompute, want_flash(sh));
    // PDL for this step's kernels: sm_90+ unless HUKUK_T5_PDL=0 (read each step); set before any
    // kernel of the step is recorded or launched (plan()'s own kernels run without it), off again
    // when run() returns or throws. A graph is keyed by it (GraphKey::pdl).
    const bool pdl_on = pdl_capable && env_switch("HUKUK_T5_PDL") != 0;
    PdlStepScope pdl_scope(pdl_on);
    prof.on = std::getenv("HUKUK_T5_PROFILE") != nullptr;
    prof.mark("start", s);
    HUKUK_CUDA_CHECK(cudaMemcpyAsync(d_ids, bt.input_ids, sizeof(int32_t) * Ms, cudaMemcpyHostToDevice, s));
    HUKUK_CUDA_CHECK(cudaMemcpyAsync(d_mask, mask.data(), sizeof(int32_t) * Ms, cudaMemcpyHostToDevice, s));
    HUKUK_CUDA_CHECK(cudaMemcpyAsync(d_dec_ids, dec_ids.data(), sizeof(int32_t) * Mt, cudaMemcpyHostToDevice, s));
    if (bt.labels) HUKUK_CUDA_CHECK(cudaMemcpyAsync(d_labels, bt.labels, sizeof(int32_t) * Mt, cudaMemcpyHostToDevice, s));
    if (!(bias_shape == sh)) {  // position bias tables: fixed weights, so once per shape
      const int H = c.num_heads;
      std::vector<float> eb(size_t(H) * sh.S * sh.S), db(size_t(H) * sh.T * sh.T);
      ops::relative_bias(I.enc[0].self.rel_bias.data(), H, sh.S, sh.S, 0, true, c.relative_attention_num_buckets,
                         c.relative_attention_max_distance, eb.data());
      ops::relative_bias(I.dec[0].self.rel_bias.data(), H, sh.T, sh.T, 0, false, c.relative_attention_num_buckets,
                         c.relative_attention_max_distance, db.data());
      HUKUK_CUDA_CHECK(cudaMemcpy(enc_bias, eb.data(), eb.size() * sizeof(float), cudaMemcpyHostToDevice));
      HUKUK_CUDA_CHECK(cudaMemcpy(dec_bias, db.data(), db.size() * sizeof(float), cudaMemcpyHostToDevice));
      if (flash_bias_diag_on) {
        set_bias_diag(eb, H, sh.S, enc_bias_diag, enc_diag_len);
        set_bias_diag(db, H, sh.T, dec_bias_diag, dec_diag_len);
      }
      bias_shape = sh;
    }
    const Ctx st{o.train, o.use_adapter && I.has_lora, d_seed};
    const uint64_t seed = o.dropout_seed;
    const float gscale = count ? float(1.0 / double(count)) : 0.f;
    HUKUK_CUDA_CHECK(cudaMemcpyAsync(d_seed, &seed, sizeof seed, cudaMemcpyHostToDevice, s));
    HUKUK_CUDA_CHECK(cudaMemcpyAsync(d_gscale, &gscale, sizeof gscale, cudaMemcpyHostToDevice, s));
    const bool do_bwd = backward && count > 0;
    const bool need_enc = do_bwd && encoder_has_lora();
    // A training step (no logits wanted) is one CUDA graph: captured once per shape and mode,
    // then replayed, so the ~10k kernel and GEMM launches of a step cost one launch.
    const bool graphed = bt.labels && !o.logits_out && graphs_ok && !prof.on;
    // A throw between pf_begin and pf_end (a typed error mid-step) must not leave a dequantization
    // queued on s_pf to run later beside the next step's work in a region it refills: join s_pf
    // into s on the way out (a no-op after pf_end, which clears pf_seq; found in review).
    struct PfUnwind {
      T5Cuda& t;
      ~PfUnwind() {
        t.ls_abandon();  // (lora side: s_ls joins s; it waits on nothing but s)
        t.cs_abandon();  // (cross_side: s_cs joins s first; then s_pf, which may wait on s_cs)
        t.pf_abandon();
      }
    } pf_unwind{*this};
    if (graphed) {
      run_graph(GraphKey{sh, do_bwd, st.train, st.use_lora, need_enc, o.recompute, pdl_on}, [&] {
        pf_begin(do_bwd, need_enc);
        encoder_fwd(sh, st, backward);
        decoder_fwd(sh, st, backward);
        head_and_loss(Mt, true, do_bwd, nullptr);
        if (do_bwd) {
          decoder_bwd(sh, st, need_enc);
          if (need_enc) encoder_bwd(sh, st);
        }
        pf_end();
      });
    } else {
      pf_begin(do_bwd, need_enc);
      encoder_fwd(sh, st, backward);
      prof.mark("enc_fwd", s);
      decoder_fwd(sh, st, backward);
      prof.mark("dec_fwd", s);
      head_and_loss(Mt, bt.labels != nullptr, do_bwd, o.logits_out);
      if (!do_bwd) pf_end();
      prof.mark("head_ce", s);
    }
    StepResult r;
    if (!bt.labels) {
      r.loss = NAN;
      HUKUK_CUDA_CHECK(cudaStreamSynchronize(s));
      return r;
    }
    if (!graphed) {
      if (do_bwd) {
        decoder_bwd(sh, st, need_enc);
        prof.mark("dec_bwd", s);
        if (need_enc) encoder_bwd(sh, st);
        pf_end();
        prof.mark("enc_bwd", s);
      }
    }
    std::vector<float> lr(static_cast<size_t>(Mt));
    HUKUK_CUDA_CHECK(cudaMemcpy(lr.data(), loss_rows, sizeof(float) * size_t(Mt), cudaMemcpyDeviceToHost));
    double sum = 0;
    for (float v : lr) sum += v;
    r.tokens = count;
    r.loss = count ? sum / double(count) : NAN;
    prof.report();
    return r;
  }
};

namespace {
std::mutex g_mu;
std::map<const T5Impl*, std::unique_ptr<T5Cuda>>& table() {
  static std::map<const T5Impl*, std::unique_ptr<T5Cuda>> t;
  return t;
}
T5Cuda& get(const T5Impl& I) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = table().find(&I);
  HUKUK_CHECK(it != table().end(), "ENGINE_INTERNAL", "this T5 model has no CUDA state");
  return *it->second;
}
}  // namespace

void attach(T5Impl& I) {
  auto c = std::make_unique<T5Cuda>(I);
  std::lock_guard<std::mutex> lock(g_mu);
  table()[&I] = std::move(c);
}
void detach(const T5Impl& I) {
  std::unique_ptr<T5Cuda> c;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = table().find(&I);
    if (it == table().end()) return;
    c = std::move(it->second);
    table().erase(it);
  }
  cudaDeviceSynchronize();
}
StepResult run(T5Impl& I, const Batch& b, const StepOptions& o, bool backward) { return get(I).run(b, o, backward); }
void lora_to_device(T5Impl& I) {
  T5Cuda& c = get(I);
  std::lock_guard<std::mutex> lock(c.mu);
  c.lora_to_device();
}
void lora_to_host(const T5Impl& I) {
  T5Cuda& c = get(I);
  std::lock_guard<std::mutex> lock(c.mu);
  c.lora_to_host();
}
std::vector<ParamRef> lora_params(T5Impl& I) {
  T5Cuda& c = get(I);
  std::lock_guard<std::mutex> lock(c.mu);
  if (I.has_lora && c.loras.empty()) c.lora_to_device();
  return c.params();
}
void zero_grad(T5Impl& I) {
  T5Cuda& c = get(I);
  std::lock_guard<std::mutex> lock(c.mu);
  c.zero_grad();
}
std::vector<float> download(const float* device_ptr, size_t n) {
  std::vector<float> v(n);
  if (n) HUKUK_CUDA_CHECK(cudaMemcpy(v.data(), device_ptr, n * sizeof(float), cudaMemcpyDeviceToHost));
  return v;
}
DeviceWeightsView device_weights(T5Impl& I) {
  T5Cuda& c = get(I);
  std::lock_guard<std::mutex> lock(c.mu);
  return c.view();
}
void encode(T5Impl& I, const int32_t* ids, const int32_t* mask, int B, int S, bool use_adapter,
            const std::function<void(const float*, void*)>& use) {
  get(I).encode(ids, mask, B, S, use_adapter, [&](const float* enc, cudaStream_t st) { use(enc, st); });
}
MemoryUse memory_use(const T5Impl& I) {
  T5Cuda& c = get(I);
  return {c.weight_bytes, c.lora_n * 4 * sizeof(float), c.arena_high, c.arena_plan};
}

}  // namespace hukuk::t5cuda

#endif  // HUKUK_CUDA
