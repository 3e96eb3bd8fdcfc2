// NF4 (QLoRA's 4-bit NormalFloat), bit-exact with bitsandbytes 0.50 (csrc/kernels.cu:
// kQuantizeBlockwise / kQuantizeBlockwiseSmall with dQuantizeNF4, kDequantizeBlockwise, and the
// 8-bit dQuantize used for double quantization). The CPU functions here are the reference; the
// CUDA twins live in nf4.cu (nf4_cuda.h) and are tested against them.
//
// Layout (what bitsandbytes and transformers store):
//   packed   uint8[(n+1)/2]   two codes per byte, element 2i in the HIGH nibble, 2i+1 in the low
//   absmax   f32[nblocks]     max |x| of each block of `blocksize` (64) elements; last block partial
// Quantization of one element: c = code of x * (1/absmax) by bitsandbytes' decision tree (the
// midpoints between neighbouring NF4 values, strict '>' so a tie goes to the lower code).
// Dequantization: kNf4Code[c] * absmax (one fp32 multiply).
//
// Double quantization (bitsandbytes compress_statistics=True, transformers' bnb_4bit_use_double_quant):
//   offset   = mean(absmax)               (torch's CUDA float mean, emulated bit-exactly: torch_cuda_mean)
//   absmax_q = 8-bit blockwise quantization of (absmax - offset) in blocks of 256 with the signed
//              dynamic map kDynamicCode ("code2"); absmax2 = max |absmax - offset| per block of 256
//   decode:  absmax[i] = code2[absmax_q[i]] * absmax2[i/256] + offset   (two fp32 ops, in that order)
//
// Serialized form (QuantState.as_dict(packed=True) as bitsandbytes/transformers save it), for a
// Linear with key prefix P (e.g. "encoder.block.0.layer.0.SelfAttention.q."):
//   P+"weight"                               U8  [(n+1)/2, 1]   packed codes
//   P+"weight.absmax"                        U8 [nblocks] when nested, else F32 [nblocks]
//   P+"weight.quant_map"                     F32 [16]           kNf4Code
//   P+"weight.nested_absmax"                 F32 [nblocks2]     absmax2            (nested only)
//   P+"weight.nested_quant_map"              F32 [256]          code2              (nested only)
//   P+"weight.quant_state.bitsandbytes__nf4" U8  [len]          UTF-8 JSON:
//        {"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [out, in],
//         "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.0123}
//
// For the T5 loader: given a lookup of tensors by name (e.g. over a mapped safetensors file),
//   if (hukuk::nf4::is_bnb_nf4(lookup, P)) { Nf4Tensor w = hukuk::nf4::load_bnb_nf4(lookup, P); ... }
// then either dequantize(w, out) on the CPU, or upload w.packed and decoded_absmax(w) (or the
// double-quantized parts) to the GPU for the NF4 GEMM (nf4_cuda.h). No re-quantization happens.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace hukuk::nf4 {

// bitsandbytes' NF4 table (get_4bit_type("nf4")), indexed by the 4-bit code.
extern const float kNf4Code[16];
// bitsandbytes' create_dynamic_map(signed=True): 256 sorted values in [-0.993, 1].
extern const float kDynamicCode[256];

enum class DType { F32, BF16, F16 };
const char* dtype_torch_name(DType t);  // "float32", "bfloat16", "float16"
DType dtype_from_torch_name(const std::string& s);

constexpr int kDefaultBlocksize = 64;
constexpr int kDefaultBlocksize2 = 256;

// ---- building blocks (each one bitsandbytes/torch kernel) ----

// NF4 code of a value already scaled to [-1, 1] (dQuantizeNF4's decision tree).
uint8_t quantize_nf4_value(float x);

// Blockwise NF4 quantization of n values. packed gets (n+1)/2 bytes, absmax ceil(n/blocksize).
void quantize_blocks(const float* x, int64_t n, int blocksize, uint8_t* packed, float* absmax);
void quantize_blocks_bf16(const uint16_t* x, int64_t n, int blocksize, uint8_t* packed, float* absmax);
void quantize_blocks_f16(const uint16_t* x, int64_t n, int blocksize, uint8_t* packed, float* absmax);

