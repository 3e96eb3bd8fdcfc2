// LoRA adapters with peft's semantics and file format: creation (Kaiming-uniform A from a seed,
// B = 0), peft's adapter_config.json + adapter_model.safetensors (load and save), merging into
// the base, and the parameter list the trainer walks.
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "ops/dropout.h"
#include "t5/cuda/t5_cuda.h"
#include "t5/impl.h"

namespace hukuk {

static const char* kPeftPrefix = "base_model.model.";

static void make_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) HUKUK_FAIL("ENGINE_IO", "cannot create " + dir);
}

static void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) HUKUK_FAIL("ENGINE_IO", "cannot write " + tmp);
    f << text;
    if (!f) HUKUK_FAIL("ENGINE_IO", "writing " + tmp + " failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) HUKUK_FAIL("ENGINE_IO", "cannot rename " + tmp);
}

static std::string read_text(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) HUKUK_FAIL("ENGINE_IO", "cannot read " + p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

static float lora_scale(float alpha, int r, bool rslora) {
  return rslora ? float(alpha / std::sqrt(double(r))) : float(alpha / double(r));
}

static void attach(Linear& L, int r, float scale, float dropout) {
  auto lo = std::make_unique<LoraState>();
  lo->r = r;
  lo->in = L.in;
  lo->out = L.out;
  lo->scale = scale;
  lo->dropout = dropout;
  lo->key = kPeftPrefix + L.name;
  const size_t na = size_t(r) * L.in, nb = size_t(L.out) * r;
  lo->A.assign(na, 0.f);
  lo->B.assign(nb, 0.f);
  lo->gA.assign(na, 0.f);
  lo->gB.assign(nb, 0.f);
  lo->mA.assign(na, 0.f);
  lo->vA.assign(na, 0.f);
  lo->mB.assign(nb, 0.f);
  lo->vB.assign(nb, 0.f);
  L.lora = std::move(lo);
}

static bool module_selected(const Linear& L, const std::vector<std::string>& modules) {
  if (modules.empty()) return true;
  bool any_block = false, any_stack = false, block_ok = false, stack_ok = false;
  for (const std::string& m : modules) {
    if (m == "SelfAttention" || m == "EncDecAttention" || m == "DenseReluDense") {
      any_block = true;
      block_ok = block_ok || m == L.module;
    } else if (m == "encoder" || m == "decoder") {
      any_stack = true;
      stack_ok = stack_ok || (m == "decoder") == L.decoder;
    } else {
      HUKUK_FAIL("ENGINE_INVALID_ARG", "LoRA module '" + m +
                                           "' is not one of SelfAttention, EncDecAttention, DenseReluDense, encoder, decoder");
    }
  }
  return (!any_block || block_ok) && (!any_stack || stack_ok);
}

void T5Model::add_lora(const LoraOptions& opt) {
  T5Impl& I = *impl_;
  HUKUK_CHECK(opt.r > 0, "ENGINE_INVALID_ARG", "LoRA r must be positive");
  HUKUK_CHECK(opt.dropout >= 0.f && opt.dropout < 1.f, "ENGINE_INVALID_ARG", "LoRA dropout must be in [0, 1)");
  HUKUK_CHECK(!opt.targets.empty(), "ENGINE_INVALID_ARG", "LoRA targets are empty");
  static const std::set<std::string> known = {"q", "k", "v", "o", "wi", "wi_0", "wi_1", "wo"};
  for (const auto& t : opt.targets)
    HUKUK_CHECK(known.count(t), "ENGINE_INVALID_ARG", "LoRA target '" + t + "' is not one of q,k,v,o,wi,wi_0,wi_1,wo");
  for (Linear* L : I.linears()) L->lora.reset();
  const float scale = lora_scale(opt.alpha, opt.r, opt.rslora);
  // peft: nn.init.kaiming_uniform_(A, a=sqrt(5)) -> U(-1/sqrt(in), 1/sqrt(in)); B = 0.
  // Our own seeded generator (torch's RNG stream is not reproduced).
  uint64_t counter = 0;
  int n = 0;
  for (Linear* L : I.linears()) {
    if (!std::count(opt.targets.begin(), opt.targets.end(), L->kind) || !module_selected(*L, opt.modules)) continue;
    attach(*L, opt.r, scale, opt.dropout);
    const float bound = float(1.0 / std::sqrt(double(L->in)));
    for (float& a : L->lora->A) {
      const uint64_t h = ops::mix64(opt.seed ^ ops::mix64(++counter));
      const double u = double(h >> 11) * (1.0 / 9007199254740992.0);  // [0, 1)
      a = float((2.0 * u - 1.0) * bound);
    }
    ++n;
  }
  HUKUK_CHECK(n > 0, "ENGINE_INVALID_ARG", "no layer matched the LoRA targets/modules");
  I.lora_opt = opt;
  I.lora_targets = opt.targets;
  I.lora_target_json.clear();
  I.has_lora = true;
  if (I.load_opt.device == DeviceKind::CUDA) t5cuda::lora_to_device(I);
}

void T5Model::load_adapter(const std::string& dir) {
  T5Impl& I = *impl_;
  const std::string cfg_path = dir + "/adapter_config.json";
  json::Value c = json::parse(read_text(cfg_path), cfg_path);
  auto field = [&](const char* k) { return c.get(k); };
  if (const auto* pt = field("peft_type"); pt && pt->kind == json::Value::String && pt->str != "LORA")
    HUKUK_FAIL("ENGINE_UNSUPPORTED", cfg_path + ": peft_type " + pt->str + " is not supported (LORA only)");
  for (const char* k : {"use_dora", "use_qalora"})
    if (const auto* v = field(k); v && v->kind == json::Value::Bool && v->b)
      HUKUK_FAIL("ENGINE_UNSUPPORTED", cfg_path + ": " + k + " adapters are not supported");
  for (const char* k : {"rank_pattern", "alpha_pattern"})
    if (const auto* v = field(k); v && v->kind == json::Value::Object && !v->obj.empty())
      HUKUK_FAIL("ENGINE_UNSUPPORTED", cfg_path + ": per-module " + k + " is not supported");
  if (const auto* v = field("bias"); v && v->kind == json::Value::String && v->str != "none")
    HUKUK_FAIL("ENGINE_UNSUPPORTED", cfg_path + ": bias '" + v->str + "' is not supported (none only)");
  const auto* rv = field("r");
  const auto* av = field("lora_alpha");
  HUKUK_CHECK(rv && av, "ENGINE_CORRUPT", cfg_path + ": r and lora_alpha are required");
  const int r = int(rv->as_int64("adapter_config.json: r"));
  const float alpha = float(av->as_number("adapter_config.json: lora_alpha"));
  float dropout = 0.f;
  if (const auto* v = field("lora_dropout"); v && v->kind == json::Value::Number) dropout = float(v->num);
  bool rslora = false;
  if (const auto* v = field("use_rslora"); v && v->kind == json::Value::Bool) rslora = v->b;
  std::vector<std::string> targets;
  std::string target_json;
  if (const auto* v = field("target_modules")) {
    if (v->kind == json::Value::Array) {
      target_json = "[";
      for (size_t i = 0; i < v->arr.size(); ++i) {
        targets.push_back(v->arr[i].as_string("target_modules"));
        target_json += (i ? ", " : "") + json::quote(targets.back());
      }
      target_json += "]";
    } else if (v->kind == json::Value::String) {
      target_json = json::quote(v->str);
    }
  }
  io::SafeTensors st(dir + "/adapter_model.safetensors");
  std::vector<Linear*> all = I.linears();
  for (Linear* L : all) L->lora.reset();
  const float scale = lora_scale(alpha, r, rslora);
  std::set<std::string> kinds;
  int n = 0;
  try {
    for (const auto& kv : st.tensors()) {
      const std::string& key = kv.first;
      const std::string suffix_a = ".lora_A.weight", suffix_b = ".lora_B.weight";
      const bool is_a = key.size() > suffix_a.size() && key.compare(key.size() - suffix_a.size(), suffix_a.size(), suffix_a) == 0;
      const bool is_b = key.size() > suffix_b.size() && key.compare(key.size() - suffix_b.size(), suffix_b.size(), suffix_b) == 0;
      if (!is_a && !is_b)
        HUKUK_FAIL("ENGINE_UNSUPPORTED", st.path() + ": tensor '" + key + "' is not a LoRA A/B weight (unsupported adapter content)");
      std::string module = key.substr(0, key.size() - suffix_a.size());
      if (module.rfind(kPeftPrefix, 0) != 0)
        HUKUK_FAIL("ENGINE_CORRUPT", st.path() + ": tensor '" + key + "' does not start with " + kPeftPrefix);
      module = module.substr(std::strlen(kPeftPrefix));
      Linear* L = I.find_linear(module);
      if (!L) HUKUK_FAIL("ENGINE_CORRUPT", st.path() + ": tensor '" + key + "' names no layer of this model");
      if (!L->lora) {
        attach(*L, r, scale, dropout);
        ++n;
        kinds.insert(L->kind);
      }
      if (is_a) st.read_f32_into(key, {r, L->in}, L->lora->A.data());
      else st.read_f32_into(key, {L->out, r}, L->lora->B.data());
    }
    for (Linear* L : all)
      if (L->lora && (!st.has(L->lora->key + ".lora_A.weight") || !st.has(L->lora->key + ".lora_B.weight")))
        HUKUK_FAIL("ENGINE_CORRUPT", st.path() + ": '" + L->lora->key + "' has only one of lora_A / lora_B");
  } catch (...) {
    for (Linear* L : all) L->lora.reset();
    I.has_lora = false;
    if (I.load_opt.device == DeviceKind::CUDA) t5cuda::lora_to_device(I);  // drop the device copies too
    throw;
  }
  HUKUK_CHECK(n > 0, "ENGINE_CORRUPT", st.path() + " holds no LoRA weights");
  I.lora_opt = LoraOptions{};
  I.lora_opt.r = r;
  I.lora_opt.alpha = alpha;
  I.lora_opt.dropout = dropout;
  I.lora_opt.rslora = rslora;
  I.lora_opt.targets.assign(kinds.begin(), kinds.end());
  I.lora_targets = targets.empty() ? I.lora_opt.targets : targets;
  I.lora_target_json = target_json;
  I.has_lora = true;
  if (I.load_opt.device == DeviceKind::CUDA) t5cuda::lora_to_device(I);
}

static std::string num_json(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(int64_t(v));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void T5Model::save_adapter(const std::string& dir, const AdapterMeta& meta) const {
  T5Impl& I = *impl_;
  if (I.load_opt.device == DeviceKind::CUDA && I.has_lora) t5cuda::lora_to_host(I);  // device LoRA -> host
  HUKUK_CHECK(I.has_lora, "ENGINE_INVALID_ARG", "the model has no LoRA adapter to save");
  make_dir(dir);
  std::vector<io::TensorToWrite> ts;
  for (Linear* L : I.linears()) {
    if (!L->lora) continue;
    ts.push_back({L->lora->key + ".lora_A.weight", {L->lora->r, L->in}, L->lora->A.data()});
    ts.push_back({L->lora->key + ".lora_B.weight", {L->out, L->lora->r}, L->lora->B.data()});
  }
  io::write_safetensors(dir + "/adapter_model.safetensors", ts, {{"format", "pt"}});
  std::string targets = I.lora_target_json;
  if (targets.empty() && !I.lora_opt.modules.empty()) {
    // peft matches a string target_modules with re.fullmatch against module names, so the
    // module selection survives the round trip (a list would also match other blocks)
    std::string stacks, blocks;
    for (const std::string& m : I.lora_opt.modules) {
      if (m == "encoder" || m == "decoder") stacks += (stacks.empty() ? "" : "|") + m;
      else blocks += (blocks.empty() ? "" : "|") + m;
    }
    std::string kinds;
    for (const std::string& t : I.lora_targets) kinds += (kinds.empty() ? "" : "|") + t;
    const std::string re = "(" + (stacks.empty() ? std::string("encoder|decoder") : stacks) +
                           ")\\.block\\.[0-9]+\\.layer\\.[0-9]+\\.(" +
                           (blocks.empty() ? std::string("SelfAttention|EncDecAttention|DenseReluDense") : blocks) +
                           ")\\.(" + kinds + ")";
    targets = json::quote(re);
  }
  if (targets.empty()) {
    targets = "[";
    for (size_t i = 0; i < I.lora_targets.size(); ++i) targets += (i ? ", " : "") + json::quote(I.lora_targets[i]);
    targets += "]";
  }
  const LoraOptions& o = I.lora_opt;
  // The fields and defaults peft 0.21 writes for a LoraConfig(task_type="SEQ_2_SEQ_LM").
  std::string j = "{\n";
  auto add = [&](const std::string& k, const std::string& v) { j += "  " + json::quote(k) + ": " + v + ",\n"; };
  add("alora_invocation_tokens", "null");
  add("alpha_pattern", "{}");
  add("arrow_config", "null");
  add("auto_mapping", "null");
  add("base_model_name_or_path", meta.base_model_name_or_path.empty() ? "null" : json::quote(meta.base_model_name_or_path));
  add("bias", "\"none\"");
  add("corda_config", "null");
  add("ensure_weight_tying", "false");
  add("eva_config", "null");
  add("exclude_modules", "null");
  add("fan_in_fan_out", "false");
  add("inference_mode", "true");
  add("init_lora_weights", "true");
  add("kasa_config", "null");
  add("layer_replication", "null");
  add("layers_pattern", "null");
  add("layers_to_transform", "null");
  add("loftq_config", "{}");
  add("lora_alpha", num_json(o.alpha));
  add("lora_bias", "false");
  add("lora_dropout", num_json(o.dropout));
  add("lora_ga_config", "null");
  add("megatron_config", "null");
  add("megatron_core", "\"megatron.core\"");
  add("modules_to_save", "null");
  add("monteclora_config", "null");
  add("peft_type", "\"LORA\"");
  add("peft_version", "\"0.21.0\"");
  add("qalora_group_size", "16");
  add("r", std::to_string(o.r));
  add("rank_pattern", "{}");
  add("revision", "null");
  add("target_modules", targets);
  add("target_parameters", "null");
  add("task_type", "\"SEQ_2_SEQ_LM\"");
  add("trainable_token_indices", "null");
  add("use_bdlora", "null");
  add("use_dora", "false");
  add("use_qalora", "false");
  add("use_rslora", o.rslora ? "true" : "false");
  add("velora_config", "null");
  if (!meta.extra_json.empty()) j += "  " + meta.extra_json + ",\n";
  j.erase(j.size() - 2);  // last ",\n"
  j += "\n}\n";
  write_text_atomic(dir + "/adapter_config.json", j);
}

void T5Model::merge_and_save(const std::string& dir) const {
  T5Impl& I = *impl_;
  if (I.load_opt.device == DeviceKind::CUDA && I.has_lora) t5cuda::lora_to_host(I);  // device LoRA -> host
  make_dir(dir);
  const T5Config& c = I.cfg;
  std::vector<std::vector<float>> owned;
  owned.reserve(I.linears().size() + 4 * (I.enc.size() + I.dec.size()) + 8);
  std::vector<io::TensorToWrite> ts;
  const int64_t d = c.d_model;
  ts.push_back({"shared.weight", {c.vocab_size, d}, I.shared.data()});
  if (!c.tie_word_embeddings) ts.push_back({"lm_head.weight", {c.vocab_size, d}, I.lm_head.data()});
  for (Linear* L : I.linears()) {
    owned.emplace_back(size_t(L->out) * L->in);
    std::vector<float>& w = owned.back();
    if (L->q) nf4::dequantize(*L->q, w.data());
    else std::memcpy(w.data(), L->w.data(), sizeof(float) * w.size());
    if (L->lora) {  // W + scale * B A  (peft's merge: delta = (B @ A) * scaling)
      const LoraState& lo = *L->lora;
      for (int o = 0; o < L->out; ++o)
        for (int i = 0; i < L->in; ++i) {
          float s = 0.f;
          for (int k = 0; k < lo.r; ++k) s += lo.B[size_t(o) * lo.r + k] * lo.A[size_t(k) * L->in + i];
          w[size_t(o) * L->in + i] += s * lo.scale;
        }
    }
    ts.push_back({L->name + ".weight", {L->out, L->in}, w.data()});
  }
  auto blocks = [&](std::vector<Block>& bs, bool decoder) {
    const std::string stack = decoder ? "decoder" : "encoder";
    for (size_t i = 0; i < bs.size(); ++i) {
      const std::string p = stack + ".block." + std::to_string(i) + ".layer.";
      Block& b = bs[i];
      if (i == 0)
        ts.push_back({p + "0.SelfAttention.relative_attention_bias.weight",
                      {c.relative_attention_num_buckets, c.num_heads}, b.self.rel_bias.data()});
      ts.push_back({p + "0.layer_norm.weight", {d}, b.ln_self.data()});
      if (decoder) ts.push_back({p + "1.layer_norm.weight", {d}, b.ln_cross.data()});
      ts.push_back({p + (decoder ? "2" : "1") + ".layer_norm.weight", {d}, b.ln_ff.data()});
    }
  };
  blocks(I.enc, false);
  blocks(I.dec, true);
  ts.push_back({"encoder.final_layer_norm.weight", {d}, I.enc_final_ln.data()});
  ts.push_back({"decoder.final_layer_norm.weight", {d}, I.dec_final_ln.data()});
  io::write_safetensors(dir + "/model.safetensors", ts, {{"format", "pt"}});
  write_text_atomic(dir + "/config.json", c.json);
}

std::vector<ParamRef> T5Model::lora_params() {
  if (impl_->load_opt.device == DeviceKind::CUDA) return t5cuda::lora_params(*impl_);
  std::vector<ParamRef> ps;
  for (Linear* L : impl_->linears()) {
    if (!L->lora) continue;
    LoraState& lo = *L->lora;
    ps.push_back({lo.key + ".lora_A.weight", lo.A.data(), lo.gA.data(), lo.mA.data(), lo.vA.data(), lo.A.size(), true,
                  DeviceKind::CPU});
    ps.push_back({lo.key + ".lora_B.weight", lo.B.data(), lo.gB.data(), lo.mB.data(), lo.vB.data(), lo.B.size(), true,
                  DeviceKind::CPU});
  }
  return ps;
}

void T5Model::zero_grad() {
  if (impl_->load_opt.device == DeviceKind::CUDA) return t5cuda::zero_grad(*impl_);
  for (Linear* L : impl_->linears())
    if (L->lora) {
      std::fill(L->lora->gA.begin(), L->lora->gA.end(), 0.f);
      std::fill(L->lora->gB.begin(), L->lora->gB.end(), 0.f);
    }
}

}  // namespace hukuk
