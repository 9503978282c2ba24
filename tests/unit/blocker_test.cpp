// The auto-block policy and its safety list, without a kernel: decisions only.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "respond/blocker.h"
#include "datapath/net_util.h"

namespace portcullis {
namespace {

TEST(SafetyList, GatewaysComeFromTheKernelsRoutingTables) {
  std::string v4 = ::testing::TempDir() + "route", v6 = ::testing::TempDir() + "ipv6_route";
  std::ofstream(v4) << "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
                    << "eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\n"  // via 192.168.0.1
                    << "eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n";
  std::ofstream(v6) << "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
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

}  // namespace
}  // namespace portcullis
