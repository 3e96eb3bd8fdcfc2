// engine.t5CudaMemory(model) -> { weights, lora, arena, arenaPlan, deviceUsed, deviceTotal } (bytes), for
// the benchmark and the VRAM estimate: what a CUDA T5 model holds (its weights, LoRA state and
// the high-water mark of its activation arena) and what the device reports in use overall.
#include <napi.h>

#include "core/cuda_runtime.h"
#include "core/napi_error.h"
#include "core/registry.h"
#include "t5/cuda/t5_cuda.h"
#include "t5/t5_napi.h"

namespace hukuk::t5cuda {

static Napi::Value t5_cuda_memory(const Napi::CallbackInfo& info) {
  T5Model* m = unwrap_t5(info[0]);
  HUKUK_CHECK(m->device() == DeviceKind::CUDA, "ENGINE_INVALID_ARG", "t5CudaMemory: the model is not on 'cuda'");
  const MemoryUse u = memory_use(m->impl());
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("weights", double(u.weights));
  o.Set("lora", double(u.lora));
  o.Set("arena", double(u.arena));
  o.Set("arenaPlan", double(u.arena_plan));
#if defined(HUKUK_CUDA)
  size_t free_b = 0, total_b = 0;
  hukuk::cuda::memory_info(&free_b, &total_b);
  o.Set("deviceUsed", double(total_b - free_b));
  o.Set("deviceTotal", double(total_b));
#endif
  return o;
}

static void init_t5_cuda(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "t5CudaMemory", napi_entry<t5_cuda_memory>);
}

}  // namespace hukuk::t5cuda

HUKUK_REGISTER(t5_cuda, hukuk::t5cuda::init_t5_cuda);
