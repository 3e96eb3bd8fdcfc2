// Runs a generation off the JavaScript thread and streams its tokens back.
//
// A Napi::AsyncProgressQueueWorker runs search.cpp's generate() on a libuv worker thread; every
// token is queued to the JS thread (none is dropped, order kept) and handed to onToken(id, row).
// The returned Promise carries a cancel() method: it sets a flag read before every decoder step,
// and the promise then rejects with an Error whose .code is 'ENGINE_CANCELLED'. The promise
// settles only after every queued token was delivered. opts.signal (an AbortSignal) cancels too. If onToken throws, generation is
// cancelled and the promise rejects with what it threw.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "core/napi_error.h"
#include "generate/options.h"
#include "generate/search.h"

namespace hukuk::gen {

struct TokenEvent {
  int32_t row;
  int32_t token;
};

// Reads the optional fields of a JS options object over `o` (defaults stay where absent).
void read_gen_options(const Napi::Object& js, GenOptions& o);

// inputIds (Int32Array), attentionMask (Int32Array, optional), batch (optional, default 1).
struct GenInputs {
  std::vector<int32_t> ids, mask;
  int batch = 1, src_len = 0;
};
GenInputs read_gen_inputs(const Napi::Object& js);

// Validates everything a GenerateWorker would otherwise fail on; call it BEFORE creating the
// worker (a worker must not throw from its constructor: its thread-safe function would leak).
// opts is the JS options object (its .signal is checked).
void check_before_start(const StepModel& model, const GenOptions& opts, const Napi::Object& opts_js,
                        const Napi::Value& on_token);

class GenerateWorker : public Napi::AsyncProgressQueueWorker<TokenEvent> {
 public:
  // keep_alive: a JS object (the model) held until the worker finishes. stats: resolve with
  // {ids, steps, ...} instead of the bare Int32Array (test hooks).
  GenerateWorker(Napi::Env env, std::unique_ptr<StepModel> model, int batch, const GenOptions& opts,
                 Napi::Value on_token, Napi::Value keep_alive, bool stats);
  // Queues the worker; returns its promise with .cancel().
  Napi::Value start();
  StepModel& model() { return *model_; }
  // Held while the search runs on the worker thread: generations sharing a model take turns.
  void set_exclusive(std::mutex* m) { exclusive_ = m; }
  // opts.signal: an AbortSignal whose 'abort' event calls cancel(). Call before start().
  void set_signal(const Napi::Object& opts);

 protected:
  void Execute(const ExecutionProgress& progress) override;
  void OnProgress(const TokenEvent* data, size_t count) override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;
  // Extra fields of the stats object (test hooks add model counters).
  virtual void add_stats(Napi::Object&) {}

 private:
  std::unique_ptr<StepModel> model_;
  int batch_;
  GenOptions opts_;
  bool stats_;
  Napi::Promise::Deferred deferred_;
  Napi::FunctionReference on_token_;
  Napi::ObjectReference keep_alive_;
  Napi::ObjectReference signal_;
  Napi::Reference<Napi::Value> callback_error_;
  bool callback_failed_ = false;
  std::shared_ptr<std::atomic<bool>> cancel_;
  std::mutex* exclusive_ = nullptr;
  GenResult result_;
  std::string code_ = "ENGINE_INTERNAL", where_;
};

}  // namespace hukuk::gen
