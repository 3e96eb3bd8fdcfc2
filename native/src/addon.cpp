// The Node-API face of the engine. Modules register themselves (core/registry.h);
// this file only runs their init functions, adds the version, and drops the test hooks
// (exports named '_...') unless HUKUK_ENGINE_TEST_HOOKS=1 (core/registry.h says why).
#include <napi.h>
#include "core/registry.h"

#define HUKUK_ENGINE_VERSION "0.1.0"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), HUKUK_ENGINE_VERSION);
  }));
  Napi::Array modules = Napi::Array::New(env);
  uint32_t i = 0;
  for (auto& m : hukuk::module_registry()) {
    m.init(env, exports);
    modules.Set(i++, Napi::String::New(env, m.name));
  }
  exports.Set("modules", modules);
  if (!hukuk::test_hooks_enabled()) hukuk::remove_test_hooks(exports);
  return exports;
}

NODE_API_MODULE(hukuk_engine, Init)
