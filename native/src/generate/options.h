// Generation settings, with transformers' GenerationConfig defaults (5.x,
// GenerationConfig._get_default_generation_params) so that the same call means the same thing.
#pragma once
#include <cstdint>

namespace hukuk::gen {

enum class EarlyStopping { False, True, Never };  // transformers' early_stopping: False | True | "never"

struct GenOptions {
  int max_new_tokens = 20;
  int min_new_tokens = 0;          // eos is masked (-inf) until this many tokens were generated
  int num_beams = 1;               // > 1: beam search (beam sampling with do_sample)
  float length_penalty = 1.0f;     // finished beam score = sum logprob / generated_len ** length_penalty
  EarlyStopping early_stopping = EarlyStopping::False;
  bool do_sample = false;
  float temperature = 1.0f;        // only with do_sample, like transformers
  int top_k = 50;                  // only with do_sample; 0 = off (transformers' default is 50)
  float top_p = 1.0f;              // only with do_sample; 1 = off
  float repetition_penalty = 1.0f; // 1 = off; divides positive scores, multiplies negative ones
  int no_repeat_ngram_size = 0;    // 0 = off
  uint64_t seed = 0;               // sampling RNG (our own: torch's stream cannot be reproduced)
  int eos_token_id = 1;
  int pad_token_id = 0;
  int decoder_start_token_id = 0;
};

// Throws EngineError 'ENGINE_INVALID_ARG' naming the first bad field.
void validate(const GenOptions& o, int vocab);

}  // namespace hukuk::gen
