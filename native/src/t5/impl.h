// Inside T5Model: weights, LoRA state, the activation arena, and the graph (model.cpp forward,
// backward and generation; adapter.cpp LoRA creation, peft files, merging).
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "nf4/nf4.h"
#include "ops/activation.h"
#include "t5/model.h"

namespace hukuk {

// One LoRA pair on a Linear: y += scale * B (A (dropout(x))). All fp32, owned here.
struct LoraState {
  int r = 0, in = 0, out = 0;
  float scale = 1.f, dropout = 0.f;
  std::string key;  // peft module key: "base_model.model.encoder.block.0.layer.0.SelfAttention.q"
  std::vector<float> A, B;        // [r, in], [out, r]
  std::vector<float> gA, gB;      // gradients (accumulated)
  std::vector<float> mA, vA, mB, vB;  // AdamW moments (the trainer's)
  float* h = nullptr;             // arena: A(dropout(x)) of the last forward, [rows, r]
  int h_rows = 0;
};

struct Linear {
  std::string name;    // "encoder.block.0.layer.0.SelfAttention.q" (weight = name + ".weight")
  std::string kind;    // "q" | "k" | "v" | "o" | "wi" | "wi_0" | "wi_1" | "wo"
  std::string module;  // "SelfAttention" | "EncDecAttention" | "DenseReluDense"
  bool decoder = false;
  int in = 0, out = 0;
  std::vector<float> w;                // [out, in] fp32 (empty when quantized)
  std::unique_ptr<nf4::Nf4Tensor> q;   // NF4 base weight (QLoRA)
  std::unique_ptr<LoraState> lora;
};

struct Attention {
  Linear q, k, v, o;
  std::vector<float> rel_bias;  // [num_buckets, heads] (first block of each stack only)
};

struct FeedForward {
  Linear wi, wi_0, wi_1, wo;  // wi (plain) or wi_0/wi_1 (gated)
};

struct Block {
  Attention self, cross;          // cross: decoder only
  FeedForward ff;
  std::vector<float> ln_self, ln_cross, ln_ff;
};

// Saved activations of one block (pointers into the arena).
struct BlockActs {
  float *x_in = nullptr, *n1 = nullptr, *rstd1 = nullptr, *q = nullptr, *k = nullptr, *v = nullptr, *P = nullptr,
        *ctx = nullptr, *x_mid = nullptr;
  float *nc = nullptr, *rstdc = nullptr, *cq = nullptr, *ck = nullptr, *cv = nullptr, *cP = nullptr, *cctx = nullptr,
        *x_mid2 = nullptr;
  float *n3 = nullptr, *rstd3 = nullptr, *pre0 = nullptr, *pre1 = nullptr, *hff = nullptr;
};

struct Shape {
  int B = 0, S = 0, T = 0;
  bool operator==(const Shape& o) const { return B == o.B && S == o.S && T == o.T; }
};

// Step context for one forward/backward.
struct StepCtx {
  bool train = false;
  bool use_lora = true;
  uint64_t seed = 0;
};

class T5Impl {
 public:
  T5Config cfg;
  LoadOptions load_opt;
  ops::Act act = ops::Act::Relu;
  std::vector<float> shared;   // [vocab, d_model]
  std::vector<float> lm_head;  // [vocab, d_model] when untied
  std::vector<Block> enc, dec;
  std::vector<float> enc_final_ln, dec_final_ln;
  LoraOptions lora_opt;        // of the current adapter
  bool has_lora = false;
  std::vector<std::string> lora_targets;  // as given (for adapter_config.json)
  std::string lora_target_json;           // target_modules as loaded (string or list), verbatim

  // every Linear, in a fixed order (encoder blocks, then decoder blocks)
  std::vector<Linear*> linears();
  Linear* find_linear(const std::string& name);
  const float* head() const { return cfg.tie_word_embeddings ? shared.data() : lm_head.data(); }

  // ---- graph (model.cpp) ----
  StepResult run(const Batch& b, const StepOptions& o, bool backward);
  void encode(const int32_t* ids, const int32_t* mask, int B, int S, EncoderOutput& out, bool use_lora);
  void init_cache(const EncoderOutput& enc, const int32_t* enc_row, int rows, int max_len, DecoderCache& c, bool use_lora);
  void decode_step(DecoderCache& c, const int32_t* tokens, float* logits, bool use_lora);

  // weight of a Linear as fp32 (dequantizes NF4 into a scratch buffer)
  const float* weight(const Linear& L);

 private:
  // arena
  std::vector<float> arena_;
  size_t arena_used_ = 0;
  bool measuring_ = false;
  float* take(size_t n);
  Shape planned_{};
  bool planned_backward_ = false;
  std::mutex arena_mutex_;  // run() and encode() use the arena; decode_step/init_cache do not

  // plan
  std::vector<BlockActs> ea_, da_;
  float *enc_emb_ = nullptr, *enc_fin_rstd_ = nullptr, *enc_fin_n_ = nullptr, *enc_out_ = nullptr;
  float *dec_emb_ = nullptr, *dec_fin_rstd_ = nullptr, *dec_fin_n_ = nullptr, *dec_seq_ = nullptr, *logits_ = nullptr;
  float *enc_bias_ = nullptr, *dec_bias_ = nullptr;
  float *tmp_d_ = nullptr, *tmp_inner_ = nullptr, *tmp_lora_x_ = nullptr, *tmp_r_ = nullptr;
  // backward buffers
  float *g_dec_ = nullptr, *g_enc_ = nullptr, *g_d_ = nullptr, *g_inner_ = nullptr, *g_q_ = nullptr, *g_k_ = nullptr,
        *g_v_ = nullptr, *g_ff0_ = nullptr, *g_ff1_ = nullptr, *g_ffh_ = nullptr, *g_n_ = nullptr, *g_ck_ = nullptr,
        *g_cv_ = nullptr;
  std::vector<int32_t> dec_ids_;
  void plan(const Shape& s, bool backward);
  void layout(const Shape& s, bool backward);

  // h_scratch: where A(x) goes when not saved (null = the arena's); generation passes its own
  void linear_fwd(Linear& L, const float* x, int M, float* y, const StepCtx& st, uint64_t site, bool save_h,
                  float* h_scratch = nullptr);
  void linear_bwd(Linear& L, const float* x, const float* dy, int M, float* dx, bool accumulate_dx, const StepCtx& st,
                  uint64_t site);
  void encoder_forward(const int32_t* ids, const int32_t* mask, const Shape& s, const StepCtx& st, bool save);
  void decoder_forward(const int32_t* dec_ids, const int32_t* enc_mask, const Shape& s, const StepCtx& st, bool save);
  void decoder_backward(const int32_t* enc_mask, const Shape& s, const StepCtx& st, bool need_enc_grad);
  void encoder_backward(const int32_t* mask, const Shape& s, const StepCtx& st);
  bool encoder_has_lora();
};

}  // namespace hukuk
