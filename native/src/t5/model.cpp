// The T5 graph on the CPU: loading, forward (training layout, saved activations), explicit
// backward for the LoRA parameters, and incremental decoding with a KV cache.
// Mirrors transformers 5.17 modeling_t5.py (T5Stack / T5Block / T5LayerSelfAttention /
// T5LayerCrossAttention / T5LayerFF / T5ForConditionalGeneration) and peft's lora.Linear, in
// the same order of operations, so fp32 results agree to rounding.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "core/error.h"
#include "io/safetensors.h"
#include "ops/attention.h"
#include "ops/cross_entropy.h"
#include "ops/dropout.h"
#include "ops/embedding.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "t5/cuda/t5_cuda.h"
#include "t5/impl.h"

namespace hukuk {

// ---------------------------------------------------------------- dropout sites
// site = ((stack * 4096 + layer) * 32 + slot): every dropout call has its own mask stream.
enum Slot : uint64_t {
  kEmbed = 0, kSelfProbs = 1, kSelfRes = 2, kCrossProbs = 3, kCrossRes = 4, kFfAct = 5, kFfRes = 6, kFinal = 7,
  kLoraBase = 8  // + linear slot (0..11)
};
static uint64_t site_of(int stack, int layer, uint64_t slot) { return (uint64_t(stack) * 4096 + layer) * 32 + slot; }
static int linear_slot(const std::string& module, const std::string& kind) {
  static const char* attn[] = {"q", "k", "v", "o"};
  for (int i = 0; i < 4; ++i)
    if (kind == attn[i]) return module == "EncDecAttention" ? 4 + i : i;
  if (kind == "wi") return 8;
  if (kind == "wi_0") return 9;
  if (kind == "wi_1") return 10;
  return 11;  // wo
}

// ---------------------------------------------------------------- loading
static std::string read_text_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) HUKUK_FAIL("ENGINE_IO", "cannot read " + p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

static bool quantized_by_policy(const std::string& kind, bool quantize_wo) {
  return kind == "q" || kind == "k" || kind == "v" || kind == "o" || kind == "wi" || kind == "wi_0" ||
         kind == "wi_1" || (quantize_wo && kind == "wo");
}

namespace {
struct Loader {
  const io::ShardedSafeTensors& st;
  const LoadOptions& opt;
  nf4::TensorLookup lookup;

  explicit Loader(const io::ShardedSafeTensors& s, const LoadOptions& o) : st(s), opt(o) {
    lookup = [this](const std::string& name, nf4::TensorView* out) {
      const io::TensorInfo* t = st.find(name);
      if (!t) return false;
      out->dtype = t->dtype;
      out->shape = t->shape;
      out->data = t->data;
      out->nbytes = t->nbytes;
      return true;
    };
  }
  std::vector<float> vec(const std::string& name, std::vector<int64_t> shape) { return st.read_f32(name, shape); }
  void linear(Linear& L, const std::string& name, const std::string& module, const std::string& kind, bool decoder,
              int out, int in, int stack, int layer) {
    L.name = name;
    L.kind = kind;
    L.module = module;
    L.decoder = decoder;
    L.in = in;
    L.out = out;
    (void)stack;
    (void)layer;
    const std::string w = name + ".weight";
    if (nf4::is_bnb_nf4(lookup, name + ".")) {
      L.q = std::make_unique<nf4::Nf4Tensor>(nf4::load_bnb_nf4(lookup, name + "."));
      if (L.q->shape != std::vector<int64_t>{out, in})
        HUKUK_FAIL("ENGINE_CORRUPT", "tensor '" + w + "' (4-bit) has shape " + io::shape_str(L.q->shape) +
                                         ", expected " + io::shape_str({out, in}));
      return;
    }
    L.w = st.read_f32(w, {out, in});
    if (opt.quant_nf4 && quantized_by_policy(kind, opt.quantize_wo)) {
      L.q = std::make_unique<nf4::Nf4Tensor>(nf4::quantize(L.w.data(), nf4::DType::F32, {out, in}, 64, true));
      std::vector<float>().swap(L.w);
    }
  }
};
}  // namespace

std::unique_ptr<T5Model> T5Model::load(const LoadOptions& opt) {
  if (opt.device == DeviceKind::CUDA) {  // the CPU loader, then the device copy (t5/cuda/t5_cuda.h)
    LoadOptions host = opt;
    host.device = DeviceKind::CPU;
    std::unique_ptr<T5Model> m = load(host);
    m->impl_->load_opt.device = DeviceKind::CUDA;
    t5cuda::attach(*m->impl_);
    return m;
  }
  std::unique_ptr<T5Model> m(new T5Model());
  m->impl_ = std::make_unique<T5Impl>();
  T5Impl& I = *m->impl_;
  I.load_opt = opt;
  I.cfg = T5Config::from_json_text(read_text_file(opt.model_dir + "/config.json"));
  const T5Config& c = I.cfg;
  I.act = ops::act_from_name(c.act);
  io::ShardedSafeTensors st(opt.model_dir);
  Loader L(st, opt);
  const int64_t V = c.vocab_size, d = c.d_model, inner = c.inner_dim(), ff = c.d_ff, H = c.num_heads;
  std::string emb = "shared.weight";
  if (!st.has(emb)) emb = st.has("encoder.embed_tokens.weight") ? "encoder.embed_tokens.weight" : "decoder.embed_tokens.weight";
  I.shared = L.vec(emb, {V, d});
  if (!c.tie_word_embeddings) I.lm_head = L.vec("lm_head.weight", {V, d});
  auto build = [&](std::vector<Block>& blocks, int n, bool decoder) {
    blocks.resize(size_t(n));
    const std::string stack = decoder ? "decoder" : "encoder";
    const int sidx = decoder ? 1 : 0;
    for (int i = 0; i < n; ++i) {
      Block& b = blocks[size_t(i)];
      const std::string p = stack + ".block." + std::to_string(i) + ".layer.";
      const std::string sa = p + "0.SelfAttention.";
      L.linear(b.self.q, sa + "q", "SelfAttention", "q", decoder, int(inner), int(d), sidx, i);
      L.linear(b.self.k, sa + "k", "SelfAttention", "k", decoder, int(inner), int(d), sidx, i);
      L.linear(b.self.v, sa + "v", "SelfAttention", "v", decoder, int(inner), int(d), sidx, i);
      L.linear(b.self.o, sa + "o", "SelfAttention", "o", decoder, int(d), int(inner), sidx, i);
      if (i == 0) b.self.rel_bias = L.vec(sa + "relative_attention_bias.weight", {c.relative_attention_num_buckets, H});
      b.ln_self = L.vec(p + "0.layer_norm.weight", {d});
      int ffl = 1;
      if (decoder) {
        const std::string ca = p + "1.EncDecAttention.";
        L.linear(b.cross.q, ca + "q", "EncDecAttention", "q", true, int(inner), int(d), sidx, i);
        L.linear(b.cross.k, ca + "k", "EncDecAttention", "k", true, int(inner), int(d), sidx, i);
        L.linear(b.cross.v, ca + "v", "EncDecAttention", "v", true, int(inner), int(d), sidx, i);
        L.linear(b.cross.o, ca + "o", "EncDecAttention", "o", true, int(d), int(inner), sidx, i);
        b.ln_cross = L.vec(p + "1.layer_norm.weight", {d});
        ffl = 2;
      }
      const std::string fp = p + std::to_string(ffl) + ".DenseReluDense.";
      if (c.is_gated) {
        L.linear(b.ff.wi_0, fp + "wi_0", "DenseReluDense", "wi_0", decoder, int(ff), int(d), sidx, i);
        L.linear(b.ff.wi_1, fp + "wi_1", "DenseReluDense", "wi_1", decoder, int(ff), int(d), sidx, i);
      } else {
        L.linear(b.ff.wi, fp + "wi", "DenseReluDense", "wi", decoder, int(ff), int(d), sidx, i);
      }
      L.linear(b.ff.wo, fp + "wo", "DenseReluDense", "wo", decoder, int(d), int(ff), sidx, i);
      b.ln_ff = L.vec(p + std::to_string(ffl) + ".layer_norm.weight", {d});
    }
  };
  build(I.enc, c.num_layers, false);
  build(I.dec, c.num_decoder_layers, true);
  I.enc_final_ln = L.vec("encoder.final_layer_norm.weight", {d});
  I.dec_final_ln = L.vec("decoder.final_layer_norm.weight", {d});
  return m;
}

T5Model::~T5Model() {
  if (impl_ && impl_->load_opt.device == DeviceKind::CUDA) t5cuda::detach(*impl_);
}
const T5Config& T5Model::config() const { return impl_->cfg; }
DeviceKind T5Model::device() const { return impl_->load_opt.device; }
bool T5Model::has_lora() const { return impl_->has_lora; }

std::vector<Linear*> T5Impl::linears() {
  std::vector<Linear*> v;
  auto add = [&](Linear& L) {
    if (L.out > 0) v.push_back(&L);
  };
  for (auto* blocks : {&enc, &dec})
    for (Block& b : *blocks) {
      add(b.self.q); add(b.self.k); add(b.self.v); add(b.self.o);
      add(b.cross.q); add(b.cross.k); add(b.cross.v); add(b.cross.o);
      add(b.ff.wi); add(b.ff.wi_0); add(b.ff.wi_1); add(b.ff.wo);
    }
  return v;
}

Linear* T5Impl::find_linear(const std::string& name) {
  for (Linear* L : linears())
    if (L->name == name) return L;
  return nullptr;
}

const float* T5Impl::weight(const Linear& L) {
  if (!L.q) return L.w.data();
  // thread-local: generation (on a worker thread) and training never share the scratch
  thread_local std::vector<float> scratch;
  const size_t n = size_t(L.out) * L.in;
  if (scratch.size() < n) scratch.resize(n);
  nf4::dequantize(*L.q, scratch.data());
  return scratch.data();
}

bool T5Impl::encoder_has_lora() {
  for (Block& b : enc)
    for (Linear* L : {&b.self.q, &b.self.k, &b.self.v, &b.self.o, &b.ff.wi, &b.ff.wi_0, &b.ff.wi_1, &b.ff.wo})
      if (L->lora) return true;
  return false;
}

// ---------------------------------------------------------------- arena
float* T5Impl::take(size_t n) {
  n = (n + 15) & ~size_t(15);  // 64-byte granules
  float* p = measuring_ ? nullptr : arena_.data() + arena_used_;
  arena_used_ += n;
  return p;
}

void T5Impl::layout(const Shape& s, bool backward) {
  const T5Config& c = cfg;
  const size_t Ms = size_t(s.B) * s.S, Mt = size_t(s.B) * s.T, Mx = std::max(Ms, Mt);
  const size_t d = c.d_model, inner = c.inner_dim(), ff = c.d_ff, H = c.num_heads;
  auto block = [&](BlockActs& a, size_t M, size_t Tq, bool decoder) {
    a.n1 = take(M * d); a.rstd1 = take(M);
    a.q = take(M * inner); a.k = take(M * inner); a.v = take(M * inner);
    a.P = take(size_t(s.B) * H * Tq * Tq); a.ctx = take(M * inner); a.x_mid = take(M * d);
    if (decoder) {
      a.nc = take(M * d); a.rstdc = take(M);
      a.cq = take(M * inner); a.ck = take(Ms * inner); a.cv = take(Ms * inner);
      a.cP = take(size_t(s.B) * H * s.T * s.S); a.cctx = take(M * inner); a.x_mid2 = take(M * d);
    }
    a.n3 = take(M * d); a.rstd3 = take(M);
    a.pre0 = take(M * ff); a.pre1 = c.is_gated ? take(M * ff) : nullptr; a.hff = take(M * ff);
  };
  ea_.assign(enc.size() + 1, BlockActs{});
  da_.assign(dec.size() + 1, BlockActs{});
  // Forward only (evaluation, encode): no backward reads the saved activations, so every block
  // of a stack shares one set and the residual stream alternates between two buffers; memory
  // no longer grows with depth. Training keeps one set per block.
  auto stack = [&](std::vector<BlockActs>& acts, size_t n, size_t M, size_t len, bool decoder) {
    if (backward) {
      for (size_t l = 0; l <= n; ++l) {
        acts[l].x_in = take(M * d);
        if (l < n) block(acts[l], M, len, decoder);
      }
      return;
    }
    float* res[2] = {take(M * d), take(M * d)};
    BlockActs shared{};
    block(shared, M, len, decoder);
    for (size_t l = 0; l <= n; ++l) {
      if (l < n) acts[l] = shared;
      acts[l].x_in = res[l % 2];
    }
  };
  stack(ea_, enc.size(), Ms, s.S, false);
  enc_fin_rstd_ = take(Ms); enc_fin_n_ = take(Ms * d); enc_out_ = take(Ms * d);
  enc_bias_ = take(H * s.S * s.S);
  stack(da_, dec.size(), Mt, s.T, true);
  dec_fin_rstd_ = take(Mt); dec_fin_n_ = take(Mt * d); dec_seq_ = take(Mt * d);
  dec_bias_ = take(H * s.T * s.T);
  logits_ = take(Mt * c.vocab_size);
  size_t rmax = 1, inmax = std::max({d, inner, ff});
  for (Linear* L : linears())
    if (L->lora) {
      rmax = std::max(rmax, size_t(L->lora->r));
      const bool enc_rows = !L->decoder || (L->module == "EncDecAttention" && (L->kind == "k" || L->kind == "v"));
      L->lora->h_rows = int(enc_rows ? Ms : Mt);
      L->lora->h = take(size_t(L->lora->h_rows) * L->lora->r);
    }
  tmp_d_ = take(Mx * d);
  tmp_lora_x_ = take(Mx * inmax);
  tmp_r_ = take(Mx * rmax);
  if (backward) {
    g_dec_ = take(Mt * d); g_enc_ = take(Ms * d); g_d_ = take(Mx * d); g_inner_ = take(Mx * inner);
    g_q_ = take(Mx * inner); g_k_ = take(Mx * inner); g_v_ = take(Mx * inner);
    g_ck_ = take(Ms * inner); g_cv_ = take(Ms * inner);
    g_ff0_ = take(Mx * ff); g_ff1_ = take(Mx * ff); g_ffh_ = take(Mx * ff); g_n_ = take(Mx * d);
  }
}

void T5Impl::plan(const Shape& s, bool backward) {
  measuring_ = true;
  arena_used_ = 0;
  layout(s, backward);
  const size_t need = arena_used_;
  if (need > arena_.size()) {
    std::vector<float>().swap(arena_);  // free first: never hold two arenas at once
    arena_.resize(need);
  }
  measuring_ = false;
  arena_used_ = 0;
  layout(s, backward);
  planned_ = s;
  planned_backward_ = backward;
}

// ---------------------------------------------------------------- Linear (+ LoRA)
void T5Impl::linear_fwd(Linear& L, const float* x, int M, float* y, const StepCtx& st, uint64_t site, bool save_h,
                        float* h_scratch) {
  ops::matmul_nt(y, x, weight(L), M, L.out, L.in);
  if (!st.use_lora || !L.lora) return;
  LoraState& lo = *L.lora;
  const float* xd = x;
  const float p = st.train ? lo.dropout : 0.f;
  if (p > 0.f) {
    ops::dropout_forward(x, tmp_lora_x_, int64_t(M) * L.in, p, st.seed, site);
    xd = tmp_lora_x_;
  }
  float* h = save_h ? lo.h : (h_scratch ? h_scratch : tmp_r_);
  ops::matmul_nt(h, xd, lo.A.data(), M, lo.r, L.in);
  // peft: result + lora_B(lora_A(dropout(x))) * scaling
  ops::matmul_nt(y, h, lo.B.data(), M, L.out, lo.r, /*accumulate=*/true, lo.scale);
}

void T5Impl::linear_bwd(Linear& L, const float* x, const float* dy, int M, float* dx, bool accumulate_dx,
                        const StepCtx& st, uint64_t site) {
  if (dx) ops::matmul_nn(dx, dy, weight(L), M, L.in, L.out, accumulate_dx);
  if (!st.use_lora || !L.lora) return;
  LoraState& lo = *L.lora;
  const float p = st.train ? lo.dropout : 0.f;
  const float* xd = x;
  if (p > 0.f) {
    ops::dropout_forward(x, tmp_lora_x_, int64_t(M) * L.in, p, st.seed, site);
    xd = tmp_lora_x_;
  }
  // y = base + scale * h B^T with h = xd A^T
  ops::matmul_tn(lo.gB.data(), dy, lo.h, L.out, lo.r, M, true, lo.scale);  // gB += scale * dy^T h
  ops::matmul_nn(tmp_r_, dy, lo.B.data(), M, lo.r, L.out, false, lo.scale);  // dh = scale * dy B
  ops::matmul_tn(lo.gA.data(), tmp_r_, xd, lo.r, L.in, M, true);           // gA += dh^T xd
  if (dx) {
    if (p > 0.f) {
      ops::matmul_nn(tmp_lora_x_, tmp_r_, lo.A.data(), M, L.in, lo.r, false);
      ops::dropout_backward(tmp_lora_x_, dx, int64_t(M) * L.in, p, st.seed, site, true);
    } else {
      ops::matmul_nn(dx, tmp_r_, lo.A.data(), M, L.in, lo.r, true);
    }
  }
}

static uint64_t lsite(const Linear& L, int stack, int layer) {
  return site_of(stack, layer, kLoraBase + linear_slot(L.module, L.kind));
}

// ---------------------------------------------------------------- forward
static void add_into(float* out, const float* a, const float* b, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void T5Impl::encoder_forward(const int32_t* ids, const int32_t* mask, const Shape& s, const StepCtx& st, bool save) {
  const T5Config& c = cfg;
  const int Ms = s.B * s.S, d = c.d_model, inner = c.inner_dim(), H = c.num_heads, dk = c.d_kv;
  const float p = st.train ? c.dropout_rate : 0.f;
  ops::embedding_forward(shared.data(), c.vocab_size, d, ids, Ms, ea_[0].x_in);
  ops::dropout_forward(ea_[0].x_in, ea_[0].x_in, int64_t(Ms) * d, p, st.seed, site_of(0, 0, kEmbed));
  ops::relative_bias(enc[0].self.rel_bias.data(), H, s.S, s.S, 0, true, c.relative_attention_num_buckets,
                     c.relative_attention_max_distance, enc_bias_);
  for (size_t l = 0; l < enc.size(); ++l) {
    Block& b = enc[l];
    BlockActs& a = ea_[l];
    const int li = int(l);
    ops::rmsnorm_forward(a.x_in, b.ln_self.data(), a.n1, a.rstd1, Ms, d, c.layer_norm_epsilon);
    linear_fwd(b.self.q, a.n1, Ms, a.q, st, lsite(b.self.q, 0, li), save);
    linear_fwd(b.self.k, a.n1, Ms, a.k, st, lsite(b.self.k, 0, li), save);
    linear_fwd(b.self.v, a.n1, Ms, a.v, st, lsite(b.self.v, 0, li), save);
    ops::AttnArgs aa;
    aa.B = s.B; aa.H = H; aa.Tq = s.S; aa.Tk = s.S; aa.dk = dk;
    aa.q = aa.k = aa.v = aa.o = ops::rows_layout(s.S, inner, dk);
    aa.bias = enc_bias_;
    aa.key_mask = mask; aa.key_mask_ld = s.S;
    aa.dropout = p; aa.seed = st.seed; aa.site = site_of(0, li, kSelfProbs);
    ops::attention_forward(aa, a.q, a.k, a.v, a.P, a.ctx);
    linear_fwd(b.self.o, a.ctx, Ms, tmp_d_, st, lsite(b.self.o, 0, li), save);
    ops::dropout_forward(tmp_d_, tmp_d_, int64_t(Ms) * d, p, st.seed, site_of(0, li, kSelfRes));
    add_into(a.x_mid, a.x_in, tmp_d_, size_t(Ms) * d);
    // feed-forward
    FeedForward& f = b.ff;
    ops::rmsnorm_forward(a.x_mid, b.ln_ff.data(), a.n3, a.rstd3, Ms, d, c.layer_norm_epsilon);
    const size_t nff = size_t(Ms) * c.d_ff;
    if (c.is_gated) {
      linear_fwd(f.wi_0, a.n3, Ms, a.pre0, st, lsite(f.wi_0, 0, li), save);
      linear_fwd(f.wi_1, a.n3, Ms, a.pre1, st, lsite(f.wi_1, 0, li), save);
      ops::act_forward(act, a.pre0, a.hff, int64_t(nff));
      for (size_t i = 0; i < nff; ++i) a.hff[i] = a.hff[i] * a.pre1[i];
    } else {
      linear_fwd(f.wi, a.n3, Ms, a.pre0, st, lsite(f.wi, 0, li), save);
      ops::act_forward(act, a.pre0, a.hff, int64_t(nff));
    }
    ops::dropout_forward(a.hff, a.hff, int64_t(nff), p, st.seed, site_of(0, li, kFfAct));
    linear_fwd(f.wo, a.hff, Ms, tmp_d_, st, lsite(f.wo, 0, li), save);
    ops::dropout_forward(tmp_d_, tmp_d_, int64_t(Ms) * d, p, st.seed, site_of(0, li, kFfRes));
    add_into(ea_[l + 1].x_in, a.x_mid, tmp_d_, size_t(Ms) * d);
  }
  ops::rmsnorm_forward(ea_[enc.size()].x_in, enc_final_ln.data(), enc_fin_n_, enc_fin_rstd_, Ms, d, c.layer_norm_epsilon);
  ops::dropout_forward(enc_fin_n_, enc_out_, int64_t(Ms) * d, p, st.seed, site_of(0, int(enc.size()), kFinal));
}

void T5Impl::decoder_forward(const int32_t* dec_ids, const int32_t* enc_mask, const Shape& s, const StepCtx& st,
                             bool save) {
  const T5Config& c = cfg;
  const int Ms = s.B * s.S, Mt = s.B * s.T, d = c.d_model, inner = c.inner_dim(), H = c.num_heads, dk = c.d_kv;
  (void)Ms;
  const float p = st.train ? c.dropout_rate : 0.f;
  ops::embedding_forward(shared.data(), c.vocab_size, d, dec_ids, Mt, da_[0].x_in);
  ops::dropout_forward(da_[0].x_in, da_[0].x_in, int64_t(Mt) * d, p, st.seed, site_of(1, 0, kEmbed));
  ops::relative_bias(dec[0].self.rel_bias.data(), H, s.T, s.T, 0, false, c.relative_attention_num_buckets,
                     c.relative_attention_max_distance, dec_bias_);
  for (size_t l = 0; l < dec.size(); ++l) {
    Block& b = dec[l];
    BlockActs& a = da_[l];
    const int li = int(l);
    ops::rmsnorm_forward(a.x_in, b.ln_self.data(), a.n1, a.rstd1, Mt, d, c.layer_norm_epsilon);
    linear_fwd(b.self.q, a.n1, Mt, a.q, st, lsite(b.self.q, 1, li), save);
    linear_fwd(b.self.k, a.n1, Mt, a.k, st, lsite(b.self.k, 1, li), save);
    linear_fwd(b.self.v, a.n1, Mt, a.v, st, lsite(b.self.v, 1, li), save);
    ops::AttnArgs aa;
    aa.B = s.B; aa.H = H; aa.Tq = s.T; aa.Tk = s.T; aa.dk = dk;
    aa.q = aa.k = aa.v = aa.o = ops::rows_layout(s.T, inner, dk);
    aa.bias = dec_bias_;
    aa.causal = true;
    aa.dropout = p; aa.seed = st.seed; aa.site = site_of(1, li, kSelfProbs);
    ops::attention_forward(aa, a.q, a.k, a.v, a.P, a.ctx);
    linear_fwd(b.self.o, a.ctx, Mt, tmp_d_, st, lsite(b.self.o, 1, li), save);
    ops::dropout_forward(tmp_d_, tmp_d_, int64_t(Mt) * d, p, st.seed, site_of(1, li, kSelfRes));
    add_into(a.x_mid, a.x_in, tmp_d_, size_t(Mt) * d);
    // cross-attention (no position bias; keys masked by the encoder's attention mask)
    ops::rmsnorm_forward(a.x_mid, b.ln_cross.data(), a.nc, a.rstdc, Mt, d, c.layer_norm_epsilon);
    linear_fwd(b.cross.q, a.nc, Mt, a.cq, st, lsite(b.cross.q, 1, li), save);
    linear_fwd(b.cross.k, enc_out_, s.B * s.S, a.ck, st, lsite(b.cross.k, 1, li), save);
    linear_fwd(b.cross.v, enc_out_, s.B * s.S, a.cv, st, lsite(b.cross.v, 1, li), save);
    ops::AttnArgs ca;
    ca.B = s.B; ca.H = H; ca.Tq = s.T; ca.Tk = s.S; ca.dk = dk;
    ca.q = ca.o = ops::rows_layout(s.T, inner, dk);
    ca.k = ca.v = ops::rows_layout(s.S, inner, dk);
    ca.key_mask = enc_mask; ca.key_mask_ld = s.S;
    ca.dropout = p; ca.seed = st.seed; ca.site = site_of(1, li, kCrossProbs);
    ops::attention_forward(ca, a.cq, a.ck, a.cv, a.cP, a.cctx);
    linear_fwd(b.cross.o, a.cctx, Mt, tmp_d_, st, lsite(b.cross.o, 1, li), save);
    ops::dropout_forward(tmp_d_, tmp_d_, int64_t(Mt) * d, p, st.seed, site_of(1, li, kCrossRes));
    add_into(a.x_mid2, a.x_mid, tmp_d_, size_t(Mt) * d);
    // feed-forward
    FeedForward& f = b.ff;
    ops::rmsnorm_forward(a.x_mid2, b.ln_ff.data(), a.n3, a.rstd3, Mt, d, c.layer_norm_epsilon);
    const size_t nff = size_t(Mt) * c.d_ff;
    if (c.is_gated) {
      linear_fwd(f.wi_0, a.n3, Mt, a.pre0, st, lsite(f.wi_0, 1, li), save);
      linear_fwd(f.wi_1, a.n3, Mt, a.pre1, st, lsite(f.wi_1, 1, li), save);
      ops::act_forward(act, a.pre0, a.hff, int64_t(nff));
      for (size_t i = 0; i < nff; ++i) a.hff[i] = a.hff[i] * a.pre1[i];
    } else {
      linear_fwd(f.wi, a.n3, Mt, a.pre0, st, lsite(f.wi, 1, li), save);
      ops::act_forward(act, a.pre0, a.hff, int64_t(nff));
    }
    ops::dropout_forward(a.hff, a.hff, int64_t(nff), p, st.seed, site_of(1, li, kFfAct));
    linear_fwd(f.wo, a.hff, Mt, tmp_d_, st, lsite(f.wo, 1, li), save);
    ops::dropout_forward(tmp_d_, tmp_d_, int64_t(Mt) * d, p, st.seed, site_of(1, li, kFfRes));
    add_into(da_[l + 1].x_in, a.x_mid2, tmp_d_, size_t(Mt) * d);
  }
  ops::rmsnorm_forward(da_[dec.size()].x_in, dec_final_ln.data(), dec_fin_n_, dec_fin_rstd_, Mt, d, c.layer_norm_epsilon);
  ops::dropout_forward(dec_fin_n_, dec_seq_, int64_t(Mt) * d, p, st.seed, site_of(1, int(dec.size()), kFinal));
  if (c.scale_decoder_outputs) {
    const float sc = float(std::pow(double(d), -0.5));
    for (size_t i = 0; i < size_t(Mt) * d; ++i) dec_seq_[i] = dec_seq_[i] * sc;
  }
  ops::matmul_nt(logits_, dec_seq_, head(), Mt, c.vocab_size, d);
}

// ---------------------------------------------------------------- backward
void T5Impl::decoder_backward(const int32_t* enc_mask, const Shape& s, const StepCtx& st, bool need_enc_grad) {
  const T5Config& c = cfg;
  const int Ms = s.B * s.S, Mt = s.B * s.T, d = c.d_model, inner = c.inner_dim(), H = c.num_heads, dk = c.d_kv;
  const float p = st.train ? c.dropout_rate : 0.f;
  (void)inner;
  // logits_ already holds dLoss/dlogits
  ops::matmul_nn(g_d_, logits_, head(), Mt, d, c.vocab_size);
  if (c.scale_decoder_outputs) {
    const float sc = float(std::pow(double(d), -0.5));
    for (size_t i = 0; i < size_t(Mt) * d; ++i) g_d_[i] = g_d_[i] * sc;
  }
  ops::dropout_backward(g_d_, g_d_, int64_t(Mt) * d, p, st.seed, site_of(1, int(dec.size()), kFinal), false);
  ops::rmsnorm_backward(da_[dec.size()].x_in, dec_final_ln.data(), dec_fin_rstd_, g_d_, g_dec_, Mt, d, false);
  if (need_enc_grad) std::memset(g_enc_, 0, sizeof(float) * size_t(Ms) * d);
  // the lowest decoder block that needs gradients flowing into it
  int lowest = 0;
  if (!need_enc_grad) {
    lowest = int(dec.size());
    for (size_t l = 0; l < dec.size(); ++l) {
      Block& b = dec[l];
      for (Linear* L : {&b.self.q, &b.self.k, &b.self.v, &b.self.o, &b.cross.q, &b.cross.k, &b.cross.v, &b.cross.o,
                        &b.ff.wi, &b.ff.wi_0, &b.ff.wi_1, &b.ff.wo})
        if (L->lora) { lowest = std::min(lowest, int(l)); }
    }
  }
  for (int l = int(dec.size()) - 1; l >= lowest; --l) {
    Block& b = dec[size_t(l)];
    BlockActs& a = da_[size_t(l)];
    const size_t Md = size_t(Mt) * d;
    // --- feed-forward: out = x_mid2 + drop(wo(drop(act(...))))
    {
      FeedForward& f = b.ff;
      const size_t nff = size_t(Mt) * c.d_ff;
      ops::dropout_backward(g_dec_, g_d_, int64_t(Md), p, st.seed, site_of(1, l, kFfRes), false);
      linear_bwd(f.wo, a.hff, g_d_, Mt, g_ffh_, false, st, lsite(f.wo, 1, l));
      ops::dropout_backward(g_ffh_, g_ffh_, int64_t(nff), p, st.seed, site_of(1, l, kFfAct), false);
      if (c.is_gated) {
        ops::act_forward(act, a.pre0, g_ff1_, int64_t(nff));
        for (size_t i = 0; i < nff; ++i) {
          g_ff1_[i] = g_ffh_[i] * g_ff1_[i];   // d pre1 = dh * act(pre0)
          g_ffh_[i] = g_ffh_[i] * a.pre1[i];   // d act = dh * pre1
        }
        ops::act_backward(act, a.pre0, g_ffh_, g_ff0_, int64_t(nff));
        linear_bwd(f.wi_0, a.n3, g_ff0_, Mt, g_n_, false, st, lsite(f.wi_0, 1, l));
        linear_bwd(f.wi_1, a.n3, g_ff1_, Mt, g_n_, true, st, lsite(f.wi_1, 1, l));
      } else {
        ops::act_backward(act, a.pre0, g_ffh_, g_ff0_, int64_t(nff));
        linear_bwd(f.wi, a.n3, g_ff0_, Mt, g_n_, false, st, lsite(f.wi, 1, l));
      }
      ops::rmsnorm_backward(a.x_mid2, b.ln_ff.data(), a.rstd3, g_n_, g_dec_, Mt, d, true);
    }
    // --- cross-attention: x_mid2 = x_mid + drop(o(attn(q(nc), k(enc), v(enc))))
    {
      ops::dropout_backward(g_dec_, g_d_, int64_t(Md), p, st.seed, site_of(1, l, kCrossRes), false);
      linear_bwd(b.cross.o, a.cctx, g_d_, Mt, g_inner_, false, st, lsite(b.cross.o, 1, l));
      ops::AttnArgs ca;
      ca.B = s.B; ca.H = H; ca.Tq = s.T; ca.Tk = s.S; ca.dk = dk;
      ca.q = ca.o = ops::rows_layout(s.T, c.inner_dim(), dk);
      ca.k = ca.v = ops::rows_layout(s.S, c.inner_dim(), dk);
      ca.key_mask = enc_mask; ca.key_mask_ld = s.S;
      ca.dropout = p; ca.seed = st.seed; ca.site = site_of(1, l, kCrossProbs);
      ops::attention_backward(ca, a.cq, a.ck, a.cv, a.cP, g_inner_, g_q_, g_ck_, g_cv_);
      linear_bwd(b.cross.q, a.nc, g_q_, Mt, g_n_, false, st, lsite(b.cross.q, 1, l));
      linear_bwd(b.cross.k, enc_out_, g_ck_, Ms, need_enc_grad ? g_enc_ : nullptr, true, st, lsite(b.cross.k, 1, l));
      linear_bwd(b.cross.v, enc_out_, g_cv_, Ms, need_enc_grad ? g_enc_ : nullptr, true, st, lsite(b.cross.v, 1, l));
      ops::rmsnorm_backward(a.x_mid, b.ln_cross.data(), a.rstdc, g_n_, g_dec_, Mt, d, true);
    }
    // --- self-attention: x_mid = x_in + drop(o(attn(q,k,v of n1)))
    {
      ops::dropout_backward(g_dec_, g_d_, int64_t(Md), p, st.seed, site_of(1, l, kSelfRes), false);
      linear_bwd(b.self.o, a.ctx, g_d_, Mt, g_inner_, false, st, lsite(b.self.o, 1, l));
      ops::AttnArgs aa;
      aa.B = s.B; aa.H = H; aa.Tq = s.T; aa.Tk = s.T; aa.dk = dk;
      aa.q = aa.k = aa.v = aa.o = ops::rows_layout(s.T, c.inner_dim(), dk);
      aa.bias = dec_bias_;
      aa.causal = true;
      aa.dropout = p; aa.seed = st.seed; aa.site = site_of(1, l, kSelfProbs);
      ops::attention_backward(aa, a.q, a.k, a.v, a.P, g_inner_, g_q_, g_k_, g_v_);
      linear_bwd(b.self.q, a.n1, g_q_, Mt, g_n_, false, st, lsite(b.self.q, 1, l));
      linear_bwd(b.self.k, a.n1, g_k_, Mt, g_n_, true, st, lsite(b.self.k, 1, l));
      linear_bwd(b.self.v, a.n1, g_v_, Mt, g_n_, true, st, lsite(b.self.v, 1, l));
      ops::rmsnorm_backward(a.x_in, b.ln_self.data(), a.rstd1, g_n_, g_dec_, Mt, d, true);
    }
  }
}

void T5Impl::encoder_backward(const int32_t* mask, const Shape& s, const StepCtx& st) {
  const T5Config& c = cfg;
  const int Ms = s.B * s.S, d = c.d_model, H = c.num_heads, dk = c.d_kv;
  const float p = st.train ? c.dropout_rate : 0.f;
  const size_t Md = size_t(Ms) * d;
  // g_enc_ = dLoss/d enc_out -> through the final dropout and layer norm (in place)
  ops::dropout_backward(g_enc_, g_enc_, int64_t(Md), p, st.seed, site_of(0, int(enc.size()), kFinal), false);
  ops::rmsnorm_backward(ea_[enc.size()].x_in, enc_final_ln.data(), enc_fin_rstd_, g_enc_, g_enc_, Ms, d, false);
  int lowest = int(enc.size());
  for (size_t l = 0; l < enc.size(); ++l) {
    Block& b = enc[l];
    for (Linear* L : {&b.self.q, &b.self.k, &b.self.v, &b.self.o, &b.ff.wi, &b.ff.wi_0, &b.ff.wi_1, &b.ff.wo})
      if (L->lora) lowest = std::min(lowest, int(l));
  }
  for (int l = int(enc.size()) - 1; l >= lowest; --l) {
    Block& b = enc[size_t(l)];
    BlockActs& a = ea_[size_t(l)];
    {
      FeedForward& f = b.ff;
      const size_t nff = size_t(Ms) * c.d_ff;
      ops::dropout_backward(g_enc_, g_d_, int64_t(Md), p, st.seed, site_of(0, l, kFfRes), false);
      linear_bwd(f.wo, a.hff, g_d_, Ms, g_ffh_, false, st, lsite(f.wo, 0, l));
      ops::dropout_backward(g_ffh_, g_ffh_, int64_t(nff), p, st.seed, site_of(0, l, kFfAct), false);
      if (c.is_gated) {
        ops::act_forward(act, a.pre0, g_ff1_, int64_t(nff));
        for (size_t i = 0; i < nff; ++i) {
          g_ff1_[i] = g_ffh_[i] * g_ff1_[i];
          g_ffh_[i] = g_ffh_[i] * a.pre1[i];
        }
        ops::act_backward(act, a.pre0, g_ffh_, g_ff0_, int64_t(nff));
        linear_bwd(f.wi_0, a.n3, g_ff0_, Ms, g_n_, false, st, lsite(f.wi_0, 0, l));
        linear_bwd(f.wi_1, a.n3, g_ff1_, Ms, g_n_, true, st, lsite(f.wi_1, 0, l));
      } else {
        ops::act_backward(act, a.pre0, g_ffh_, g_ff0_, int64_t(nff));
        linear_bwd(f.wi, a.n3, g_ff0_, Ms, g_n_, false, st, lsite(f.wi, 0, l));
      }
      ops::rmsnorm_backward(a.x_mid, b.ln_ff.data(), a.rstd3, g_n_, g_enc_, Ms, d, true);
    }
    {
      ops::dropout_backward(g_enc_, g_d_, int64_t(Md), p, st.seed, site_of(0, l, kSelfRes), false);
      linear_bwd(b.self.o, a.ctx, g_d_, Ms, g_inner_, false, st, lsite(b.self.o, 0, l));
      ops::AttnArgs aa;
      aa.B = s.B; aa.H = H; aa.Tq = s.S; aa.Tk = s.S; aa.dk = dk;
      aa.q = aa.k = aa.v = aa.o = ops::rows_layout(s.S, c.inner_dim(), dk);
      aa.bias = enc_bias_;
      aa.key_mask = mask; aa.key_mask_ld = s.S;
      aa.dropout = p; aa.seed = st.seed; aa.site = site_of(0, l, kSelfProbs);
      ops::attention_backward(aa, a.q, a.k, a.v, a.P, g_inner_, g_q_, g_k_, g_v_);
      linear_bwd(b.self.q, a.n1, g_q_, Ms, g_n_, false, st, lsite(b.self.q, 0, l));
      linear_bwd(b.self.k, a.n1, g_k_, Ms, g_n_, true, st, lsite(b.self.k, 0, l));
      linear_bwd(b.self.v, a.n1, g_v_, Ms, g_n_, true, st, lsite(b.self.v, 0, l));
      ops::rmsnorm_backward(a.x_in, b.ln_self.data(), a.rstd1, g_n_, g_enc_, Ms, d, true);
    }
  }
}

// ---------------------------------------------------------------- one step
StepResult T5Impl::run(const Batch& bt, const StepOptions& o, bool backward) {
  std::lock_guard<std::mutex> lock(arena_mutex_);
  const T5Config& c = cfg;
  HUKUK_CHECK(bt.batch > 0 && bt.src_len > 0 && bt.tgt_len > 0, "ENGINE_INVALID_ARG",
              "batch, srcLen and tgtLen must be positive");
  HUKUK_CHECK(bt.input_ids, "ENGINE_INVALID_ARG", "inputIds are required");
  HUKUK_CHECK(bt.labels || bt.decoder_input_ids, "ENGINE_INVALID_ARG", "labels (or decoderInputIds) are required");
  HUKUK_CHECK(!backward || bt.labels, "ENGINE_INVALID_ARG", "forwardBackward needs labels");
  HUKUK_CHECK(!backward || (o.use_adapter && has_lora), "ENGINE_INVALID_ARG",
              "forwardBackward needs a LoRA adapter (addLora or loadAdapter first)");
  Shape s{bt.batch, bt.src_len, bt.tgt_len};
  const int Mt = s.B * s.T;
  std::vector<int32_t> ones;
  const int32_t* mask = bt.attention_mask;
  if (!mask) {
    ones.assign(size_t(s.B) * s.S, 1);
    mask = ones.data();
  }
  // decoder inputs: shift_right(labels) with decoder_start_token_id, -100 -> pad
  dec_ids_.resize(size_t(Mt));
  if (bt.decoder_input_ids) {
    std::memcpy(dec_ids_.data(), bt.decoder_input_ids, sizeof(int32_t) * size_t(Mt));
  } else {
    for (int b = 0; b < s.B; ++b) {
      dec_ids_[size_t(b) * s.T] = c.decoder_start_token_id;
      for (int t = 1; t < s.T; ++t) {
        const int32_t y = bt.labels[size_t(b) * s.T + t - 1];
        dec_ids_[size_t(b) * s.T + t] = y == -100 ? c.pad_token_id : y;
      }
    }
  }
  plan(s, backward);
  StepCtx st{o.train, o.use_adapter && has_lora, o.dropout_seed};
  encoder_forward(bt.input_ids, mask, s, st, backward);
  decoder_forward(dec_ids_.data(), mask, s, st, backward);
  if (o.logits_out) std::memcpy(o.logits_out, logits_, sizeof(float) * size_t(Mt) * c.vocab_size);
  StepResult r;
  if (!bt.labels) {
    r.loss = NAN;
    return r;
  }
  ops::CeResult ce = ops::cross_entropy_forward(logits_, bt.labels, Mt, c.vocab_size);
  r.tokens = ce.count;
  r.loss = ce.count ? ce.loss_sum / double(ce.count) : NAN;
  if (!backward || ce.count == 0) return r;
  ops::cross_entropy_backward_inplace(logits_, bt.labels, Mt, c.vocab_size, float(1.0 / double(ce.count)));
  const bool need_enc = encoder_has_lora();
  decoder_backward(mask, s, st, need_enc);
  if (need_enc) encoder_backward(mask, s, st);
  return r;
}

StepResult T5Model::forward(const Batch& b, const StepOptions& o) {
  if (impl_->load_opt.device == DeviceKind::CUDA) return t5cuda::run(*impl_, b, o, false);
  return impl_->run(b, o, false);
}
StepResult T5Model::forward_backward(const Batch& b, const StepOptions& o) {
  if (impl_->load_opt.device == DeviceKind::CUDA) return t5cuda::run(*impl_, b, o, true);
  return impl_->run(b, o, true);
}

// ---------------------------------------------------------------- generation
void T5Impl::encode(const int32_t* ids, const int32_t* mask, int B, int S, EncoderOutput& out, bool use_lora) {
  HUKUK_CHECK(B > 0 && S > 0, "ENGINE_INVALID_ARG", "encode: batch and srcLen must be positive");
  std::lock_guard<std::mutex> lock(arena_mutex_);
  Shape s{B, S, 0};
  plan(s, false);
  std::vector<int32_t> ones;
  if (!mask) {
    ones.assign(size_t(B) * S, 1);
    mask = ones.data();
  }
  StepCtx st{false, use_lora && has_lora, 0};
  encoder_forward(ids, mask, s, st, false);
  out.batch = B;
  out.src_len = S;
  out.hidden.assign(enc_out_, enc_out_ + size_t(B) * S * cfg.d_model);
  out.mask.assign(mask, mask + size_t(B) * S);
}

void T5Impl::init_cache(const EncoderOutput& enc_out, const int32_t* enc_row, int rows, int max_len, DecoderCache& c,
                        bool use_lora) {
  const T5Config& cf = cfg;
  const int S = enc_out.src_len, H = cf.num_heads, dk = cf.d_kv, inner = cf.inner_dim(), d = cf.d_model;
  HUKUK_CHECK(rows > 0 && max_len > 0, "ENGINE_INVALID_ARG", "init_cache: rows and max_len must be positive");
  HUKUK_CHECK(enc_row || rows == enc_out.batch, "ENGINE_INVALID_ARG", "init_cache: rows must equal the encoder batch");
  c.rows = rows;
  c.max_len = max_len;
  c.length = 0;
  c.src_len = S;
  c.enc_mask.resize(size_t(rows) * S);
  for (int r = 0; r < rows; ++r) {
    const int e = enc_row ? enc_row[r] : r;
    HUKUK_CHECK(e >= 0 && e < enc_out.batch, "ENGINE_INVALID_ARG", "init_cache: encoder row out of range");
    std::memcpy(c.enc_mask.data() + size_t(r) * S, enc_out.mask.data() + size_t(e) * S, sizeof(int32_t) * S);
  }
  const size_t L = dec.size();
  c.self_k.assign(L, std::vector<float>(size_t(rows) * H * max_len * dk));
  c.self_v.assign(L, std::vector<float>(size_t(rows) * H * max_len * dk));
  c.cross_k.assign(L, std::vector<float>(size_t(rows) * H * S * dk));
  c.cross_v.assign(L, std::vector<float>(size_t(rows) * H * S * dk));
  const int Me = enc_out.batch * S;
  std::vector<float> kbuf(size_t(Me) * inner), vbuf(size_t(Me) * inner);
  std::vector<float> rscratch;
  StepCtx st{false, use_lora && has_lora, 0};
  for (size_t l = 0; l < L; ++l) {
    Block& b = dec[l];
    for (Linear* Lp : {&b.cross.k, &b.cross.v}) {
      if (Lp->lora && st.use_lora) rscratch.resize(size_t(Me) * Lp->lora->r);
      linear_fwd(*Lp, enc_out.hidden.data(), Me, Lp == &b.cross.k ? kbuf.data() : vbuf.data(), st, 0, false,
                 rscratch.data());
    }
    for (int r = 0; r < rows; ++r) {
      const int e = enc_row ? enc_row[r] : r;
      for (int h = 0; h < H; ++h)
        for (int j = 0; j < S; ++j) {
          const float* ks = kbuf.data() + (size_t(e) * S + j) * inner + size_t(h) * dk;
          const float* vs = vbuf.data() + (size_t(e) * S + j) * inner + size_t(h) * dk;
          std::memcpy(c.cross_k[l].data() + ((size_t(r) * H + h) * S + j) * dk, ks, sizeof(float) * dk);
          std::memcpy(c.cross_v[l].data() + ((size_t(r) * H + h) * S + j) * dk, vs, sizeof(float) * dk);
        }
    }
  }
  (void)d;
}

void T5Impl::decode_step(DecoderCache& c, const int32_t* tokens, float* logits, bool use_lora) {
  const T5Config& cf = cfg;
  const int R = c.rows, H = cf.num_heads, dk = cf.d_kv, inner = cf.inner_dim(), d = cf.d_model, ff = cf.d_ff;
  HUKUK_CHECK(c.length < c.max_len, "ENGINE_INVALID_ARG", "decode_step: the cache is full (max_len reached)");
  const int pos = c.length;
  const float eps = cf.layer_norm_epsilon;
  std::vector<float> x(size_t(R) * d), n(size_t(R) * d), q(size_t(R) * inner), kn(size_t(R) * inner),
      vn(size_t(R) * inner), ctx(size_t(R) * inner), o(size_t(R) * d), pre0(size_t(R) * ff), pre1, hff(size_t(R) * ff),
      bias(size_t(H) * (pos + 1));
  int rmax = 1;
  for (Linear* L : linears())
    if (L->lora) rmax = std::max(rmax, L->lora->r);
  std::vector<float> rscratch(size_t(R) * rmax);
  float* rs = rscratch.data();
  if (cf.is_gated) pre1.resize(size_t(R) * ff);
  StepCtx st{false, use_lora && has_lora, 0};
  ops::embedding_forward(shared.data(), cf.vocab_size, d, tokens, R, x.data());
  ops::relative_bias(dec[0].self.rel_bias.data(), H, 1, pos + 1, pos, false, cf.relative_attention_num_buckets,
                     cf.relative_attention_max_distance, bias.data());
  const ops::Strides cache_self{int64_t(H) * c.max_len * dk, int64_t(c.max_len) * dk, dk};
  const ops::Strides cache_cross{int64_t(H) * c.src_len * dk, int64_t(c.src_len) * dk, dk};
  const ops::Strides one_row = ops::rows_layout(1, inner, dk);
  for (size_t l = 0; l < dec.size(); ++l) {
    Block& b = dec[l];
    ops::rmsnorm_forward(x.data(), b.ln_self.data(), n.data(), nullptr, R, d, eps);
    linear_fwd(b.self.q, n.data(), R, q.data(), st, 0, false, rs);
    linear_fwd(b.self.k, n.data(), R, kn.data(), st, 0, false, rs);
    linear_fwd(b.self.v, n.data(), R, vn.data(), st, 0, false, rs);
    for (int r = 0; r < R; ++r)
      for (int h = 0; h < H; ++h) {
        const size_t dst = ((size_t(r) * H + h) * c.max_len + pos) * dk;
        std::memcpy(c.self_k[l].data() + dst, kn.data() + size_t(r) * inner + size_t(h) * dk, sizeof(float) * dk);
        std::memcpy(c.self_v[l].data() + dst, vn.data() + size_t(r) * inner + size_t(h) * dk, sizeof(float) * dk);
      }
    ops::AttnArgs aa;
    aa.B = R; aa.H = H; aa.Tq = 1; aa.Tk = pos + 1; aa.dk = dk;
    aa.q = aa.o = one_row;
    aa.k = aa.v = cache_self;
    aa.bias = bias.data();
    ops::attention_forward(aa, q.data(), c.self_k[l].data(), c.self_v[l].data(), nullptr, ctx.data());
    linear_fwd(b.self.o, ctx.data(), R, o.data(), st, 0, false, rs);
    for (size_t i = 0; i < x.size(); ++i) x[i] = x[i] + o[i];
    ops::rmsnorm_forward(x.data(), b.ln_cross.data(), n.data(), nullptr, R, d, eps);
    linear_fwd(b.cross.q, n.data(), R, q.data(), st, 0, false, rs);
    ops::AttnArgs ca;
    ca.B = R; ca.H = H; ca.Tq = 1; ca.Tk = c.src_len; ca.dk = dk;
    ca.q = ca.o = one_row;
    ca.k = ca.v = cache_cross;
    ca.key_mask = c.enc_mask.data(); ca.key_mask_ld = c.src_len;
    ops::attention_forward(ca, q.data(), c.cross_k[l].data(), c.cross_v[l].data(), nullptr, ctx.data());
    linear_fwd(b.cross.o, ctx.data(), R, o.data(), st, 0, false, rs);
    for (size_t i = 0; i < x.size(); ++i) x[i] = x[i] + o[i];
    ops::rmsnorm_forward(x.data(), b.ln_ff.data(), n.data(), nullptr, R, d, eps);
    if (cf.is_gated) {
      linear_fwd(b.ff.wi_0, n.data(), R, pre0.data(), st, 0, false, rs);
      linear_fwd(b.ff.wi_1, n.data(), R, pre1.data(), st, 0, false, rs);
      ops::act_forward(act, pre0.data(), hff.data(), int64_t(hff.size()));
      for (size_t i = 0; i < hff.size(); ++i) hff[i] = hff[i] * pre1[i];
    } else {
      linear_fwd(b.ff.wi, n.data(), R, pre0.data(), st, 0, false, rs);
      ops::act_forward(act, pre0.data(), hff.data(), int64_t(hff.size()));
    }
    linear_fwd(b.ff.wo, hff.data(), R, o.data(), st, 0, false, rs);
    for (size_t i = 0; i < x.size(); ++i) x[i] = x[i] + o[i];
  }
  ops::rmsnorm_forward(x.data(), dec_final_ln.data(), n.data(), nullptr, R, d, eps);
  if (cf.scale_decoder_outputs) {
    const float sc = float(std::pow(double(d), -0.5));
    for (float& v : n) v = v * sc;
  }
  ops::matmul_nt(logits, n.data(), head(), R, cf.vocab_size, d);
  c.length += 1;
}

void T5Model::encode(const int32_t* ids, const int32_t* mask, int batch, int src_len, EncoderOutput& out,
                     bool use_adapter) {
  // generation on a CUDA model runs on the CPU graph: bring the trained LoRA weights over first
  if (impl_->load_opt.device == DeviceKind::CUDA && impl_->has_lora) t5cuda::lora_to_host(*impl_);
  impl_->encode(ids, mask, batch, src_len, out, use_adapter);
}
void T5Model::init_cache(const EncoderOutput& enc, const int32_t* enc_row, int rows, int max_len, DecoderCache& cache,
                         bool use_adapter) {
  impl_->init_cache(enc, enc_row, rows, max_len, cache, use_adapter);
}
void T5Model::decode_step(DecoderCache& cache, const int32_t* tokens, float* logits, bool use_adapter) {
  impl_->decode_step(cache, tokens, logits, use_adapter);
}

void T5Model::reorder_cache(DecoderCache& c, const int32_t* src_rows) const {
  auto gather = [&](std::vector<float>& buf, size_t per_row) {
    std::vector<float> old(buf);
    for (int r = 0; r < c.rows; ++r) {
      const int s = src_rows[r];
      HUKUK_CHECK(s >= 0 && s < c.rows, "ENGINE_INVALID_ARG", "reorder_cache: source row out of range");
      std::memcpy(buf.data() + size_t(r) * per_row, old.data() + size_t(s) * per_row, sizeof(float) * per_row);
    }
  };
  const T5Config& cf = impl_->cfg;
  for (size_t l = 0; l < c.self_k.size(); ++l) {
    gather(c.self_k[l], size_t(cf.num_heads) * c.max_len * cf.d_kv);
    gather(c.self_v[l], size_t(cf.num_heads) * c.max_len * cf.d_kv);
    gather(c.cross_k[l], size_t(cf.num_heads) * c.src_len * cf.d_kv);
    gather(c.cross_v[l], size_t(cf.num_heads) * c.src_len * cf.d_kv);
  }
  std::vector<int32_t> old(c.enc_mask);
  for (int r = 0; r < c.rows; ++r)
    std::memcpy(c.enc_mask.data() + size_t(r) * c.src_len, old.data() + size_t(src_rows[r]) * c.src_len,
                sizeof(int32_t) * c.src_len);
}

}  // namespace hukuk
