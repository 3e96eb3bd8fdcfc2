// The optimizer on a loaded model (engine.T5Model from native/src/t5):
//
//   engine.optimizerStep(model, { lr, beta1, beta2, eps, weightDecay, maxGradNorm, gradScale, step })
//       -> { gradNorm }   scale accumulated grads -> clip by global norm -> AdamW over lora_params()
//   engine.getOptimizerState(model) -> [{ name, expAvg: Float32Array, expAvgSq: Float32Array }]
//   engine.setOptimizerState(model, entries)   (names and lengths must match the model's)
//
// The moments live in the model's ParamRef buffers (CPU or GPU); these copies are what a
// checkpoint stores so a run can resume exactly.
#include <napi.h>

#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/cuda_runtime.h"
#include "core/napi_error.h"
#include "core/registry.h"
#include "t5/t5_napi.h"
#include "train/train_napi.h"

namespace hukuk::train {

static std::vector<ParamRef> params_of(const Napi::Value& model) {
  T5Model* m = unwrap_t5(model);
  HUKUK_CHECK(m->has_lora(), "ENGINE_INVALID_ARG", "the model has no LoRA adapter to train (call addLora first)");
  std::vector<ParamRef> ps = m->lora_params();
  HUKUK_CHECK(!ps.empty(), "ENGINE_INVALID_ARG", "the model has no trainable parameters");
  return ps;
}

static void copy_out(float* dst, const float* src, size_t n, DeviceKind dev) {
#if defined(HUKUK_CUDA)
  if (dev == DeviceKind::CUDA) {
    HUKUK_CUDA_CHECK(cudaMemcpy(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost));
    return;
  }
#endif
  (void)dev;
  std::memcpy(dst, src, n * sizeof(float));
}

static void copy_in(float* dst, const float* src, size_t n, DeviceKind dev) {
#if defined(HUKUK_CUDA)
  if (dev == DeviceKind::CUDA) {
    HUKUK_CUDA_CHECK(cudaMemcpy(dst, src, n * sizeof(float), cudaMemcpyHostToDevice));
    return;
  }
#endif
  (void)dev;
  std::memcpy(dst, src, n * sizeof(float));
}

static Napi::Value optimizer_step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<ParamRef> ps = params_of(info[0]);
  const OptimStepOptions s = step_options(info[1]);
  const double norm = run_step(ps, s);
#if defined(HUKUK_CUDA)
  if (!ps.empty() && ps[0].device == DeviceKind::CUDA) HUKUK_CUDA_CHECK(cudaDeviceSynchronize());
#endif
  Napi::Object out = Napi::Object::New(env);
  out.Set("gradNorm", Napi::Number::New(env, norm));
  return out;
}

static Napi::Value get_optimizer_state(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<ParamRef> ps = params_of(info[0]);
  Napi::Array out = Napi::Array::New(env, ps.size());
  for (size_t i = 0; i < ps.size(); i++) {
    const ParamRef& p = ps[i];
    auto m = Napi::Float32Array::New(env, p.n);
    auto v = Napi::Float32Array::New(env, p.n);
    copy_out(m.Data(), p.m, p.n, p.device);
    copy_out(v.Data(), p.v, p.n, p.device);
    Napi::Object e = Napi::Object::New(env);
    e.Set("name", Napi::String::New(env, p.name));
    e.Set("expAvg", m);
    e.Set("expAvgSq", v);
    out.Set(static_cast<uint32_t>(i), e);
  }
  return out;
}

static Napi::Value set_optimizer_state(const Napi::CallbackInfo& info) {
  std::vector<ParamRef> ps = params_of(info[0]);
  HUKUK_CHECK(info[1].IsArray(), "ENGINE_INVALID_ARG", "optimizer state must be an array");
  Napi::Array arr = info[1].As<Napi::Array>();
  std::unordered_map<std::string, Napi::Object> by_name;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    HUKUK_CHECK(arr.Get(i).IsObject(), "ENGINE_INVALID_ARG", "optimizer state entries must be objects");
    Napi::Object e = arr.Get(i).As<Napi::Object>();
    by_name.emplace(string_arg(e.Get("name"), "name"), e);
  }
  HUKUK_CHECK(by_name.size() == ps.size(), "ENGINE_CORRUPT",
              "optimizer state has " + std::to_string(by_name.size()) + " tensors, the adapter has " +
                  std::to_string(ps.size()));
  // Every entry is checked before any is copied: a bad checkpoint leaves the moments untouched
  // instead of half restored.
  std::vector<std::pair<ArrayArg<float>, ArrayArg<float>>> src;
  for (const ParamRef& p : ps) {
    auto it = by_name.find(p.name);
    HUKUK_CHECK(it != by_name.end(), "ENGINE_CORRUPT", "optimizer state lacks '" + p.name + "'");
    auto m = typed_array_arg<float>(it->second.Get("expAvg"), "expAvg");
    auto v = typed_array_arg<float>(it->second.Get("expAvgSq"), "expAvgSq");
    HUKUK_CHECK(m.length == p.n && v.length == p.n, "ENGINE_CORRUPT",
                "optimizer state for '" + p.name + "' has the wrong length");
    src.emplace_back(m, v);
  }
  for (size_t i = 0; i < ps.size(); i++) {
    copy_in(ps[i].m, src[i].first.data, ps[i].n, ps[i].device);
    copy_in(ps[i].v, src[i].second.data, ps[i].n, ps[i].device);
  }
  return info.Env().Undefined();
}

static void init_train_model(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "optimizerStep", napi_entry<optimizer_step>);
  export_fn(env, exports, "getOptimizerState", napi_entry<get_optimizer_state>);
  export_fn(env, exports, "setOptimizerState", napi_entry<set_optimizer_state>);
}

}  // namespace hukuk::train

HUKUK_REGISTER(train_model, hukuk::train::init_train_model);
