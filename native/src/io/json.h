// A small JSON reader/writer for the files the engine reads itself: config.json, safetensors
// headers, model.safetensors.index.json, adapter_config.json. Numbers are kept as double plus the
// literal text (so int64 offsets stay exact). Errors throw EngineError 'ENGINE_CORRUPT' with the
// byte offset and the caller's description of the document.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hukuk::json {

struct Value {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool b = false;
  double num = 0;
  std::string str;  // String: the text; Number: the literal
  std::vector<Value> arr;
  std::vector<std::pair<std::string, Value>> obj;  // in file order

  bool is_null() const { return kind == Null; }
  const Value* get(const std::string& key) const;  // null when absent (or not an object)
  int64_t as_int64(const char* what) const;
  double as_number(const char* what) const;
  const std::string& as_string(const char* what) const;
  bool as_bool(const char* what) const;
};

// Parses text; `what` names the document in error messages ("config.json", a file path...).
Value parse(const std::string& text, const std::string& what);

// "..." with JSON escapes.
std::string quote(const std::string& s);

}  // namespace hukuk::json
