// What the driver shows, for C++ callers (the worker's device choice, VRAM estimates).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hukuk {

struct GpuInfo {
  int index = 0;
  std::string name;
  uint64_t memory_bytes = 0;
  std::string driver;  // "580.159.04" (NVML) or "CUDA 13.0" when NVML is missing
  int major = 0, minor = 0;
  int multiprocessors = 0;
};

bool cuda_compiled();
std::vector<GpuInfo> list_gpus();  // empty without CUDA build, driver or device; never throws

}  // namespace hukuk
