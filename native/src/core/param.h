// A trainable tensor as the optimizer sees it: weights, gradient and the AdamW moments,
// all fp32 and the same length. The model owns the memory; the optimizer only walks the list.
// (Shared contract between native/src/t5 (which owns LoRA parameters) and native/src/train.)
#pragma once
#include <cstddef>
#include <string>

namespace hukuk {

enum class DeviceKind { CPU, CUDA };

struct ParamRef {
  std::string name;  // peft key, e.g. "base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight"
  float* w;          // weights
  float* g;          // gradient (accumulated across micro-batches)
  float* m;          // AdamW first moment
  float* v;          // AdamW second moment
  size_t n;          // element count
  bool decay;        // weight decay applies (true for LoRA A/B)
  DeviceKind device;
};

}  // namespace hukuk
