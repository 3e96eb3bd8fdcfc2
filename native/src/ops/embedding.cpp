#include "ops/embedding.h"

#include <cstring>
#include <string>

#include "core/error.h"

namespace hukuk::ops {

void embedding_forward(const float* table, int vocab, int d, const int32_t* ids, int64_t rows, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const int id = ids[r];
    if (id < 0 || id >= vocab)
      HUKUK_FAIL("ENGINE_INVALID_ARG", "token id " + std::to_string(id) + " at position " + std::to_string(r) +
                                           " is outside the vocabulary (0.." + std::to_string(vocab - 1) + ")");
    std::memcpy(out + r * d, table + int64_t(id) * d, sizeof(float) * d);
  }
}

}  // namespace hukuk::ops
