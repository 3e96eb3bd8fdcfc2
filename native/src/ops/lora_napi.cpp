// Test and benchmark hooks for the fused LoRA / residual ops (lora.h, residual.h); not app API.
//
//   engine._opsLora({op, impl, M, in, r, p, seed, site, accumulate?, x?, A?, dh?, y?, init?,
//                    noWorkspace?, inPlace?}) -> Float32Array
//     op:   'down'       h[M,r]    from x[M,in], A[r,in]
//           'gradA'      gA[r,in]  from dh[M,r], x[M,in]   (init = gA before, for accumulate)
//           'dx'         dx[M,in]  from dh[M,r], A[r,in]   (init = dx before, for accumulate)
//           'up'         y[n][M,in] (+)= scale · h[n][M,r] · B[n][in,r]ᵀ  (in = the Linear's out;
//                        members: n, default 1; init = y before, zeros without)
//           'upBackward' [gB[n][in,r], dh[n][M,r]] concatenated, from dy[n][M,in], h, B
//                        (init = gB before; accumulate: gB += ..., else gB = ...)
//           'dropoutAdd' out[n]    from x = x_in[n], y[n]  (n = M*in; inPlace: out aliases y)
//           'backward'   [gA[r,in], dx[M,in]] concatenated, from dh, x, A (init = gA before,
//                        initDx = dx before; accumulate applies to both; noDx: gA only, dx part 0)
//           'backwardGroup'  [gA[n][r,in], dx[M,in]] of the n members (members: n <= 3) of a
//                        group sharing x and dx: dh[n][M,r], A[n][r,in], init = gA[n] before,
//                        initDx = dx before; member i's dropout site is site + 7919 i. 'cpu' and
//                        'composed': n CPU lora_backward calls; 'cuda': cuda::lora_backward_group
//                        (one launch); 'cudaComposed': n cuda::lora_backward calls (the
//                        per-member path), each with its own workspace-reduce; with tc (bf16
//                        only) 'cuda' runs cuda::tc::lora_backward_group (ops/lora_tc.h) instead
//     impl: 'cpu' (fused reference), 'composed' (existing CPU ops: dropout then matmul / add),
//           'cuda' (fused kernels), 'cudaComposed' (existing CUDA ops, cuBLAS fp32)
//     bf16: the activation operand in bf16 (ops down, backward, up, upBackward: x, x, y, dy; lora.h's
//           bf16 overloads): rounded to bf16 (nearest even) on the way in, for 'cpu' too, so the
//           CPU reference runs on the same values; 'up' returns y widened back to fp32. Not with
//           the composed impls.
//   engine._opsLoraBench({op, M, in, r, p, reps, bf16?}) -> {fusedUs, composedUs, fusedGraphUs,
//     composedGraphUs, copyGBs, inputBytes}: random inputs made on the host, microseconds per call
//     on the stream (back-to-back launches) and replayed from a CUDA graph of `reps` calls, plus
//     the device-to-device copy bandwidth measured on the same buffers (read + write bytes / s).
//     inputBytes: what one call must move at least (each operand read once, outputs written
//     once; bf16 activations at 2 bytes). With bf16 the composed (cuBLAS fp32) side is not run
//     (its times are -1). backwardGroup with tc: true (bf16): 'fused' is tc::lora_backward_group.
#include <napi.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "core/half.h"
#include "core/napi_error.h"
#include "core/registry.h"
#include "ops/dropout.h"
#include "ops/lora.h"
#include "ops/matmul.h"
#include "ops/residual.h"

#if defined(HUKUK_CUDA)
#include "core/cuda_runtime.h"
#include "cuda/hook_bench.h"
#include "ops/lora_tc.h"
#include "ops/ops_cuda.h"
#endif

