// Each op family registers its Node-API functions here at static-init time, so
// addon.cpp never has to change when a module is added:
//
//   static void init_nf4(Napi::Env env, Napi::Object exports) { exports.Set(...); }
//   HUKUK_REGISTER(nf4, init_nf4);
#pragma once
#include <napi.h>
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

}  // namespace hukuk

#define HUKUK_REGISTER(name, fn) static ::hukuk::ModuleRegistrar hukuk_registrar_##name(#name, fn)
