// T5 (t5 / mt5 / t5-efficient) encoder-decoder with LoRA adapters: the engine's model.
//
// The CPU path is the exact reference: it computes the same function as transformers'
// modeling_t5.py + peft's LoRA (fp32, to rounding). Layout conventions, everywhere:
//   - row-major; activations [rows, features] with rows = batch * seq_len (batch-major);
//   - a Linear weight is [out, in] as in PyTorch, y = x W^T (+ (alpha/r) * B(A(dropout(x))));
//   - token ids and masks are int32; labels use -100 for "ignored".
//
// Who calls what:
//   - the Node-API class (t5_napi.cpp) wraps everything for JavaScript;
//   - the generation engineer (native/src/generate) calls encode() once, then init_cache()
//     and decode_step() token by token (with reorder_cache() for beam search);
//   - the trainer engineer (native/src/train) walks lora_params() (AdamW over fp32 buffers this
//     model owns) and takes the JS model object through unwrap_t5() (t5_napi.h).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/param.h"

namespace hukuk {

// config.json of a T5-family model (only the fields the graph needs).
struct T5Config {
  int vocab_size = 32128;
  int d_model = 512;
  int d_kv = 64;
  int d_ff = 2048;
  int num_layers = 6;          // encoder blocks
  int num_decoder_layers = 6;  // decoder blocks (defaults to num_layers when absent)
  int num_heads = 8;
  int relative_attention_num_buckets = 32;
  int relative_attention_max_distance = 128;
  float dropout_rate = 0.1f;
  float layer_norm_epsilon = 1e-6f;
  std::string feed_forward_proj = "relu";  // "relu" | "gated-gelu" | "gated-silu" | "gelu" | "silu"
  bool is_gated = false;                   // derived: feed_forward_proj starts with "gated-"
  std::string act = "relu";                // derived: "relu" | "gelu_new" | "silu" | "gelu"
  bool tie_word_embeddings = true;         // lm_head = shared (else lm_head.weight)
  bool scale_decoder_outputs = true;       // decoder output * d_model^-0.5 before the head
                                           // (transformers 5: config field; older: = tie_word_embeddings)
  int pad_token_id = 0;
  int eos_token_id = 1;
  int decoder_start_token_id = 0;
  std::string model_type = "t5";
  std::string json;  // the config.json text as read (handed back to JS as .config)

  int inner_dim() const { return num_heads * d_kv; }
  static T5Config from_json_text(const std::string& text);  // throws EngineError naming the field
};

struct LoadOptions {
  std::string model_dir;      // config.json + model.safetensors (or sharded with an index)
  DeviceKind device = DeviceKind::CPU;
  bool quant_nf4 = false;     // QLoRA policy: q,k,v,o,wi,wi_0,wi_1 as NF4 + double quant
  bool quantize_wo = false;   // also wo (saves memory, costs a bit of accuracy)
  bool compute_bf16 = false;  // CUDA path only; the CPU always computes in fp32
};

struct LoraOptions {
  int r = 16;
  float alpha = 32.f;
  float dropout = 0.f;                       // on the input of A, train mode only
  std::vector<std::string> targets = {"q", "k", "v", "o"};  // any of q,k,v,o,wi,wi_0,wi_1,wo
  // Which blocks: any of "SelfAttention", "EncDecAttention", "DenseReluDense" (empty = all)
  // and "encoder"/"decoder" (empty = both). A target only applies where the name exists.
  std::vector<std::string> modules;
  bool rslora = false;                       // scale alpha/sqrt(r) instead of alpha/r
  uint64_t seed = 0;                         // A ~ Kaiming-uniform(a=sqrt(5)) from this seed, B = 0
};

// What the adapter metadata looks like in peft's adapter_config.json.
struct AdapterMeta {
  std::string base_model_name_or_path;
  std::string extra_json;  // extra top-level fields (a JSON object body without braces), optional
};

// Output of the encoder, reusable across many decode steps (generation).
struct EncoderOutput {
  int batch = 0, src_len = 0;
  std::vector<float> hidden;     // [batch*src_len, d_model], after the final layer norm
  std::vector<int32_t> mask;     // [batch*src_len] attention mask (1 = token, 0 = padding)
};

// Key/value cache for incremental decoding. Self-attention K/V grow one position per step;
// cross-attention K/V are computed once from the encoder output in init_cache().
// Row r of the cache uses encoder row enc_row[r] (so beams share one encoder pass).
struct DecoderCache {
  int rows = 0;       // decoding rows (batch * num_beams)
  int max_len = 0;    // capacity in decoder positions
  int length = 0;     // positions already decoded (the next step's query position)
  int src_len = 0;
  std::vector<int32_t> enc_mask;            // [rows*src_len]
  // per decoder layer: [rows, heads, max_len, d_kv] and [rows, heads, src_len, d_kv]
  std::vector<std::vector<float>> self_k, self_v, cross_k, cross_v;
};

// Batch for forward/backward. labels may be null for forward-only (then decoder_input_ids
// must be given). decoder_input_ids null = shift_right(labels) with decoder_start_token_id
// (and -100 replaced by pad), as T5ForConditionalGeneration does.
struct Batch {
  const int32_t* input_ids = nullptr;       // [batch, src_len]
  const int32_t* attention_mask = nullptr;  // [batch, src_len] or null (all ones)
  const int32_t* labels = nullptr;          // [batch, tgt_len], -100 ignored
  const int32_t* decoder_input_ids = nullptr;
  int batch = 0, src_len = 0, tgt_len = 0;
};

struct StepOptions {
  bool use_adapter = true;    // false = base model only
  bool train = false;         // dropout on (config dropout_rate + LoRA dropout)
  uint64_t dropout_seed = 0;  // seeded, counter-based dropout (same seed = same masks)
  float* logits_out = nullptr;  // optional [batch*tgt_len, vocab]
  // Activation recomputation (gradient checkpointing per block), CUDA path only: the forward keeps
  // only each block's input (and the small LoRA h), and the backward re-runs block l's forward
  // into one shared scratch right before block l's backward. Same results (the dropout masks are
  // counter-based), much less activation memory, about one more forward of time. The CPU path
  // accepts the option and ignores it (it keeps per-step vectors, not a device arena).
  bool recompute = false;
};

struct StepResult {
  double loss = 0;     // mean cross-entropy over labels != -100 (NaN when there are none)
  int64_t tokens = 0;  // number of labels != -100
};

class T5Impl;  // weights, LoRA state, activation arena (t5/model.cpp)

class T5Model {
 public:
  static std::unique_ptr<T5Model> load(const LoadOptions& opt);
  ~T5Model();
  T5Model(const T5Model&) = delete;
  T5Model& operator=(const T5Model&) = delete;

