// The XDP program through BPF_PROG_TEST_RUN: packet in, verdict and map state out.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/if_link.h>
#include <unistd.h>

#include <memory>
#include <random>
#include <string>

#include "kernel_clock.h"
#include "portcullis/control.h"
#include "portcullis/event.h"
#include "portcullis/update.h"
#include "net_util.h"
#include "source_table.h"
#include "xdp_datapath.h"
#include "support/packet_cases.h"
#include "support/privilege.h"
#include "tc_egress.skel.h"
#include "xdp_ingress.skel.h"

namespace portcullis {
namespace {

struct SkelDeleter {
  void operator()(xdp_ingress* s) const { xdp_ingress__destroy(s); }
};

class XdpProgram : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    bool clockOk = probeKernelClock(clock_, error) == 0;
    PC_REQUIRE_PRIVILEGE(clockOk, "cannot run BPF programs here: " + error);
    skel_.reset(xdp_ingress__open());
    ASSERT_TRUE(skel_);
    // Tests own private maps: nothing is pinned.
    bpf_object* obj = skel_->obj;
    bpf_map* map;
    bpf_object__for_each_map(map, obj) bpf_map__set_pin_path(map, nullptr);
    auto& t = const_cast<pc_tuning&>(skel_->rodata->pc_tuning);
    pc_tuning_defaults(&t, clock_.hz);
    t.slot_mask = PC_SOURCES_DEFAULT - 1;
    // These tests check a slot's per-packet update: every probe earns a slot at once. The
    // admission tier's own rules are tested over the same code in the pcap backend
    // (admission_test.cpp) and by the two-CPU test below.
    t.admit_targets = admitTargets();
    t.v6_prefix = 128;  // the cases' IPv6 sources share a /64; aggregation is tested by replay
    ASSERT_EQ(xdp_ingress__load(skel_.get()), 0) << "the verifier rejected the program";
    tuning_ = t;
    uint32_t key = 0;
    pc_control ctl{};
    ctl.gen = 1;
    ASSERT_EQ(bpf_map_update_elem(fd(skel_->maps.pc_control), &key, &ctl, BPF_ANY), 0);
  }

  virtual uint16_t admitTargets() const { return 1; }

  static int fd(bpf_map* m) { return bpf_map__fd(m); }

  int run(const std::vector<uint8_t>& frame, uint32_t repeat = 1) {
    std::vector<uint8_t> copy = frame;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = copy.data(), .data_size_in = uint32_t(copy.size()),
                .repeat = int(repeat));
    int err = bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.portcullis), &opts);
    EXPECT_EQ(err, 0) << "BPF_PROG_TEST_RUN failed: " << strerror(errno);
    return int(opts.retval);
  }

  pc_stats stats() { return readStats(fd(skel_->maps.pc_stats)); }

  // The slot holding src, if any.
  std::optional<pc_src_state> source(const std::string& src) {
    auto addr = parseAddr(src);
    if (!addr) return std::nullopt;
    pc_addr_aggregate(&*addr, &tuning_);
    uint32_t idx = pc_slot_index(&*addr, &tuning_);
    for (uint32_t i : {idx, idx | 1}) {
      pc_src_state s{};
      if (bpf_map_lookup_elem(fd(skel_->maps.pc_sources), &i, &s) == 0 &&
          (s.flags & PC_SRC_USED) && pc_addr_eq(&s.key, &*addr)) {
        return s;
      }
    }
    return std::nullopt;
  }

  void block(const std::string& src, uint64_t expiresJiffies) {
    auto addr = parseAddr(src);
    pc_block b{};
    b.expires = expiresJiffies;
    b.created = clock_.jiffiesNow();
    ASSERT_EQ(bpf_map_update_elem(fd(skel_->maps.pc_blocklist), &*addr, &b, BPF_ANY), 0);
    uint32_t key = 0;
    pc_control ctl{};
    bpf_map_lookup_elem(fd(skel_->maps.pc_control), &key, &ctl);
    ctl.gen++;
    ctl.nr_blocks++;
    ASSERT_EQ(bpf_map_update_elem(fd(skel_->maps.pc_control), &key, &ctl, BPF_ANY), 0);
  }

  KernelClock clock_;
  pc_tuning tuning_{};
  std::unique_ptr<xdp_ingress, SkelDeleter> skel_;
};

