// Node-API face of native/src/cuda: whether cuBLAS can be opened (it is optional).
#include "core/napi_error.h"
#include "core/registry.h"
#include "cuda/cublas_loader.h"

namespace hukuk {

// cublasInfo() -> { available, path, error, version }
static Napi::Value js_cublas_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
#if defined(HUKUK_CUDA)
  const auto& ci = cuda::cublas_info();
  o.Set("available", ci.available);
  o.Set("path", ci.path);
  o.Set("error", ci.error);
#else
  o.Set("available", false);
  o.Set("path", "");
  o.Set("error", "the engine was built without CUDA");
#endif
  return o;
}

static void init_cuda(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "cublasInfo", napi_entry<js_cublas_info>);
}
HUKUK_REGISTER(cuda, init_cuda);

}  // namespace hukuk
