// Greedy / sampling / beam search, following transformers' generation/utils.py step by step
// (_sample and _beam_search with its helpers _get_top_k_continuations,
// _get_running_beams_for_next_iteration, _update_finished_beams, _check_early_stop_heuristic,
// _beam_search_has_unfinished_sequences). Scores are fp32 like transformers' and the masking
// constants (-1e9 added in fp32) are the same, so the same scores pick the same beams.
#include "generate/search.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "core/error.h"
#include "generate/logits_process.h"
#include "generate/rng.h"

namespace hukuk::gen {

static constexpr float kMask = -1.0e9f;  // transformers' "very large negative value"

static void check_cancel(const std::atomic<bool>* cancel) {
  if (cancel && cancel->load(std::memory_order_relaxed)) HUKUK_FAIL("ENGINE_CANCELLED", "generation was cancelled");
}

// torch.argmax: the first index of the maximum.
static int argmax(const float* s, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (s[i] > s[best]) best = i;
  return best;
}

// torch.topk(k) over n scores, sorted descending; equal scores keep the lower index first.
static void top_k_indices(const float* s, int n, int k, std::vector<int>& out) {
  out.clear();
  for (int i = 0; i < n; ++i) {
    const float x = s[i];
    if (static_cast<int>(out.size()) == k && !(x > s[out.back()])) continue;
    auto pos = std::upper_bound(out.begin(), out.end(), x, [&](float v, int j) { return v > s[j]; });
    out.insert(pos, i);
    if (static_cast<int>(out.size()) > k) out.pop_back();
  }
}

// ---------------------------------------------------------------------------------------
// Greedy and sampling (transformers' _sample)
// ---------------------------------------------------------------------------------------
static GenResult greedy_or_sample(StepModel& m, int batch, const GenOptions& o, const TokenFn& on_token,
                                  const std::atomic<bool>* cancel) {
  const int V = m.vocab();
  const int max_len = 1 + o.max_new_tokens;
  check_cancel(cancel);
  m.start(batch, 1, max_len);

  std::vector<int32_t> seq(static_cast<size_t>(batch) * max_len, o.pad_token_id);
  for (int b = 0; b < batch; ++b) seq[static_cast<size_t>(b) * max_len] = o.decoder_start_token_id;
  std::vector<char> unfinished(batch, 1);
  std::vector<float> logits(static_cast<size_t>(batch) * V), probs(V);
  std::vector<int32_t> last(batch, o.decoder_start_token_id), next(batch);
  Rng rng(o.seed);
  GenResult res;
  int cur = 1;
  for (;;) {
    check_cancel(cancel);
    m.step(last.data(), batch, logits.data());
    ++res.steps;
    for (int b = 0; b < batch; ++b) {
      float* s = &logits[static_cast<size_t>(b) * V];
      process_scores(s, V, &seq[static_cast<size_t>(b) * max_len], cur, o, 1);
      int t;
      if (o.do_sample && unfinished[b]) {
        softmax(s, probs.data(), V);
        t = sample_index(probs.data(), V, rng);
        if (t < 0) t = argmax(s, V);  // every token filtered out (NaN scores): fall back
      } else {
        t = argmax(s, V);
      }
      next[b] = unfinished[b] ? t : o.pad_token_id;  // finished rows are padded
    }
    for (int b = 0; b < batch; ++b) seq[static_cast<size_t>(b) * max_len + cur] = next[b];
    ++cur;
    if (on_token)
      for (int b = 0; b < batch; ++b)
        if (unfinished[b]) on_token(b, next[b]);
    bool any = false;
    for (int b = 0; b < batch; ++b) {
      if (next[b] == o.eos_token_id || cur >= max_len) unfinished[b] = 0;  // EosTokenCriteria, MaxLengthCriteria
      any = any || unfinished[b];
    }
    if (!any) break;
    last = next;
  }
  res.batch = batch;
  res.length = cur;
  res.ids.resize(static_cast<size_t>(batch) * cur);
  for (int b = 0; b < batch; ++b)
    std::copy_n(&seq[static_cast<size_t>(b) * max_len], cur, &res.ids[static_cast<size_t>(b) * cur]);
  return res;
}

// ---------------------------------------------------------------------------------------
// Beam search (transformers' _beam_search)
// ---------------------------------------------------------------------------------------
static GenResult beam_search(StepModel& m, int batch, const GenOptions& o, const TokenFn& on_token,
                             const std::atomic<bool>* cancel) {
  const int V = m.vocab();
  const int nb = o.num_beams;
  const int K = 2 * nb;  // beams_to_keep = max(2, 1 + number of eos ids) * num_beams
  const int max_len = 1 + o.max_new_tokens;
  const int rows = batch * nb;
  const float lp = o.length_penalty;
  // transformers: `output_fill_value = pad_token_id or eos_token_id[0]`: a pad id of 0 is falsy,
  // so with T5's pad 0 the unused tail of a hypothesis is filled with eos.
  const int32_t fill = o.pad_token_id != 0 ? o.pad_token_id : o.eos_token_id;
  const int min_keep = o.do_sample ? 2 : 1;
  check_cancel(cancel);
  m.start(batch, nb, max_len);

  auto row_of = [&](std::vector<int32_t>& v, int r) { return &v[static_cast<size_t>(r) * max_len]; };
  // running hypotheses (all of length cur) and the finished ones kept so far
  std::vector<int32_t> run_seq(static_cast<size_t>(rows) * max_len, fill), new_run_seq(run_seq.size());
  for (int r = 0; r < rows; ++r) row_of(run_seq, r)[0] = o.decoder_start_token_id;
  std::vector<int32_t> fin_seq = run_seq, new_fin_seq(fin_seq.size());
  std::vector<float> run_score(rows, 0.f), new_run_score(rows);
  for (int b = 0; b < batch; ++b)
    for (int j = 1; j < nb; ++j) run_score[b * nb + j] = kMask;  // only beam 0 expands at first
  std::vector<float> fin_score(rows, kMask);
  std::vector<char> fin_done(rows, 0);
  std::vector<int> fin_len(rows, 0);  // generated tokens (the count of beam_indices != -1)
  std::vector<char> unsatisfied(batch, 1);  // is_early_stop_heuristic_unsatisfied

  std::vector<float> logits(static_cast<size_t>(rows) * V), probs;
  std::vector<int32_t> last(rows), src_rows(rows);
  std::vector<int> cand;            // flat indices beam*V+token of the K continuations
  std::vector<float> cand_score(K), cand_masked(K), cand_final(K), merged(nb + K);
  std::vector<char> cand_hit(K);
  std::vector<int> order;
  Rng rng(o.seed);
  GenResult res;

  int cur = 1;
  for (;;) {
    check_cancel(cancel);
    for (int r = 0; r < rows; ++r) last[r] = row_of(run_seq, r)[cur - 1];
    m.step(last.data(), rows, logits.data());
    ++res.steps;
    // b. log-probs, processors (on log-probs, as transformers does in beam search), + running scores
    for (int r = 0; r < rows; ++r) {
      float* s = &logits[static_cast<size_t>(r) * V];
      log_softmax(s, V);
      process_scores(s, V, row_of(run_seq, r), cur, o, min_keep);
      for (int v = 0; v < V; ++v) s[v] = s[v] + run_score[r];
    }
    bool all_hit = true;
    const float denom = static_cast<float>(std::pow(static_cast<double>(cur), static_cast<double>(lp)));
    for (int b = 0; b < batch; ++b) {
      const float* acc = &logits[static_cast<size_t>(b) * nb * V];  // [nb * V]
      // c. top-K continuations (or K samples without replacement)
      if (o.do_sample) {
        probs.resize(static_cast<size_t>(nb) * V);
        softmax(acc, probs.data(), nb * V);
        cand.clear();
        for (int k = 0; k < K; ++k) {
          int i = sample_index(probs.data(), nb * V, rng);
          if (i < 0) {  // fewer than K tokens with mass: take the best remaining
            i = 0;
            for (int t = 0; t < nb * V; ++t)
              if (probs[t] >= 0 && (probs[i] < 0 || acc[t] > acc[i])) i = t;
          }
          probs[i] = -1.f;  // drawn: never again
          cand.push_back(i);
        }
      } else {
        top_k_indices(acc, nb * V, K, cand);
      }
      for (int k = 0; k < K; ++k) {
        cand_score[k] = acc[cand[k]];
        const int tok = cand[k] % V;
        // d. stopping criteria on the extended sequence: eos, or max_length reached
        cand_hit[k] = (tok == o.eos_token_id) || (cur + 1 >= max_len);
        all_hit = all_hit && cand_hit[k];
      }
      // e. the best num_beams unfinished continuations keep running
      for (int k = 0; k < K; ++k) cand_masked[k] = cand_score[k] + (cand_hit[k] ? kMask : 0.f);
      top_k_indices(cand_masked.data(), K, nb, order);
      for (int j = 0; j < nb; ++j) {
        const int k = order[j];
        const int src = b * nb + cand[k] / V;
        int32_t* dst = row_of(new_run_seq, b * nb + j);
        std::copy_n(row_of(run_seq, src), max_len, dst);
        dst[cur] = cand[k] % V;
        new_run_score[b * nb + j] = cand_masked[k];
        src_rows[b * nb + j] = src;
      }
      // f. finished hypotheses: merge the newly finished (among the top num_beams) into the kept ones
      bool all_done = true;
      for (int j = 0; j < nb; ++j) all_done = all_done && fin_done[b * nb + j];
      const bool batch_full = all_done && o.early_stopping == EarlyStopping::True;
      for (int k = 0; k < K; ++k) {
        float c = cand_score[k] / denom;
        c += batch_full ? kMask : 0.f;
        c += unsatisfied[b] ? 0.f : kMask;
        const bool just_finished = cand_hit[k] && k < nb;
        c += just_finished ? 0.f : kMask;
        cand_final[k] = c;
      }
      for (int j = 0; j < nb; ++j) merged[j] = fin_score[b * nb + j];
      for (int k = 0; k < K; ++k) merged[nb + k] = cand_final[k];
      top_k_indices(merged.data(), nb + K, nb, order);
      std::vector<float> fs(nb);
      std::vector<char> fd(nb);
      std::vector<int> fl(nb);
      for (int j = 0; j < nb; ++j) {
        const int i = order[j];
        int32_t* dst = row_of(new_fin_seq, b * nb + j);
        if (i < nb) {
          std::copy_n(row_of(fin_seq, b * nb + i), max_len, dst);
          fs[j] = fin_score[b * nb + i];
          fd[j] = fin_done[b * nb + i];
          fl[j] = fin_len[b * nb + i];
        } else {
          const int k = i - nb;
          std::copy_n(row_of(run_seq, b * nb + cand[k] / V), max_len, dst);
          dst[cur] = cand[k] % V;
          fs[j] = cand_final[k];
          fd[j] = cand_hit[k] && k < nb;
          fl[j] = cur;  // cur + 1 - decoder_prompt_len
        }
      }
      for (int j = 0; j < nb; ++j) {
        fin_score[b * nb + j] = fs[j];
        fin_done[b * nb + j] = fd[j];
        fin_len[b * nb + j] = fl[j];
      }
    }
    run_seq.swap(new_run_seq);
    run_score.swap(new_run_score);
    // copy only the finished rows that were rewritten (all of them: new_fin_seq holds every row)
    fin_seq.swap(new_fin_seq);
    // g. the cache follows the surviving beams
    m.reorder(src_rows.data(), rows);
    ++cur;
    // early-stop heuristic: can a running beam still beat the worst kept hypothesis?
    bool improvement_possible = false, all_finished = true;
    for (int b = 0; b < batch; ++b) {
      const int hyp_len = (o.early_stopping == EarlyStopping::Never && lp > 0.f) ? max_len - 1 : cur - 1;
      const float best_running =
          run_score[b * nb] / static_cast<float>(std::pow(static_cast<double>(hyp_len), static_cast<double>(lp)));
      float worst = fin_score[b * nb];
      for (int j = 1; j < nb; ++j) worst = std::min(worst, fin_score[b * nb + j]);
      bool any = false;
      for (int j = 0; j < nb; ++j) {
        const float w = fin_done[b * nb + j] ? worst : kMask;
        any = any || (best_running > w);
      }
      unsatisfied[b] = unsatisfied[b] && any;
      improvement_possible = improvement_possible || unsatisfied[b];
      for (int j = 0; j < nb; ++j) all_finished = all_finished && fin_done[b * nb + j];
    }
    const bool exists_open_beam = !(all_finished && o.early_stopping == EarlyStopping::True);
    if (!(improvement_possible && exists_open_beam && !all_hit)) break;
  }

  // 5. the best hypothesis of each input, cropped to the longest of them
  int gen_max = 0;
  for (int b = 0; b < batch; ++b) gen_max = std::max(gen_max, fin_len[b * nb]);
  res.batch = batch;
  res.length = 1 + gen_max;
  res.ids.resize(static_cast<size_t>(batch) * res.length);
  for (int b = 0; b < batch; ++b)
    std::copy_n(row_of(fin_seq, b * nb), res.length, &res.ids[static_cast<size_t>(b) * res.length]);
  if (on_token)
    for (int b = 0; b < batch; ++b)
      for (int t = 1; t <= fin_len[b * nb]; ++t) on_token(b, res.ids[static_cast<size_t>(b) * res.length + t]);
  return res;
}

GenResult generate(StepModel& model, int batch, const GenOptions& o, const TokenFn& on_token,
                   const std::atomic<bool>* cancel) {
  HUKUK_CHECK(batch >= 1, "ENGINE_INVALID_ARG", "batch must be >= 1");
  validate(o, model.vocab());
  return o.num_beams > 1 ? beam_search(model, batch, o, on_token, cancel)
                         : greedy_or_sample(model, batch, o, on_token, cancel);
}

}  // namespace hukuk::gen
