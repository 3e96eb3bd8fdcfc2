// See cuda_step_model.h. The op order of record_step() mirrors T5Impl::decode_step (t5/model.cpp).
#include "generate/cuda/cuda_step_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"

#if !defined(HUKUK_CUDA)

namespace hukuk::gen {
bool cuda_step_available(const T5Model&) { return false; }
struct CudaStepModel::State {};
CudaStepModel::CudaStepModel(std::shared_ptr<T5Model> model, std::vector<int32_t>, std::vector<int32_t>, int, int, bool)
    : keep_(std::move(model)), model_(*keep_), batch_(0), src_len_(0), use_adapter_(false) {
  HUKUK_FAIL("ENGINE_UNSUPPORTED", "this addon was built without CUDA (nvcc was not found at build time)");
}
CudaStepModel::~CudaStepModel() = default;
int CudaStepModel::vocab() const { return 0; }
void CudaStepModel::start(int, int, int) {}
void CudaStepModel::step(const int32_t*, int, float*) {}
void CudaStepModel::reorder(const int32_t*, int) {}
}  // namespace hukuk::gen

#else

#include <cuda_runtime_api.h>

#include "core/cuda_runtime.h"
#include "generate/cuda/decode_kernels.cuh"
#include "nf4/nf4_cuda.h"
#include "ops/attention.h"
#include "ops/ops_cuda.h"
#include "t5/cuda/t5_cuda.h"
#include "t5/impl.h"

namespace hukuk::gen {

namespace gc = hukuk::gen::cuda;
namespace oc = hukuk::ops::cuda;
using hukuk::cuda::DeviceBuffer;
using t5cuda::DeviceLinearView;

bool cuda_step_available(const T5Model& model) { return model.device() == DeviceKind::CUDA; }

// Pinned host memory (async copies that a graph-free step can overlap; freed with the state).
template <typename T>
struct PinnedBuffer {
  T* p = nullptr;
  size_t n = 0;
  void resize(size_t count) {
    release();
    if (count == 0) return;
    HUKUK_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&p), count * sizeof(T)));
    n = count;
  }
  void release() {
    if (p) cudaFreeHost(p);
    p = nullptr;
    n = 0;
  }
  ~PinnedBuffer() { release(); }
};

struct CudaStepModel::State {
  T5Impl& I;
  t5cuda::DeviceWeightsView w;
  cudaStream_t model_stream = nullptr;  // the model's (encoder, cross K/V)
  cudaStream_t s = nullptr;             // ours (the steps; non-blocking: never waits on other work)
  cudaGraphExec_t graph = nullptr;
  bool graphs_ok = true;
  bool fuse_norm = true;  // HUKUK_GEN_FUSE_NORM=0: rmsnorm as its own kernel (A/B checks)
  // Defaults = the fastest measured configuration (flagship QLoRA, NF4 + LoRA r16, source 64,
  // bench/gpu/results/h200-2026-11-28-0048-gen.jsonl, NVIDIA H200, 2026-11-28 00:48 UTC), in ms/token:
  //   batch 1 greedy: single 2.993, single + PDL 2.899, multi 3.304, multi + PDL 2.447;
  //   beam 4: single 6.424, multi + PDL 4.321;
  //   ms/step, batch 16: single 11.81, cuBLAS 9.57, multi 7.97, multi + PDL 7.47;
  //            batch 64: single 40.7, multi 24.2, cuBLAS 13.77.
  // ("single": one output per warp, since removed; "multi": 4 outputs per warp, gc::gemv's kernel.)
  // Steps of >= gemm_rows rows run their products in cuBLAS (NF4 dequantized into a scratch
  // first) + gc::epilogue. Default 32 (between batch 16, where multi + PDL wins, and batch 64,
  // where cuBLAS is 1.8x faster than multi; 32 itself not measured). HUKUK_GEN_GEMM_ROWS=0 never,
  // =R from R rows.
  int gemm_rows = 32;
  bool use_gemm = false;
  // Programmatic dependent launch between the step's kernels: on where the GPU is sm_90+ (off
  // before, where the attribute does not exist); HUKUK_GEN_PDL=0 off. Not used on cuBLAS steps:
  // cuBLAS steps were measured and tested on the GPU without it (batch 64: 13.77 ms/step).
  bool pdl_capable = false;
  bool pdl = false;
  DeviceBuffer<float> deq, gemm_out;
  size_t gemm_out_stride = 0;
  bool lora = false;
  int batch = 0, beams = 1, rows = 0, max_len = 0, src_len = 0, length = 0, rmax = 1;
  // [L][2 (k, v)][rows][max_len * inner]; tmp: the beam reorder's copy
  DeviceBuffer<float> self_kv, self_kv_tmp;
  // [L][2][batch][src_len * inner], shared by the beams of an input
  DeviceBuffer<float> cross_kv;
  DeviceBuffer<float> x, nrm, q, ctx, ff0, ff1, hff, lora_h, logits, bias_table;
  DeviceBuffer<int32_t> tokens, pos, enc_mask, bucket, src_rows, identity_rows;
  PinnedBuffer<int32_t> h_tokens, h_pos, h_rows;
  PinnedBuffer<float> h_logits;

