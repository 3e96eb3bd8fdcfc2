// Test and benchmark hook for the fused attention (ops/flash_attention.cu); not part of the app's API.
//   engine._opsFlashAttention({
//     mode: 'fused' | 'unfused' | 'reference',   // flash kernels | GEMM + softmax kernels (as t5_cuda) | CPU fp32
//     B, H, Tq, Tk, dk,
//     q: Float32Array [B*Tq*H*dk], k, v: [B*Tk*H*dk], dctx: [B*Tq*H*dk]   (rows layout)
//     bias?: Float32Array [H*Tq*Tk], keyMask?: Int32Array [B*Tk] (1 = keep), causal?: boolean,
//     dropout?: number, seed?: number, site?: number,
//     precision?: 'bf16' | 'f32'   (unfused GEMMs; default bf16),
//     reps?: number                (GPU modes: timed repetitions after the first run; default 0)
//     dropoutBits?: boolean        (fused: the forward records the dropout mask for the backward)
//     biasDiag?: boolean           (fused: pass the bias in its Toeplitz form, SoftmaxArgs::bias_diag,
//                                   built from `bias`, which must then be Toeplitz per head)
//     io?: 'f32' | 'bf16'          (fused: the kernels' I/O type; bf16 rounds q/k/v to bf16 on the
//                                   host and widens ctx/dq/dk/dv back; dctx stays fp32; default f32)
//     bwd3Blocks?, fwdIdx64?, bwdDot16?, bwdOneTile?: boolean   (fused, bf16 I/O: force the kernels'
//                                   switches HUKUK_FLASH_BWD_3BLOCKS / _FWD_IDX64 / _BWD_DOT16 /
//                                   _BWD_ONE_TILE on (true; bwdOneTile also a level number 0-2) or off
//                                   (false) for this call; absent: the env)
//   }) -> { ctx, dq, dk, dv: Float32Array (rows layout), fwdMs, bwdMs: number (mean per rep, -1 untimed),
//          bwd3Blocks, fwdIdx64, bwdDot16: boolean (fused, bf16 I/O: whether each of those paths ran),
//          bwdOneTile: number (0: the three launches, 1: one block, 2: the cluster pair) }
// The GPU modes copy the inputs up once; fwdMs/bwdMs time only the device work (CUDA events).
#include <napi.h>

#include <chrono>
#include <vector>

#include "core/half.h"
#include "core/napi_error.h"
#include "core/registry.h"
#include "ops/attention.h"

#if defined(HUKUK_CUDA)
#include "core/cuda_runtime.h"
#include "ops/flash_attention.h"
#include "ops/ops_cuda.h"
#endif

