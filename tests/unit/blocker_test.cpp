// The auto-block policy and its safety list, without a kernel: decisions only.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "datapath/net_util.h"
#include "respond/blocker.h"
#include "respond/memory_blocklist.h"

namespace portcullis {
namespace {

TEST(SafetyList, GatewaysComeFromTheKernelsRoutingTables) {
  std::string v4 = ::testing::TempDir() + "route", v6 = ::testing::TempDir() + "ipv6_route";
  std::ofstream(v4) << "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
                    << "eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\n"  // via 192.168.0.1
                    << "eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n";
  std::ofstream(v6)
      << "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
         "fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth0\n";
  auto gws = defaultGateways(v4, v6);
  ASSERT_EQ(gws.size(), 2u);
  EXPECT_EQ(formatPrefix(gws[0]), "192.168.0.1");
  EXPECT_EQ(formatPrefix(gws[1]), "fe80::1");
}

TEST(SafetyList, AlwaysHoldsLoopbackAndConfiguredPrefixes) {
  auto list = safetyList({*parsePrefix("198.18.5.0/24")});
  auto covered = [&](const char* a) {
    auto addr = parseAddr(a);
    for (const Prefix& p : list) {
      if (prefixContains(p, *addr)) return true;
    }
    return false;
  };
  EXPECT_TRUE(covered("127.0.0.1"));
  EXPECT_TRUE(covered("127.8.9.10"));
  EXPECT_TRUE(covered("::1"));
  EXPECT_TRUE(covered("198.18.5.200"));
  EXPECT_FALSE(covered("198.18.6.1"));
}

TEST(Prefixes, ParseFormatAndContain) {
  auto p = parsePrefix("198.18.7.99/24");
  ASSERT_TRUE(p);
  EXPECT_EQ(formatPrefix(*p), "198.18.7.0/24");
  EXPECT_TRUE(prefixContains(*p, *parseAddr("198.18.7.1")));
  EXPECT_FALSE(prefixContains(*p, *parseAddr("198.18.8.1")));
  EXPECT_FALSE(parsePrefix("198.18.7.0/33"));
  EXPECT_FALSE(parsePrefix("198.18.7.0/"));
  EXPECT_FALSE(parsePrefix("not-an-address"));
  EXPECT_EQ(formatPrefix(*parsePrefix("2001:db8::/32")), "2001:db8::/32");
}

// The blocking policy over a blocklist in memory: which alerts block, for how long, how often.
class Blocking : public ::testing::Test {
 protected:
  static constexpr uint64_t kTicksPerSecond = 1'000'000'000;  // the slot's times, in ns

  AutoBlocker& blocker(BlockPolicy policy = {}, std::vector<Prefix> protect = {}) {
    blocker_ = std::make_unique<AutoBlocker>(policy, protect, sink_);
    blocker_->setBlocklist(0, &blocklist_, kTicksPerSecond);
    return *blocker_;
  }
  // A source that scanned `syns` ports and answered the host's SYN-ACK (the real sender).
  static pc_src_state scanner(const char* addr, uint32_t syns, uint8_t prefixLen = 0) {
    pc_src_state s{};
    s.key = *parseAddr(addr);
    s.prefix_len = prefixLen;
    s.count[PC_KIND_SYN] = syns;
    s.reset_after_synack = 1;
    return s;
  }
  static Alert alert(const char* src) {
    Alert a;
    a.rule = "score";
    a.scan = "syn";
    a.src = src;
    return a;
  }
  std::vector<Alert> blocks() const {
    std::vector<Alert> out;
    for (const Alert& e : events_) {
      if (e.event == "block") out.push_back(e);
    }
    return out;
  }
  // Considers one alert of `slot`; returns whether it blocked.
  bool consider(AutoBlocker& b, const pc_src_state& slot, const char* src) {
    Alert a = alert(src);
    b.consider(a, 0, slot);
    return a.action == "blocked";
  }

