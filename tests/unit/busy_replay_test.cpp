// `portcullis replay` on busy-server captures (tests/support/busy_traffic.h): tens of thousands
// of clients, spoofed floods, tunnels, a rotating IPv6 scanner, a load generator, with real
// scanners inside. Every scenario asserts both directions in one capture: the scanners are
// reported, and nobody innocent is named. A "nothing raised" assertion always has a scanner
// in the same capture that must be reported, so it cannot pass on a replay that saw nothing.
//
// Each test prints one "[ busy ]" line with the capture's size and the time spent generating,
// writing and replaying it. PORTCULLIS_BIN in the environment replaces the detector under test;
// BUSY_KEEP_CAPTURES=1 keeps the captures (their directory is printed).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include "packet/addresses.h"
#include "support/busy_traffic.h"

namespace portcullis {
namespace {

using nlohmann::json;
using testing::BusyScenario;
using testing::BusySpec;
using testing::ScannerTruth;
using testing::TimedFrame;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Replayed {
  int status = -1;
  std::vector<json> events;
  std::string stderrText;

  std::vector<json> withEvent(const std::string& event) const {
    std::vector<json> out;
    for (const auto& e : events) {
      if (e.is_object() && e.value("event", "") == event) out.push_back(e);
    }
    return out;
  }
  std::vector<json> alerts() const { return withEvent("alert"); }
};

/// Every source an event names: its "src" and its "sources".
std::vector<std::string> named(const json& e) {
  std::vector<std::string> out;
  if (e.contains("src") && e["src"].is_string()) out.push_back(e["src"]);
  if (e.contains("sources") && e["sources"].is_array()) {
    for (const auto& s : e["sources"]) {
      if (s.is_string() && s != e.value("src", "")) out.push_back(s);
    }
  }
  return out;
}

bool names(const json& e, const std::string& addr) {
  for (const auto& s : named(e)) {
    if (s == addr) return true;
  }
  return false;
}

/// "rule 'rate' x3, 'slow' x1" for failure messages.
std::string byRule(const std::vector<json>& events) {
  std::map<std::string, int> n;
  for (const auto& e : events) n[e.value("rule", "?")]++;
  std::string s;
  for (const auto& [rule, count] : n) {
    s += (s.empty() ? "" : ", ") + ("'" + rule + "' x" + std::to_string(count));
  }
  return s.empty() ? "none" : s;
}

std::string firstFew(const std::vector<json>& events, size_t n = 3) {
  std::string s;
  for (size_t i = 0; i < events.size() && i < n; ++i) s += "\n  " + events[i].dump();
  if (events.size() > n) s += "\n  … and " + std::to_string(events.size() - n) + " more";
  return s;
}

class BusyReplay : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : name) {
      if (c == '/') c = '-';
    }
    dir_ = fs::temp_directory_path() / ("pc-busy-" + std::to_string(getpid()) + "-" + name);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    const char* keep = std::getenv("BUSY_KEEP_CAPTURES");
    if (keep && std::string(keep) == "1") {
      std::printf("[ busy ] captures kept in %s\n", dir_.c_str());
      return;
    }
    fs::remove_all(dir_);
  }

  /// Makes the frames, writes them to `name` and replays them with default options, timing
  /// each step (the "[ busy ]" line).
  Replayed replay(const std::string& name, const std::function<std::vector<TimedFrame>()>& make) {
    auto t = Clock::now();
    std::vector<TimedFrame> frames = make();
    double generate = since(t);
    std::string path = (dir_ / name).string();
    t = Clock::now();
    EXPECT_TRUE(testing::writePcap(path, frames)) << path;
    double write = since(t);
    t = Clock::now();
    Replayed r = run(path);
    double replaySeconds = since(t);
    std::printf(
        "[ busy ] %s: %zu frames (%.0f MB); generate %.2f s, write %.2f s, replay %.2f s; "
        "%zu events, %zu alerts (%s)\n",
        name.c_str(), frames.size(), double(fs::file_size(path)) / 1e6, generate, write,
        replaySeconds, r.events.size(), r.alerts().size(), byRule(r.alerts()).c_str());
    std::fflush(stdout);
    return r;
  }

  Replayed run(const std::string& capture) {
    const char* bin = std::getenv("PORTCULLIS_BIN");
    std::string err = (dir_ / "stderr").string();
    std::string cmd =
        std::string(bin && *bin ? bin : PORTCULLIS_BIN) + " replay --json " + capture + " 2>" + err;
    Replayed r;
    FILE* p = popen(cmd.c_str(), "r");
    char* line = nullptr;
    size_t cap = 0;
    // Lines have no length bound: a group alert lists its sources.
    while (p && getline(&line, &cap, p) > 0) {
      r.events.push_back(json::parse(line, nullptr, false));
    }
    std::free(line);
    int st = p ? pclose(p) : -1;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    std::ifstream in(err);
    r.stderrText.assign(std::istreambuf_iterator<char>(in), {});
    return r;
  }

  fs::path dir_;
};

