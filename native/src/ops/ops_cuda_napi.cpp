// Test and benchmark hooks for the CUDA elementwise ops and GEMMs of ops/ops_cuda.h, fp32 and bf16
// (not part of the app's API). Inputs come as Float32Arrays; a bf16 tensor is rounded to bf16
// (nearest even, core/half.h) on upload and converted back to fp32 on download, so a test runs the
// fp32 twin on the same rounded values by rounding them itself.
//
//   engine._opsCudaElementwise({
//     op: 'convert' | 'rmsnorm' | 'dropout_forward' | 'dropout_backward' | 'act_forward' | 'act_backward' |
//         'gated_forward' | 'gated_backward' | 'act_dropout_forward' | 'act_dropout_backward' |
//         'gated_dropout_forward' | 'gated_dropout_backward' | 'act_dropout_bitmask',
//     type?: 'f32' | 'bf16'          (the activation tensors' type; default f32)
//     act?: 'relu' | 'gelu_new' | 'gelu' | 'silu'
//     x?: Float32Array               (the first activation input: x, pre or pre0; rmsnorm's fp32 x)
//     x1?: Float32Array              (pre1 of the gated ops)
//     g?: Float32Array               (the incoming fp32 gradient: dy or dh)
//     w?: Float32Array, rows?, d?, eps?   (rmsnorm)
//     apply?: boolean                (rmsnorm: also rmsnorm_apply from the computed rstd -> yApply, msApply)
//     p?, seed?, site?               (dropout; seed is copied to the device as the engine does)
//     accumulate?: boolean, y0?: Float32Array   (dropout_backward: accumulate into y0)
//     inPlace?: boolean              (forward ops: the output overwrites x)
//     offset?: number                (elements of slack before every tensor: misaligned pointers,
//                                     so the scalar path runs instead of the 16-byte vectors)
//     reps?: number                  (timed repetitions after the first run; CUDA events)
//     normWarp?: boolean             (the RMS norm ops' path for this call, ops/norm_switch.h: one
//                                     warp a row (true) or one block a row (false); default: as
//                                     HUKUK_NORM_WARP says)
//   }) -> { y?, d0?, d1?, rstd?: Float32Array, ms: number (mean per rep, -1 untimed) }
//   rmsnorm_backward_dropout: x, w (fp32), g (dy), rows, d, eps, accumulate, y0 (dx's start when
//   accumulating), p/seed/site, type (g_drop's): rstd from rmsnorm_forward, then the fused op ->
//   dx, gDrop, and the two-kernel sequence (rmsnorm_backward; dropout_backward) -> dxRef, gDropRef;
//   ms (fused) and msNorm (rmsnorm_backward alone) when reps > 0
//   dropout_add_rmsnorm: x (x_in), x1 (the branch y), w, rows, d, eps, p/seed/site, type (the norm
//   output's), inPlace (x_out over x_in): the fused op -> xOut, y, rstd; dropout_add then
//   rmsnorm_forward -> xOutRef, yRef, rstdRef; the CPU composition (ops/norm.h, fp32) -> xOutCpu,
//   yCpu, rstdCpu; ms (fused) and msRef (the two kernels) when reps > 0 and not inPlace
//   act_dropout_bitmask (ReLU): act_dropout_forward_bitmask(x) -> y and the mask words, then with g
//   act_dropout_backward_bitmask(mask, g) -> d0; mask: the bits as 0/1 per element; maskTail: the
//   OR of the last word's bits past n (must be 0); the mask words start all ones so an unwritten
//   word shows; ms: forward, msBwd: backward; keepInMask: the mask bits also carry the dropout's
//   keep decision; prescaled (bf16): also act_dropout_backward_bitmask_prescaled in place on
//   bf16(g · 1/(1-p)) -> d0Pre
//
//   engine._opsCudaGemm({
//     M, N, K, ta?, tb?, A, B, C?, alpha?, beta?, batch?,   (row-major; A [M,K] or [K,M] when ta,
//                                                           B [K,N] or [N,K] when tb, C [M,N]; batch
//                                                           matrices back to back)
//     type?: 'f32' | 'bf16' | 'bf16c'   (fp32 operands | bf16 A, B with fp32 C | bf16 A, B and C)
//     precision?: 'f32' | 'bf16' | 'tf32' (the fp32 GEMM's compute; ignored for bf16 operands)
//     reps?
//   }) -> { C: Float32Array, ms }
#include <napi.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/half.h"
#include "core/napi_error.h"
#include "core/registry.h"
#include "ops/activation.h"
#include "ops/norm.h"
#include "ops/residual.h"

