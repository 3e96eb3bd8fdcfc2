// T5Model -> StepModel adapter (see t5_step_model.h).
#include "generate/t5_step_model.h"

#include "core/error.h"

namespace hukuk::gen {

T5StepModel::T5StepModel(std::shared_ptr<T5Model> model, std::vector<int32_t> ids, std::vector<int32_t> mask,
                         int batch, int src_len, bool use_adapter)
    : keep_(std::move(model)), model_(*keep_), ids_(std::move(ids)), mask_(std::move(mask)), batch_(batch), src_len_(src_len),
      use_adapter_(use_adapter) {
  HUKUK_CHECK(batch >= 1 && src_len >= 1, "ENGINE_INVALID_ARG", "inputIds must hold at least one token per row");
  HUKUK_CHECK(static_cast<int64_t>(batch) * src_len == static_cast<int64_t>(ids_.size()), "ENGINE_INVALID_ARG",
              "inputIds must hold batch * srcLen ids");
  HUKUK_CHECK(mask_.empty() || mask_.size() == ids_.size(), "ENGINE_INVALID_ARG",
              "attentionMask must have the shape of inputIds");
  const int V = model_.config().vocab_size;
  for (int32_t t : ids_) HUKUK_CHECK(t >= 0 && t < V, "ENGINE_INVALID_ARG", "inputIds holds an id outside the vocabulary");
}

int T5StepModel::vocab() const { return model_.config().vocab_size; }

void T5StepModel::start(int batch, int beams, int max_len) {
  HUKUK_CHECK(batch == batch_, "ENGINE_INVALID_ARG", "batch differs from the inputs");
  model_.encode(ids_.data(), mask_.empty() ? nullptr : mask_.data(), batch_, src_len_, enc_, use_adapter_);
  const int rows = batch * beams;
  std::vector<int32_t> enc_row(rows);
  for (int r = 0; r < rows; ++r) enc_row[r] = r / beams;  // beams of input b share its encoder output
  model_.init_cache(enc_, enc_row.data(), rows, max_len, cache_, use_adapter_);
}

void T5StepModel::step(const int32_t* tokens, int n, float* logits) {
  HUKUK_CHECK(n == cache_.rows, "ENGINE_INVALID_ARG", "decode step: row count differs from the cache");
  model_.decode_step(cache_, tokens, logits, use_adapter_);
}

void T5StepModel::reorder(const int32_t* src_rows, int n) {
  HUKUK_CHECK(n == cache_.rows, "ENGINE_INVALID_ARG", "reorder: row count differs from the cache");
  model_.reorder_cache(cache_, src_rows);
}

}  // namespace hukuk::gen
