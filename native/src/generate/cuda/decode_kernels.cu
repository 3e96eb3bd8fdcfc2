// See decode_kernels.cuh.
#include <algorithm>
#include <cfloat>
#include <utility>

#include "core/cuda_runtime.h"
#include "cuda/pdl.cuh"
#include "generate/cuda/decode_kernels.cuh"

namespace hukuk::gen::cuda {

namespace {

constexpr int kGemvThreads = 256;
constexpr int kGemvWarps = kGemvThreads / 32;
constexpr int kGemvOutputsPerWarp = 4;  // k_gemv's OPW

// nf4.h's kNf4Code (bitsandbytes' NF4 map); staged in shared memory per block, because a warp's
// lanes index it with different codes and constant memory would serialize them.
__constant__ float c_nf4_code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Programmatic dependent launch: cuda/pdl.cuh (wait, trigger, launch_if). Here, as there, only
// weights (never written during a step) may be read before the wait, and nothing written.

// absmax of NF4 block b, decoding the double quantization as bitsandbytes (and nf4.cu) does:
// code2[q] * absmax2 + offset, two separately rounded fp32 operations.
__device__ __forceinline__ float nf4_absmax(const nf4::cuda::DeviceNf4& w, int64_t b) {
  if (w.absmax) return __ldg(w.absmax + b);
  return __fadd_rn(__fmul_rn(__ldg(w.code2 + __ldg(w.absmax_q + b)), __ldg(w.absmax2 + b / w.blocksize2)), w.offset);
}

// Eight consecutive weights W[j, k..k+7] (k % 8 == 0, K % 8 == 0, NF4 blocksize % 8 == 0).
__device__ __forceinline__ void load8(const GemvJob& J, int j, int K, int k, const float* code, float (&wv)[8]) {
  const int64_t e = int64_t(j) * K + k;
  if (J.is_nf4) {
    // packed byte e/2 holds element e in its high nibble and e+1 in its low one
    const uint32_t word = __ldg(reinterpret_cast<const uint32_t*>(J.nf4.packed + (e >> 1)));
    const float am = nf4_absmax(J.nf4, e / J.nf4.blocksize);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint32_t b = (word >> (8 * i)) & 0xffu;
      wv[2 * i] = __fmul_rn(code[b >> 4], am);
      wv[2 * i + 1] = __fmul_rn(code[b & 0x0fu], am);
    }
  } else {
    const float4* p = reinterpret_cast<const float4*>(J.w + e);
    const float4 a = __ldg(p), b = __ldg(p + 1);
    wv[0] = a.x; wv[1] = a.y; wv[2] = a.z; wv[3] = a.w;
    wv[4] = b.x; wv[5] = b.y; wv[6] = b.z; wv[7] = b.w;
  }
}

__device__ __forceinline__ float load1(const GemvJob& J, int j, int K, int k, const float* code) {
  const int64_t e = int64_t(j) * K + k;
  if (!J.is_nf4) return __ldg(J.w + e);
  const uint8_t byte = __ldg(J.nf4.packed + (e >> 1));
  const uint32_t c = (e & 1) ? (byte & 0x0fu) : (byte >> 4);
  return __fmul_rn(code[c], nf4_absmax(J.nf4, e / J.nf4.blocksize));
}

// acc[o][r] += W[j0 + o, k..k+U-1] · xnorm[r0 + r, k..k+U-1] for a unit of U = 8 weights (float4
// loads of x and the norm weight) or U = 1 (any K, any alignment)
template <int NR, int OPW, int U>
__device__ __forceinline__ void accumulate(const GemvArgs& a, int r0, int k, const float (&wv)[OPW][U],
                                           const float* rstd, float (&acc)[OPW][NR]) {
  const bool norm = a.norm_w != nullptr;
  if constexpr (U == 1) {
#pragma unroll
    for (int r = 0; r < NR; ++r) {
      if (r0 + r >= a.n) break;
      float xv = a.x[int64_t(r0 + r) * a.x_ld + k];
      if (norm) xv = a.norm_w[k] * (xv * rstd[r0 + r]);  // norm.cpp's w[i] * (x[i] * rs)
#pragma unroll
      for (int o = 0; o < OPW; ++o) acc[o][r] = fmaf(wv[o][0], xv, acc[o][r]);
    }
  } else {
    static_assert(U == 8, "a gemv unit is 8 weights or 1");
    float4 n0 = make_float4(0.f, 0.f, 0.f, 0.f), n1 = n0;
    if (norm) {
      n0 = __ldg(reinterpret_cast<const float4*>(a.norm_w + k));
      n1 = __ldg(reinterpret_cast<const float4*>(a.norm_w + k) + 1);
    }
#pragma unroll
    for (int r = 0; r < NR; ++r) {
      if (r0 + r >= a.n) break;
      const float4* xp = reinterpret_cast<const float4*>(a.x + int64_t(r0 + r) * a.x_ld + k);
      float4 x0 = xp[0], x1 = xp[1];
      if (norm) {  // norm.cpp's w[i] * (x[i] * rs), element by element
        const float rs = rstd[r0 + r];
        x0.x = n0.x * (x0.x * rs); x0.y = n0.y * (x0.y * rs); x0.z = n0.z * (x0.z * rs); x0.w = n0.w * (x0.w * rs);
        x1.x = n1.x * (x1.x * rs); x1.y = n1.y * (x1.y * rs); x1.z = n1.z * (x1.z * rs); x1.w = n1.w * (x1.w * rs);
      }
#pragma unroll
      for (int o = 0; o < OPW; ++o) {
        float t = acc[o][r];
        t = fmaf(wv[o][0], x0.x, t); t = fmaf(wv[o][1], x0.y, t); t = fmaf(wv[o][2], x0.z, t); t = fmaf(wv[o][3], x0.w, t);
        t = fmaf(wv[o][4], x1.x, t); t = fmaf(wv[o][5], x1.y, t); t = fmaf(wv[o][6], x1.z, t); t = fmaf(wv[o][7], x1.w, t);
        acc[o][r] = t;
      }
    }
  }
}

// The unit at k of weight rows j0 .. j0 + OPW - 1 (rows past N read as 0)
template <int OPW, int U>
__device__ __forceinline__ void load_rows(const GemvJob& J, int j0, int K, int k, const float* code, float (&wv)[OPW][U]) {
#pragma unroll
  for (int o = 0; o < OPW; ++o) {
    if (j0 + o < J.N) {
      if constexpr (U == 8)
        load8(J, j0 + o, K, k, code, wv[o]);
      else
        wv[o][0] = load1(J, j0 + o, K, k, code);
    } else {
#pragma unroll
      for (int i = 0; i < U; ++i) wv[o][i] = 0.f;
    }
  }
}

// The products of a decoder step: OPW neighbouring outputs per warp (or per `ksplit` warps, each
// over a slice of K, summed through shared memory), rows NR at a time. Each activation unit is
// loaded once and used for OPW weight rows (OPW x less activation traffic than one output per
// warp, the cost that grows with the number of rows; one output per warp measured 2.94 against
// 2.46 ms/token at batch 1, H200, 2026-11-28, and was removed). Each lane's first weight unit is
// read before hukuk::cuda::pdl::wait() (under PDL it overlaps the previous kernel); the epilogue's operands
// (residual, LoRA h and B rows) are read early or as float4s. U = 8: vectorized units (K % 8 == 0
// and 16-byte aligned operands); U = 1: any layout.
template <int NR, int OPW, int U>
__global__ void __launch_bounds__(kGemvThreads) k_gemv(__grid_constant__ const GemvArgs a, const int ksplit) {
  __shared__ float code[16];
  __shared__ float red[kGemvWarps][OPW * NR];
  __shared__ float rstd[kMaxFusedNormRows];
  __shared__ float partial[kGemvWarps][kMaxFusedNormRows];
  if (a.pdl) hukuk::cuda::pdl::trigger();
  const GemvJob& J = a.job[blockIdx.y];
  const int opb = (kGemvWarps / ksplit) * OPW;
  if (int(blockIdx.x) * opb >= J.N) {
    if (a.pdl) hukuk::cuda::pdl::wait();  // (a block that does nothing still orders after the previous kernel)
    return;
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (threadIdx.x < 16) code[threadIdx.x] = c_nf4_code[threadIdx.x];
  __syncthreads();
  const int local = warp / ksplit, part = warp % ksplit;
  const int j0 = blockIdx.x * opb + local * OPW;
  const int K = a.K;
  const int units = K / U;
  const int per = (units + ksplit - 1) / ksplit;
  const int u0 = part * per, u1 = min(units, u0 + per);
  const int ufirst = u0 + lane;
  const bool has_first = j0 < J.N && ufirst < u1;
  float wfirst[OPW][U];
  if (has_first) load_rows<OPW, U>(J, j0, K, ufirst * U, code, wfirst);  // weights only: before the wait
  if (a.pdl) hukuk::cuda::pdl::wait();
  const bool norm = a.norm_w != nullptr;
  if (norm) {
    const int slice = (a.K + kGemvWarps - 1) / kGemvWarps;
    const int k0 = warp * slice, k1 = min(a.K, k0 + slice);
    for (int row = 0; row < a.n; ++row) {
      const float* xr = a.x + int64_t(row) * a.x_ld;
      float ss = 0.f;
      for (int k = k0 + lane; k < k1; k += 32) ss = fmaf(xr[k], xr[k], ss);
      ss = warp_sum(ss);
      if (lane == 0) partial[warp][row] = ss;
    }
    __syncthreads();
    if (int(threadIdx.x) < a.n) {
      float ss = 0.f;
      for (int w = 0; w < kGemvWarps; ++w) ss += partial[w][threadIdx.x];
      rstd[threadIdx.x] = 1.f / sqrtf(ss / float(a.K) + a.norm_eps);
    }
    __syncthreads();
  }
  const int64_t pos_off = J.y_pos_stride ? int64_t(*a.pos) * J.y_pos_stride : 0;
  // the epilogue lane: output j0 + lane / NR, row r0 + lane % NR
  const int eo = lane / NR, er = lane % NR;
  const bool lora_vec = J.lora_h && (J.lora_r % 4) == 0 &&
                        ((reinterpret_cast<uintptr_t>(J.lora_h) | reinterpret_cast<uintptr_t>(J.lora_B)) % 16) == 0;
  for (int r0 = 0; r0 < a.n; r0 += NR) {
    const int erow = r0 + er, ej = j0 + eo;
    const bool writer = part == 0 && lane < OPW * NR && erow < a.n && ej < J.N;
    // read before the main loop, so its latency hides behind it (y may alias it: only this
    // thread writes this element, after reading it)
    const float res = writer && J.residual ? J.residual[int64_t(erow) * J.res_ld + ej] : 0.f;
    float acc[OPW][NR];
#pragma unroll
    for (int o = 0; o < OPW; ++o)
#pragma unroll
      for (int r = 0; r < NR; ++r) acc[o][r] = 0.f;
    if (has_first) {
      accumulate<NR, OPW, U>(a, r0, ufirst * U, wfirst, rstd, acc);
      for (int u = ufirst + 32; u < u1; u += 32) {
        float wv[OPW][U];
        load_rows<OPW, U>(J, j0, K, u * U, code, wv);
        accumulate<NR, OPW, U>(a, r0, u * U, wv, rstd, acc);
      }
    }
#pragma unroll
    for (int o = 0; o < OPW; ++o)
#pragma unroll
      for (int r = 0; r < NR; ++r) acc[o][r] = warp_sum(acc[o][r]);
    // the writer lane takes its (output, row) sum out of the unrolled registers
    float v = 0.f;
#pragma unroll
    for (int o = 0; o < OPW; ++o)
#pragma unroll
      for (int r = 0; r < NR; ++r)
        if (lane == o * NR + r) v = acc[o][r];
    if (ksplit > 1) {
      if (lane < OPW * NR) red[warp][lane] = v;
      __syncthreads();
      if (part == 0 && lane < OPW * NR) {
        float t = 0.f;
        for (int p = 0; p < ksplit; ++p) t += red[warp + p][lane];
        v = t;
      }
      __syncthreads();
    }
    if (writer) {
      if (J.lora_h) {  // peft: base + lora_B(lora_A(x)) * scaling
        const float* h = J.lora_h + int64_t(erow) * J.lora_r;
        const float* B = J.lora_B + int64_t(ej) * J.lora_r;
        float l = 0.f;
        if (lora_vec) {
          for (int i = 0; i < J.lora_r; i += 4) {
            const float4 h4 = *reinterpret_cast<const float4*>(h + i);
            const float4 b4 = __ldg(reinterpret_cast<const float4*>(B + i));
            l = fmaf(h4.x, b4.x, l); l = fmaf(h4.y, b4.y, l); l = fmaf(h4.z, b4.z, l); l = fmaf(h4.w, b4.w, l);
          }
        } else {
          for (int i = 0; i < J.lora_r; ++i) l = fmaf(h[i], __ldg(B + i), l);
        }
        v = v + J.lora_scale * l;
      }
      if (J.residual) v = res + v;
      if (J.relu) v = v > 0.f ? v : 0.f;
      J.y[int64_t(erow) * J.y_ld + pos_off + ej] = v;
    }
  }
}

__global__ void k_epilogue(__grid_constant__ const GemvArgs a) {
  if (a.pdl) {
    hukuk::cuda::pdl::trigger();
    hukuk::cuda::pdl::wait();
  }
  const GemvJob& J = a.job[blockIdx.z];
  const int j = blockIdx.x * blockDim.x + threadIdx.x, row = blockIdx.y;
  if (j >= J.N) return;
  float v = J.base[int64_t(row) * J.N + j];
  if (J.lora_h) {
    const float* h = J.lora_h + int64_t(row) * J.lora_r;
    const float* B = J.lora_B + int64_t(j) * J.lora_r;
    float l = 0.f;
    for (int i = 0; i < J.lora_r; ++i) l = fmaf(h[i], __ldg(B + i), l);
    v = v + J.lora_scale * l;
  }
  if (J.residual) v = J.residual[int64_t(row) * J.res_ld + j] + v;
  if (J.relu) v = v > 0.f ? v : 0.f;
  const int64_t pos_off = J.y_pos_stride ? int64_t(*a.pos) * J.y_pos_stride : 0;
  J.y[int64_t(row) * J.y_ld + pos_off + j] = v;
}

// kernel<<<grid, block, smem, s>>>(args...), with the programmatic-dependent-launch attribute when pdl
template <typename... KArgs, typename... Args>
void launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t s, bool pdl, Args&&... args) {
  hukuk::cuda::pdl::launch_if(pdl, kernel, grid, block, smem, s, std::forward<Args>(args)...);
}

template <int NR>
void launch_gemv(const GemvArgs& a, bool vec, int ksplit, dim3 grid, cudaStream_t s) {
  if (vec)
    launch(k_gemv<NR, kGemvOutputsPerWarp, 8>, grid, dim3(kGemvThreads), 0, s, a.pdl, a, ksplit);
  else
    launch(k_gemv<NR, kGemvOutputsPerWarp, 1>, grid, dim3(kGemvThreads), 0, s, a.pdl, a, ksplit);
}

constexpr int kNormThreads = 256;

__device__ float block_reduce(float v, float* shm, bool is_max) {
  for (int o = 16; o > 0; o >>= 1) {
    const float u = __shfl_xor_sync(0xffffffffu, v, o);
    v = is_max ? fmaxf(v, u) : v + u;
  }
  const int w = threadIdx.x >> 5, l = threadIdx.x & 31, nw = blockDim.x >> 5;
  __syncthreads();
  if (l == 0) shm[w] = v;
  __syncthreads();
  float t = shm[0];
  for (int i = 1; i < nw; ++i) t = is_max ? fmaxf(t, shm[i]) : t + shm[i];
  return t;
}

__global__ void k_rmsnorm(const float* x, const float* w, float* y, int d, float eps, float post_scale, bool pdl) {
  if (pdl) {
    hukuk::cuda::pdl::trigger();
    hukuk::cuda::pdl::wait();
  }
  __shared__ float shm[32];
  const int64_t r = blockIdx.x;
  const float* xr = x + r * d;
  float ss = 0.f;
  for (int i = threadIdx.x; i < d; i += blockDim.x) ss = fmaf(xr[i], xr[i], ss);
  ss = block_reduce(ss, shm, false);
  const float rs = 1.f / sqrtf(ss / float(d) + eps);  // as norm.cpp: 1 / sqrt(var + eps)
  float* yr = y + r * d;
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    float v = w[i] * (xr[i] * rs);
    if (post_scale != 1.f) v = v * post_scale;
    yr[i] = v;
  }
}

