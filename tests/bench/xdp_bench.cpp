// XDP cost per packet through BPF_PROG_TEST_RUN, over an XDP_PASS baseline measured in the same
// run (DESIGN.md's performance targets). Prints a Markdown table; never asserts on time.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernel_clock.h"
#include "net_util.h"
#include "portcullis/control.h"
#include "portcullis/update.h"
#include "support/packet_cases.h"
#include "xdp_ingress.skel.h"
#include "xdp_pass.skel.h"

namespace {

using portcullis::testing::synFrame;

struct Ingress {
  void operator()(xdp_ingress* s) const { xdp_ingress__destroy(s); }
};
struct Pass {
  void operator()(xdp_pass* s) const { xdp_pass__destroy(s); }
};

// Average ns per run of `repeat` runs of one frame, measured by the kernel.
double runNs(int progFd, const std::vector<uint8_t>& frame, int repeat) {
  std::vector<uint8_t> copy = frame;
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = copy.data(),
              .data_size_in = uint32_t(copy.size()), .repeat = repeat);
  if (bpf_prog_test_run_opts(progFd, &opts) != 0) {
    std::fprintf(stderr, "xdp_bench: BPF_PROG_TEST_RUN: %s\n", std::strerror(errno));
    std::exit(1);
  }
  return double(opts.duration);
}

// Median of several runs: the machines are noisy.
double medianNs(int progFd, const std::vector<uint8_t>& frame, int repeat, int rounds = 5) {
  std::vector<double> v;
  for (int i = 0; i < rounds; ++i) v.push_back(runNs(progFd, frame, repeat));
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string v4(uint32_t i) {
  return "198.19." + std::to_string((i >> 8) & 0xff) + "." + std::to_string(i & 0xff);
}

__attribute__((format(printf, 2, 0))) int warningsOnly(enum libbpf_print_level level,
                                                       const char* fmt, va_list args) {
  return level == LIBBPF_WARN ? vfprintf(stderr, fmt, args) : 0;
}

}  // namespace

int main(int argc, char** argv) {
  int repeat = argc > 1 ? std::atoi(argv[1]) : 1'000'000;
  libbpf_set_print(warningsOnly);
  portcullis::KernelClock clock;
  std::string error;
  if (portcullis::probeKernelClock(clock, error) != 0) {
    std::fprintf(stderr, "xdp_bench: %s\n", error.c_str());
    return 1;
  }
  std::unique_ptr<xdp_pass, Pass> pass(xdp_pass__open_and_load());
  std::unique_ptr<xdp_ingress, Ingress> det(xdp_ingress__open());
  if (!pass || !det) {
    std::fprintf(stderr, "xdp_bench: cannot open the BPF programs\n");
    return 1;
  }
  bpf_map* map;
  bpf_object__for_each_map(map, det->obj) bpf_map__set_pin_path(map, nullptr);
  auto& t = const_cast<pc_tuning&>(det->rodata->pc_tuning);
  pc_tuning_defaults(&t, clock.hz);
  if (xdp_ingress__load(det.get()) != 0) {
    std::fprintf(stderr, "xdp_bench: cannot load the XDP program\n");
    return 1;
  }
  int passFd = bpf_program__fd(pass->progs.xdp_pass);
  int detFd = bpf_program__fd(det->progs.portcullis);
  uint32_t zero = 0;
  pc_control ctl{};
  ctl.gen = 1;
  bpf_map_update_elem(bpf_map__fd(det->maps.pc_control), &zero, &ctl, BPF_ANY);

  auto syn = synFrame("198.18.0.2", "198.18.0.1", 22);
  double base = medianNs(passFd, syn, repeat);

  // SYN from a tracked source: the slot exists, the window and flow filter are warm.
  runNs(detFd, syn, 1);
  double tracked = medianNs(detFd, syn, repeat);

  // Established-flow ACK: the source opened the connection, so its ACKs are filtered.
  auto open = synFrame("198.18.0.3", "198.18.0.1", 80, 41000, PC_TCP_SYN);
  auto ack = synFrame("198.18.0.3", "198.18.0.1", 80, 41000, PC_TCP_ACK);
  runNs(detFd, open, 1);
  double established = medianNs(detFd, ack, repeat);

  // Blocklisted source: found in its cached slot, then the blocklist entry's drop counter.
  auto blockedFrame = synFrame("198.18.0.4", "198.18.0.1", 22);
  runNs(detFd, blockedFrame, 1);
  auto addr = portcullis::parseAddr("198.18.0.4");
  pc_block b{};
  bpf_map_update_elem(bpf_map__fd(det->maps.pc_blocklist), &*addr, &b, BPF_ANY);
  ctl.gen++;
  ctl.nr_blocks = 1;
  bpf_map_update_elem(bpf_map__fd(det->maps.pc_control), &zero, &ctl, BPF_ANY);
  double blocked = medianNs(detFd, blockedFrame, repeat);

  // SYN from a new source: every run a source never seen, more of them than the table has
  // slots, so this is the spoofed-flood path (slot init, one-packet evictions). One run per
  // call, so the baseline is measured the same way.
  const uint32_t sources = 200'000;
  double newSum = 0, baseSingle = 0;
  for (uint32_t i = 0; i < sources; ++i) {
    auto f = synFrame(v4(i), "198.18.0.1", 22);
    newSum += runNs(detFd, f, 1);
    baseSingle += runNs(passFd, f, 1);
  }
  double fresh = newSum / sources;
  baseSingle /= sources;

  std::printf("| XDP case (BPF_PROG_TEST_RUN, repeat %d) | ns/packet | over XDP_PASS |\n", repeat);
  std::printf("|---|---:|---:|\n");
  std::printf("| XDP_PASS baseline | %.1f | 0.0 |\n", base);
  std::printf("| SYN from a tracked source | %.1f | %+.1f |\n", tracked, tracked - base);
  std::printf("| established-flow ACK | %.1f | %+.1f |\n", established, established - base);
  std::printf("| blocklisted source (XDP_DROP) | %.1f | %+.1f |\n", blocked, blocked - base);
  std::printf("| SYN from a new source (1 run/call, %u sources) | %.1f | %+.1f |\n", sources, fresh,
              fresh - baseSingle);
  return 0;
}
