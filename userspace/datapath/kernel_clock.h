#pragma once

#include <cstdint>
#include <string>

namespace portcullis {

/// The kernel's jiffies clock as seen from userspace: the XDP program stamps evidence and block
/// expiries in jiffies (free in BPF), so the controller converts its seconds with this.
struct KernelClock {
  uint64_t hz = 0;
  uint64_t refJiffies = 0;
  uint64_t refMonoNs = 0;  ///< CLOCK_MONOTONIC at refJiffies

  uint64_t jiffiesNow() const;
  uint64_t jiffiesAt(uint64_t monoNs) const;
  uint64_t fromMillis(uint64_t ms) const { return ms * hz / 1000; }
};

/// Measures HZ and the jiffies offset by running a probe program twice through
/// BPF_PROG_TEST_RUN. Negative errno on failure, with a message in `error`.
int probeKernelClock(KernelClock& clock, std::string& error);

uint64_t monotonicNs();

/// Wall-clock time (CLOCK_REALTIME) in microseconds since the Unix epoch.
int64_t unixMicrosNow();

}  // namespace portcullis
