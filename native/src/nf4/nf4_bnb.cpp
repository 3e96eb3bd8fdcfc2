// bitsandbytes' serialized 4-bit layout (QuantState.as_dict(packed=True)): read and write.
// See nf4.h for the tensor names and the JSON.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "core/error.h"
#include "nf4/nf4.h"

namespace hukuk::nf4 {

namespace {

// ---- a small JSON reader for the flat quant_state object ----
// Values: string, number, null, or an array of numbers (the shape). Enough for what
// bitsandbytes writes; anything else is a corrupt file for us.
struct JsonValue {
  enum Kind { Null, Number, String, Array } kind = Null;
  double number = 0;
  std::string str;
  std::vector<double> array;
};

class JsonReader {
 public:
  explicit JsonReader(const std::string& s) : s_(s) {}

  std::map<std::string, JsonValue> object() {
    std::map<std::string, JsonValue> out;
    expect('{');
    ws();
    if (peek() == '}') { ++i_; return out; }
    for (;;) {
      ws();
      std::string key = string();
      ws();
      expect(':');
      ws();
      out[key] = value();
      ws();
      if (peek() == ',') { ++i_; continue; }
      expect('}');
      break;
    }
    ws();
    if (i_ != s_.size()) fail("trailing characters");
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& why) {
    HUKUK_FAIL("ENGINE_CORRUPT", "bitsandbytes quant_state JSON: " + why + " at byte " + std::to_string(i_));
  }
  char peek() { return i_ < s_.size() ? s_[i_] : '\0'; }
  void ws() { while (i_ < s_.size() && std::strchr(" \t\r\n", s_[i_])) ++i_; }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  std::string string() {
    expect('"');
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (s_[i_] == '\\') {
        ++i_;
        char e = peek();
        if (e == 'n') out += '\n'; else if (e == 't') out += '\t'; else if (e == 'u') fail("\\u escapes are not expected");
        else out += e;
        ++i_;
      } else {
        out += s_[i_++];
      }
    }
    expect('"');
    return out;
  }
  double number() {
    const char* begin = s_.c_str() + i_;
    char* end = nullptr;
    double v = std::strtod(begin, &end);
    if (end == begin) fail("expected a number");
    i_ += static_cast<size_t>(end - begin);
    return v;
  }
  JsonValue value() {
    JsonValue v;
    char c = peek();
    if (c == '"') { v.kind = JsonValue::String; v.str = string(); }
    else if (c == 'n') { if (s_.compare(i_, 4, "null") != 0) fail("bad literal"); i_ += 4; }
    else if (c == '[') {
      v.kind = JsonValue::Array;
      ++i_;
      ws();
      if (peek() == ']') { ++i_; return v; }
      for (;;) {
        ws();
        v.array.push_back(number());
        ws();
        if (peek() == ',') { ++i_; continue; }
        expect(']');
        break;
      }
    } else { v.kind = JsonValue::Number; v.number = number(); }
    return v;
  }

  const std::string& s_;
  size_t i_ = 0;
};

// Python's repr of a float (json.dumps uses it): the shortest digits that read back the same
// double, with ".0" when it would look like an integer.
std::string python_float_repr(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[40];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

TensorView need(const TensorLookup& lookup, const std::string& name, const char* dtype) {
  TensorView v;
  if (!lookup(name, &v)) HUKUK_FAIL("ENGINE_CORRUPT", "bitsandbytes NF4 weight: tensor '" + name + "' is missing");
  if (v.dtype != dtype)
    HUKUK_FAIL("ENGINE_CORRUPT", "bitsandbytes NF4 weight: '" + name + "' is " + v.dtype + ", expected " + dtype);
  return v;
}

template <typename T>
std::vector<T> copy_of(const TensorView& v) {
  std::vector<T> out(v.nbytes / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), v.data, out.size() * sizeof(T));
  return out;
}

template <typename T>
OwnedTensor owned(const std::string& name, const char* dtype, std::vector<int64_t> shape, const std::vector<T>& data) {
  OwnedTensor t;
  t.name = name;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.bytes.resize(data.size() * sizeof(T));
  if (!data.empty()) std::memcpy(t.bytes.data(), data.data(), t.bytes.size());
  return t;
}

const char* kStateSuffix = "weight.quant_state.bitsandbytes__nf4";

}  // namespace

bool is_bnb_nf4(const TensorLookup& lookup, const std::string& prefix) {
  TensorView v;
  return lookup(prefix + kStateSuffix, &v);
}

