// Seeded random numbers for sampling: xoshiro256** seeded through splitmix64.
// (torch.multinomial's stream cannot be reproduced outside torch; same seed = same tokens here.)
#pragma once
#include <cstdint>

namespace hukuk::gen {

inline uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& w : s_) w = splitmix64(seed);
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// Index drawn with probability proportional to w[i] (w >= 0, not all zero); -1 if all are zero.
inline int sample_index(const float* w, int n, Rng& rng) {
  double total = 0;
  for (int i = 0; i < n; ++i) total += w[i];
  if (!(total > 0)) return -1;
  const double u = rng.uniform() * total;
  double cum = 0;
  int last = -1;
  for (int i = 0; i < n; ++i) {
    if (w[i] <= 0) continue;
    cum += w[i];
    last = i;
    if (u < cum) return i;
  }
  return last;  // rounding at the top end
}

}  // namespace hukuk::gen
