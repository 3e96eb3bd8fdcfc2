#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "io/json.h"

namespace hukuk::io {

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
  return o + "]";
}

static size_t dtype_size(const std::string& d) {
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "U8" || d == "I8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
  return 0;
}

SafeTensors::SafeTensors(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) HUKUK_FAIL("ENGINE_IO", "cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    HUKUK_FAIL("ENGINE_IO", "cannot stat " + path);
  }
  size_ = size_t(st.st_size);
  if (size_ < 8) {
    ::close(fd);
    HUKUK_FAIL("ENGINE_CORRUPT", path + ": too short for a safetensors file (" + std::to_string(size_) + " bytes)");
  }
  map_ = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    HUKUK_FAIL("ENGINE_IO", "cannot map " + path);
  }
  const uint8_t* base = static_cast<const uint8_t*>(map_);
  uint64_t hlen = 0;
  std::memcpy(&hlen, base, 8);
  if (hlen > size_ - 8 || hlen > (100u << 20)) {
    munmap(map_, size_);
    map_ = nullptr;
    HUKUK_FAIL("ENGINE_CORRUPT", path + ": header length " + std::to_string(hlen) + " is past the end of the file");
  }
  std::string header(reinterpret_cast<const char*>(base + 8), hlen);
  json::Value h;
  try {
    h = json::parse(header, path + " (safetensors header)");
  } catch (...) {
    munmap(map_, size_);
    map_ = nullptr;
    throw;
  }
  const uint8_t* data = base + 8 + hlen;
  const size_t data_size = size_ - 8 - hlen;
  auto bad = [&](const std::string& msg) {
    munmap(map_, size_);
    map_ = nullptr;
    HUKUK_FAIL("ENGINE_CORRUPT", path + ": " + msg);
  };
  if (h.kind != json::Value::Object) bad("header is not a JSON object");
  for (const auto& kv : h.obj) {
    if (kv.first == "__metadata__") {
      for (const auto& m : kv.second.obj)
        if (m.second.kind == json::Value::String) metadata_[m.first] = m.second.str;
      continue;
    }
    const json::Value& t = kv.second;
    const json::Value* dt = t.get("dtype");
    const json::Value* sh = t.get("shape");
    const json::Value* off = t.get("data_offsets");
    if (!dt || !sh || !off || dt->kind != json::Value::String || sh->kind != json::Value::Array ||
        off->kind != json::Value::Array || off->arr.size() != 2)
      bad("tensor '" + kv.first + "' has a malformed entry (dtype/shape/data_offsets)");
    TensorInfo ti;
    ti.name = kv.first;
    ti.dtype = dt->str;
    for (const auto& d : sh->arr) {
      int64_t v = d.as_int64("shape");
      if (v < 0) bad("tensor '" + kv.first + "' has a negative dimension");
      ti.shape.push_back(v);
    }
    int64_t a = off->arr[0].as_int64("data_offsets"), b = off->arr[1].as_int64("data_offsets");
    if (a < 0 || b < a || size_t(b) > data_size)
      bad("tensor '" + kv.first + "' has data offsets [" + std::to_string(a) + ", " + std::to_string(b) +
          ") past the end of the data (" + std::to_string(data_size) + " bytes)");
    size_t es = dtype_size(ti.dtype);
    if (es == 0) bad("tensor '" + kv.first + "' has unknown dtype " + ti.dtype);
    // Checked before numel()/the byte count are used: a hostile shape such as [2^62 + 1] in F32
    // would otherwise wrap numel * 4 around to a small byte count that matches the offsets.
    {
      uint64_t n = 1;
      for (int64_t d : ti.shape) {
        if (d != 0 && n > (uint64_t(INT64_MAX) / es) / uint64_t(d))
          bad("tensor '" + kv.first + "' has shape " + shape_str(ti.shape) + ", too large for any file");
        n *= uint64_t(d);
      }
    }
    if (size_t(b - a) != size_t(ti.numel()) * es)
      bad("tensor '" + kv.first + "' holds " + std::to_string(b - a) + " bytes but " + ti.dtype + " " +
          shape_str(ti.shape) + " needs " + std::to_string(size_t(ti.numel()) * es));
    ti.data = data + a;
    ti.nbytes = size_t(b - a);
    tensors_[kv.first] = std::move(ti);
  }
  // As the header promises (and the reference reader checks): no two tensors share bytes.
  std::vector<std::pair<const uint8_t*, const TensorInfo*>> spans;
  for (const auto& kv : tensors_) spans.emplace_back(kv.second.data, &kv.second);
  std::sort(spans.begin(), spans.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  for (size_t i = 1; i < spans.size(); ++i) {
    const TensorInfo& prev = *spans[i - 1].second;
    if (spans[i].first < prev.data + prev.nbytes)
      bad("tensor '" + spans[i].second->name + "' overlaps the bytes of tensor '" + prev.name + "'");
  }
}

