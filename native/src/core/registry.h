// Each op family registers its Node-API functions here at static-init time, so
// addon.cpp never has to change when a module is added:
//
//   static void init_nf4(Napi::Env env, Napi::Object exports) { exports.Set(...); }
//   HUKUK_REGISTER(nf4, init_nf4);
//
// Test hooks: an export whose name begins with '_' (_ops*, _decodeLogits, _adamwTest, ...) is for
// the tests, benchmarks and tools only. Modules export them like any other function; addon.cpp
// removes every such top-level export after the modules ran, unless HUKUK_ENGINE_TEST_HOOKS=1 was
// set when the addon loaded (vitest.config.ts and the bench/tools scripts set it). So a new hook
// needs no registration of its own, and the app never sees one.
#pragma once
#include <napi.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace hukuk {

using ModuleInit = void (*)(Napi::Env, Napi::Object);

struct ModuleEntry {
  const char* name;
  ModuleInit init;
};

inline std::vector<ModuleEntry>& module_registry() {
  static std::vector<ModuleEntry> entries;
  return entries;
}

struct ModuleRegistrar {
  ModuleRegistrar(const char* name, ModuleInit init) { module_registry().push_back({name, init}); }
};

// HUKUK_ENGINE_TEST_HOOKS=1 in the environment (read when asked: at load time, by addon.cpp).
inline bool test_hooks_enabled() {
  const char* v = std::getenv("HUKUK_ENGINE_TEST_HOOKS");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

// Deletes the exports whose names begin with '_' (the test hooks); returns how many.
inline uint32_t remove_test_hooks(Napi::Object exports) {
  Napi::Array names = exports.GetPropertyNames();
  uint32_t removed = 0;
  for (uint32_t i = 0; i < names.Length(); ++i) {
    const std::string name = names.Get(i).As<Napi::String>().Utf8Value();
    if (!name.empty() && name[0] == '_' && exports.Delete(name)) ++removed;
  }
  return removed;
}

}  // namespace hukuk

#define HUKUK_REGISTER(name, fn) static ::hukuk::ModuleRegistrar hukuk_registrar_##name(#name, fn)
