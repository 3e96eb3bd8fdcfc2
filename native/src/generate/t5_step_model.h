// The real T5 behind the StepModel interface: encoder once, then the model's KV cache
// (self-attention grows per step, cross-attention K/V computed once in init_cache).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "generate/decoder_step.h"
#include "t5/model.h"

namespace hukuk::gen {

class T5StepModel : public StepModel {
 public:
  // ids/mask: [batch, src_len] (mask empty = all ones). Holds a share of the model, so a
  // JS dispose() during a generation frees it only when the generation ends.
  T5StepModel(std::shared_ptr<T5Model> model, std::vector<int32_t> ids, std::vector<int32_t> mask, int batch, int src_len,
              bool use_adapter);
  int vocab() const override;
  void start(int batch, int beams, int max_len) override;
  void step(const int32_t* tokens, int n, float* logits) override;
  void reorder(const int32_t* src_rows, int n) override;

 private:
  std::shared_ptr<T5Model> keep_;
  T5Model& model_;
  std::vector<int32_t> ids_, mask_;
  int batch_, src_len_;
  bool use_adapter_;
  EncoderOutput enc_;
  DecoderCache cache_;
};

}  // namespace hukuk::gen
