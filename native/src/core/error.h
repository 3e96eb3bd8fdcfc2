// Errors carry file:line and a stable code; they never exit() the process.
// Inside the engine, HUKUK_CHECK throws hukuk::EngineError; the Node-API layer turns it
// into a JavaScript Error with .code (e.g. 'ENGINE_OOM') and .where ("file.cpp:123").
#pragma once
#include <stdexcept>
#include <string>

namespace hukuk {

struct EngineError : std::runtime_error {
  std::string code;   // 'ENGINE_INVALID_ARG', 'ENGINE_OOM', 'ENGINE_CUDA', 'ENGINE_IO', 'ENGINE_CORRUPT', ...
  std::string where;  // "native/src/t5/forward.cpp:123"
  EngineError(std::string code_, std::string msg, const char* file, int line)
      : std::runtime_error(msg), code(std::move(code_)), where(std::string(file) + ":" + std::to_string(line)) {}
};

}  // namespace hukuk

#define HUKUK_FAIL(code, msg) throw ::hukuk::EngineError((code), (msg), __FILE__, __LINE__)
#define HUKUK_CHECK(cond, code, msg)         \
  do {                                        \
    if (!(cond)) HUKUK_FAIL((code), (msg));   \
  } while (0)
