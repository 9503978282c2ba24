// The XDP program through BPF_PROG_TEST_RUN: packet in, verdict and map state out.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/if_link.h>
#include <unistd.h>

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <bit>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "datapath/kernel_clock.h"
#include "datapath/control_page.h"
#include "datapath/mapped_array.h"
#include "portcullis/control.h"
#include "portcullis/event.h"
#include "portcullis/update.h"
#include "datapath/net_util.h"
#include "datapath/source_table.h"
#include "datapath/xdp_datapath.h"
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
    tune(t);
    ASSERT_EQ(xdp_ingress__load(skel_.get()), 0) << "the verifier rejected the program";
    tuning_ = t;
    uint32_t key = 0;
    pc_control ctl{};
    ctl.gen = 1;
    ASSERT_EQ(bpf_map_update_elem(fd(skel_->maps.pc_control), &key, &ctl, BPF_ANY), 0);
  }

  virtual void tune(pc_tuning& t) {
    t.admit_targets = 1;
    t.v6_prefix = 128;  // the cases' IPv6 sources share a /64; aggregation is tested by replay
  }

  static int fd(bpf_map* m) { return bpf_map__fd(m); }

  int run(const std::vector<uint8_t>& frame, uint32_t repeat = 1) {
    std::vector<uint8_t> copy = frame;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = copy.data(),
                .data_size_in = uint32_t(copy.size()), .repeat = int(repeat));
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
      if (bpf_map_lookup_elem(fd(skel_->maps.pc_sources), &i, &s) == 0 && (s.flags & PC_SRC_USED) &&
          pc_addr_eq(&s.key, &*addr)) {
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

// The controller polls through mappings of the kernel's arrays: the slot tags say which pairs
// hold a source, so the poll reads only those slots (nextOccupied) and still finds every one.
TEST_F(XdpProgram, TheControllerFindsEverySourceThroughTheMappedSlotTags) {
  MappedArray sources(fd(skel_->maps.pc_sources));
  MappedArray tags(fd(skel_->maps.pc_tags));
  auto slots = sources.values<const pc_src_state>();
  auto occupancy = tags.values<const pc_slot_tags>();
  ASSERT_EQ(slots.size(), PC_SOURCES_DEFAULT);
  ASSERT_EQ(occupancy.size(), PC_SOURCES_DEFAULT / 2);
  EXPECT_TRUE(tags.values<const pc_src_state>().empty()) << "a value of another size is refused";
  EXPECT_EQ(nextOccupied(occupancy, 0), slots.size()) << "an empty table: every pair skipped";

  const std::vector<std::string> sourcesSent = {"198.51.100.7", "203.0.113.200", "2001:db8::9"};
  for (const auto& src : sourcesSent) {
    run(testing::synFrame(src, src.find(':') != std::string::npos ? "2001:db8::1" : "192.0.2.1",
                          22));
  }
  std::set<std::string> found;
  for (size_t i = nextOccupied(occupancy, 0); i < slots.size();
       i = nextOccupied(occupancy, i + 1)) {
    if (slots[i].flags & PC_SRC_USED) found.insert(formatAddr(slots[i].key));
  }
  EXPECT_EQ(found, std::set<std::string>(sourcesSent.begin(), sourcesSent.end()));
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

// A slot that caches a current block drops its source's packets on the source address alone,
// before the rest is parsed: whatever follows the IP header (cut off, inconsistent, a later
// fragment, behind a VLAN tag) is dropped and counted as parsed, not unparsable. The same
// frames from an unblocked source are passed and counted unparsable (the control), and so are
// the blocked source's once its block is lifted.
TEST_F(XdpProgram, ABlockedSourceIsDroppedOnItsAddressWhateverFollowsIt) {
  auto withSource = [](const std::string& src) {
    auto syn = testing::synFrame(src, "198.18.0.1", 22);
    auto cutInTcp = std::vector<uint8_t>(syn.begin(), syn.begin() + 14 + 20 + 10);
    auto badOffset = syn;
    badOffset[14 + 20 + 12] = 0x40;  // data offset 4 words
    auto laterFragment = syn;
    laterFragment[14 + 6] = 0x00;
    laterFragment[14 + 7] = 0x10;  // offset 128 bytes
    auto tagged = syn;
    const uint8_t tag[] = {0x81, 0x00, 0x00, 0x2a};
    tagged.insert(tagged.begin() + 12, std::begin(tag), std::end(tag));
    return std::vector<std::vector<uint8_t>>{cutInTcp, badOffset, laterFragment, tagged};
  };
  const std::string blocked = "198.18.9.20", other = "198.18.9.21";
  block(blocked, 0);
  ASSERT_EQ(run(testing::synFrame(blocked, "198.18.0.1", 22)), XDP_DROP);  // caches the block
  ASSERT_TRUE(source(blocked) && (source(blocked)->flags & PC_SRC_BLOCKED));

  pc_stats before = stats();
  for (const auto& frame : withSource(blocked)) EXPECT_EQ(run(frame), XDP_DROP);
  pc_stats after = stats();
  EXPECT_EQ(after.dropped - before.dropped, 4u);
  EXPECT_EQ(after.parsed - before.parsed, 4u);
  EXPECT_EQ(after.unparsable - before.unparsable, 0u);
  EXPECT_EQ(source(blocked)->drops, 4u);

  before = stats();
  for (const auto& frame : withSource(other)) EXPECT_EQ(run(frame), XDP_PASS);
  after = stats();
  EXPECT_EQ(after.dropped - before.dropped, 0u);
  EXPECT_EQ(after.unparsable - before.unparsable, 2u) << "cut in TCP, bad data offset";

  auto addr = parseAddr(blocked);
  ASSERT_EQ(bpf_map_delete_elem(fd(skel_->maps.pc_blocklist), &*addr), 0);
  uint32_t key = 0;
  pc_control ctl{};
  bpf_map_lookup_elem(fd(skel_->maps.pc_control), &key, &ctl);
  ctl.gen++;
  ctl.nr_blocks = 0;
  ASSERT_EQ(bpf_map_update_elem(fd(skel_->maps.pc_control), &key, &ctl, BPF_ANY), 0);
  for (const auto& frame : withSource(blocked)) EXPECT_EQ(run(frame), XDP_PASS);
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

// --dst-ip with a prefix (a gateway protecting the network behind it) and an address: packets to
// either are scored, packets elsewhere are not (counted as not watched).
TEST_F(XdpProgram, ADestinationPrefixWatchesItsNetworkAndNothingElse) {
  uint32_t key = 0;
  pc_control ctl{};
  bpf_map_lookup_elem(fd(skel_->maps.pc_control), &key, &ctl);
  fillDestinationFilter(ctl, {*parsePrefix("198.19.0.0/16"), *parsePrefix("198.18.0.1")});
  ASSERT_EQ(bpf_map_update_elem(fd(skel_->maps.pc_control), &key, &ctl, BPF_ANY), 0);
  struct Case {
    const char* src;
    const char* dst;
    bool watched;
  };
  for (const Case& c :
       {Case{"198.18.9.21", "198.19.4.5", true}, Case{"198.18.9.22", "198.19.255.1", true},
        Case{"198.18.9.23", "198.18.0.1", true}, Case{"198.18.9.24", "198.20.0.1", false},
        Case{"198.18.9.25", "198.18.0.2", false}}) {
    SCOPED_TRACE(std::string(c.src) + " -> " + c.dst);
    uint64_t notWatched = stats().not_watched;
    EXPECT_EQ(run(testing::synFrame(c.src, c.dst, 22)), XDP_PASS);
    EXPECT_EQ(stats().not_watched - notWatched, c.watched ? 0u : 1u);
    EXPECT_EQ(source(c.src).has_value(), c.watched);
  }
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
        f.insert(f.begin() + 12,
                 {0x81, 0x00, 0x00, 0x01, 0x81, 0x00, 0x00, 0x02, 0x88, 0xa8, 0x00, 0x03});
        break;
    }
    if (f.size() < 14) continue;
    EXPECT_EQ(run(f), XDP_PASS);
    ++runs;
  }
  pc_stats after = stats();
  EXPECT_EQ(after.packets - before.packets, runs);
  EXPECT_EQ(after.dropped, before.dropped);
  EXPECT_EQ(after.packets - before.packets, (after.parsed - before.parsed) +
                                                (after.unparsable - before.unparsable) +
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

// Two CPUs on one program and one table, as RSS spreads a scanner's probes over RX queues:
// two threads pinned to CPUs 0 and 1, each running BPF_PROG_TEST_RUN.
class XdpTwoCpus : public XdpProgram {
 protected:
  void tune(pc_tuning& t) override {
    // The default admission (three targets) and a score window longer than the test, so the
    // score of a whole run can be compared with a single CPU's.
    t.score_window = uint64_t(clock_.hz) * 3600;
    t.slot_mask = slotMask();
  }
  virtual uint32_t slotMask() const { return PC_SOURCES_DEFAULT - 1; }

  void SetUp() override {
    XdpProgram::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    PC_REQUIRE_PRIVILEGE(std::thread::hardware_concurrency() >= 2, "needs two CPUs");
  }

  // Runs body(0) on CPU 0 and body(1) on CPU 1, started together.
  template <typename Body>
  void onTwoCpus(Body body) {
    std::atomic<int> ready{0};
    auto pinned = [&](int cpu) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      EXPECT_EQ(pthread_setaffinity_np(pthread_self(), sizeof(set), &set), 0);
      ready++;
      while (ready.load() < 2) {}
      body(cpu);
    };
    std::thread a(pinned, 0), b(pinned, 1);
    a.join();
    b.join();
  }
};

TEST_F(XdpTwoCpus, OneSourceOnBothCpusKeepsExactCountsAndScore) {
  // Ports whose score bit and port bit are each their own, so the truth does not depend on
  // which CPU got to a shared bit first: the score is the sum of their weights, the distinct
  // ports their number.
  const pc_addr host = *parseAddr("198.18.0.1");
  const uint32_t fold = pc_addr_fold(&host);
  std::set<uint32_t> scoreBits, portBits;
  std::vector<uint16_t> ports;
  uint32_t truthScore = 0;
  for (uint32_t p = 1; p < 65536 && ports.size() < 250; ++p) {
    uint32_t sb = pc_fib_bits(fold + p, 8), pb = pc_mix32(p) >> 22;
    if (scoreBits.count(sb) || portBits.count(pb)) continue;
    scoreBits.insert(sb);
    portBits.insert(pb);
    ports.push_back(uint16_t(p));
    truthScore += pc_port_weight(uint16_t(p));
  }
  constexpr int kRepeat = 500;
  // The source earns its slot first, from one CPU: this test is about many CPUs updating one
  // slot. (A promotion racing with another CPU's probes may count a probe of those moments
  // twice: the admission tier counted it, and the slot counts it again. README, "Many CPUs".)
  for (size_t i = 0; i < 3; ++i) run(testing::synFrame("198.18.7.1", "198.18.0.1", ports[i]));
  // Both CPUs send every probe, in opposite orders, each packet 500 times over.
  onTwoCpus([&](int cpu) {
    for (size_t i = 0; i < ports.size(); ++i) {
      uint16_t port = ports[cpu ? ports.size() - 1 - i : i];
      run(testing::synFrame("198.18.7.1", "198.18.0.1", port), kRepeat);
    }
  });
  auto two = source("198.18.7.1");
  ASSERT_TRUE(two);
  int bits = 0;
  for (__u64 w : two->ports) bits += std::popcount(w);
  // The first targets were counted in the admission tier and carried in (admitted_targets).
  uint32_t distinct = uint32_t(bits) + two->admitted_targets;
  EXPECT_NEAR(double(distinct), double(ports.size()), ports.size() * 0.01)
      << "distinct ports within 1 % of the truth";
  EXPECT_NEAR(double(two->win_score[PC_KIND_SYN]), double(truthScore), truthScore * 0.01)
      << "score within 1 % of the truth";
  uint64_t sent = uint64_t(2) * ports.size() * kRepeat;
  // The packet count is sampled past PC_STAT_EXACT (so the CPUs do not share its cache line on
  // every packet), and its sampled steps are atomic: an estimate, within a few per cent.
  EXPECT_NEAR(double(two->packets), double(sent), double(sent) * 0.05);
  std::printf(
      "two CPUs on one source: %zu ports, distinct %u, score %u (truth %u); packets "
      "counted %u of %llu (statistics, sampled past 1024)\n",
      ports.size(), distinct, two->win_score[PC_KIND_SYN], truthScore, two->packets,
      (unsigned long long)sent);
}

class XdpOneBucket : public XdpTwoCpus {
 protected:
  uint32_t slotMask() const override { return 1; }  // every source hashes to slots 0 and 1
};

TEST_F(XdpOneBucket, ConcurrentNewSourcesNeverTearAKeyNorShareASlot) {
  constexpr int kRounds = 100, kPerRound = 8;
  std::set<std::string> sent;
  std::vector<std::vector<std::string>> names(2);
  int torn = 0, shared = 0, checks = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (int cpu = 0; cpu < 2; ++cpu) {
      names[size_t(cpu)].clear();
      for (int i = 0; i < kPerRound; ++i) {
        std::string a = "10." + std::to_string(cpu + 1) + "." + std::to_string(round % 250) + "." +
                        std::to_string(i + 1 + 16 * (round / 250));
        names[size_t(cpu)].push_back(a);
        sent.insert(a);
      }
    }
    // Each round's sources probe more ports than the last round's, so newcomers outrank the
    // holders and both CPUs claim and evict in the same bucket at once.
    onTwoCpus([&](int cpu) {
      for (size_t i = 0; i < names[size_t(cpu)].size(); ++i) {
        for (uint16_t port = 1; port <= 4 + 3 * round + i; ++port) {
          run(testing::synFrame(names[size_t(cpu)][i], "198.18.0.1", port));
        }
      }
    });
    pc_src_state s0{}, s1{};
    uint32_t k0 = 0, k1 = 1;
    ASSERT_EQ(bpf_map_lookup_elem(fd(skel_->maps.pc_sources), &k0, &s0), 0);
    ASSERT_EQ(bpf_map_lookup_elem(fd(skel_->maps.pc_sources), &k1, &s1), 0);
    for (const pc_src_state* s : {&s0, &s1}) {
      if (!(s->flags & PC_SRC_USED)) continue;
      ++checks;
      EXPECT_EQ(s->seq % 2, 0u) << "a claim was left half done";
      if (!sent.count(formatAddr(s->key))) ++torn;
    }
    if ((s0.flags & PC_SRC_USED) && (s1.flags & PC_SRC_USED) && pc_addr_eq(&s0.key, &s1.key)) {
      ++shared;
    }
  }
  pc_stats st = stats();
  std::printf("one bucket, two CPUs: %d slot checks, %llu promotions, %llu evictions\n", checks,
              (unsigned long long)st.promotions, (unsigned long long)st.evictions);
  EXPECT_EQ(torn, 0) << "a slot held a key no one sent";
  EXPECT_EQ(shared, 0) << "two slots held one source";
  EXPECT_GE(st.evictions, uint64_t(kRounds / 4)) << "the bucket did change hands under contention";
}

}  // namespace
}  // namespace portcullis