std::string quant_state_json(const Nf4Tensor& t) {
  // Key order as QuantState.as_dict builds it; separators as json.dumps' defaults.
  std::string s = "{\"quant_type\": \"nf4\", \"blocksize\": " + std::to_string(t.blocksize) + ", \"dtype\": \"" +
                  dtype_torch_name(t.dtype) + "\", \"shape\": [";
  for (size_t i = 0; i < t.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(t.shape[i]);
  s += "]";
  if (t.nested) {
    s += ", \"nested_blocksize\": " + std::to_string(t.blocksize2) + ", \"nested_dtype\": \"float32\", \"nested_offset\": " +
         python_float_repr(static_cast<double>(t.offset));
  }
  s += "}";
  return s;
}

Nf4Tensor load_bnb_nf4(const TensorLookup& lookup, const std::string& prefix) {
  TensorView state = need(lookup, prefix + kStateSuffix, "U8");
  std::string json(reinterpret_cast<const char*>(state.data), state.nbytes);
  auto obj = JsonReader(json).object();
  auto get = [&](const char* key, JsonValue::Kind kind) -> const JsonValue& {
    auto it = obj.find(key);
    if (it == obj.end() || it->second.kind != kind)
      HUKUK_FAIL("ENGINE_CORRUPT", std::string("bitsandbytes quant_state of '") + prefix + "weight' lacks '" + key + "'");
    return it->second;
  };
  if (get("quant_type", JsonValue::String).str != "nf4")
    HUKUK_FAIL("ENGINE_CORRUPT", "bitsandbytes weight '" + prefix + "weight' is not NF4");

  // The numbers come from the file: check them as doubles before any cast (a cast of NaN or
  // of 1e300 to an integer is undefined) and keep numel far from int64 overflow.
  auto blocksize_of = [&](const char* key) {
    const double b = get(key, JsonValue::Number).number;
    HUKUK_CHECK(b >= 2 && b <= 4096 && b == std::floor(b) && (static_cast<int>(b) & (static_cast<int>(b) - 1)) == 0,
                "ENGINE_CORRUPT", "bitsandbytes quant_state of '" + prefix + "weight': " + key + " is not a power of two in [2, 4096]");
    return static_cast<int>(b);
  };
  Nf4Tensor t;
  t.blocksize = blocksize_of("blocksize");
  t.dtype = dtype_from_torch_name(get("dtype", JsonValue::String).str);
  t.numel = 1;
  for (double d : get("shape", JsonValue::Array).array) {
    HUKUK_CHECK(d >= 1 && d < 2147483648.0 && d == std::floor(d) && static_cast<double>(t.numel) * d < 281474976710656.0,
                "ENGINE_CORRUPT", "bitsandbytes quant_state of '" + prefix + "weight': bad shape");
    t.shape.push_back(static_cast<int64_t>(d));
    t.numel *= static_cast<int64_t>(d);
  }
  HUKUK_CHECK(t.numel > 0, "ENGINE_CORRUPT", "bitsandbytes quant_state of '" + prefix + "weight': empty shape");

  TensorView w = need(lookup, prefix + "weight", "U8");
  HUKUK_CHECK(static_cast<int64_t>(w.nbytes) == (t.numel + 1) / 2, "ENGINE_CORRUPT",
              "bitsandbytes weight '" + prefix + "weight': " + std::to_string(w.nbytes) + " bytes for " +
                  std::to_string(t.numel) + " values");
  t.packed = copy_of<uint8_t>(w);
  t.quant_map = copy_of<float>(need(lookup, prefix + "weight.quant_map", "F32"));
  HUKUK_CHECK(t.quant_map.size() == 16, "ENGINE_CORRUPT", "bitsandbytes quant_map of '" + prefix + "weight' is not 16 values");

  const int64_t nb = t.nblocks();
  t.nested = obj.count("nested_offset") > 0;
  if (!t.nested) {
    TensorView a = need(lookup, prefix + "weight.absmax", "F32");
    t.absmax = copy_of<float>(a);
    HUKUK_CHECK(static_cast<int64_t>(t.absmax.size()) == nb, "ENGINE_CORRUPT",
                "bitsandbytes absmax of '" + prefix + "weight' has the wrong length");
    return t;
  }
  t.offset = static_cast<float>(get("nested_offset", JsonValue::Number).number);
  t.blocksize2 = blocksize_of("nested_blocksize");
  if (get("nested_dtype", JsonValue::String).str != "float32")
    HUKUK_FAIL("ENGINE_CORRUPT", "bitsandbytes nested_dtype of '" + prefix + "weight' is not float32");
  t.absmax_q = copy_of<uint8_t>(need(lookup, prefix + "weight.absmax", "U8"));
  t.absmax2 = copy_of<float>(need(lookup, prefix + "weight.nested_absmax", "F32"));
  t.code2 = copy_of<float>(need(lookup, prefix + "weight.nested_quant_map", "F32"));
  HUKUK_CHECK(static_cast<int64_t>(t.absmax_q.size()) == nb && t.code2.size() == 256 && t.blocksize2 > 0 &&
                  static_cast<int64_t>(t.absmax2.size()) == (nb + t.blocksize2 - 1) / t.blocksize2,
              "ENGINE_CORRUPT", "bitsandbytes nested absmax of '" + prefix + "weight' has inconsistent sizes");
  return t;
}

std::vector<OwnedTensor> save_bnb_nf4(const Nf4Tensor& t, const std::string& prefix) {
  std::vector<OwnedTensor> out;
  // Params4bit keeps the packed bytes as a column: [(n+1)/2, 1].
  out.push_back(owned(prefix + "weight", "U8", {static_cast<int64_t>(t.packed.size()), 1}, t.packed));
  std::vector<float> qmap = t.quant_map.empty() ? std::vector<float>(kNf4Code, kNf4Code + 16) : t.quant_map;
  if (t.nested) {
    out.push_back(owned(prefix + "weight.absmax", "U8", {static_cast<int64_t>(t.absmax_q.size())}, t.absmax_q));
  } else {
    out.push_back(owned(prefix + "weight.absmax", "F32", {static_cast<int64_t>(t.absmax.size())}, t.absmax));
  }
  out.push_back(owned(prefix + "weight.quant_map", "F32", {16}, qmap));
  if (t.nested) {
    out.push_back(owned(prefix + "weight.nested_absmax", "F32", {static_cast<int64_t>(t.absmax2.size())}, t.absmax2));
    out.push_back(owned(prefix + "weight.nested_quant_map", "F32", {static_cast<int64_t>(t.code2.size())}, t.code2));
  }
  std::string json = quant_state_json(t);
  std::vector<uint8_t> bytes(json.begin(), json.end());
  out.push_back(owned(prefix + kStateSuffix, "U8", {static_cast<int64_t>(bytes.size())}, bytes));
  return out;
}

}  // namespace hukuk::nf4
