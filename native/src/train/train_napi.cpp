// Node-API face of native/src/train: the optimizer step on plain arrays (for tests against
// torch values) and the learning-rate schedules. The model-facing calls (optimizerStep on a
// T5Model, optimizer state for checkpoints) are in train_model_napi.cpp.
//
//   engine._adamwTest({ params: [{w, g, m, v, decay?}], lr, beta1, beta2, eps, weightDecay,
//                       maxGradNorm, gradScale, step, device? }) -> { gradNorm }   (updates in place;
//                       device 'cuda' copies the arrays to the GPU, runs the CUDA twin, copies back)
//   engine.lrMultiplier({ schedule, step, warmupSteps, totalSteps }) -> number
#include <napi.h>

#include "core/cuda_runtime.h"
#include "core/napi_error.h"
#include "core/registry.h"
#include "train/adamw.h"
#include "train/schedule.h"
#include "train/train_napi.h"

namespace hukuk::train {

static double num_opt(const Napi::Object& o, const char* key, double dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) HUKUK_FAIL("ENGINE_INVALID_ARG", std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

static Napi::Object object_arg(const Napi::Value& v, const char* what) {
  if (!v.IsObject()) HUKUK_FAIL("ENGINE_INVALID_ARG", std::string(what) + " must be an object");
  return v.As<Napi::Object>();
}

OptimStepOptions step_options(const Napi::Value& v) {
  Napi::Object o = object_arg(v, "options");
  OptimStepOptions s;
  s.hyper.lr = num_opt(o, "lr", s.hyper.lr);
  s.hyper.beta1 = num_opt(o, "beta1", s.hyper.beta1);
  s.hyper.beta2 = num_opt(o, "beta2", s.hyper.beta2);
  s.hyper.eps = num_opt(o, "eps", s.hyper.eps);
  s.hyper.weight_decay = num_opt(o, "weightDecay", s.hyper.weight_decay);
  s.max_grad_norm = num_opt(o, "maxGradNorm", s.max_grad_norm);
  s.grad_scale = num_opt(o, "gradScale", s.grad_scale);
  s.step = int_arg(o.Get("step"), "step");
  return s;
}

double run_step(const std::vector<ParamRef>& params, const OptimStepOptions& s) {
  HUKUK_CHECK(s.grad_scale > 0, "ENGINE_INVALID_ARG", "gradScale must be > 0");
  scale_grads(params, static_cast<float>(s.grad_scale));
  const double norm = clip_grad_norm(params, s.max_grad_norm);
  adamw_step(params, s.hyper, s.step);
  return norm;
}

static Napi::Value adamw_test(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = object_arg(info[0], "options");
  Napi::Value list = o.Get("params");
  HUKUK_CHECK(list.IsArray(), "ENGINE_INVALID_ARG", "params must be an array");
  Napi::Array arr = list.As<Napi::Array>();
  std::vector<ParamRef> params;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Object p = object_arg(arr.Get(i), "params[i]");
    auto w = typed_array_arg<float>(p.Get("w"), "w");
    auto g = typed_array_arg<float>(p.Get("g"), "g");
    auto m = typed_array_arg<float>(p.Get("m"), "m");
    auto v = typed_array_arg<float>(p.Get("v"), "v");
    HUKUK_CHECK(g.length == w.length && m.length == w.length && v.length == w.length, "ENGINE_INVALID_ARG",
                "w, g, m, v must have the same length");
    Napi::Value decay = p.Get("decay");
    params.push_back({"param" + std::to_string(i), w.data, g.data, m.data, v.data, w.length,
                      decay.IsBoolean() ? decay.As<Napi::Boolean>().Value() : true, DeviceKind::CPU});
  }
  const OptimStepOptions so = step_options(o);
  const bool on_gpu = o.Get("device").IsString() && o.Get("device").As<Napi::String>().Utf8Value() == "cuda";
  double norm = 0;
  if (!on_gpu) {
    norm = run_step(params, so);
  } else {
#if defined(HUKUK_CUDA)
    HUKUK_CHECK(cuda::device_count() > 0, "ENGINE_CUDA", "no CUDA device");
    std::vector<cuda::DeviceBuffer<float>> bufs;
    std::vector<ParamRef> dev = params;
    for (auto& p : dev) {
      float* host[4] = {p.w, p.g, p.m, p.v};
      float** slot[4] = {&p.w, &p.g, &p.m, &p.v};
      for (int k = 0; k < 4; k++) {
        bufs.emplace_back(p.n);
        HUKUK_CUDA_CHECK(cudaMemcpy(bufs.back().get(), host[k], p.n * sizeof(float), cudaMemcpyHostToDevice));
        *slot[k] = bufs.back().get();
      }
      p.device = DeviceKind::CUDA;
    }
    norm = run_step(dev, so);
    for (size_t i = 0; i < dev.size(); i++) {
      HUKUK_CUDA_CHECK(cudaMemcpy(params[i].w, dev[i].w, params[i].n * sizeof(float), cudaMemcpyDeviceToHost));
      HUKUK_CUDA_CHECK(cudaMemcpy(params[i].g, dev[i].g, params[i].n * sizeof(float), cudaMemcpyDeviceToHost));
      HUKUK_CUDA_CHECK(cudaMemcpy(params[i].m, dev[i].m, params[i].n * sizeof(float), cudaMemcpyDeviceToHost));
      HUKUK_CUDA_CHECK(cudaMemcpy(params[i].v, dev[i].v, params[i].n * sizeof(float), cudaMemcpyDeviceToHost));
    }
#else
    HUKUK_FAIL("ENGINE_INVALID_ARG", "this addon was built without CUDA");
#endif
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("gradNorm", Napi::Number::New(env, norm));
  return out;
}

static Napi::Value lr_multiplier_js(const Napi::CallbackInfo& info) {
  Napi::Object o = object_arg(info[0], "options");
  const ScheduleKind kind = parse_schedule(string_arg(o.Get("schedule"), "schedule"));
  const int64_t step = int_arg(o.Get("step"), "step");
  const int64_t warmup = o.Get("warmupSteps").IsUndefined() ? 0 : int_arg(o.Get("warmupSteps"), "warmupSteps");
  const int64_t total = int_arg(o.Get("totalSteps"), "totalSteps");
  return Napi::Number::New(info.Env(), lr_multiplier(kind, step, warmup, total));
}

static void init_train(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "_adamwTest", napi_entry<adamw_test>);
  export_fn(env, exports, "lrMultiplier", napi_entry<lr_multiplier_js>);
}

}  // namespace hukuk::train

HUKUK_REGISTER(train, hukuk::train::init_train);