  const T5Config& config() const;
  DeviceKind device() const;

  // ---- adapters ----
  void add_lora(const LoraOptions& opt);            // replaces an existing adapter
  bool has_lora() const;
  void load_adapter(const std::string& dir);        // peft adapter_config.json + adapter_model.safetensors
  void save_adapter(const std::string& dir, const AdapterMeta& meta) const;
  void merge_and_save(const std::string& dir) const;  // base + adapter -> dir/model.safetensors + config.json
  std::vector<ParamRef> lora_params();              // weights/grads/moments, fp32, owned by the model
  void zero_grad();

  // ---- training / evaluation ----
  // Full forward (encoder + decoder + loss). With labels null, loss is NaN.
  StepResult forward(const Batch& b, const StepOptions& o);
  // Forward + backward: ADDS d(sum loss / tokens)/d(LoRA params) into the grad buffers.
  StepResult forward_backward(const Batch& b, const StepOptions& o);

  // ---- generation (eval mode, no dropout) ----
  // Threading: forward/forward_backward/encode share one activation arena (serialized by a
  // mutex); init_cache/decode_step/reorder_cache touch only the cache and thread-local scratch,
  // so a generation may run on a worker thread. Adapter changes (add_lora, load_adapter) must
  // not overlap any call.
  // Encoder pass once: ids/mask [batch, src_len] (mask may be null).
  void encode(const int32_t* input_ids, const int32_t* attention_mask, int batch, int src_len,
              EncoderOutput& out, bool use_adapter = true);
  // Prepares a cache for `rows` decoding rows; row r reads encoder row enc_row[r]
  // (enc_row null = identity, rows == enc.batch). Cross K/V are computed here once.
  void init_cache(const EncoderOutput& enc, const int32_t* enc_row, int rows, int max_len,
                  DecoderCache& cache, bool use_adapter = true);
  // One decoder position for every row: tokens [rows] (the previous token; the first step
  // passes decoder_start_token_id). Writes logits [rows, vocab] (after the head, with the
  // tied-embedding scaling) and advances cache.length by one.
  void decode_step(DecoderCache& cache, const int32_t* tokens, float* logits, bool use_adapter = true);
  // Beam search: row r of the cache becomes old row src_rows[r] (self and cross K/V).
  void reorder_cache(DecoderCache& cache, const int32_t* src_rows) const;

  T5Impl& impl() { return *impl_; }

 private:
  T5Model() = default;
  std::unique_ptr<T5Impl> impl_;
};

}  // namespace hukuk
