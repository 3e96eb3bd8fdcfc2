// engine.T5Model: the JavaScript face of T5Model (see native/index.d.ts, section t5).
// Long calls are synchronous: the engine worker process hosts the addon, so the UI never waits.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>

#include "core/napi_error.h"
#include "core/registry.h"
#include "t5/cuda/t5_cuda.h"
#include "t5/t5_napi.h"

namespace hukuk {

namespace {

// Type tag so unwrap_t5 can tell our objects from any other wrapped object.
const napi_type_tag kT5Tag = {0x6875b0c5a7e14d2bULL, 0x9f3a51c2d08e7e41ULL};

Napi::Object opt_object(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsObject()) HUKUK_FAIL("ENGINE_INVALID_ARG", std::string(what) + " must be an object");
  return info[i].As<Napi::Object>();
}

bool opt_bool(const Napi::Object& o, const char* k, bool def) {
  Napi::Value v = o.Get(k);
  if (v.IsUndefined() || v.IsNull()) return def;
  if (!v.IsBoolean()) HUKUK_FAIL("ENGINE_INVALID_ARG", std::string(k) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

double opt_num(const Napi::Object& o, const char* k, double def) {
  Napi::Value v = o.Get(k);
  if (v.IsUndefined() || v.IsNull()) return def;
  if (!v.IsNumber()) HUKUK_FAIL("ENGINE_INVALID_ARG", std::string(k) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

std::vector<std::string> opt_strings(const Napi::Object& o, const char* k) {
  std::vector<std::string> out;
  Napi::Value v = o.Get(k);
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsArray()) HUKUK_FAIL("ENGINE_INVALID_ARG", std::string(k) + " must be an array of strings");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(string_arg(a.Get(i), k));
  return out;
}

}  // namespace

class T5Js : public Napi::ObjectWrap<T5Js> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "T5Model",
                       {
                           StaticMethod<&T5Js::load_entry>("load"),
                           InstanceAccessor<&T5Js::get_config>("config"),
                           InstanceAccessor<&T5Js::get_has_lora>("hasLora"),
                           InstanceMethod<&T5Js::add_lora>("addLora"),
                           InstanceMethod<&T5Js::load_adapter>("loadAdapter"),
                           InstanceMethod<&T5Js::save_adapter>("saveAdapter"),
                           InstanceMethod<&T5Js::merge_and_save>("mergeAndSave"),
                           InstanceMethod<&T5Js::forward>("forward"),
                           InstanceMethod<&T5Js::forward_backward>("forwardBackward"),
                           InstanceMethod<&T5Js::zero_grad>("zeroGrad"),
                           InstanceMethod<&T5Js::lora_params>("loraParams"),
                           InstanceMethod<&T5Js::lora_tensors>("loraTensors"),
                           InstanceMethod<&T5Js::dispose>("dispose"),
                       });
  }

  explicit T5Js(const Napi::CallbackInfo& info) : Napi::ObjectWrap<T5Js>(info) {
    napi_type_tag_object(info.Env(), info.This(), &kT5Tag);
  }

  T5Model* model() {
    if (!model_) HUKUK_FAIL("ENGINE_DISPOSED", "this T5Model was disposed");
    return model_.get();
  }

  static Napi::FunctionReference* ctor;
  std::shared_ptr<T5Model> model_;  // shared: a generation in flight keeps the model alive past dispose()

 private:
  template <typename F>
  static Napi::Value guard(const Napi::CallbackInfo& info, F&& f) {
    try {
      return f();
    } catch (const Napi::Error&) {
      throw;
    } catch (const EngineError& e) {
      throw to_js_error(info.Env(), e);
    } catch (const std::bad_alloc&) {
      throw to_js_error(info.Env(), "ENGINE_OOM", "out of host memory", "");
    } catch (const std::exception& e) {
      throw to_js_error(info.Env(), "ENGINE_INTERNAL", e.what(), "");
    }
  }

