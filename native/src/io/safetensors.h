// safetensors files: a memory-mapped reader (zero copy; fp32/fp16/bf16 converted to fp32 on
// request) and a writer. Errors name the file and the tensor: missing tensor, wrong shape,
// unsupported dtype, offsets past the end of the file, overlapping or unordered data.
//
//   SafeTensors st("model/model.safetensors");
//   std::vector<float> w = st.read_f32("shared.weight", {vocab, d_model});
//   write_safetensors(path, {{"a", {2, 3}, data}}, {{"format", "pt"}});
//
// ShardedSafeTensors opens model.safetensors, or the shards that
// model.safetensors.index.json lists, behind the same lookups.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/half.h"

namespace hukuk::io {

struct TensorInfo {
  std::string name;
  std::string dtype;            // "F32", "F16", "BF16", "I32", "I64", "U8", ...
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // inside the mapping
  size_t nbytes = 0;
  int64_t numel() const;
};

std::string shape_str(const std::vector<int64_t>& s);

class SafeTensors {
 public:
  explicit SafeTensors(const std::string& path);
  ~SafeTensors();
  SafeTensors(const SafeTensors&) = delete;
  SafeTensors& operator=(const SafeTensors&) = delete;

  const std::string& path() const { return path_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorInfo* find(const std::string& name) const;
  const TensorInfo& get(const std::string& name) const;  // throws naming the tensor
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // Converts F32/F16/BF16 to fp32 into out (numel values). Checks the shape when expected is
  // non-empty.
  void read_f32_into(const std::string& name, const std::vector<int64_t>& expected, float* out) const;
  std::vector<float> read_f32(const std::string& name, const std::vector<int64_t>& expected = {}) const;
  std::vector<int32_t> read_i32(const std::string& name) const;  // I32 or I64 (range-checked)

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// model.safetensors, or the shards listed by model.safetensors.index.json, in one directory.
class ShardedSafeTensors {
 public:
  explicit ShardedSafeTensors(const std::string& dir);
  const TensorInfo* find(const std::string& name) const;
  bool has(const std::string& name) const { return find(name) != nullptr; }
  const SafeTensors& file_of(const std::string& name) const;  // throws naming the tensor
  std::vector<float> read_f32(const std::string& name, const std::vector<int64_t>& expected = {}) const {
    return file_of(name).read_f32(name, expected);
  }
  std::vector<std::string> names() const;

 private:
  std::vector<std::unique_ptr<SafeTensors>> files_;
  std::map<std::string, size_t> where_;
  std::string dir_;
};

struct TensorToWrite {
  std::string name;
  std::vector<int64_t> shape;
  const float* data = nullptr;  // F32 (numel values)
  std::string dtype = "F32";    // "F32", or "U8"/"I32" with raw_bytes
  const void* raw = nullptr;    // for non-F32 dtypes
  size_t raw_bytes = 0;
};

// Writes atomically (path.tmp, then rename). Tensors are sorted by name as safetensors' Python
// writer does; data offsets are 8-byte aligned by header padding.
void write_safetensors(const std::string& path, std::vector<TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata);

// bf16/f16 -> f32: the one implementation in core/half.h (kept reachable as io:: names).
using hukuk::bf16_to_f32;
using hukuk::f16_to_f32;

}  // namespace hukuk::io
