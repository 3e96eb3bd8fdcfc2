// Node-API face of NF4 (CPU reference + bitsandbytes layout). The CUDA twins register in
// nf4_cuda_napi.cpp. JS shapes are documented in native/index.d.ts (Nf4Quantized).
#include <cstring>

#include "core/napi_error.h"
#include "core/registry.h"
#include "nf4/nf4.h"
#include "nf4/nf4_napi.h"

namespace hukuk::nf4 {

static DType dtype_option(const Napi::Object& opts, const Napi::Value& input) {
  const bool is_f32 = input.IsTypedArray() && input.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array;
  std::string name = opts.Has("dtype") && !opts.Get("dtype").IsUndefined() ? string_arg(opts.Get("dtype"), "options.dtype")
                                                                           : (is_f32 ? "float32" : "");
  if (name.empty()) HUKUK_FAIL("ENGINE_INVALID_ARG", "a Uint16Array input needs options.dtype 'bfloat16' or 'float16'");
  DType t = dtype_from_torch_name(name);
  if ((t == DType::F32) != is_f32)
    HUKUK_FAIL("ENGINE_INVALID_ARG", "input must be a Float32Array for float32 and a Uint16Array for bfloat16/float16");
  return t;
}

static std::vector<int64_t> shape_arg(const Napi::Value& v, const char* what) {
  if (!v.IsArray()) HUKUK_FAIL("ENGINE_INVALID_ARG", std::string(what) + " must be an array of integers");
  auto a = v.As<Napi::Array>();
  std::vector<int64_t> shape;
  for (uint32_t i = 0; i < a.Length(); ++i) shape.push_back(int_arg(a.Get(i), what));
  return shape;
}

Napi::Object to_js(Napi::Env env, const Nf4Tensor& t) {
  Napi::Object o = Napi::Object::New(env);
  Napi::Array shape = Napi::Array::New(env, t.shape.size());
  for (size_t i = 0; i < t.shape.size(); ++i) shape.Set(static_cast<uint32_t>(i), static_cast<double>(t.shape[i]));
  o.Set("shape", shape);
  o.Set("dtype", dtype_torch_name(t.dtype));
  o.Set("blocksize", t.blocksize);
  o.Set("packed", new_typed_array(env, t.packed.data(), t.packed.size()));
  o.Set("quantMap", new_typed_array(env, t.quant_map.data(), t.quant_map.size()));
  o.Set("nested", t.nested);
  if (!t.nested) {
    o.Set("absmax", new_typed_array(env, t.absmax.data(), t.absmax.size()));
  } else {
    o.Set("absmaxQ", new_typed_array(env, t.absmax_q.data(), t.absmax_q.size()));
    o.Set("offset", t.offset);
    o.Set("blocksize2", t.blocksize2);
    o.Set("absmax2", new_typed_array(env, t.absmax2.data(), t.absmax2.size()));
    o.Set("code2", new_typed_array(env, t.code2.data(), t.code2.size()));
  }
  return o;
}

template <typename T>
static std::vector<T> vec_field(const Napi::Object& o, const char* key) {
  auto a = typed_array_arg<T>(o.Get(key), key);
  return std::vector<T>(a.data, a.data + a.length);
}

Nf4Tensor from_js(const Napi::Value& v) {
  if (!v.IsObject()) HUKUK_FAIL("ENGINE_INVALID_ARG", "expected an NF4 tensor object");
  Napi::Object o = v.As<Napi::Object>();
  Nf4Tensor t;
  t.shape = shape_arg(o.Get("shape"), "shape");
  // Every size below is derived from JS values: refuse negative or overflowing shapes and a
  // blocksize that would divide by zero in nblocks() before any of them is used.
  t.numel = 1;
  for (int64_t d : t.shape) {
    HUKUK_CHECK(d >= 0 && (d == 0 || t.numel <= (int64_t(1) << 48) / d), "ENGINE_INVALID_ARG",
                "shape must hold non-negative dimensions of a plausible size");
    t.numel *= d;
  }
  t.dtype = dtype_from_torch_name(o.Has("dtype") ? string_arg(o.Get("dtype"), "dtype") : "float32");
  const int64_t blocksize = int_arg(o.Get("blocksize"), "blocksize");
  HUKUK_CHECK(blocksize >= 2 && blocksize <= 4096 && (blocksize & (blocksize - 1)) == 0, "ENGINE_INVALID_ARG",
              "blocksize must be a power of two in [2, 4096]");
  t.blocksize = static_cast<int>(blocksize);
  t.packed = vec_field<uint8_t>(o, "packed");
  t.quant_map = o.Has("quantMap") ? vec_field<float>(o, "quantMap") : std::vector<float>(kNf4Code, kNf4Code + 16);
  HUKUK_CHECK(t.quant_map.size() == 16, "ENGINE_INVALID_ARG", "quantMap must hold 16 values");
  t.nested = o.Has("nested") && o.Get("nested").ToBoolean().Value();
  HUKUK_CHECK(static_cast<int64_t>(t.packed.size()) == (t.numel + 1) / 2, "ENGINE_INVALID_ARG",
              "packed must hold (numel+1)/2 bytes");
  if (!t.nested) {
    t.absmax = vec_field<float>(o, "absmax");
    HUKUK_CHECK(static_cast<int64_t>(t.absmax.size()) == t.nblocks(), "ENGINE_INVALID_ARG",
                "absmax must hold ceil(numel/blocksize) values");
  } else {
    t.absmax_q = vec_field<uint8_t>(o, "absmaxQ");
    t.offset = static_cast<float>(o.Get("offset").As<Napi::Number>().DoubleValue());
    const int64_t blocksize2 = int_arg(o.Get("blocksize2"), "blocksize2");
    HUKUK_CHECK(blocksize2 >= 2 && blocksize2 <= 4096 && (blocksize2 & (blocksize2 - 1)) == 0, "ENGINE_INVALID_ARG",
                "blocksize2 must be a power of two in [2, 4096]");
    t.blocksize2 = static_cast<int>(blocksize2);
    t.absmax2 = vec_field<float>(o, "absmax2");
    t.code2 = vec_field<float>(o, "code2");
    HUKUK_CHECK(static_cast<int64_t>(t.absmax_q.size()) == t.nblocks() && t.code2.size() == 256 && t.blocksize2 > 0 &&
                    static_cast<int64_t>(t.absmax2.size()) == (t.nblocks() + t.blocksize2 - 1) / t.blocksize2,
                "ENGINE_INVALID_ARG", "nested absmax sizes do not match");
  }
  return t;
}

const void* input_data(const Napi::Value& input, DType dtype, int64_t numel) {
  if (dtype == DType::F32) {
    auto a = typed_array_arg<float>(input, "input");
    HUKUK_CHECK(static_cast<int64_t>(a.length) == numel, "ENGINE_INVALID_ARG", "input length does not match the shape");
    return a.data;
  }
  auto a = typed_array_arg<uint16_t>(input, "input");
  HUKUK_CHECK(static_cast<int64_t>(a.length) == numel, "ENGINE_INVALID_ARG", "input length does not match the shape");
  return a.data;
}

QuantizeArgs quantize_args(const Napi::CallbackInfo& info) {
  QuantizeArgs a;
  Napi::Object opts = info.Length() > 2 && info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(info.Env());
  a.shape = shape_arg(info[1], "shape");
  a.numel = 1;
  for (int64_t d : a.shape) a.numel *= d;
  a.dtype = dtype_option(opts, info[0]);
  a.data = input_data(info[0], a.dtype, a.numel);
  a.blocksize = opts.Has("blocksize") && !opts.Get("blocksize").IsUndefined()
                    ? static_cast<int>(int_arg(opts.Get("blocksize"), "options.blocksize"))
                    : kDefaultBlocksize;
  a.nested = !(opts.Has("doubleQuant") && !opts.Get("doubleQuant").IsUndefined() &&
               !opts.Get("doubleQuant").ToBoolean().Value());
  return a;
}

// nf4Quantize(input, shape, { blocksize = 64, doubleQuant = true, dtype })
static Napi::Value js_quantize(const Napi::CallbackInfo& info) {
  QuantizeArgs a = quantize_args(info);
  return to_js(info.Env(), quantize(a.data, a.dtype, a.shape, a.blocksize, a.nested));
}

static Napi::Value js_dequantize(const Napi::CallbackInfo& info) {
  Nf4Tensor t = from_js(info[0]);
  auto out = Napi::Float32Array::New(info.Env(), static_cast<size_t>(t.numel));
  dequantize(t, out.Data());
  return out;
}

static Napi::Value js_decode_absmax(const Napi::CallbackInfo& info) {
  Nf4Tensor t = from_js(info[0]);
  auto a = decoded_absmax(t);
  return new_typed_array(info.Env(), a.data(), a.size());
}

static Napi::Value js_code(const Napi::CallbackInfo& info) { return new_typed_array(info.Env(), kNf4Code, 16); }
static Napi::Value js_dynamic_code(const Napi::CallbackInfo& info) {
  return new_typed_array(info.Env(), kDynamicCode, 256);
}

static Napi::Value js_torch_cuda_mean(const Napi::CallbackInfo& info) {
  auto x = typed_array_arg<float>(info[0], "values");
  return Napi::Number::New(info.Env(), torch_cuda_mean(x.data, static_cast<int64_t>(x.length)));
}

// nf4ToBnb(q, prefix) -> { [name]: { dtype: 'U8' | 'F32', shape, data: Uint8Array } }
static Napi::Value js_to_bnb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Nf4Tensor t = from_js(info[0]);
  std::string prefix = info.Length() > 1 ? string_arg(info[1], "prefix") : "";
  Napi::Object out = Napi::Object::New(env);
  for (const OwnedTensor& o : save_bnb_nf4(t, prefix)) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("dtype", o.dtype);
    Napi::Array shape = Napi::Array::New(env, o.shape.size());
    for (size_t i = 0; i < o.shape.size(); ++i) shape.Set(static_cast<uint32_t>(i), static_cast<double>(o.shape[i]));
    e.Set("shape", shape);
    e.Set("data", new_typed_array(env, o.bytes.data(), o.bytes.size()));
    out.Set(o.name, e);
  }
  return out;
}

