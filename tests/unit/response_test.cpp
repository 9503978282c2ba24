// Response-aware rules (slow, trw, shape, group, answers, tool tags) on generated captures:
// the scanner's probes and the host's answers, as a capture on the host holds them.
#include <gtest/gtest.h>

#include "support/engine_run.h"
#include "support/packet_cases.h"
#include "support/scan_traffic.h"

namespace portcullis {
namespace {

using testing::ScanSpec;
using testing::TimedFrame;
using testing::withRule;

constexpr uint64_t kStart = 1'700'000'000'000'000ull;
constexpr uint64_t kSecond = 1'000'000;

// The incidents' alerts and updates (the events a rule fires in).
std::vector<Alert> alertsOnly(const std::vector<Alert>& all) {
  std::vector<Alert> out;
  for (const auto& a : all) {
    if (a.event == "alert" || a.event == "update") out.push_back(a);
  }
  return out;
}

TEST(SlowScan, OneSynEvery20sToClosedPortsIsCaughtAndTimed) {
  ScanSpec s{"syn", "198.18.0.70", "198.18.0.1", testing::portRange(1000, 1029),
             {},    kStart,        20 * kSecond};
  auto all = testing::runEngine(testing::scanTraffic(s));
  auto trw = withRule(all, "trw");
  auto slow = withRule(all, "slow");
  ASSERT_FALSE(trw.empty() && slow.empty()) << "slow scan missed";
  EXPECT_TRUE(withRule(all, "score").empty()) << "too slow for the score rule";
  EXPECT_TRUE(withRule(all, "rate").empty()) << "too slow for the rate rule";
  if (!trw.empty()) {
    double secs = double(uint64_t(trw[0].tsMicros) - kStart) / kSecond;
    std::printf("trw caught the 1-probe-per-20-s scan after %.0f s\n", secs);
    EXPECT_LE(secs, 120.0);
    EXPECT_EQ(trw[0].scan, "syn");
    EXPECT_EQ(trw[0].src, "198.18.0.70");
  }
  if (!slow.empty()) {
    double secs = double(uint64_t(slow[0].tsMicros) - kStart) / kSecond;
    // The source is tracked from its third probe (40 s), and its first window closes 180 s
    // after that.
    std::printf("slow caught it after %.0f s (window T = 180 s)\n", secs);
    EXPECT_LE(secs, 240.0);
  }
}

TEST(SlowScan, SlowRuleAloneCatchesItAtTheEndOfItsWindow) {
  RuleConfig rules;
  rules.enabled = {"slow"};
  ScanSpec s{"syn", "198.18.0.70", "198.18.0.1", testing::portRange(1000, 1019),
             {},    kStart,        20 * kSecond};
  auto slow = withRule(testing::runEngine(testing::scanTraffic(s), rules), "slow");
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_EQ(slow[0].scan, "syn");
}

TEST(SlowScan, SuspiciousTwiceWhileListedIsAScanner) {
  // Three ports (enough evidence for a slot), one of them closed; then another closed port 4
  // minutes later: each window has N_closed = 1.
  ScanSpec first{"connect", "198.18.0.71", "198.18.0.1", {81, 22, 80}, {22, 80}, kStart};
  ScanSpec second{"syn", "198.18.0.71", "198.18.0.1", {82}, {}, kStart + 240 * kSecond};
  auto all = testing::runEngine(
      testing::merge({testing::scanTraffic(first), testing::scanTraffic(second)}));
  ASSERT_EQ(withRule(all, "slow", "suspicious").size(), 1u);
  ASSERT_EQ(withRule(all, "slow").size(), 1u);
}

TEST(Answers, ConnectAndSynScansAreToldApartByTheHandshake) {
  for (auto [type, expected] : {std::pair{"syn", "syn"}, std::pair{"connect", "connect"}}) {
    ScanSpec s{type, "198.18.0.72", "198.18.0.1", testing::portRange(1, 100), {22, 25, 80}, kStart};
    auto all = alertsOnly(testing::runEngine(testing::scanTraffic(s)));
    ASSERT_FALSE(all.empty());
    for (const auto& a : all) EXPECT_EQ(a.scan, expected) << type << " " << a.rule;
    EXPECT_EQ(all[0].closed, 97u) << "footprint: probes that hit closed ports";
  }
}

TEST(Shape, HorizontalScanOfOnePortOverFortyHosts) {
  ScanSpec s{"syn", "198.18.0.73", "",   {445},
             {},    kStart,        5000, testing::hostRange("198.18.1.", 10, 40)};
  auto all = alertsOnly(testing::runEngine(testing::scanTraffic(s)));
  auto shape = withRule(all, "shape");
  ASSERT_EQ(shape.size(), 1u);
  EXPECT_EQ(shape[0].shape, "horizontal");
  EXPECT_GE(shape[0].dsts, 35u);
  EXPECT_EQ(shape[0].ports, 1u);
  for (const auto& a : all) EXPECT_EQ(a.shape, "horizontal") << a.rule;
}

TEST(Shape, BlockScanOfManyPortsOnManyHosts) {
  ScanSpec s{"syn", "198.18.0.74", "",   testing::portRange(20, 39),
             {},    kStart,        2000, testing::hostRange("198.18.2.", 1, 10)};
  auto shape = withRule(testing::runEngine(testing::scanTraffic(s)), "shape");
  ASSERT_FALSE(shape.empty());
  EXPECT_EQ(shape[0].shape, "block");
}

TEST(Shape, IcmpEchoSweep) {
  auto frames =
      testing::icmpSweep("198.18.0.75", testing::hostRange("198.18.3.", 1, 40), kStart, 10'000);
  auto shape = withRule(testing::runEngine(frames), "shape");
  ASSERT_EQ(shape.size(), 1u);
  EXPECT_EQ(shape[0].scan, "icmp");
  EXPECT_EQ(shape[0].shape, "horizontal");
}

TEST(Group, AScanSplitOverFourSourcesIsOneDistributedEvent) {
  std::vector<std::vector<TimedFrame>> parts;
  std::vector<std::string> sources;
  for (int i = 0; i < 4; ++i) {
    std::string src = "198.18.0." + std::to_string(80 + i);
    sources.push_back(src);
    ScanSpec s{"syn",        src,
               "198.18.0.1", testing::portRange(uint16_t(1 + 100 * i), uint16_t(100 + 100 * i)),
               {},           kStart + uint64_t(i) * 300,
               4000};
    parts.push_back(testing::scanTraffic(s));
  }
  auto groups = withRule(testing::runEngine(testing::merge(std::move(parts))), "group");
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].detail, "distributed");
  EXPECT_EQ(groups[0].sources, sources);
}

TEST(Group, AScanWithThreeDecoysIsOneDecoyEventNamingTheRealSource) {
  std::vector<std::vector<TimedFrame>> parts;
  const std::string real = "198.18.0.92";
  for (const std::string src : {"198.18.0.90", "198.18.0.91", "198.18.0.92", "198.18.0.93"}) {
    ScanSpec s{"syn", src, "198.18.0.1", testing::portRange(1, 200), {22, 80, 443}, kStart, 3000};
    s.reacts = src == real;  // forged decoys never answer the host's SYN-ACKs
    parts.push_back(testing::scanTraffic(s));
  }
  auto groups = withRule(testing::runEngine(testing::merge(std::move(parts))), "group");
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].detail, "decoy");
  EXPECT_EQ(groups[0].src, real);
  EXPECT_EQ(groups[0].sources.size(), 4u);
}

