// The one place where engine errors cross into JavaScript.
//
// Every Node-API entry point is wrapped by hukuk::napi_entry<fn>: a hukuk::EngineError becomes
// a JS Error with .code (e.g. 'ENGINE_INVALID_ARG') and .where ("native/src/nf4/nf4.cpp:88");
// std::bad_alloc becomes code 'ENGINE_OOM'; anything else 'ENGINE_INTERNAL'. A Napi::Error
// thrown by the wrapped function passes through unchanged. Nothing here ever exits the process.
//
//   static Napi::Value nf4_quantize(const Napi::CallbackInfo& info) { ... HUKUK_CHECK(...); }
//   static void init(Napi::Env env, Napi::Object exports) {
//     hukuk::export_fn(env, exports, "nf4Quantize", hukuk::napi_entry<nf4_quantize>);
//   }
#pragma once
#include <napi.h>

#include <cstring>
#include <new>
#include <string>

#include "core/error.h"

namespace hukuk {

// Strips the build machine's path so .where reads "native/src/...:line" everywhere.
inline std::string short_where(const std::string& where) {
  auto p = where.rfind("native/src/");
  return p == std::string::npos ? where : where.substr(p);
}

inline Napi::Error to_js_error(Napi::Env env, const std::string& code, const std::string& message,
                               const std::string& where) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  if (!where.empty()) err.Set("where", Napi::String::New(env, short_where(where)));
  return err;
}

inline Napi::Error to_js_error(Napi::Env env, const EngineError& e) {
  return to_js_error(env, e.code, e.what(), e.where);
}

// Wraps a Node-API callback so engine errors become JS errors with .code/.where.
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
Napi::Value napi_entry(const Napi::CallbackInfo& info) {
  try {
    return Fn(info);
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

inline void export_fn(Napi::Env env, Napi::Object exports, const char* name, Napi::Function::Callback fn) {
  exports.Set(name, Napi::Function::New(env, fn, name));
}

// ---- argument helpers (throw EngineError 'ENGINE_INVALID_ARG' with the argument's name) ----

template <typename T>
struct TypedArrayTraits;
template <> struct TypedArrayTraits<float> { static constexpr napi_typedarray_type type = napi_float32_array; static constexpr const char* name = "Float32Array"; };
template <> struct TypedArrayTraits<uint8_t> { static constexpr napi_typedarray_type type = napi_uint8_array; static constexpr const char* name = "Uint8Array"; };
template <> struct TypedArrayTraits<uint16_t> { static constexpr napi_typedarray_type type = napi_uint16_array; static constexpr const char* name = "Uint16Array"; };
template <> struct TypedArrayTraits<int32_t> { static constexpr napi_typedarray_type type = napi_int32_array; static constexpr const char* name = "Int32Array"; };
template <> struct TypedArrayTraits<double> { static constexpr napi_typedarray_type type = napi_float64_array; static constexpr const char* name = "Float64Array"; };

// A view of a JS typed array argument (no copy). The JS object must outlive the call.
template <typename T>
struct ArrayArg {
  T* data = nullptr;
  size_t length = 0;
};

template <typename T>
ArrayArg<T> typed_array_arg(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != TypedArrayTraits<T>::type)
    HUKUK_FAIL("ENGINE_INVALID_ARG", std::string(what) + " must be a " + TypedArrayTraits<T>::name);
  auto a = v.As<Napi::TypedArrayOf<T>>();
  return {a.Data(), a.ElementLength()};
}

inline int64_t int_arg(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) HUKUK_FAIL("ENGINE_INVALID_ARG", std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d)))
    HUKUK_FAIL("ENGINE_INVALID_ARG", std::string(what) + " must be an integer");
  return static_cast<int64_t>(d);
}

inline std::string string_arg(const Napi::Value& v, const char* what) {
  if (!v.IsString()) HUKUK_FAIL("ENGINE_INVALID_ARG", std::string(what) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

// Copies host bytes into a new JS typed array of T.
template <typename T>
Napi::TypedArrayOf<T> new_typed_array(Napi::Env env, const T* src, size_t n) {
  auto a = Napi::TypedArrayOf<T>::New(env, n);
  if (n) std::memcpy(a.Data(), src, n * sizeof(T));
  return a;
}

}  // namespace hukuk
