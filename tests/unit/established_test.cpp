// The established-flow shortcut of the shared update (portcullis/update.h:
// pc_established_update): a packet it takes must leave the slot exactly as the full update
// (pc_source_update) would, and a packet it declines must leave the slot untouched, so the
// shortcut changes the cost of a busy server's client traffic and nothing else.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "datapath/net_util.h"
#include "portcullis/parse.h"
#include "portcullis/update.h"
#include "support/packet_cases.h"

namespace portcullis {
namespace {

constexpr uint64_t kHz = 1000;  // ticks per second in these tests
constexpr uint64_t kStart = 1'000'000;
const std::string kClient = "203.0.113.7";
const std::string kHost = "198.18.0.1";
// Statistics coins (update.h: pc_coin_tick): one no statistic samples, one every statistic does.
constexpr uint32_t kUnsampled = 0xffffffffu;
constexpr uint32_t kSampled = 0;

pc_packet parsed(const std::string& src, const std::string& dst, uint16_t sport, uint16_t dport,
                 uint8_t flags) {
  auto frame = testing::synFrame(src, dst, dport, sport, flags);
  pc_packet p{};
  EXPECT_EQ(pc_parse_frame(frame.data(), frame.data() + frame.size(), &p), PC_PARSE_OK);
  return p;
}

pc_tuning tuning() {
  pc_tuning t{};
  pc_tuning_defaults(&t, kHz);
  return t;
}

// A client's slot after it opened a connection (its SYN) from port 41000 to the host's port 80.
pc_src_state openedConnection(const pc_tuning& t, uint64_t at) {
  pc_src_state s{};
  s.flags = PC_SRC_USED;
  pc_addr_from_v4(&s.key, parseAddr(kClient)->w[3]);
  pc_update_io io{at, kUnsampled, 0};
  pc_packet syn = parsed(kClient, kHost, 41000, 80, PC_TCP_SYN);
  pc_source_update(&s, &syn, &t, &io);
  return s;
}

bool sameBytes(const pc_src_state& a, const pc_src_state& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

struct Case {
  std::string behaviour;
  uint16_t sport, dport;
  uint8_t flags;
  uint64_t after;         // ticks after the SYN
  bool synackPending;     // the host SYN-ACKed the connection and awaits this packet
  bool packetsPastExact;  // the source's statistics are sampled (PC_STAT_EXACT passed)
  bool taken;
};

TEST(EstablishedFlow, TakesOnlyWhatTheFullUpdateWouldTreatAsPlainEstablishedTraffic) {
  const pc_tuning t = tuning();
  const uint64_t window = t.score_window, flows = t.flow_window;
  const std::vector<Case> cases = {
      {"an ACK of the flow it opened", 41000, 80, PC_TCP_ACK, 1, false, false, true},
      {"a data segment of that flow", 41000, 80, PC_TCP_PSH | PC_TCP_ACK, 2, false, false, true},
      {"its ACK with ECN bits", 41000, 80, PC_TCP_ACK | 0x40, 2, false, false, true},
      {"its ACK once statistics are sampled", 41000, 80, PC_TCP_ACK, 2, false, true, true},
      {"an ACK to a port it never opened (ACK scan)", 41000, 81, PC_TCP_ACK, 1, false, false,
       false},
      {"an ACK from another source port", 41001, 80, PC_TCP_ACK, 1, false, false, false},
      {"the ACK that completes a SYN-ACKed handshake", 41000, 80, PC_TCP_ACK, 1, true, false,
       false},
      {"its FIN+ACK (counted as a FIN)", 41000, 80, PC_TCP_FIN | PC_TCP_ACK, 1, false, false,
       false},
      {"its FIN+PSH+ACK", 41000, 80, PC_TCP_FIN | PC_TCP_PSH | PC_TCP_ACK, 1, false, false, false},
      {"its RST", 41000, 80, PC_TCP_RST | PC_TCP_ACK, 1, false, false, false},
      {"a second SYN", 41000, 80, PC_TCP_SYN, 1, false, false, false},
      {"an ACK once the score window must roll", 41000, 80, PC_TCP_ACK, window, false, false,
       false},
      {"an ACK once the flow generation must roll", 41000, 80, PC_TCP_ACK, flows, false, false,
       false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.behaviour);
    pc_src_state before = openedConnection(t, kStart);
    if (c.synackPending) {
      pc_packet synack = parsed(kHost, kClient, c.dport, c.sport, PC_TCP_SYN | PC_TCP_ACK);
      pc_answer_update(&before, &synack);
    }
    if (c.packetsPastExact) before.packets = before.count[PC_KIND_ESTABLISHED] = 5000;
    pc_packet p = parsed(kClient, kHost, c.sport, c.dport, c.flags);
    const uint64_t now = kStart + c.after;

    for (uint32_t coin : {kUnsampled, kSampled}) {
      pc_src_state shortcut = before, full = before;
      pc_update_io io{now, coin, 0};
      const bool taken = pc_established_update(&shortcut, &p, &t, now, coin) != 0;
      EXPECT_EQ(taken, c.taken) << "coin " << coin;
      if (taken) {
        EXPECT_EQ(pc_source_update(&full, &p, &t, &io), PC_KIND_ESTABLISHED);
        EXPECT_TRUE(sameBytes(shortcut, full)) << "the shortcut wrote what the full update writes";
        EXPECT_EQ(io.probe_port, 0);
      } else {
        EXPECT_TRUE(sameBytes(shortcut, before)) << "a declined packet is left to the full update";
      }
    }
  }
}

TEST(EstablishedFlow, AFlowOfThePreviousGenerationIsStillKnown) {
  const pc_tuning t = tuning();
  pc_src_state s = openedConnection(t, kStart);
  // A packet after one flow generation rolls the SYN's flow into the previous one.
  pc_packet other = parsed(kClient, kHost, 50000, 443, PC_TCP_SYN);
  pc_update_io io{kStart + t.flow_window, kUnsampled, 0};
  pc_source_update(&s, &other, &t, &io);
  pc_packet ack = parsed(kClient, kHost, 41000, 80, PC_TCP_ACK);
  pc_src_state full = s;
  EXPECT_TRUE(pc_established_update(&s, &ack, &t, kStart + t.flow_window + 1, kUnsampled));
  pc_update_io io2{kStart + t.flow_window + 1, kUnsampled, 0};
  EXPECT_EQ(pc_source_update(&full, &ack, &t, &io2), PC_KIND_ESTABLISHED);
  EXPECT_TRUE(sameBytes(s, full));
}

}  // namespace
}  // namespace portcullis
