// transformers' logits processors and warpers (generation/logits_process.py), one row at a time.
//
// Each works in place on the scores of one decoding row ([vocab] floats) given that row's
// tokens so far (decoder start included, as transformers' input_ids). Order, as
// GenerationMixin._get_logits_processor builds it: repetition penalty, no-repeat-ngram,
// min-new-tokens, then (sampling only) temperature, top-k, top-p.
#pragma once
#include <cstdint>

#include "generate/options.h"

namespace hukuk::gen {

// RepetitionPenaltyLogitsProcessor: every token present in seq: s < 0 ? s * p : s / p.
void repetition_penalty(float* scores, int vocab, const int32_t* seq, int len, float penalty);
// NoRepeatNGramLogitsProcessor: bans every token that would complete an n-gram already in seq.
void no_repeat_ngram(float* scores, int vocab, const int32_t* seq, int len, int n);
// MinNewTokensLengthLogitsProcessor: eos = -inf while fewer than min_new tokens were generated
// (generated = len - 1: the decoder start is the prompt).
void min_new_tokens(float* scores, int vocab, int len, int min_new, int eos);
// TemperatureLogitsWarper.
void temperature(float* scores, int vocab, float t);
// TopKLogitsWarper: keeps every score >= the k-th largest (ties kept); k = max(k, min_keep).
void top_k(float* scores, int vocab, int k, int min_keep);
// TopPLogitsWarper: sorts ascending, removes the tokens whose cumulative probability is
// <= 1 - top_p, always keeping the min_keep most likely.
void top_p(float* scores, int vocab, float p, int min_keep);

// All processors that apply, in transformers' order. min_keep: 1 for sampling, 2 for beam
// sampling (1 + number of eos ids), as transformers sets it.
void process_scores(float* scores, int vocab, const int32_t* seq, int len, const GenOptions& o, int min_keep);

// log_softmax over one row (beam search scores log-probabilities).
void log_softmax(float* x, int n);
// softmax over one row (sampling).
void softmax(const float* x, float* out, int n);

}  // namespace hukuk::gen