TEST(Tags, NmapProbesAreTaggedNeverAlertedOnTheirOwn) {
  ScanSpec s{"syn", "198.18.0.76", "198.18.0.1", testing::portRange(1, 100), {}, kStart};
  auto all = alertsOnly(testing::runEngine(testing::scanTraffic(s)));
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all[0].tags, std::vector<std::string>{"nmap"});
  // One nmap-marked SYN to an open port: the marks alone raise no alert.
  ScanSpec one{"syn", "198.18.0.77", "198.18.0.1", {80}, {80}, kStart};
  EXPECT_TRUE(alertsOnly(testing::runEngine(testing::scanTraffic(one))).empty());
}

TEST(Benign, HttpLoadShortConnectionsAndOutgoingConnectionsRaiseNoAlert) {
  auto frames = testing::merge({
      testing::benignConnections("198.18.0.3", "198.18.0.1", 3000, kStart, 1000),
      testing::benignConnections("198.18.0.4", "198.18.0.1", 200, kStart + 17, 100),
      testing::outgoingConnections("198.18.0.1", "198.18.7.7", 500, kStart + 31, 2000),
  });
  auto all = alertsOnly(testing::runEngine(frames));
  EXPECT_TRUE(all.empty()) << all.size() << " alerts, first: " << all[0].rule << " " << all[0].src;
}

}  // namespace
}  // namespace portcullis