  std::vector<Alert> events_;
  AlertSink sink_{true, nullptr, nullptr, &events_};
  int64_t clockSkew_ = 0;  // moves the blocklist's clock forward
  MemoryBlocklist blocklist_{[this] { return unixMicrosNow() + clockSkew_; }};
  std::unique_ptr<AutoBlocker> blocker_;
};

// Another node's block: applied once; sent again with its expiry a few ms off (a held
// `block --fleet` after a Redis restart) it is the same block, while a later expiry is a
// refresh and an unblock lifts it.
TEST_F(Blocking, AFleetBlockSentAgainIsAppliedOnce) {
  AutoBlocker& b = blocker();
  const Prefix p = *parsePrefix("198.18.9.9");
  const int64_t expires = unixMicrosNow() + 600'000'000;
  struct Step {
    const char* what;
    int64_t expires;
    bool unblock;
    size_t blocksAfter;
  };
  const Step steps[] = {
      {"the first message", expires, false, 1},
      {"the same message again", expires, false, 1},
      {"sent again with its expiry 4 ms off", expires + 4'000, false, 1},
      {"a refresh, 10 minutes later", expires + 600'000'000, false, 2},
      {"permanent instead", 0, false, 3},
      {"permanent again", 0, false, 3},
  };
  for (const Step& s : steps) {
    b.applyRemote(p, s.expires, "node2", s.unblock);
    EXPECT_EQ(blocks().size(), s.blocksAfter) << s.what;
  }
  EXPECT_TRUE(blocklist_.blocked(p.addr));
  b.applyRemote(p, 0, "node2", true);
  EXPECT_FALSE(blocklist_.blocked(p.addr)) << "its unblock lifts it";
}

TEST_F(Blocking, AReactingScannerIsBlockedAndASpooferIsNot) {
  AutoBlocker& b = blocker();
  pc_src_state spoofed = scanner("198.18.0.3", 2);
  spoofed.reset_after_synack = 0;  // never answered: could be anyone's address
  EXPECT_FALSE(consider(b, spoofed, "198.18.0.3"));
  EXPECT_TRUE(consider(b, scanner("198.18.0.2", 40), "198.18.0.2")) << "control";
  EXPECT_TRUE(blocklist_.blocked(*parseAddr("198.18.0.2")));
  EXPECT_FALSE(blocklist_.blocked(*parseAddr("198.18.0.3")));
}

TEST_F(Blocking, AProtectedAddressIsNeverBlocked) {
  AutoBlocker& b = blocker({}, {*parsePrefix("198.18.0.0/30")});
  EXPECT_FALSE(consider(b, scanner("198.18.0.2", 40), "198.18.0.2"));
  EXPECT_TRUE(consider(b, scanner("198.18.0.9", 40), "198.18.0.9")) << "control: outside it";
}

TEST_F(Blocking, NewBlocksPerSecondAreCappedWhateverAFloodDoes) {
  BlockPolicy policy;
  policy.maxPerSecond = 3;
  AutoBlocker& b = blocker(policy);
  for (int i = 1; i <= 50; ++i) {
    std::string addr = "198.18.1." + std::to_string(i);
    consider(b, scanner(addr.c_str(), 40), addr.c_str());
  }
  // Fifty offenders within a second or two: at most three blocks in each second.
  EXPECT_GE(blocks().size(), 3u);
  EXPECT_LE(blocks().size(), 6u);
  EXPECT_EQ(b.blocksTotal(), blocks().size());
}

TEST_F(Blocking, ARepeatOffenderIsBlockedTwiceAsLongUpToTheMaximum) {
  BlockPolicy policy;
  policy.ttlS = 600;
  policy.maxTtlS = 2000;
  AutoBlocker& b = blocker(policy);
  pc_src_state slot = scanner("198.18.0.2", 40);
  std::vector<std::string> details;
  for (int offense = 1; offense <= 3; ++offense) {
    ASSERT_TRUE(consider(b, slot, "198.18.0.2")) << "offense " << offense;
    details.push_back(blocks().back().detail);
    blocklist_.unblock(*parsePrefix("198.18.0.2"));  // the block ends,
    EXPECT_FALSE(consider(b, slot, "198.18.0.2"));   // its old evidence is seen again,
    slot.count[PC_KIND_SYN] += 40;                   // and the source scans again
  }
  EXPECT_EQ(details,
            (std::vector<std::string>{"ttl 600s", "ttl 1200s, offense 2", "ttl 2000s, offense 3"}));
}

TEST_F(Blocking, PermanentAfterTheConfiguredNumberOfBlocks) {
  BlockPolicy policy;
  policy.permanentAfter = 1;
  AutoBlocker& b = blocker(policy);
  pc_src_state slot = scanner("198.18.0.2", 40);
  ASSERT_TRUE(consider(b, slot, "198.18.0.2"));
  blocklist_.unblock(*parsePrefix("198.18.0.2"));
  EXPECT_FALSE(consider(b, slot, "198.18.0.2"));
  slot.count[PC_KIND_SYN] += 40;
  ASSERT_TRUE(consider(b, slot, "198.18.0.2"));
  EXPECT_EQ(blocks().back().detail, "permanent, offense 2");
}

TEST_F(Blocking, AnEndedBlockIsRenewedByNewProbesNotByItsOldEvidence) {
  AutoBlocker& b = blocker();
  pc_src_state slot = scanner("198.18.0.2", 40);
  ASSERT_TRUE(consider(b, slot, "198.18.0.2"));
  // SYNs that raced the block into the table before it took effect are old evidence too.
  slot.count[PC_KIND_SYN] += 30;
  blocklist_.unblock(*parsePrefix("198.18.0.2"));
  slot.count[PC_KIND_ICMP_ECHO] += 3;  // the operator pings it: no probe of a port
  EXPECT_FALSE(consider(b, slot, "198.18.0.2")) << "the old alert alone blocked again";
  slot.count[PC_KIND_SYN] += 4;
  EXPECT_FALSE(consider(b, slot, "198.18.0.2")) << "four probes are not yet a new offense";
  slot.count[PC_KIND_SYN] += 1;
  EXPECT_TRUE(consider(b, slot, "198.18.0.2")) << "control: five new SYN probes";
}

TEST_F(Blocking, AnIpv6SourceIsBlockedAsTheDatapathAggregatesIt) {
  AutoBlocker& b = blocker();
  ASSERT_TRUE(consider(b, scanner("2001:db8:1:2::", 40, 64), "2001:db8:1:2::/64"));
  auto entries = blocklist_.list();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(formatPrefix(entries[0].prefix), "2001:db8:1:2::/64");
  EXPECT_TRUE(blocklist_.blocked(*parseAddr("2001:db8:1:2:aaaa::7")));
  EXPECT_FALSE(blocklist_.blocked(*parseAddr("2001:db8:1:3::7")));
}

TEST_F(Blocking, AnExpiryIsReportedOnce) {
  AutoBlocker& b = blocker();
  ASSERT_TRUE(consider(b, scanner("198.18.0.2", 40), "198.18.0.2"));
  // Ten minutes on, the block is past its time: the blocker's own record and the blocklist's
  // sweep both see it end.
  clockSkew_ = 601'000'000;
  ASSERT_EQ(blocklist_.list().size(), 1u);
  b.sweep(unixMicrosNow() + clockSkew_);
  b.sweep(unixMicrosNow() + clockSkew_);
  EXPECT_TRUE(blocklist_.list().empty());
  size_t unblocks = 0;
  for (const Alert& e : events_) unblocks += e.event == "unblock" && e.src == "198.18.0.2";
  EXPECT_EQ(unblocks, 1u);
}

}  // namespace
}  // namespace portcullis