  static Napi::Value load_entry(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      Napi::Object o = opt_object(info, 0, "T5Model.load options");
      LoadOptions lo;
      lo.model_dir = string_arg(o.Get("modelDir"), "modelDir");
      std::string device = o.Get("device").IsUndefined() ? "cpu" : string_arg(o.Get("device"), "device");
      if (device == "cpu") lo.device = DeviceKind::CPU;
      else if (device == "cuda") lo.device = DeviceKind::CUDA;
      else HUKUK_FAIL("ENGINE_INVALID_ARG", "device must be 'cpu' or 'cuda'");
      std::string quant = o.Get("quant").IsUndefined() ? "none" : string_arg(o.Get("quant"), "quant");
      if (quant != "none" && quant != "nf4") HUKUK_FAIL("ENGINE_INVALID_ARG", "quant must be 'none' or 'nf4'");
      lo.quant_nf4 = quant == "nf4";
      lo.quantize_wo = opt_bool(o, "quantizeWo", false);
      std::string compute = o.Get("compute").IsUndefined() ? "fp32" : string_arg(o.Get("compute"), "compute");
      if (compute != "fp32" && compute != "bf16") HUKUK_FAIL("ENGINE_INVALID_ARG", "compute must be 'fp32' or 'bf16'");
      lo.compute_bf16 = compute == "bf16";  // the CPU path computes in fp32 regardless
      std::shared_ptr<T5Model> m = T5Model::load(lo);
      Napi::Object obj = ctor->New({});
      T5Js::Unwrap(obj)->model_ = std::move(m);
      return obj;
    });
  }

  Napi::Value get_config(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      Napi::Object json = env.Global().Get("JSON").As<Napi::Object>();
      Napi::Function parse = json.Get("parse").As<Napi::Function>();
      return parse.Call(json, {Napi::String::New(env, model()->config().json)});
    });
  }

  Napi::Value get_has_lora(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value { return Napi::Boolean::New(info.Env(), model()->has_lora()); });
  }

  Napi::Value add_lora(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      Napi::Object o = opt_object(info, 0, "addLora options");
      LoraOptions lo;
      lo.r = int(int_arg(o.Get("r"), "r"));
      lo.alpha = float(opt_num(o, "alpha", 2.0 * lo.r));
      lo.dropout = float(opt_num(o, "dropout", 0.0));
      std::vector<std::string> t = opt_strings(o, "targets");
      if (!t.empty()) lo.targets = t;
      lo.modules = opt_strings(o, "modules");
      lo.rslora = opt_bool(o, "rslora", false);
      const double seed = opt_num(o, "seed", 0);
      HUKUK_CHECK(seed >= 0 && seed == std::floor(seed), "ENGINE_INVALID_ARG", "seed must be a non-negative integer");
      lo.seed = uint64_t(seed);
      model()->add_lora(lo);
      return info.Env().Undefined();
    });
  }

  Napi::Value load_adapter(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      model()->load_adapter(string_arg(info[0], "adapter directory"));
      return info.Env().Undefined();
    });
  }

  Napi::Value save_adapter(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      AdapterMeta meta;
      if (info.Length() > 1 && info[1].IsObject()) {
        Napi::Object m = info[1].As<Napi::Object>();
        if (m.Has("baseModelNameOrPath") && m.Get("baseModelNameOrPath").IsString())
          meta.base_model_name_or_path = m.Get("baseModelNameOrPath").As<Napi::String>().Utf8Value();
      }
      model()->save_adapter(string_arg(info[0], "adapter directory"), meta);
      return info.Env().Undefined();
    });
  }

  Napi::Value merge_and_save(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      model()->merge_and_save(string_arg(info[0], "output directory"));
      return info.Env().Undefined();
    });
  }

  // Shared by forward and forwardBackward.
  Napi::Value step(const Napi::CallbackInfo& info, bool backward) {
    Napi::Env env = info.Env();
    Napi::Object o = opt_object(info, 0, backward ? "forwardBackward batch" : "forward batch");
    Batch b;
    b.batch = int(int_arg(o.Get("batch"), "batch"));
    b.src_len = int(int_arg(o.Get("srcLen"), "srcLen"));
    b.tgt_len = int(int_arg(o.Get("tgtLen"), "tgtLen"));
    HUKUK_CHECK(b.batch > 0 && b.src_len > 0 && b.tgt_len > 0, "ENGINE_INVALID_ARG", "batch, srcLen, tgtLen must be positive");
    const size_t ns = size_t(b.batch) * b.src_len, nt = size_t(b.batch) * b.tgt_len;
    auto ids = typed_array_arg<int32_t>(o.Get("inputIds"), "inputIds");
    HUKUK_CHECK(ids.length == ns, "ENGINE_INVALID_ARG", "inputIds must hold batch*srcLen = " + std::to_string(ns) + " ids");
    b.input_ids = ids.data;
    if (!o.Get("attentionMask").IsUndefined()) {
      auto m = typed_array_arg<int32_t>(o.Get("attentionMask"), "attentionMask");
      HUKUK_CHECK(m.length == ns, "ENGINE_INVALID_ARG", "attentionMask must hold batch*srcLen values");
      b.attention_mask = m.data;
    }
    if (!o.Get("labels").IsUndefined()) {
      auto l = typed_array_arg<int32_t>(o.Get("labels"), "labels");
      HUKUK_CHECK(l.length == nt, "ENGINE_INVALID_ARG", "labels must hold batch*tgtLen = " + std::to_string(nt) + " values");
      b.labels = l.data;
    }
    if (!o.Get("decoderInputIds").IsUndefined()) {
      auto l = typed_array_arg<int32_t>(o.Get("decoderInputIds"), "decoderInputIds");
      HUKUK_CHECK(l.length == nt, "ENGINE_INVALID_ARG", "decoderInputIds must hold batch*tgtLen values");
      b.decoder_input_ids = l.data;
    }
    StepOptions so;
    so.use_adapter = opt_bool(o, "useAdapter", true);
    so.train = backward ? opt_bool(o, "train", true) : opt_bool(o, "train", false);
    const double seed = opt_num(o, "dropoutSeed", 0);
    HUKUK_CHECK(seed >= 0 && seed == std::floor(seed), "ENGINE_INVALID_ARG", "dropoutSeed must be a non-negative integer");
    so.dropout_seed = uint64_t(seed);
    so.recompute = opt_bool(o, "recompute", false);
    const bool want_logits = !backward && opt_bool(o, "wantLogits", false);
    Napi::Float32Array logits;
    if (want_logits) {
      logits = Napi::Float32Array::New(env, nt * size_t(model()->config().vocab_size));
      so.logits_out = logits.Data();
    }
    StepResult r = backward ? model()->forward_backward(b, so) : model()->forward(b, so);
    Napi::Object out = Napi::Object::New(env);
    out.Set("loss", Napi::Number::New(env, r.loss));
    out.Set("tokens", Napi::Number::New(env, double(r.tokens)));
    if (want_logits) out.Set("logits", logits);
    return out;
  }

  Napi::Value forward(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value { return step(info, false); });
  }
  Napi::Value forward_backward(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value { return step(info, true); });
  }

  Napi::Value zero_grad(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      model()->zero_grad();
      return info.Env().Undefined();
    });
  }

  Napi::Value lora_params(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      std::vector<ParamRef> ps = model()->lora_params();
      Napi::Array a = Napi::Array::New(env, ps.size());
      for (size_t i = 0; i < ps.size(); ++i) {
        Napi::Object e = Napi::Object::New(env);
        e.Set("name", ps[i].name);
        e.Set("size", Napi::Number::New(env, double(ps[i].n)));
        a.Set(uint32_t(i), e);
      }
      return a;
    });
  }

  // Copies of the weights and gradients (for parity checks, tests, and checkpoints).
  Napi::Value lora_tensors(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      std::vector<ParamRef> ps = model()->lora_params();
      Napi::Array a = Napi::Array::New(env, ps.size());
      for (size_t i = 0; i < ps.size(); ++i) {
        Napi::Object e = Napi::Object::New(env);
        e.Set("name", ps[i].name);
        const float *w = ps[i].w, *g = ps[i].g;
        std::vector<float> wh, gh;  // CUDA model: device pointers, copied to the host first
        if (ps[i].device == DeviceKind::CUDA) {
          wh = t5cuda::download(w, ps[i].n);
          gh = t5cuda::download(g, ps[i].n);
          w = wh.data();
          g = gh.data();
        }
        e.Set("weight", new_typed_array<float>(env, w, ps[i].n));
        e.Set("grad", new_typed_array<float>(env, g, ps[i].n));
        a.Set(uint32_t(i), e);
      }
      return a;
    });
  }

  Napi::Value dispose(const Napi::CallbackInfo& info) {
    model_.reset();
    return info.Env().Undefined();
  }
};

Napi::FunctionReference* T5Js::ctor = nullptr;

static T5Js* unwrap_js(const Napi::Value& v) {
  bool tagged = false;
  if (v.IsObject()) napi_check_object_type_tag(v.Env(), v, &kT5Tag, &tagged);
  if (!tagged) HUKUK_FAIL("ENGINE_INVALID_ARG", "expected an engine.T5Model object");
  return T5Js::Unwrap(v.As<Napi::Object>());
}

T5Model* unwrap_t5(const Napi::Value& v) { return unwrap_js(v)->model(); }

std::shared_ptr<T5Model> share_t5(const Napi::Value& v) {
  T5Js* js = unwrap_js(v);
  js->model();  // throws ENGINE_DISPOSED
  return js->model_;
}

static void init_t5(Napi::Env env, Napi::Object exports) {
  Napi::Function f = T5Js::define(env);
  T5Js::ctor = new Napi::FunctionReference(Napi::Persistent(f));  // lives as long as the process
  exports.Set("T5Model", f);
}

HUKUK_REGISTER(t5, init_t5);

}  // namespace hukuk
