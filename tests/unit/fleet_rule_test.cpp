// The fleet rule over three nodes' engines and an in-process fleet with Redis's semantics (the
// union of the footprints' bits, the nodes that saw a source, one claim per source): a scanner
// too careful for any one node is one fleet alert naming every node; sources without evidence
// share nothing. fleet_test.sh runs the same over a real redis-server.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "datapath/memory_table.h"
#include "datapath/replayer.h"
#include "detect/engine.h"
#include "detect/estimate.h"
#include "support/engine_run.h"
#include "support/scan_traffic.h"

namespace portcullis {
namespace {

using testing::ScanSpec;
using testing::TimedFrame;

constexpr uint64_t kStart = 1'700'000'000'000'000ull;

class FakeFleet {
 public:
  /// What Redis does with one node's footprint (fleet/fleet_link.cpp): the bits into the
  /// source's sets, the node into its nodes, the counts back, and the claim.
  void add(const std::string& node, const Footprint& fp, std::vector<FleetSighting>& out) {
    Seen& s = bySrc_[fp.src];
    s.hosts.insert(fp.dstBits.begin(), fp.dstBits.end());
    s.ports.insert(fp.portBits.begin(), fp.portBits.end());
    s.nodes.insert(node);
    ++footprints_;
    FleetSighting seen{fp.src,
                       linearCount(s.hosts.size(), PC_DST_BITS),
                       linearCount(s.ports.size(), PC_PORT_BITS),
                       {s.nodes.begin(), s.nodes.end()}};
    if (!fleetCrossed(fp, seen) || s.claimed) return;
    s.claimed = true;
    out.push_back(seen);
  }
  bool heardOf(const std::string& src) const { return bySrc_.count(src) != 0; }
  size_t footprints() const { return footprints_; }

 private:
  struct Seen {
    std::set<uint16_t> hosts, ports;
    std::set<std::string> nodes;
    bool claimed = false;
  };
  std::map<std::string, Seen> bySrc_;
  size_t footprints_ = 0;
};

class NodeLink final : public FootprintExchange {
 public:
  NodeLink(FakeFleet& fleet, std::string node) : fleet_(fleet), node_(std::move(node)) {}
  void share(Footprint fp) override { fleet_.add(node_, fp, sightings_); }
  std::vector<FleetSighting> takeSightings() override { return std::exchange(sightings_, {}); }

 private:
  FakeFleet& fleet_;
  std::string node_;
  std::vector<FleetSighting> sightings_;
};

// One detector node: its table, its engine and its link to the fleet.
struct Node {
  Node(FakeFleet& fleet, const std::string& name)
      : link(fleet, name),
        sink(false, nullptr, nullptr, &events),
        engine(rules, sink, false),
        table(name, PC_SOURCES_DEFAULT, rules, false),
        replayer(table, engine, 0, uint64_t(rules.pollMs) * 1000) {
    engine.addTable(&table);
    engine.setFootprints(&link);
  }
  void feed(const std::vector<TimedFrame>& frames) {
    for (const auto& f : frames) replayer.frame(f.bytes.data(), f.bytes.size(), 1, f.tsMicros);
    engine.poll();
  }
  RuleConfig rules;
  NodeLink link;
  std::vector<Alert> events;
  AlertSink sink;
  Engine engine;
  MemoryTable table;
  CaptureReplayer replayer;
};

std::vector<Alert> alertsFrom(const std::vector<Alert>& events, const std::string& src) {
  std::vector<Alert> out;
  for (const Alert& e : events) {
    if (e.src == src && (e.event == "alert" || e.event == "update")) out.push_back(e);
  }
  return out;
}

// A careful SYN scan: ports 22, 80 and 443 (443 closed) on each host, one probe every 2 s.
std::vector<TimedFrame> carefulScan(const std::string& src, std::vector<std::string> hosts,
                                    uint64_t start) {
  std::vector<std::vector<TimedFrame>> parts;
  for (size_t i = 0; i < hosts.size(); ++i) {
    ScanSpec s{"syn", src, hosts[i], {22, 80, 443}, {22, 80}, start + i * 6'000'000};
    s.gapMicros = 2'000'000;
    parts.push_back(testing::scanTraffic(s));
  }
  return testing::merge(std::move(parts));
}

std::vector<std::string> hosts(int first, int count) {
  return testing::hostRange("198.18.61.", first, count);
}

TEST(FleetRule, AScannerTooCarefulForEachNodeIsOneFleetAlertNamingTheThreeNodes) {
  FakeFleet fleet;
  std::vector<std::unique_ptr<Node>> nodes;
  for (const char* name : {"node1", "node2", "node3"}) {
    nodes.push_back(std::make_unique<Node>(fleet, name));
  }
  const std::string scanner = "203.0.113.9";
  // 25 hosts over three nodes: 8, 8 and 9 of them, 3 ports each.
  nodes[0]->feed(carefulScan(scanner, hosts(1, 8), kStart));
  nodes[1]->feed(carefulScan(scanner, hosts(9, 8), kStart + 48'000'000));
  for (auto& n : nodes) {
    EXPECT_TRUE(alertsFrom(n->events, scanner).empty()) << "a node alerted alone before the third";
  }
  nodes[2]->feed(carefulScan(scanner, hosts(17, 9), kStart + 96'000'000));

  std::vector<Alert> fleetAlerts;
  for (auto& n : nodes) {
    for (const Alert& a : alertsFrom(n->events, scanner)) {
      EXPECT_EQ(a.rule, "fleet") << "only the fleet sees this scanner";
      fleetAlerts.push_back(a);
    }
  }
  ASSERT_EQ(fleetAlerts.size(), 1u) << "one alert in the whole fleet";
  const Alert& a = fleetAlerts.front();
  EXPECT_EQ(a.nodes, (std::vector<std::string>{"node1", "node2", "node3"}));
  EXPECT_GE(a.dsts, 24u) << a.detail;
  EXPECT_EQ(a.ports, 3u);
  EXPECT_EQ(a.scan, "syn");
  EXPECT_EQ(alertsFrom(nodes[2]->events, scanner).size(), 1u) << "the node that crossed alerts";
}

TEST(FleetRule, SourcesWithoutEvidenceShareNothingAndOneNodeAloneIsNotTheFleets) {
  FakeFleet fleet;
  Node a(fleet, "node1"), b(fleet, "node2");
  // A client completing connections on 20 hosts of both nodes (25 on one port would be a
  // horizontal scan to the shape rule): no evidence, nothing shared.
  std::vector<std::vector<TimedFrame>> clientParts;
  uint64_t at = kStart;
  for (const std::string& h : hosts(1, 20)) {
    clientParts.push_back(testing::benignConnections("203.0.113.20", h, 2, at, 500'000));
    at += 2'000'000;
  }
  const auto client = testing::merge(std::move(clientParts));
  // The positive control: a scanner of 30 hosts at node 1 only is footprinted, and the fleet
  // does not alert for one node (its own rules judge it).
  a.feed(testing::merge({client, carefulScan("203.0.113.21", hosts(1, 30), kStart)}));
  b.feed(client);
  EXPECT_FALSE(fleet.heardOf("203.0.113.20")) << "a client's connections were shared";
  EXPECT_TRUE(fleet.heardOf("203.0.113.21")) << "the scanner's footprint was not shared";
  for (const Alert& e : a.events) {
    EXPECT_NE(e.rule, "fleet") << e.src;
    EXPECT_NE(e.src, "203.0.113.20") << e.event << " " << e.rule;
  }
}

}  // namespace
}  // namespace portcullis
