// Test and benchmark hooks for the tensor-core LoRA kernels (lora_tc.h); not app API.
//
//   engine._opsLoraTc({op, M, in, r, p?, seed?, site?, accumulate?, members?, scale?, noDx?, ...})
//     -> Float32Array, the same operands and outputs as engine._opsLora({..., impl: 'cuda',
//     bf16: true}) (lora_napi.cpp), so a test compares it with the CPU reference
//     _opsLora({..., impl: 'cpu', bf16: true}) on the same bf16-rounded values:
//     op 'down'       h[M,r]                       from x[M,in], A[r,in]
//        'backward'   [gA[r,in], dx[M,in]]         from dh, x, A (init = gA before, initDx = dx
//                                                  before; accumulate applies to both; noDx: dx part 0)
//        'up'         y[n][M,in] widened from bf16 from h[n][M,r], B[n][in,r], init = y before
//        'upBackward' [gB[n][in,r], dh[n][M,r]]    from dy[n][M,in], h, B (init = gB before)
//        'downGroup'  h[n][M,r]                    from x[M,in], A[n][r,in] (lora_down_group;
//                                                  member i: site + 7919 i, p halved for i == 1)
//        'backwardGroup' [gA[n][r,in], dx[M,in]]   from dh[n][M,r], x, A[n][r,in] (lora_backward_group,
//                                                  members as downGroup's; init / initDx as backward)
//        'linearBackward' [gB[n][in,r], gA[n][r,in], dx[M,in]]  the engine's LoRA backward of n
//                                                  Linears of width in -> in sharing x (lora_up_backward
//                                                  then lora_backward_group on its dh) from dy[n][M,in],
//                                                  h, B[n][in,r], x, A (init: gB, initA: gA, initDx)
//     fastBwd: a mask of lora_tc.h's kFast* bits for this call (HUKUK_T5_LORA_TC_FAST_BWD's parts),
//     else the environment's
//     (for up / upBackward `in` is the Linear's out features, as in _opsLora)
//   engine._opsLoraTcBench({op, M, in, r, p?, members?, accumulate?, reps?}) -> {tcUs, refUs,
//     floorUs, bytes, copyGBs}: µs per call replayed from a CUDA graph of `reps` calls, of
//     lora_tc and of ops/lora's bf16 overload on the same device buffers (random values), and
//     the read-once floor: bytes (each operand read once, outputs written once, bf16
//     activations at 2 bytes) at the device-to-device copy bandwidth measured on the same card.
//     downGroup's refUs is n lora_tc::lora_down launches; backwardGroup's and linearBackward's are
//     lora_tc with fastBwd 0 (today's default). With fastBwd, tcBaseUs: lora_tc with fastBwd 0.
//   engine._opsLoraTcSupported(r, width) -> boolean (tc::supported).
//   engine._opsLoraTcFastBwd(mask?) -> the HUKUK_T5_LORA_TC_FAST_BWD mask in force (sets the override).
#include <napi.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/half.h"
#include "core/napi_error.h"
#include "core/registry.h"
#include "ops/dropout_hash.h"

#if defined(HUKUK_CUDA)
#include "core/cuda_runtime.h"
#include "cuda/hook_bench.h"
#include "ops/lora.h"
#include "ops/lora_tc.h"
#endif