  explicit State(T5Impl& impl) : I(impl) {
    // the switches first: a bad value throws before the stream exists (no destructor runs then)
    const char* g = std::getenv("HUKUK_GEN_GRAPHS");
    graphs_ok = !(g && std::string(g) == "0");
    const char* f = std::getenv("HUKUK_GEN_FUSE_NORM");
    fuse_norm = !(f && std::string(f) == "0");
    const char* gr = std::getenv("HUKUK_GEN_GEMM_ROWS");
    if (gr && *gr) {
      char* end = nullptr;
      const long v = std::strtol(gr, &end, 10);
      HUKUK_CHECK(*end == '\0' && v >= 0, "ENGINE_INVALID_ARG",
                  std::string("HUKUK_GEN_GEMM_ROWS must be a row count >= 0 (0 = never cuBLAS; got '") + gr + "')");
      gemm_rows = int(std::min<long>(v, 1 << 30));
    }
    const char* pd = std::getenv("HUKUK_GEN_PDL");
    const std::string pdl_env = pd ? pd : "";
    HUKUK_CHECK(pdl_env.empty() || pdl_env == "0" || pdl_env == "1", "ENGINE_INVALID_ARG",
                "HUKUK_GEN_PDL must be 0 or 1 (got '" + pdl_env + "')");
    if (pdl_env != "0") {
      int dev = 0, major = 0;
      HUKUK_CUDA_CHECK(cudaGetDevice(&dev));
      HUKUK_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
      pdl_capable = major >= 9;
    }
    HUKUK_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  }
  ~State() {
    if (s) cudaStreamSynchronize(s);
    drop_graph();
    if (s) cudaStreamDestroy(s);
  }
  void drop_graph() {
    if (graph) cudaGraphExecDestroy(graph);
    graph = nullptr;
  }
  bool on(const DeviceLinearView& L) const { return lora && L.lora_A != nullptr && L.r > 0; }

