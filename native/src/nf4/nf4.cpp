// The CPU reference of NF4 (see nf4.h for the layout and the exact arithmetic).
#include "nf4/nf4.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/half.h"

namespace hukuk::nf4 {

// bitsandbytes csrc/kernels.cu nf4_dequantization_lut (= get_4bit_type("nf4")).
const float kNf4Code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

// bitsandbytes create_dynamic_map(signed=True), exactly as bitsandbytes 0.50 produced it (read
// from the goldens it wrote). It is a table and not computed here because the map goes through
// torch.linspace on the CPU, whose last bits depend on the machine's vector width: the stored
// table is the one models in the wild were quantized with.
const float kDynamicCode[256] = {
    -0x1.fc66660000000p-1f, -0x1.f533340000000p-1f, -0x1.ee00000000000p-1f, -0x1.e6cccc0000000p-1f, -0x1.df999a0000000p-1f, -0x1.d866660000000p-1f,
    -0x1.d133340000000p-1f, -0x1.ca00000000000p-1f, -0x1.c2cccc0000000p-1f, -0x1.bb999a0000000p-1f, -0x1.b466660000000p-1f, -0x1.ad33340000000p-1f,
    -0x1.a600000000000p-1f, -0x1.9ecccc0000000p-1f, -0x1.97999a0000000p-1f, -0x1.9066660000000p-1f, -0x1.8933340000000p-1f, -0x1.8200000000000p-1f,
    -0x1.7acccc0000000p-1f, -0x1.73999a0000000p-1f, -0x1.6c66680000000p-1f, -0x1.6533340000000p-1f, -0x1.5e00000000000p-1f, -0x1.56cccc0000000p-1f,
    -0x1.4f999a0000000p-1f, -0x1.4866680000000p-1f, -0x1.4133340000000p-1f, -0x1.3a00000000000p-1f, -0x1.32cccc0000000p-1f, -0x1.2b999a0000000p-1f,
    -0x1.2466680000000p-1f, -0x1.1d33340000000p-1f, -0x1.1600000000000p-1f, -0x1.0ecccc0000000p-1f, -0x1.0799980000000p-1f, -0x1.0066660000000p-1f,
    -0x1.f266640000000p-2f, -0x1.e400000000000p-2f, -0x1.d599980000000p-2f, -0x1.c733340000000p-2f, -0x1.b8cccc0000000p-2f, -0x1.aa66660000000p-2f,
    -0x1.9c00000000000p-2f, -0x1.8d99980000000p-2f, -0x1.7f33340000000p-2f, -0x1.70cccc0000000p-2f, -0x1.6266660000000p-2f, -0x1.5400000000000p-2f,
    -0x1.4599980000000p-2f, -0x1.3733340000000p-2f, -0x1.28cccc0000000p-2f, -0x1.1a66680000000p-2f, -0x1.0c00000000000p-2f, -0x1.fb33320000000p-3f,
    -0x1.de66660000000p-3f, -0x1.c1999a0000000p-3f, -0x1.a4cccc0000000p-3f, -0x1.8800000000000p-3f, -0x1.6b33340000000p-3f, -0x1.4e66660000000p-3f,
    -0x1.31999a0000000p-3f, -0x1.14cccc0000000p-3f, -0x1.f000000000000p-4f, -0x1.b666680000000p-4f, -0x1.93d70a0000000p-4f, -0x1.8851ee0000000p-4f,
    -0x1.7cccce0000000p-4f, -0x1.7147ae0000000p-4f, -0x1.65c2900000000p-4f, -0x1.5a3d700000000p-4f, -0x1.4eb8540000000p-4f, -0x1.4333340000000p-4f,
    -0x1.37ae140000000p-4f, -0x1.2c28f60000000p-4f, -0x1.20a3d60000000p-4f, -0x1.151eba0000000p-4f, -0x1.09999a0000000p-4f, -0x1.fc28f60000000p-5f,
    -0x1.e51eba0000000p-5f, -0x1.ce147a0000000p-5f, -0x1.b70a3e0000000p-5f, -0x1.a000000000000p-5f, -0x1.88f5c20000000p-5f, -0x1.71eb860000000p-5f,
    -0x1.5ae1460000000p-5f, -0x1.43d70a0000000p-5f, -0x1.2cccce0000000p-5f, -0x1.15c2900000000p-5f, -0x1.fd70a40000000p-6f, -0x1.cf5c2a0000000p-6f,
    -0x1.a147ae0000000p-6f, -0x1.7333340000000p-6f, -0x1.451eba0000000p-6f, -0x1.170a3e0000000p-6f, -0x1.d1eb860000000p-7f, -0x1.75c2900000000p-7f,
    -0x1.3e76c80000000p-7f, -0x1.2c08300000000p-7f, -0x1.19999a0000000p-7f, -0x1.072b020000000p-7f, -0x1.e978d40000000p-8f, -0x1.c49ba60000000p-8f,
    -0x1.9fbe760000000p-8f, -0x1.7ae1480000000p-8f, -0x1.56041a0000000p-8f, -0x1.3126e80000000p-8f, -0x1.0c49ba0000000p-8f, -0x1.ced9140000000p-9f,
    -0x1.851eb80000000p-9f, -0x1.3b645a0000000p-9f, -0x1.e353f80000000p-10f, -0x1.4fdf3a0000000p-10f, -0x1.eecbfe0000000p-11f, -0x1.b3d07c0000000p-11f,
    -0x1.78d5000000000p-11f, -0x1.3dd9820000000p-11f, -0x1.02de020000000p-11f, -0x1.8fc5060000000p-12f, -0x1.19ce0a0000000p-12f, -0x1.47ae160000000p-13f,
    -0x1.743e960000000p-14f, -0x1.15df660000000p-14f, -0x1.6f00680000000p-15f, -0x1.64840c0000000p-16f, -0x1.040bfe0000000p-17f, -0x1.b435280000000p-19f,
    -0x1.27476e0000000p-21f, 0x0.0p+0f, 0x1.27476e0000000p-21f, 0x1.b435280000000p-19f, 0x1.040bfe0000000p-17f, 0x1.64840c0000000p-16f,
    0x1.6f00680000000p-15f, 0x1.15df660000000p-14f, 0x1.743e960000000p-14f, 0x1.47ae160000000p-13f, 0x1.19ce0a0000000p-12f, 0x1.8fc5060000000p-12f,
    0x1.02de020000000p-11f, 0x1.3dd9820000000p-11f, 0x1.78d5000000000p-11f, 0x1.b3d07c0000000p-11f, 0x1.eecbfe0000000p-11f, 0x1.4fdf3a0000000p-10f,
    0x1.e353f80000000p-10f, 0x1.3b645a0000000p-9f, 0x1.851eb80000000p-9f, 0x1.ced9140000000p-9f, 0x1.0c49ba0000000p-8f, 0x1.3126e80000000p-8f,
    0x1.56041a0000000p-8f, 0x1.7ae1480000000p-8f, 0x1.9fbe760000000p-8f, 0x1.c49ba60000000p-8f, 0x1.e978d40000000p-8f, 0x1.072b020000000p-7f,
    0x1.19999a0000000p-7f, 0x1.2c08300000000p-7f, 0x1.3e76c80000000p-7f, 0x1.75c2900000000p-7f, 0x1.d1eb860000000p-7f, 0x1.170a3e0000000p-6f,
    0x1.451eba0000000p-6f, 0x1.7333340000000p-6f, 0x1.a147ae0000000p-6f, 0x1.cf5c2a0000000p-6f, 0x1.fd70a40000000p-6f, 0x1.15c2900000000p-5f,
    0x1.2cccce0000000p-5f, 0x1.43d70a0000000p-5f, 0x1.5ae1460000000p-5f, 0x1.71eb860000000p-5f, 0x1.88f5c20000000p-5f, 0x1.a000000000000p-5f,
    0x1.b70a3e0000000p-5f, 0x1.ce147a0000000p-5f, 0x1.e51eba0000000p-5f, 0x1.fc28f60000000p-5f, 0x1.09999a0000000p-4f, 0x1.151eba0000000p-4f,
    0x1.20a3d60000000p-4f, 0x1.2c28f60000000p-4f, 0x1.37ae140000000p-4f, 0x1.4333340000000p-4f, 0x1.4eb8540000000p-4f, 0x1.5a3d700000000p-4f,
    0x1.65c2900000000p-4f, 0x1.7147ae0000000p-4f, 0x1.7cccce0000000p-4f, 0x1.8851ee0000000p-4f, 0x1.93d70a0000000p-4f, 0x1.b666680000000p-4f,
    0x1.f000000000000p-4f, 0x1.14cccc0000000p-3f, 0x1.31999a0000000p-3f, 0x1.4e66660000000p-3f, 0x1.6b33340000000p-3f, 0x1.8800000000000p-3f,
    0x1.a4cccc0000000p-3f, 0x1.c1999a0000000p-3f, 0x1.de66660000000p-3f, 0x1.fb33320000000p-3f, 0x1.0c00000000000p-2f, 0x1.1a66680000000p-2f,
    0x1.28cccc0000000p-2f, 0x1.3733340000000p-2f, 0x1.4599980000000p-2f, 0x1.5400000000000p-2f, 0x1.6266660000000p-2f, 0x1.70cccc0000000p-2f,
    0x1.7f33340000000p-2f, 0x1.8d99980000000p-2f, 0x1.9c00000000000p-2f, 0x1.aa66660000000p-2f, 0x1.b8cccc0000000p-2f, 0x1.c733340000000p-2f,
    0x1.d599980000000p-2f, 0x1.e400000000000p-2f, 0x1.f266640000000p-2f, 0x1.0066660000000p-1f, 0x1.0799980000000p-1f, 0x1.0ecccc0000000p-1f,
    0x1.1600000000000p-1f, 0x1.1d33340000000p-1f, 0x1.2466680000000p-1f, 0x1.2b999a0000000p-1f, 0x1.32cccc0000000p-1f, 0x1.3a00000000000p-1f,
    0x1.4133340000000p-1f, 0x1.4866680000000p-1f, 0x1.4f999a0000000p-1f, 0x1.56cccc0000000p-1f, 0x1.5e00000000000p-1f, 0x1.6533340000000p-1f,
    0x1.6c66680000000p-1f, 0x1.73999a0000000p-1f, 0x1.7acccc0000000p-1f, 0x1.8200000000000p-1f, 0x1.8933340000000p-1f, 0x1.9066660000000p-1f,
    0x1.97999a0000000p-1f, 0x1.9ecccc0000000p-1f, 0x1.a600000000000p-1f, 0x1.ad33340000000p-1f, 0x1.b466660000000p-1f, 0x1.bb999a0000000p-1f,
    0x1.c2cccc0000000p-1f, 0x1.ca00000000000p-1f, 0x1.d133340000000p-1f, 0x1.d866660000000p-1f, 0x1.df999a0000000p-1f, 0x1.e6cccc0000000p-1f,
    0x1.ee00000000000p-1f, 0x1.f533340000000p-1f, 0x1.fc66660000000p-1f, 0x1.0000000000000p+0f
};

const char* dtype_torch_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::BF16: return "bfloat16";
    case DType::F16: return "float16";
  }
  return "float32";
}

