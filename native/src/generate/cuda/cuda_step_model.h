// The T5 decoder step on the GPU behind the StepModel interface (decoder_step.h), for models
// loaded with device 'cuda': search.cpp stays on the CPU and sees only logits.
//
// start(): the CUDA encoder (t5cuda::encode), then the cross-attention K/V of every decoder layer
// once per input row (cuBLAS; beams of one input share them), the decoder's relative-position
// bucket of every distance, and device buffers for batch * beams rows x max_len positions.
// step(): one decoder position for every row, with the weights read directly on the device
// (NF4 codes dequantized in registers, LoRA fused; decode_kernels.cuh), captured once into a
// CUDA graph that reads the tokens and the position from device memory, so each step is a
// host->device copy of the tokens, one graph launch and a device->host copy of the logits.
// Defaults (the fastest measured, H200 2026-11-28: 2.447 ms/token greedy batch 1 on the flagship
// QLoRA model): 4 outputs per warp, programmatic dependent launch on sm_90+, cuBLAS products for
// steps of >= 32 rows. Env switches back, read when a generation starts (A/B runs):
// HUKUK_GEN_PDL=0, HUKUK_GEN_GEMM_ROWS=0 (never cuBLAS) or =R,
// HUKUK_GEN_FUSE_NORM=0 (RMS norm as its own kernel), HUKUK_GEN_GRAPHS=0 (kernels one by one).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "generate/decoder_step.h"
#include "t5/model.h"

namespace hukuk::gen {

// True when this addon can run generation on the GPU for `model` (a CUDA model, CUDA build).
bool cuda_step_available(const T5Model& model);

class CudaStepModel : public StepModel {
 public:
  // Same contract as T5StepModel (t5_step_model.h): ids/mask [batch, src_len], mask empty = all
  // ones; holds a share of the model.
  CudaStepModel(std::shared_ptr<T5Model> model, std::vector<int32_t> ids, std::vector<int32_t> mask, int batch,
                int src_len, bool use_adapter);
  ~CudaStepModel() override;
  int vocab() const override;
  void start(int batch, int beams, int max_len) override;
  void step(const int32_t* tokens, int n, float* logits) override;
  void reorder(const int32_t* src_rows, int n) override;

  struct State;  // device buffers, the captured graph (cuda_step_model.cpp)

 private:
  std::shared_ptr<T5Model> keep_;
  T5Model& model_;
  std::vector<int32_t> ids_, mask_;
  int batch_, src_len_;
  bool use_adapter_;
  std::unique_ptr<State> st_;
};

}  // namespace hukuk::gen
