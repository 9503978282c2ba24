// The admission and eviction rules of the shared ingress path (portcullis/ingress.h), run
// through the pcap backend's table: who earns a slot, who keeps it, who is pushed out.
// Each rule has a test here that fails when the rule is removed.
#include <gtest/gtest.h>

#include <string>

#include "datapath/memory_table.h"
#include "datapath/net_util.h"
#include "support/packet_cases.h"

namespace portcullis {
namespace {

constexpr uint64_t kStart = 1'700'000'000'000'000ull;
constexpr int kEthernet = 1;  // DLT_EN10MB
const std::string kHost = "198.18.0.1";

class Admission : public ::testing::Test {
 protected:
  // Two slots: one bucket, so every promotion competes with the two holders.
  explicit Admission(uint32_t slots = 2) : table_("test", slots, RuleConfig{}, false, 0x1234) {
    table_.setWatchedDestinations({*parsePrefix(kHost)});
  }

  void send(const std::string& src, uint16_t dport, uint8_t flags = PC_TCP_SYN,
            uint16_t sport = 40000) {
    auto f = testing::synFrame(src, kHost, dport, sport, flags);
    table_.handleFrame(f.data(), f.size(), kEthernet, now_);
    now_ += 1000;  // 1 ms
  }
  void answer(const std::string& peer, uint16_t hostPort, uint8_t flags, uint16_t sport = 40000) {
    auto f = testing::synFrame(kHost, peer, sport, hostPort, flags);
    table_.handleFrame(f.data(), f.size(), kEthernet, now_);
  }
  // A client's complete connection to one port.
  void connection(const std::string& client, uint16_t port, uint16_t sport) {
    send(client, port, PC_TCP_SYN, sport);
    answer(client, port, PC_TCP_SYN | PC_TCP_ACK, sport);
    send(client, port, PC_TCP_ACK, sport);
  }
  // A scanner's SYN probe to a closed port, and the host's RST.
  void probe(const std::string& scanner, uint16_t port) {
    send(scanner, port);
    answer(scanner, port, PC_TCP_RST | PC_TCP_ACK);
  }
  bool tracked(const std::string& src) { return table_.find(*parseAddr(src)) != nullptr; }
  void wait(uint64_t micros) { now_ += micros; }