  // ---- one product (few rows): weight + fused LoRA/residual/ReLU ----
  gc::GemvJob job(const DeviceLinearView& L, float* y, int64_t y_ld, const float* h) const {
    gc::GemvJob j;
    j.N = L.out;
    if (L.nf4) {
      j.is_nf4 = true;
      j.nf4 = *static_cast<const nf4::cuda::DeviceNf4*>(L.nf4);
    } else {
      j.w = L.w;
    }
    j.y = y;
    j.y_ld = y_ld;
    if (on(L)) {
      j.lora_h = h;
      j.lora_B = L.lora_B;
      j.lora_r = L.r;
      j.lora_scale = L.scale;
    }
    return j;
  }
  // y_i = x · W_iᵀ (+ LoRA) for up to 3 Linears sharing the input x [rows, K]; jobs come
  // prepared (outputs, epilogues); this adds the LoRA h = x · Aᵀ pass first when needed.
  // norm_w: the input's RMS norm is fused into both passes (x is then the raw residual stream).
  void linears(const float* x, int K, const DeviceLinearView* const* L, gc::GemvJob* jobs, int nj,
               const float* norm_w = nullptr) {
    const float eps = I.cfg.layer_norm_epsilon;
    gc::GemvArgs h;
    h.x = x;
    h.x_ld = K;
    h.n = rows;
    h.K = K;
    h.norm_w = norm_w;
    h.norm_eps = eps;
    h.pdl = pdl;
    for (int i = 0; i < nj; ++i) {
      if (!on(*L[i])) continue;
      gc::GemvJob& hj = h.job[h.njobs++];
      hj.w = L[i]->lora_A;
      hj.N = L[i]->r;
      hj.y = lora_h.get() + size_t(i) * rows * rmax;
      hj.y_ld = L[i]->r;
      jobs[i].lora_h = hj.y;
    }
    if (use_gemm) {  // many rows: cuBLAS products (x is already normalized here), then the epilogue
      HUKUK_CHECK(!norm_w, "ENGINE_INTERNAL", "decoder step: no fused norm on the cuBLAS path");
      gc::GemvArgs e;
      e.n = rows;
      e.pos = pos.get();
      e.pdl = pdl;
      for (int i = 0; i < nj; ++i) {
        const DeviceLinearView& Lv = *L[i];
        HUKUK_CHECK(Lv.in == K, "ENGINE_INTERNAL", "decoder step: a Linear's input width differs from its input");
        float* out = gemm_out.get() + size_t(i) * gemm_out_stride;
        if (Lv.nf4)
          nf4::cuda::linear_xwt_f32(*static_cast<const nf4::cuda::DeviceNf4*>(Lv.nf4), x, rows, out, 1.f, 0.f, deq.get(), s);
        else
          oc::linear_xwt(s, oc::Precision::F32, x, Lv.w, out, rows, Lv.out, K);
        if (on(Lv)) {
          float* hh = lora_h.get() + size_t(i) * rows * rmax;
          oc::linear_xwt(s, oc::Precision::F32, x, Lv.lora_A, hh, rows, Lv.r, K);
          jobs[i].lora_h = hh;
        }
        jobs[i].base = out;
        e.job[e.njobs++] = jobs[i];
      }
      gc::epilogue(e, s);
      return;
    }
    if (h.njobs) gc::gemv(h, s);
    gc::GemvArgs a;
    a.x = x;
    a.x_ld = K;
    a.n = rows;
    a.K = K;
    a.pos = pos.get();
    a.norm_w = norm_w;
    a.norm_eps = eps;
    a.pdl = pdl;
    for (int i = 0; i < nj; ++i) {
      HUKUK_CHECK(L[i]->in == K, "ENGINE_INTERNAL", "decoder step: a Linear's input width differs from its input");
      a.job[a.njobs++] = jobs[i];
    }
    gc::gemv(a, s);
  }

  // Linears on rmsnorm(x; ln): the norm fused into the products for few rows, else its own kernel.
  void normed_linears(const float* ln, const DeviceLinearView* const* L, gc::GemvJob* jobs, int nj) {
    const int d = I.cfg.d_model;
    if (fuse_norm && rows <= gc::kMaxFusedNormRows && !use_gemm) {
      linears(x.get(), d, L, jobs, nj, ln);
    } else {
      gc::rmsnorm(x.get(), ln, nrm.get(), rows, d, I.cfg.layer_norm_epsilon, 1.f, s, pdl);
      linears(nrm.get(), d, L, jobs, nj);
    }
  }

