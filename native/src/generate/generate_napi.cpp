// engine.generate(model, opts, onToken?) -> Promise<Int32Array> & {cancel()}: generation with a
// loaded engine.T5Model (see native/index.d.ts, GenerateApi). The encoder runs once on the
// worker thread, then the decoder token by token with the model's key/value cache. A model loaded
// on CUDA decodes on the GPU (generate/cuda/cuda_step_model.h); a CPU model on the CPU graph.
// HUKUK_GEN_DEVICE=cpu keeps a CUDA model's generation on the CPU graph (its host weights).
#include <napi.h>

#include <cstdlib>
#include <string>

#include <map>
#include <memory>
#include <mutex>

#include "core/napi_error.h"
#include "core/registry.h"
#include "generate/cuda/cuda_step_model.h"
#include "generate/gen_worker.h"
#include "generate/t5_step_model.h"
#include "t5/t5_napi.h"

namespace hukuk::gen {

// One lock per model: two generations on the same model (a second chat message sent before the
// first answer ended) run one after the other instead of sharing its scratch memory.
static std::mutex* generation_lock(const T5Model* m) {
  static std::mutex guard;
  static std::map<const T5Model*, std::unique_ptr<std::mutex>> locks;
  std::lock_guard<std::mutex> g(guard);
  auto& l = locks[m];
  if (!l) l = std::make_unique<std::mutex>();
  return l.get();
}

// The step model for `model`: the GPU one for a CUDA model unless `device` says "cpu".
static std::unique_ptr<StepModel> make_step_model(std::shared_ptr<T5Model> model, GenInputs& in, bool use_adapter,
                                                  const std::string& device) {
  const char* env_dev = std::getenv("HUKUK_GEN_DEVICE");
  const bool force_cpu = device == "cpu" || (device.empty() && env_dev && std::string(env_dev) == "cpu");
  if (!force_cpu && cuda_step_available(*model))
    return std::make_unique<CudaStepModel>(std::move(model), std::move(in.ids), std::move(in.mask), in.batch, in.src_len,
                                           use_adapter);
  return std::make_unique<T5StepModel>(std::move(model), std::move(in.ids), std::move(in.mask), in.batch, in.src_len,
                                       use_adapter);
}

static bool use_adapter_of(const Napi::Object& js) {
  if (js.Has("useAdapter") && !js.Get("useAdapter").IsUndefined()) {
    if (!js.Get("useAdapter").IsBoolean()) HUKUK_FAIL("ENGINE_INVALID_ARG", "useAdapter must be a boolean");
    return js.Get("useAdapter").As<Napi::Boolean>().Value();
  }
  return true;
}

// Test hook: engine._decodeLogits(model, {inputIds, attentionMask?, batch?, tokens, useAdapter?,
// stepDevice?: 'cpu' | 'auto'}) -> Float32Array [steps, batch, vocab]: the decoder fed `tokens`
// ([steps, batch], teacher forcing, one beam), synchronously, so the GPU step can be compared with
// the CPU graph step by step on the same model.
static Napi::Value decode_logits_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<T5Model> shared = share_t5(info[0]);
  if (!info[1].IsObject()) HUKUK_FAIL("ENGINE_INVALID_ARG", "_decodeLogits: options must be an object");
  Napi::Object js = info[1].As<Napi::Object>();
  GenInputs in = read_gen_inputs(js);
  const int batch = in.batch;
  if (!js.Has("tokens") || !js.Get("tokens").IsTypedArray()) HUKUK_FAIL("ENGINE_INVALID_ARG", "tokens (Int32Array) is required");
  Napi::Int32Array toks = js.Get("tokens").As<Napi::Int32Array>();
  if (toks.ElementLength() == 0 || toks.ElementLength() % size_t(batch) != 0)
    HUKUK_FAIL("ENGINE_INVALID_ARG", "tokens must hold steps * batch ids");
  const int steps = int(toks.ElementLength() / size_t(batch));
  std::string device;
  if (js.Has("stepDevice") && js.Get("stepDevice").IsString()) device = js.Get("stepDevice").As<Napi::String>().Utf8Value();
  if (device == "auto") device = "gpu-if-cuda";
  std::lock_guard<std::mutex> lock(*generation_lock(shared.get()));
  auto m = make_step_model(shared, in, use_adapter_of(js), device);
  const int V = m->vocab();
  m->start(batch, 1, steps);
  Napi::Float32Array out = Napi::Float32Array::New(env, size_t(steps) * batch * V);
  for (int t = 0; t < steps; ++t) m->step(toks.Data() + size_t(t) * batch, batch, out.Data() + size_t(t) * batch * V);
  return out;
}

static Napi::Value generate_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<T5Model> shared = share_t5(info[0]);  // survives a dispose() mid-generation
  T5Model* model = shared.get();
  if (!info[1].IsObject()) HUKUK_FAIL("ENGINE_INVALID_ARG", "generate: options must be an object");
  Napi::Object js = info[1].As<Napi::Object>();
  GenInputs in = read_gen_inputs(js);
  const T5Config& cfg = model->config();
  GenOptions o;
  o.eos_token_id = cfg.eos_token_id;
  o.pad_token_id = cfg.pad_token_id;
  o.decoder_start_token_id = cfg.decoder_start_token_id;
  read_gen_options(js, o);
  const bool use_adapter = use_adapter_of(js);
  const int batch = in.batch;
  auto step_model = make_step_model(shared, in, use_adapter, "");
  check_before_start(*step_model, o, js, info[2]);
  // The JS model object is held until the worker ends, so it cannot be collected mid-run.
  auto* w = new GenerateWorker(env, std::move(step_model), batch, o, info[2], info[0], false);
  w->set_signal(js);
  w->set_exclusive(generation_lock(model));
  return w->start();
}

static void init_generate(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "generate", napi_entry<generate_js>);
  export_fn(env, exports, "_decodeLogits", napi_entry<decode_logits_js>);
}

}  // namespace hukuk::gen

HUKUK_REGISTER(generate, hukuk::gen::init_generate);