TEST_F(XdpProgram, EveryCaseGetsItsVerdictCountersAndSourceState) {
  for (const auto& c : testing::packetCases()) {
    if (c.frame.size() < 14) continue;  // BPF_PROG_TEST_RUN needs a whole Ethernet header
    SCOPED_TRACE(c.name);
    pc_stats before = stats();
    pc_src_state prior{};
    if (!c.src.empty()) prior = source(c.src).value_or(pc_src_state{});
    EXPECT_EQ(run(c.frame), XDP_PASS);  // nothing is blocklisted: every packet passes
    pc_stats after = stats();
    EXPECT_EQ(after.packets - before.packets, 1u);
    EXPECT_EQ(after.unparsable - before.unparsable, c.parse == PC_PARSE_MALFORMED ? 1u : 0u);
    EXPECT_EQ(after.non_ip - before.non_ip, c.parse == PC_PARSE_NOT_IP ? 1u : 0u);
    EXPECT_EQ(after.fragments - before.fragments, c.parse == PC_PARSE_FRAGMENT ? 1u : 0u);
    EXPECT_EQ(after.dropped, 0u);
    if (c.kind < 0) continue;
    auto s = source(c.src);
    bool probes = pc_kind_is_probe(uint32_t(c.kind)) || (c.kind == PC_KIND_FRAGMENT && c.dport);
    if (!probes && !prior.packets) {
      EXPECT_FALSE(s) << "a packet that probes nothing earns no slot";
      continue;
    }
    ASSERT_TRUE(s) << "no slot for " << c.src;
    EXPECT_EQ(s->packets - prior.packets, 1u);
    EXPECT_EQ(s->count[c.kind] - prior.count[c.kind], 1u);
    if (prior.packets == 0 && pc_kind_is_probe(uint32_t(c.kind)) && c.kind != PC_KIND_ICMP_ECHO) {
      EXPECT_EQ(s->win_score[c.kind], pc_port_weight(c.dport)) << "one probe scores its weight";
    }
  }
}

TEST_F(XdpProgram, IllegalFlagsReachTheRingBufferRateLimited) {
  int events = 0;
  auto onEvent = [](void* ctx, void* data, size_t) {
    auto* e = static_cast<pc_event*>(data);
    EXPECT_EQ(e->kind, PC_KIND_NULL);
    EXPECT_EQ(e->type, PC_EVENT_ANOMALY);
    ++*static_cast<int*>(ctx);
    return 0;
  };
  ring_buffer* rb = ring_buffer__new(fd(skel_->maps.pc_events), onEvent, &events, nullptr);
  ASSERT_TRUE(rb);
  for (uint16_t port = 1; port <= 50; ++port) {
    run(testing::synFrame("198.18.9.1", "198.18.0.1", port, 40000, 0));
  }
  ring_buffer__consume(rb);
  ring_buffer__free(rb);
  EXPECT_GE(events, 1);
  EXPECT_LE(events, int(tuning_.event_burst) * 2) << "at most a burst per score window";
  EXPECT_EQ(source("198.18.9.1")->count[PC_KIND_NULL], 50u);
}

TEST_F(XdpProgram, ScoreCountsEachPortOncePerWindow) {
  for (int i = 0; i < 5; ++i) run(testing::synFrame("198.18.9.2", "198.18.0.1", 22));
  run(testing::synFrame("198.18.9.2", "198.18.0.1", 13));
  auto s = source("198.18.9.2");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->count[PC_KIND_SYN], 6u);
  EXPECT_EQ(s->win_score[PC_KIND_SYN] + s->prev_score[PC_KIND_SYN], 3 + 10);
}

TEST_F(XdpProgram, AcksOfAConnectionTheSourceOpenedNeverScore) {
  run(testing::synFrame("198.18.9.3", "198.18.0.1", 80, 41000, PC_TCP_SYN));
  for (int i = 0; i < 20; ++i) {
    run(testing::synFrame("198.18.9.3", "198.18.0.1", 80, 41000, PC_TCP_ACK));
  }
  auto s = source("198.18.9.3");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->count[PC_KIND_ACK], 0u);
  EXPECT_EQ(s->count[PC_KIND_ESTABLISHED], 20u);
  EXPECT_EQ(s->win_score[PC_KIND_ACK], 0);
}

