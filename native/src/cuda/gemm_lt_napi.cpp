// Test hook of cuda/gemm_lt (an export named '_...': removed unless HUKUK_ENGINE_TEST_HOOKS=1).
//
//   _gemmLt({ path: 'lt' | 'ex', api: 'ops' | 'cublas', M, N, K, ta, tb, batch, lda, ldb, ldc, sA, sB, sC,
//             A, B, C (Float32Array; A, B rounded to bf16 on upload, C to bf16 when cBf16), cBf16, alpha, beta,
//             capture, tuneRun })
//   -> { C, stats, pendingAfterCapture?, pendingAfterTune?, C2? }
// Row-major as ops/ops_cuda.h's gemm (api 'ops', any ld and strides) or Cublas::gemm_rowmajor
// (api 'cublas': natural ld). path 'lt' forces HUKUK_GEMM_LT on for the call, 'ex' off (GemmEx).
// capture: the GEMM is recorded into a CUDA graph on a fresh stream and the graph launched once
// (C: its result); tuneRun then runs gemm_tune_run() and records + launches again from the same
// initial C (C2). stats: this thread's gemm_lt counters after the call.
#include "core/napi_error.h"
#include "core/registry.h"

#if defined(HUKUK_CUDA)
#include <vector>

#include "core/cuda_runtime.h"
#include "core/half.h"
#include "cuda/cublas_loader.h"
#include "cuda/gemm_lt.h"
#include "ops/ops_cuda.h"
#endif