DType dtype_from_torch_name(const std::string& s) {
  if (s == "float32") return DType::F32;
  if (s == "bfloat16") return DType::BF16;
  if (s == "float16") return DType::F16;
  HUKUK_FAIL("ENGINE_CORRUPT", "unsupported NF4 source dtype '" + s + "' (float32, bfloat16 or float16)");
}

// dQuantizeNF4: the thresholds are the midpoints between neighbouring NF4 values; '>' sends a
// tie to the lower code. A NaN compares false everywhere and becomes code 0, as on the GPU.
uint8_t quantize_nf4_value(float x) {
  if (x > 0.03979014977812767f) {
    if (x > 0.3893125355243683f) {
      if (x > 0.6427869200706482f) return x > 0.8614784181118011f ? 0b1111 : 0b1110;
      return x > 0.5016634166240692f ? 0b1101 : 0b1100;
    }
    if (x > 0.2035212516784668f) return x > 0.2920137718319893f ? 0b1011 : 0b1010;
    return x > 0.1202552504837513f ? 0b1001 : 0b1000;
  }
  if (x > -0.33967943489551544f) {
    if (x > -0.13791173323988914f) return x > -0.045525018125772476f ? 0b0111 : 0b0110;
    return x > -0.23460740596055984f ? 0b0101 : 0b0100;
  }
  if (x > -0.6106329262256622f) return x > -0.4599952697753906f ? 0b0011 : 0b0010;
  return x > -0.8480964004993439f ? 0b0001 : 0b0000;
}