SafeTensors::~SafeTensors() {
  if (map_) munmap(map_, size_);
}

const TensorInfo* SafeTensors::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const TensorInfo& SafeTensors::get(const std::string& name) const {
  auto* t = find(name);
  if (!t) HUKUK_FAIL("ENGINE_CORRUPT", path_ + ": tensor '" + name + "' is missing");
  return *t;
}

void SafeTensors::read_f32_into(const std::string& name, const std::vector<int64_t>& expected, float* out) const {
  const TensorInfo& t = get(name);
  if (!expected.empty() && t.shape != expected)
    HUKUK_FAIL("ENGINE_CORRUPT", path_ + ": tensor '" + name + "' has shape " + shape_str(t.shape) + ", expected " +
                                     shape_str(expected));
  const int64_t n = t.numel();
  if (t.dtype == "F32") {
    std::memcpy(out, t.data, size_t(n) * 4);
  } else if (t.dtype == "BF16" || t.dtype == "F16") {
    const bool bf = t.dtype == "BF16";
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      out[i] = bf ? bf16_to_f32(h) : f16_to_f32(h);
    }
  } else {
    HUKUK_FAIL("ENGINE_CORRUPT", path_ + ": tensor '" + name + "' has dtype " + t.dtype +
                                     "; expected F32, F16 or BF16");
  }
}

std::vector<float> SafeTensors::read_f32(const std::string& name, const std::vector<int64_t>& expected) const {
  const TensorInfo& t = get(name);
  std::vector<float> v(size_t(t.numel()));
  read_f32_into(name, expected, v.data());
  return v;
}

std::vector<int32_t> SafeTensors::read_i32(const std::string& name) const {
  const TensorInfo& t = get(name);
  std::vector<int32_t> v(size_t(t.numel()));
  if (t.dtype == "I32") {
    std::memcpy(v.data(), t.data, t.nbytes);
  } else if (t.dtype == "I64") {
    for (size_t i = 0; i < v.size(); ++i) {
      int64_t x;
      std::memcpy(&x, t.data + 8 * i, 8);
      if (x < INT32_MIN || x > INT32_MAX) HUKUK_FAIL("ENGINE_CORRUPT", path_ + ": tensor '" + name + "' value out of int32 range");
      v[i] = int32_t(x);
    }
  } else {
    HUKUK_FAIL("ENGINE_CORRUPT", path_ + ": tensor '" + name + "' has dtype " + t.dtype + "; expected I32 or I64");
  }
  return v;
}

static bool file_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