__global__ void k_embed(const float* table, const int32_t* tokens, float* x, int d, bool pdl) {
  if (pdl) {
    hukuk::cuda::pdl::trigger();
    hukuk::cuda::pdl::wait();
  }
  const int64_t r = blockIdx.x;
  const float* src = table + int64_t(tokens[r]) * d;
  for (int i = threadIdx.x; i < d; i += blockDim.x) x[r * d + i] = src[i];
}

constexpr int kAttnThreads = 256;

// One block per (head, row). Mirrors ops/attention.cpp's attention_forward for Tq = 1: scores
// (+bias), masked -> -inf, softmax (exp(s - max) / sum; all masked -> uniform), then
// o = sum_j p_j v_j. Scores: one thread per key (its K row read as float4s, all keys in flight at
// once); P·V: the keys split over blockDim / dk groups of threads (one thread per dimension),
// partial sums added through shared memory, so no thread walks all keys one load at a time.
__global__ void __launch_bounds__(kAttnThreads) k_attention(__grid_constant__ const AttnArgs a) {
  extern __shared__ float smem[];
  __shared__ float shm[32];
  if (a.pdl) {
    hukuk::cuda::pdl::trigger();
    hukuk::cuda::pdl::wait();
  }
  const int dk = a.dk;
  float* s = smem;                         // [max_keys]
  float* qs = smem + a.max_keys;           // [dk]
  float* part = smem + a.max_keys + dk;    // [groups][dk]
  const int h = blockIdx.x, r = blockIdx.y;
  const int pos = a.pos ? *a.pos : 0;
  const int Tk = a.pos ? pos + 1 : a.Tk;
  const int kr = r / a.kv_row_div;
  const float* q = a.q + int64_t(r) * a.inner + int64_t(h) * dk;
  const float* K = a.k + int64_t(kr) * a.kv_row_stride + int64_t(h) * dk;
  const float* V = a.v + int64_t(kr) * a.kv_row_stride + int64_t(h) * dk;
  for (int i = threadIdx.x; i < dk; i += blockDim.x) qs[i] = q[i];
  __syncthreads();
  const bool vec = (dk % 4) == 0 && (a.kv_ld % 4) == 0 && (reinterpret_cast<uintptr_t>(K) % 16) == 0;
  for (int j = threadIdx.x; j < Tk; j += blockDim.x) {
    const float* kj = K + int64_t(j) * a.kv_ld;
    float d = 0.f;
    if (vec) {
      for (int i = 0; i < dk; i += 4) {
        const float4 k4 = *reinterpret_cast<const float4*>(kj + i);
        d = fmaf(qs[i], k4.x, d); d = fmaf(qs[i + 1], k4.y, d); d = fmaf(qs[i + 2], k4.z, d); d = fmaf(qs[i + 3], k4.w, d);
      }
    } else {
      for (int i = 0; i < dk; ++i) d = fmaf(qs[i], kj[i], d);
    }
    if (a.bias_table) d = d + a.bias_table[a.bucket[pos - j] * a.H + h];
    const bool vis = !a.key_mask || a.key_mask[int64_t(kr) * a.Tk + j] != 0;
    s[j] = vis ? d : -INFINITY;
  }
  __syncthreads();
  float mx = -INFINITY, nvis = 0.f;
  for (int j = threadIdx.x; j < Tk; j += blockDim.x) {
    if (s[j] != -INFINITY) nvis += 1.f;
    mx = fmaxf(mx, s[j]);
  }
  mx = block_reduce(mx, shm, true);
  nvis = block_reduce(nvis, shm, false);
  float sum = 0.f;
  for (int j = threadIdx.x; j < Tk; j += blockDim.x) {
    const float e = s[j] == -INFINITY ? 0.f : expf(s[j] - mx);
    s[j] = e;
    sum += e;
  }
  sum = block_reduce(sum, shm, false);
  for (int j = threadIdx.x; j < Tk; j += blockDim.x) s[j] = nvis == 0.f ? 1.f / float(Tk) : s[j] / sum;
  __syncthreads();
  const int groups = dk <= int(blockDim.x) ? int(blockDim.x) / dk : 1;
  const int g = dk <= int(blockDim.x) ? int(threadIdx.x) / dk : 0;
  if (g < groups) {
    for (int i = dk <= int(blockDim.x) ? int(threadIdx.x) % dk : int(threadIdx.x); i < dk; i += blockDim.x) {
      float acc = 0.f;
#pragma unroll 8
      for (int j = g; j < Tk; j += groups) acc = fmaf(s[j], V[int64_t(j) * a.kv_ld + i], acc);
      part[g * dk + i] = acc;
    }
  }
  __syncthreads();
  float* o = a.out + int64_t(r) * a.inner + int64_t(h) * dk;
  for (int i = threadIdx.x; i < dk; i += blockDim.x) {
    float t = 0.f;
    for (int gg = 0; gg < groups; ++gg) t += part[gg * dk + i];
    o[i] = t;
  }
}

