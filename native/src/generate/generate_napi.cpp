// engine.generate(model, opts, onToken?) -> Promise<Int32Array> & {cancel()}: generation with a
// loaded engine.T5Model (see native/index.d.ts, GenerateApi). The encoder runs once on the
// worker thread, then the decoder token by token with the model's key/value cache.
#include <napi.h>

#include <map>
#include <memory>
#include <mutex>

#include "core/napi_error.h"
#include "core/registry.h"
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
  bool use_adapter = true;
  if (js.Has("useAdapter") && !js.Get("useAdapter").IsUndefined()) {
    if (!js.Get("useAdapter").IsBoolean()) HUKUK_FAIL("ENGINE_INVALID_ARG", "useAdapter must be a boolean");
    use_adapter = js.Get("useAdapter").As<Napi::Boolean>().Value();
  }
  auto step_model = std::make_unique<T5StepModel>(shared, std::move(in.ids), std::move(in.mask), in.batch, in.src_len,
                                                  use_adapter);
  check_before_start(*step_model, o, js, info[2]);
  // The JS model object is held until the worker ends, so it cannot be collected mid-run.
  auto* w = new GenerateWorker(env, std::move(step_model), in.batch, o, info[2], info[0], false);
  w->set_signal(js);
  w->set_exclusive(generation_lock(model));
  return w->start();
}

static void init_generate(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "generate", napi_entry<generate_js>);
}

}  // namespace hukuk::gen

HUKUK_REGISTER(generate, hukuk::gen::init_generate);