static std::string read_text(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) HUKUK_FAIL("ENGINE_IO", "cannot read " + p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

ShardedSafeTensors::ShardedSafeTensors(const std::string& dir) : dir_(dir) {
  const std::string single = dir + "/model.safetensors";
  const std::string index = dir + "/model.safetensors.index.json";
  if (file_exists(single)) {
    files_.push_back(std::make_unique<SafeTensors>(single));
    for (const auto& kv : files_[0]->tensors()) where_[kv.first] = 0;
    return;
  }
  if (!file_exists(index))
    HUKUK_FAIL("ENGINE_IO", dir + " has neither model.safetensors nor model.safetensors.index.json");
  json::Value idx = json::parse(read_text(index), index);
  const json::Value* wm = idx.get("weight_map");
  if (!wm || wm->kind != json::Value::Object) HUKUK_FAIL("ENGINE_CORRUPT", index + ": no weight_map object");
  std::map<std::string, size_t> file_index;
  for (const auto& kv : wm->obj) {
    const std::string& f = kv.second.as_string("weight_map value");
    if (f.find('/') != std::string::npos || f.find("..") != std::string::npos)
      HUKUK_FAIL("ENGINE_CORRUPT", index + ": shard name '" + f + "' is not a plain file name");
    auto it = file_index.find(f);
    if (it == file_index.end()) {
      files_.push_back(std::make_unique<SafeTensors>(dir + "/" + f));
      it = file_index.emplace(f, files_.size() - 1).first;
    }
    if (!files_[it->second]->has(kv.first))
      HUKUK_FAIL("ENGINE_CORRUPT", index + ": tensor '" + kv.first + "' is listed in " + f + " but missing there");
    where_[kv.first] = it->second;
  }
}

const TensorInfo* ShardedSafeTensors::find(const std::string& name) const {
  auto it = where_.find(name);
  return it == where_.end() ? nullptr : files_[it->second]->find(name);
}

const SafeTensors& ShardedSafeTensors::file_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) HUKUK_FAIL("ENGINE_CORRUPT", dir_ + ": tensor '" + name + "' is missing from the model");
  return *files_[it->second];
}

std::vector<std::string> ShardedSafeTensors::names() const {
  std::vector<std::string> v;
  for (const auto& kv : where_) v.push_back(kv.first);
  return v;
}

void write_safetensors(const std::string& path, std::vector<TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::sort(tensors.begin(), tensors.end(), [](const TensorToWrite& a, const TensorToWrite& b) { return a.name < b.name; });
  std::string h = "{";
  bool first = true;
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    bool f2 = true;
    for (const auto& kv : metadata) {
      h += (f2 ? "" : ",") + json::quote(kv.first) + ":" + json::quote(kv.second);
      f2 = false;
    }
    h += "}";
    first = false;
  }
  size_t off = 0;
  std::vector<size_t> sizes;
  for (const auto& t : tensors) {
    int64_t n = 1;
    for (auto d : t.shape) n *= d;
    size_t bytes = t.dtype == "F32" ? size_t(n) * 4 : t.raw_bytes;
    if (t.dtype != "F32" && dtype_size(t.dtype) * size_t(n) != bytes)
      HUKUK_FAIL("ENGINE_INVALID_ARG", "tensor '" + t.name + "': byte count does not match its shape");
    sizes.push_back(bytes);
    std::string shp = "[";
    for (size_t i = 0; i < t.shape.size(); ++i) shp += (i ? "," : "") + std::to_string(t.shape[i]);
    shp += "]";
    h += (first ? "" : ",") + json::quote(t.name) + ":{\"dtype\":\"" + t.dtype + "\",\"shape\":" + shp +
         ",\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + bytes) + "]}";
    first = false;
    off += bytes;
  }
  h += "}";
  while ((8 + h.size()) % 8 != 0) h += ' ';
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) HUKUK_FAIL("ENGINE_IO", "cannot write " + tmp + ": " + std::strerror(errno));
  uint64_t hl = h.size();
  bool ok = std::fwrite(&hl, 8, 1, f) == 1 && std::fwrite(h.data(), 1, h.size(), f) == h.size();
  for (size_t i = 0; ok && i < tensors.size(); ++i) {
    const void* p = tensors[i].dtype == "F32" ? static_cast<const void*>(tensors[i].data) : tensors[i].raw;
    if (sizes[i]) ok = std::fwrite(p, 1, sizes[i], f) == sizes[i];
  }
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    HUKUK_FAIL("ENGINE_IO", "writing " + path + " failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) HUKUK_FAIL("ENGINE_IO", "cannot rename " + tmp + " to " + path);
}

}  // namespace hukuk::io