static void check_blocksize(int blocksize) {
  HUKUK_CHECK(blocksize >= 2 && (blocksize & (blocksize - 1)) == 0 && blocksize <= 4096, "ENGINE_INVALID_ARG",
              "NF4 blocksize must be a power of two in [2, 4096], got " + std::to_string(blocksize));
}

// One block: absmax over the valid values; scale by the fp32 reciprocal (as the kernel does:
// x * (1.0f / absmax)); the pad value of a partial block is 0, which also fills the low nibble
// of an odd last byte.
// The decision tree's thresholds in order; a code is the number of thresholds x exceeds. Used
// by the block loop below because 15 branch-free compares vectorize, where the tree does not.
static const float kNf4Thresholds[15] = {
    -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
    -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
    0.1202552504837513f, 0.2035212516784668f, 0.2920137718319893f, 0.3893125355243683f,
    0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f,
};

// One block: absmax over the valid values; scale by the fp32 reciprocal (as the kernel does:
// x * (1.0f / absmax)); the pad value of a partial block is 0, which also fills the low nibble
// of an odd last byte.
template <typename Load>
static void quantize_blocks_impl(Load load, int64_t n, int blocksize, uint8_t* packed, float* absmax) {
  check_blocksize(blocksize);
  const int64_t nb = (n + blocksize - 1) / blocksize;
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t begin = b * blocksize;
    const int len = static_cast<int>(std::min<int64_t>(blocksize, n - begin));
    float v[4096 + 1];
    float amax = -std::numeric_limits<float>::max();
    for (int i = 0; i < len; ++i) {
      v[i] = load(begin + i);
      amax = std::fmax(amax, std::fabs(v[i]));
    }
    v[len] = 0.0f;  // pad for an odd tail
    absmax[b] = amax;
    const float inv = 1.0f / amax;
    uint8_t c[4096 + 1];
    const int len2 = (len + 1) & ~1;
    for (int i = 0; i < len2; ++i) {
      const float s = v[i] * inv;
      int code = 0;
      for (int k = 0; k < 15; ++k) code += s > kNf4Thresholds[k];
      c[i] = static_cast<uint8_t>(code);
    }
    uint8_t* dst = packed + begin / 2;
    for (int i = 0; i < len2; i += 2) dst[i / 2] = static_cast<uint8_t>(c[i] << 4 | c[i + 1]);
  }
}

