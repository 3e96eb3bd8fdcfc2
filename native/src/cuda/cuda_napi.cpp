// Node-API face of native/src/cuda: whether cuBLAS can be opened (it is optional).
#include "core/napi_error.h"
#include "core/registry.h"
#include "cuda/cublas_loader.h"

#if defined(HUKUK_CUDA)
#include "core/cuda_runtime.h"
#endif

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

#if defined(HUKUK_CUDA)
// Test hook: _cublasGemm({ a, b, M, N, K, aTransposed, bTransposed, batch }) with fp32 (Float32Array)
// or bf16 (Uint16Array) operands, fp32 result C[batch][M][N] = op(A)·op(B).
static Napi::Value js_cublas_gemm(const Napi::CallbackInfo& info) {
  if (cuda::device_count() == 0) HUKUK_FAIL("ENGINE_NO_GPU", "no CUDA device (or no NVIDIA driver)");
  Napi::Object o = info[0].As<Napi::Object>();
  const int64_t M = int_arg(o.Get("M"), "M"), N = int_arg(o.Get("N"), "N"), K = int_arg(o.Get("K"), "K");
  const int batch = o.Has("batch") ? static_cast<int>(int_arg(o.Get("batch"), "batch")) : 1;
  const bool at = o.Has("aTransposed") && o.Get("aTransposed").ToBoolean().Value();
  const bool bt = o.Has("bTransposed") && o.Get("bTransposed").ToBoolean().Value();
  Napi::TypedArray a = o.Get("a").As<Napi::TypedArray>(), b = o.Get("b").As<Napi::TypedArray>();
  const bool bf16 = a.TypedArrayType() == napi_uint16_array;
  const size_t elem = bf16 ? 2 : 4;
  HUKUK_CHECK(a.ByteLength() == size_t(batch * M * K) * elem && b.ByteLength() == size_t(batch * K * N) * elem,
              "ENGINE_INVALID_ARG", "a/b sizes do not match batch, M, N, K");
  cuda::DeviceBuffer<uint8_t> da(a.ByteLength()), db(b.ByteLength());
  cuda::DeviceBuffer<float> dc(static_cast<size_t>(batch * M * N));
  HUKUK_CUDA_CHECK(cudaMemcpy(da.get(), static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset(), a.ByteLength(), cudaMemcpyHostToDevice));
  HUKUK_CUDA_CHECK(cudaMemcpy(db.get(), static_cast<uint8_t*>(b.ArrayBuffer().Data()) + b.ByteOffset(), b.ByteLength(), cudaMemcpyHostToDevice));
  const int type = bf16 ? cuda::kCudaR16BF : cuda::kCudaR32F;
  cuda::cublas().gemm_rowmajor(nullptr, M, N, K, {da.get(), type, at, M * K}, {db.get(), type, bt, K * N}, dc.get(),
                               cuda::kCudaR32F, 1.f, 0.f, batch, M * N);
  auto out = Napi::Float32Array::New(info.Env(), dc.size());
  HUKUK_CUDA_CHECK(cudaMemcpy(out.Data(), dc.get(), dc.bytes(), cudaMemcpyDeviceToHost));
  return out;
}
#endif

static void init_cuda(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "cublasInfo", napi_entry<js_cublas_info>);
#if defined(HUKUK_CUDA)
  export_fn(env, exports, "_cublasGemm", napi_entry<js_cublas_gemm>);
#endif
}
HUKUK_REGISTER(cuda, init_cuda);

}  // namespace hukuk