namespace hukuk {

namespace {

struct LoraArgs {
  std::string op, impl;
  int M = 0, in = 0, r = 0, members = 1;
  float p = 0.f, scale = 1.f;
  uint64_t seed = 0, site = 0;
  bool accumulate = false, no_workspace = false, in_place = false, no_dx = false;
  bool bf16 = false;  // the activation operand in bf16 (down, backward, up, upBackward)
  bool tc = false;    // backwardGroup, bf16, cuda: ops/lora_tc's lora_backward_group
  int64_t n() const { return int64_t(M) * in; }
};

LoraArgs parse(const Napi::Object& o) {
  LoraArgs a;
  a.op = string_arg(o.Get("op"), "op");
  a.impl = o.Has("impl") ? string_arg(o.Get("impl"), "impl") : "cpu";
  a.M = int(int_arg(o.Get("M"), "M"));
  a.in = int(int_arg(o.Get("in"), "in"));
  a.r = o.Has("r") ? int(int_arg(o.Get("r"), "r")) : 1;
  a.p = o.Has("p") ? float(o.Get("p").As<Napi::Number>().DoubleValue()) : 0.f;
  a.seed = o.Has("seed") ? uint64_t(int_arg(o.Get("seed"), "seed")) : 0;
  a.site = o.Has("site") ? uint64_t(int_arg(o.Get("site"), "site")) : 0;
  a.accumulate = o.Has("accumulate") && o.Get("accumulate").ToBoolean().Value();
  a.no_workspace = o.Has("noWorkspace") && o.Get("noWorkspace").ToBoolean().Value();
  a.in_place = o.Has("inPlace") && o.Get("inPlace").ToBoolean().Value();
  a.no_dx = o.Has("noDx") && o.Get("noDx").ToBoolean().Value();
  a.members = o.Has("members") ? int(int_arg(o.Get("members"), "members")) : 1;
  a.scale = o.Has("scale") ? float(o.Get("scale").As<Napi::Number>().DoubleValue()) : 1.f;
  a.bf16 = o.Has("bf16") && o.Get("bf16").ToBoolean().Value();
  a.tc = o.Has("tc") && o.Get("tc").ToBoolean().Value();
  HUKUK_CHECK(!a.tc || (a.op == "backwardGroup" && a.bf16), "ENGINE_INVALID_ARG",
              "_opsLora: tc is for op backwardGroup with bf16");
  HUKUK_CHECK(a.members >= 1 && a.members <= 16, "ENGINE_INVALID_ARG", "_opsLora: members in 1..16");
  HUKUK_CHECK(!a.bf16 || a.op == "down" || a.op == "backward" || a.op == "up" || a.op == "upBackward" ||
                  a.op == "backwardGroup",
              "ENGINE_INVALID_ARG", "_opsLora: bf16 is for ops down, backward, up and upBackward");
  HUKUK_CHECK(!a.bf16 || a.op == "backwardGroup" || (a.impl != "composed" && a.impl != "cudaComposed"), "ENGINE_INVALID_ARG",
              "_opsLora: bf16 is for impl cpu and cuda");
  HUKUK_CHECK(a.M >= 0 && a.in >= 1 && a.r >= 1 && a.r <= 64 && a.p >= 0.f && a.p < 1.f, "ENGINE_INVALID_ARG",
              "_opsLora: need M >= 0, in >= 1, 1 <= r <= 64, 0 <= p < 1");
  return a;
}

// A Float32Array argument of exactly n elements, as a vector (a copy: the ops may write in place).
std::vector<float> floats(const Napi::Object& o, const char* key, size_t n) {
  if (!o.Has(key)) HUKUK_FAIL("ENGINE_INVALID_ARG", std::string("_opsLora: ") + key + " is required for this op");
  auto a = typed_array_arg<float>(o.Get(key), key);
  HUKUK_CHECK(a.length == n, "ENGINE_INVALID_ARG",
              std::string("_opsLora: ") + key + " has " + std::to_string(a.length) + " elements, expected " +
                  std::to_string(n));
  return std::vector<float>(a.data, a.data + a.length);
}
std::vector<float> init_or_zero(const Napi::Object& o, size_t n) {
  return o.Has("init") ? floats(o, "init", n) : std::vector<float>(n, 0.f);
}
// bf16 values (round to nearest even, as CUDA's __float2bfloat16_rn) and back
std::vector<bf16_t> to_bf16(const std::vector<float>& v) {
  std::vector<bf16_t> b(v.size());
  for (size_t i = 0; i < v.size(); ++i) b[i].bits = f32_to_bf16(v[i]);
  return b;
}
std::vector<float> from_bf16(const std::vector<bf16_t>& b) {
  std::vector<float> v(b.size());
  for (size_t i = 0; i < b.size(); ++i) v[i] = bf16_to_f32(b[i].bits);
  return v;
}
// the activation operand: rounded to bf16 (and held as fp32) when the call is a bf16 one
std::vector<float> act(const LoraArgs& a, std::vector<float> v) {
  if (a.bf16)
    for (float& f : v) f = bf16_to_f32(f32_to_bf16(f));
  return v;
}

// member i's dropout site in op backwardGroup
uint64_t group_site(const LoraArgs& a, int i) { return a.site + 7919u * uint64_t(i); }

// ---------------------------------------------------------------- CPU
std::vector<float> run_cpu(const LoraArgs& a, const Napi::Object& o) {
  const bool composed = a.impl == "composed";
  const size_t M = size_t(a.M), in = size_t(a.in), r = size_t(a.r), n = size_t(a.n());
  if (a.op == "down") {
    auto x = act(a, floats(o, "x", M * in)), A = floats(o, "A", r * in);
    std::vector<float> h(M * r);
    if (composed) {
      std::vector<float> xd(n);
      ops::dropout_forward(x.data(), xd.data(), a.n(), a.p, a.seed, a.site);
      ops::matmul_nt(h.data(), xd.data(), A.data(), a.M, a.r, a.in);
    } else {
      ops::lora_down(x.data(), A.data(), h.data(), a.M, a.in, a.r, a.p, a.seed, a.site);
    }
    return h;
  }
  if (a.op == "gradA") {
    auto dh = floats(o, "dh", M * r), x = floats(o, "x", M * in);
    auto gA = init_or_zero(o, r * in);
    if (composed) {
      std::vector<float> xd(n);
      ops::dropout_forward(x.data(), xd.data(), a.n(), a.p, a.seed, a.site);
      ops::matmul_tn(gA.data(), dh.data(), xd.data(), a.r, a.in, a.M, a.accumulate);
    } else {
      ops::lora_grad_A(dh.data(), x.data(), gA.data(), a.M, a.in, a.r, a.p, a.seed, a.site, a.accumulate);
    }
    return gA;
  }
  if (a.op == "dx") {
    auto dh = floats(o, "dh", M * r), A = floats(o, "A", r * in);
    auto dx = init_or_zero(o, n);
    if (composed) {
      std::vector<float> tmp(n);
      ops::matmul_nn(tmp.data(), dh.data(), A.data(), a.M, a.in, a.r);
      ops::dropout_backward(tmp.data(), dx.data(), a.n(), a.p, a.seed, a.site, a.accumulate);
    } else {
      ops::lora_dx(dh.data(), A.data(), dx.data(), a.M, a.in, a.r, a.p, a.seed, a.site, a.accumulate);
    }
    return dx;
  }
  if (a.op == "backward") {
    auto dh = floats(o, "dh", M * r), x = act(a, floats(o, "x", M * in)), A = floats(o, "A", r * in);
    auto gA = init_or_zero(o, r * in);
    auto dx = o.Has("initDx") ? floats(o, "initDx", n) : std::vector<float>(n, 0.f);
    if (composed) {  // the existing ops, as t5_cuda.cpp's linear_bwd sequences them
      std::vector<float> xd(n), tmp(n);
      ops::dropout_forward(x.data(), xd.data(), a.n(), a.p, a.seed, a.site);
      ops::matmul_tn(gA.data(), dh.data(), xd.data(), a.r, a.in, a.M, a.accumulate);
      if (!a.no_dx) {
        ops::matmul_nn(tmp.data(), dh.data(), A.data(), a.M, a.in, a.r);
        ops::dropout_backward(tmp.data(), dx.data(), a.n(), a.p, a.seed, a.site, a.accumulate);
      }
    } else {
      ops::lora_backward(dh.data(), x.data(), A.data(), gA.data(), a.no_dx ? nullptr : dx.data(), a.M, a.in, a.r,
                         a.p, a.seed, a.site, a.accumulate, a.accumulate);
    }
    if (a.no_dx) std::fill(dx.begin(), dx.end(), 0.f);
    gA.insert(gA.end(), dx.begin(), dx.end());
    return gA;
  }
  if (a.op == "backwardGroup") {  // the per-member sequence (both impls): lora_backward n times
    const size_t k = size_t(a.members);
    auto dh = floats(o, "dh", k * M * r), x = act(a, floats(o, "x", M * in)), A = floats(o, "A", k * r * in);
    auto gA = init_or_zero(o, k * r * in);
    auto dx = o.Has("initDx") ? floats(o, "initDx", n) : std::vector<float>(n, 0.f);
    for (size_t i = 0; i < k; ++i)
      ops::lora_backward(dh.data() + i * M * r, x.data(), A.data() + i * r * in, gA.data() + i * r * in,
                         a.no_dx ? nullptr : dx.data(), a.M, a.in, a.r, a.p, a.seed, group_site(a, int(i)),
                         a.accumulate, a.accumulate || i > 0);
    if (a.no_dx) std::fill(dx.begin(), dx.end(), 0.f);
    gA.insert(gA.end(), dx.begin(), dx.end());
    return gA;
  }
  if (a.op == "up" || a.op == "upBackward") {  // in = the Linear's out features
    const size_t k = size_t(a.members), sh = M * r, sB = in * r, sy = M * in;
    auto h = floats(o, "h", k * sh), B = floats(o, "B", k * sB);
    if (a.op == "up") {
      auto y = act(a, init_or_zero(o, k * sy));
      if (composed) {  // matmul, then the scaled add (t5_cuda's gemm with alpha = scale, beta = 1)
        std::vector<float> tmp(sy);
        for (size_t i = 0; i < k; ++i) {
          ops::matmul_nt(tmp.data(), h.data() + i * sh, B.data() + i * sB, a.M, a.in, a.r);
          for (size_t e = 0; e < sy; ++e) y[i * sy + e] += a.scale * tmp[e];
        }
      } else {
        ops::lora_up_add(h.data(), B.data(), y.data(), a.M, a.in, a.r, a.scale, a.members, int64_t(sh), int64_t(sB),
                         int64_t(sy));
      }
      return y;
    }
    auto dy = act(a, floats(o, "dy", k * sy));
    auto gB = init_or_zero(o, k * sB);
    std::vector<float> dh(k * sh);
    if (composed) {
      std::vector<float> t1(sh), t2(sB);
      for (size_t i = 0; i < k; ++i) {
        ops::matmul_nn(t1.data(), dy.data() + i * sy, B.data() + i * sB, a.M, a.r, a.in);
        for (size_t e = 0; e < sh; ++e) dh[i * sh + e] = a.scale * t1[e];
        ops::matmul_tn(t2.data(), dy.data() + i * sy, h.data() + i * sh, a.in, a.r, a.M);
        for (size_t e = 0; e < sB; ++e) gB[i * sB + e] = a.accumulate ? gB[i * sB + e] + a.scale * t2[e] : a.scale * t2[e];
      }
    } else {
      ops::lora_up_backward(dy.data(), h.data(), B.data(), dh.data(), gB.data(), a.M, a.in, a.r, a.scale, a.accumulate,
                            a.members, int64_t(sy), int64_t(sh), int64_t(sB), int64_t(sh));
    }
    gB.insert(gB.end(), dh.begin(), dh.end());
    return gB;
  }
  if (a.op == "dropoutAdd") {
    auto x = floats(o, "x", n), y = floats(o, "y", n);
    std::vector<float> out(n);
    if (composed) {
      ops::dropout_forward(y.data(), y.data(), a.n(), a.p, a.seed, a.site);
      for (size_t i = 0; i < n; ++i) out[i] = x[i] + y[i];
    } else if (a.in_place) {
      ops::dropout_add(x.data(), y.data(), y.data(), a.n(), a.p, a.seed, a.site);
      out = y;
    } else {
      ops::dropout_add(x.data(), y.data(), out.data(), a.n(), a.p, a.seed, a.site);
    }
    return out;
  }
  HUKUK_FAIL("ENGINE_INVALID_ARG",
             "_opsLora: op must be down, gradA, dx, backward, up, upBackward or dropoutAdd (got '" + a.op + "')");
}

#if defined(HUKUK_CUDA)
// ---------------------------------------------------------------- CUDA
namespace oc = ops::cuda;
using cuda::DeviceBuffer;

template <typename T>
DeviceBuffer<T> upload(const std::vector<T>& v) {
  DeviceBuffer<T> d(v.size());
  if (!v.empty()) HUKUK_CUDA_CHECK(cudaMemcpy(d.get(), v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}
template <typename T>
std::vector<T> download(const DeviceBuffer<T>& d, size_t n) {
  std::vector<T> v(n);
  if (n) HUKUK_CUDA_CHECK(cudaMemcpy(v.data(), d.get(), n * sizeof(T), cudaMemcpyDeviceToHost));
  return v;
}

// Device operands of one op, and a closure that runs it (fused or composed) on a stream.
struct CudaCase {
  LoraArgs a;
  DeviceBuffer<float> x, A, dh, y, out, out2, tmp, ws;  // out2: dx of 'backward'
  DeviceBuffer<bf16_t> act_bf16;  // a.bf16: x (down, backward), y (up, the output) or dy (upBackward)
  DeviceBuffer<uint64_t> seed;
  size_t out_n = 0;
  bool composed = false;

  void run_group(cudaStream_t s) {  // op backwardGroup (dh, A, out = gA: n members; out2 = dx)
    const size_t M = size_t(a.M), in = size_t(a.in), r = size_t(a.r);
    float* dxp = a.no_dx ? nullptr : out2.get();
    if (!composed) {
      HUKUK_CHECK(a.members <= oc::kLoraGroupMax, "ENGINE_INVALID_ARG", "_opsLora: backwardGroup on CUDA takes at most 3 members");
      oc::LoraGroupMembers g;
      for (int i = 0; i < a.members; ++i) {
        g.dh[i] = dh.get() + i * M * r;
        g.A[i] = A.get() + i * r * in;
        g.gA[i] = out.get() + i * r * in;
        g.site[i] = group_site(a, i);
        g.p[i] = a.p;
      }
      float* w = a.no_workspace ? nullptr : ws.get();
      if (a.tc) {
        oc::tc::lora_backward_group(g, a.members, act_bf16.get(), dxp, a.M, a.in, a.r, seed.get(), a.accumulate,
                                    a.accumulate, w, s);
        return;
      }
      if (a.bf16) oc::lora_backward_group(g, a.members, act_bf16.get(), dxp, a.M, a.in, a.r, seed.get(), a.accumulate, a.accumulate, w, s);
      else oc::lora_backward_group(g, a.members, x.get(), dxp, a.M, a.in, a.r, seed.get(), a.accumulate, a.accumulate, w, s);
      return;
    }
    for (int i = 0; i < a.members; ++i) {  // today's per-member path: one lora_backward (+ reduce) each
      float* w = a.no_workspace ? nullptr : ws.get();
      const float* dhi = dh.get() + i * M * r;
      const float* Ai = A.get() + i * r * in;
      float* gi = out.get() + i * r * in;
      const bool acc_dx = a.accumulate || i > 0;
      if (a.bf16) oc::lora_backward(dhi, act_bf16.get(), Ai, gi, dxp, a.M, a.in, a.r, a.p, seed.get(), group_site(a, i), a.accumulate, acc_dx, w, s);
      else oc::lora_backward(dhi, x.get(), Ai, gi, dxp, a.M, a.in, a.r, a.p, seed.get(), group_site(a, i), a.accumulate, acc_dx, w, s);
    }
  }

  void run(cudaStream_t s) {
    const int64_t n = a.n();
    if (a.op == "backwardGroup") return run_group(s);
    if (a.bf16) {  // lora.h's bf16 overloads (parse() allows these four ops, fused only)
      const long long sh = (long long)a.M * a.r, sB = (long long)a.in * a.r, sy = (long long)a.M * a.in;
      if (a.op == "down")
        oc::lora_down(act_bf16.get(), A.get(), out.get(), a.M, a.in, a.r, a.p, seed.get(), a.site, s);
      else if (a.op == "backward")
        oc::lora_backward(dh.get(), act_bf16.get(), A.get(), out.get(), a.no_dx ? nullptr : out2.get(), a.M, a.in, a.r, a.p,
                          seed.get(), a.site, a.accumulate, a.accumulate, a.no_workspace ? nullptr : ws.get(), s);
      else if (a.op == "up")
        oc::lora_up_add(dh.get(), A.get(), act_bf16.get(), a.M, a.in, a.r, a.scale, a.members, sh, sB, sy, s);
      else
        oc::lora_up_backward(act_bf16.get(), dh.get(), A.get(), out2.get(), out.get(), a.M, a.in, a.r, a.scale, a.accumulate,
                             a.members, sy, sh, sB, sh, a.no_workspace ? nullptr : ws.get(), s);
      return;
    }
    if (a.op == "down") {
      if (composed) {  // as t5_cuda.cpp's linear_fwd: the dropped copy only when p > 0
        if (a.p > 0.f) oc::dropout_forward(x.get(), tmp.get(), n, a.p, seed.get(), a.site, s);
        oc::linear_xwt(s, oc::Precision::F32, a.p > 0.f ? tmp.get() : x.get(), A.get(), out.get(), a.M, a.r, a.in);
      } else {
        oc::lora_down(x.get(), A.get(), out.get(), a.M, a.in, a.r, a.p, seed.get(), a.site, s);
      }
    } else if (a.op == "gradA") {
      if (composed) {
        if (a.p > 0.f) oc::dropout_forward(x.get(), tmp.get(), n, a.p, seed.get(), a.site, s);
        oc::gemm(s, oc::Precision::F32, true, false, a.r, a.in, a.M, 1.f, dh.get(), a.r, 0,
                 a.p > 0.f ? tmp.get() : x.get(), a.in, 0, a.accumulate ? 1.f : 0.f, out.get(), a.in, 0);
      } else {
        oc::lora_grad_A(dh.get(), x.get(), out.get(), a.M, a.in, a.r, a.p, seed.get(), a.site, a.accumulate,
                        a.no_workspace ? nullptr : ws.get(), s);
      }
    } else if (a.op == "dx") {
      if (composed && a.p > 0.f) {  // as linear_bwd: gemm into a scratch, then dropout_backward
        oc::gemm(s, oc::Precision::F32, false, false, a.M, a.in, a.r, 1.f, dh.get(), a.r, 0, A.get(), a.in, 0, 0.f,
                 tmp.get(), a.in, 0);
        oc::dropout_backward(tmp.get(), out.get(), n, a.p, seed.get(), a.site, a.accumulate, s);
      } else if (composed) {  // p == 0: one gemm straight into dx
        oc::gemm(s, oc::Precision::F32, false, false, a.M, a.in, a.r, 1.f, dh.get(), a.r, 0, A.get(), a.in, 0,
                 a.accumulate ? 1.f : 0.f, out.get(), a.in, 0);
      } else {
        oc::lora_dx(dh.get(), A.get(), out.get(), a.M, a.in, a.r, a.p, seed.get(), a.site, a.accumulate, s);
      }
    } else if (a.op == "backward") {
      float* dxp = a.no_dx ? nullptr : out2.get();
      if (composed) {  // linear_bwd's LoRA-A part: dropped copy, gA gemm, dx gemm + dropout_backward
        if (a.p > 0.f) oc::dropout_forward(x.get(), tmp.get(), n, a.p, seed.get(), a.site, s);
        const float* xd = a.p > 0.f ? tmp.get() : x.get();
        oc::gemm(s, oc::Precision::F32, true, false, a.r, a.in, a.M, 1.f, dh.get(), a.r, 0, xd, a.in, 0,
                 a.accumulate ? 1.f : 0.f, out.get(), a.in, 0);
        if (dxp && a.p > 0.f) {
          oc::gemm(s, oc::Precision::F32, false, false, a.M, a.in, a.r, 1.f, dh.get(), a.r, 0, A.get(), a.in, 0, 0.f,
                   tmp.get(), a.in, 0);
          oc::dropout_backward(tmp.get(), dxp, n, a.p, seed.get(), a.site, a.accumulate, s);
        } else if (dxp) {
          oc::gemm(s, oc::Precision::F32, false, false, a.M, a.in, a.r, 1.f, dh.get(), a.r, 0, A.get(), a.in, 0,
                   a.accumulate ? 1.f : 0.f, dxp, a.in, 0);
        }
      } else {
        oc::lora_backward(dh.get(), x.get(), A.get(), out.get(), dxp, a.M, a.in, a.r, a.p, seed.get(), a.site,
                          a.accumulate, a.accumulate, a.no_workspace ? nullptr : ws.get(), s);
      }
    } else if (a.op == "up") {  // h in dh, B in A, y in out (sizes: see run_cuda)
      const long long sh = (long long)a.M * a.r, sB = (long long)a.in * a.r, sy = (long long)a.M * a.in;
      if (composed)  // t5_cuda.cpp's batched product (cuBLAS fp32)
        oc::gemm(s, oc::Precision::F32, false, true, a.M, a.in, a.r, a.scale, dh.get(), a.r, sh, A.get(), a.r, sB, 1.f,
                 out.get(), a.in, sy, a.members);
      else
        oc::lora_up_add(dh.get(), A.get(), out.get(), a.M, a.in, a.r, a.scale, a.members, sh, sB, sy, s);
    } else if (a.op == "upBackward") {  // dy in y, h in dh, B in A, gB in out, dh in out2
      const long long sh = (long long)a.M * a.r, sB = (long long)a.in * a.r, sy = (long long)a.M * a.in;
      if (composed) {
        oc::gemm(s, oc::Precision::F32, true, false, a.in, a.r, a.M, a.scale, y.get(), a.in, sy, dh.get(), a.r, sh,
                 a.accumulate ? 1.f : 0.f, out.get(), a.r, sB, a.members);
        oc::gemm(s, oc::Precision::F32, false, false, a.M, a.r, a.in, a.scale, y.get(), a.in, sy, A.get(), a.r, sB, 0.f,
                 out2.get(), a.r, sh, a.members);
      } else {
        oc::lora_up_backward(y.get(), dh.get(), A.get(), out2.get(), out.get(), a.M, a.in, a.r, a.scale, a.accumulate,
                             a.members, sy, sh, sB, sh, a.no_workspace ? nullptr : ws.get(), s);
      }
    } else {  // dropoutAdd
      if (composed) {
        oc::dropout_forward(y.get(), y.get(), n, a.p, seed.get(), a.site, s);
        oc::add(out.get(), x.get(), y.get(), n, s);
      } else {
        oc::dropout_add(x.get(), y.get(), a.in_place ? y.get() : out.get(), n, a.p, seed.get(), a.site, s);
      }
    }
  }
  void make_scratch() {
    const size_t n = size_t(a.n());
    const bool up = a.op == "up" || a.op == "upBackward";
    if (composed && a.op != "dropoutAdd" && !up) tmp.resize(n);
    if (!composed && a.op == "upBackward") {
      const size_t w = oc::lora_up_backward_workspace_floats(a.M, a.in, a.r, a.members);
      if (w) ws.resize(w);
    }
    if (!composed && a.op == "gradA") {
      const size_t w = oc::lora_grad_A_workspace_floats(a.M, a.in, a.r);
      if (w) ws.resize(w);
    }
    if (!composed && a.op == "backward") {
      const size_t w = oc::lora_backward_workspace_floats(a.M, a.in, a.r);
      if (w) ws.resize(w);
    }
    if (a.op == "backwardGroup") {  // composed: one member's, reused in turn (as the engine's)
      const size_t w = composed ? oc::lora_backward_workspace_floats(a.M, a.in, a.r)
                       : a.tc   ? oc::tc::lora_backward_group_workspace_floats(a.M, a.in, a.r, a.members)
                                : oc::lora_backward_group_workspace_floats(a.M, a.in, a.r, a.members);
      if (w) ws.resize(w);
    }
    seed.resize(1);
    HUKUK_CUDA_CHECK(cudaMemcpy(seed.get(), &a.seed, sizeof(uint64_t), cudaMemcpyHostToDevice));
  }
};

void require_gpu(const char* fn) {
  if (cuda::device_count() == 0) HUKUK_FAIL("ENGINE_NO_GPU", std::string(fn) + ": no CUDA device (or no NVIDIA driver)");
}

std::vector<float> run_cuda(const LoraArgs& a, const Napi::Object& o) {
  require_gpu("_opsLora");
  CudaCase c;
  c.a = a;
  c.composed = a.impl == "cudaComposed";
  const size_t M = size_t(a.M), in = size_t(a.in), r = size_t(a.r), n = size_t(a.n());
  if (a.op == "down") {
    if (a.bf16) c.act_bf16 = upload(to_bf16(floats(o, "x", M * in)));
    else c.x = upload(floats(o, "x", M * in));
    c.A = upload(floats(o, "A", r * in));
    c.out.resize(M * r);
    c.out_n = M * r;
  } else if (a.op == "gradA") {
    c.dh = upload(floats(o, "dh", M * r));
    c.x = upload(floats(o, "x", M * in));
    c.out = upload(init_or_zero(o, r * in));
    c.out_n = r * in;
  } else if (a.op == "dx") {
    c.dh = upload(floats(o, "dh", M * r));
    c.A = upload(floats(o, "A", r * in));
    c.out = upload(init_or_zero(o, n));
    c.out_n = n;
  } else if (a.op == "dropoutAdd") {
    c.x = upload(floats(o, "x", n));
    c.y = upload(floats(o, "y", n));
    c.out.resize(n);
    c.out_n = n;
  } else if (a.op == "backward") {
    c.dh = upload(floats(o, "dh", M * r));
    if (a.bf16) c.act_bf16 = upload(to_bf16(floats(o, "x", M * in)));
    else c.x = upload(floats(o, "x", M * in));
    c.A = upload(floats(o, "A", r * in));
    c.out = upload(init_or_zero(o, r * in));
    c.out2 = upload(o.Has("initDx") ? floats(o, "initDx", n) : std::vector<float>(n, 0.f));
    c.out_n = r * in;
  } else if (a.op == "backwardGroup") {
    const size_t k = size_t(a.members);
    c.dh = upload(floats(o, "dh", k * M * r));
    if (a.bf16) c.act_bf16 = upload(to_bf16(floats(o, "x", M * in)));
    else c.x = upload(floats(o, "x", M * in));
    c.A = upload(floats(o, "A", k * r * in));
    c.out = upload(init_or_zero(o, k * r * in));
    c.out2 = upload(o.Has("initDx") ? floats(o, "initDx", n) : std::vector<float>(n, 0.f));
    c.out_n = k * r * in;
  } else if (a.op == "up" || a.op == "upBackward") {
    const size_t k = size_t(a.members);
    c.dh = upload(floats(o, "h", k * M * r));
    c.A = upload(floats(o, "B", k * in * r));
    if (a.op == "up" && a.bf16) {
      c.act_bf16 = upload(to_bf16(init_or_zero(o, k * n)));
      c.out_n = k * n;
    } else if (a.op == "up") {
      c.out = upload(init_or_zero(o, k * n));
      c.out_n = k * n;
    } else {
      if (a.bf16) c.act_bf16 = upload(to_bf16(floats(o, "dy", k * n)));
      else c.y = upload(floats(o, "dy", k * n));
      c.out = upload(init_or_zero(o, k * in * r));
      c.out2.resize(k * M * r);
      c.out_n = k * in * r;
    }
  } else {
    HUKUK_FAIL("ENGINE_INVALID_ARG", "_opsLora: op must be down, gradA, dx, backward, backwardGroup, up, upBackward or dropoutAdd (got '" + a.op + "')");
  }
  c.make_scratch();
  cudaStream_t s = nullptr;
  HUKUK_CUDA_CHECK(cudaStreamCreate(&s));
  try {
    c.run(s);
    HUKUK_CUDA_CHECK(cudaStreamSynchronize(s));
  } catch (...) {
    cudaStreamDestroy(s);
    throw;
  }
  cudaStreamDestroy(s);
  const bool aliased = a.op == "dropoutAdd" && !c.composed && a.in_place;
  std::vector<float> res = (a.bf16 && a.op == "up") ? from_bf16(download(c.act_bf16, c.out_n))
                                                    : download(aliased ? c.y : c.out, c.out_n);
  if (a.op == "backward" || a.op == "backwardGroup") {
    std::vector<float> dx = a.no_dx ? std::vector<float>(n, 0.f) : download(c.out2, n);
    res.insert(res.end(), dx.begin(), dx.end());
  }
  if (a.op == "upBackward") {
    std::vector<float> dh = download(c.out2, size_t(a.members) * M * r);
    res.insert(res.end(), dh.begin(), dh.end());
  }
  return res;
}

// Microseconds per call: back-to-back on the stream, then replayed from a graph of `reps` calls.
void time_case(CudaCase& c, cudaStream_t s, int reps, double& stream_us, double& graph_us) {
  for (int i = 0; i < 3; ++i) c.run(s);  // warm-up (also creates the cuBLAS handle outside capture)
  HUKUK_CUDA_CHECK(cudaStreamSynchronize(s));
  hukuk::cuda::EventTimer t;
  stream_us = t.us(s, reps, [&] { for (int i = 0; i < reps; ++i) c.run(s); });
  cudaGraph_t g = nullptr;
  cudaGraphExec_t exec = nullptr;
  HUKUK_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
  try {
    for (int i = 0; i < reps; ++i) c.run(s);
  } catch (...) {
    cudaStreamEndCapture(s, &g);
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
    graph_us = -1;  // capture failed: reported as -1, the stream number stands
    return;
  }
  HUKUK_CUDA_CHECK(cudaStreamEndCapture(s, &g));
  const cudaError_t ie = cudaGraphInstantiate(&exec, g, 0);
  cudaGraphDestroy(g);
  HUKUK_CUDA_CHECK(ie);
  HUKUK_CUDA_CHECK(cudaGraphLaunch(exec, s));  // upload + warm
  HUKUK_CUDA_CHECK(cudaStreamSynchronize(s));
  graph_us = t.us(s, reps, [&] { HUKUK_CUDA_CHECK(cudaGraphLaunch(exec, s)); });
  cudaGraphExecDestroy(exec);
}

Napi::Value ops_lora_bench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_gpu("_opsLoraBench");
  HUKUK_CHECK(info[0].IsObject(), "ENGINE_INVALID_ARG", "_opsLoraBench: options must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  LoraArgs a = parse(o);
  a.seed = a.seed ? a.seed : 1234;
  a.site = a.site ? a.site : 77;
  const int reps = o.Has("reps") ? int(int_arg(o.Get("reps"), "reps")) : 50;
  HUKUK_CHECK(reps >= 1 && reps <= 10000, "ENGINE_INVALID_ARG", "_opsLoraBench: reps in 1..10000");
  const size_t M = size_t(a.M), in = size_t(a.in), r = size_t(a.r), n = size_t(a.n());
  std::vector<float> xh(n), Ah(r * in), dhh(M * r);
  hukuk::cuda::fill_random(xh, 1);
  hukuk::cuda::fill_random(Ah, 2);
  hukuk::cuda::fill_random(dhh, 3);
  double input_bytes = 0;
  double us[2][2] = {{0, 0}, {0, 0}};
  cudaStream_t s = nullptr;
  HUKUK_CUDA_CHECK(cudaStreamCreate(&s));
  double copy_gbs = 0;
  try {
    const double ab = a.bf16 ? 2.0 : 4.0;  // bytes per activation element
    for (int composed = 0; composed < 2; ++composed) {
      if (composed && a.bf16 && a.op != "backwardGroup") {  // no cuBLAS twin for bf16 activations (lora.h)
        us[1][0] = us[1][1] = -1;
        continue;
      }
      CudaCase c;
      c.a = a;
      c.composed = composed == 1;
      if (a.bf16 && (a.op == "down" || a.op == "backward" || a.op == "backwardGroup")) c.act_bf16 = upload(to_bf16(xh));
      if (a.op == "down") {
        c.x = upload(xh);  // bf16: only the copy-bandwidth buffer
        c.A = upload(Ah);
        c.out.resize(M * r);
        input_bytes = ab * n + 4.0 * r * in;
      } else if (a.op == "gradA") {
        c.dh = upload(dhh);
        c.x = upload(xh);
        c.out.resize(r * in);
        HUKUK_CUDA_CHECK(cudaMemset(c.out.get(), 0, c.out.bytes()));
        input_bytes = 4.0 * (n + M * r);
      } else if (a.op == "dx") {
        c.dh = upload(dhh);
        c.A = upload(Ah);
        c.out = upload(xh);  // accumulate target: read and written
        input_bytes = 4.0 * (M * r + r * in + (a.accumulate ? 2.0 : 1.0) * n);
      } else if (a.op == "dropoutAdd") {
        c.x = upload(xh);
        c.y = upload(xh);
        c.out.resize(n);
        input_bytes = 4.0 * 3.0 * n;  // x, y read; out written
      } else if (a.op == "backward") {
        c.dh = upload(dhh);
        c.x = upload(xh);
        c.A = upload(Ah);
        c.out.resize(r * in);
        HUKUK_CUDA_CHECK(cudaMemset(c.out.get(), 0, c.out.bytes()));
        c.out2 = upload(xh);  // dx (fp32 for both), read and written with accumulate
        input_bytes = ab * n + 4.0 * (M * r + r * in + (a.accumulate ? 2.0 : 1.0) * n);
      } else if (a.op == "backwardGroup") {  // fused: lora_backward_group; composed: n lora_backward
        const size_t k = size_t(a.members);
        std::vector<float> dhk(k * M * r), Ak(k * r * in);
        hukuk::cuda::fill_random(dhk, 7);
        hukuk::cuda::fill_random(Ak, 8);
        c.dh = upload(dhk);
        c.x = upload(xh);  // fp32 x, and the copy-bandwidth buffer
        c.A = upload(Ak);
        c.out.resize(k * r * in);
        HUKUK_CUDA_CHECK(cudaMemset(c.out.get(), 0, c.out.bytes()));
        c.out2 = upload(xh);  // dx, read and written with accumulate
        input_bytes = ab * n + 4.0 * (k * M * r + 2.0 * k * r * in + (a.accumulate ? 2.0 : 1.0) * n);
      } else if (a.op == "up" || a.op == "upBackward") {  // in = out features; members of one group
        const size_t k = size_t(a.members);
        std::vector<float> big(k * n), hh(k * M * r), Bh(k * in * r);
        hukuk::cuda::fill_random(big, 4);
        hukuk::cuda::fill_random(hh, 5);
        hukuk::cuda::fill_random(Bh, 6);
        c.dh = upload(hh);
        c.A = upload(Bh);
        if (a.op == "up") {
          if (a.bf16) c.act_bf16 = upload(to_bf16(big));
          else c.out = upload(big);  // y: read and written
          input_bytes = ab * 2.0 * k * n + 4.0 * (k * M * r + k * in * r);
        } else {
          if (a.bf16) c.act_bf16 = upload(to_bf16(big));
          else c.y = upload(big);
          c.out.resize(k * in * r);
          HUKUK_CUDA_CHECK(cudaMemset(c.out.get(), 0, c.out.bytes()));
          c.out2.resize(k * M * r);
          input_bytes = ab * k * n + 4.0 * (2.0 * k * M * r + 2.0 * k * in * r);
        }
        c.x = upload(std::vector<float>(n, 0.f));  // copy-bandwidth buffer
      } else {
        HUKUK_FAIL("ENGINE_INVALID_ARG", "_opsLoraBench: op must be down, gradA, dx, backward, up, upBackward or dropoutAdd");
      }
      c.make_scratch();
      time_case(c, s, reps, us[composed][0], us[composed][1]);
      if (composed == 0) {  // copy bandwidth on a buffer of x's size, for the roofline ratio
        DeviceBuffer<float> dst(n);
        const float* src = c.x.get() ? c.x.get() : c.out.get();  // both [M, in] (dx: out)
        hukuk::cuda::EventTimer t;
        HUKUK_CUDA_CHECK(cudaMemcpyAsync(dst.get(), src, n * 4, cudaMemcpyDeviceToDevice, s));
        const double cu = t.us(s, 10, [&] {
          for (int i = 0; i < 10; ++i)
            HUKUK_CUDA_CHECK(cudaMemcpyAsync(dst.get(), src, n * 4, cudaMemcpyDeviceToDevice, s));
        });
        copy_gbs = 2.0 * n * 4 / (cu * 1e-6) / 1e9;
      }
    }
  } catch (...) {
    cudaStreamDestroy(s);
    throw;
  }
  cudaStreamDestroy(s);
  Napi::Object res = Napi::Object::New(env);
  res.Set("fusedUs", us[0][0]);
  res.Set("fusedGraphUs", us[0][1]);
  res.Set("composedUs", us[1][0]);
  res.Set("composedGraphUs", us[1][1]);
  res.Set("copyGBs", copy_gbs);
  res.Set("inputBytes", input_bytes);
  return res;
}
#endif  // HUKUK_CUDA

Napi::Value ops_lora(const Napi::CallbackInfo& info) {
  HUKUK_CHECK(info[0].IsObject(), "ENGINE_INVALID_ARG", "_opsLora: options must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  const LoraArgs a = parse(o);
  std::vector<float> out;
  const auto t0 = std::chrono::steady_clock::now();
  if (a.impl == "cpu" || a.impl == "composed") {
    out = run_cpu(a, o);
  } else if (a.impl == "cuda" || a.impl == "cudaComposed") {
#if defined(HUKUK_CUDA)
    out = run_cuda(a, o);
#else
    HUKUK_FAIL("ENGINE_NO_GPU", "_opsLora: the engine was built without CUDA");
#endif
  } else {
    HUKUK_FAIL("ENGINE_INVALID_ARG", "_opsLora: impl must be cpu, composed, cuda or cudaComposed");
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Napi::Float32Array res = new_typed_array<float>(info.Env(), out.data(), out.size());
  res.Set("seconds", Napi::Number::New(info.Env(), secs));
  return res;
}

}  // namespace

static void init_ops_lora(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "_opsLora", napi_entry<ops_lora>);
#if defined(HUKUK_CUDA)
  export_fn(env, exports, "_opsLoraBench", napi_entry<ops_lora_bench>);
#endif
}

HUKUK_REGISTER(ops_lora, init_ops_lora);

}  // namespace hukuk