TEST_F(XdpProgram, BlocklistedSourceIsDroppedAndCounted) {
  block("198.18.9.4", clock_.jiffiesNow() + 600 * clock_.hz);
  auto frame = testing::synFrame("198.18.9.4", "198.18.0.1", 22);
  EXPECT_EQ(run(frame), XDP_DROP);
  EXPECT_EQ(run(frame, 9), XDP_DROP);
  auto addr = parseAddr("198.18.9.4");
  pc_block b{};
  ASSERT_EQ(bpf_map_lookup_elem(fd(skel_->maps.pc_blocklist), &*addr, &b), 0);
  // The first drop looks the entry up (and counts there); the slot then caches the block.
  auto s = source("198.18.9.4");
  ASSERT_TRUE(s);
  EXPECT_EQ(b.drops + s->drops, 10u);
  EXPECT_EQ(stats().dropped, 10u);
  // Another source is untouched.
  EXPECT_EQ(run(testing::synFrame("198.18.9.5", "198.18.0.1", 22)), XDP_PASS);
}

TEST_F(XdpProgram, ExpiredBlockPassesAndIsRemovedByTheKernel) {
  block("198.18.9.6", clock_.jiffiesNow() - 1);
  EXPECT_EQ(run(testing::synFrame("198.18.9.6", "198.18.0.1", 22)), XDP_PASS);
  auto addr = parseAddr("198.18.9.6");
  pc_block b{};
  EXPECT_NE(bpf_map_lookup_elem(fd(skel_->maps.pc_blocklist), &*addr, &b), 0)
      << "the program deletes an expired entry itself";
}

TEST_F(XdpProgram, BlockOfATrackedSourceTakesEffectOnItsNextPacket) {
  auto frame = testing::synFrame("198.18.9.7", "198.18.0.1", 22);
  EXPECT_EQ(run(frame), XDP_PASS);
  block("198.18.9.7", 0);  // permanent
  EXPECT_EQ(run(frame), XDP_DROP);
}

TEST_F(XdpProgram, AllowlistedSourceIsNeverScoredNorDropped) {
  auto addr = parseAddr("198.18.9.8");
  pc_prefix_key k{128, *addr};
  uint8_t one = 1;
  ASSERT_EQ(bpf_map_update_elem(fd(skel_->maps.pc_allowlist), &k, &one, BPF_ANY), 0);
  uint32_t key = 0;
  pc_control ctl{};
  bpf_map_lookup_elem(fd(skel_->maps.pc_control), &key, &ctl);
  ctl.gen++;
  ctl.nr_allow = 1;
  bpf_map_update_elem(fd(skel_->maps.pc_control), &key, &ctl, BPF_ANY);
  block("198.18.9.8", 0);
  EXPECT_EQ(run(testing::synFrame("198.18.9.8", "198.18.0.1", 13)), XDP_PASS);
  auto s = source("198.18.9.8");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->count[PC_KIND_SYN], 0u);
  EXPECT_GE(stats().allowed, 1u);
}

// Hostile input: mutated and random frames. Nothing is blocklisted, so every one must pass,
// be counted, and leave the program and its maps consistent.
TEST_F(XdpProgram, AMalformedCorpusIsCountedAndPassedNeverDropped) {
  auto cases = testing::packetCases();
  std::mt19937 rng(1234);
  pc_stats before = stats();
  uint64_t runs = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> f = cases[rng() % cases.size()].frame;
    switch (rng() % 4) {
      case 0:  // flip bits in the headers
        for (int k = 0; k < 4 && !f.empty(); ++k) f[rng() % f.size()] ^= uint8_t(1u << (rng() % 8));
        break;
      case 1:  // truncate anywhere
        f.resize(f.empty() ? 0 : rng() % f.size());
        break;
      case 2:  // random bytes with an IPv4 or IPv6 EtherType
        f.assign(14 + rng() % 120, 0);
        for (auto& b : f) b = uint8_t(rng());
        f[12] = (rng() & 1) ? 0x08 : 0x86;
        f[13] = f[12] == 0x08 ? 0x00 : 0xdd;
        break;
      default:  // VLAN tags stacked deeper than the parser follows
        if (f.size() < 14) break;
        f.insert(f.begin() + 12, {0x81, 0x00, 0x00, 0x01, 0x81, 0x00, 0x00, 0x02, 0x88, 0xa8, 0x00, 0x03});
        break;
    }
    if (f.size() < 14) continue;
    EXPECT_EQ(run(f), XDP_PASS);
    ++runs;
  }
  pc_stats after = stats();
  EXPECT_EQ(after.packets - before.packets, runs);
  EXPECT_EQ(after.dropped, before.dropped);
  EXPECT_EQ(after.packets - before.packets,
            (after.parsed - before.parsed) + (after.unparsable - before.unparsable) +
                (after.non_ip - before.non_ip))
      << "every packet is parsed, unparsable or not IP";
  EXPECT_GT(after.unparsable - before.unparsable, 1000u);
}

