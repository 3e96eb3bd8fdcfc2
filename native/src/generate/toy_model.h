// A tiny deterministic "encoder-decoder" for testing the search code without a real model.
//
// Its logits depend on the encoder input (masked positions ignored), the last token and a hash
// of the whole decoded prefix, so a wrong cache reorder in beam search changes the result.
// prefix_logits() recomputes the logits of one prefix from scratch (no cache): tests build
// reference searches (greedy chain, brute force, beam search) on it and compare.
#pragma once
#include <cstdint>
#include <vector>

#include "generate/decoder_step.h"

namespace hukuk::gen {

struct ToySpec {
  int vocab = 8;
  uint64_t seed = 1;
  float scale = 2.f;      // spread of the logits
  float eos_bias = 0.f;   // added to the eos logit (raise it to make short answers likely)
  int eos_token_id = 1;
  int delay_us = 0;       // sleep per step (tests of cancellation and responsiveness)
};

class ToyModel : public StepModel {
 public:
  ToyModel(const ToySpec& spec, std::vector<int32_t> input_ids, std::vector<int32_t> mask, int batch, int src_len);
  int vocab() const override { return spec_.vocab; }
  void start(int batch, int beams, int max_len) override;
  void step(const int32_t* tokens, int n, float* logits) override;
  void reorder(const int32_t* src_rows, int n) override;

  int encoder_passes() const { return encoder_passes_; }
  int steps() const { return steps_; }

  // Logits after decoding prefix[0..len) (prefix[0] is the decoder start) for one input row.
  static void prefix_logits(const ToySpec& spec, const int32_t* ids, const int32_t* mask, int src_len,
                            const int32_t* prefix, int len, float* out);

 private:
  static uint64_t encoder_hash(const ToySpec& spec, const int32_t* ids, const int32_t* mask, int src_len);
  static uint64_t absorb(uint64_t h, int32_t token);
  static void logits_for(const ToySpec& spec, uint64_t h, int32_t last, float* out);

  ToySpec spec_;
  std::vector<int32_t> ids_, mask_;
  int batch_, src_len_;
  int rows_ = 0, max_len_ = 0, length_ = 0;
  std::vector<uint64_t> state_;  // the "cache": one prefix hash per row
  int encoder_passes_ = 0, steps_ = 0;
};

// A decoder whose logits are written out by hand: logits of a row = table[its decoded prefix]
// (decoder start included), or `fallback` for prefixes not in the table. For hand-computed cases.
class TableModel : public StepModel {
 public:
  TableModel(int vocab, std::vector<std::pair<std::vector<int32_t>, std::vector<float>>> table,
             std::vector<float> fallback);
  int vocab() const override { return vocab_; }
  void start(int batch, int beams, int max_len) override;
  void step(const int32_t* tokens, int n, float* logits) override;
  void reorder(const int32_t* src_rows, int n) override;

 private:
  int vocab_;
  std::vector<std::pair<std::vector<int32_t>, std::vector<float>>> table_;
  std::vector<float> fallback_;
  std::vector<std::vector<int32_t>> prefix_;  // the "cache": each row's tokens so far
};

}  // namespace hukuk::gen
