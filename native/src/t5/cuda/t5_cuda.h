// The T5 graph on the GPU (the CUDA twin of t5/model.cpp's training path).
//
// How it hangs together: T5Model::load(device CUDA) first runs the ordinary CPU loader (same
// config parsing, same NF4 quantization, bit-exact with bitsandbytes), then attach() copies the
// weights to the device: NF4 weights as NF4 (q,k,v,o,wi* by the QLoRA policy), the rest fp32.
// LoRA A/B, their gradients and AdamW moments live on the device in fp32; lora_params() hands
// out device pointers (ParamRef.device = CUDA) for the trainer's CUDA AdamW. The host copies of
// the LoRA weights are refreshed by lora_to_host() (saving an adapter, CPU generation).
//
// Compute: activations are fp32 in one pre-planned device arena per shape; every product runs
// in cuBLAS (dlopen'd), fp32 exactly (compute 'fp32', for parity) or on bf16 tensor cores with
// fp32 accumulation (compute 'bf16'). NF4 weights are dequantized into one fp32 scratch per use.
// Generation on a CUDA model runs on the CPU graph (host weights), not yet on the GPU.
#pragma once
#include <vector>

#include "core/param.h"
#include "t5/model.h"

namespace hukuk {
class T5Impl;
namespace t5cuda {

void attach(T5Impl& I);            // after the CPU loader: uploads the weights
void detach(const T5Impl& I);      // frees the device state (T5Model's destructor)
StepResult run(T5Impl& I, const Batch& b, const StepOptions& o, bool backward);
void lora_to_device(T5Impl& I);    // after add_lora / load_adapter (host LoRA -> device)
void lora_to_host(const T5Impl& I);  // device LoRA (weights, grads, moments) -> host vectors
std::vector<ParamRef> lora_params(T5Impl& I);
std::vector<float> download(const float* device_ptr, size_t n);  // a copy on the host (loraTensors)
void zero_grad(T5Impl& I);
// Bytes of device memory the model holds: weights, LoRA state, the activation arena (high water
// over the model's life) and the plan of the last shape (what that shape needs).
struct MemoryUse {
  size_t weights = 0, lora = 0, arena = 0, arena_plan = 0;
};
MemoryUse memory_use(const T5Impl& I);

}  // namespace t5cuda
}  // namespace hukuk