#if defined(HUKUK_CUDA)
#include "core/cuda_runtime.h"
#include "ops/norm_switch.h"
#include "ops/ops_cuda.h"
#endif

namespace hukuk {

namespace {

#if defined(HUKUK_CUDA)
bool has(const Napi::Object& o, const char* k) {
  return o.Has(k) && !o.Get(k).IsUndefined() && !o.Get(k).IsNull();
}
double num(const Napi::Object& o, const char* k, double dflt) {
  if (!has(o, k)) return dflt;
  if (!o.Get(k).IsNumber()) HUKUK_FAIL("ENGINE_INVALID_ARG", std::string(k) + " must be a number");
  return o.Get(k).As<Napi::Number>().DoubleValue();
}
bool flag(const Napi::Object& o, const char* k) { return has(o, k) && o.Get(k).ToBoolean().Value(); }

namespace oc = ops::cuda;

// One device tensor, fp32 or bf16, placed `off` elements into its allocation.
struct DevTensor {
  cuda::DeviceBuffer<uint8_t> buf;
  bool bf16 = false;
  int64_t n = 0, off = 0;
  size_t elem() const { return bf16 ? 2 : 4; }
  void* ptr() const { return buf.get() + off * elem(); }
  float* f() const {
    HUKUK_CHECK(!bf16, "ENGINE_INVALID_ARG", "ops hook: this tensor is fp32 here");
    return static_cast<float*>(ptr());
  }
  bf16_t* b() const {
    HUKUK_CHECK(bf16, "ENGINE_INVALID_ARG", "ops hook: this tensor is bf16 here");
    return static_cast<bf16_t*>(ptr());
  }
};

DevTensor alloc(int64_t n, bool bf16, int64_t off) {
  DevTensor t;
  t.bf16 = bf16;
  t.n = n;
  t.off = off;
  t.buf.resize(size_t(n + off) * t.elem());
  return t;
}
DevTensor upload(const float* src, int64_t n, bool bf16, int64_t off) {
  DevTensor t = alloc(n, bf16, off);
  if (n == 0) return t;
  if (bf16) {
    std::vector<bf16_t> h(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) h[size_t(i)].bits = f32_to_bf16(src[i]);
    HUKUK_CUDA_CHECK(cudaMemcpy(t.ptr(), h.data(), size_t(n) * 2, cudaMemcpyHostToDevice));
  } else {
    HUKUK_CUDA_CHECK(cudaMemcpy(t.ptr(), src, size_t(n) * 4, cudaMemcpyHostToDevice));
  }
  return t;
}
std::vector<float> download(const DevTensor& t) {
  std::vector<float> out(static_cast<size_t>(t.n));
  if (t.n == 0) return out;
  if (t.bf16) {
    std::vector<uint16_t> h(static_cast<size_t>(t.n));
    HUKUK_CUDA_CHECK(cudaMemcpy(h.data(), t.ptr(), size_t(t.n) * 2, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < h.size(); ++i) out[i] = bf16_to_f32(h[i]);
  } else {
    HUKUK_CUDA_CHECK(cudaMemcpy(out.data(), t.ptr(), size_t(t.n) * 4, cudaMemcpyDeviceToHost));
  }
  return out;
}

// Mean milliseconds of `reps` calls of fn on stream 0 (-1 when reps == 0), after one warm-up call.
template <typename F>
double time_ms(int reps, F&& fn) {
  if (reps <= 0) return -1;
  fn();
  cudaEvent_t e0, e1;
  HUKUK_CUDA_CHECK(cudaEventCreate(&e0));
  HUKUK_CUDA_CHECK(cudaEventCreate(&e1));
  HUKUK_CUDA_CHECK(cudaEventRecord(e0, 0));
  for (int i = 0; i < reps; ++i) fn();
  HUKUK_CUDA_CHECK(cudaEventRecord(e1, 0));
  HUKUK_CUDA_CHECK(cudaEventSynchronize(e1));
  float ms = 0.f;
  HUKUK_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return double(ms) / reps;
}

void require_gpu(const char* hook) {
  HUKUK_CHECK(cuda::device_count() > 0, "ENGINE_NO_GPU", std::string(hook) + ": no CUDA device");
}

Napi::Value elementwise_gpu(const Napi::CallbackInfo& info, const Napi::Object& o) {
  Napi::Env env = info.Env();
  require_gpu("_opsCudaElementwise");
  const std::string op = string_arg(o.Get("op"), "op");
  const std::string type = has(o, "type") ? string_arg(o.Get("type"), "type") : "f32";
  HUKUK_CHECK(type == "f32" || type == "bf16", "ENGINE_INVALID_ARG", "_opsCudaElementwise: type f32|bf16");
  const bool bf = type == "bf16";
  const ops::Act act = has(o, "act") ? ops::act_from_name(string_arg(o.Get("act"), "act")) : ops::Act::Relu;
  const float p = float(num(o, "p", 0.0));
  HUKUK_CHECK(p >= 0.f && p < 1.f, "ENGINE_INVALID_ARG", "_opsCudaElementwise: p in [0, 1)");
  const uint64_t seed_h = uint64_t(num(o, "seed", 0.0)), site = uint64_t(num(o, "site", 0.0));
  const int64_t off = int64_t(num(o, "offset", 0.0));
  HUKUK_CHECK(off >= 0 && off < 64, "ENGINE_INVALID_ARG", "_opsCudaElementwise: offset in [0, 64)");
  const int reps = int(num(o, "reps", 0.0));
  const bool in_place = flag(o, "inPlace");
  const cudaStream_t s = 0;
  // normWarp: the norm path for this call only (restored on return or throw)
  struct NormPathScope {
    explicit NormPathScope(int mode) { oc::set_norm_warp_override(mode); }
    ~NormPathScope() { oc::set_norm_warp_override(-1); }
  } norm_path(has(o, "normWarp") ? (flag(o, "normWarp") ? 1 : 0) : -1);

  cuda::DeviceBuffer<uint64_t> seed(1);
  HUKUK_CUDA_CHECK(cudaMemcpy(seed.get(), &seed_h, sizeof(uint64_t), cudaMemcpyHostToDevice));
  auto input = [&](const char* k, bool as_bf16) {
    auto a = typed_array_arg<float>(o.Get(k), k);
    return upload(a.data, int64_t(a.length), as_bf16, off);
  };

  Napi::Object out = Napi::Object::New(env);
  auto put = [&](const char* k, const DevTensor& t) {
    const std::vector<float> v = download(t);
    out.Set(k, new_typed_array<float>(env, v.data(), v.size()));
  };
  double ms = -1;

  if (op == "convert") {
    DevTensor x = input("x", false), y = alloc(x.n, true, off);
    auto run = [&] { oc::convert(x.f(), y.b(), x.n, s); };
    run();
    put("y", y);
    ms = time_ms(reps, run);
  } else if (op == "rmsnorm") {
    const int64_t rows = int64_t(num(o, "rows", 0.0));
    const int d = int(num(o, "d", 0.0));
    const float eps = float(num(o, "eps", 1e-6));
    DevTensor x = input("x", false), w = input("w", false);
    HUKUK_CHECK(rows > 0 && d > 0 && x.n == rows * d && w.n == d, "ENGINE_INVALID_ARG",
                "_opsCudaElementwise: rmsnorm sizes");
    DevTensor y = alloc(x.n, bf, off), rstd = alloc(rows, false, 0);
    auto run = [&] {
      if (bf) oc::rmsnorm_forward(x.f(), w.f(), y.b(), rstd.f(), rows, d, eps, s);
      else oc::rmsnorm_forward(x.f(), w.f(), y.f(), rstd.f(), rows, d, eps, s);
    };
    run();
    put("y", y);
    put("rstd", rstd);
    if (flag(o, "apply")) {  // rmsnorm_apply from that rstd: must give y again (yApply, msApply)
      DevTensor ya = alloc(x.n, bf, off);
      auto app = [&] {
        if (bf) oc::rmsnorm_apply(x.f(), w.f(), rstd.f(), ya.b(), rows, d, s);
        else oc::rmsnorm_apply(x.f(), w.f(), rstd.f(), ya.f(), rows, d, s);
      };
      app();
      put("yApply", ya);
      out.Set("msApply", Napi::Number::New(env, time_ms(reps, app)));
    }
    ms = time_ms(reps, run);
  } else if (op == "dropout_forward" || op == "act_forward" || op == "act_dropout_forward") {
    DevTensor x = input("x", bf), yb;
    if (!in_place) yb = alloc(x.n, bf, off);
    DevTensor& y = in_place ? x : yb;
    auto run = [&] {
      if (op == "dropout_forward") {
        if (bf) oc::dropout_forward(x.b(), y.b(), x.n, p, seed.get(), site, s);
        else oc::dropout_forward(x.f(), y.f(), x.n, p, seed.get(), site, s);
      } else if (op == "act_forward") {
        if (bf) oc::act_forward(act, x.b(), y.b(), x.n, s);
        else oc::act_forward(act, x.f(), y.f(), x.n, s);
      } else {
        if (bf) oc::act_dropout_forward(act, x.b(), y.b(), x.n, p, seed.get(), site, s);
        else oc::act_dropout_forward(act, x.f(), y.f(), x.n, p, seed.get(), site, s);
      }
    };
    run();
    put("y", y);
    ms = time_ms(reps, run);
  } else if (op == "dropout_backward") {
    DevTensor g = input("g", false);
    const bool acc = flag(o, "accumulate");
    DevTensor y = has(o, "y0") ? input("y0", bf) : alloc(g.n, bf, off);
    HUKUK_CHECK(y.n == g.n, "ENGINE_INVALID_ARG", "_opsCudaElementwise: y0 size");
    auto run = [&] {
      if (bf) oc::dropout_backward(g.f(), y.b(), g.n, p, seed.get(), site, acc, s);
      else oc::dropout_backward(g.f(), y.f(), g.n, p, seed.get(), site, acc, s);
    };
    run();
    put("y", y);
    ms = time_ms(reps, run);
  } else if (op == "act_backward" || op == "act_dropout_backward") {
    DevTensor x = input("x", bf), g = input("g", false);
    HUKUK_CHECK(g.n == x.n, "ENGINE_INVALID_ARG", "_opsCudaElementwise: x/g sizes");
    DevTensor y = alloc(x.n, bf, off);
    auto run = [&] {
      if (op == "act_backward") {
        if (bf) oc::act_backward(act, x.b(), g.f(), y.b(), x.n, s);
        else oc::act_backward(act, x.f(), g.f(), y.f(), x.n, s);
      } else {
        if (bf) oc::act_dropout_backward(act, x.b(), g.f(), y.b(), x.n, p, seed.get(), site, s);
        else oc::act_dropout_backward(act, x.f(), g.f(), y.f(), x.n, p, seed.get(), site, s);
      }
    };
    run();
    put("y", y);
    ms = time_ms(reps, run);
  } else if (op == "rmsnorm_backward_dropout") {
    const int64_t rows = int64_t(num(o, "rows", 0.0));
    const int d = int(num(o, "d", 0.0));
    const float eps = float(num(o, "eps", 1e-6));
    const bool acc = flag(o, "accumulate");
    DevTensor x = input("x", false), w = input("w", false), g = input("g", false);
    HUKUK_CHECK(rows > 0 && d > 0 && x.n == rows * d && w.n == d && g.n == x.n, "ENGINE_INVALID_ARG",
                "_opsCudaElementwise: rmsnorm_backward_dropout sizes");
    DevTensor y = alloc(x.n, false, off), rstd = alloc(rows, false, 0);
    oc::rmsnorm_forward(x.f(), w.f(), y.f(), rstd.f(), rows, d, eps, s);
    auto start = [&]() { return has(o, "y0") ? input("y0", false) : alloc(x.n, false, off); };
    DevTensor dx = start(), dxr = start(), gd = alloc(x.n, bf, off), gdr = alloc(x.n, bf, off);
    auto fused = [&] {
      if (bf) oc::rmsnorm_backward_dropout(x.f(), w.f(), rstd.f(), g.f(), dx.f(), rows, d, acc, gd.b(), p, seed.get(), site, s);
      else oc::rmsnorm_backward_dropout(x.f(), w.f(), rstd.f(), g.f(), dx.f(), rows, d, acc, gd.f(), p, seed.get(), site, s);
    };
    fused();
    oc::rmsnorm_backward(x.f(), w.f(), rstd.f(), g.f(), dxr.f(), rows, d, acc, s);
    if (bf) oc::dropout_backward(dxr.f(), gdr.b(), x.n, p, seed.get(), site, false, s);
    else oc::dropout_backward(dxr.f(), gdr.f(), x.n, p, seed.get(), site, false, s);
    put("dx", dx);
    put("gDrop", gd);
    put("dxRef", dxr);
    put("gDropRef", gdr);
    ms = time_ms(reps, fused);
    out.Set("msNorm", Napi::Number::New(env, time_ms(reps, [&] {
              oc::rmsnorm_backward(x.f(), w.f(), rstd.f(), g.f(), dxr.f(), rows, d, acc, s);
            })));
  } else if (op == "dropout_add_rmsnorm") {
    const int64_t rows = int64_t(num(o, "rows", 0.0));
    const int d = int(num(o, "d", 0.0));
    const float eps = float(num(o, "eps", 1e-6));
    DevTensor x = input("x", false), y = input("x1", false), w = input("w", false);
    HUKUK_CHECK(rows > 0 && d > 0 && x.n == rows * d && y.n == x.n && w.n == d, "ENGINE_INVALID_ARG",
                "_opsCudaElementwise: dropout_add_rmsnorm sizes");
    // fused: into xo (or over x_in when inPlace), n and rstd; reference: dropout_add then rmsnorm_forward
    DevTensor xo = in_place ? input("x", false) : alloc(x.n, false, off), n = alloc(x.n, bf, off),
              rstd = alloc(rows, false, 0);
    DevTensor xr = alloc(x.n, false, off), nr = alloc(x.n, bf, off), rstdr = alloc(rows, false, 0);
    const float* xin = in_place ? xo.f() : x.f();
    auto fused = [&] {
      if (bf) oc::dropout_add_rmsnorm(xin, y.f(), xo.f(), w.f(), n.b(), rstd.f(), rows, d, eps, p, seed.get(), site, s);
      else oc::dropout_add_rmsnorm(xin, y.f(), xo.f(), w.f(), n.f(), rstd.f(), rows, d, eps, p, seed.get(), site, s);
    };
    auto two = [&] {
      oc::dropout_add(x.f(), y.f(), xr.f(), x.n, p, seed.get(), site, s);
      if (bf) oc::rmsnorm_forward(xr.f(), w.f(), nr.b(), rstdr.f(), rows, d, eps, s);
      else oc::rmsnorm_forward(xr.f(), w.f(), nr.f(), rstdr.f(), rows, d, eps, s);
    };
    fused();
    two();
    put("xOut", xo);
    put("y", n);
    put("rstd", rstd);
    put("xOutRef", xr);
    put("yRef", nr);
    put("rstdRef", rstdr);
    {  // the CPU composition (ops/norm.h), fp32 norm output
      auto xa = typed_array_arg<float>(o.Get("x"), "x");
      auto ya = typed_array_arg<float>(o.Get("x1"), "x1");
      auto wa = typed_array_arg<float>(o.Get("w"), "w");
      std::vector<float> xc(static_cast<size_t>(x.n)), nc(static_cast<size_t>(x.n)), rc(static_cast<size_t>(rows));
      ops::dropout_add_rmsnorm(xa.data, ya.data, xc.data(), wa.data, nc.data(), rc.data(), rows, d, eps, p, seed_h, site);
      out.Set("xOutCpu", new_typed_array<float>(env, xc.data(), xc.size()));
      out.Set("yCpu", new_typed_array<float>(env, nc.data(), nc.size()));
      out.Set("rstdCpu", new_typed_array<float>(env, rc.data(), rc.size()));
    }
    if (!in_place) out.Set("msRef", Napi::Number::New(env, time_ms(reps, two)));
    ms = in_place ? -1 : time_ms(reps, fused);
  } else if (op == "act_dropout_bitmask") {
    const bool keep_in_mask = flag(o, "keepInMask");
    DevTensor x = input("x", bf), yb;
    if (!in_place) yb = alloc(x.n, bf, off);
    DevTensor& y = in_place ? x : yb;
    const int64_t words = oc::relu_mask_words(x.n);
    cuda::DeviceBuffer<uint32_t> mask(size_t(std::max<int64_t>(words, 1)));
    HUKUK_CUDA_CHECK(cudaMemset(mask.get(), 0xff, size_t(std::max<int64_t>(words, 1)) * 4));
    auto fwd = [&] {
      if (bf) oc::act_dropout_forward_bitmask(act, x.b(), y.b(), mask.get(), x.n, p, seed.get(), site, s, keep_in_mask);
      else oc::act_dropout_forward_bitmask(act, x.f(), y.f(), mask.get(), x.n, p, seed.get(), site, s, keep_in_mask);
    };
    fwd();
    put("y", y);
    std::vector<uint32_t> mw(static_cast<size_t>(words));
    if (words) HUKUK_CUDA_CHECK(cudaMemcpy(mw.data(), mask.get(), size_t(words) * 4, cudaMemcpyDeviceToHost));
    std::vector<float> bits(static_cast<size_t>(x.n));
    for (int64_t i = 0; i < x.n; ++i) bits[size_t(i)] = float((mw[size_t(i / 32)] >> (i % 32)) & 1u);
    out.Set("mask", new_typed_array<float>(env, bits.data(), bits.size()));
    uint32_t tail = 0;
    if (words && x.n % 32) tail = mw[size_t(words - 1)] >> (x.n % 32);
    out.Set("maskTail", Napi::Number::New(env, double(tail)));
    if (has(o, "g")) {
      DevTensor g = input("g", false);
      HUKUK_CHECK(g.n == x.n, "ENGINE_INVALID_ARG", "_opsCudaElementwise: x/g sizes");
      DevTensor d0 = alloc(x.n, bf, off);
      auto bwd = [&] {
        if (bf) oc::act_dropout_backward_bitmask(act, mask.get(), g.f(), d0.b(), x.n, p, seed.get(), site, s, keep_in_mask);
        else oc::act_dropout_backward_bitmask(act, mask.get(), g.f(), d0.f(), x.n, p, seed.get(), site, s, keep_in_mask);
      };
      bwd();
      put("d0", d0);
      if (bf && flag(o, "prescaled")) {  // the same from bf16(g · 1/(1-p)), masked in place -> d0Pre
        auto ga = typed_array_arg<float>(o.Get("g"), "g");
        const float scale = p > 0.f ? 1.f / (1.f - p) : 1.f;
        std::vector<float> gs(ga.data, ga.data + ga.length);
        for (float& v : gs) v *= scale;
        DevTensor gp = upload(gs.data(), int64_t(gs.size()), true, off);
        oc::act_dropout_backward_bitmask_prescaled(act, mask.get(), gp.b(), gp.b(), x.n, p, seed.get(), site, s,
                                                   keep_in_mask);
        put("d0Pre", gp);
      }
      out.Set("msBwd", Napi::Number::New(env, time_ms(reps, bwd)));
    }
    ms = time_ms(reps, fwd);
  } else if (op == "gated_forward" || op == "gated_dropout_forward") {
    DevTensor x = input("x", bf), x1 = input("x1", bf), yb;
    HUKUK_CHECK(x1.n == x.n, "ENGINE_INVALID_ARG", "_opsCudaElementwise: x/x1 sizes");
    if (!in_place) yb = alloc(x.n, bf, off);
    DevTensor& y = in_place ? x : yb;
    auto run = [&] {
      if (op == "gated_forward") {
        if (bf) oc::gated_forward(act, x.b(), x1.b(), y.b(), x.n, s);
        else oc::gated_forward(act, x.f(), x1.f(), y.f(), x.n, s);
      } else {
        if (bf) oc::gated_dropout_forward(act, x.b(), x1.b(), y.b(), x.n, p, seed.get(), site, s);
        else oc::gated_dropout_forward(act, x.f(), x1.f(), y.f(), x.n, p, seed.get(), site, s);
      }
    };
    run();
    put("y", y);
    ms = time_ms(reps, run);
  } else if (op == "gated_backward" || op == "gated_dropout_backward") {
    DevTensor x = input("x", bf), x1 = input("x1", bf), g = input("g", false);
    HUKUK_CHECK(x1.n == x.n && g.n == x.n, "ENGINE_INVALID_ARG", "_opsCudaElementwise: x/x1/g sizes");
    DevTensor d0 = alloc(x.n, bf, off), d1 = alloc(x.n, bf, off);
    auto run = [&] {
      if (op == "gated_backward") {
        if (bf) oc::gated_backward(act, x.b(), x1.b(), g.f(), d0.b(), d1.b(), x.n, s);
        else oc::gated_backward(act, x.f(), x1.f(), g.f(), d0.f(), d1.f(), x.n, s);
      } else {
        if (bf) oc::gated_dropout_backward(act, x.b(), x1.b(), g.f(), d0.b(), d1.b(), x.n, p, seed.get(), site, s);
        else oc::gated_dropout_backward(act, x.f(), x1.f(), g.f(), d0.f(), d1.f(), x.n, p, seed.get(), site, s);
      }
    };
    run();
    put("d0", d0);
    put("d1", d1);
    ms = time_ms(reps, run);
  } else {
    HUKUK_FAIL("ENGINE_INVALID_ARG", "_opsCudaElementwise: unknown op '" + op + "'");
  }
  HUKUK_CUDA_CHECK(cudaDeviceSynchronize());
  out.Set("ms", Napi::Number::New(env, ms));
  return out;
}

Napi::Value gemm_gpu(const Napi::CallbackInfo& info, const Napi::Object& o) {
  Napi::Env env = info.Env();
  require_gpu("_opsCudaGemm");
  const int M = int(num(o, "M", 0)), N = int(num(o, "N", 0)), K = int(num(o, "K", 0)), batch = int(num(o, "batch", 1));
  HUKUK_CHECK(M > 0 && N > 0 && K > 0 && batch > 0, "ENGINE_INVALID_ARG", "_opsCudaGemm: bad sizes");
  const bool ta = flag(o, "ta"), tb = flag(o, "tb");
  const std::string type = has(o, "type") ? string_arg(o.Get("type"), "type") : "f32";
  HUKUK_CHECK(type == "f32" || type == "bf16" || type == "bf16c", "ENGINE_INVALID_ARG",
              "_opsCudaGemm: type f32|bf16|bf16c");
  const std::string prec = has(o, "precision") ? string_arg(o.Get("precision"), "precision") : "f32";
  const oc::Precision P = prec == "bf16" ? oc::Precision::BF16 : prec == "tf32" ? oc::Precision::TF32 : oc::Precision::F32;
  const float alpha = float(num(o, "alpha", 1.0)), beta = float(num(o, "beta", 0.0));
  const int reps = int(num(o, "reps", 0.0));
  const bool ab_bf16 = type != "f32", c_bf16 = type == "bf16c";
  const long long sA = (long long)M * K, sB = (long long)K * N, sC = (long long)M * N;
  auto a = typed_array_arg<float>(o.Get("A"), "A");
  auto b = typed_array_arg<float>(o.Get("B"), "B");
  HUKUK_CHECK(a.length == size_t(sA) * batch && b.length == size_t(sB) * batch, "ENGINE_INVALID_ARG",
              "_opsCudaGemm: A/B sizes");
  DevTensor A = upload(a.data, int64_t(a.length), ab_bf16, 0), B = upload(b.data, int64_t(b.length), ab_bf16, 0);
  DevTensor C;
  if (has(o, "C")) {
    auto c = typed_array_arg<float>(o.Get("C"), "C");
    HUKUK_CHECK(c.length == size_t(sC) * batch, "ENGINE_INVALID_ARG", "_opsCudaGemm: C size");
    C = upload(c.data, int64_t(c.length), c_bf16, 0);
  } else {
    C = alloc(sC * batch, c_bf16, 0);
    HUKUK_CUDA_CHECK(cudaMemset(C.ptr(), 0, size_t(sC * batch) * C.elem()));
  }
  const int lda = ta ? M : K, ldb = tb ? K : N, ldc = N;
  const cudaStream_t s = 0;
  auto run = [&] {
    if (!ab_bf16) oc::gemm(s, P, ta, tb, M, N, K, alpha, A.f(), lda, sA, B.f(), ldb, sB, beta, C.f(), ldc, sC, batch);
    else if (!c_bf16) oc::gemm(s, P, ta, tb, M, N, K, alpha, A.b(), lda, sA, B.b(), ldb, sB, beta, C.f(), ldc, sC, batch);
    else oc::gemm(s, P, ta, tb, M, N, K, alpha, A.b(), lda, sA, B.b(), ldb, sB, beta, C.b(), ldc, sC, batch);
  };
  run();
  const std::vector<float> c = download(C);
  const double ms = time_ms(reps, run);
  HUKUK_CUDA_CHECK(cudaDeviceSynchronize());
  Napi::Object out = Napi::Object::New(env);
  out.Set("C", new_typed_array<float>(env, c.data(), c.size()));
  out.Set("ms", Napi::Number::New(env, ms));
  return out;
}
#endif

Napi::Value ops_cuda_elementwise(const Napi::CallbackInfo& info) {
  if (!info[0].IsObject()) HUKUK_FAIL("ENGINE_INVALID_ARG", "_opsCudaElementwise: options must be an object");
#if defined(HUKUK_CUDA)
  return elementwise_gpu(info, info[0].As<Napi::Object>());
#else
  HUKUK_FAIL("ENGINE_UNSUPPORTED", "_opsCudaElementwise: the addon was built without CUDA");
#endif
}

Napi::Value ops_cuda_gemm(const Napi::CallbackInfo& info) {
  if (!info[0].IsObject()) HUKUK_FAIL("ENGINE_INVALID_ARG", "_opsCudaGemm: options must be an object");
#if defined(HUKUK_CUDA)
  return gemm_gpu(info, info[0].As<Napi::Object>());
#else
  HUKUK_FAIL("ENGINE_UNSUPPORTED", "_opsCudaGemm: the addon was built without CUDA");
#endif
}

void init_ops_cuda(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "_opsCudaElementwise", napi_entry<ops_cuda_elementwise>);
  export_fn(env, exports, "_opsCudaGemm", napi_entry<ops_cuda_gemm>);
}

}  // namespace

HUKUK_REGISTER(ops_cuda, init_ops_cuda);

}  // namespace hukuk