namespace hukuk {

namespace {

#if defined(HUKUK_CUDA)
namespace oc = ops::cuda;
using cuda::DeviceBuffer;

struct TcArgs {
  std::string op;
  int M = 0, in = 0, r = 16, members = 1;
  float p = 0.f, scale = 1.f;
  uint64_t seed = 0, site = 0;
  bool accumulate = false, no_dx = false;
  int fast_bwd = -1;  // -1: the environment's HUKUK_T5_LORA_TC_FAST_BWD
  float member_p(int i) const { return i == 1 ? p * 0.5f : p; }
  uint64_t member_site(int i) const { return site + 7919u * uint64_t(i); }
};

TcArgs parse(const Napi::Object& o) {
  TcArgs a;
  a.op = string_arg(o.Get("op"), "op");
  a.M = int(int_arg(o.Get("M"), "M"));
  a.in = int(int_arg(o.Get("in"), "in"));
  a.r = o.Has("r") ? int(int_arg(o.Get("r"), "r")) : 16;
  a.p = o.Has("p") ? float(o.Get("p").As<Napi::Number>().DoubleValue()) : 0.f;
  a.seed = o.Has("seed") ? uint64_t(int_arg(o.Get("seed"), "seed")) : 0;
  a.site = o.Has("site") ? uint64_t(int_arg(o.Get("site"), "site")) : 0;
  a.accumulate = o.Has("accumulate") && o.Get("accumulate").ToBoolean().Value();
  a.no_dx = o.Has("noDx") && o.Get("noDx").ToBoolean().Value();
  a.members = o.Has("members") ? int(int_arg(o.Get("members"), "members")) : 1;
  a.scale = o.Has("scale") ? float(o.Get("scale").As<Napi::Number>().DoubleValue()) : 1.f;
  a.fast_bwd = o.Has("fastBwd") ? int(int_arg(o.Get("fastBwd"), "fastBwd")) : -1;
  HUKUK_CHECK(a.op == "down" || a.op == "backward" || a.op == "up" || a.op == "upBackward" || a.op == "downGroup" ||
                  a.op == "backwardGroup" || a.op == "linearBackward",
              "ENGINE_INVALID_ARG",
              "_opsLoraTc: op must be down, backward, up, upBackward, downGroup, backwardGroup or linearBackward");
  HUKUK_CHECK((a.op != "downGroup" && a.op != "backwardGroup" && a.op != "linearBackward") || a.members <= 3,
              "ENGINE_INVALID_ARG", "_opsLoraTc: downGroup, backwardGroup and linearBackward take 1..3 members");
  HUKUK_CHECK(a.members >= 1 && a.members <= 16 && a.M >= 0 && a.p >= 0.f && a.p < 1.f, "ENGINE_INVALID_ARG",
              "_opsLoraTc: need members in 1..16, M >= 0, 0 <= p < 1");
  HUKUK_CHECK(oc::tc::supported(a.r, a.in), "ENGINE_INVALID_ARG", "_opsLoraTc: tc::supported(r, in) is false");
  return a;
}

std::vector<float> floats(const Napi::Object& o, const char* key, size_t n) {
  if (!o.Has(key)) HUKUK_FAIL("ENGINE_INVALID_ARG", std::string("_opsLoraTc: ") + key + " is required for this op");
  auto a = typed_array_arg<float>(o.Get(key), key);
  HUKUK_CHECK(a.length == n, "ENGINE_INVALID_ARG",
              std::string("_opsLoraTc: ") + key + " has " + std::to_string(a.length) + " elements, expected " +
                  std::to_string(n));
  return std::vector<float>(a.data, a.data + a.length);
}
std::vector<float> or_zero(const Napi::Object& o, const char* key, size_t n) {
  return o.Has(key) ? floats(o, key, n) : std::vector<float>(n, 0.f);
}
std::vector<bf16_t> to_bf16(const std::vector<float>& v) {
  std::vector<bf16_t> b(v.size());
  for (size_t i = 0; i < v.size(); ++i) b[i].bits = f32_to_bf16(v[i]);
  return b;
}
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

void require_gpu(const char* fn) {
  if (cuda::device_count() == 0) HUKUK_FAIL("ENGINE_NO_GPU", std::string(fn) + ": no CUDA device (or no NVIDIA driver)");
}

// The device operands of one call. Roles by op: down (act = x, f1 = A, out = h); backward (f0 = dh,
// act = x, f1 = A, out = gA, out2 = dx); up (f0 = h, f1 = B, act = y); upBackward (act = dy, f0 = h,
// f1 = B, out = gB, out2 = dh).
// backwardGroup: f0 = dh[n], act = x, f1 = A[n], out = gA[n], out2 = dx; linearBackward: act = dy[n],
// f0 = h[n], f1 = B[n], out = gB[n], out2 = dh[n] (scratch), act2 = x, f2 = A[n], out3 = gA[n], out4 = dx.
struct Case {
  TcArgs a;
  DeviceBuffer<bf16_t> act, act2;
  DeviceBuffer<float> f0, f1, f2, out, out2, out3, out4, ws, ws2;
  DeviceBuffer<uint64_t> seed;
  bool group_op() const { return a.op == "backwardGroup" || a.op == "linearBackward"; }
  oc::LoraGroupMembers members(const float* dh, const float* A, float* gA) const {
    oc::LoraGroupMembers g;
    for (int i = 0; i < a.members; ++i) {
      g.dh[i] = dh + size_t(i) * sh();
      g.A[i] = A + size_t(i) * a.r * a.in;
      g.gA[i] = gA + size_t(i) * a.r * a.in;
      g.site[i] = a.member_site(i);
      g.p[i] = a.member_p(i);
    }
    return g;
  }