  // ---- start(): encoder, cross K/V, buffers ----
  void prepare(const int32_t* ids, const int32_t* mask, int B, int S, int nb, int max_len_, bool use_adapter) {
    drop_graph();
    w = t5cuda::device_weights(I);
    model_stream = static_cast<cudaStream_t>(w.stream);
    lora = use_adapter && I.has_lora;
    const T5Config& c = I.cfg;
    const int L = int(w.dec.size()), H = c.num_heads, inner = c.inner_dim(), d = c.d_model;
    batch = B;
    beams = nb;
    rows = B * nb;
    max_len = max_len_;
    src_len = S;
    length = 0;
    rmax = 1;
    size_t deq_max = 0;
    for (const auto& b : w.dec)
      for (const DeviceLinearView* v : {&b.q, &b.k, &b.v, &b.o, &b.cq, &b.ck, &b.cv, &b.co, &b.wi, &b.wi0, &b.wi1, &b.wo}) {
        if (!v->present()) continue;
        if (on(*v)) rmax = std::max(rmax, v->r);
        if (v->nf4) deq_max = std::max(deq_max, size_t(v->out) * v->in);
      }
    const size_t per_row = size_t(max_len) * inner;
    self_kv.resize(size_t(L) * 2 * rows * per_row);
    self_kv_tmp.release();
    cross_kv.resize(size_t(L) * 2 * B * S * inner);
    x.resize(size_t(rows) * d);
    nrm.resize(size_t(rows) * d);
    q.resize(size_t(rows) * inner);
    ctx.resize(size_t(rows) * inner);
    ff0.resize(size_t(rows) * c.d_ff);
    ff1.resize(c.is_gated ? size_t(rows) * c.d_ff : 0);
    hff.resize(c.is_gated ? size_t(rows) * c.d_ff : 0);
    lora_h.resize(size_t(3) * rows * rmax);
    logits.resize(size_t(rows) * c.vocab_size);
    tokens.resize(rows);
    pos.resize(1);
    h_tokens.resize(rows);
    h_pos.resize(1);
    h_rows.resize(rows);
    h_logits.resize(size_t(rows) * c.vocab_size);
    src_rows.resize(rows);
    identity_rows.resize(rows);
    for (int r = 0; r < rows; ++r) h_rows.p[r] = r;
    HUKUK_CUDA_CHECK(cudaMemcpyAsync(identity_rows.get(), h_rows.p, sizeof(int32_t) * rows, cudaMemcpyHostToDevice, s));

    // relative-position bias of the decoder (first block's table, all layers): bucket by distance
    const std::vector<float>& table = I.dec[0].self.rel_bias;
    HUKUK_CHECK(table.size() == size_t(c.relative_attention_num_buckets) * H, "ENGINE_INTERNAL",
                "decoder relative attention bias table has an unexpected size");
    bias_table.resize(table.size());
    HUKUK_CUDA_CHECK(
        cudaMemcpyAsync(bias_table.get(), table.data(), sizeof(float) * table.size(), cudaMemcpyHostToDevice, s));
    std::vector<int32_t> bk(max_len);
    for (int dist = 0; dist < max_len; ++dist)
      bk[dist] = ops::relative_position_bucket(-dist, false, c.relative_attention_num_buckets,
                                               c.relative_attention_max_distance);
    bucket.resize(max_len);
    HUKUK_CUDA_CHECK(cudaMemcpyAsync(bucket.get(), bk.data(), sizeof(int32_t) * max_len, cudaMemcpyHostToDevice, s));

    // encoder mask (all ones when none was given)
    std::vector<int32_t> m(size_t(B) * S, 1);
    if (mask) std::memcpy(m.data(), mask, sizeof(int32_t) * m.size());
    enc_mask.resize(m.size());
    HUKUK_CUDA_CHECK(cudaMemcpyAsync(enc_mask.get(), m.data(), sizeof(int32_t) * m.size(), cudaMemcpyHostToDevice, s));

    // encoder, then cross K/V per layer on the model's stream (cuBLAS, fp32), inside encode's
    // callback: under the model's lock, so no training step can re-plan the arena that holds
    // the encoder output while the cross K/V products read it
    const int Me = B * S;
    use_gemm = gemm_rows > 0 && rows >= gemm_rows;
    pdl = pdl_capable && !use_gemm;
    deq.resize(deq_max ? deq_max : 1);
    gemm_out_stride = use_gemm ? size_t(rows) * std::max({inner, c.d_ff, d}) : 0;
    gemm_out.resize(use_gemm ? 3 * gemm_out_stride : 0);
    DeviceBuffer<float> hbuf(size_t(Me) * rmax);
    t5cuda::encode(I, ids, mask, B, S, use_adapter, [&](const float* enc, void*) {
      for (int l = 0; l < L; ++l) {
        const t5cuda::DeviceBlockView& b = w.dec[l];
        for (int kv = 0; kv < 2; ++kv) {
          const DeviceLinearView& Lv = kv == 0 ? b.ck : b.cv;
          HUKUK_CHECK(Lv.in == d && Lv.out == inner, "ENGINE_INTERNAL", "cross-attention K/V have unexpected shapes");
          float* y = cross_kv.get() + (size_t(l) * 2 + kv) * Me * inner;
          if (Lv.nf4)
            nf4::cuda::linear_xwt_f32(*static_cast<const nf4::cuda::DeviceNf4*>(Lv.nf4), enc, Me, y, 1.f, 0.f, deq.get(),
                                      model_stream);
          else
            oc::linear_xwt(model_stream, oc::Precision::F32, enc, Lv.w, y, Me, inner, d);
          if (on(Lv)) {
            oc::linear_xwt(model_stream, oc::Precision::F32, enc, Lv.lora_A, hbuf.get(), Me, Lv.r, d);
            oc::linear_xwt(model_stream, oc::Precision::F32, hbuf.get(), Lv.lora_B, y, Me, inner, Lv.r, Lv.scale, 1.f);
          }
        }
      }
      HUKUK_CUDA_CHECK(cudaStreamSynchronize(model_stream));
    });
    // the encoder and cross K/V ran on the model's stream, the uploads on ours (non-blocking: it
    // does not wait for the legacy stream, so plain cudaMemcpy could still be in flight); the
    // host vectors above must outlive their copies
    HUKUK_CUDA_CHECK(cudaStreamSynchronize(model_stream));
    HUKUK_CUDA_CHECK(cudaStreamSynchronize(s));
  }

