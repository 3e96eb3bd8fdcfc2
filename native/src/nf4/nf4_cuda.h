// The CUDA twin of nf4.h: NF4 weights on the GPU, quantized there bit-exactly like the CPU
// reference (and so like bitsandbytes), dequantized, and multiplied without ever holding a
// dequantized copy of the weight: the GEMM reads 4-bit codes, decodes the (double-quantized)
// absmax and dequantizes each 64x64 tile into shared memory inside its main loop.
//
// For the T5 engine (a Linear with an NF4 base weight W[N,K] = [out_features, in_features]):
//   auto w = hukuk::nf4::cuda::Nf4Weight::upload(cpu_tensor, stream);          // or quantize(...) on the GPU
//   hukuk::nf4::cuda::gemm_xwt(w.view(), x_bf16, M, y, OutType::BF16, 1, 0, s); // y[M,N]  = x[M,K] · Wᵀ
//   hukuk::nf4::cuda::gemm_dyw(w.view(), dy_bf16, M, dx, OutType::F32, 1, 1, s);// dx[M,K] += dy[M,N] · W
// Inputs are bf16 bits (uint16_t), row-major and contiguous; accumulation is fp32. The tensor-core
// path (sm_80+, wmma bf16) needs N % 64 == 0, K % 64 == 0 and blocksize % 64 == 0; otherwise (or
// on sm_75) a plain fp32 kernel computes the same function more slowly. Every dequantized weight
// value is exactly bitsandbytes' fp32 value rounded to bf16, as its bf16 QLoRA path uses.
#pragma once
#include <cstdint>
#include <vector>

#include "nf4/nf4.h"

#if defined(HUKUK_CUDA)
#include <cuda_runtime_api.h>

#include "core/cuda_runtime.h"

namespace hukuk::nf4::cuda {

// Device pointers of one NF4 weight (a view; Nf4Weight owns the memory).
struct DeviceNf4 {
  const uint8_t* packed = nullptr;    // (rows*cols+1)/2
  const float* absmax = nullptr;      // plain absmax; nullptr when double-quantized
  const uint8_t* absmax_q = nullptr;  // double quantization: codes, per-256 scales, map, offset
  const float* absmax2 = nullptr;
  const float* code2 = nullptr;
  float offset = 0.f;
  int blocksize = kDefaultBlocksize;
  int blocksize2 = kDefaultBlocksize2;
  int64_t rows = 0, cols = 0;  // N, K
};

class Nf4Weight {
 public:
  // Copies a host tensor (e.g. loaded with load_bnb_nf4) to the device. Its shape must be 2-D
  // (or 1-D, as rows=1).
  static Nf4Weight upload(const Nf4Tensor& t, cudaStream_t stream);
  // Back to the host (for tests and for saving a model quantized on the GPU).
  Nf4Tensor download(cudaStream_t stream) const;
  DeviceNf4 view() const;
  size_t device_bytes() const;

