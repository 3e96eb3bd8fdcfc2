// Token embedding lookup (the table is frozen: no backward).
#pragma once
#include <cstdint>

namespace hukuk::ops {

// out[r] = table[ids[r]] for r < rows; throws EngineError naming the bad id.
void embedding_forward(const float* table, int vocab, int d, const int32_t* ids, int64_t rows, float* out);

}  // namespace hukuk::ops