  int64_t sh() const { return int64_t(a.M) * a.r; }
  int64_t sB() const { return int64_t(a.in) * a.r; }
  int64_t sy() const { return int64_t(a.M) * a.in; }

  void make_scratch(bool tc) {
    size_t w = 0;
    if (a.op == "backward")
      w = tc ? oc::tc::lora_backward_workspace_floats(a.M, a.in, a.r) : oc::lora_backward_workspace_floats(a.M, a.in, a.r);
    if (a.op == "upBackward" || a.op == "linearBackward")
      w = tc ? oc::tc::lora_up_backward_workspace_floats(a.M, a.in, a.r, a.members)
             : oc::lora_up_backward_workspace_floats(a.M, a.in, a.r, a.members);
    if (a.op == "backwardGroup") w = oc::tc::lora_backward_group_workspace_floats(a.M, a.in, a.r, a.members);
    if (w > ws.size()) ws.resize(w);
    if (a.op == "linearBackward") {
      const size_t w2 = oc::tc::lora_backward_group_workspace_floats(a.M, a.in, a.r, a.members);
      if (w2 > ws2.size()) ws2.resize(w2);
    }
    if (!seed.get()) {
      seed.resize(1);
      HUKUK_CUDA_CHECK(cudaMemcpy(seed.get(), &a.seed, sizeof(uint64_t), cudaMemcpyHostToDevice));
    }
  }
  // tc: lora_tc's kernels, else ops/lora's bf16 overloads (the same parameter lists)
  void run(bool tc, cudaStream_t s) {
    float* wsp = ws.get();
    float* dx = a.no_dx ? nullptr : out2.get();
    if (group_op()) {  // lora_tc only (tc false: the caller has set fastBwd 0 for the reference)
      if (a.op == "backwardGroup") {
        oc::tc::lora_backward_group(members(f0.get(), f1.get(), out.get()), a.members, act.get(), dx, a.M, a.in, a.r,
                                    seed.get(), a.accumulate, a.accumulate, wsp, s);
      } else {
        oc::tc::lora_up_backward(act.get(), f0.get(), f1.get(), out2.get(), out.get(), a.M, a.in, a.r, a.scale,
                                 a.accumulate, a.members, sy(), sh(), sB(), sh(), wsp, s);
        oc::tc::lora_backward_group(members(out2.get(), f2.get(), out3.get()), a.members, act2.get(),
                                    a.no_dx ? nullptr : out4.get(), a.M, a.in, a.r, seed.get(), a.accumulate,
                                    a.accumulate, ws2.get(), s);
      }
      return;
    }
    if (a.op == "downGroup") {  // tc: one lora_down_group launch, else n lora_tc::lora_down launches
      const float* A[3] = {};
      float* h[3] = {};
      float p[3] = {};
      uint64_t site[3] = {};
      for (int i = 0; i < a.members; ++i) {
        A[i] = f1.get() + size_t(i) * a.r * a.in;
        h[i] = out.get() + size_t(i) * sh();
        p[i] = a.member_p(i);
        site[i] = a.member_site(i);
      }
      if (tc) oc::tc::lora_down_group(act.get(), a.members, A, h, p, site, a.M, a.in, a.r, seed.get(), s);
      else
        for (int i = 0; i < a.members; ++i)
          oc::tc::lora_down(act.get(), A[i], h[i], a.M, a.in, a.r, p[i], seed.get(), site[i], s);
    } else if (a.op == "down") {
      if (tc) oc::tc::lora_down(act.get(), f1.get(), out.get(), a.M, a.in, a.r, a.p, seed.get(), a.site, s);
      else oc::lora_down(act.get(), f1.get(), out.get(), a.M, a.in, a.r, a.p, seed.get(), a.site, s);
    } else if (a.op == "backward") {
      if (tc)
        oc::tc::lora_backward(f0.get(), act.get(), f1.get(), out.get(), dx, a.M, a.in, a.r, a.p, seed.get(), a.site,
                              a.accumulate, a.accumulate, wsp, s);
      else
        oc::lora_backward(f0.get(), act.get(), f1.get(), out.get(), dx, a.M, a.in, a.r, a.p, seed.get(), a.site,
                          a.accumulate, a.accumulate, wsp, s);
    } else if (a.op == "up") {
      if (tc) oc::tc::lora_up_add(f0.get(), f1.get(), act.get(), a.M, a.in, a.r, a.scale, a.members, sh(), sB(), sy(), s);
      else oc::lora_up_add(f0.get(), f1.get(), act.get(), a.M, a.in, a.r, a.scale, a.members, sh(), sB(), sy(), s);
    } else {
      if (tc)
        oc::tc::lora_up_backward(act.get(), f0.get(), f1.get(), out2.get(), out.get(), a.M, a.in, a.r, a.scale,
                                 a.accumulate, a.members, sy(), sh(), sB(), sh(), wsp, s);
      else
        oc::lora_up_backward(act.get(), f0.get(), f1.get(), out2.get(), out.get(), a.M, a.in, a.r, a.scale,
                             a.accumulate, a.members, sy(), sh(), sB(), sh(), wsp, s);
    }
  }
};

// fastBwd for the duration of one hook call (the environment's mask again afterwards)
struct FastBwdScope {
  explicit FastBwdScope(int mask) : on(mask >= 0) {
    if (on) oc::tc::set_fast_bwd_mask_for_tests(mask);
  }
  ~FastBwdScope() {
    if (on) oc::tc::set_fast_bwd_mask_for_tests(-1);
  }
  FastBwdScope(const FastBwdScope&) = delete;
  FastBwdScope& operator=(const FastBwdScope&) = delete;
  bool on;
};

Napi::Value ops_lora_tc(const Napi::CallbackInfo& info) {
  require_gpu("_opsLoraTc");
  HUKUK_CHECK(info[0].IsObject(), "ENGINE_INVALID_ARG", "_opsLoraTc: options must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  Case c;
  c.a = parse(o);
  const TcArgs& a = c.a;
  const size_t M = size_t(a.M), in = size_t(a.in), r = size_t(a.r), n = M * in, k = size_t(a.members);
  size_t out_n = 0;
  const FastBwdScope fast(a.fast_bwd);
  if (a.op == "backwardGroup") {
    c.f0 = upload(floats(o, "dh", k * M * r));
    c.act = upload(to_bf16(floats(o, "x", n)));
    c.f1 = upload(floats(o, "A", k * r * in));
    c.out = upload(or_zero(o, "init", k * r * in));
    c.out2 = upload(or_zero(o, "initDx", n));
    out_n = k * r * in;
  } else if (a.op == "linearBackward") {
    c.act = upload(to_bf16(floats(o, "dy", k * n)));
    c.f0 = upload(floats(o, "h", k * M * r));
    c.f1 = upload(floats(o, "B", k * in * r));
    c.out = upload(or_zero(o, "init", k * in * r));
    c.out2.resize(k * M * r);
    c.act2 = upload(to_bf16(floats(o, "x", n)));
    c.f2 = upload(floats(o, "A", k * r * in));
    c.out3 = upload(or_zero(o, "initA", k * r * in));
    c.out4 = upload(or_zero(o, "initDx", n));
    out_n = k * in * r;
  } else if (a.op == "downGroup") {
    c.act = upload(to_bf16(floats(o, "x", n)));
    c.f1 = upload(floats(o, "A", k * r * in));
    c.out.resize(k * M * r);
    out_n = k * M * r;
  } else if (a.op == "down") {
    c.act = upload(to_bf16(floats(o, "x", n)));
    c.f1 = upload(floats(o, "A", r * in));
    c.out.resize(M * r);
    out_n = M * r;
  } else if (a.op == "backward") {
    c.f0 = upload(floats(o, "dh", M * r));
    c.act = upload(to_bf16(floats(o, "x", n)));
    c.f1 = upload(floats(o, "A", r * in));
    c.out = upload(or_zero(o, "init", r * in));
    c.out2 = upload(or_zero(o, "initDx", n));
    out_n = r * in;
  } else if (a.op == "up") {
    c.f0 = upload(floats(o, "h", k * M * r));
    c.f1 = upload(floats(o, "B", k * in * r));
    c.act = upload(to_bf16(or_zero(o, "init", k * n)));
  } else {
    c.act = upload(to_bf16(floats(o, "dy", k * n)));
    c.f0 = upload(floats(o, "h", k * M * r));
    c.f1 = upload(floats(o, "B", k * in * r));
    c.out = upload(or_zero(o, "init", k * in * r));
    c.out2.resize(k * M * r);
    out_n = k * in * r;
  }
  c.make_scratch(true);
  cudaStream_t s = nullptr;
  HUKUK_CUDA_CHECK(cudaStreamCreate(&s));
  try {
    c.run(true, s);
    HUKUK_CUDA_CHECK(cudaStreamSynchronize(s));
  } catch (...) {
    cudaStreamDestroy(s);
    throw;
  }
  cudaStreamDestroy(s);
  std::vector<float> res;
  if (a.op == "up") {
    const std::vector<bf16_t> y = download(c.act, k * n);
    res.resize(y.size());
    for (size_t i = 0; i < y.size(); ++i) res[i] = bf16_to_f32(y[i].bits);
  } else {
    res = download(c.out, out_n);
    if (a.op == "backward" || a.op == "backwardGroup") {
      std::vector<float> dx = a.no_dx ? std::vector<float>(n, 0.f) : download(c.out2, n);
      res.insert(res.end(), dx.begin(), dx.end());
    } else if (a.op == "linearBackward") {
      const std::vector<float> gA = download(c.out3, k * r * in);
      const std::vector<float> dx = a.no_dx ? std::vector<float>(n, 0.f) : download(c.out4, n);
      res.insert(res.end(), gA.begin(), gA.end());
      res.insert(res.end(), dx.begin(), dx.end());
    } else if (a.op == "upBackward") {
      std::vector<float> dh = download(c.out2, k * M * r);
      res.insert(res.end(), dh.begin(), dh.end());
    }
  }
  return new_typed_array<float>(info.Env(), res.data(), res.size());
}

// µs per call, replayed from a graph of `reps` calls (launch overhead gone, as in the engine's step)
double graph_us(Case& c, bool tc, cudaStream_t s, int reps) {
  for (int i = 0; i < 3; ++i) c.run(tc, s);
  HUKUK_CUDA_CHECK(cudaStreamSynchronize(s));
  cudaGraph_t g = nullptr;
  cudaGraphExec_t exec = nullptr;
  HUKUK_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
  try {
    for (int i = 0; i < reps; ++i) c.run(tc, s);
  } catch (...) {
    cudaStreamEndCapture(s, &g);
    if (g) cudaGraphDestroy(g);
    throw;
  }
  HUKUK_CUDA_CHECK(cudaStreamEndCapture(s, &g));
  const cudaError_t ie = cudaGraphInstantiate(&exec, g, 0);
  cudaGraphDestroy(g);
  HUKUK_CUDA_CHECK(ie);
  HUKUK_CUDA_CHECK(cudaGraphLaunch(exec, s));
  HUKUK_CUDA_CHECK(cudaStreamSynchronize(s));
  hukuk::cuda::EventTimer t;
  const double us = t.us(s, reps, [&] { HUKUK_CUDA_CHECK(cudaGraphLaunch(exec, s)); });
  cudaGraphExecDestroy(exec);
  return us;
}

Napi::Value ops_lora_tc_bench(const Napi::CallbackInfo& info) {
  require_gpu("_opsLoraTcBench");
  HUKUK_CHECK(info[0].IsObject(), "ENGINE_INVALID_ARG", "_opsLoraTcBench: options must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  Case c;
  c.a = parse(o);
  c.a.seed = c.a.seed ? c.a.seed : 1234;
  c.a.site = c.a.site ? c.a.site : 77;
  const TcArgs& a = c.a;
  const int reps = o.Has("reps") ? int(int_arg(o.Get("reps"), "reps")) : 50;
  HUKUK_CHECK(reps >= 1 && reps <= 10000, "ENGINE_INVALID_ARG", "_opsLoraTcBench: reps in 1..10000");
  const size_t M = size_t(a.M), in = size_t(a.in), r = size_t(a.r), n = M * in, k = size_t(a.members);
  std::vector<float> big(k * n), small(k * M * r), w(k * in * r);
  hukuk::cuda::fill_random(big, 1);
  hukuk::cuda::fill_random(small, 2);
  hukuk::cuda::fill_random(w, 3);
  double bytes = 0;
  if (a.op == "backwardGroup") {
    c.f0 = upload(small);
    c.act = upload(to_bf16(std::vector<float>(big.begin(), big.begin() + n)));
    c.f1 = upload(w);
    c.out = upload(std::vector<float>(k * r * in, 0.f));
    c.out2 = upload(std::vector<float>(big.begin(), big.begin() + n));
    bytes = 2.0 * n + 4.0 * (k * M * r + 2.0 * k * r * in + (a.no_dx ? 0.0 : (a.accumulate ? 2.0 : 1.0) * n));
  } else if (a.op == "linearBackward") {
    c.act = upload(to_bf16(big));
    c.f0 = upload(small);
    c.f1 = upload(w);
    c.out = upload(std::vector<float>(k * in * r, 0.f));
    c.out2.resize(k * M * r);
    c.act2 = upload(to_bf16(std::vector<float>(big.begin(), big.begin() + n)));
    c.f2 = upload(w);
    c.out3 = upload(std::vector<float>(k * r * in, 0.f));
    c.out4 = upload(std::vector<float>(big.begin(), big.begin() + n));
    // dy, h, B, gB (up) + x, A, gA, dx (group); dh written and read back once
    bytes = 2.0 * k * n + 4.0 * (k * M * r + 2.0 * k * in * r) + 2.0 * n +
            4.0 * (2.0 * k * M * r + 2.0 * k * r * in + (a.no_dx ? 0.0 : (a.accumulate ? 2.0 : 1.0) * n));
  } else if (a.op == "downGroup") {
    c.act = upload(to_bf16(std::vector<float>(big.begin(), big.begin() + n)));
    c.f1 = upload(w);
    c.out.resize(k * M * r);
    bytes = 2.0 * n + 4.0 * k * (r * in + M * r);
  } else if (a.op == "down") {
    c.act = upload(to_bf16(std::vector<float>(big.begin(), big.begin() + n)));
    c.f1 = upload(std::vector<float>(w.begin(), w.begin() + r * in));
    c.out.resize(M * r);
    bytes = 2.0 * n + 4.0 * (r * in + M * r);
  } else if (a.op == "backward") {
    c.f0 = upload(std::vector<float>(small.begin(), small.begin() + M * r));
    c.act = upload(to_bf16(std::vector<float>(big.begin(), big.begin() + n)));
    c.f1 = upload(std::vector<float>(w.begin(), w.begin() + r * in));
    c.out = upload(std::vector<float>(r * in, 0.f));
    c.out2 = upload(std::vector<float>(big.begin(), big.begin() + n));
    bytes = 2.0 * n + 4.0 * (M * r + 2.0 * r * in + (a.no_dx ? 0.0 : (a.accumulate ? 2.0 : 1.0) * n));
  } else if (a.op == "up") {
    c.f0 = upload(small);
    c.f1 = upload(w);
    c.act = upload(to_bf16(big));
    bytes = 2.0 * 2.0 * k * n + 4.0 * (k * M * r + k * in * r);
  } else {
    c.act = upload(to_bf16(big));
    c.f0 = upload(small);
    c.f1 = upload(w);
    c.out = upload(std::vector<float>(k * in * r, 0.f));
    c.out2.resize(k * M * r);
    bytes = 2.0 * k * n + 4.0 * (2.0 * k * M * r + 2.0 * k * in * r);
  }
  // scratch for every mask measured here (the workspace sizes follow it)
  for (int mask : {a.fast_bwd, 0}) {
    const FastBwdScope fast(mask);
    c.make_scratch(true);
    c.make_scratch(false);
  }
  cudaStream_t s = nullptr;
  HUKUK_CUDA_CHECK(cudaStreamCreate(&s));
  double tc_us = 0, ref_us = 0, base_us = -1, copy_gbs = 0;
  try {
    {
      const FastBwdScope fast(a.fast_bwd);
      tc_us = graph_us(c, true, s, reps);
    }
    if (c.group_op()) {  // the reference: lora_tc as today
      const FastBwdScope fast(0);
      ref_us = graph_us(c, true, s, reps);
      base_us = ref_us;
    } else {
      ref_us = graph_us(c, false, s, reps);
      if (a.fast_bwd >= 0) {
        const FastBwdScope fast(0);
        base_us = graph_us(c, true, s, reps);
      }
    }
    // copy bandwidth on buffers of the streamed operand's size (read + write bytes / s)
    const size_t cb = std::max<size_t>(size_t(bytes / 2), 1 << 20);
    DeviceBuffer<char> src(cb), dst(cb);
    HUKUK_CUDA_CHECK(cudaMemsetAsync(src.get(), 0, cb, s));
    HUKUK_CUDA_CHECK(cudaMemcpyAsync(dst.get(), src.get(), cb, cudaMemcpyDeviceToDevice, s));
    hukuk::cuda::EventTimer t;
    const double cu = t.us(s, 10, [&] {
      for (int i = 0; i < 10; ++i) HUKUK_CUDA_CHECK(cudaMemcpyAsync(dst.get(), src.get(), cb, cudaMemcpyDeviceToDevice, s));
    });
    copy_gbs = 2.0 * double(cb) / (cu * 1e-6) / 1e9;
  } catch (...) {
    cudaStreamDestroy(s);
    throw;
  }
  cudaStreamDestroy(s);
  Napi::Object res = Napi::Object::New(info.Env());
  res.Set("tcUs", tc_us);
  res.Set("refUs", ref_us);
  if (base_us >= 0) res.Set("tcBaseUs", base_us);
  res.Set("bytes", bytes);
  res.Set("copyGBs", copy_gbs);
  res.Set("floorUs", copy_gbs > 0 ? bytes / (copy_gbs * 1e9) * 1e6 : -1.0);
  return res;
}

// _opsLoraTcFastBwd(mask): the process-wide override of HUKUK_T5_LORA_TC_FAST_BWD (-1: the
// environment's again) for tests that run the engine under each mask; returns the mask now in force.
// Set it before a model is loaded (its plan sizes the workspace under it) and keep it until disposed.
Napi::Value ops_lora_tc_fast_bwd(const Napi::CallbackInfo& info) {
  if (info.Length() > 0) oc::tc::set_fast_bwd_mask_for_tests(int(int_arg(info[0], "mask")));
  return Napi::Number::New(info.Env(), double(oc::tc::fast_bwd_mask()));
}

Napi::Value ops_lora_tc_supported(const Napi::CallbackInfo& info) {
  const int r = int(int_arg(info[0], "r")), width = int(int_arg(info[1], "width"));
  return Napi::Boolean::New(info.Env(), oc::tc::supported(r, width));
}
#endif  // HUKUK_CUDA

}  // namespace

static void init_ops_lora_tc(Napi::Env env, Napi::Object exports) {
#if defined(HUKUK_CUDA)
  export_fn(env, exports, "_opsLoraTc", napi_entry<ops_lora_tc>);
  export_fn(env, exports, "_opsLoraTcBench", napi_entry<ops_lora_tc_bench>);
  export_fn(env, exports, "_opsLoraTcSupported", napi_entry<ops_lora_tc_supported>);
  export_fn(env, exports, "_opsLoraTcFastBwd", napi_entry<ops_lora_tc_fast_bwd>);
#else
  (void)env;
  (void)exports;
#endif
}

HUKUK_REGISTER(ops_lora_tc, init_ops_lora_tc);

}  // namespace hukuk