void quantize_blocks(const float* x, int64_t n, int blocksize, uint8_t* packed, float* absmax) {
  quantize_blocks_impl([x](int64_t i) { return x[i]; }, n, blocksize, packed, absmax);
}
void quantize_blocks_bf16(const uint16_t* x, int64_t n, int blocksize, uint8_t* packed, float* absmax) {
  quantize_blocks_impl([x](int64_t i) { return bf16_to_f32(x[i]); }, n, blocksize, packed, absmax);
}
void quantize_blocks_f16(const uint16_t* x, int64_t n, int blocksize, uint8_t* packed, float* absmax) {
  quantize_blocks_impl([x](int64_t i) { return f16_to_f32(x[i]); }, n, blocksize, packed, absmax);
}

void dequantize_blocks(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, float* out) {
  check_blocksize(blocksize);
  const int64_t nb = (n + blocksize - 1) / blocksize;
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t begin = b * blocksize;  // even: blocksize >= 2 is a power of two
    const int64_t end = std::min<int64_t>(begin + blocksize, n);
    const float a = absmax[b];
    const int64_t pairs_end = begin + ((end - begin) & ~int64_t(1));
    for (int64_t i = begin; i < pairs_end; i += 2) {
      const uint8_t byte = packed[i / 2];
      out[i] = kNf4Code[byte >> 4] * a;
      out[i + 1] = kNf4Code[byte & 0x0f] * a;
    }
    if (pairs_end < end) out[pairs_end] = kNf4Code[packed[pairs_end / 2] >> 4] * a;
  }
}