__global__ void k_gather_rows(const float* src, float* dst, const int32_t* src_rows, int rows, int64_t per_row,
                              int64_t used) {
  const int lr = blockIdx.y;  // layer * rows + row
  const int l = lr / rows, r = lr % rows;
  const float* from = src + (int64_t(l) * rows + src_rows[r]) * per_row;
  float* to = dst + (int64_t(l) * rows + r) * per_row;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < used; i += int64_t(gridDim.x) * blockDim.x)
    to[i] = from[i];
}

}  // namespace

void gemv(const GemvArgs& a, cudaStream_t s) {
  if (a.n <= 0 || a.njobs <= 0) return;
  HUKUK_CHECK(a.njobs <= kMaxGemvJobs, "ENGINE_INTERNAL", "gemv: too many jobs");
  HUKUK_CHECK(!a.norm_w || a.n <= kMaxFusedNormRows, "ENGINE_INTERNAL", "gemv: fused norm over too many rows");
  int maxN = 0;
  bool vec = a.K % 8 == 0 && a.x_ld % 4 == 0 && (reinterpret_cast<uintptr_t>(a.x) % 16) == 0 &&
             (reinterpret_cast<uintptr_t>(a.norm_w) % 16) == 0;
  for (int i = 0; i < a.njobs; ++i) {
    const GemvJob& J = a.job[i];
    maxN = std::max(maxN, J.N);
    if (J.is_nf4) {
      HUKUK_CHECK(J.nf4.rows == J.N && J.nf4.cols == a.K, "ENGINE_INTERNAL", "gemv: NF4 weight shape mismatch");
      vec = vec && J.nf4.blocksize % 8 == 0;
    } else {
      HUKUK_CHECK(J.w, "ENGINE_INTERNAL", "gemv: a job has no weight");
      vec = vec && (reinterpret_cast<uintptr_t>(J.w) % 16) == 0;
    }
  }
  // Split K over up to 8 warps per output group only while all the launch's warps still fit one
  // wave (two blocks of 8 warps per SM), so no block waits for another to finish, and each warp
  // keeps a useful slice (>= 16 units per lane-sweep).
  const int units = vec ? a.K / 8 : a.K;
  const int opw = kGemvOutputsPerWarp;
  const int warp_rows = (maxN + opw - 1) / opw;  // warps needed per K slice
  static const int sms = [] {
    int dev = 0, n = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev);
    return n > 0 ? n : 1;
  }();
  const int64_t wave = int64_t(sms) * 2 * kGemvWarps;
  int ksplit = 1;
  while (ksplit < kGemvWarps && int64_t(a.njobs) * warp_rows * ksplit * 2 <= wave && units / (2 * ksplit) >= 16)
    ksplit *= 2;
  const int opb = kGemvWarps / ksplit * opw;
  const dim3 grid(unsigned((maxN + opb - 1) / opb), unsigned(a.njobs));
  if (a.n == 1)
    launch_gemv<1>(a, vec, ksplit, grid, s);
  else if (a.n == 2)
    launch_gemv<2>(a, vec, ksplit, grid, s);
  else if (a.n <= 4)
    launch_gemv<4>(a, vec, ksplit, grid, s);
  else
    launch_gemv<8>(a, vec, ksplit, grid, s);
  HUKUK_CUDA_LAUNCH_CHECK();
}

