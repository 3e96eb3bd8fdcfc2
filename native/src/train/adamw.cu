// CUDA twins of the per-tensor AdamW/clipping kernels in adamw.cpp (same expressions, same
// fp32 scalars; nvcc's default --fmad=true is turned off per expression with __f*_rn so the
// GPU result matches the CPU reference bit for bit where sqrt/div are correctly rounded).
#include <cuda_runtime_api.h>

#include <cstring>
#include <mutex>
#include <vector>

#include "core/cuda_runtime.h"
#include "cuda/pdl.cuh"
#include "train/adamw.h"

namespace hukuk::train {

namespace pdl = hukuk::cuda::pdl;

namespace {
constexpr int kThreads = 256;
constexpr int kMaxBlocks = 1024;

// Per-block partial sums of squares in double; the host adds the blocks in order, so the
// result is deterministic.
__global__ void sum_squares_kernel(const float* g, size_t n, double* partial) {
  __shared__ double sh[kThreads];
  pdl::trigger();  // cuda/pdl.cuh: next kernel may launch; wait before reading the step's data or writing
  pdl::wait();
  double s = 0.0;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const double x = g[i];
    s += x * x;
  }
  sh[threadIdx.x] = s;
  __syncthreads();
  for (int k = blockDim.x / 2; k > 0; k >>= 1) {
    if (threadIdx.x < k) sh[threadIdx.x] += sh[threadIdx.x + k];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = sh[0];
}

__global__ void scale_kernel(float* g, size_t n, float s) {
  pdl::trigger();  // cuda/pdl.cuh: next kernel may launch; wait before reading the step's data or writing
  pdl::wait();
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    g[i] = __fmul_rn(g[i], s);
}

__global__ void adamw_kernel(float* w, const float* g, float* m, float* v, size_t n, float decay_mul, float omb1,
                             float b2, float omb2, float step_size, float bc2_sqrt, float eps) {
  pdl::trigger();  // cuda/pdl.cuh: next kernel may launch; wait before reading the step's data or writing
  pdl::wait();
  const bool lerp_low = omb1 < 0.5f;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float gi = g[i];
    const float wi = __fmul_rn(w[i], decay_mul);
    const float mi = lerp_low ? __fadd_rn(m[i], __fmul_rn(omb1, __fsub_rn(gi, m[i])))
                              : __fsub_rn(gi, __fmul_rn(__fsub_rn(gi, m[i]), __fsub_rn(1.0f, omb1)));
    const float vi = __fadd_rn(__fmul_rn(v[i], b2), __fmul_rn(__fmul_rn(omb2, gi), gi));
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2_sqrt), eps);
    w[i] = __fadd_rn(wi, __fmul_rn(-step_size, __fdiv_rn(mi, denom)));
    m[i] = mi;
    v[i] = vi;
  }
}

// ---- multi-tensor: a table of chunks (tensor, start, length), one block per chunk ----
constexpr size_t kMultiChunk = 1 << 16;

struct TensorDesc {
  float* w;
  float* g;
  float* m;
  float* v;
  int decay;
};
struct ChunkDesc {
  int tensor;
  size_t start;
  size_t len;
};

struct MultiTable {
  // identity of the parameter list: every buffer pointer, size and decay flag (a freed and
  // re-allocated list can reuse some addresses, so all of them are compared)
  std::vector<const float*> key_ptr;
  std::vector<size_t> key_n;
  std::vector<ChunkDesc> chunks;
  std::vector<int> chunk_tensor;
  cuda::DeviceBuffer<TensorDesc> d_tensors;
  cuda::DeviceBuffer<ChunkDesc> d_chunks;
  cuda::DeviceBuffer<double> d_partial;
};