/// The scanner is named by at least one alert, and at least one of those carries its scan.
void expectReported(const Replayed& r, const ScannerTruth& s) {
  std::vector<json> about;
  std::set<std::string> scans;
  for (const auto& a : r.alerts()) {
    if (names(a, s.src)) {
      about.push_back(a);
      scans.insert(a.value("scan", "?"));
    }
  }
  std::string seen;
  for (const auto& k : scans) seen += " " + k;
  EXPECT_FALSE(about.empty()) << "scanner " << s.src << " (" << s.scan << ") is in no alert; the "
                              << r.alerts().size() << " alerts: " << byRule(r.alerts())
                              << firstFew(r.alerts());
  EXPECT_TRUE(about.empty() || scans.count(s.scan))
      << "scanner " << s.src << " is in " << about.size() << " alerts, none with scan \"" << s.scan
      << "\"; their scans:" << seen << firstFew(about);
}

/// No alert names a source the scenario calls innocent. Flood alerts are about a destination
/// port, not a source, and are allowed where `allowFlood` (DESIGN.md: "a flood event per
/// destination port is welcome").
void expectNoInnocentNamed(const Replayed& r, const BusyScenario& sc, bool allowFlood = false) {
  std::map<std::string, std::set<std::string>> addrsByRole;
  std::vector<json> bad;
  for (const auto& a : r.alerts()) {
    if (allowFlood && a.value("rule", "") == "flood") continue;
    bool hit = false;
    for (const auto& s : named(a)) {
      auto it = sc.innocent.find(s);
      if (it != sc.innocent.end()) {
        addrsByRole[it->second].insert(s);
        hit = true;
      }
    }
    if (hit) bad.push_back(a);
  }
  std::string roles;
  for (const auto& [role, addrs] : addrsByRole) {
    roles += " " + role + " x" + std::to_string(addrs.size()) + " (e.g. " + *addrs.begin() + ")";
  }
  EXPECT_TRUE(bad.empty()) << bad.size() << " of " << r.alerts().size()
                           << " alerts name innocent sources:" << roles
                           << "; rules of those: " << byRule(bad) << firstFew(bad);
}

// The generator itself: a failure must reproduce from its seed, and the ground truth must be
// unambiguous (no address in two roles), or the replay tests below prove nothing.
BusySpec smallMixed(uint64_t seed) {
  BusySpec s = testing::scenarioSpec("mixed", seed);
  s.clients = 500;
  s.spoofed = 500;
  s.wrkConnections = 100;
  s.rotatingPorts = 50;
  s.durationMicros = 20'000'000;
  return s;
}

TEST(BusyTraffic, SameSeedSameCaptureOtherSeedAnother) {
  auto a = testing::busyScenario("mixed", smallMixed(3));
  auto b = testing::busyScenario("mixed", smallMixed(3));
  auto c = testing::busyScenario("mixed", smallMixed(4));
  ASSERT_EQ(a.frames.size(), b.frames.size());
  for (size_t i = 0; i < a.frames.size(); ++i) {
    ASSERT_EQ(a.frames[i].tsMicros, b.frames[i].tsMicros) << i;
    ASSERT_EQ(a.frames[i].bytes, b.frames[i].bytes) << i;
  }
  bool differs = a.frames.size() != c.frames.size();
  for (size_t i = 0; !differs && i < a.frames.size(); ++i) {
    differs = a.frames[i].bytes != c.frames[i].bytes;
  }
  EXPECT_TRUE(differs);
}

