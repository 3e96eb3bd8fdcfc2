// Cross-entropy over the vocabulary with ignore_index -100, mean over the kept labels (torch's
// nn.CrossEntropyLoss defaults), and its gradient written over the logits.
#pragma once
#include <cstdint>

namespace hukuk::ops {

struct CeResult {
  double loss_sum = 0;  // sum of -log p[label] over kept rows
  int64_t count = 0;    // kept rows
};

// logits [rows, V]. Returns the sum and count (loss = sum / count).
CeResult cross_entropy_forward(const float* logits, const int32_t* labels, int64_t rows, int V);
// In place: logits[r] becomes (softmax - onehot) * grad_scale for kept rows, 0 for ignored ones.
void cross_entropy_backward_inplace(float* logits, const int32_t* labels, int64_t rows, int V, float grad_scale);

}  // namespace hukuk::ops
