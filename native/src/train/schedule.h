// Learning-rate schedules as transformers defines them (optimization.py), as the multiplier
// LambdaLR applies to the base rate. `step` is the number of optimizer updates already done
// (0 for the first update), exactly as transformers' Trainer sees it: with warm-up the first
// update runs at lr 0.
#pragma once
#include <cstdint>
#include <string>

namespace hukuk::train {

enum class ScheduleKind { Linear, Constant, ConstantWithWarmup, Cosine };

// "linear" | "constant" | "constant_with_warmup" | "cosine"; throws ENGINE_INVALID_ARG otherwise.
ScheduleKind parse_schedule(const std::string& name);

// get_linear_schedule_with_warmup, get_constant_schedule, get_constant_schedule_with_warmup,
// get_cosine_schedule_with_warmup (num_cycles 0.5).
double lr_multiplier(ScheduleKind kind, int64_t step, int64_t warmup_steps, int64_t total_steps);

}  // namespace hukuk::train