TEST(BusyTraffic, EveryAddressHasOneRole) {
  BusySpec spec = smallMixed(1);
  auto sc = testing::busyScenario("mixed", spec);
  size_t roles = 0;
  for (const auto& list : {testing::clientAddresses(spec), testing::spoofedAddresses(spec)}) {
    roles += list.size();
  }
  // Clients, forged sources, server (v4, v6), the wrk client and three tunnel peers.
  EXPECT_EQ(sc.innocent.size(), roles + 2 + 1 + 3) << "an address is in two roles";
  EXPECT_EQ(sc.scanners.size(), 8u);
  for (const auto& s : sc.scanners) EXPECT_EQ(sc.innocent.count(s.src), 0u) << s.src;
  EXPECT_TRUE(std::is_sorted(
      sc.frames.begin(), sc.frames.end(),
      [](const TimedFrame& x, const TimedFrame& y) { return x.tsMicros < y.tsMicros; }));
}

TEST(BusyTraffic, InboundOnlyKeepsWhatTheServerReceives) {
  BusySpec spec = testing::scenarioSpec("tunnels", 1);
  spec.durationMicros = 10'000'000;
  auto both = testing::tunnelPeers(spec);
  // Per second: GRE both ways, IP-in-IP in, ESP both ways.
  EXPECT_EQ(both.size(), 50u);
  EXPECT_EQ(testing::inboundOnly(both, {spec.server, spec.server6}).size(), 30u);
  EXPECT_EQ(testing::inboundOnly(testing::rotatingScan(spec, spec.startMicros),
                                 {spec.server, spec.server6})
                .size(),
            size_t(spec.rotatingPorts) + spec.openPorts.size());  // every SYN, the open ports' RSTs
}

std::string seedName(uint64_t seed) { return "seed" + std::to_string(seed); }

constexpr uint64_t kSeeds[] = {1, 7};

// (a) 60,000 HTTP clients over 90 s with SYN, FIN, connect and UDP scanners inside.
class BusyClients : public BusyReplay, public ::testing::WithParamInterface<uint64_t> {};

TEST_P(BusyClients, EveryScannerIsReportedAndNoClientIsNamed) {
  BusyScenario sc;
  Replayed r = replay("clients.pcap", [&] {
    sc = testing::busyScenario("clients", testing::scenarioSpec("clients", GetParam()));
    return sc.frames;
  });
  ASSERT_EQ(r.status, 0) << r.stderrText;
  ASSERT_EQ(sc.scanners.size(), 4u);
  for (const auto& s : sc.scanners) expectReported(r, s);
  expectNoInnocentNamed(r, sc);
}

INSTANTIATE_TEST_SUITE_P(Busy, BusyClients, ::testing::ValuesIn(kSeeds),
                         [](const auto& p) { return seedName(p.param); });

// (b) 40,000 spoofed sources, 2 SYNs each over 20 s, then a 500-port SYN scan from a real
// address: the scan must find a slot among the forged sources.
class BusySpoofedThenScan : public BusyReplay,
                            public ::testing::WithParamInterface<std::tuple<uint64_t, uint16_t>> {};

TEST_P(BusySpoofedThenScan, ScanIsReportedAndNoSpoofedSourceIsNamed) {
  auto [seed, port] = GetParam();
  BusyScenario sc;
  Replayed r = replay("spoofed.pcap", [&] {
    BusySpec spec = testing::scenarioSpec("spoofed-then-scan", seed);
    spec.floodPort = port;
    sc = testing::busyScenario("spoofed-then-scan", spec);
    return sc.frames;
  });
  ASSERT_EQ(r.status, 0) << r.stderrText;
  ASSERT_EQ(sc.scanners.size(), 1u);
  expectReported(r, sc.scanners[0]);
  expectNoInnocentNamed(r, sc, /*allowFlood=*/true);
}

INSTANTIATE_TEST_SUITE_P(Busy, BusySpoofedThenScan,
                         ::testing::Combine(::testing::ValuesIn(kSeeds),
                                            ::testing::Values(uint16_t(0), uint16_t(80))),
                         [](const auto& p) {
                           uint16_t port = std::get<1>(p.param);
                           return seedName(std::get<0>(p.param)) +
                                  (port ? "_port" + std::to_string(port)
                                        : std::string("_randomPorts"));
                         });