std::mutex g_table_mutex;
MultiTable& table_for(const std::vector<ParamRef>& ps) {
  static MultiTable t;
  bool same = t.key_n.size() == ps.size();
  for (size_t i = 0; same && i < ps.size(); i++) {
    const float* const* k = &t.key_ptr[4 * i];
    same = k[0] == ps[i].w && k[1] == ps[i].g && k[2] == ps[i].m && k[3] == ps[i].v &&
           t.key_n[i] == (ps[i].n << 1 | (ps[i].decay ? 1 : 0));
  }
  if (same) return t;
  t.key_ptr.clear();
  t.key_n.clear();
  t.chunks.clear();
  std::vector<TensorDesc> tensors;
  for (size_t i = 0; i < ps.size(); i++) {
    const ParamRef& p = ps[i];
    t.key_ptr.insert(t.key_ptr.end(), {p.w, p.g, p.m, p.v});
    t.key_n.push_back(p.n << 1 | (p.decay ? 1 : 0));
    tensors.push_back({p.w, p.g, p.m, p.v, p.decay ? 1 : 0});
    for (size_t a = 0; a < p.n; a += kMultiChunk) t.chunks.push_back({static_cast<int>(i), a, std::min(kMultiChunk, p.n - a)});
  }
  t.d_tensors.resize(tensors.size());
  t.d_chunks.resize(t.chunks.size());
  t.d_partial.resize(t.chunks.size());
  HUKUK_CUDA_CHECK(cudaMemcpy(t.d_tensors.get(), tensors.data(), tensors.size() * sizeof(TensorDesc), cudaMemcpyHostToDevice));
  HUKUK_CUDA_CHECK(cudaMemcpy(t.d_chunks.get(), t.chunks.data(), t.chunks.size() * sizeof(ChunkDesc), cudaMemcpyHostToDevice));
  return t;
}

__global__ void multi_sum_squares_kernel(const TensorDesc* ts, const ChunkDesc* cs, double* partial) {
  __shared__ double sh[kThreads];
  pdl::trigger();  // cuda/pdl.cuh: next kernel may launch; wait before reading the step's data or writing
  pdl::wait();
  const ChunkDesc c = cs[blockIdx.x];
  const float* g = ts[c.tensor].g + c.start;
  double s = 0.0;
  for (size_t i = threadIdx.x; i < c.len; i += blockDim.x) {
    const double x = g[i];
    s += x * x;
  }
  sh[threadIdx.x] = s;
  __syncthreads();
  for (int k = blockDim.x / 2; k > 0; k >>= 1) {
    if (threadIdx.x < k) sh[threadIdx.x] += sh[threadIdx.x + k];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = sh[0];
}

__global__ void multi_scale_kernel(const TensorDesc* ts, const ChunkDesc* cs, float s) {
  pdl::trigger();  // cuda/pdl.cuh: next kernel may launch; wait before reading the step's data or writing
  pdl::wait();
  const ChunkDesc c = cs[blockIdx.x];
  float* g = ts[c.tensor].g + c.start;
  for (size_t i = threadIdx.x; i < c.len; i += blockDim.x) g[i] = __fmul_rn(g[i], s);
}

__global__ void multi_adamw_kernel(const TensorDesc* ts, const ChunkDesc* cs, float decay_mul_if_decay, float omb1,
                                   float b2, float omb2, float step_size, float bc2_sqrt, float eps) {
  pdl::trigger();  // cuda/pdl.cuh: next kernel may launch; wait before reading the step's data or writing
  pdl::wait();
  const ChunkDesc c = cs[blockIdx.x];
  const TensorDesc t = ts[c.tensor];
  const float decay_mul = t.decay ? decay_mul_if_decay : 1.0f;
  const bool lerp_low = omb1 < 0.5f;
  for (size_t j = threadIdx.x; j < c.len; j += blockDim.x) {
    const size_t i = c.start + j;
    const float gi = t.g[i];
    const float wi = __fmul_rn(t.w[i], decay_mul);
    const float mi = lerp_low ? __fadd_rn(t.m[i], __fmul_rn(omb1, __fsub_rn(gi, t.m[i])))
                              : __fsub_rn(gi, __fmul_rn(__fsub_rn(gi, t.m[i]), __fsub_rn(1.0f, omb1)));
    const float vi = __fadd_rn(__fmul_rn(t.v[i], b2), __fmul_rn(__fmul_rn(omb2, gi), gi));
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2_sqrt), eps);
    t.w[i] = __fadd_rn(wi, __fmul_rn(-step_size, __fdiv_rn(mi, denom)));
    t.m[i] = mi;
    t.v[i] = vi;
  }
}