  // ---- one decoder step (captured once into a graph) ----
  void record_step() {
    const T5Config& c = I.cfg;
    const int L = int(w.dec.size()), H = c.num_heads, dk = c.d_kv, inner = c.inner_dim(), d = c.d_model, dff = c.d_ff;
    const float eps = c.layer_norm_epsilon;
    const int64_t per_row = int64_t(max_len) * inner;
    const int64_t cross_per_row = int64_t(src_len) * inner;
    gc::embed(w.shared, tokens.get(), x.get(), rows, d, s, pdl);
    for (int l = 0; l < L; ++l) {
      const t5cuda::DeviceBlockView& b = w.dec[l];
      float* kself = self_kv.get() + (size_t(l) * 2 + 0) * rows * per_row;
      float* vself = self_kv.get() + (size_t(l) * 2 + 1) * rows * per_row;
      const float* kcross = cross_kv.get() + (size_t(l) * 2 + 0) * batch * cross_per_row;
      const float* vcross = cross_kv.get() + (size_t(l) * 2 + 1) * batch * cross_per_row;
      // self-attention: q, and k, v written straight into the cache at the step's position
      {
        const DeviceLinearView* Ls[3] = {&b.q, &b.k, &b.v};
        gc::GemvJob j[3] = {job(b.q, q.get(), inner, nullptr), job(b.k, kself, per_row, nullptr),
                            job(b.v, vself, per_row, nullptr)};
        j[1].y_pos_stride = j[2].y_pos_stride = inner;
        normed_linears(b.ln_self, Ls, j, 3);
      }
      gc::AttnArgs sa;
      sa.q = q.get(); sa.k = kself; sa.v = vself; sa.out = ctx.get();
      sa.n = rows; sa.H = H; sa.dk = dk; sa.inner = inner;
      sa.kv_row_stride = per_row; sa.kv_ld = inner; sa.kv_row_div = 1;
      sa.pos = pos.get(); sa.bias_table = bias_table.get(); sa.bucket = bucket.get();
      sa.max_keys = max_len;
      sa.pdl = pdl;
      gc::attention(sa, s);
      residual_linear(b.o, ctx.get(), inner);
      // cross-attention over the encoder (K/V from start())
      {
        const DeviceLinearView* Ls[1] = {&b.cq};
        gc::GemvJob j[1] = {job(b.cq, q.get(), inner, nullptr)};
        normed_linears(b.ln_cross, Ls, j, 1);
      }
      gc::AttnArgs ca;
      ca.q = q.get(); ca.k = kcross; ca.v = vcross; ca.out = ctx.get();
      ca.n = rows; ca.H = H; ca.dk = dk; ca.inner = inner;
      ca.kv_row_stride = cross_per_row; ca.kv_ld = inner; ca.kv_row_div = beams;
      ca.Tk = src_len; ca.key_mask = enc_mask.get(); ca.max_keys = src_len;
      ca.pdl = pdl;
      gc::attention(ca, s);
      residual_linear(b.co, ctx.get(), inner);
      // feed-forward
      const int64_t nff = int64_t(rows) * dff;
      if (c.is_gated) {
        const DeviceLinearView* Ls[2] = {&b.wi0, &b.wi1};
        gc::GemvJob j[2] = {job(b.wi0, ff0.get(), dff, nullptr), job(b.wi1, ff1.get(), dff, nullptr)};
        normed_linears(b.ln_ff, Ls, j, 2);
        oc::gated_forward(I.act, ff0.get(), ff1.get(), hff.get(), nff, s);
        residual_linear(b.wo, hff.get(), dff);
      } else {
        const DeviceLinearView* Ls[1] = {&b.wi};
        gc::GemvJob j[1] = {job(b.wi, ff0.get(), dff, nullptr)};
        j[0].relu = I.act == ops::Act::Relu;
        normed_linears(b.ln_ff, Ls, j, 1);
        if (I.act != ops::Act::Relu) oc::act_forward(I.act, ff0.get(), ff0.get(), nff, s);
        residual_linear(b.wo, ff0.get(), dff);
      }
    }
    const float post = c.scale_decoder_outputs ? float(std::pow(double(d), -0.5)) : 1.f;
    gc::rmsnorm(x.get(), w.dec_final_ln, nrm.get(), rows, d, eps, post, s, pdl);
    gc::GemvArgs head;
    head.x = nrm.get();
    head.x_ld = d;
    head.n = rows;
    head.K = d;
    head.njobs = 1;
    head.pdl = pdl;
    head.job[0].w = w.head;
    head.job[0].N = c.vocab_size;
    head.job[0].y = logits.get();
    head.job[0].y_ld = c.vocab_size;
    if (use_gemm)
      oc::linear_xwt(s, oc::Precision::F32, nrm.get(), w.head, logits.get(), rows, c.vocab_size, d);
    else
      gc::gemv(head, s);
  }
  // x += L(in): the residual add fused into the product's epilogue
  void residual_linear(const DeviceLinearView& Lv, const float* in, int K) {
    const DeviceLinearView* Ls[1] = {&Lv};
    gc::GemvJob j[1] = {job(Lv, x.get(), I.cfg.d_model, nullptr)};
    j[0].residual = x.get();
    j[0].res_ld = I.cfg.d_model;
    linears(in, K, Ls, j, 1);
  }