// (c) 20,000 spoofed sources, 2 SYNs each to port 80, 1 s or 2 s apart: a flood, not 20,000
// scans. The control is a 300-port SYN scan just before the flood.
class BusySynFlood : public BusyReplay,
                     public ::testing::WithParamInterface<std::tuple<uint64_t, uint64_t>> {};

TEST_P(BusySynFlood, NoSpoofedSourceIsAlerted) {
  auto [seed, gapSeconds] = GetParam();
  BusyScenario sc;
  Replayed r = replay("synflood.pcap", [&] {
    BusySpec spec = testing::scenarioSpec("synflood", seed);
    spec.spoofedGapMicros = gapSeconds * 1'000'000;
    sc = testing::busyScenario("synflood", spec);
    return sc.frames;
  });
  ASSERT_EQ(r.status, 0) << r.stderrText;
  ASSERT_EQ(sc.scanners.size(), 1u);
  expectReported(r, sc.scanners[0]);
  expectNoInnocentNamed(r, sc, /*allowFlood=*/true);
}

INSTANTIATE_TEST_SUITE_P(Busy, BusySynFlood,
                         ::testing::Combine(::testing::ValuesIn(kSeeds),
                                            ::testing::Values(uint64_t(1), uint64_t(2))),
                         [](const auto& p) {
                           return seedName(std::get<0>(p.param)) + "_gap" +
                                  std::to_string(std::get<1>(p.param)) + "s";
                         });

// (d) A GRE peer, an IP-in-IP load balancer and an ESP peer at one packet per second for five
// minutes, with a 300-port SYN scan half way.
class BusyTunnels : public BusyReplay, public ::testing::WithParamInterface<uint64_t> {};

TEST_P(BusyTunnels, TunnelPeersAreNeverScanners) {
  BusyScenario sc;
  Replayed r = replay("tunnels.pcap", [&] {
    sc = testing::busyScenario("tunnels", testing::scenarioSpec("tunnels", GetParam()));
    return sc.frames;
  });
  ASSERT_EQ(r.status, 0) << r.stderrText;
  ASSERT_EQ(sc.scanners.size(), 1u);
  expectReported(r, sc.scanners[0]);
  expectNoInnocentNamed(r, sc);
}

INSTANTIATE_TEST_SUITE_P(Busy, BusyTunnels, ::testing::ValuesIn(kSeeds),
                         [](const auto& p) { return seedName(p.param); });

// (e) A 1000-port IPv6 SYN scan whose every probe comes from a fresh address of one /64, among
// 5,000 IPv4 clients: one scanner, named by its /64.
class BusyIpv6Rotation : public BusyReplay, public ::testing::WithParamInterface<uint64_t> {};

TEST_P(BusyIpv6Rotation, TheSlash64IsOneScanner) {
  BusyScenario sc;
  BusySpec spec = testing::scenarioSpec("ipv6-rotation", GetParam());
  Replayed r = replay("ipv6.pcap", [&] {
    sc = testing::busyScenario("ipv6-rotation", spec);
    return sc.frames;
  });
  ASSERT_EQ(r.status, 0) << r.stderrText;
  ASSERT_EQ(sc.scanners.size(), 1u);
  const std::string prefix = spec.rotatingPrefix + "/64";
  ASSERT_EQ(sc.scanners[0].src, prefix);
  expectReported(r, sc.scanners[0]);
  expectNoInnocentNamed(r, sc);

  // Whatever an event calls a source inside the /64 (an address, the /64, a longer prefix).
  const auto net = net::Ipv6Address::parse(spec.rotatingPrefix).value();
  auto inside = [&](const std::string& text) {
    auto a = net::Ipv6Address::parse(text.substr(0, text.find('/')));
    return a && std::equal(net.bytes.begin(), net.bytes.begin() + 8, a->bytes.begin());
  };
  std::set<std::string> srcs;
  std::vector<json> other;
  for (const auto& a : r.alerts()) {
    bool about = false;
    for (const auto& s : named(a)) about = about || inside(s);
    if (!about) continue;
    srcs.insert(a.value("src", ""));
    if (a.value("src", "") != prefix) other.push_back(a);
  }
  std::string list;
  for (const auto& s : srcs) list += " " + s;
  EXPECT_TRUE(other.empty()) << other.size() << " alerts about the /64 have another src; "
                             << srcs.size() << " distinct:" << (srcs.size() > 5 ? " (first) " : "")
                             << list.substr(0, 400) << firstFew(other);
  EXPECT_EQ(srcs.size(), 1u) << "distinct srcs of alerts about the /64:" << list.substr(0, 400);
  std::vector<json> suspicious;
  for (const auto& e : r.withEvent("suspicious")) {
    for (const auto& s : named(e)) {
      if (inside(s) && s != prefix) {
        suspicious.push_back(e);
        break;
      }
    }
  }
  EXPECT_TRUE(suspicious.empty()) << suspicious.size()
                                  << " suspicious events name single addresses of the /64"
                                  << firstFew(suspicious);
}

