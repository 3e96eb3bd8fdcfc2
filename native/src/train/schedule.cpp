// transformers/optimization.py, line for line (the lambdas, in Python double arithmetic).
#include "train/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace hukuk::train {

ScheduleKind parse_schedule(const std::string& name) {
  if (name == "linear") return ScheduleKind::Linear;
  if (name == "constant") return ScheduleKind::Constant;
  if (name == "constant_with_warmup") return ScheduleKind::ConstantWithWarmup;
  if (name == "cosine") return ScheduleKind::Cosine;
  HUKUK_FAIL("ENGINE_INVALID_ARG",
             "unknown learning-rate schedule '" + name + "' (linear, constant, constant_with_warmup, cosine)");
}

double lr_multiplier(ScheduleKind kind, int64_t step, int64_t warmup, int64_t total) {
  HUKUK_CHECK(step >= 0 && warmup >= 0, "ENGINE_INVALID_ARG", "schedule step and warm-up must be >= 0");
  const double s = static_cast<double>(step);
  const double warm = static_cast<double>(std::max<int64_t>(1, warmup));
  switch (kind) {
    case ScheduleKind::Constant:
      return 1.0;
    case ScheduleKind::ConstantWithWarmup:
      return step < warmup ? s / warm : 1.0;
    case ScheduleKind::Linear:
      if (step < warmup) return s / warm;
      return std::max(0.0, static_cast<double>(total - step) / static_cast<double>(std::max<int64_t>(1, total - warmup)));
    case ScheduleKind::Cosine: {
      if (step < warmup) return s / warm;
      const double progress =
          static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
      const double num_cycles = 0.5;
      return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * num_cycles * 2.0 * progress)));
    }
  }
  HUKUK_FAIL("ENGINE_INTERNAL", "unhandled schedule kind");
}

}  // namespace hukuk::train
