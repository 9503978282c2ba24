// Idle scan logic without root: IP ID classification and distances, the zombie spec, the
// divide-and-conquer port search against simulated zombies (exact and faulty), and pacing.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "cli.h"
#include "idle_scan.h"

namespace portcullis::scan {
namespace {

uint16_t swap16(uint16_t v) { return static_cast<uint16_t>(v << 8 | v >> 8); }

// ---- IP ID sequences ----

TEST(IdleIpId, ClassificationTable) {
  struct Case {
    const char* name;
    std::vector<uint16_t> ids;
    IpIdClass want;
  };
  std::vector<uint16_t> brokenLe;
  for (uint16_t c = 0x10; c < 0x16; ++c) brokenLe.push_back(swap16(c));  // 0x1000, 0x1100, ...
  const std::vector<Case> cases = {
      {"incremental", {100, 101, 102, 103, 104, 105}, IpIdClass::kIncremental},
      {"incremental, gaps from other traffic",
       {100, 102, 103, 109, 110, 112},
       IpIdClass::kIncremental},
      {"wrapped at 65535", {65533, 65534, 65535, 0, 1, 2}, IpIdClass::kIncremental},
      {"wrapped with a gap", {65530, 65534, 3, 4, 5, 6}, IpIdClass::kIncremental},
      {"broken little-endian", brokenLe, IpIdClass::kBrokenIncremental},
      // 0xfeff 0xffff 0x0000 0x0100: the low byte's carry breaks nmap's multiple-of-256 rule.
      {"broken little-endian, carry and wrap",
       {swap16(0xfffe), swap16(0xffff), swap16(0), swap16(1)},
       IpIdClass::kBrokenIncremental},
      {"broken little-endian, carry",
       {swap16(0xfe), swap16(0xff), swap16(0x100), swap16(0x101)},
       IpIdClass::kBrokenIncremental},
      {"incremental by 2", {10, 12, 14, 16, 18, 20}, IpIdClass::kIncrementalBy2},
      {"all zeros", {0, 0, 0, 0, 0, 0}, IpIdClass::kZero},
      {"constant", {4242, 4242, 4242, 4242}, IpIdClass::kConstant},
      {"random", {1234, 40000, 7, 51234, 999, 30000}, IpIdClass::kRandomized},
      {"random positive increments", {0, 1500, 3001, 4600, 6111, 7800}, IpIdClass::kRandomPositive},
      {"steps too big for a counter", {0, 20, 40, 61, 80, 100}, IpIdClass::kUnknown},
      {"one sample", {5}, IpIdClass::kUnknown},
      {"none", {}, IpIdClass::kUnknown},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(classifyIpIds(c.ids), c.want)
        << c.name << ": got " << ipIdClassName(classifyIpIds(c.ids));
  }
}

TEST(IdleIpId, ClassNamesAreNmaps) {
  EXPECT_EQ(ipIdClassName(IpIdClass::kIncremental), "Incremental");
  EXPECT_EQ(ipIdClassName(IpIdClass::kBrokenIncremental), "Broken little-endian incremental");
  EXPECT_EQ(ipIdClassName(IpIdClass::kZero), "All zeros");
  EXPECT_EQ(ipIdClassName(IpIdClass::kRandomized), "Randomized");
}

TEST(IdleIpId, UsableClasses) {
  EXPECT_TRUE(ipIdClassUsable(IpIdClass::kIncremental));
  EXPECT_TRUE(ipIdClassUsable(IpIdClass::kIncrementalBy2));
  EXPECT_TRUE(ipIdClassUsable(IpIdClass::kBrokenIncremental));
  for (auto c : {IpIdClass::kUnknown, IpIdClass::kRandomPositive, IpIdClass::kRandomized,
                 IpIdClass::kConstant, IpIdClass::kZero}) {
    EXPECT_FALSE(ipIdClassUsable(c)) << ipIdClassName(c);
  }
}

TEST(IdleIpId, Distances) {
  EXPECT_EQ(ipIdDistance(IpIdClass::kIncremental, 100, 107), 7);
  EXPECT_EQ(ipIdDistance(IpIdClass::kIncremental, 65534, 3), 5);  // across the wrap
  EXPECT_EQ(ipIdDistance(IpIdClass::kIncremental, 9, 9), 0);
  EXPECT_EQ(ipIdDistance(IpIdClass::kIncrementalBy2, 10, 20), 5);
  EXPECT_EQ(ipIdDistance(IpIdClass::kBrokenIncremental, swap16(0x10), swap16(0x13)), 3);
  EXPECT_EQ(ipIdDistance(IpIdClass::kBrokenIncremental, swap16(0xffff), swap16(0x0001)), 2);
  EXPECT_EQ(ipIdDistance(IpIdClass::kZero, 0, 0), -1);
  EXPECT_EQ(ipIdDistance(IpIdClass::kRandomized, 1, 2), -1);
}

// ---- zombie specification ----

TEST(IdleZombieSpec, Parse) {
  ZombieSpec z;
  std::string err;
  ASSERT_TRUE(parseZombieSpec("198.18.0.3", z, err)) << err;
  EXPECT_EQ(z.host, "198.18.0.3");
  EXPECT_EQ(z.probePort, 80);
  ASSERT_TRUE(parseZombieSpec("printer.lab:443", z, err)) << err;
  EXPECT_EQ(z.host, "printer.lab");
  EXPECT_EQ(z.probePort, 443);
  for (const char* bad : {"", ":80", "198.18.0.3:", "198.18.0.3:0", "198.18.0.3:65536",
                          "198.18.0.3:8o", "198.18.0.3:123456", "fd00::3", "[fd00::3]:80"}) {
    err.clear();
    EXPECT_FALSE(parseZombieSpec(bad, z, err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
    EXPECT_EQ(err.find('\n'), std::string::npos) << bad;
  }
}

TEST(IdleZombieSpec, CommandLineSelectsIdleScan) {
  std::vector<std::string> args = {"portcullis-scan", "-sI", "198.18.0.3:443", "-Pn", "198.18.0.2"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  Options o;
  std::string err;
  ASSERT_EQ(parseCommandLine(static_cast<int>(argv.size()), argv.data(), o, err), ParseResult::kOk)
      << err;
  EXPECT_EQ(o.tcpScan, ScanType::kIdle);
  EXPECT_EQ(o.zombie, "198.18.0.3:443");
  EXPECT_EQ(scanTypeName(ScanType::kIdle), "idle");
  EXPECT_EQ(reasonName(Reason::kIpIdChange), "ipid-change");
  EXPECT_EQ(reasonName(Reason::kNoIpIdChange), "no-ipid-change");
}

// ---- port search against simulated zombies ----

// A zombie and target as the counter sees them: the true number of open ports in a group, plus
// scripted errors. `faults` adds a delta to the first count of an exact port group (a lost
// SYN: -1; the zombie talking to someone else: +1).
struct SimZombie {
  std::set<uint16_t> open;
  std::map<std::vector<uint16_t>, int> faults;
  std::vector<std::vector<uint16_t>> asked;
  int failAfter = -1;  // counts before the zombie stops answering

  int operator()(std::span<const uint16_t> ports) {
    std::vector<uint16_t> key(ports.begin(), ports.end());
    asked.push_back(key);
    if (failAfter >= 0 && static_cast<int>(asked.size()) > failAfter) return -1;
    int n = 0;
    for (uint16_t p : ports) n += open.count(p) ? 1 : 0;
    if (auto it = faults.find(key); it != faults.end()) {
      n += it->second;
      faults.erase(it);
    }
    return std::clamp(n, 0, static_cast<int>(ports.size()));
  }
};

std::vector<uint16_t> range(uint16_t first, uint16_t last) {
  std::vector<uint16_t> v(last - first + 1);
  std::iota(v.begin(), v.end(), first);
  return v;
}

std::vector<uint16_t> runSearch(SimZombie& z, const std::vector<uint16_t>& ports,
                                IdlePacing& pacing, bool* ok = nullptr) {
  IdlePortSearch search(pacing, [&z](std::span<const uint16_t> p) { return z(p); });
  std::vector<uint16_t> found;
  const bool r = search.run(ports, found);
  if (ok) *ok = r;
  EXPECT_EQ(search.countsUsed(), z.asked.size());
  return found;
}

TEST(IdleSearch, ExactZombieFindsExactlyTheOpenPorts) {
  const std::vector<std::set<uint16_t>> opens = {
      {}, {1}, {200}, {22, 80, 3306}, {1, 2, 3, 4, 5}, {7, 8, 9, 10, 11, 12, 13, 14}};
  for (const auto& open : opens) {
    for (uint16_t n :
         {uint16_t{1}, uint16_t{2}, uint16_t{7}, uint16_t{100}, uint16_t{250}, uint16_t{3306}}) {
      SimZombie z;
      const auto ports = range(1, n);
      std::vector<uint16_t> want;
      for (uint16_t p : open) {
        if (p <= n) want.push_back(p);
        z.open.insert(p);
      }
      IdlePacing pacing = IdlePacing::fromParallelism(0, 0);
      bool ok = false;
      EXPECT_EQ(runSearch(z, ports, pacing, &ok), want) << n << " ports";
      EXPECT_TRUE(ok);
      // Every count is of a non-empty group no larger than a top-level group.
      for (const auto& g : z.asked) {
        EXPECT_FALSE(g.empty());
        EXPECT_LE(g.size(), 200u);
      }
    }
  }
}

TEST(IdleSearch, NoOpenPortsCostTwoCountsPerGroup) {
  SimZombie z;
  IdlePacing pacing = IdlePacing::fromParallelism(0, 0);  // group 30: 60 ports per top group
  runSearch(z, range(1, 120), pacing);
  EXPECT_EQ(z.asked.size(), 4u);
  EXPECT_EQ(z.asked[0].size(), 30u);
}

TEST(IdleSearch, SinglePortIsCountedAlone) {
  SimZombie z;
  z.open = {443};
  IdlePacing pacing = IdlePacing::fromParallelism(0, 0);
  EXPECT_EQ(runSearch(z, {443}, pacing), (std::vector<uint16_t>{443}));
  EXPECT_EQ(z.asked.size(), 1u);
}

TEST(IdleSearch, MissedPortBelowTheTopIsFoundByTheRecount) {
  // Group 1-8 splits into 1-4 (counted 1) -> 1-2 and 3-4; the count of 3-4 loses port 3, so
  // the halves sum to 0 against 1 and both are counted again.
  SimZombie z;
  z.open = {3};
  z.faults[{3, 4}] = -1;
  IdlePacing pacing = IdlePacing::fromParallelism(0, 0);
  EXPECT_EQ(runSearch(z, range(1, 8), pacing), (std::vector<uint16_t>{3}));
  // The miss was a loss: the group shrank and a send delay and longer waits came in.
  EXPECT_LT(pacing.groupSize, 30);
  EXPECT_GT(pacing.sendDelayUs, 0);
  EXPECT_GT(pacing.waitScale, 1.0);
}

TEST(IdleSearch, PhantomCountsAreDroppedByTheDeeperSearch) {
  SimZombie z;
  z.open = {2};
  z.faults[{1, 2, 3, 4}] = +1;  // says 2, the halves find 1
  z.faults[{1}] = +1;           // a phantom single port, caught by the recount
  IdlePacing pacing = IdlePacing::fromParallelism(0, 0);
  EXPECT_EQ(runSearch(z, range(1, 8), pacing), (std::vector<uint16_t>{2}));
  EXPECT_LT(pacing.groupSize, 30);
}

TEST(IdleSearch, PhantomGroupWithNothingOpen) {
  SimZombie z;
  z.faults[{1, 2, 3, 4}] = +1;
  IdlePacing pacing = IdlePacing::fromParallelism(0, 0);
  EXPECT_TRUE(runSearch(z, range(1, 8), pacing).empty());
}

TEST(IdleSearch, FailedCountFailsTheSearch) {
  SimZombie z;
  z.open = {5};
  z.failAfter = 3;
  IdlePacing pacing = IdlePacing::fromParallelism(0, 0);
  bool ok = true;
  runSearch(z, range(1, 100), pacing, &ok);
  EXPECT_FALSE(ok);
  EXPECT_EQ(z.asked.size(), 4u);  // stops at the failure
}

// ---- pacing ----

TEST(IdlePacing, BoundsAndAdaptation) {
  IdlePacing p = IdlePacing::fromParallelism(0, 0);
  EXPECT_EQ(p.minGroup, 4);
  EXPECT_EQ(p.maxGroup, 100);
  EXPECT_DOUBLE_EQ(p.groupSize, 30);
  EXPECT_EQ(p.topGroupSize(), 60u);
  for (int i = 0; i < 100; ++i) p.countChecked(3, 3);
  EXPECT_DOUBLE_EQ(p.groupSize, 100);  // grows to the ceiling
  for (int i = 0; i < 100; ++i) p.countChecked(1, 2);
  EXPECT_DOUBLE_EQ(p.groupSize, 4);  // shrinks to the floor
  EXPECT_EQ(p.sendDelayUs, p.maxSendDelayUs);
  EXPECT_DOUBLE_EQ(p.waitScale, 8.0);
  for (int i = 0; i < 200; ++i) p.probesAnswered();
  EXPECT_EQ(p.sendDelayUs, 0);

  IdlePacing q = IdlePacing::fromParallelism(10, 20);
  EXPECT_EQ(q.minGroup, 10);
  EXPECT_EQ(q.maxGroup, 20);
  EXPECT_DOUBLE_EQ(q.groupSize, 20);
  q.countChecked(5, 2);
  EXPECT_DOUBLE_EQ(q.groupSize, 16);
  for (int i = 0; i < 10; ++i) q.probesLost();
  EXPECT_EQ(q.sendDelayUs, 50000);
  EXPECT_DOUBLE_EQ(q.groupSize, 10);  // half a second of delays caps it, the floor holds
}

}  // namespace
}  // namespace portcullis::scan
