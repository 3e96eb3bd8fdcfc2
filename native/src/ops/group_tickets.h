// Ticket banks of the LoRA group backward kernels (ops/lora.cu lora_backward_group_kernel,
// ops/lora_tc's group_backward kernels). Their last block of a column finds itself by an
// atomicInc ticket that wraps back to 0, in a __device__ array: two launches running at once on
// two streams must not share one, or their counts interleave and a column's partial sums are
// reduced early or never (silently wrong gA). The T5 engine runs the decoder's cross k,v backward
// on a second stream beside the main one (t5_cuda.cpp cross_side), so each stream takes its own
// bank: the calling thread's current bank is baked into each launch's parameters (and so into a
// captured graph). Bank 0 is the default; GroupTicketBankScope selects another for a scope.
#pragma once

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

}  // namespace hukuk::ops::cuda
