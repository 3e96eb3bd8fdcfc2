// The engine's A/B switches read from the environment (HUKUK_T5_*, HUKUK_NORM_WARP, ...).
//
//   env_switch("HUKUK_X")     -1 unset, 0 for "0", 1 for any other value (the caller picks the
//                             default for -1); read at every call.
//   CachedEnvSwitch           a value read once per process, at its first use (a reader function
//                             of the caller's: one switch, or a mask of parts), which a test hook
//                             may override within the process (set_override; -1 follows the
//                             environment again). For switches asked at every launch.
#pragma once
#include <atomic>
#include <cstdlib>
#include <cstring>

namespace hukuk {

inline int env_switch(const char* name) {
  const char* v = std::getenv(name);
  return v ? (std::strcmp(v, "0") == 0 ? 0 : 1) : -1;
}

class CachedEnvSwitch {
 public:
  // `read` returns a value >= 0 (a switch's 0 / 1, or a mask); it runs at the first value().
  constexpr explicit CachedEnvSwitch(int (*read)()) : read_(read) {}
  CachedEnvSwitch(const CachedEnvSwitch&) = delete;
  CachedEnvSwitch& operator=(const CachedEnvSwitch&) = delete;

  // The override where one is set, else the environment's value.
  int value() {
    const int o = override_.load(std::memory_order_relaxed);
    if (o >= 0) return o;
    int v = env_.load(std::memory_order_relaxed);
    if (v < 0) {  // two threads may both read the environment at first: the same value
      v = read_();
      env_.store(v, std::memory_order_relaxed);
    }
    return v;
  }
  void set_override(int v) { override_.store(v < 0 ? -1 : v, std::memory_order_relaxed); }

 private:
  int (*read_)();
  std::atomic<int> env_{-1};       // -1: not read yet
  std::atomic<int> override_{-1};  // -1: none
};

}  // namespace hukuk
