// The one thing the search code (search.cpp) needs from a model: an incremental decoder.
//
// Search strategies are written against this interface, not against T5Model, so they can be
// tested exactly with a tiny deterministic model (toy_model.h) and then run unchanged on the
// real T5 (t5_step_model.h). Rows are batch-major: row r = b * beams + j decodes for input b.
#pragma once
#include <cstdint>

namespace hukuk::gen {

class StepModel {
 public:
  virtual ~StepModel() = default;
  virtual int vocab() const = 0;
  // Runs the encoder over the `batch` inputs the model was built with (once), and prepares a
  // decoder cache for batch * beams rows holding up to max_len decoder positions.
  virtual void start(int batch, int beams, int max_len) = 0;
  // One decoder position: tokens[n] are the previous token of every row (the first step passes
  // decoder_start_token_id); writes logits [n, vocab]. n must equal batch * beams from start().
  virtual void step(const int32_t* tokens, int n, float* logits) = 0;
  // Beam search: row i of the cache becomes old row src_rows[i] (i < n).
  virtual void reorder(const int32_t* src_rows, int n) = 0;
};

}  // namespace hukuk::gen
