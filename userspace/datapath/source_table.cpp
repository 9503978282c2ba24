#include "datapath/source_table.h"

#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>

namespace portcullis {

bool copySlot(const pc_src_state& live, pc_src_state& out) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    uint32_t before = std::atomic_ref<const uint32_t>(live.seq).load(std::memory_order_acquire);
    if (before & 1) continue;
    std::memcpy(&out, &live, sizeof(out));
    std::atomic_thread_fence(std::memory_order_acquire);
    uint32_t after = std::atomic_ref<const uint32_t>(live.seq).load(std::memory_order_relaxed);
    if (before == after) return true;
  }
  return false;
}

double sketchEstimate(const pc_sketch& sketch) {
  constexpr double m = PC_HLL_REGS;
  const double alpha = 0.7213 / (1 + 1.079 / m);
  double sum = 0;
  int zeros = 0;
  for (uint8_t r : sketch.reg) {
    sum += std::ldexp(1.0, -int(r));
    zeros += r == 0;
  }
  double estimate = alpha * m * m / sum;
  if (estimate <= 2.5 * m && zeros > 0) estimate = m * std::log(m / double(zeros));
  return estimate;
}

AdmissionFill admissionFill(std::span<const pc_admit> entries) {
  AdmissionFill fill;
  fill.capacity = entries.size();
  for (const pc_admit& a : entries) {
    if (!(a.flags & PC_ADMIT_USED)) continue;
    ++fill.used;
    fill.withEvidence += std::popcount(a.targets) >= 2;
  }
  return fill;
}

}  // namespace portcullis