void epilogue(const GemvArgs& a, cudaStream_t s) {
  if (a.n <= 0 || a.njobs <= 0) return;
  HUKUK_CHECK(a.njobs <= kMaxGemvJobs, "ENGINE_INTERNAL", "epilogue: too many jobs");
  int maxN = 0;
  for (int i = 0; i < a.njobs; ++i) {
    HUKUK_CHECK(a.job[i].base, "ENGINE_INTERNAL", "epilogue: a job has no product");
    maxN = std::max(maxN, a.job[i].N);
  }
  launch(k_epilogue, dim3(unsigned((maxN + 255) / 256), unsigned(a.n), unsigned(a.njobs)), dim3(256), 0, s, a.pdl, a);
}

void rmsnorm(const float* x, const float* w, float* y, int n, int d, float eps, float post_scale, cudaStream_t s,
             bool pdl) {
  if (n <= 0) return;
  launch(k_rmsnorm, dim3(unsigned(n)), dim3(kNormThreads), 0, s, pdl, x, w, y, d, eps, post_scale, pdl);
}

void embed(const float* table, const int32_t* tokens, float* x, int n, int d, cudaStream_t s, bool pdl) {
  if (n <= 0) return;
  launch(k_embed, dim3(unsigned(n)), dim3(256), 0, s, pdl, table, tokens, x, d, pdl);
}

void attention(const AttnArgs& a, cudaStream_t s) {
  if (a.n <= 0) return;
  // scores, q, and the P·V partial sums ([blockDim / dk][dk] <= blockDim floats, or dk)
  const size_t smem = sizeof(float) * (size_t(a.max_keys) + size_t(a.dk) + size_t(std::max(kAttnThreads, a.dk)));
  HUKUK_CHECK(smem <= 48 * 1024, "ENGINE_UNSUPPORTED", "decoder attention: too many keys for one block's shared memory");
  launch(k_attention, dim3(unsigned(a.H), unsigned(a.n)), dim3(kAttnThreads), smem, s, a.pdl, a);
}

void gather_rows(const float* src, float* dst, const int32_t* src_rows, int L, int rows, int64_t per_row, int64_t used,
                 cudaStream_t s) {
  if (L <= 0 || rows <= 0 || used <= 0) return;
  const unsigned bx = unsigned(std::min<int64_t>((used + 255) / 256, 64));
  k_gather_rows<<<dim3(bx, unsigned(L * rows)), 256, 0, s>>>(src, dst, src_rows, rows, per_row, used);
  HUKUK_CUDA_LAUNCH_CHECK();
}

}  // namespace hukuk::gen::cuda