struct TcDeleter {
  void operator()(tc_egress* s) const { tc_egress__destroy(s); }
};

// The TC egress program writes the host's answers into the peer's slot of the shared table.
TEST_F(XdpProgram, EgressAnswersLandInThePeersSlot) {
  std::unique_ptr<tc_egress, TcDeleter> tc(tc_egress__open());
  ASSERT_TRUE(tc);
  const_cast<pc_tuning&>(tc->rodata->pc_tuning) = tuning_;
  bpf_map* map;
  bpf_object__for_each_map(map, tc->obj) {
    bpf_map__set_pin_path(map, nullptr);
    if (bpf_map__is_internal(map)) continue;
    bpf_map* shared = bpf_object__find_map_by_name(skel_->obj, bpf_map__name(map));
    ASSERT_TRUE(shared);
    ASSERT_EQ(bpf_map__reuse_fd(map, bpf_map__fd(shared)), 0);
  }
  ASSERT_EQ(tc_egress__load(tc.get()), 0) << "the verifier rejected the egress program";
  auto egress = [&](const std::vector<uint8_t>& frame) {
    std::vector<uint8_t> copy = frame;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = copy.data(),
                .data_size_in = uint32_t(copy.size()), .repeat = 1);
    EXPECT_EQ(bpf_prog_test_run_opts(bpf_program__fd(tc->progs.portcullis_egress), &opts), 0);
  };
  const std::string peer = "198.18.9.20", host = "198.18.0.1";
  // An answer to a peer without a slot creates nothing.
  egress(testing::synFrame(host, "198.18.9.21", 40000, 22, PC_TCP_RST | PC_TCP_ACK));
  EXPECT_FALSE(source("198.18.9.21"));
  // The peer probes two ports: one open (SYN-ACK, then its RST: half-open), one closed (RST).
  run(testing::synFrame(peer, host, 22, 40000, PC_TCP_SYN));
  run(testing::synFrame(peer, host, 23, 40000, PC_TCP_SYN));
  egress(testing::synFrame(host, peer, 40000, 22, PC_TCP_SYN | PC_TCP_ACK));
  egress(testing::synFrame(host, peer, 40000, 23, PC_TCP_RST | PC_TCP_ACK));
  run(testing::synFrame(peer, host, 22, 40000, PC_TCP_RST));
  auto s = source(peer);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->synack_out, 1u);
  EXPECT_EQ(s->rst_out, 1u);
  EXPECT_EQ(s->reset_after_synack, 1u);
  EXPECT_EQ(s->acked, 0u);
  // A client completing a handshake.
  const std::string client = "198.18.9.22";
  run(testing::synFrame(client, host, 80, 41000, PC_TCP_SYN));
  egress(testing::synFrame(host, client, 41000, 80, PC_TCP_SYN | PC_TCP_ACK));
  run(testing::synFrame(client, host, 80, 41000, PC_TCP_ACK));
  run(testing::synFrame(client, host, 80, 41000, PC_TCP_FIN | PC_TCP_ACK));
  egress(testing::synFrame(host, client, 41000, 80, PC_TCP_FIN | PC_TCP_ACK));
  auto c = source(client);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->acked, 1u);
  EXPECT_EQ(c->fin_in, 1u);
  EXPECT_EQ(c->fin_out, 1u);
  EXPECT_EQ(c->count[PC_KIND_ESTABLISHED], 2u);
}

}  // namespace
}  // namespace portcullis
