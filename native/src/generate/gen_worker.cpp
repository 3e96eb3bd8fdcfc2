// GenerateWorker and option parsing (see gen_worker.h).
#include "generate/gen_worker.h"

#include <new>

namespace hukuk::gen {

static bool has(const Napi::Object& o, const char* k) {
  return o.Has(k) && !o.Get(k).IsUndefined() && !o.Get(k).IsNull();
}

static float num_field(const Napi::Object& o, const char* k) {
  Napi::Value v = o.Get(k);
  if (!v.IsNumber()) HUKUK_FAIL("ENGINE_INVALID_ARG", std::string(k) + " must be a number");
  return static_cast<float>(v.As<Napi::Number>().DoubleValue());
}

static int int_field(const Napi::Object& o, const char* k) {
  const int64_t v = int_arg(o.Get(k), k);
  if (v < INT32_MIN || v > INT32_MAX) HUKUK_FAIL("ENGINE_INVALID_ARG", std::string(k) + " is out of range");
  return static_cast<int>(v);
}

void read_gen_options(const Napi::Object& js, GenOptions& o) {
  if (has(js, "maxNewTokens")) o.max_new_tokens = int_field(js, "maxNewTokens");
  if (has(js, "minNewTokens")) o.min_new_tokens = int_field(js, "minNewTokens");
  if (has(js, "numBeams")) o.num_beams = int_field(js, "numBeams");
  if (has(js, "lengthPenalty")) o.length_penalty = num_field(js, "lengthPenalty");
  if (has(js, "earlyStopping")) {
    Napi::Value v = js.Get("earlyStopping");
    if (v.IsBoolean()) {
      o.early_stopping = v.As<Napi::Boolean>().Value() ? EarlyStopping::True : EarlyStopping::False;
    } else if (v.IsString() && v.As<Napi::String>().Utf8Value() == "never") {
      o.early_stopping = EarlyStopping::Never;
    } else {
      HUKUK_FAIL("ENGINE_INVALID_ARG", "earlyStopping must be true, false or 'never'");
    }
  }
  if (has(js, "doSample")) {
    Napi::Value v = js.Get("doSample");
    if (!v.IsBoolean()) HUKUK_FAIL("ENGINE_INVALID_ARG", "doSample must be a boolean");
    o.do_sample = v.As<Napi::Boolean>().Value();
  }
  if (has(js, "temperature")) o.temperature = num_field(js, "temperature");
  if (has(js, "topK")) o.top_k = int_field(js, "topK");
  if (has(js, "topP")) o.top_p = num_field(js, "topP");
  if (has(js, "repetitionPenalty")) o.repetition_penalty = num_field(js, "repetitionPenalty");
  if (has(js, "noRepeatNgramSize")) o.no_repeat_ngram_size = int_field(js, "noRepeatNgramSize");
  if (has(js, "seed")) {
    const int64_t s = int_arg(js.Get("seed"), "seed");
    if (s < 0) HUKUK_FAIL("ENGINE_INVALID_ARG", "seed must be >= 0");
    o.seed = static_cast<uint64_t>(s);
  }
  if (has(js, "eosTokenId")) o.eos_token_id = int_field(js, "eosTokenId");
  if (has(js, "padTokenId")) o.pad_token_id = int_field(js, "padTokenId");
  if (has(js, "decoderStartTokenId")) o.decoder_start_token_id = int_field(js, "decoderStartTokenId");
}

GenInputs read_gen_inputs(const Napi::Object& js) {
  GenInputs in;
  if (!has(js, "inputIds")) HUKUK_FAIL("ENGINE_INVALID_ARG", "inputIds is required");
  auto ids = typed_array_arg<int32_t>(js.Get("inputIds"), "inputIds");
  if (has(js, "batch")) in.batch = int_field(js, "batch");
  if (in.batch < 1) HUKUK_FAIL("ENGINE_INVALID_ARG", "batch must be >= 1");
  if (ids.length == 0 || ids.length % in.batch != 0)
    HUKUK_FAIL("ENGINE_INVALID_ARG", "inputIds must hold batch rows of equal, non-zero length");
  in.src_len = static_cast<int>(ids.length / in.batch);
  in.ids.assign(ids.data, ids.data + ids.length);
  if (has(js, "attentionMask")) {
    auto m = typed_array_arg<int32_t>(js.Get("attentionMask"), "attentionMask");
    if (m.length != ids.length) HUKUK_FAIL("ENGINE_INVALID_ARG", "attentionMask must have the shape of inputIds");
    in.mask.assign(m.data, m.data + m.length);
  }
  return in;
}

GenerateWorker::GenerateWorker(Napi::Env env, std::unique_ptr<StepModel> model, int batch, const GenOptions& opts,
                               Napi::Value on_token, Napi::Value keep_alive, bool stats)
    : Napi::AsyncProgressQueueWorker<TokenEvent>(env, "hukuk.generate"),
      model_(std::move(model)), batch_(batch), opts_(opts), stats_(stats),
      deferred_(Napi::Promise::Deferred::New(env)), cancel_(std::make_shared<std::atomic<bool>>(false)) {
  if (on_token.IsFunction()) on_token_ = Napi::Persistent(on_token.As<Napi::Function>());
  if (keep_alive.IsObject()) keep_alive_ = Napi::Persistent(keep_alive.As<Napi::Object>());
}

static Napi::Value signal_of(const Napi::Object& js) { return js.Has("signal") ? js.Get("signal") : js.Env().Undefined(); }

void GenerateWorker::set_signal(const Napi::Object& js) {
  Napi::Value signal = signal_of(js);
  if (signal.IsObject()) signal_ = Napi::Persistent(signal.As<Napi::Object>());
}

void check_before_start(const StepModel& model, const GenOptions& opts, const Napi::Object& js,
                        const Napi::Value& on_token) {
  if (!on_token.IsUndefined() && !on_token.IsNull() && !on_token.IsFunction())
    HUKUK_FAIL("ENGINE_INVALID_ARG", "onToken must be a function");
  Napi::Value signal = signal_of(js);
  if (!signal.IsUndefined() && !signal.IsNull() && !(signal.IsObject() && signal.As<Napi::Object>().Has("aborted")))
    HUKUK_FAIL("ENGINE_INVALID_ARG", "signal must be an AbortSignal");
  validate(opts, model.vocab());
}

Napi::Value GenerateWorker::start() {
  Napi::Env env = Env();
  Napi::Promise promise = deferred_.Promise();
  std::shared_ptr<std::atomic<bool>> flag = cancel_;
  promise.Set("cancel", Napi::Function::New(
                            env,
                            [flag](const Napi::CallbackInfo& info) -> Napi::Value {
                              flag->store(true);
                              return info.Env().Undefined();
                            },
                            "cancel"));
  Queue();
  if (signal_.IsEmpty()) return promise;
  // An AbortSignal in the options cancels too (already aborted: cancelled before the first step).
  Napi::Object signal = signal_.Value();
  if (signal.Get("aborted").ToBoolean().Value()) flag->store(true);
  Napi::Value add = signal.Get("addEventListener");
  if (add.IsFunction()) {
    Napi::Object once = Napi::Object::New(env);
    once.Set("once", true);
    add.As<Napi::Function>().Call(signal, {Napi::String::New(env, "abort"), promise.Get("cancel"), once});
  }
  return promise;
}

void GenerateWorker::Execute(const ExecutionProgress& progress) {
  try {
    std::unique_lock<std::mutex> lock;
    if (exclusive_) lock = std::unique_lock<std::mutex>(*exclusive_);
    TokenFn emit = [&](int row, int32_t token) {
      TokenEvent e{row, token};
      progress.Send(&e, 1);
    };
    result_ = generate(*model_, batch_, opts_, on_token_.IsEmpty() ? TokenFn() : emit, cancel_.get());
  } catch (const EngineError& e) {
    code_ = e.code;
    where_ = e.where;
    SetError(e.what());
  } catch (const std::bad_alloc&) {
    code_ = "ENGINE_OOM";
    SetError("out of host memory");
  } catch (const std::exception& e) {
    code_ = "ENGINE_INTERNAL";
    SetError(e.what());
  }
}

void GenerateWorker::OnProgress(const TokenEvent* data, size_t count) {
  if (on_token_.IsEmpty() || callback_failed_) return;
  Napi::Env env = Env();
  for (size_t i = 0; i < count && !callback_failed_; ++i) {
    try {
      on_token_.Call({Napi::Number::New(env, data[i].token), Napi::Number::New(env, data[i].row)});
    } catch (const Napi::Error& e) {
      callback_failed_ = true;
      callback_error_ = Napi::Persistent(e.Value().As<Napi::Value>());
      cancel_->store(true);
    }
  }
}

void GenerateWorker::OnOK() {
  Napi::Env env = Env();
  if (callback_failed_) {  // the callback threw after the last step: still a failure
    deferred_.Reject(callback_error_.Value());
    return;
  }
  Napi::Int32Array ids = new_typed_array<int32_t>(env, result_.ids.data(), result_.ids.size());
  if (!stats_) {
    deferred_.Resolve(ids);
    return;
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("ids", ids);
  o.Set("batch", result_.batch);
  o.Set("length", result_.length);
  o.Set("steps", result_.steps);
  add_stats(o);
  deferred_.Resolve(o);
}

void GenerateWorker::OnError(const Napi::Error& e) {
  if (callback_failed_) {
    deferred_.Reject(callback_error_.Value());
    return;
  }
  deferred_.Reject(to_js_error(Env(), code_, e.Message(), where_).Value());
}

}  // namespace hukuk::gen
