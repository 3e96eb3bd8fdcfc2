// T5 attention: relative position buckets and bias, masked softmax(Q K^T + bias) V with NO
// 1/sqrt(d) scaling, attention-probability dropout, and the backward (dQ, dK, dV).
//
// Tensors are addressed by strides so the same code serves the training layout
// ([batch*len, heads*d_kv] rows) and the generation KV cache ([rows, heads, max_len, d_kv]):
// element (b, h, t, i) of X lives at X[b*sb + h*sh + t*st + i].
#pragma once
#include <cstdint>

namespace hukuk::ops {

struct Strides {
  int64_t sb, sh, st;
};
// [batch*len, ld] with head h in columns h*d_kv..
inline Strides rows_layout(int len, int64_t ld, int d_kv) { return {int64_t(len) * ld, d_kv, ld}; }

// transformers' T5Attention._relative_position_bucket (float32 log arithmetic, as torch does).
int relative_position_bucket(int relative_position, bool bidirectional, int num_buckets, int max_distance);

// bias[h, i, j] = table[bucket(j - (i + q_offset)), h] for i < Tq, j < Tk; table is [num_buckets, H].
void relative_bias(const float* table, int H, int Tq, int Tk, int q_offset, bool bidirectional, int num_buckets,
                   int max_distance, float* bias);

struct AttnArgs {
  int B = 0, H = 0, Tq = 0, Tk = 0, dk = 0;
  Strides q{}, k{}, v{}, o{};
  const float* bias = nullptr;        // [H, Tq, Tk] or null (cross-attention: none)
  const int32_t* key_mask = nullptr;  // [B, key_mask_ld] (1 = attend) or null
  int64_t key_mask_ld = 0;
  bool causal = false;                // key j visible to query i iff j <= i + q_offset
  int q_offset = 0;
  float dropout = 0.f;                // on the probabilities (train mode)
  uint64_t seed = 0, site = 0;
};

// out = softmax(Q K^T + bias, masked) V. P (optional, [B, H, Tq, Tk]) receives the
// probabilities before dropout, for the backward.
void attention_forward(const AttnArgs& a, const float* Q, const float* K, const float* V, float* P, float* out);

// From dOut and the saved P: dQ, dK, dV (written, not accumulated; any may be null).
void attention_backward(const AttnArgs& a, const float* Q, const float* K, const float* V, const float* P,
                        const float* dOut, float* dQ, float* dK, float* dV);

}  // namespace hukuk::ops
