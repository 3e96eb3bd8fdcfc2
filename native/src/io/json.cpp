#include "io/json.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"

namespace hukuk::json {

const Value* Value::get(const std::string& key) const {
  if (kind != Object) return nullptr;
  for (const auto& kv : obj)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

int64_t Value::as_int64(const char* what) const {
  if (kind != Number) HUKUK_FAIL("ENGINE_CORRUPT", std::string(what) + " must be a number");
  char* end = nullptr;
  long long v = std::strtoll(str.c_str(), &end, 10);
  if (end && *end == '\0') return v;
  double d = num;
  // Range first: casting NaN or a double outside int64 to an integer is undefined behaviour.
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != static_cast<double>(static_cast<int64_t>(d)))
    HUKUK_FAIL("ENGINE_CORRUPT", std::string(what) + " must be an integer, got " + str);
  return static_cast<int64_t>(d);
}
double Value::as_number(const char* what) const {
  if (kind != Number) HUKUK_FAIL("ENGINE_CORRUPT", std::string(what) + " must be a number");
  return num;
}
const std::string& Value::as_string(const char* what) const {
  if (kind != String) HUKUK_FAIL("ENGINE_CORRUPT", std::string(what) + " must be a string");
  return str;
}
bool Value::as_bool(const char* what) const {
  if (kind != Bool) HUKUK_FAIL("ENGINE_CORRUPT", std::string(what) + " must be true or false");
  return b;
}

namespace {
struct Parser {
  const std::string& s;
  const std::string& what;
  size_t i = 0;
  int depth = 0;

  [[noreturn]] void fail(const std::string& msg) {
    HUKUK_FAIL("ENGINE_CORRUPT", what + ": invalid JSON at byte " + std::to_string(i) + ": " + msg);
  }
  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  }
  void expect(char c) {
    ws();
    if (i >= s.size() || s[i] != c) fail(std::string("expected '") + c + "'");
    ++i;
  }
  static void utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) out += char(cp);
    else if (cp < 0x800) { out += char(0xC0 | (cp >> 6)); out += char(0x80 | (cp & 0x3F)); }
    else if (cp < 0x10000) { out += char(0xE0 | (cp >> 12)); out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F)); }
    else { out += char(0xF0 | (cp >> 18)); out += char(0x80 | ((cp >> 12) & 0x3F)); out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F)); }
  }
  uint32_t hex4() {
    if (i + 4 > s.size()) fail("short \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s[i++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else fail("bad \\u escape");
    }
    return v;
  }
  std::string string() {
    expect('"');
    std::string out;
    while (true) {
      if (i >= s.size()) fail("unterminated string");
      char c = s[i++];
      if (c == '"') break;
      if (c != '\\') { out += c; continue; }
      if (i >= s.size()) fail("unterminated escape");
      char e = s[i++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && i + 1 < s.size() && s[i] == '\\' && s[i + 1] == 'u') {
            i += 2;
            uint32_t lo = hex4();
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          utf8(out, cp);
          break;
        }
        default: fail("bad escape");
      }
    }
    return out;
  }
  Value value() {
    ws();
    if (i >= s.size()) fail("unexpected end");
    if (++depth > 200) fail("nested too deep");
    Value v;
    char c = s[i];
    if (c == '{') {
      v.kind = Value::Object;
      ++i;
      ws();
      if (i < s.size() && s[i] == '}') { ++i; --depth; return v; }
      while (true) {
        ws();
        std::string k = string();
        expect(':');
        Value item = value();
        v.obj.emplace_back(std::move(k), std::move(item));
        ws();
        if (i < s.size() && s[i] == ',') { ++i; continue; }
        expect('}');
        break;
      }
    } else if (c == '[') {
      v.kind = Value::Array;
      ++i;
      ws();
      if (i < s.size() && s[i] == ']') { ++i; --depth; return v; }
      while (true) {
        v.arr.push_back(value());
        ws();
        if (i < s.size() && s[i] == ',') { ++i; continue; }
        expect(']');
        break;
      }
    } else if (c == '"') {
      v.kind = Value::String;
      v.str = string();
    } else if (s.compare(i, 4, "true") == 0) { v.kind = Value::Bool; v.b = true; i += 4; }
    else if (s.compare(i, 5, "false") == 0) { v.kind = Value::Bool; v.b = false; i += 5; }
    else if (s.compare(i, 4, "null") == 0) { v.kind = Value::Null; i += 4; }
    else if (s.compare(i, 3, "NaN") == 0) { v.kind = Value::Number; v.num = NAN; v.str = "NaN"; i += 3; }
    else if (s.compare(i, 8, "Infinity") == 0) { v.kind = Value::Number; v.num = INFINITY; v.str = "Infinity"; i += 8; }
    else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t st = i;
      ++i;
      while (i < s.size() && (std::isdigit((unsigned char)s[i]) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' || s[i] == '+' || s[i] == '-')) ++i;
      v.kind = Value::Number;
      v.str = s.substr(st, i - st);
      char* end = nullptr;
      v.num = std::strtod(v.str.c_str(), &end);
      if (!end || *end != '\0') fail("bad number " + v.str);
    } else {
      fail(std::string("unexpected character '") + c + "'");
    }
    --depth;
    return v;
  }
};
}  // namespace

Value parse(const std::string& text, const std::string& what) {
  Parser p{text, what};
  Value v = p.value();
  p.ws();
  if (p.i != text.size()) p.fail("trailing characters");
  return v;
}

std::string quote(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else {
          o += char(c);
        }
    }
  }
  return o + "\"";
}

}  // namespace hukuk::json
