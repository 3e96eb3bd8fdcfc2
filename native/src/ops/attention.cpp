#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ops/dropout.h"

namespace hukuk::ops {

int relative_position_bucket(int rel, bool bidirectional, int num_buckets, int max_distance) {
  int buckets = 0;
  int n = num_buckets;
  if (bidirectional) {
    n /= 2;
    if (rel > 0) buckets += n;
    rel = std::abs(rel);
  } else {
    rel = -std::min(rel, 0);
  }
  const int max_exact = n / 2;
  if (rel < max_exact) return buckets + rel;
  // torch: log(rel.float() / max_exact) / math.log(max_distance / max_exact) * (n - max_exact), then .to(long)
  const float ratio = float(rel) / float(max_exact);
  const float lg = std::log(ratio);
  const float denom = float(std::log(double(max_distance) / double(max_exact)));
  const float scaled = (lg / denom) * float(n - max_exact);
  int large = max_exact + int(scaled);  // truncation toward zero, as .to(torch.long)
  large = std::min(large, n - 1);
  return buckets + large;
}

void relative_bias(const float* table, int H, int Tq, int Tk, int q_offset, bool bidirectional, int num_buckets,
                   int max_distance, float* bias) {
  std::vector<int> bucket(size_t(Tq) * Tk);
  for (int i = 0; i < Tq; ++i)
    for (int j = 0; j < Tk; ++j)
      bucket[size_t(i) * Tk + j] = relative_position_bucket(j - (i + q_offset), bidirectional, num_buckets, max_distance);
  for (int h = 0; h < H; ++h)
    for (size_t ij = 0; ij < bucket.size(); ++ij) bias[size_t(h) * Tq * Tk + ij] = table[size_t(bucket[ij]) * H + h];
}

static inline bool visible(const AttnArgs& a, int b, int i, int j) {
  if (a.causal && j > i + a.q_offset) return false;
  if (a.key_mask && a.key_mask[int64_t(b) * a.key_mask_ld + j] == 0) return false;
  return true;
}

static inline float dot(const float* x, const float* y, int n) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; ++i) s += x[i] * y[i];
  return s;
}

void attention_forward(const AttnArgs& a, const float* Q, const float* K, const float* V, float* P, float* out) {
  const int B = a.B, H = a.H, Tq = a.Tq, Tk = a.Tk, dk = a.dk;
  const float keep_scale = a.dropout > 0.f ? 1.f / (1.f - a.dropout) : 1.f;
#pragma omp parallel
  {
    std::vector<float> s(Tk);
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < H; ++h) {
        for (int i = 0; i < Tq; ++i) {
          const float* q = Q + b * a.q.sb + h * a.q.sh + i * a.q.st;
          float mx = -INFINITY;
          int nvis = 0;
          for (int j = 0; j < Tk; ++j) {
            if (!visible(a, b, i, j)) { s[j] = -INFINITY; continue; }
            const float* k = K + b * a.k.sb + h * a.k.sh + j * a.k.st;
            float v = dot(q, k, dk);
            if (a.bias) v = v + a.bias[(size_t(h) * Tq + i) * Tk + j];
            s[j] = v;
            mx = std::max(mx, v);
            ++nvis;
          }
          if (nvis == 0) {  // every key masked: torch's softmax over equal -inf-like scores is uniform
            for (int j = 0; j < Tk; ++j) s[j] = 1.f / Tk;
          } else {
            float sum = 0.f;
            for (int j = 0; j < Tk; ++j) {
              s[j] = s[j] == -INFINITY ? 0.f : std::exp(s[j] - mx);
              sum += s[j];
            }
            for (int j = 0; j < Tk; ++j) s[j] = s[j] / sum;
          }
          if (P) std::memcpy(P + ((size_t(b) * H + h) * Tq + i) * Tk, s.data(), sizeof(float) * Tk);
          if (a.dropout > 0.f) {
            const uint64_t base = ((uint64_t(b) * H + h) * Tq + i) * Tk;
            for (int j = 0; j < Tk; ++j) s[j] = dropout_keep(a.seed, a.site, base + j, a.dropout) ? s[j] * keep_scale : 0.f;
          }
          float* o = out + b * a.o.sb + h * a.o.sh + i * a.o.st;
          for (int d = 0; d < dk; ++d) o[d] = 0.f;
          for (int j = 0; j < Tk; ++j) {
            const float pj = s[j];
            if (pj == 0.f) continue;
            const float* v = V + b * a.v.sb + h * a.v.sh + j * a.v.st;
            for (int d = 0; d < dk; ++d) o[d] += pj * v[d];
          }
        }
      }
  }
}

void attention_backward(const AttnArgs& a, const float* Q, const float* K, const float* V, const float* P,
                        const float* dOut, float* dQ, float* dK, float* dV) {
  const int B = a.B, H = a.H, Tq = a.Tq, Tk = a.Tk, dk = a.dk;
  const float keep_scale = a.dropout > 0.f ? 1.f / (1.f - a.dropout) : 1.f;
#pragma omp parallel
  {
    std::vector<float> pd(Tk), dp(Tk);
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < H; ++h) {
        // zero this (b, h)'s slices of dK, dV (and dQ rows are written whole below)
        for (int j = 0; j < Tk; ++j) {
          if (dK) std::memset(dK + b * a.k.sb + h * a.k.sh + j * a.k.st, 0, sizeof(float) * dk);
          if (dV) std::memset(dV + b * a.v.sb + h * a.v.sh + j * a.v.st, 0, sizeof(float) * dk);
        }
        for (int i = 0; i < Tq; ++i) {
          const float* p = P + ((size_t(b) * H + h) * Tq + i) * Tk;
          const float* dout = dOut + b * a.o.sb + h * a.o.sh + i * a.o.st;
          const uint64_t base = ((uint64_t(b) * H + h) * Tq + i) * Tk;
          // dropped probabilities and their gradient
          float sum = 0.f;
          for (int j = 0; j < Tk; ++j) {
            const bool keep = a.dropout <= 0.f || dropout_keep(a.seed, a.site, base + j, a.dropout);
            pd[j] = keep ? p[j] * keep_scale : 0.f;
            const float* v = V + b * a.v.sb + h * a.v.sh + j * a.v.st;
            float g = p[j] == 0.f ? 0.f : dot(dout, v, dk);
            g = keep ? g * keep_scale : 0.f;
            dp[j] = g;
            sum += g * p[j];
            if (dV && pd[j] != 0.f) {
              float* dv = dV + b * a.v.sb + h * a.v.sh + j * a.v.st;
              for (int d = 0; d < dk; ++d) dv[d] += pd[j] * dout[d];
            }
          }
          // dS = P * (dP - sum(dP * P))
          const float* q = Q + b * a.q.sb + h * a.q.sh + i * a.q.st;
          float* dq = dQ ? dQ + b * a.q.sb + h * a.q.sh + i * a.q.st : nullptr;
          if (dq) std::memset(dq, 0, sizeof(float) * dk);
          for (int j = 0; j < Tk; ++j) {
            if (p[j] == 0.f) continue;
            const float ds = p[j] * (dp[j] - sum);
            const float* k = K + b * a.k.sb + h * a.k.sh + j * a.k.st;
            if (dq) for (int d = 0; d < dk; ++d) dq[d] += ds * k[d];
            if (dK) {
              float* dkp = dK + b * a.k.sb + h * a.k.sh + j * a.k.st;
              for (int d = 0; d < dk; ++d) dkp[d] += ds * q[d];
            }
          }
        }
      }
  }
}

}  // namespace hukuk::ops
