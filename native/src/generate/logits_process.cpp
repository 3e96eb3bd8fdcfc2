// transformers' logits processors, one row at a time (see logits_process.h for the contract).
#include "generate/logits_process.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "core/error.h"

namespace hukuk::gen {

static constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void validate(const GenOptions& o, int vocab) {
  auto bad = [](const std::string& what) { HUKUK_FAIL("ENGINE_INVALID_ARG", what); };
  if (vocab < 2) bad("the model's vocabulary must have at least 2 tokens");
  if (o.max_new_tokens < 1) bad("maxNewTokens must be >= 1");
  if (o.min_new_tokens < 0) bad("minNewTokens must be >= 0");
  if (o.num_beams < 1) bad("numBeams must be >= 1");
  if (!(o.temperature > 0.f) || !std::isfinite(o.temperature)) bad("temperature must be > 0");
  if (o.top_k < 0) bad("topK must be >= 0");
  if (!(o.top_p > 0.f && o.top_p <= 1.f)) bad("topP must be in (0, 1]");
  if (!(o.repetition_penalty > 0.f) || !std::isfinite(o.repetition_penalty)) bad("repetitionPenalty must be > 0");
  if (o.no_repeat_ngram_size < 0) bad("noRepeatNgramSize must be >= 0");
  if (!std::isfinite(o.length_penalty)) bad("lengthPenalty must be finite");
  if (o.eos_token_id < 0 || o.eos_token_id >= vocab) bad("eosTokenId is outside the vocabulary");
  if (o.pad_token_id < 0 || o.pad_token_id >= vocab) bad("padTokenId is outside the vocabulary");
  if (o.decoder_start_token_id < 0 || o.decoder_start_token_id >= vocab)
    bad("decoderStartTokenId is outside the vocabulary");
}

void repetition_penalty(float* s, int vocab, const int32_t* seq, int len, float p) {
  // gather -> penalize -> scatter: a token seen twice is penalized once.
  std::vector<char> seen(vocab, 0);
  for (int i = 0; i < len; ++i)
    if (seq[i] >= 0 && seq[i] < vocab) seen[seq[i]] = 1;
  for (int v = 0; v < vocab; ++v)
    if (seen[v]) s[v] = s[v] < 0 ? s[v] * p : s[v] / p;
}

void no_repeat_ngram(float* s, int vocab, const int32_t* seq, int len, int n) {
  if (n <= 0 || len < n) return;
  // The last n-1 tokens are the prefix; every earlier window of n tokens whose first n-1 match
  // it bans its last token. (The window starting at the prefix itself is incomplete.)
  const int32_t* prefix = seq + len - (n - 1);
  for (int start = 0; start + n <= len; ++start) {
    if (std::equal(prefix, prefix + n - 1, seq + start)) {
      int t = seq[start + n - 1];
      if (t >= 0 && t < vocab) s[t] = kNegInf;
    }
  }
}

void min_new_tokens(float* s, int vocab, int len, int min_new, int eos) {
  if (len - 1 < min_new && eos >= 0 && eos < vocab) s[eos] = kNegInf;
}

void temperature(float* s, int vocab, float t) {
  for (int v = 0; v < vocab; ++v) s[v] = s[v] / t;
}

void top_k(float* s, int vocab, int k, int min_keep) {
  k = std::min(std::max(k, min_keep), vocab);
  std::vector<float> tmp(s, s + vocab);
  std::nth_element(tmp.begin(), tmp.begin() + (k - 1), tmp.end(), std::greater<float>());
  const float kth = tmp[k - 1];
  for (int v = 0; v < vocab; ++v)
    if (s[v] < kth) s[v] = kNegInf;
}

void top_p(float* s, int vocab, float p, int min_keep) {
  std::vector<int> idx(vocab);
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return s[a] < s[b]; });  // ascending
  std::vector<float> sorted(vocab), probs(vocab);
  for (int i = 0; i < vocab; ++i) sorted[i] = s[idx[i]];
  softmax(sorted.data(), probs.data(), vocab);
  const float threshold = static_cast<float>(1.0 - static_cast<double>(p));  // compared in fp32, as torch does
  std::vector<char> remove(vocab, 0);
  float cum = 0.f;
  for (int i = 0; i < vocab; ++i) {
    cum += probs[i];
    remove[i] = cum <= threshold;
  }
  for (int i = std::max(0, vocab - min_keep); i < vocab; ++i) remove[i] = 0;
  for (int i = 0; i < vocab; ++i)
    if (remove[i]) s[idx[i]] = kNegInf;
}

void process_scores(float* s, int vocab, const int32_t* seq, int len, const GenOptions& o, int min_keep) {
  if (o.repetition_penalty != 1.0f) repetition_penalty(s, vocab, seq, len, o.repetition_penalty);
  if (o.no_repeat_ngram_size > 0) no_repeat_ngram(s, vocab, seq, len, o.no_repeat_ngram_size);
  if (o.min_new_tokens > 0) min_new_tokens(s, vocab, len, o.min_new_tokens, o.eos_token_id);
  if (o.do_sample) {
    if (o.temperature != 1.0f) temperature(s, vocab, o.temperature);
    if (o.top_k != 0) top_k(s, vocab, o.top_k, min_keep);
    if (o.top_p < 1.0f) top_p(s, vocab, o.top_p, min_keep);
  }
}

void log_softmax(float* x, int n) {
  float mx = kNegInf;
  for (int i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i] - mx));
  const float lse = static_cast<float>(std::log(sum));
  for (int i = 0; i < n; ++i) x[i] = (x[i] - mx) - lse;
}

void softmax(const float* x, float* out, int n) {
  float mx = kNegInf;
  for (int i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    out[i] = std::exp(x[i] - mx);
    sum += out[i];
  }
  const float total = static_cast<float>(sum);
  for (int i = 0; i < n; ++i) out[i] = out[i] / total;
}

}  // namespace hukuk::gen
