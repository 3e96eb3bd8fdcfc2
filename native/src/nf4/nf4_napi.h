// Conversions between JS NF4 objects (Nf4Quantized in native/index.d.ts) and Nf4Tensor, shared
// by the CPU and CUDA Node-API entry points.
#pragma once
#include <napi.h>

#include "nf4/nf4.h"

namespace hukuk::nf4 {

Napi::Object to_js(Napi::Env env, const Nf4Tensor& t);
Nf4Tensor from_js(const Napi::Value& v);

// The arguments of nf4Quantize(input, shape, options): a view of the input, no copy.
struct QuantizeArgs {
  const void* data = nullptr;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  int64_t numel = 0;
  int blocksize = kDefaultBlocksize;
  bool nested = true;
};
QuantizeArgs quantize_args(const Napi::CallbackInfo& info);

}  // namespace hukuk::nf4