// out[i] = kNf4Code[code_i] * absmax[i / blocksize]
void dequantize_blocks(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, float* out);

// torch.mean of a contiguous fp32 CUDA tensor, bit-exact with torch's reduce kernel (block of
// min(last_pow2(n), 512) threads, 4 accumulators per thread, shared-memory then warp-shuffle tree,
// times the float factor 1/n). Exact for n < 130561 (one thread block); beyond that torch splits
// across blocks in a device-dependent way and this is a close (not bit-exact) sum.
float torch_cuda_mean(const float* x, int64_t n);

// bitsandbytes' 8-bit blockwise quantization (General8bit, dQuantize<0>) with a sorted code.
uint8_t quantize_8bit_value(const float* code256, float x);
void quantize_blockwise_8bit(const float* x, int64_t n, int blocksize, const float* code256, uint8_t* q,
                             float* absmax);
void dequantize_blockwise_8bit(const uint8_t* q, const float* absmax, int64_t n, int blocksize,
                               const float* code256, float* out);

// ---- a quantized weight ----

struct Nf4Tensor {
  std::vector<int64_t> shape;  // the original tensor's shape, e.g. {out_features, in_features}
  int64_t numel = 0;
  DType dtype = DType::F32;    // the original dtype (what dequantization gives back)
  int blocksize = kDefaultBlocksize;
  std::vector<uint8_t> packed;  // (numel+1)/2
  std::vector<float> quant_map; // 16 values (kNf4Code unless loaded from a file that says otherwise)

  bool nested = false;          // double quantization
  std::vector<float> absmax;    // !nested: f32[nblocks]
  std::vector<uint8_t> absmax_q;// nested: u8[nblocks]
  float offset = 0.f;           // nested
  int blocksize2 = kDefaultBlocksize2;
  std::vector<float> absmax2;   // nested: f32[ceil(nblocks/blocksize2)]
  std::vector<float> code2;     // nested: 256 values

  int64_t nblocks() const { return (numel + blocksize - 1) / blocksize; }
};

// Quantizes like bitsandbytes.functional.quantize_4bit(A, blocksize, compress_statistics=nested,
// quant_type="nf4"). `x` holds numel values of `dtype` (fp32 as float, bf16/f16 as uint16_t).
Nf4Tensor quantize(const void* x, DType dtype, const std::vector<int64_t>& shape, int blocksize = kDefaultBlocksize,
                   bool nested = true);

// absmax as fp32 (decodes the double quantization when nested).
std::vector<float> decoded_absmax(const Nf4Tensor& t);

// Dequantizes to fp32 (numel values). For a bf16/f16 original, bitsandbytes would round these to
// that dtype; use f32_to_bf16 (core/half.h) for the same bits.
void dequantize(const Nf4Tensor& t, float* out);

// ---- bitsandbytes' serialized layout ----

// A read-only view of one stored tensor. dtype is the safetensors name ("U8", "F32", ...).
struct TensorView {
  std::string dtype;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
};
// Returns false when `name` is absent.
using TensorLookup = std::function<bool(const std::string& name, TensorView* out)>;

struct OwnedTensor {
  std::string name;
  std::string dtype;  // "U8" or "F32"
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// True when prefix+"weight.quant_state.bitsandbytes__nf4" exists (the weight was saved 4-bit).
bool is_bnb_nf4(const TensorLookup& lookup, const std::string& prefix);
// Reads the six (or four, without nesting) tensors; throws EngineError 'ENGINE_CORRUPT' when
// they disagree (sizes, quant_type other than nf4, bad JSON).
Nf4Tensor load_bnb_nf4(const TensorLookup& lookup, const std::string& prefix);
// The tensors bitsandbytes writes for this weight, names prefixed.
std::vector<OwnedTensor> save_bnb_nf4(const Nf4Tensor& t, const std::string& prefix);
// The JSON of the quant_state tensor, as Python's json.dumps writes it.
std::string quant_state_json(const Nf4Tensor& t);

}  // namespace hukuk::nf4
