// The rules over the in-memory tables, with the seeds' numbers: frames in, alerts out.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "detect/engine.h"
#include "detect/rules/registry.h"
#include "datapath/memory_table.h"
#include "datapath/replayer.h"
#include "support/engine_run.h"
#include "support/packet_cases.h"
#include "support/scan_traffic.h"

namespace portcullis {
namespace {

using testing::ScanSpec;
using testing::TimedFrame;

constexpr uint64_t kStart = 1'700'000'000'000'000ull;

std::vector<Alert> run(const std::vector<TimedFrame>& frames, RuleConfig rules = {}) {
  return testing::runEngine(frames, rules);
}

// SYN probes from one source to `ports`, `gap` microseconds apart.
std::vector<TimedFrame> syns(const std::vector<uint16_t>& ports, uint64_t gap,
                             const std::string& src = "198.18.0.2") {
  std::vector<TimedFrame> frames;
  uint64_t t = kStart;
  for (uint16_t p : ports) {
    frames.push_back({t, testing::synFrame(src, "198.18.0.1", p)});
    t += gap;
  }
  return frames;
}

// Incidents in which `rule` fired.
size_t countRule(const std::vector<Alert>& alerts, const std::string& rule) {
  return testing::withRule(alerts, rule).size();
}

TEST(ScoreRule, SevenSynsBelow1024Within300msAlert) {
  auto alerts = run(syns({21, 22, 23, 25, 80, 110, 143}, 40'000));
  ASSERT_EQ(countRule(alerts, "score"), 1u);
  const Alert& a = testing::withRule(alerts, "score")[0];
  EXPECT_EQ(a.scan, "syn");
  EXPECT_EQ(a.src, "198.18.0.2");
  EXPECT_EQ(a.score, 21u);
  EXPECT_EQ(a.shape, "vertical");
}

// Each "does not alert" case has its control beside it: the same traffic with only the property
// under test changed does alert, so the quiet result cannot come from packets never processed.
TEST(ScoreRule, TwentySynsAbove1024Within300msDoNotReachTheScore) {
  std::vector<uint16_t> high, low;
  for (uint16_t p = 3000; p < 3020; ++p) high.push_back(p);
  for (uint16_t p = 1000; p < 1020; ++p) low.push_back(p);
  EXPECT_EQ(countRule(run(syns(high, 10'000)), "score"), 0u);
  EXPECT_EQ(countRule(run(syns(low, 10'000)), "score"), 1u) << "control: ports below 1024";
}

TEST(ScoreRule, Ports13And2000AndOneLowPortAlert) {
  auto alerts = run(syns({13, 2000, 80}, 50'000));
  EXPECT_EQ(countRule(alerts, "score"), 1u);
}

TEST(ScoreRule, TheSameProbesSpreadOverTwoSecondsDoNotAlert) {
  EXPECT_EQ(countRule(run(syns({21, 22, 23, 25, 80, 110, 143}, 333'000)), "score"), 0u);
  EXPECT_EQ(countRule(run(syns({13, 2000, 80}, 1'000'000)), "score"), 0u);
  EXPECT_EQ(countRule(run(syns({13, 2000, 80}, 100'000)), "score"), 1u) << "control: 0.2 s";
}

TEST(RateRule, ThreePortsInSixSecondsDoNotAlert) {
  EXPECT_EQ(countRule(run(syns({8001, 8002, 8003}, 2'000'000)), "rate"), 0u);
  RuleConfig two;
  two.rateMaxPorts = 2;
  EXPECT_EQ(countRule(run(syns({8001, 8002, 8003}, 2'000'000), two), "rate"), 1u)
      << "control: a threshold of two ports";
}

TEST(RateRule, ElevenPortsInSixSecondsAlert) {
  std::vector<uint16_t> ports;
  for (uint16_t p = 8001; p <= 8011; ++p) ports.push_back(p);
  auto alerts = run(syns(ports, 500'000));  // 11 ports over 5 s
  EXPECT_EQ(countRule(alerts, "rate"), 1u);
  EXPECT_EQ(countRule(alerts, "score"), 0u);
}

TEST(RateRule, ElevenPortsOverTwelveSecondsDoNotAlert) {
  std::vector<uint16_t> ports;
  for (uint16_t p = 8001; p <= 8011; ++p) ports.push_back(p);
  EXPECT_EQ(countRule(run(syns(ports, 1'200'000)), "rate"), 0u);
  EXPECT_EQ(countRule(run(syns(ports, 500'000)), "rate"), 1u) << "control: over 5 s";
}

TEST(RateRule, SeedTwoDemoThresholdOfTwoAlertsOnThreePorts) {
  RuleConfig rules;
  rules.rateMaxPorts = 2;
  EXPECT_EQ(countRule(run(syns({8001, 8002, 8003}, 2'000'000), rules), "rate"), 1u);
}

TEST(AnomalyRule, OneNullPacketAlertsAtOnce) {
  std::vector<TimedFrame> frames{
      {kStart, testing::synFrame("198.18.0.7", "198.18.0.1", 80, 40000, 0)}};
  auto alerts = run(frames);
  ASSERT_EQ(countRule(alerts, "anomaly"), 1u);
  EXPECT_EQ(alerts[0].scan, "null");
  EXPECT_EQ(alerts[0].src, "198.18.0.7");
}

TEST(Benign, FiftyConnectionsToOneOpenPortIn300msRaiseNothing) {
  // The control in the same run: another source sends fifty SYNs to fifty ports meanwhile.
  std::vector<uint16_t> ports = testing::portRange(1, 50);
  auto alerts =
      run(testing::merge({testing::benignConnections("198.18.0.3", "198.18.0.1", 50, kStart, 6000),
                          syns(ports, 6000, "198.18.0.6")}));
  for (const Alert& a : alerts) EXPECT_NE(a.src, "198.18.0.3") << a.event << " " << a.rule;
  EXPECT_TRUE(std::any_of(alerts.begin(), alerts.end(), [](const Alert& a) {
    return a.src == "198.18.0.6" && a.rule == "score";
  })) << "control: the fifty-port source was not reported";
}

TEST(Benign, AClientTouchingOneClosedPortOnceHoldsNoSlotAndRaisesNothing) {
  // One target is no evidence (DESIGN.md): the client stays in the admission tier. The
  // control in the same run, a source that touches three closed ports, is tracked and judged.
  ScanSpec client{"connect", "198.18.0.4", "198.18.0.1", {8080}, {}, kStart};
  ScanSpec control{"connect", "198.18.0.5", "198.18.0.1", {8081, 8082, 8083}, {}, kStart};
  auto events = run(testing::merge({testing::scanTraffic(client), testing::scanTraffic(control)}));
  for (const Alert& e : events) EXPECT_NE(e.src, "198.18.0.4") << e.event << " " << e.rule;
  EXPECT_TRUE(std::any_of(events.begin(), events.end(), [](const Alert& e) {
    return e.src == "198.18.0.5" && e.rule == "slow";
  })) << "the control source was not judged";
}

TEST(ProtocolScan, WalkingIpProtocolNumbersIsAnIpprotoScan) {
  // nmap -sO: one packet per protocol number. A tunnel peer in the same capture speaks one
  // protocol (GRE) all along, and is no scanner.
  std::vector<TimedFrame> frames;
  uint64_t t = kStart;
  for (uint8_t proto = 40; proto < 80; ++proto) {
    if (proto == 6 || proto == 17) continue;
    auto f = testing::synFrame("198.18.0.9", "198.18.0.1", 0);
    f[14 + 9] = proto;
    frames.push_back({t, f});
    t += 20'000;
  }
  auto gre = testing::synFrame("203.0.113.7", "198.18.0.1", 0);
  gre[14 + 9] = 47;
  for (int i = 0; i < 60; ++i) frames.push_back({kStart + uint64_t(i) * 1'000'000, gre});
  std::sort(frames.begin(), frames.end(),
            [](const TimedFrame& a, const TimedFrame& b) { return a.tsMicros < b.tsMicros; });
  auto alerts = run(frames);
  auto scan = std::find_if(alerts.begin(), alerts.end(), [](const Alert& a) {
    return a.src == "198.18.0.9" && a.event == "alert";
  });
  ASSERT_NE(scan, alerts.end()) << "the protocol scan was not reported";
  EXPECT_EQ(scan->scan, "ipproto");
  EXPECT_EQ(scan->rule, "rate");
  for (const Alert& a : alerts) EXPECT_NE(a.src, "203.0.113.7") << a.rule;
}

TEST(Duplicates, ARepeatedScanAlertsOncePerRuleAndKind) {
  // The same 60 ports three times over, within the quiet period: one score, one rate alert.
  std::vector<uint16_t> ports;
  for (int round = 0; round < 3; ++round) {
    for (uint16_t p = 1; p <= 60; ++p) ports.push_back(p);
  }
  auto alerts = run(syns(ports, 5'000));
  EXPECT_EQ(countRule(alerts, "score"), 1u);
  EXPECT_EQ(countRule(alerts, "rate"), 1u);
}

TEST(Duplicates, AScanThatGrowsIsUpdatedNotAlertedAgain) {
  auto alerts = run(syns(testing::portRange(1, 1000), 2'000));
  ASSERT_EQ(testing::ofEvent(alerts, "alert").size(), 1u);
  auto updates = testing::ofEvent(alerts, "update");
  size_t grown = 0;
  uint64_t ports = testing::ofEvent(alerts, "alert")[0].ports;
  for (const Alert& u : updates) {
    EXPECT_EQ(u.id, alerts[0].id);
    grown += u.ports >= 4 * ports;
    ports = std::max(ports, u.ports);
  }
  EXPECT_GE(grown, 1u) << "growth from ~7 to 1000 ports is reported";
  EXPECT_LE(updates.size(), 6u) << "but not once per window";
}

TEST(Duplicates, ANewKindFromTheSameSourceIsAnUpdateWithTheNewLabel) {
  ScanSpec syn{"syn", "198.18.0.2", "198.18.0.1", testing::portRange(1, 100), {}, kStart};
  ScanSpec fin{"fin", "198.18.0.2",      "198.18.0.1", testing::portRange(1, 100),
               {},    kStart + 1'000'000};
  auto frames = testing::scanTraffic(syn);
  auto more = testing::scanTraffic(fin);
  frames.insert(frames.end(), more.begin(), more.end());
  auto alerts = run(frames);
  auto first = testing::ofEvent(alerts, "alert");
  ASSERT_EQ(first.size(), 1u) << "one scanner going on: one incident";
  EXPECT_EQ(first[0].scan, "syn");
  bool finUpdate = false;
  for (const auto& a : testing::ofEvent(alerts, "update")) {
    finUpdate |= a.scan == "fin" && a.id == first[0].id;
  }
  EXPECT_TRUE(finUpdate) << "the label turned from syn to fin";
}

// DESIGN.md's contract: one scan is one incident.
TEST(Incidents, OneScanIsOneAlertNamingItsRulesThenUpdatesThenOneEnd) {
  ScanSpec s{"syn", "198.18.0.2", "198.18.0.1", testing::portRange(1, 300), {22, 80}, kStart};
  auto events = run(testing::scanTraffic(s));
  auto alerts = testing::ofEvent(events, "alert");
  auto ends = testing::ofEvent(events, "end");
  ASSERT_EQ(alerts.size(), 1u);
  ASSERT_EQ(ends.size(), 1u);
  const Alert& a = alerts[0];
  EXPECT_NE(a.id, 0u);
  ASSERT_FALSE(a.rules.empty());
  EXPECT_EQ(a.rules[0], a.rule) << "rule is the first of rules";
  std::set<std::string> rules;
  for (const Alert& e : events) {
    if (e.event != "alert" && e.event != "update" && e.event != "end") continue;
    EXPECT_EQ(e.id, a.id) << e.event;
    rules.insert(e.rules.begin(), e.rules.end());
  }
  EXPECT_TRUE(rules.count("score") && rules.count("rate") && rules.count("trw")) << rules.size();
  const Alert& end = ends[0];
  EXPECT_EQ(std::set<std::string>(end.rules.begin(), end.rules.end()), rules);
  EXPECT_NEAR(double(end.ports), 300.0, 15.0) << "a linear-counting estimate";
  EXPECT_EQ(end.dsts, 1u);
  EXPECT_EQ(end.action, "none");
  EXPECT_GE(end.packets, 300u);
  EXPECT_GT(end.durationS, 0.0);
  EXPECT_LT(end.durationS, 5.0);
  EXPECT_GE(end.tsMicros, a.tsMicros);
}

TEST(Incidents, AScanQuietForTheQuietTimeEndsAndItsNextScanIsANewIncident) {
  RuleConfig rules;  // quiet 30 s, and the slow rule's 3-minute window
  auto first = syns(testing::portRange(1, 100), 2'000);
  auto again = syns(testing::portRange(101, 200), 2'000);
  auto soon = again;
  for (auto& f : again) f.tsMicros += 300'000'000;  // five minutes later: a new incident
  for (auto& f : soon) f.tsMicros += 10'000'000;    // control: 10 s later, the same one
  auto apart = first;
  apart.insert(apart.end(), again.begin(), again.end());
  auto close = first;
  close.insert(close.end(), soon.begin(), soon.end());
  auto two = run(apart, rules);
  std::string told;
  for (const Alert& e : two)
    told += e.event + " " + e.rule + " " + formatTimestamp(e.tsMicros) + "\n";
  ASSERT_EQ(testing::ofEvent(two, "alert").size(), 2u) << told;
  auto ends = testing::ofEvent(two, "end");
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_NE(ends[0].id, ends[1].id);
  EXPECT_EQ(ends[0].id, testing::ofEvent(two, "alert")[0].id);
  // The first ends on the quiet time: before the second scan's alert (a replay polls on its
  // frames' time, so at the second scan's first frame at the latest). Its slow-rule verdict,
  // 3 minutes on, is part of it.
  auto at = [&](const std::string& event, uint64_t id) {
    return std::find_if(two.begin(), two.end(),
                        [&](const Alert& a) { return a.event == event && a.id == id; }) -
           two.begin();
  };
  EXPECT_LT(at("end", ends[0].id), at("alert", ends[1].id));
  EXPECT_LE(ends[0].tsMicros, kStart + 300'000'000);
  EXPECT_EQ(ends[0].ports, 100u);
  auto one = run(close, rules);
  EXPECT_EQ(testing::ofEvent(one, "alert").size(), 1u) << "control: 10 s apart";
  EXPECT_EQ(testing::ofEvent(one, "end").size(), 1u);
}

// Every scan type of the replay suite, through the engine directly.
class ScanKinds : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(ScanKinds, AScanOfThisTypeAlertsWithItsScanName) {
  auto [type, expected] = GetParam();
  ScanSpec s{type, "198.18.0.2", "198.18.0.1", testing::portRange(1, 200), {22, 80}, kStart};
  auto alerts = run(testing::scanTraffic(s));
  ASSERT_FALSE(alerts.empty());
  for (const auto& a : alerts) {
    EXPECT_EQ(a.src, "198.18.0.2");
    EXPECT_EQ(a.scan, expected) << a.rule;
  }
}

INSTANTIATE_TEST_SUITE_P(Scans, ScanKinds, ::testing::ValuesIn(testing::kScanTypes),
                         [](const auto& param) { return std::string(param.param.first); });

}  // namespace
}  // namespace portcullis

namespace portcullis {
namespace {

TEST(RuleRegistry, EveryRuleIsMadeUnderItsIdAndOnlyWhenEnabled) {
  RuleConfig all;
  auto rules = makeRules(all);
  ASSERT_EQ(rules.size(), kRuleCount);
  for (size_t i = 0; i < kRuleCount; ++i) {
    EXPECT_EQ(rules[i]->id(), RuleId(i));
    EXPECT_EQ(ruleFromName(kRuleNames[i]), RuleId(i));
  }
  RuleConfig some;
  some.enabled = {"slow", "group"};
  auto chosen = makeRules(some);
  ASSERT_EQ(chosen.size(), 2u);
  EXPECT_EQ(chosen[0]->id(), RuleId::Slow);
  EXPECT_EQ(chosen[1]->id(), RuleId::Group);
  EXPECT_FALSE(ruleFromName("portscan"));
}

}  // namespace
}  // namespace portcullis

// The poll's scan of the slot tags: every slot with a tag set is visited, in order, whatever
// its position in a block of four pairs, and none without; past the tags, every slot.
TEST(PollScan, VisitsExactlyTheSlotsWithATag) {
  for (size_t pairs : {size_t(0), size_t(1), size_t(3), size_t(4), size_t(5), size_t(64)}) {
    for (size_t set = 0; set < pairs * 2 + 1; ++set) {
      std::vector<pc_slot_tags> tags(pairs);
      std::vector<size_t> want;
      for (size_t index : {set, pairs * 2 - 1, size_t(0)}) {
        if (index < pairs * 2 && tags[index / 2].tag[index & 1] == 0) {
          tags[index / 2].tag[index & 1] = uint32_t(index * 2 + 1);
        }
      }
      for (size_t index = 0; index < pairs * 2; ++index) {
        if (tags[index / 2].tag[index & 1]) want.push_back(index);
      }
      const size_t slots = pairs * 2 + 3;  // three slots the tags do not cover
      for (size_t index = pairs * 2; index < slots; ++index) want.push_back(index);
      std::vector<size_t> got;
      for (size_t index = portcullis::nextOccupied(tags, 0); index < slots;
           index = portcullis::nextOccupied(tags, index + 1)) {
        got.push_back(index);
      }
      EXPECT_EQ(got, want) << pairs << " pairs, slot " << set << " set";
    }
  }
}
