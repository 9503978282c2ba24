// Writes a busy-server capture with scanners inside it, for replay benchmarks and by hand:
//
//   busy_gen --scenario NAME --out FILE.pcap [--seed N] [--clients N] [--spoofed N]
//            [--flood-port P] [--no-scanners] [--inbound-only]
//
// NAME is one of clients, spoofed-then-scan, synflood, tunnels, ipv6-rotation, wrk, mixed
// (tests/support/busy_traffic.h says what each holds). Sizes default to those
// busy_replay_tests uses; --clients and --spoofed override them. --flood-port 0 sends the
// spoofed SYNs to random ports. --inbound-only keeps the frames addressed to the server only.
//
// The ground truth goes to stderr, one "key=value" line each, so a script can pick it apart:
//   frames=N seconds=S
//   scanner src=ADDR scan=KIND          (one line per scanner; ADDR may be an IPv6 /64)
//   innocent role=ROLE count=N          (sources no alert may name, per role)
// Exit status 0, 2 on a usage error, 1 when the file cannot be written.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "support/busy_traffic.h"

namespace {

using namespace portcullis::testing;

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "busy_gen: %s\n", why.c_str());
  std::fprintf(stderr,
               "usage: busy_gen --scenario NAME --out FILE.pcap [--seed N] [--clients N]\n"
               "                [--spoofed N] [--flood-port P] [--no-scanners] [--inbound-only]\n"
               "scenarios:");
  for (const char* s : kBusyScenarios) std::fprintf(stderr, " %s", s);
  std::fprintf(stderr, "\n");
  std::exit(2);
}

unsigned long long number(const char* flag, const char* text, unsigned long long max) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v > max) {
    usage(std::string("bad value for ") + flag + ": '" + text + "'");
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string scenario, out;
  unsigned long long seed = 1;
  long long clients = -1, spoofed = -1, floodPort = -1;
  bool inbound = false, scanners = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--scenario") {
      scenario = value();
    } else if (a == "--out") {
      out = value();
    } else if (a == "--seed") {
      seed = number("--seed", value(), ~0ull);
    } else if (a == "--clients") {
      clients = (long long)number("--clients", value(), 5'000'000);
    } else if (a == "--spoofed") {
      spoofed = (long long)number("--spoofed", value(), 5'000'000);
    } else if (a == "--flood-port") {
      floodPort = (long long)number("--flood-port", value(), 65535);
    } else if (a == "--inbound-only") {
      inbound = true;
    } else if (a == "--no-scanners") {
      scanners = false;
    } else if (a == "-h" || a == "--help") {
      usage("writes a busy-server capture");
    } else {
      usage("unknown argument '" + a + "'");
    }
  }
  bool known = false;
  for (const char* s : kBusyScenarios) known = known || scenario == s;
  if (!known)
    usage(scenario.empty() ? "--scenario is required" : "unknown scenario '" + scenario + "'");
  if (out.empty()) usage("--out is required");

  BusySpec spec = scenarioSpec(scenario, seed);
  if (clients >= 0) spec.clients = int(clients);
  if (spoofed >= 0) spec.spoofed = int(spoofed);
  if (floodPort >= 0) spec.floodPort = uint16_t(floodPort);
  spec.withScanners = scanners;
  BusyScenario sc = busyScenario(scenario, spec);
  if (inbound) sc.frames = inboundOnly(sc.frames, {spec.server, spec.server6});
  if (!writePcap(out, sc.frames)) {
    std::fprintf(stderr, "busy_gen: cannot write %s\n", out.c_str());
    return 1;
  }

  double span = sc.frames.empty()
                    ? 0.0
                    : double(sc.frames.back().tsMicros - sc.frames.front().tsMicros) / 1e6;
  std::fprintf(stderr, "frames=%zu seconds=%.1f\n", sc.frames.size(), span);
  for (const ScannerTruth& s : sc.scanners) {
    std::fprintf(stderr, "scanner src=%s scan=%s\n", s.src.c_str(), s.scan.c_str());
  }
  std::map<std::string, size_t> roles;
  for (const auto& [addr, role] : sc.innocent) roles[role]++;
  for (const auto& [role, n] : roles) {
    std::fprintf(stderr, "innocent role=%s count=%zu\n", role.c_str(), n);
  }
  return 0;
}
