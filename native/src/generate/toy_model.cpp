// The toy decoder of toy_model.h.
#include "generate/toy_model.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "core/error.h"
#include "generate/rng.h"

namespace hukuk::gen {

static float unit(uint64_t a, uint64_t b) {  // deterministic value in [-1, 1)
  uint64_t x = a * 0x9E3779B97F4A7C15ull + b;
  const uint64_t z = splitmix64(x);
  return static_cast<float>(static_cast<double>(z >> 40) * 0x1.0p-24 * 2.0 - 1.0);
}

ToyModel::ToyModel(const ToySpec& spec, std::vector<int32_t> input_ids, std::vector<int32_t> mask, int batch,
                   int src_len)
    : spec_(spec), ids_(std::move(input_ids)), mask_(std::move(mask)), batch_(batch), src_len_(src_len) {
  HUKUK_CHECK(spec.vocab >= 2, "ENGINE_INVALID_ARG", "toy vocab must be >= 2");
  HUKUK_CHECK(static_cast<int64_t>(batch) * src_len == static_cast<int64_t>(ids_.size()), "ENGINE_INVALID_ARG",
              "toy input_ids must hold batch * src_len ids");
  if (mask_.empty()) mask_.assign(ids_.size(), 1);
  HUKUK_CHECK(mask_.size() == ids_.size(), "ENGINE_INVALID_ARG", "toy attention mask must match input_ids");
}

uint64_t ToyModel::encoder_hash(const ToySpec& spec, const int32_t* ids, const int32_t* mask, int src_len) {
  uint64_t h = spec.seed;
  for (int i = 0; i < src_len; ++i)
    if (!mask || mask[i]) {
      uint64_t x = h ^ (static_cast<uint64_t>(ids[i]) + 1);
      h = splitmix64(x);
    }
  return h;
}

uint64_t ToyModel::absorb(uint64_t h, int32_t token) {
  uint64_t x = h * 0x100000001B3ull ^ (static_cast<uint64_t>(token) + 7);
  return splitmix64(x);
}

void ToyModel::logits_for(const ToySpec& spec, uint64_t h, int32_t last, float* out) {
  for (int v = 0; v < spec.vocab; ++v) {
    const float markov = unit(spec.seed * 1000003ull + static_cast<uint64_t>(last), static_cast<uint64_t>(v));
    const float context = unit(h, static_cast<uint64_t>(v) + 101);
    out[v] = spec.scale * (markov + 0.6f * context) + (v == spec.eos_token_id ? spec.eos_bias : 0.f);
  }
}

void ToyModel::start(int batch, int beams, int max_len) {
  HUKUK_CHECK(batch == batch_, "ENGINE_INVALID_ARG", "toy model was built for another batch size");
  ++encoder_passes_;
  rows_ = batch * beams;
  max_len_ = max_len;
  length_ = 0;
  state_.resize(rows_);
  for (int r = 0; r < rows_; ++r) {
    const int b = r / beams;
    state_[r] = encoder_hash(spec_, &ids_[static_cast<size_t>(b) * src_len_], &mask_[static_cast<size_t>(b) * src_len_],
                             src_len_);
  }
}

void ToyModel::step(const int32_t* tokens, int n, float* logits) {
  HUKUK_CHECK(n == rows_, "ENGINE_INVALID_ARG", "toy step: wrong number of rows");
  HUKUK_CHECK(length_ < max_len_, "ENGINE_INVALID_ARG", "toy step: cache capacity exceeded");
  if (spec_.delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(spec_.delay_us));
  for (int r = 0; r < n; ++r) {
    HUKUK_CHECK(tokens[r] >= 0 && tokens[r] < spec_.vocab, "ENGINE_INVALID_ARG", "toy step: token out of range");
    state_[r] = absorb(state_[r], tokens[r]);
    logits_for(spec_, state_[r], tokens[r], logits + static_cast<size_t>(r) * spec_.vocab);
  }
  ++length_;
  ++steps_;
}

void ToyModel::reorder(const int32_t* src_rows, int n) {
  HUKUK_CHECK(n == rows_, "ENGINE_INVALID_ARG", "toy reorder: wrong number of rows");
  std::vector<uint64_t> next(n);
  for (int r = 0; r < n; ++r) {
    HUKUK_CHECK(src_rows[r] >= 0 && src_rows[r] < n, "ENGINE_INVALID_ARG", "toy reorder: row out of range");
    next[r] = state_[src_rows[r]];
  }
  state_.swap(next);
}

void ToyModel::prefix_logits(const ToySpec& spec, const int32_t* ids, const int32_t* mask, int src_len,
                             const int32_t* prefix, int len, float* out) {
  HUKUK_CHECK(len >= 1, "ENGINE_INVALID_ARG", "toy prefix must hold the decoder start");
  uint64_t h = encoder_hash(spec, ids, mask, src_len);
  for (int i = 0; i < len; ++i) h = absorb(h, prefix[i]);
  logits_for(spec, h, prefix[len - 1], out);
}

TableModel::TableModel(int vocab, std::vector<std::pair<std::vector<int32_t>, std::vector<float>>> table,
                       std::vector<float> fallback)
    : vocab_(vocab), table_(std::move(table)), fallback_(std::move(fallback)) {
  HUKUK_CHECK(vocab >= 2, "ENGINE_INVALID_ARG", "table vocab must be >= 2");
  if (fallback_.empty()) fallback_.assign(vocab, 0.f);
  HUKUK_CHECK(static_cast<int>(fallback_.size()) == vocab, "ENGINE_INVALID_ARG", "fallback must hold vocab logits");
  for (auto& e : table_)
    HUKUK_CHECK(static_cast<int>(e.second.size()) == vocab, "ENGINE_INVALID_ARG", "every table entry must hold vocab logits");
}

void TableModel::start(int batch, int beams, int) { prefix_.assign(static_cast<size_t>(batch) * beams, {}); }

void TableModel::step(const int32_t* tokens, int n, float* logits) {
  HUKUK_CHECK(n == static_cast<int>(prefix_.size()), "ENGINE_INVALID_ARG", "table step: wrong number of rows");
  for (int r = 0; r < n; ++r) {
    prefix_[r].push_back(tokens[r]);
    const std::vector<float>* row = &fallback_;
    for (auto& e : table_)
      if (e.first == prefix_[r]) row = &e.second;
    std::copy(row->begin(), row->end(), logits + static_cast<size_t>(r) * vocab_);
  }
}

void TableModel::reorder(const int32_t* src_rows, int n) {
  std::vector<std::vector<int32_t>> next(n);
  for (int r = 0; r < n; ++r) next[r] = prefix_.at(src_rows[r]);
  prefix_.swap(next);
}

}  // namespace hukuk::gen
