// config.json -> T5Config, following transformers' T5Config (feed_forward_proj parsing,
// num_decoder_layers defaulting to num_layers, scale_decoder_outputs defaulting to the tying).
#include <string>

#include "core/error.h"
#include "io/json.h"
#include "t5/model.h"

namespace hukuk {

T5Config T5Config::from_json_text(const std::string& text) {
  json::Value v = json::parse(text, "config.json");
  if (v.kind != json::Value::Object) HUKUK_FAIL("ENGINE_CORRUPT", "config.json is not a JSON object");
  T5Config c;
  c.json = text;
  auto get_int = [&](const char* k, int& out, bool required) {
    const json::Value* x = v.get(k);
    if (!x || x->is_null()) {
      if (required) HUKUK_FAIL("ENGINE_CORRUPT", std::string("config.json: field '") + k + "' is missing");
      return false;
    }
    out = int(x->as_int64((std::string("config.json: ") + k).c_str()));
    return true;
  };
  auto get_float = [&](const char* k, float& out) {
    const json::Value* x = v.get(k);
    if (x && !x->is_null()) out = float(x->as_number((std::string("config.json: ") + k).c_str()));
  };
  if (const json::Value* mt = v.get("model_type"); mt && mt->kind == json::Value::String) c.model_type = mt->str;
  if (c.model_type != "t5" && c.model_type != "mt5")
    HUKUK_FAIL("ENGINE_UNSUPPORTED", "model_type '" + c.model_type + "' is not supported (t5, mt5, t5-efficient)");
  get_int("vocab_size", c.vocab_size, true);
  get_int("d_model", c.d_model, true);
  get_int("d_kv", c.d_kv, true);
  get_int("d_ff", c.d_ff, true);
  get_int("num_layers", c.num_layers, true);
  c.num_decoder_layers = c.num_layers;
  get_int("num_decoder_layers", c.num_decoder_layers, false);
  get_int("num_heads", c.num_heads, true);
  get_int("relative_attention_num_buckets", c.relative_attention_num_buckets, false);
  get_int("relative_attention_max_distance", c.relative_attention_max_distance, false);
  get_float("dropout_rate", c.dropout_rate);
  get_float("layer_norm_epsilon", c.layer_norm_epsilon);
  get_int("pad_token_id", c.pad_token_id, false);
  if (const json::Value* e = v.get("eos_token_id"); e) {
    if (e->kind == json::Value::Array && !e->arr.empty()) c.eos_token_id = int(e->arr[0].as_int64("config.json: eos_token_id"));
    else if (e->kind == json::Value::Number) c.eos_token_id = int(e->as_int64("config.json: eos_token_id"));
  }
  c.decoder_start_token_id = c.pad_token_id;
  get_int("decoder_start_token_id", c.decoder_start_token_id, false);
  if (const json::Value* t = v.get("tie_word_embeddings"); t && t->kind == json::Value::Bool) c.tie_word_embeddings = t->b;
  c.scale_decoder_outputs = c.tie_word_embeddings;
  if (const json::Value* t = v.get("scale_decoder_outputs"); t && t->kind == json::Value::Bool) c.scale_decoder_outputs = t->b;
  if (const json::Value* f = v.get("feed_forward_proj"); f && f->kind == json::Value::String) c.feed_forward_proj = f->str;
  // transformers: act_info = feed_forward_proj.split("-"); gated iff "gated-<act>"; gated-gelu -> gelu_new
  const std::string& ff = c.feed_forward_proj;
  const auto dash = ff.find('-');
  if (dash == std::string::npos) {
    c.is_gated = false;
    c.act = ff;
  } else if (ff.substr(0, dash) == "gated" && ff.find('-', dash + 1) == std::string::npos) {
    c.is_gated = true;
    c.act = ff.substr(dash + 1);
  } else {
    HUKUK_FAIL("ENGINE_CORRUPT", "config.json: feed_forward_proj '" + ff + "' is not '<act>' or 'gated-<act>'");
  }
  if (ff == "gated-gelu") c.act = "gelu_new";
  if (c.act != "relu" && c.act != "gelu_new" && c.act != "gelu" && c.act != "silu")
    HUKUK_FAIL("ENGINE_UNSUPPORTED", "config.json: activation '" + c.act + "' is not supported");
  if (c.d_model <= 0 || c.d_kv <= 0 || c.d_ff <= 0 || c.num_heads <= 0 || c.vocab_size <= 0 || c.num_layers <= 0 ||
      c.num_decoder_layers <= 0 || c.relative_attention_num_buckets <= 1 || c.relative_attention_max_distance <= 1)
    HUKUK_FAIL("ENGINE_CORRUPT", "config.json: a dimension is not positive");
  return c;
}

}  // namespace hukuk
