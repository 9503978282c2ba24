#include "datapath/kernel_clock.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <memory>
#include <thread>

#include "clock_probe.skel.h"

namespace portcullis {

uint64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

int64_t unixMicrosNow() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

uint64_t KernelClock::jiffiesAt(uint64_t monoNs) const {
  if (monoNs >= refMonoNs) return refJiffies + (monoNs - refMonoNs) * hz / 1'000'000'000ull;
  return refJiffies - (refMonoNs - monoNs) * hz / 1'000'000'000ull;
}

uint64_t KernelClock::jiffiesNow() const { return jiffiesAt(monotonicNs()); }

namespace {

struct ProbeDeleter {
  void operator()(clock_probe* skel) const { clock_probe__destroy(skel); }
};

int sample(clock_probe* skel, uint64_t& jiffies, uint64_t& ns) {
  std::array<unsigned char, 64> frame{};
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = frame.size(),
              .repeat = 1);
  int err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.clock_probe), &opts);
  if (err) return -errno;
  jiffies = skel->bss->clock_jiffies;
  ns = skel->bss->clock_ns;
  return 0;
}

}  // namespace

int probeKernelClock(KernelClock& clock, std::string& error) {
  // One probe per process: every datapath then shares one clock, and startup pays the
  // 120 ms sample gap once.
  static KernelClock cached;
  if (cached.hz) {
    clock = cached;
    return 0;
  }
  std::unique_ptr<clock_probe, ProbeDeleter> skel(clock_probe__open_and_load());
  if (!skel) {
    int err = -errno;
    error = std::string("cannot load the clock probe BPF program: ") + std::strerror(-err);
    return err ? err : -EINVAL;
  }
  uint64_t j0 = 0, n0 = 0, j1 = 0, n1 = 0;
  int err = sample(skel.get(), j0, n0);
  if (!err) {
    std::this_thread::sleep_for(std::chrono::milliseconds(120));
    err = sample(skel.get(), j1, n1);
  }
  if (err) {
    error = std::string("cannot run the clock probe (BPF_PROG_TEST_RUN): ") + std::strerror(-err);
    return err;
  }
  double measured = double(j1 - j0) * 1e9 / double(n1 - n0);
  // CONFIG_HZ is one of a few values; snap to the nearest so windows are exact.
  uint64_t best = 250;
  for (uint64_t hz : {100, 250, 300, 1000}) {
    if (std::fabs(measured - double(hz)) < std::fabs(measured - double(best))) best = hz;
  }
  clock.hz = best;
  clock.refJiffies = j1;
  clock.refMonoNs = n1;
  cached = clock;
  return 0;
}

}  // namespace portcullis
