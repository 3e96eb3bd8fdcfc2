// System facts for the UI and the worker: whether the addon has a CUDA path, and which GPUs
// the driver shows. Never throws for "no CUDA": a CPU-only build, a machine without the
// NVIDIA driver, or one without a device all give an empty list.
#include <dlfcn.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/cuda_runtime.h"
#include "core/napi_error.h"
#include "core/registry.h"
#include "system/gpus.h"

namespace hukuk {

#if defined(HUKUK_CUDA)
// The display driver's version ("580.159.04") comes from NVML, which ships with the driver;
// opened at run time so nothing is needed at link time. Falls back to the CUDA version the
// driver supports ("CUDA 13.0").
static std::string driver_version() {
  void* h = dlopen("libnvidia-ml.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (h) {
    using InitFn = int (*)();
    using VerFn = int (*)(char*, unsigned);
    auto init = reinterpret_cast<InitFn>(dlsym(h, "nvmlInit_v2"));
    auto ver = reinterpret_cast<VerFn>(dlsym(h, "nvmlSystemGetDriverVersion"));
    auto shutdown = reinterpret_cast<InitFn>(dlsym(h, "nvmlShutdown"));
    char buf[96] = {0};
    bool ok = init && ver && shutdown && init() == 0;
    if (ok) {
      ok = ver(buf, sizeof(buf)) == 0;
      shutdown();
    }
    dlclose(h);
    if (ok && buf[0]) return buf;
  }
  int v = 0;
  if (cudaDriverGetVersion(&v) == cudaSuccess && v > 0)
    return "CUDA " + std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
  cudaGetLastError();
  return "";
}
#endif

std::vector<GpuInfo> list_gpus() {
  std::vector<GpuInfo> out;
#if defined(HUKUK_CUDA)
  int n = cuda::device_count();
  if (n == 0) return out;
  std::string driver = driver_version();
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    GpuInfo g;
    g.index = i;
    g.name = p.name;
    g.memory_bytes = p.totalGlobalMem;
    g.driver = driver;
    g.major = p.major;
    g.minor = p.minor;
    g.multiprocessors = p.multiProcessorCount;
    out.push_back(g);
  }
#endif
  return out;
}

bool cuda_compiled() {
#if defined(HUKUK_CUDA)
  return true;
#else
  return false;
#endif
}

static Napi::Value js_cuda_compiled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), cuda_compiled());
}

static Napi::Value js_gpus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto gpus = list_gpus();
  Napi::Array arr = Napi::Array::New(env, gpus.size());
  for (size_t i = 0; i < gpus.size(); ++i) {
    const GpuInfo& g = gpus[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", g.index);
    o.Set("name", g.name);
    o.Set("memoryBytes", static_cast<double>(g.memory_bytes));
    o.Set("driver", g.driver);
    o.Set("computeCapability", std::to_string(g.major) + "." + std::to_string(g.minor));
    o.Set("multiprocessors", g.multiprocessors);
    arr.Set(static_cast<uint32_t>(i), o);
  }
  return arr;
}

static void init_system(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "cudaCompiled", napi_entry<js_cuda_compiled>);
  export_fn(env, exports, "gpus", napi_entry<js_gpus>);
}
HUKUK_REGISTER(system, init_system);

}  // namespace hukuk
