// Test-only Node-API hooks of the generation module (names start with "_"):
//   engine._generateToy(toy, opts, onToken?) -> Promise<{ids, batch, length, steps, encoderPasses,
//       modelSteps}> & {cancel()}: search.cpp on the toy model of toy_model.h, through the same
//       worker as engine.generate;
//   engine._toyLogits(toy, inputIds, attentionMask|null, prefix) -> Float32Array: the toy's
//       logits after `prefix`, recomputed from scratch (reference searches in tests);
//   engine._generateTable({vocab, table, fallback?}, opts, onToken?) -> Promise<Int32Array>: the
//       same on a decoder whose logits per prefix are written by hand (TableModel);
//   engine._processScores(scores, seq, opts, minKeep?) -> Float32Array: logits_process.cpp on one row.
// toy = {vocab, seed?, scale?, eosBias?, eosTokenId?, delayUs?}.
#include <napi.h>

#include "core/napi_error.h"
#include "core/registry.h"
#include "generate/gen_worker.h"
#include "generate/logits_process.h"
#include "generate/toy_model.h"

namespace hukuk::gen {

static ToySpec read_toy(const Napi::Value& v) {
  if (!v.IsObject()) HUKUK_FAIL("ENGINE_INVALID_ARG", "toy spec must be an object");
  Napi::Object o = v.As<Napi::Object>();
  ToySpec t;
  auto get = [&](const char* k) { return o.Has(k) && !o.Get(k).IsUndefined(); };
  if (get("vocab")) t.vocab = static_cast<int>(int_arg(o.Get("vocab"), "toy.vocab"));
  if (get("seed")) t.seed = static_cast<uint64_t>(int_arg(o.Get("seed"), "toy.seed"));
  if (get("scale")) t.scale = o.Get("scale").As<Napi::Number>().FloatValue();
  if (get("eosBias")) t.eos_bias = o.Get("eosBias").As<Napi::Number>().FloatValue();
  if (get("eosTokenId")) t.eos_token_id = static_cast<int>(int_arg(o.Get("eosTokenId"), "toy.eosTokenId"));
  if (get("delayUs")) t.delay_us = static_cast<int>(int_arg(o.Get("delayUs"), "toy.delayUs"));
  return t;
}

class ToyWorker : public GenerateWorker {
 public:
  using GenerateWorker::GenerateWorker;

 protected:
  void add_stats(Napi::Object& o) override {
    auto& toy = static_cast<ToyModel&>(model());
    o.Set("encoderPasses", toy.encoder_passes());
    o.Set("modelSteps", toy.steps());
  }
};

static Napi::Value generate_toy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ToySpec spec = read_toy(info[0]);
  if (!info[1].IsObject()) HUKUK_FAIL("ENGINE_INVALID_ARG", "options must be an object");
  Napi::Object js = info[1].As<Napi::Object>();
  GenInputs in = read_gen_inputs(js);
  GenOptions o;
  o.eos_token_id = spec.eos_token_id;
  read_gen_options(js, o);
  auto model = std::make_unique<ToyModel>(spec, in.ids, in.mask, in.batch, in.src_len);
  check_before_start(*model, o, js, info[2]);
  auto* w = new ToyWorker(env, std::move(model), in.batch, o, info[2], env.Undefined(), true);
  w->set_signal(js);
  return w->start();
}

// _generateTable({vocab, table: {"0,2": number[]...}, fallback?: number[]}, opts, onToken?)
static Napi::Value generate_table(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) HUKUK_FAIL("ENGINE_INVALID_ARG", "table spec must be an object");
  Napi::Object spec = info[0].As<Napi::Object>();
  const int vocab = static_cast<int>(int_arg(spec.Get("vocab"), "vocab"));
  auto floats = [](const Napi::Value& v, const char* what) {
    if (!v.IsArray()) HUKUK_FAIL("ENGINE_INVALID_ARG", std::string(what) + " must be an array of numbers");
    Napi::Array a = v.As<Napi::Array>();
    std::vector<float> out(a.Length());
    for (uint32_t i = 0; i < a.Length(); ++i) out[i] = a.Get(i).As<Napi::Number>().FloatValue();
    return out;
  };
  std::vector<std::pair<std::vector<int32_t>, std::vector<float>>> table;
  Napi::Object t = spec.Get("table").As<Napi::Object>();
  Napi::Array keys = t.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string key = keys.Get(i).As<Napi::String>().Utf8Value();
    std::vector<int32_t> prefix;
    size_t pos = 0;
    while (pos <= key.size()) {
      size_t comma = key.find(',', pos);
      if (comma == std::string::npos) comma = key.size();
      prefix.push_back(std::stoi(key.substr(pos, comma - pos)));
      pos = comma + 1;
    }
    table.emplace_back(std::move(prefix), floats(t.Get(key), "table entry"));
  }
  std::vector<float> fallback;
  if (spec.Has("fallback")) fallback = floats(spec.Get("fallback"), "fallback");
  if (!info[1].IsObject()) HUKUK_FAIL("ENGINE_INVALID_ARG", "options must be an object");
  Napi::Object js = info[1].As<Napi::Object>();
  GenInputs in = read_gen_inputs(js);
  GenOptions o;
  read_gen_options(js, o);
  auto model = std::make_unique<TableModel>(vocab, std::move(table), std::move(fallback));
  check_before_start(*model, o, js, info[2]);
  auto* w = new GenerateWorker(env, std::move(model), in.batch, o, info[2], env.Undefined(), false);
  w->set_signal(js);
  return w->start();
}

static Napi::Value toy_logits(const Napi::CallbackInfo& info) {
  ToySpec spec = read_toy(info[0]);
  auto ids = typed_array_arg<int32_t>(info[1], "inputIds");
  const int32_t* mask = nullptr;
  if (!info[2].IsNull() && !info[2].IsUndefined()) {
    auto m = typed_array_arg<int32_t>(info[2], "attentionMask");
    HUKUK_CHECK(m.length == ids.length, "ENGINE_INVALID_ARG", "attentionMask must match inputIds");
    mask = m.data;
  }
  auto prefix = typed_array_arg<int32_t>(info[3], "prefix");
  std::vector<float> out(spec.vocab);
  ToyModel::prefix_logits(spec, ids.data, mask, static_cast<int>(ids.length), prefix.data,
                          static_cast<int>(prefix.length), out.data());
  return new_typed_array<float>(info.Env(), out.data(), out.size());
}

static Napi::Value process_scores_js(const Napi::CallbackInfo& info) {
  auto scores = typed_array_arg<float>(info[0], "scores");
  auto seq = typed_array_arg<int32_t>(info[1], "seq");
  GenOptions o;
  if (info[2].IsObject()) read_gen_options(info[2].As<Napi::Object>(), o);
  const int min_keep = info[3].IsNumber() ? static_cast<int>(int_arg(info[3], "minKeep")) : 1;
  std::vector<float> s(scores.data, scores.data + scores.length);
  const int V = static_cast<int>(s.size());
  validate(o, V);
  process_scores(s.data(), V, seq.data, static_cast<int>(seq.length), o, min_keep);
  return new_typed_array<float>(info.Env(), s.data(), s.size());
}

static void init_generate_toy(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "_generateToy", napi_entry<generate_toy>);
  export_fn(env, exports, "_generateTable", napi_entry<generate_table>);
  export_fn(env, exports, "_toyLogits", napi_entry<toy_logits>);
  export_fn(env, exports, "_processScores", napi_entry<process_scores_js>);
}

}  // namespace hukuk::gen

HUKUK_REGISTER(generate_toy, hukuk::gen::init_generate_toy);
