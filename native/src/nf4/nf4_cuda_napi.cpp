// Node-API entry points of the CUDA NF4 path, for tests and the micro-benchmark (the T5 engine
// calls nf4_cuda.h directly). Without a CUDA build they throw 'ENGINE_NO_CUDA'.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>

#include "core/half.h"
#include "core/napi_error.h"
#include "core/registry.h"
#include "nf4/nf4_napi.h"

#if defined(HUKUK_CUDA)
#include "core/cuda_runtime.h"
#include "cuda/cublas_loader.h"
#include "nf4/nf4_cuda.h"
#endif

namespace hukuk::nf4 {

#if defined(HUKUK_CUDA)
namespace {

using hukuk::cuda::DeviceBuffer;
using namespace hukuk::nf4::cuda;

void require_gpu() {
  if (hukuk::cuda::device_count() == 0) HUKUK_FAIL("ENGINE_NO_GPU", "no CUDA device (or no NVIDIA driver)");
}

template <typename T>
DeviceBuffer<T> to_device(const T* src, size_t n) {
  DeviceBuffer<T> d(n);
  HUKUK_CUDA_CHECK(cudaMemcpy(d.get(), src, n * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

// nf4CudaQuantize(input, shape, options): like nf4Quantize, computed on the GPU.
Napi::Value js_cuda_quantize(const Napi::CallbackInfo& info) {
  require_gpu();
  QuantizeArgs a = quantize_args(info);
  const size_t bytes = static_cast<size_t>(a.numel) * (a.dtype == DType::F32 ? 4 : 2);
  DeviceBuffer<uint8_t> x = to_device(static_cast<const uint8_t*>(a.data), bytes);
  Nf4Weight w = cuda::quantize(x.get(), a.dtype, a.shape, a.blocksize, a.nested, nullptr);
  return to_js(info.Env(), w.download(nullptr));
}

// nf4CudaDequantize(q) -> Float32Array; nf4CudaDequantize(q, 'bfloat16') -> Uint16Array (bf16 bits)
Napi::Value js_cuda_dequantize(const Napi::CallbackInfo& info) {
  require_gpu();
  Nf4Tensor t = from_js(info[0]);
  Nf4Weight w = Nf4Weight::upload(t, nullptr);
  const size_t n = static_cast<size_t>(t.numel);
  if (info.Length() > 1 && info[1].IsString() && info[1].As<Napi::String>().Utf8Value() == "bfloat16") {
    DeviceBuffer<uint16_t> out(n);
    dequantize_bf16(w.view(), out.get(), nullptr);
    auto host = Napi::Uint16Array::New(info.Env(), n);
    HUKUK_CUDA_CHECK(cudaMemcpy(host.Data(), out.get(), out.bytes(), cudaMemcpyDeviceToHost));
    return host;
  }
  DeviceBuffer<float> out(n);
  dequantize_f32(w.view(), out.get(), nullptr);
  auto host = Napi::Float32Array::New(info.Env(), n);
  HUKUK_CUDA_CHECK(cudaMemcpy(host.Data(), out.get(), out.bytes(), cudaMemcpyDeviceToHost));
  return host;
}

// nf4CudaDequantizeList(qs, align = 8) -> Uint16Array[] (bf16 bits): the weights dequantized by
// ONE dequantize_list_bf16 call into one device buffer, weight i at the running offset rounded up
// to `align` elements (align 1 with odd sizes gives misaligned destinations: their fallback).
Napi::Value js_cuda_dequantize_list(const Napi::CallbackInfo& info) {
  require_gpu();
  Napi::Env env = info.Env();
  HUKUK_CHECK(info[0].IsArray(), "ENGINE_INVALID_ARG", "nf4CudaDequantizeList takes an array of NF4 weights");
  Napi::Array arr = info[0].As<Napi::Array>();
  const int64_t align = info.Length() > 1 && info[1].IsNumber() ? int_arg(info[1], "align") : 8;
  HUKUK_CHECK(align >= 1, "ENGINE_INVALID_ARG", "align must be positive");
  const int n = static_cast<int>(arr.Length());
  HUKUK_CHECK(n <= kDequantizeListMax, "ENGINE_INVALID_ARG", "too many weights for one list");
  std::vector<Nf4Weight> ws;
  std::vector<int64_t> offs, sizes;
  int64_t total = 0;
  for (int i = 0; i < n; ++i) {
    Nf4Tensor t = from_js(arr.Get(static_cast<uint32_t>(i)));
    ws.push_back(Nf4Weight::upload(t, nullptr));
    total = (total + align - 1) / align * align;
    offs.push_back(total);
    sizes.push_back(t.numel);
    total += t.numel;
  }
  DeviceBuffer<uint16_t> out(static_cast<size_t>(std::max<int64_t>(total, 1)));
  HUKUK_CUDA_CHECK(cudaMemset(out.get(), 0xff, out.bytes()));
  std::vector<DeviceNf4> views;
  for (const Nf4Weight& w : ws) views.push_back(w.view());
  std::vector<const DeviceNf4*> vp;
  std::vector<uint16_t*> op;
  for (int i = 0; i < n; ++i) {
    vp.push_back(&views[static_cast<size_t>(i)]);
    op.push_back(out.get() + offs[static_cast<size_t>(i)]);
  }
  dequantize_list_bf16(vp.data(), op.data(), n, nullptr);
  HUKUK_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<uint16_t> host(out.size());
  HUKUK_CUDA_CHECK(cudaMemcpy(host.data(), out.get(), out.bytes(), cudaMemcpyDeviceToHost));
  Napi::Array res = Napi::Array::New(env, static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto a = Napi::Uint16Array::New(env, static_cast<size_t>(sizes[static_cast<size_t>(i)]));
    std::memcpy(a.Data(), host.data() + offs[static_cast<size_t>(i)], sizeof(uint16_t) * a.ElementLength());
    res.Set(static_cast<uint32_t>(i), a);
  }
  return res;
}

// The fp32 form of nf4CudaMatmul (a: Float32Array): impl 'linear' (dequantize fp32 + cuBLAS fp32,
// else the plain kernel) or 'simt' (the plain kernel); fp32 output.
Napi::Value cuda_matmul_f32(const Napi::CallbackInfo& info, const Nf4Tensor& t) {
  Napi::Env env = info.Env();
  auto a = typed_array_arg<float>(info[1], "a");
  const int64_t M = int_arg(info[2], "M");
  Napi::Object opts = info.Length() > 3 && info[3].IsObject() ? info[3].As<Napi::Object>() : Napi::Object::New(env);
  const bool backward = opts.Has("backward") && opts.Get("backward").ToBoolean().Value();
  const std::string impl = opts.Has("impl") ? string_arg(opts.Get("impl"), "impl") : "linear";
  HUKUK_CHECK(impl == "linear" || impl == "simt", "ENGINE_INVALID_ARG", "fp32 inputs take impl 'linear' or 'simt'");
  const float alpha = opts.Has("alpha") ? opts.Get("alpha").As<Napi::Number>().FloatValue() : 1.f;
  const float beta = opts.Has("beta") ? opts.Get("beta").As<Napi::Number>().FloatValue() : 0.f;
  const int64_t N = t.shape[0], K = t.shape[1];
  const int64_t red = backward ? N : K, outc = backward ? K : N;
  HUKUK_CHECK(static_cast<int64_t>(a.length) == M * red, "ENGINE_INVALID_ARG", "a must hold M * reduction-length values");
  Nf4Weight w = Nf4Weight::upload(t, nullptr);
  DeviceBuffer<float> da = to_device(a.data, a.length);
  DeviceBuffer<float> dc(static_cast<size_t>(M * outc));
  if (opts.Has("c") && !opts.Get("c").IsUndefined()) {
    auto c = typed_array_arg<float>(opts.Get("c"), "c");
    HUKUK_CHECK(c.length == dc.size(), "ENGINE_INVALID_ARG", "c must match the output's size");
    HUKUK_CUDA_CHECK(cudaMemcpy(dc.get(), c.data, dc.bytes(), cudaMemcpyHostToDevice));
  } else {
    HUKUK_CUDA_CHECK(cudaMemset(dc.get(), 0, dc.bytes()));
  }
  DeviceBuffer<float> scratch(impl == "linear" ? static_cast<size_t>(N * K) : 0);
  if (backward) linear_dyw_f32(w.view(), da.get(), M, dc.get(), alpha, beta, scratch.get(), nullptr);
  else linear_xwt_f32(w.view(), da.get(), M, dc.get(), alpha, beta, scratch.get(), nullptr);
  HUKUK_CUDA_CHECK(cudaDeviceSynchronize());
  auto host = Napi::Float32Array::New(env, dc.size());
  HUKUK_CUDA_CHECK(cudaMemcpy(host.Data(), dc.get(), dc.bytes(), cudaMemcpyDeviceToHost));
  return host;
}

// nf4CudaMatmul(q, a, M, { backward, out, impl, alpha, beta, c }):
//   forward  y[M,N]  = alpha * a[M,K] · Wᵀ + beta * c
//   backward dx[M,K] = alpha * a[M,N] · W  + beta * c
// a: bf16 bits (Uint16Array). out 'float32' (default) or 'bfloat16'. impl 'auto' | 'tensor-core' |
// 'simt' | 'cublas' (dequantize to bf16, then cuBLAS). c: Float32Array/Uint16Array, the prior output.
Napi::Value js_cuda_matmul(const Napi::CallbackInfo& info) {
  require_gpu();
  Napi::Env env = info.Env();
  Nf4Tensor t = from_js(info[0]);
  HUKUK_CHECK(t.shape.size() == 2, "ENGINE_INVALID_ARG", "nf4CudaMatmul needs a 2-D weight");
  if (info[1].IsTypedArray() && info[1].As<Napi::TypedArray>().TypedArrayType() == napi_float32_array)
    return cuda_matmul_f32(info, t);
  auto a = typed_array_arg<uint16_t>(info[1], "a");
  const int64_t M = int_arg(info[2], "M");
  Napi::Object opts = info.Length() > 3 && info[3].IsObject() ? info[3].As<Napi::Object>() : Napi::Object::New(env);
  const bool backward = opts.Has("backward") && opts.Get("backward").ToBoolean().Value();
  const bool out_bf16 = opts.Has("out") && string_arg(opts.Get("out"), "out") == "bfloat16";
  const std::string impl = opts.Has("impl") ? string_arg(opts.Get("impl"), "impl") : "auto";
  const float alpha = opts.Has("alpha") ? opts.Get("alpha").As<Napi::Number>().FloatValue() : 1.f;
  const float beta = opts.Has("beta") ? opts.Get("beta").As<Napi::Number>().FloatValue() : 0.f;
  const int64_t N = t.shape[0], K = t.shape[1];
  const int64_t red = backward ? N : K, outc = backward ? K : N;
  HUKUK_CHECK(static_cast<int64_t>(a.length) == M * red, "ENGINE_INVALID_ARG", "a must hold M * reduction-length values");
  const size_t out_n = static_cast<size_t>(M * outc), elem = out_bf16 ? 2 : 4;

  Nf4Weight w = Nf4Weight::upload(t, nullptr);
  DeviceBuffer<uint16_t> da = to_device(a.data, a.length);
  DeviceBuffer<uint8_t> dc(out_n * elem);
  if (opts.Has("c") && !opts.Get("c").IsUndefined()) {
    Napi::TypedArray c = opts.Get("c").As<Napi::TypedArray>();
    HUKUK_CHECK(c.ByteLength() == out_n * elem, "ENGINE_INVALID_ARG", "c must match the output's size and type");
    HUKUK_CUDA_CHECK(cudaMemcpy(dc.get(), static_cast<uint8_t*>(c.ArrayBuffer().Data()) + c.ByteOffset(), c.ByteLength(),
                                cudaMemcpyHostToDevice));
  } else {
    HUKUK_CUDA_CHECK(cudaMemset(dc.get(), 0, dc.bytes()));
  }
  if (impl == "linear") {
    DeviceBuffer<uint16_t> scratch(static_cast<size_t>(N * K));
    OutType ot = out_bf16 ? OutType::BF16 : OutType::F32;
    if (backward) linear_dyw(w.view(), da.get(), M, dc.get(), ot, alpha, beta, scratch.get(), nullptr);
    else linear_xwt(w.view(), da.get(), M, dc.get(), ot, alpha, beta, scratch.get(), nullptr);
  } else if (impl == "cublas") {
    DeviceBuffer<uint16_t> wb(static_cast<size_t>(N * K));
    dequantize_bf16(w.view(), wb.get(), nullptr);
    // forward: C[M,N] = A[M,K] · Wᵀ (W is [N,K]: "B transposed"); backward: C[M,K] = A[M,N] · W[N,K]
    hukuk::cuda::cublas().gemm_bf16_rowmajor(nullptr, M, outc, red, da.get(), wb.get(), !backward, dc.get(), out_bf16,
                                             alpha, beta);
  } else {
    GemmImpl gi = impl == "simt"            ? GemmImpl::Simt
                  : impl == "tensor-core"   ? GemmImpl::TensorCore
                  : impl == "tensor-core-64"  ? GemmImpl::TensorCore64
                  : impl == "tensor-core-128" ? GemmImpl::TensorCore128
                  : impl == "tensor-core-128x1" ? GemmImpl::TensorCore128x1
                  : impl == "auto"          ? GemmImpl::Auto
                  : throw EngineError("ENGINE_INVALID_ARG", "unknown impl '" + impl + "'", __FILE__, __LINE__);
    OutType ot = out_bf16 ? OutType::BF16 : OutType::F32;
    if (backward) gemm_dyw(w.view(), da.get(), M, dc.get(), ot, alpha, beta, nullptr, gi);
    else gemm_xwt(w.view(), da.get(), M, dc.get(), ot, alpha, beta, nullptr, gi);
  }
  HUKUK_CUDA_CHECK(cudaDeviceSynchronize());
  if (out_bf16) {
    auto host = Napi::Uint16Array::New(env, out_n);
    HUKUK_CUDA_CHECK(cudaMemcpy(host.Data(), dc.get(), dc.bytes(), cudaMemcpyDeviceToHost));
    return host;
  }
  auto host = Napi::Float32Array::New(env, out_n);
  HUKUK_CUDA_CHECK(cudaMemcpy(host.Data(), dc.get(), dc.bytes(), cudaMemcpyDeviceToHost));
  return host;
}

// Median time (ms) of `reps` runs of fn, timed with CUDA events after 3 warm-ups.
template <typename F>
double time_ms(F fn, int reps) {
  for (int i = 0; i < 3; ++i) fn();
  cudaEvent_t e0, e1;
  HUKUK_CUDA_CHECK(cudaEventCreate(&e0));
  HUKUK_CUDA_CHECK(cudaEventCreate(&e1));
  std::vector<float> ts;
  for (int r = 0; r < reps; ++r) {
    HUKUK_CUDA_CHECK(cudaEventRecord(e0));
    fn();
    HUKUK_CUDA_CHECK(cudaEventRecord(e1));
    HUKUK_CUDA_CHECK(cudaEventSynchronize(e1));
    float ms = 0;
    HUKUK_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
    ts.push_back(ms);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2];
}

double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    num += d * d;
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

// nf4CudaBench({ M, N, K, reps }): times on the GPU, per call of one [N,K] weight with M rows:
// quantize (on device), dequantize to bf16, the fused NF4 GEMMs (forward x·Wᵀ, backward dy·W),
// and cuBLAS bf16 GEMMs on a dequantized copy (alone and with the dequantization), plus the
// relative difference between the fused and cuBLAS outputs (a check, not a timing).
Napi::Value js_cuda_bench(const Napi::CallbackInfo& info) {
  require_gpu();
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  const int64_t M = int_arg(o.Get("M"), "M"), N = int_arg(o.Get("N"), "N"), K = int_arg(o.Get("K"), "K");
  const int reps = o.Has("reps") ? static_cast<int>(int_arg(o.Get("reps"), "reps")) : 50;
  std::mt19937 rng(1234);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> wh(static_cast<size_t>(N * K));
  for (float& v : wh) v = 0.02f * nd(rng);
  std::vector<uint16_t> xh(static_cast<size_t>(M * K)), dyh(static_cast<size_t>(M * N));
  for (auto& v : xh) v = f32_to_bf16(nd(rng));
  for (auto& v : dyh) v = f32_to_bf16(0.01f * nd(rng));
  DeviceBuffer<float> dw = to_device(wh.data(), wh.size());
  DeviceBuffer<uint16_t> dx = to_device(xh.data(), xh.size()), ddy = to_device(dyh.data(), dyh.size());
  DeviceBuffer<float> y1(static_cast<size_t>(M * N)), y2(static_cast<size_t>(M * N));
  DeviceBuffer<float> g1(static_cast<size_t>(M * K)), g2(static_cast<size_t>(M * K));
  DeviceBuffer<uint16_t> wb(static_cast<size_t>(N * K));

  Napi::Object r = Napi::Object::New(env);
  const double flop = 2.0 * M * N * K;
  auto tflops = [&](double ms) { return flop / (ms * 1e-3) / 1e12; };
  double tq = time_ms([&] { Nf4Weight tmp = quantize(dw.get(), DType::F32, {N, K}, 64, true, nullptr); }, std::max(3, reps / 10));
  Nf4Weight w = quantize(dw.get(), DType::F32, {N, K}, 64, true, nullptr);
  DeviceNf4 v = w.view();
  r.Set("quantizeMs", tq);
  r.Set("dequantizeBf16Ms", time_ms([&] { dequantize_bf16(v, wb.get(), nullptr); }, reps));
  const double tf = time_ms([&] { gemm_xwt(v, dx.get(), M, y1.get(), OutType::F32, 1.f, 0.f, nullptr); }, reps);
  const double tb = time_ms([&] { gemm_dyw(v, ddy.get(), M, g1.get(), OutType::F32, 1.f, 0.f, nullptr); }, reps);
  r.Set("fused64ForwardMs", time_ms([&] { gemm_xwt(v, dx.get(), M, y1.get(), OutType::F32, 1.f, 0.f, nullptr, GemmImpl::TensorCore64); }, reps));
  r.Set("fused64BackwardMs", time_ms([&] { gemm_dyw(v, ddy.get(), M, g1.get(), OutType::F32, 1.f, 0.f, nullptr, GemmImpl::TensorCore64); }, reps));
  if (N % 128 == 0) r.Set("fused128ForwardMs", time_ms([&] { gemm_xwt(v, dx.get(), M, y1.get(), OutType::F32, 1.f, 0.f, nullptr, GemmImpl::TensorCore128); }, reps));
  if (N % 128 == 0) r.Set("fused128x1ForwardMs", time_ms([&] { gemm_xwt(v, dx.get(), M, y1.get(), OutType::F32, 1.f, 0.f, nullptr, GemmImpl::TensorCore128x1); }, reps));
  if (K % 128 == 0) r.Set("fused128BackwardMs", time_ms([&] { gemm_dyw(v, ddy.get(), M, g1.get(), OutType::F32, 1.f, 0.f, nullptr, GemmImpl::TensorCore128); }, reps));
  // the outputs compared with cuBLAS below come from the automatic choice
  gemm_xwt(v, dx.get(), M, y1.get(), OutType::F32, 1.f, 0.f, nullptr);
  gemm_dyw(v, ddy.get(), M, g1.get(), OutType::F32, 1.f, 0.f, nullptr);
  r.Set("fusedForwardMs", tf);
  r.Set("fusedBackwardMs", tb);
  r.Set("fusedForwardTflops", tflops(tf));
  r.Set("fusedBackwardTflops", tflops(tb));
  r.Set("tensorCore", tensor_core_ok(v));
  const auto& info_blas = hukuk::cuda::cublas_info();
  r.Set("cublas", info_blas.available ? info_blas.path : "unavailable: " + info_blas.error);
  if (info_blas.available) {
    const auto& blas = hukuk::cuda::cublas();
    dequantize_bf16(v, wb.get(), nullptr);
    const double cf = time_ms([&] { blas.gemm_bf16_rowmajor(nullptr, M, N, K, dx.get(), wb.get(), true, y2.get(), false); }, reps);
    const double cb = time_ms([&] { blas.gemm_bf16_rowmajor(nullptr, M, K, N, ddy.get(), wb.get(), false, g2.get(), false); }, reps);
    const double cfd = time_ms([&] {
      dequantize_bf16(v, wb.get(), nullptr);
      blas.gemm_bf16_rowmajor(nullptr, M, N, K, dx.get(), wb.get(), true, y2.get(), false);
    }, reps);
    DeviceBuffer<uint16_t> scratch(static_cast<size_t>(N * K));
    r.Set("linearForwardMs", time_ms([&] { linear_xwt(v, dx.get(), M, y2.get(), OutType::F32, 1.f, 0.f, scratch.get(), nullptr); }, reps));
    r.Set("linearBackwardMs", time_ms([&] { linear_dyw(v, ddy.get(), M, g2.get(), OutType::F32, 1.f, 0.f, scratch.get(), nullptr); }, reps));
    blas.gemm_bf16_rowmajor(nullptr, M, N, K, dx.get(), wb.get(), true, y2.get(), false);
    blas.gemm_bf16_rowmajor(nullptr, M, K, N, ddy.get(), wb.get(), false, g2.get(), false);
    r.Set("cublasForwardMs", cf);
    r.Set("cublasBackwardMs", cb);
    r.Set("cublasDequantForwardMs", cfd);
    r.Set("cublasForwardTflops", tflops(cf));
    HUKUK_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<float> a1(y1.size()), a2(y2.size()), b1(g1.size()), b2(g2.size());
    HUKUK_CUDA_CHECK(cudaMemcpy(a1.data(), y1.get(), y1.bytes(), cudaMemcpyDeviceToHost));
    HUKUK_CUDA_CHECK(cudaMemcpy(a2.data(), y2.get(), y2.bytes(), cudaMemcpyDeviceToHost));
    HUKUK_CUDA_CHECK(cudaMemcpy(b1.data(), g1.get(), g1.bytes(), cudaMemcpyDeviceToHost));
    HUKUK_CUDA_CHECK(cudaMemcpy(b2.data(), g2.get(), g2.bytes(), cudaMemcpyDeviceToHost));
    r.Set("forwardRelDiffVsCublas", rel_diff(a1, a2));
    r.Set("backwardRelDiffVsCublas", rel_diff(b1, b2));
  }
  r.Set("weightBytesNf4", static_cast<double>(w.device_bytes()));
  r.Set("weightBytesBf16", static_cast<double>(N * K * 2));
  return r;
}

}  // namespace
#else
static Napi::Value js_no_cuda(const Napi::CallbackInfo&) {
  HUKUK_FAIL("ENGINE_NO_CUDA", "the engine was built without CUDA (nvcc was not found)");
}
#endif

static void init_nf4_cuda(Napi::Env env, Napi::Object exports) {
#if defined(HUKUK_CUDA)
  export_fn(env, exports, "nf4CudaQuantize", napi_entry<js_cuda_quantize>);
  export_fn(env, exports, "nf4CudaDequantize", napi_entry<js_cuda_dequantize>);
  export_fn(env, exports, "nf4CudaDequantizeList", napi_entry<js_cuda_dequantize_list>);
  export_fn(env, exports, "nf4CudaMatmul", napi_entry<js_cuda_matmul>);
  export_fn(env, exports, "nf4CudaBench", napi_entry<js_cuda_bench>);
#else
  for (const char* name : {"nf4CudaQuantize", "nf4CudaDequantize", "nf4CudaDequantizeList", "nf4CudaMatmul", "nf4CudaBench"})
    export_fn(env, exports, name, napi_entry<js_no_cuda>);
#endif
}
HUKUK_REGISTER(nf4_cuda, init_nf4_cuda);

}  // namespace hukuk::nf4