  void run_step() {
    if (graphs_ok && !graph) {
      cudaGraph_t g = nullptr;
      HUKUK_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
      try {
        record_step();
      } catch (const std::exception& e) {
        cudaStreamEndCapture(s, &g);
        if (g) cudaGraphDestroy(g);
        cudaGetLastError();
        std::fprintf(stderr, "generate: CUDA graph capture failed (%s); running the step kernel by kernel\n", e.what());
        graphs_ok = false;
      }
      if (graphs_ok) {
        HUKUK_CUDA_CHECK(cudaStreamEndCapture(s, &g));
        const cudaError_t ie = cudaGraphInstantiate(&graph, g, 0);
        cudaGraphDestroy(g);
        if (ie != cudaSuccess) {
          cudaGetLastError();
          graph = nullptr;
          graphs_ok = false;
        }
      }
    }
    if (graph)
      HUKUK_CUDA_CHECK(cudaGraphLaunch(graph, s));
    else
      record_step();
  }
};

CudaStepModel::CudaStepModel(std::shared_ptr<T5Model> model, std::vector<int32_t> ids, std::vector<int32_t> mask,
                             int batch, int src_len, bool use_adapter)
    : keep_(std::move(model)), model_(*keep_), ids_(std::move(ids)), mask_(std::move(mask)), batch_(batch),
      src_len_(src_len), use_adapter_(use_adapter) {
  HUKUK_CHECK(model_.device() == DeviceKind::CUDA, "ENGINE_INVALID_ARG", "CudaStepModel needs a model loaded on CUDA");
  HUKUK_CHECK(batch >= 1 && src_len >= 1, "ENGINE_INVALID_ARG", "inputIds must hold at least one token per row");
  HUKUK_CHECK(static_cast<int64_t>(batch) * src_len == static_cast<int64_t>(ids_.size()), "ENGINE_INVALID_ARG",
              "inputIds must hold batch * srcLen ids");
  HUKUK_CHECK(mask_.empty() || mask_.size() == ids_.size(), "ENGINE_INVALID_ARG",
              "attentionMask must have the shape of inputIds");
  const int V = model_.config().vocab_size;
  for (int32_t t : ids_) HUKUK_CHECK(t >= 0 && t < V, "ENGINE_INVALID_ARG", "inputIds holds an id outside the vocabulary");
}

CudaStepModel::~CudaStepModel() = default;

int CudaStepModel::vocab() const { return model_.config().vocab_size; }