  MemoryTable table_;
  uint64_t now_ = kStart;
};

TEST_F(Admission, OneTargetEarnsNoSlotWhateverThePacketCount) {
  for (uint16_t sport = 1000; sport < 1100; ++sport) connection("10.0.0.1", 80, sport);
  EXPECT_FALSE(tracked("10.0.0.1")) << "a client of one port is not evidence";
  EXPECT_EQ(table_.stats().promotions, 0u);
  for (uint16_t port : {1, 2, 3}) probe("10.0.0.2", port);  // control
  EXPECT_TRUE(tracked("10.0.0.2")) << "three distinct targets earn a slot";
}

TEST_F(Admission, TwoProbeSpoofedSourcesNeverHoldASlot) {
  for (int i = 0; i < 2000; ++i) {
    std::string spoofed = "100.64." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    send(spoofed, uint16_t(1000 + i % 7));
    send(spoofed, uint16_t(2000 + i % 11));
  }
  EXPECT_EQ(table_.stats().promotions, 0u);
  wait(2'000'000);  // the burst is over; its entries have gone quiet
  for (uint16_t port = 1; port <= 20; ++port) probe("198.51.100.9", port);
  EXPECT_TRUE(tracked("198.51.100.9")) << "the scanner inside the flood got its slot";
}

TEST_F(Admission, AStrongerScannerEvictsTheWeakestHolder) {
  // Two holders with three targets each fill the only bucket.
  for (const std::string h : {"10.1.0.1", "10.1.0.2"}) {
    for (uint16_t port : {7001, 7002, 7003}) send(h, port);
    ASSERT_TRUE(tracked(h));
  }
  for (uint16_t port = 1; port <= 40; ++port) probe("198.51.100.10", port);
  EXPECT_TRUE(tracked("198.51.100.10"));
  EXPECT_EQ(table_.stats().evictions, 1u);
  EXPECT_TRUE(tracked("10.1.0.1") != tracked("10.1.0.2")) << "exactly one holder was evicted";
}

TEST_F(Admission, ClientsNeverEvictAScanner) {
  for (uint16_t port = 1; port <= 60; ++port) probe("198.51.100.11", port);
  for (uint16_t port = 1; port <= 60; ++port) probe("198.51.100.12", port);
  ASSERT_TRUE(tracked("198.51.100.11"));
  ASSERT_TRUE(tracked("198.51.100.12"));
  // Clients of three services each, completing every connection.
  for (int c = 0; c < 200; ++c) {
    std::string client = "10.2." + std::to_string(c / 200) + "." + std::to_string(c % 200);
    for (uint16_t port : {80, 443, 25}) connection(client, port, uint16_t(30000 + c));
  }
  EXPECT_TRUE(tracked("198.51.100.11"));
  EXPECT_TRUE(tracked("198.51.100.12"));
  EXPECT_GT(table_.stats().promote_refused, 0u) << "clients did ask for the slots";
}

TEST_F(Admission, AQuietTwoTargetEntryMakesRoomForANewScanner) {
  // Admission entries: 8 (four buckets of two). Fill them with two-target sources that then
  // fall silent; a scanner arriving later must still be admitted and promoted.
  for (int i = 0; i < 64; ++i) {
    std::string s = "100.65.0." + std::to_string(i);
    send(s, 5000);
    send(s, 5001);
  }
  wait(5'000'000);  // longer than the quiet time (4 score windows)
  for (uint16_t port = 1; port <= 10; ++port) probe("198.51.100.13", port);
  EXPECT_TRUE(tracked("198.51.100.13"));
}

TEST_F(Admission, OneTargetSourcesMakeRoomAtOnce) {
  // A flood of one-SYN sources fills every admission entry; a scanner right behind it (no
  // pause) still gets an entry, and its slot.
  for (int i = 0; i < 500; ++i)
    send("100.66." + std::to_string(i / 250) + "." + std::to_string(i % 250), 80);
  for (uint16_t port = 1; port <= 10; ++port) probe("198.51.100.14", port);
  EXPECT_TRUE(tracked("198.51.100.14"));
}

TEST_F(Admission, AScannersEarlyEvidenceSurvivesAFloodOfNewcomers) {
  // The scanner's two probes, and two-target sources in every other entry; then a burst of
  // one-SYN newcomers; then the scanner's third probe. Entries still showing evidence are
  // never taken, so the burst finds no room, and the third probe promotes the scanner.
  probe("198.51.100.15", 1);
  probe("198.51.100.15", 2);
  for (int i = 0; i < 16; ++i) {
    std::string s = "100.68.0." + std::to_string(i + 1);
    send(s, 6001);
    send(s, 6002);
  }
  for (int i = 0; i < 200; ++i) send("100.67.0." + std::to_string(i % 250), 80);
  EXPECT_GT(table_.stats().admit_full, 0u) << "the burst did meet full buckets";
  probe("198.51.100.15", 3);
  EXPECT_TRUE(tracked("198.51.100.15"));
}

TEST_F(Admission, IllegalFlagsEarnASlotAtOnce) {
  send("10.3.0.1", 80, 0);  // NULL
  EXPECT_TRUE(tracked("10.3.0.1"));
}

TEST_F(Admission, IPv6SourcesAreOneSourcePerSlash64) {
  for (uint16_t port = 1; port <= 30; ++port) {
    std::string src = "fd00:bad:1:2::" + std::to_string(port);
    auto f = testing::synFrame(src, "fd00:198:18::1", port);
    table_.setWatchedDestinations({*parsePrefix("fd00:198:18::1")});
    table_.handleFrame(f.data(), f.size(), kEthernet, now_);
    now_ += 1000;
  }
  const pc_src_state* s = table_.find(*parseAddr("fd00:bad:1:2::ffff"));
  ASSERT_TRUE(s) << "any address of the /64 finds its slot";
  EXPECT_EQ(s->prefix_len, 64);
  EXPECT_EQ(formatAddr(s->key), "fd00:bad:1:2::");
}

TEST_F(Admission, OtherIpProtocolsAreTheirOwnKindNeverSyns) {
  // A GRE packet: protocol 47. Built by hand: the test packet builder speaks TCP.
  auto gre = testing::synFrame("203.0.113.7", kHost, 80);
  gre[14 + 9] = 47;
  auto sendGre = [&](int n) {
    for (int i = 0; i < n; ++i) {
      table_.handleFrame(gre.data(), gre.size(), kEthernet, now_);
      now_ += 1'000'000;
    }
  };
  sendGre(50);
  EXPECT_FALSE(tracked("203.0.113.7")) << "one protocol is one target";
  // The same peer also probes three TCP ports (now it is tracked): its GRE packets are
  // counted as their own kind, never as SYNs.
  for (uint16_t port : {1, 2, 3}) send("203.0.113.7", port);
  const pc_src_state* s = table_.find(*parseAddr("203.0.113.7"));
  ASSERT_TRUE(s);
  uint32_t syns = s->count[PC_KIND_SYN], protos = s->count[PC_KIND_IPPROTO];
  sendGre(50);
  EXPECT_EQ(s->count[PC_KIND_IPPROTO] - protos, 50u);
  EXPECT_EQ(s->count[PC_KIND_SYN], syns) << "GRE is never a SYN";
  EXPECT_EQ(s->proto_targets, 1u);
}

// The first-packet tier: a source's first target is a word; only its second distinct target
// claims an admission entry, so clients and one-target spoofed sources never churn the tier.
TEST_F(Admission, OnlyASecondDistinctTargetClaimsAnAdmissionEntry) {
  for (uint16_t sport = 1000; sport < 1100; ++sport) connection("10.0.0.1", 80, sport);
  for (int i = 0; i < 2000; ++i) {
    send("10.1." + std::to_string(i / 250) + "." + std::to_string(1 + i % 250), 80);
  }
  EXPECT_EQ(table_.stats().admitted, 0u) << "a client and 2,000 one-SYN sources took entries";
  send("10.0.0.2", 1);
  EXPECT_EQ(table_.stats().admitted, 0u) << "a first probe is a word, not an entry";
  send("10.0.0.2", 1);
  EXPECT_EQ(table_.stats().admitted, 0u) << "its first target again adds nothing";
  send("10.0.0.2", 2);  // control: a second distinct target
  EXPECT_EQ(table_.stats().admitted, 1u);
  send("10.0.0.2", 3);
  EXPECT_TRUE(tracked("10.0.0.2")) << "three targets, the first carried in from its word";
}

// A source's packet statistics are exact up to PC_STAT_EXACT, then sampled (update.h): the
// estimate stays within a few per cent, and its distinct targets stay exact.
TEST_F(Admission, PacketStatisticsAreExactThenAnUnbiasedEstimate) {
  for (uint16_t port : {1, 2, 3}) probe("10.0.0.9", port);
  const pc_src_state* s = table_.find(*parseAddr("10.0.0.9"));
  ASSERT_TRUE(s);
  uint32_t sent = s->packets;
  for (; sent < PC_STAT_EXACT - 10; ++sent) send("10.0.0.9", 4);
  EXPECT_EQ(s->packets, sent) << "exact below PC_STAT_EXACT";
  constexpr uint32_t kFlood = 200'000;
  for (uint32_t i = 0; i < kFlood; ++i) send("10.0.0.9", 4, PC_TCP_SYN, uint16_t(1024 + i % 60000));
  sent += kFlood;
  EXPECT_NEAR(double(s->packets), double(sent), sent * 0.03);
  EXPECT_NEAR(double(s->count[PC_KIND_SYN]), double(sent), sent * 0.03);
  EXPECT_EQ(s->syn_targets, 4u) << "distinct targets are never sampled";
}

// Established-flow packets are sampled more sparsely (one in PC_STAT_FLOW_STEP, adding as
// many), through the shortcut and the full update alike: still an unbiased estimate.
TEST_F(Admission, EstablishedFlowStatisticsAreAnUnbiasedEstimateToo) {
  for (uint16_t port : {1, 2, 3}) probe("10.0.0.9", port);
  send("10.0.0.9", 80, PC_TCP_SYN, 41000);  // opens the connection its ACKs belong to
  const pc_src_state* s = table_.find(*parseAddr("10.0.0.9"));
  ASSERT_TRUE(s);
  const uint32_t packetsBefore = s->packets;
  const uint32_t establishedBefore = s->count[PC_KIND_ESTABLISHED];
  constexpr uint32_t kAcks = 1'000'000;
  for (uint32_t i = 0; i < kAcks; ++i) send("10.0.0.9", 80, PC_TCP_ACK, 41000);
  EXPECT_NEAR(double(s->packets - packetsBefore), double(kAcks), kAcks * 0.03);
  EXPECT_NEAR(double(s->count[PC_KIND_ESTABLISHED] - establishedBefore), double(kAcks),
              kAcks * 0.03);
  EXPECT_EQ(s->count[PC_KIND_ACK], 0u) << "every ACK belonged to the flow it opened";
}

}  // namespace
}  // namespace portcullis