// torch's gpu_reduce_kernel for a 1-D contiguous float mean (MeanOps: sum, then * (1.0f/n)).
// With input_vec_size 8 > vt0 4, torch does not vectorize this reduction: thread t of a block of
// B threads keeps 4 accumulators, accumulator j taking element idx + j*B, idx stepping by 4B;
// the 4 are combined in order; then threads are folded pairwise, first through shared memory
// (offsets B/2 .. 32) and then by warp shuffles (offsets 1, 2, 4, 8, 16).
float torch_cuda_mean(const float* x, int64_t n) {
  HUKUK_CHECK(n > 0, "ENGINE_INVALID_ARG", "mean of an empty tensor");
  auto last_pow2 = [](int64_t v) {
    int64_t p = 1;
    while (p * 2 <= v) p *= 2;
    return p;
  };
  const int64_t B = n < 512 ? last_pow2(n) : 512;
  std::vector<float> v(static_cast<size_t>(B));
  for (int64_t t = 0; t < B; ++t) {
    float acc[4] = {0.f, 0.f, 0.f, 0.f};
    for (int64_t idx = t; idx < n; idx += 4 * B)
      for (int j = 0; j < 4; ++j)
        if (idx + j * B < n) acc[j] = acc[j] + x[idx + j * B];
    v[t] = ((acc[0] + acc[1]) + acc[2]) + acc[3];
  }
  int64_t width = B;
  if (width > 32) {
    for (int64_t off = width / 2; off >= 32; off /= 2)
      for (int64_t t = 0; t < off; ++t) v[t] = v[t] + v[t + off];
    width = 32;
  }
  for (int64_t off = 1; off < width; off *= 2)
    for (int64_t t = 0; t + off < width; ++t) v[t] = v[t] + v[t + off];  // ascending t reads not-yet-updated v[t+off]
  const float factor = 1.0f / static_cast<float>(n);
  return v[0] * factor;
}

// dQuantize<0>: a 7-step binary search over the sorted code from pivot 127, then the nearer of
// the two neighbours by their midpoint ('>' to go up, '<' to go down).
uint8_t quantize_8bit_value(const float* code, float x) {
  int pivot = 127, upper_pivot = 255, lower_pivot = 0;
  float lower = -1.0f, upper = 1.0f;
  float val = code[pivot];
  for (int i = 64; i > 0; i >>= 1) {
    if (x > val) {
      lower_pivot = pivot;
      lower = val;
      pivot += i;
    } else {
      upper_pivot = pivot;
      upper = val;
      pivot -= i;
    }
    val = code[pivot];
  }
  if (upper_pivot == 255) upper = code[upper_pivot];
  if (lower_pivot == 0) lower = code[lower_pivot];
  if (x > val) {
    const float midpoint = (upper + val) * 0.5f;
    return static_cast<uint8_t>(x > midpoint ? upper_pivot : pivot);
  }
  const float midpoint = (lower + val) * 0.5f;
  return static_cast<uint8_t>(x < midpoint ? lower_pivot : pivot);
}

void quantize_blockwise_8bit(const float* x, int64_t n, int blocksize, const float* code, uint8_t* q,
                             float* absmax) {
  check_blocksize(blocksize);
  const int64_t nb = (n + blocksize - 1) / blocksize;
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t begin = b * blocksize;
    const int64_t end = std::min<int64_t>(begin + blocksize, n);
    float amax = -std::numeric_limits<float>::max();
    for (int64_t i = begin; i < end; ++i) amax = std::fmax(amax, std::fabs(x[i]));
    absmax[b] = amax;
    const float inv = 1.0f / amax;
    for (int64_t i = begin; i < end; ++i) q[i] = quantize_8bit_value(code, x[i] * inv);
  }
}