int blocks_for(size_t n) {
  const size_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < kMaxBlocks ? (b > 0 ? b : 1) : kMaxBlocks);
}
}  // namespace

std::vector<double> sum_squares_cuda_multi(const std::vector<ParamRef>& params) {
  std::vector<double> per_tensor(params.size(), 0.0);
  if (params.empty()) return per_tensor;
  std::lock_guard<std::mutex> lock(g_table_mutex);
  MultiTable& t = table_for(params);
  if (t.chunks.empty()) return per_tensor;
  pdl::launch(multi_sum_squares_kernel, dim3(static_cast<unsigned>(t.chunks.size())), dim3(kThreads), 0, cudaStream_t(0),
              t.d_tensors.get(), t.d_chunks.get(), t.d_partial.get());
  std::vector<double> host(t.chunks.size());
  HUKUK_CUDA_CHECK(cudaMemcpy(host.data(), t.d_partial.get(), host.size() * sizeof(double), cudaMemcpyDeviceToHost));
  for (size_t c = 0; c < host.size(); c++) per_tensor[t.chunks[c].tensor] += host[c];  // in chunk order
  return per_tensor;
}

void scale_cuda_multi(const std::vector<ParamRef>& params, float s) {
  if (params.empty()) return;
  std::lock_guard<std::mutex> lock(g_table_mutex);
  MultiTable& t = table_for(params);
  if (t.chunks.empty()) return;
  pdl::launch(multi_scale_kernel, dim3(static_cast<unsigned>(t.chunks.size())), dim3(kThreads), 0, cudaStream_t(0),
              t.d_tensors.get(), t.d_chunks.get(), s);
}

void adamw_cuda_multi(const std::vector<ParamRef>& params, float decay_mul, float omb1, float b2, float omb2,
                      float step_size, float bc2_sqrt, float eps) {
  if (params.empty()) return;
  std::lock_guard<std::mutex> lock(g_table_mutex);
  MultiTable& t = table_for(params);
  if (t.chunks.empty()) return;
  pdl::launch(multi_adamw_kernel, dim3(static_cast<unsigned>(t.chunks.size())), dim3(kThreads), 0, cudaStream_t(0),
              t.d_tensors.get(), t.d_chunks.get(), decay_mul, omb1, b2, omb2, step_size, bc2_sqrt, eps);
}

double sum_squares_cuda(const float* g, size_t n) {
  if (n == 0) return 0.0;
  const int blocks = blocks_for(n);
  cuda::DeviceBuffer<double> partial(blocks);
  pdl::launch(sum_squares_kernel, dim3(unsigned(blocks)), dim3(kThreads), 0, cudaStream_t(0), g, n, partial.get());
  std::vector<double> host(blocks);
  HUKUK_CUDA_CHECK(cudaMemcpy(host.data(), partial.get(), blocks * sizeof(double), cudaMemcpyDeviceToHost));
  double s = 0.0;
  for (double x : host) s += x;
  return s;
}

void scale_cuda(float* g, size_t n, float s) {
  if (n == 0) return;
  pdl::launch(scale_kernel, dim3(unsigned(blocks_for(n))), dim3(kThreads), 0, cudaStream_t(0), g, n, s);
}

void adamw_cuda(float* w, const float* g, float* m, float* v, size_t n, float decay_mul, float omb1, float b2,
                float omb2, float step_size, float bc2_sqrt, float eps) {
  if (n == 0) return;
  pdl::launch(adamw_kernel, dim3(unsigned(blocks_for(n))), dim3(kThreads), 0, cudaStream_t(0), w, g, m, v, n, decay_mul, omb1, b2,
              omb2, step_size, bc2_sqrt, eps);
}

}  // namespace hukuk::train