 private:
  friend Nf4Weight quantize(const void*, DType, const std::vector<int64_t>&, int, bool, cudaStream_t);
  std::vector<int64_t> shape_;
  int64_t numel_ = 0;
  DType dtype_ = DType::F32;
  int blocksize_ = kDefaultBlocksize, blocksize2_ = kDefaultBlocksize2;
  bool nested_ = false;
  float offset_ = 0.f;
  hukuk::cuda::DeviceBuffer<uint8_t> packed_, absmax_q_;
  hukuk::cuda::DeviceBuffer<float> absmax_, absmax2_, code2_;
};

// Quantizes numel values at device pointer x (fp32, or bf16/f16 bits) on the GPU, bit-exact with
// nf4::quantize. Synchronizes the stream once (to read the double-quant offset back).
Nf4Weight quantize(const void* x, DType dtype, const std::vector<int64_t>& shape, int blocksize, bool nested,
                   cudaStream_t stream);

// torch_cuda_mean on the device (the double-quant offset), one block; result at *out.
void mean(const float* x, int64_t n, float* out, cudaStream_t stream);

void dequantize_f32(const DeviceNf4& w, float* out, cudaStream_t stream);
void dequantize_bf16(const DeviceNf4& w, uint16_t* out, cudaStream_t stream);
// n <= 3 weights of one shape (a q,k,v group) dequantized side by side into out (weight i at
// out + i * rows * cols) in ONE launch; the same bits as n dequantize_* calls.
void dequantize_group_f32(const DeviceNf4* const* ws, int n, float* out, cudaStream_t stream);
void dequantize_group_bf16(const DeviceNf4* const* ws, int n, uint16_t* out, cudaStream_t stream);

// n <= kDequantizeListMax weights of any shapes, weight i into outs[i] (bf16), in ONE launch (a
// grid over the weights' concatenated 16-value groups); the same bits as dequantize_bf16 per
// weight. A weight the vectorized form cannot take (numel or blocksize not a multiple of 16, packed
// not 8-byte or outs[i] not 16-byte aligned) gets a dequantize_bf16 launch of its own. Launched
// through cuda/pdl.cuh (with the attribute while a training step has PDL on); it follows the PDL rule.
constexpr int kDequantizeListMax = 16;
void dequantize_list_bf16(const DeviceNf4* const* ws, uint16_t* const* outs, int n, cudaStream_t stream);

enum class OutType { F32, BF16 };
// Auto: tensor cores when the shape allows (128x128 tiles when they fill the GPU, else 64x64);
// the others force a path (tests, benchmarks).
enum class GemmImpl { Auto, TensorCore, TensorCore64, TensorCore128, TensorCore128x1, Simt };

bool tensor_core_ok(const DeviceNf4& w);  // shape/blocksize allow the tensor-core path (device not checked)

// y[M,N] = alpha * x[M,K] · Wᵀ + beta * y
void gemm_xwt(const DeviceNf4& w, const uint16_t* x, int64_t M, void* y, OutType out, float alpha, float beta,
              cudaStream_t stream, GemmImpl impl = GemmImpl::Auto);
// dx[M,K] = alpha * dy[M,N] · W + beta * dx
void gemm_dyw(const DeviceNf4& w, const uint16_t* dy, int64_t M, void* dx, OutType out, float alpha, float beta,
              cudaStream_t stream, GemmImpl impl = GemmImpl::Auto);

// fp32 compute (sm_75 cards, and GPU parity runs at the CPU's tolerances): x/dy and outputs fp32,
// weights at bitsandbytes' exact fp32 values. The plain kernel, slow; linear_*_f32 is the fast way.
void gemm_xwt_f32(const DeviceNf4& w, const float* x, int64_t M, float* y, float alpha, float beta,
                  cudaStream_t stream);
void gemm_dyw_f32(const DeviceNf4& w, const float* dy, int64_t M, float* dx, float alpha, float beta,
                  cudaStream_t stream);

// What a Linear layer should call. With cuBLAS available and a scratch buffer given (rows*cols
// bf16, one buffer can serve every layer in turn): dequantize W into it, then a cuBLAS bf16 GEMM,
// which measured 1.3-3.3x faster than the fused kernel on an H200 (bench/nf4_NOTES.md); otherwise
// the fused kernel, which needs neither cuBLAS nor scratch memory. Both see the same bf16 weight
// values and accumulate in fp32.
void linear_xwt(const DeviceNf4& w, const uint16_t* x, int64_t M, void* y, OutType out, float alpha, float beta,
                uint16_t* scratch, cudaStream_t stream);
void linear_dyw(const DeviceNf4& w, const uint16_t* dy, int64_t M, void* dx, OutType out, float alpha, float beta,
                uint16_t* scratch, cudaStream_t stream);
// fp32 twins: dequantize to an fp32 scratch (rows*cols floats) + cuBLAS fp32 GEMM (no TF32), else
// gemm_*_f32.
void linear_xwt_f32(const DeviceNf4& w, const float* x, int64_t M, float* y, float alpha, float beta, float* scratch,
                    cudaStream_t stream);
void linear_dyw_f32(const DeviceNf4& w, const float* dy, int64_t M, float* dx, float alpha, float beta,
                    float* scratch, cudaStream_t stream);

}  // namespace hukuk::nf4::cuda

#endif  // HUKUK_CUDA
