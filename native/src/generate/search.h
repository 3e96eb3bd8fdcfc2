// Decoding strategies of transformers' GenerationMixin.generate, for encoder-decoder models:
//   - greedy and multinomial sampling (_sample), finished rows padded with pad_token_id;
//   - beam search and beam sampling (_beam_search, the vectorized version of transformers 4.50+/5.x):
//     2*num_beams candidates per step, finished hypotheses scored sum_logprob / gen_len ** length_penalty,
//     early_stopping True / False / "never" with transformers' stopping heuristic.
// The decoder start token is the prompt (length 1): max_length = 1 + max_new_tokens.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "generate/decoder_step.h"
#include "generate/options.h"

namespace hukuk::gen {

struct GenResult {
  int batch = 0, length = 0;   // ids is [batch, length], decoder start included
  std::vector<int32_t> ids;
  int steps = 0;               // decoder steps run
};

// Called once per new token: greedy/sampling as each step ends (rows still running only, eos
// included); beam search once at the end with the tokens of each row's best hypothesis.
using TokenFn = std::function<void(int row, int32_t token)>;

// Runs the encoder once (model.start) and decodes. `cancel` (may be null) is read before every
// step; when set, throws EngineError 'ENGINE_CANCELLED'.
GenResult generate(StepModel& model, int batch, const GenOptions& o, const TokenFn& on_token,
                   const std::atomic<bool>* cancel);

}  // namespace hukuk::gen