// nf4FromBnb(tensors, prefix): the inverse, from the same kind of record (e.g. parsed safetensors).
static Napi::Value js_from_bnb(const Napi::CallbackInfo& info) {
  if (!info[0].IsObject()) HUKUK_FAIL("ENGINE_INVALID_ARG", "tensors must be an object");
  Napi::Object tensors = info[0].As<Napi::Object>();
  std::string prefix = info.Length() > 1 ? string_arg(info[1], "prefix") : "";
  TensorLookup lookup = [&](const std::string& name, TensorView* v) {
    if (!tensors.Has(name)) return false;
    Napi::Value e = tensors.Get(name);
    if (!e.IsObject()) HUKUK_FAIL("ENGINE_INVALID_ARG", "tensor '" + name + "' must be an object");
    Napi::Object o = e.As<Napi::Object>();
    v->dtype = string_arg(o.Get("dtype"), "dtype");
    v->shape = shape_arg(o.Get("shape"), "shape");
    auto data = typed_array_arg<uint8_t>(o.Get("data"), "data");
    v->data = data.data;
    v->nbytes = data.length;
    return true;
  };
  return to_js(info.Env(), load_bnb_nf4(lookup, prefix));
}

static Napi::Value js_quant_state_json(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), quant_state_json(from_js(info[0])));
}

static void init_nf4(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "nf4Quantize", napi_entry<js_quantize>);
  export_fn(env, exports, "nf4Dequantize", napi_entry<js_dequantize>);
  export_fn(env, exports, "nf4DecodeAbsmax", napi_entry<js_decode_absmax>);
  export_fn(env, exports, "nf4Code", napi_entry<js_code>);
  export_fn(env, exports, "nf4DynamicCode", napi_entry<js_dynamic_code>);
  export_fn(env, exports, "nf4TorchCudaMean", napi_entry<js_torch_cuda_mean>);
  export_fn(env, exports, "nf4ToBnb", napi_entry<js_to_bnb>);
  export_fn(env, exports, "nf4FromBnb", napi_entry<js_from_bnb>);
  export_fn(env, exports, "nf4QuantStateJson", napi_entry<js_quant_state_json>);
}
HUKUK_REGISTER(nf4, init_nf4);

}  // namespace hukuk::nf4