void dequantize_blockwise_8bit(const uint8_t* q, const float* absmax, int64_t n, int blocksize, const float* code,
                               float* out) {
  check_blocksize(blocksize);
  for (int64_t i = 0; i < n; ++i) out[i] = code[q[i]] * absmax[i / blocksize];
}

Nf4Tensor quantize(const void* x, DType dtype, const std::vector<int64_t>& shape, int blocksize, bool nested) {
  HUKUK_CHECK(x != nullptr, "ENGINE_INVALID_ARG", "NF4 quantize: no input");
  int64_t numel = 1;
  for (int64_t d : shape) {
    HUKUK_CHECK(d >= 0, "ENGINE_INVALID_ARG", "NF4 quantize: negative dimension");
    numel *= d;
  }
  HUKUK_CHECK(numel > 0, "ENGINE_INVALID_ARG", "NF4 quantize: empty tensor");
  check_blocksize(blocksize);
  Nf4Tensor t;
  t.shape = shape;
  t.numel = numel;
  t.dtype = dtype;
  t.blocksize = blocksize;
  t.packed.resize(static_cast<size_t>((numel + 1) / 2));
  t.quant_map.assign(kNf4Code, kNf4Code + 16);
  std::vector<float> absmax(static_cast<size_t>(t.nblocks()));
  switch (dtype) {
    case DType::F32: quantize_blocks(static_cast<const float*>(x), numel, blocksize, t.packed.data(), absmax.data()); break;
    case DType::BF16: quantize_blocks_bf16(static_cast<const uint16_t*>(x), numel, blocksize, t.packed.data(), absmax.data()); break;
    case DType::F16: quantize_blocks_f16(static_cast<const uint16_t*>(x), numel, blocksize, t.packed.data(), absmax.data()); break;
  }
  t.nested = nested;
  if (!nested) {
    t.absmax = std::move(absmax);
    return t;
  }
  // quantize_4bit(compress_statistics=True): offset = absmax.mean(); quantize_blockwise(absmax - offset, 256)
  const int64_t nb = t.nblocks();
  t.offset = torch_cuda_mean(absmax.data(), nb);
  for (float& a : absmax) a = a - t.offset;
  t.blocksize2 = kDefaultBlocksize2;
  t.code2.assign(kDynamicCode, kDynamicCode + 256);
  t.absmax_q.resize(static_cast<size_t>(nb));
  t.absmax2.resize(static_cast<size_t>((nb + t.blocksize2 - 1) / t.blocksize2));
  quantize_blockwise_8bit(absmax.data(), nb, t.blocksize2, t.code2.data(), t.absmax_q.data(), t.absmax2.data());
  return t;
}

std::vector<float> decoded_absmax(const Nf4Tensor& t) {
  if (!t.nested) return t.absmax;
  std::vector<float> a(t.absmax_q.size());
  dequantize_blockwise_8bit(t.absmax_q.data(), t.absmax2.data(), static_cast<int64_t>(a.size()), t.blocksize2,
                            t.code2.data(), a.data());
  for (float& v : a) v = v + t.offset;
  return a;
}

void dequantize(const Nf4Tensor& t, float* out) {
  HUKUK_CHECK(static_cast<int64_t>(t.packed.size()) == (t.numel + 1) / 2, "ENGINE_CORRUPT",
              "NF4 tensor: packed size does not match numel");
  std::vector<float> absmax = decoded_absmax(t);
  HUKUK_CHECK(static_cast<int64_t>(absmax.size()) == t.nblocks(), "ENGINE_CORRUPT",
              "NF4 tensor: absmax count does not match numel/blocksize");
  // A loaded file may carry its own quant_map; bitsandbytes' kernel always uses the built-in
  // table, so a different map would not dequantize the way the file's author saw it.
  if (!t.quant_map.empty())
    for (int i = 0; i < 16; ++i)
      HUKUK_CHECK(t.quant_map[i] == kNf4Code[i], "ENGINE_CORRUPT", "NF4 tensor: quant_map is not the NF4 table");
  dequantize_blocks(t.packed.data(), absmax.data(), t.numel, t.blocksize, out);
}

}  // namespace hukuk::nf4