void CudaStepModel::start(int batch, int beams, int max_len) {
  HUKUK_CHECK(batch == batch_, "ENGINE_INVALID_ARG", "batch differs from the inputs");
  HUKUK_CHECK(beams >= 1 && max_len >= 1, "ENGINE_INVALID_ARG", "beams and max_len must be positive");
  if (!st_) st_ = std::make_unique<State>(model_.impl());
  st_->prepare(ids_.data(), mask_.empty() ? nullptr : mask_.data(), batch_, src_len_, beams, max_len, use_adapter_);
}

void CudaStepModel::step(const int32_t* tokens, int n, float* logits) {
  HUKUK_CHECK(st_, "ENGINE_INVALID_ARG", "decode step before start()");
  State& S = *st_;
  HUKUK_CHECK(n == S.rows, "ENGINE_INVALID_ARG", "decode step: row count differs from the cache");
  HUKUK_CHECK(S.length < S.max_len, "ENGINE_INVALID_ARG", "decode step: the cache is full (max_len reached)");
  const int V = model_.config().vocab_size;
  for (int r = 0; r < n; ++r)
    HUKUK_CHECK(tokens[r] >= 0 && tokens[r] < V, "ENGINE_INVALID_ARG", "decode step: a token is outside the vocabulary");
  std::memcpy(S.h_tokens.p, tokens, sizeof(int32_t) * n);
  S.h_pos.p[0] = S.length;
  HUKUK_CUDA_CHECK(cudaMemcpyAsync(S.tokens.get(), S.h_tokens.p, sizeof(int32_t) * n, cudaMemcpyHostToDevice, S.s));
  HUKUK_CUDA_CHECK(cudaMemcpyAsync(S.pos.get(), S.h_pos.p, sizeof(int32_t), cudaMemcpyHostToDevice, S.s));
  S.run_step();
  const size_t nl = size_t(n) * V;
  HUKUK_CUDA_CHECK(cudaMemcpyAsync(S.h_logits.p, S.logits.get(), sizeof(float) * nl, cudaMemcpyDeviceToHost, S.s));
  HUKUK_CUDA_CHECK(cudaStreamSynchronize(S.s));
  std::memcpy(logits, S.h_logits.p, sizeof(float) * nl);
  S.length += 1;
}

void CudaStepModel::reorder(const int32_t* src_rows, int n) {
  HUKUK_CHECK(st_, "ENGINE_INVALID_ARG", "reorder before start()");
  State& S = *st_;
  HUKUK_CHECK(n == S.rows, "ENGINE_INVALID_ARG", "reorder: row count differs from the cache");
  bool identity = true;
  for (int r = 0; r < n; ++r) {
    HUKUK_CHECK(src_rows[r] >= 0 && src_rows[r] < n, "ENGINE_INVALID_ARG", "reorder_cache: source row out of range");
    // the cross-attention K/V are kept once per input: a beam may only take a beam of its own input
    HUKUK_CHECK(src_rows[r] / S.beams == r / S.beams, "ENGINE_INVALID_ARG",
                "reorder: a row may only take over a beam of the same input on the GPU");
    identity = identity && src_rows[r] == r;
  }
  if (identity || S.length == 0) return;
  const T5Config& c = model_.config();
  const int L2 = int(S.w.dec.size()) * 2;
  const int64_t per_row = int64_t(S.max_len) * c.inner_dim();
  const int64_t used = int64_t(S.length) * c.inner_dim();
  if (!S.self_kv_tmp.get()) S.self_kv_tmp.resize(S.self_kv.size());
  std::memcpy(S.h_rows.p, src_rows, sizeof(int32_t) * n);
  HUKUK_CUDA_CHECK(cudaMemcpyAsync(S.src_rows.get(), S.h_rows.p, sizeof(int32_t) * n, cudaMemcpyHostToDevice, S.s));
  gc::gather_rows(S.self_kv.get(), S.self_kv_tmp.get(), S.src_rows.get(), L2, n, per_row, used, S.s);
  gc::gather_rows(S.self_kv_tmp.get(), S.self_kv.get(), S.identity_rows.get(), L2, n, per_row, used, S.s);
  // h_rows is reused by the next reorder: wait for the copy (cheap; the next step syncs anyway)
  HUKUK_CUDA_CHECK(cudaStreamSynchronize(S.s));
}

}  // namespace hukuk::gen

#endif  // HUKUK_CUDA
