// Ticket banks of the LoRA group backward kernels (ops/lora.cu lora_backward_group_kernel,
// ops/lora_tc's group_backward kernels). Their last block of a column finds itself by an
// atomicInc ticket that wraps back to 0, in a __device__ array: two launches running at once on
// two streams must not share one, or their counts interleave and a column's partial sums are
// reduced early or never (silently wrong gA). The T5 engine runs the decoder's cross k,v backward
// on a second stream beside the main one (t5_cuda.cpp cross_side), so each stream takes its own
// bank: the calling thread's current bank is baked into each launch's parameters (and so into a
// captured graph). Bank 0 is the default; GroupTicketBankScope selects another for a scope.
// GroupTicketArray finds a bank in a kernel file's ticket array (host side, CUDA builds only: the
// host emulation of tools/lora_tc_emulation includes this header without the runtime).
#pragma once

#if defined(HUKUK_CUDA)
#include <cstddef>
#include <string>

#include "core/cuda_runtime.h"
#endif

namespace hukuk::ops::cuda {

constexpr int kGroupTicketBanks = 2;  // 0: the main stream, 1: the engine's side stream
inline int& group_ticket_bank() {
  thread_local int bank = 0;
  return bank;
}
struct GroupTicketBankScope {
  int prev;
  explicit GroupTicketBankScope(int bank) : prev(group_ticket_bank()) { group_ticket_bank() = bank; }
  ~GroupTicketBankScope() { group_ticket_bank() = prev; }
  GroupTicketBankScope(const GroupTicketBankScope&) = delete;
  GroupTicketBankScope& operator=(const GroupTicketBankScope&) = delete;
};

#if defined(HUKUK_CUDA)
// A kernel file's ticket array: `symbol` is its __device__ unsigned int[kGroupTicketBanks * slots]
// (the host-side address, &g_..._tickets), `who` the op its errors name. One object per array, at
// namespace scope in that file: it holds the array's device address per device, looked up once.
struct GroupTicketArray {
  static constexpr int kMaxDevices = 64;
  const void* symbol;
  int slots;  // tickets per bank
  const char* who;
  unsigned int* base[kMaxDevices] = {};

  // The tickets of `bank` on the current device.
  unsigned int* bank(int b) {
    HUKUK_CHECK(b >= 0 && b < kGroupTicketBanks, "ENGINE_INTERNAL", std::string(who) + ": ticket bank out of range");
    int dev = 0;
    HUKUK_CUDA_CHECK(cudaGetDevice(&dev));
    HUKUK_CHECK(dev >= 0 && dev < kMaxDevices, "ENGINE_INTERNAL", std::string(who) + ": device index out of range");
    if (!base[dev]) HUKUK_CUDA_CHECK(cudaGetSymbolAddress(reinterpret_cast<void**>(&base[dev]), symbol));
    return base[dev] + size_t(b) * size_t(slots);
  }
};
#endif

}  // namespace hukuk::ops::cuda