namespace hukuk {

#if defined(HUKUK_CUDA)
namespace {

double num_or(const Napi::Object& o, const char* k, double d) {
  return o.Has(k) && o.Get(k).IsNumber() ? o.Get(k).As<Napi::Number>().DoubleValue() : d;
}
bool flag_of(const Napi::Object& o, const char* k) { return o.Has(k) && o.Get(k).ToBoolean().Value(); }

Napi::Object stats_object(Napi::Env env) {
  const cuda::GemmLtStats s = cuda::gemm_lt_stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("keys", double(s.keys));
  o.Set("tuned", double(s.tuned));
  o.Set("ltCalls", double(s.lt_calls));
  o.Set("exCalls", double(s.ex_calls));
  o.Set("pending", double(s.pending));
  o.Set("captureCalls", double(s.capture_calls));
  o.Set("tuneMs", s.tune_ms);
  return o;
}

// Restores the HUKUK_GEMM_LT override when the hook returns or throws.
struct ForceScope {
  explicit ForceScope(int mode) { cuda::gemm_lt_force(mode); }
  ~ForceScope() { cuda::gemm_lt_force(-1); }
};

Napi::Value js_gemm_lt(const Napi::CallbackInfo& info) {
  if (cuda::device_count() == 0) HUKUK_FAIL("ENGINE_NO_GPU", "no CUDA device (or no NVIDIA driver)");
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  const std::string path = o.Has("path") ? string_arg(o.Get("path"), "path") : "lt";
  const std::string api = o.Has("api") ? string_arg(o.Get("api"), "api") : "ops";
  HUKUK_CHECK((path == "lt" || path == "ex") && (api == "ops" || api == "cublas"), "ENGINE_INVALID_ARG",
              "_gemmLt: path lt|ex, api ops|cublas");
  const int M = int(int_arg(o.Get("M"), "M")), N = int(int_arg(o.Get("N"), "N")), K = int(int_arg(o.Get("K"), "K"));
  const int batch = int(num_or(o, "batch", 1));
  const bool ta = flag_of(o, "ta"), tb = flag_of(o, "tb"), c_bf16 = flag_of(o, "cBf16");
  const int lda = int(num_or(o, "lda", ta ? M : K)), ldb = int(num_or(o, "ldb", tb ? K : N)), ldc = int(num_or(o, "ldc", N));
  const long long sA = (long long)num_or(o, "sA", double((long long)(ta ? K : M) * lda));
  const long long sB = (long long)num_or(o, "sB", double((long long)(tb ? N : K) * ldb));
  const long long sC = (long long)num_or(o, "sC", double((long long)M * ldc));
  const float alpha = float(num_or(o, "alpha", 1)), beta = float(num_or(o, "beta", 0));
  HUKUK_CHECK(api == "ops" || (lda == (ta ? M : K) && ldb == (tb ? K : N) && ldc == N), "ENGINE_INVALID_ARG",
              "_gemmLt: api 'cublas' takes the natural leading dimensions only");
  auto a = typed_array_arg<float>(o.Get("A"), "A");
  auto b = typed_array_arg<float>(o.Get("B"), "B");
  auto c = typed_array_arg<float>(o.Get("C"), "C");
  std::vector<uint16_t> ha(a.length), hb(b.length), hc16(c.length);
  for (size_t i = 0; i < a.length; ++i) ha[i] = f32_to_bf16(a.data[i]);
  for (size_t i = 0; i < b.length; ++i) hb[i] = f32_to_bf16(b.data[i]);
  for (size_t i = 0; i < c.length; ++i) hc16[i] = f32_to_bf16(c.data[i]);
  cuda::DeviceBuffer<uint16_t> da(a.length), db(b.length);
  cuda::DeviceBuffer<uint8_t> dc(c.length * (c_bf16 ? 2 : 4));
  HUKUK_CUDA_CHECK(cudaMemcpy(da.get(), ha.data(), ha.size() * 2, cudaMemcpyHostToDevice));
  HUKUK_CUDA_CHECK(cudaMemcpy(db.get(), hb.data(), hb.size() * 2, cudaMemcpyHostToDevice));
  auto upload_c = [&] {
    HUKUK_CUDA_CHECK(cudaMemcpy(dc.get(), c_bf16 ? static_cast<const void*>(hc16.data()) : static_cast<const void*>(c.data),
                                dc.bytes(), cudaMemcpyHostToDevice));
  };
  auto download_c = [&] {
    std::vector<float> out(c.length);
    if (c_bf16) {
      std::vector<uint16_t> h(c.length);
      HUKUK_CUDA_CHECK(cudaMemcpy(h.data(), dc.get(), dc.bytes(), cudaMemcpyDeviceToHost));
      for (size_t i = 0; i < h.size(); ++i) out[i] = bf16_to_f32(h[i]);
    } else {
      HUKUK_CUDA_CHECK(cudaMemcpy(out.data(), dc.get(), dc.bytes(), cudaMemcpyDeviceToHost));
    }
    return new_typed_array<float>(env, out.data(), out.size());
  };
  ForceScope force(path == "lt" ? 1 : 0);
  const auto* A = reinterpret_cast<const bf16_t*>(da.get());
  const auto* B = reinterpret_cast<const bf16_t*>(db.get());
  auto run = [&](cudaStream_t s) {
    namespace oc = ops::cuda;
    if (api == "cublas") {
      cuda::cublas().gemm_rowmajor(s, M, N, K, {A, cuda::kCudaR16BF, ta, sA}, {B, cuda::kCudaR16BF, tb, sB}, dc.get(),
                                   c_bf16 ? cuda::kCudaR16BF : cuda::kCudaR32F, alpha, beta, batch, sC);
    } else if (c_bf16) {
      oc::gemm(s, oc::Precision::BF16, ta, tb, M, N, K, alpha, A, lda, sA, B, ldb, sB, beta,
               reinterpret_cast<bf16_t*>(dc.get()), ldc, sC, batch);
    } else {
      oc::gemm(s, oc::Precision::BF16, ta, tb, M, N, K, alpha, A, lda, sA, B, ldb, sB, beta,
               reinterpret_cast<float*>(dc.get()), ldc, sC, batch);
    }
  };
  Napi::Object out = Napi::Object::New(env);
  upload_c();
  if (!flag_of(o, "capture")) {
    run(nullptr);
    HUKUK_CUDA_CHECK(cudaDeviceSynchronize());
    out.Set("C", download_c());
  } else {
    cudaStream_t s = nullptr;
    HUKUK_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    auto capture_and_launch = [&] {
      cudaGraph_t g = nullptr;
      cudaGraphExec_t exec = nullptr;
      HUKUK_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
      try {
        run(s);
      } catch (...) {
        cudaStreamEndCapture(s, &g);
        if (g) cudaGraphDestroy(g);
        throw;
      }
      HUKUK_CUDA_CHECK(cudaStreamEndCapture(s, &g));
      const cudaError_t ie = cudaGraphInstantiate(&exec, g, 0);
      cudaGraphDestroy(g);
      HUKUK_CUDA_CHECK(ie);
      const cudaError_t le = cudaGraphLaunch(exec, s);
      const cudaError_t se = cudaStreamSynchronize(s);
      cudaGraphExecDestroy(exec);
      HUKUK_CUDA_CHECK(le);
      HUKUK_CUDA_CHECK(se);
    };
    try {
      capture_and_launch();
      out.Set("C", download_c());
      out.Set("pendingAfterCapture", cuda::gemm_tune_pending());
      if (flag_of(o, "tuneRun")) {
        cuda::gemm_tune_run();
        out.Set("pendingAfterTune", cuda::gemm_tune_pending());
        upload_c();
        capture_and_launch();
        out.Set("C2", download_c());
      }
    } catch (...) {
      cudaStreamDestroy(s);
      throw;
    }
    cudaStreamDestroy(s);
  }
  out.Set("stats", stats_object(env));
  return out;
}

// _gemmLtInfo() -> { available, error }: whether cuBLASLt's matmul API was opened
Napi::Value js_gemm_lt_info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  const auto& ci = cuda::cublas_info();
  o.Set("available", ci.lt_available);
  o.Set("error", ci.lt_error);
  return o;
}

}  // namespace
#endif

static void init_gemm_lt(Napi::Env env, Napi::Object exports) {
#if defined(HUKUK_CUDA)
  export_fn(env, exports, "_gemmLt", napi_entry<js_gemm_lt>);
  export_fn(env, exports, "_gemmLtInfo", napi_entry<js_gemm_lt_info>);
#else
  (void)env;
  (void)exports;
#endif
}
HUKUK_REGISTER(gemm_lt, init_gemm_lt);

}  // namespace hukuk