namespace hukuk {

namespace {

struct FlashCase {
  int B = 0, H = 0, Tq = 0, Tk = 0, dk = 0;
  ArrayArg<float> q, k, v, dctx, bias;
  ArrayArg<int32_t> key_mask;
  bool causal = false;
  float dropout = 0.f;
  uint64_t seed = 0, site = 0;
  int reps = 0;
  bool dropout_bits = false;
  bool bf16_io = false;
  bool bias_diag = false;
  int bwd_three_blocks = -1, fwd_idx64 = -1, bwd_dot16 = -1, bwd_one_tile = -1;  // -1: the env decides; 0 / 1: forced
};

struct FlashResult {
  std::vector<float> ctx, dq, dk, dv;
  double fwd_ms = -1, bwd_ms = -1;
  bool bwd_three_blocks = false, fwd_idx64 = false, bwd_dot16 = false;  // the paths that ran (bf16 I/O)
  int bwd_one_tile = 0;  // 0: the three launches, 1: one block, 2: the cluster pair
};

FlashResult run_reference(const FlashCase& c) {
  ops::AttnArgs a;
  a.B = c.B; a.H = c.H; a.Tq = c.Tq; a.Tk = c.Tk; a.dk = c.dk;
  const int64_t ld = int64_t(c.H) * c.dk;
  a.q = a.o = ops::rows_layout(c.Tq, ld, c.dk);
  a.k = a.v = ops::rows_layout(c.Tk, ld, c.dk);
  a.bias = c.bias.data;
  a.key_mask = c.key_mask.data;
  a.key_mask_ld = c.Tk;
  a.causal = c.causal;
  a.dropout = c.dropout;
  a.seed = c.seed;
  a.site = c.site;
  FlashResult r;
  r.ctx.resize(c.q.length);
  r.dq.resize(c.q.length);
  r.dk.resize(c.k.length);
  r.dv.resize(c.v.length);
  std::vector<float> P(size_t(c.B) * c.H * c.Tq * c.Tk);
  auto t0 = std::chrono::steady_clock::now();
  ops::attention_forward(a, c.q.data, c.k.data, c.v.data, P.data(), r.ctx.data());
  auto t1 = std::chrono::steady_clock::now();
  ops::attention_backward(a, c.q.data, c.k.data, c.v.data, P.data(), c.dctx.data, r.dq.data(), r.dk.data(),
                          r.dv.data());
  auto t2 = std::chrono::steady_clock::now();
  r.fwd_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  r.bwd_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
  return r;
}

#if defined(HUKUK_CUDA)
namespace oc = ops::cuda;
using cuda::DeviceBuffer;

template <typename T>
DeviceBuffer<T> upload(const T* src, size_t n) {
  DeviceBuffer<T> d(n);
  if (n) HUKUK_CUDA_CHECK(cudaMemcpy(d.get(), src, n * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}
template <typename T>
std::vector<T> download(const DeviceBuffer<T>& d) {
  std::vector<T> out(d.size());
  if (!out.empty()) HUKUK_CUDA_CHECK(cudaMemcpy(out.data(), d.get(), d.bytes(), cudaMemcpyDeviceToHost));
  return out;
}

// Mean milliseconds of `reps` calls of fn on stream 0 (-1 when reps == 0).
template <typename F>
double time_ms(int reps, F&& fn) {
  if (reps <= 0) return -1;
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

std::vector<bf16_t> to_bf16(const float* src, size_t n) {
  std::vector<bf16_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i].bits = f32_to_bf16(src[i]);
  return out;
}
std::vector<float> widen(const DeviceBuffer<bf16_t>& d) {
  std::vector<bf16_t> h = download(d);
  std::vector<float> out(h.size());
  for (size_t i = 0; i < h.size(); ++i) out[i] = bf16_to_f32(h[i].bits);
  return out;
}

// The fused kernels with bf16 I/O (ctx/dq/dk/dv widened to fp32 for the caller).
FlashResult run_fused_bf16(const FlashCase& c, const oc::SoftmaxArgs& a, const float* dctx) {
  const cudaStream_t s = 0;
  // the kernels' switches forced on / off for this call only (back to the env on every exit)
  struct SwitchOverride {
    explicit SwitchOverride(const oc::FlashTestSwitches& sw) { oc::flash_set_test_switches(sw); }
    ~SwitchOverride() { oc::flash_set_test_switches(oc::FlashTestSwitches{}); }
  } switch_override(oc::FlashTestSwitches{c.bwd_three_blocks, c.fwd_idx64, c.bwd_dot16, c.bwd_one_tile});
  const size_t nq = c.q.length, nk = c.k.length;
  const auto hq = to_bf16(c.q.data, nq), hk = to_bf16(c.k.data, nk), hv = to_bf16(c.v.data, nk);
  auto q = upload(hq.data(), nq), k = upload(hk.data(), nk), v = upload(hv.data(), nk);
  DeviceBuffer<bf16_t> ctx(nq), dq(nq), dk(nk), dv(nk);
  DeviceBuffer<float> lse(size_t(c.B) * c.H * c.Tq), scratch(oc::flash_backward_scratch_floats(a, c.dk, true));
  DeviceBuffer<uint64_t> bits(c.dropout_bits ? size_t(oc::flash_dropout_bits_words(a)) : 0);
  auto fwd = [&] {
    oc::flash_attention_forward(a, c.dk, q.get(), k.get(), v.get(), ctx.get(), lse.get(), s, bits.get());
  };
  auto bwd = [&] {
    oc::flash_attention_backward(a, c.dk, q.get(), k.get(), v.get(), ctx.get(), lse.get(), dctx, dq.get(), dk.get(),
                                 dv.get(), scratch.get(), s, bits.get());
  };
  fwd();
  bwd();
  HUKUK_CUDA_CHECK(cudaDeviceSynchronize());
  FlashResult r;
  r.bwd_three_blocks = oc::flash_backward_three_blocks(a, true);
  r.fwd_idx64 = oc::flash_forward_idx64(a, true);
  r.bwd_dot16 = oc::flash_backward_dot16(a, true);
  r.bwd_one_tile = oc::flash_backward_one_tile(a, true);
  r.fwd_ms = time_ms(c.reps, fwd);
  r.bwd_ms = time_ms(c.reps, bwd);
  r.ctx = widen(ctx);
  r.dq = widen(dq);
  r.dk = widen(dk);
  r.dv = widen(dv);
  return r;
}

FlashResult run_gpu(const FlashCase& c, bool fused, oc::Precision prec) {
  const cudaStream_t s = 0;
  const int64_t BH = int64_t(c.B) * c.H, nq = c.q.length, nk = c.k.length;
  auto q = upload(c.q.data, nq), k = upload(c.k.data, nk), v = upload(c.v.data, nk);
  auto dctx = upload(c.dctx.data, nq);
  DeviceBuffer<float> bias, ctx(nq), dq(nq), dk(nk), dv(nk);
  if (c.bias.data) bias = upload(c.bias.data, c.bias.length);
  DeviceBuffer<float> bias_diag;
  if (c.bias_diag && c.bias.data) {
    HUKUK_CHECK(oc::flash_bias_is_toeplitz(c.bias.data, c.H, c.Tq, c.Tk), "ENGINE_INVALID_ARG",
                "_opsFlashAttention: biasDiag needs a bias that depends on j - i only");
    std::vector<float> diag(size_t(c.H) * (c.Tq + c.Tk - 1));
    oc::flash_bias_diag_from_table(c.bias.data, c.H, c.Tq, c.Tk, diag.data());
    bias_diag = upload(diag.data(), diag.size());
  }
  DeviceBuffer<int32_t> km;
  if (c.key_mask.data) km = upload(c.key_mask.data, c.key_mask.length);
  auto seed = upload(&c.seed, 1);

  oc::SoftmaxArgs a;
  a.B = c.B; a.H = c.H; a.Tq = c.Tq; a.Tk = c.Tk;
  a.bias = bias.get();
  if (fused) a.bias_diag = bias_diag.get();  // the unfused path reads the table
  a.key_mask = km.get();
  a.key_mask_ld = c.Tk;
  a.causal = c.causal;
  a.dropout = c.dropout;
  a.seed = seed.get();
  a.site = c.site;

  FlashResult r;
  if (fused) {
    HUKUK_CHECK(oc::flash_supported(a, c.dk), "ENGINE_INVALID_ARG", "_opsFlashAttention: flash_supported() is false");
    if (c.bf16_io) return run_fused_bf16(c, a, dctx.get());
    DeviceBuffer<float> lse(BH * c.Tq), scratch(oc::flash_backward_scratch_floats(a, c.dk, false));
    DeviceBuffer<uint64_t> bits(c.dropout_bits ? size_t(oc::flash_dropout_bits_words(a)) : 0);
    auto fwd = [&] {
      oc::flash_attention_forward(a, c.dk, q.get(), k.get(), v.get(), ctx.get(), lse.get(), s, bits.get());
    };
    auto bwd = [&] {
      oc::flash_attention_backward(a, c.dk, q.get(), k.get(), v.get(), ctx.get(), lse.get(), dctx.get(), dq.get(),
                                   dk.get(), dv.get(), scratch.get(), s, bits.get());
    };
    fwd();
    bwd();
    HUKUK_CUDA_CHECK(cudaDeviceSynchronize());
    r.fwd_ms = time_ms(c.reps, fwd);
    r.bwd_ms = time_ms(c.reps, bwd);
  } else {
    // what t5_cuda.cpp's attention_fwd / attention_bwd do, with the rows<->heads permutes the
    // fused path makes unnecessary
    const int dk_ = c.dk, Tq = c.Tq, Tk = c.Tk, B = c.B, H = c.H;
    const int64_t nP = BH * Tq * Tk;
    DeviceBuffer<float> qh(nq), kh(nk), vh(nk), P(nP), Pd(c.dropout > 0.f ? nP : 0), ctxh(nq), gctx(nq), gq(nq),
        gk(nk), gv(nk), dP(nP);
    const long long sq = (long long)Tq * dk_, sk = (long long)Tk * dk_, sp = (long long)Tq * Tk;
    auto fwd = [&] {
      oc::rows_to_heads(q.get(), qh.get(), B, H, Tq, dk_, s);
      oc::rows_to_heads(k.get(), kh.get(), B, H, Tk, dk_, s);
      oc::rows_to_heads(v.get(), vh.get(), B, H, Tk, dk_, s);
      oc::gemm(s, prec, false, true, Tq, Tk, dk_, 1.f, qh.get(), dk_, sq, kh.get(), dk_, sk, 0.f, P.get(), Tk, sp,
               int(BH));
      oc::softmax_forward(a, P.get(), Pd.get(), s);
      const float* pd = c.dropout > 0.f ? Pd.get() : P.get();
      oc::gemm(s, prec, false, false, Tq, dk_, Tk, 1.f, pd, Tk, sp, vh.get(), dk_, sk, 0.f, ctxh.get(), dk_, sq,
               int(BH));
      oc::heads_to_rows(ctxh.get(), ctx.get(), B, H, Tq, dk_, s);
    };
    auto bwd = [&] {
      oc::rows_to_heads(dctx.get(), gctx.get(), B, H, Tq, dk_, s);
      const float* pd = P.get();
      if (c.dropout > 0.f) {
        oc::dropped_probs(a, P.get(), Pd.get(), s);
        pd = Pd.get();
      }
      oc::gemm(s, prec, true, false, Tk, dk_, Tq, 1.f, pd, Tk, sp, gctx.get(), dk_, sq, 0.f, gv.get(), dk_, sk,
               int(BH));
      oc::gemm(s, prec, false, true, Tq, Tk, dk_, 1.f, gctx.get(), dk_, sq, vh.get(), dk_, sk, 0.f, dP.get(), Tk, sp,
               int(BH));
      oc::softmax_backward(a, P.get(), dP.get(), s);
      oc::gemm(s, prec, false, false, Tq, dk_, Tk, 1.f, dP.get(), Tk, sp, kh.get(), dk_, sk, 0.f, gq.get(), dk_, sq,
               int(BH));
      oc::gemm(s, prec, true, false, Tk, dk_, Tq, 1.f, dP.get(), Tk, sp, qh.get(), dk_, sq, 0.f, gk.get(), dk_, sk,
               int(BH));
      oc::heads_to_rows(gq.get(), dq.get(), B, H, Tq, dk_, s);
      oc::heads_to_rows(gk.get(), dk.get(), B, H, Tk, dk_, s);
      oc::heads_to_rows(gv.get(), dv.get(), B, H, Tk, dk_, s);
    };
    fwd();
    bwd();
    HUKUK_CUDA_CHECK(cudaDeviceSynchronize());
    r.fwd_ms = time_ms(c.reps, fwd);
    r.bwd_ms = time_ms(c.reps, bwd);
  }
  r.ctx = download(ctx);
  r.dq = download(dq);
  r.dk = download(dk);
  r.dv = download(dv);
  return r;
}
#endif

Napi::Value ops_flash_attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) HUKUK_FAIL("ENGINE_INVALID_ARG", "_opsFlashAttention: options must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  const std::string mode = string_arg(o.Get("mode"), "mode");
  FlashCase c;
  c.B = int(int_arg(o.Get("B"), "B"));
  c.H = int(int_arg(o.Get("H"), "H"));
  c.Tq = int(int_arg(o.Get("Tq"), "Tq"));
  c.Tk = int(int_arg(o.Get("Tk"), "Tk"));
  c.dk = int(int_arg(o.Get("dk"), "dk"));
  HUKUK_CHECK(c.B > 0 && c.H > 0 && c.Tq > 0 && c.Tk > 0 && c.dk > 0, "ENGINE_INVALID_ARG",
              "_opsFlashAttention: bad sizes");
  const size_t nq = size_t(c.B) * c.Tq * c.H * c.dk, nk = size_t(c.B) * c.Tk * c.H * c.dk;
  c.q = typed_array_arg<float>(o.Get("q"), "q");
  c.k = typed_array_arg<float>(o.Get("k"), "k");
  c.v = typed_array_arg<float>(o.Get("v"), "v");
  c.dctx = typed_array_arg<float>(o.Get("dctx"), "dctx");
  HUKUK_CHECK(c.q.length == nq && c.dctx.length == nq && c.k.length == nk && c.v.length == nk, "ENGINE_INVALID_ARG",
              "_opsFlashAttention: q/k/v/dctx sizes");
  if (o.Has("bias") && !o.Get("bias").IsUndefined() && !o.Get("bias").IsNull()) {
    c.bias = typed_array_arg<float>(o.Get("bias"), "bias");
    HUKUK_CHECK(c.bias.length == size_t(c.H) * c.Tq * c.Tk, "ENGINE_INVALID_ARG", "_opsFlashAttention: bias size");
  }
  if (o.Has("keyMask") && !o.Get("keyMask").IsUndefined() && !o.Get("keyMask").IsNull()) {
    c.key_mask = typed_array_arg<int32_t>(o.Get("keyMask"), "keyMask");
    HUKUK_CHECK(c.key_mask.length == size_t(c.B) * c.Tk, "ENGINE_INVALID_ARG", "_opsFlashAttention: keyMask size");
  }
  c.causal = o.Has("causal") && o.Get("causal").ToBoolean().Value();
  if (o.Has("dropout")) c.dropout = float(o.Get("dropout").As<Napi::Number>().DoubleValue());
  HUKUK_CHECK(c.dropout >= 0.f && c.dropout < 1.f, "ENGINE_INVALID_ARG", "_opsFlashAttention: dropout in [0, 1)");
  if (o.Has("seed")) c.seed = uint64_t(int_arg(o.Get("seed"), "seed"));
  if (o.Has("site")) c.site = uint64_t(int_arg(o.Get("site"), "site"));
  if (o.Has("reps")) c.reps = int(int_arg(o.Get("reps"), "reps"));
  c.dropout_bits = o.Has("dropoutBits") && o.Get("dropoutBits").ToBoolean().Value();
  c.bias_diag = o.Has("biasDiag") && o.Get("biasDiag").ToBoolean().Value();
  auto tri = [&](const char* key, int& out) {
    if (o.Has(key) && !o.Get(key).IsUndefined()) out = o.Get(key).ToBoolean().Value() ? 1 : 0;
  };
  tri("bwd3Blocks", c.bwd_three_blocks);
  tri("fwdIdx64", c.fwd_idx64);
  tri("bwdDot16", c.bwd_dot16);
  // bwdOneTile: true = level 1 (Tk <= 64), or the level as a number (2: also Tk <= 128 on sm_90)
  if (o.Has("bwdOneTile") && !o.Get("bwdOneTile").IsUndefined()) {
    const Napi::Value v = o.Get("bwdOneTile");
    c.bwd_one_tile = v.IsNumber() ? int(int_arg(v, "bwdOneTile")) : (v.ToBoolean().Value() ? 1 : 0);
  }
  if (o.Has("io") && !o.Get("io").IsUndefined()) {
    const std::string io = string_arg(o.Get("io"), "io");
    HUKUK_CHECK(io == "f32" || io == "bf16", "ENGINE_INVALID_ARG", "_opsFlashAttention: io f32|bf16");
    c.bf16_io = io == "bf16";
  }

  FlashResult r;
  if (mode == "reference") {
    r = run_reference(c);
  } else if (mode == "fused" || mode == "unfused") {
#if defined(HUKUK_CUDA)
    HUKUK_CHECK(cuda::device_count() > 0, "ENGINE_NO_GPU", "_opsFlashAttention: no CUDA device");
    const std::string prec = o.Has("precision") ? string_arg(o.Get("precision"), "precision") : "bf16";
    HUKUK_CHECK(prec == "bf16" || prec == "f32", "ENGINE_INVALID_ARG", "_opsFlashAttention: precision bf16|f32");
    r = run_gpu(c, mode == "fused", prec == "f32" ? ops::cuda::Precision::F32 : ops::cuda::Precision::BF16);
#else
    HUKUK_FAIL("ENGINE_NO_GPU", "_opsFlashAttention: the addon was built without CUDA");
#endif
  } else {
    HUKUK_FAIL("ENGINE_INVALID_ARG", "_opsFlashAttention: mode must be fused, unfused or reference");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("ctx", new_typed_array<float>(env, r.ctx.data(), r.ctx.size()));
  out.Set("dq", new_typed_array<float>(env, r.dq.data(), r.dq.size()));
  out.Set("dk", new_typed_array<float>(env, r.dk.data(), r.dk.size()));
  out.Set("dv", new_typed_array<float>(env, r.dv.data(), r.dv.size()));
  out.Set("fwdMs", Napi::Number::New(env, r.fwd_ms));
  out.Set("bwdMs", Napi::Number::New(env, r.bwd_ms));
  out.Set("bwd3Blocks", Napi::Boolean::New(env, r.bwd_three_blocks));
  out.Set("fwdIdx64", Napi::Boolean::New(env, r.fwd_idx64));
  out.Set("bwdDot16", Napi::Boolean::New(env, r.bwd_dot16));
  out.Set("bwdOneTile", Napi::Number::New(env, r.bwd_one_tile));
  return out;
}

void init_flash_attention(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "_opsFlashAttention", napi_entry<ops_flash_attention>);
}

}  // namespace

HUKUK_REGISTER(flash_attention, init_flash_attention);

}  // namespace hukuk