INSTANTIATE_TEST_SUITE_P(Busy, BusyIpv6Rotation, ::testing::ValuesIn(kSeeds),
                         [](const auto& p) { return seedName(p.param); });

// (f) One wrk client opening ~3000 connections in 6 s (retransmitted SYNs, SYN-ACKs missing)
// and 200 ordinary fetches: nothing at all. The same capture with a 300-port SYN scan added
// is the control, and must name the scanner and still nobody else.
class BusyWrk : public BusyReplay, public ::testing::WithParamInterface<uint64_t> {};

TEST_P(BusyWrk, LoadGeneratorIsNotAScanner) {
  BusySpec spec = testing::scenarioSpec("wrk", GetParam());
  BusyScenario quiet, control;
  spec.withScanners = false;
  Replayed q = replay("wrk.pcap", [&] {
    quiet = testing::busyScenario("wrk", spec);
    return quiet.frames;
  });
  spec.withScanners = true;
  Replayed c = replay("wrk-and-scan.pcap", [&] {
    control = testing::busyScenario("wrk", spec);
    return control.frames;
  });
  ASSERT_EQ(q.status, 0) << q.stderrText;
  ASSERT_EQ(c.status, 0) << c.stderrText;
  EXPECT_TRUE(q.alerts().empty()) << q.alerts().size() << " alerts without a scanner ("
                                  << byRule(q.alerts()) << ")" << firstFew(q.alerts());
  ASSERT_EQ(control.scanners.size(), 1u);
  expectReported(c, control.scanners[0]);
  expectNoInnocentNamed(c, control);
}

INSTANTIATE_TEST_SUITE_P(Busy, BusyWrk, ::testing::ValuesIn(kSeeds),
                         [](const auto& p) { return seedName(p.param); });

// (g) Scenario (a) captured one way: only the frames to the server. The detector sees no
// answers, yet SYN, FIN and UDP scans are still scans, and clients still clients. Whether the
// connect scanner is reported is printed, not asserted: without the server's answers its
// probes are SYNs a client could send.
class BusyInboundOnly : public BusyReplay, public ::testing::WithParamInterface<uint64_t> {};

TEST_P(BusyInboundOnly, ScansAreReportedWithoutTheServersAnswers) {
  BusyScenario sc;
  BusySpec spec = testing::scenarioSpec("clients", GetParam());
  Replayed r = replay("inbound.pcap", [&] {
    sc = testing::busyScenario("clients", spec);
    return testing::inboundOnly(sc.frames, {spec.server, spec.server6});
  });
  ASSERT_EQ(r.status, 0) << r.stderrText;
  ASSERT_EQ(sc.scanners.size(), 4u);
  for (const auto& s : sc.scanners) {
    if (s.scan != "connect") {
      expectReported(r, s);
      continue;
    }
    std::set<std::string> scans;
    for (const auto& a : r.alerts()) {
      if (names(a, s.src)) scans.insert(a.value("scan", "?"));
    }
    std::string seen;
    for (const auto& k : scans) seen += " " + k;
    std::printf("[ busy ] connect scanner %s one way: %s\n", s.src.c_str(),
                scans.empty() ? "not reported" : ("reported, scans" + seen).c_str());
  }
  expectNoInnocentNamed(r, sc);
}

INSTANTIATE_TEST_SUITE_P(Busy, BusyInboundOnly, ::testing::ValuesIn(kSeeds),
                         [](const auto& p) { return seedName(p.param); });

}  // namespace
}  // namespace portcullis
