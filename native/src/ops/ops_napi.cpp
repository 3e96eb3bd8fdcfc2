// Test and benchmark hooks for the op families (not part of the app's API):
//   engine._opsGemm({layout: 'nt'|'nn'|'tn', A, B, C?, M, N, K, accumulate?, alpha?, reference?}) -> Float32Array C
//   engine._opsBucket(relativePosition, bidirectional, numBuckets, maxDistance) -> bucket
//   engine._opsRmsnorm(x, w, rows, d, eps) -> Float32Array y
// Shapes: nt: A[M,K], B[N,K]; nn: A[M,K], B[K,N]; tn: A[K,M], B[K,N]; C[M,N].
#include <napi.h>

#include <chrono>
#include <vector>

#include "core/napi_error.h"
#include "core/registry.h"
#include "ops/attention.h"
#include "ops/matmul.h"
#include "ops/norm.h"

namespace hukuk {

static Napi::Value ops_gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) HUKUK_FAIL("ENGINE_INVALID_ARG", "_opsGemm: options must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  const std::string layout = string_arg(o.Get("layout"), "layout");
  const int M = int(int_arg(o.Get("M"), "M")), N = int(int_arg(o.Get("N"), "N")), K = int(int_arg(o.Get("K"), "K"));
  HUKUK_CHECK(M > 0 && N > 0 && K >= 0, "ENGINE_INVALID_ARG", "_opsGemm: bad sizes");
  auto A = typed_array_arg<float>(o.Get("A"), "A");
  auto B = typed_array_arg<float>(o.Get("B"), "B");
  HUKUK_CHECK(A.length == size_t(M) * K && B.length == size_t(N) * K, "ENGINE_INVALID_ARG", "_opsGemm: A/B sizes");
  const bool acc = o.Has("accumulate") && o.Get("accumulate").ToBoolean().Value();
  const float alpha = o.Has("alpha") ? float(o.Get("alpha").As<Napi::Number>().DoubleValue()) : 1.f;
  const bool ref = o.Has("reference") && o.Get("reference").ToBoolean().Value();
  const int reps = o.Has("reps") ? int(int_arg(o.Get("reps"), "reps")) : 1;
  std::vector<float> C(size_t(M) * N, 0.f);
  if (o.Has("C")) {
    auto c0 = typed_array_arg<float>(o.Get("C"), "C");
    HUKUK_CHECK(c0.length == C.size(), "ENGINE_INVALID_ARG", "_opsGemm: C size");
    C.assign(c0.data, c0.data + c0.length);
  }
  int64_t a_sm, a_sk, b_sn, b_sk;
  if (layout == "nt") { a_sm = K; a_sk = 1; b_sn = K; b_sk = 1; }
  else if (layout == "nn") { a_sm = K; a_sk = 1; b_sn = 1; b_sk = N; }
  else if (layout == "tn") { a_sm = 1; a_sk = M; b_sn = 1; b_sk = N; }
  else HUKUK_FAIL("ENGINE_INVALID_ARG", "_opsGemm: layout must be nt, nn or tn");
  auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; ++r) {
    if (ref) ops::gemm_reference(C.data(), N, M, N, K, A.data, a_sm, a_sk, B.data, b_sn, b_sk, acc, alpha);
    else ops::gemm(C.data(), N, M, N, K, A.data, a_sm, a_sk, B.data, b_sn, b_sk, acc, alpha);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Napi::Float32Array out = new_typed_array<float>(env, C.data(), C.size());
  out.Set("seconds", Napi::Number::New(env, secs / reps));
  return out;
}

static Napi::Value ops_bucket(const Napi::CallbackInfo& info) {
  const int rel = int(int_arg(info[0], "relativePosition"));
  const bool bidir = info[1].ToBoolean().Value();
  const int nb = int(int_arg(info[2], "numBuckets")), md = int(int_arg(info[3], "maxDistance"));
  HUKUK_CHECK(nb > 1 && md > 1, "ENGINE_INVALID_ARG", "_opsBucket: bad bucket settings");
  return Napi::Number::New(info.Env(), ops::relative_position_bucket(rel, bidir, nb, md));
}

static Napi::Value ops_rmsnorm(const Napi::CallbackInfo& info) {
  auto x = typed_array_arg<float>(info[0], "x");
  auto w = typed_array_arg<float>(info[1], "w");
  const int64_t rows = int_arg(info[2], "rows");
  const int d = int(int_arg(info[3], "d"));
  const float eps = float(info[4].As<Napi::Number>().DoubleValue());
  HUKUK_CHECK(x.length == size_t(rows) * d && w.length == size_t(d), "ENGINE_INVALID_ARG", "_opsRmsnorm: sizes");
  std::vector<float> y(x.length);
  ops::rmsnorm_forward(x.data, w.data, y.data(), nullptr, rows, d, eps);
  return new_typed_array<float>(info.Env(), y.data(), y.size());
}

static void init_ops(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "_opsGemm", napi_entry<ops_gemm>);
  export_fn(env, exports, "_opsBucket", napi_entry<ops_bucket>);
  export_fn(env, exports, "_opsRmsnorm", napi_entry<ops_rmsnorm>);
}

HUKUK_REGISTER(ops, init_ops);

}  // namespace hukuk
