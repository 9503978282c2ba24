// ARP discovery frames: what we send and which replies we accept (hostile input included).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "arp_ping.h"

namespace portcullis::scan {
namespace {

const net::MacAddress kOurMac = *net::MacAddress::parse("02:00:00:00:00:01");
const net::MacAddress kTheirMac = *net::MacAddress::parse("02:00:00:00:00:02");
const net::Ipv4Address kOurIp = *net::Ipv4Address::parse("198.18.0.1");
const net::Ipv4Address kTheirIp = *net::Ipv4Address::parse("198.18.0.2");

// The reply a neighbour sends: our request turned around.
std::vector<uint8_t> replyFrame() {
  auto f = arpRequestFrame(kOurMac, kOurIp, kTheirIp);
  std::copy(kOurMac.bytes.begin(), kOurMac.bytes.end(), f.begin());  // unicast to us
  std::copy(kTheirMac.bytes.begin(), kTheirMac.bytes.end(), f.begin() + 6);
  f[14 + 7] = 2;                                                              // op: reply
  std::copy(kTheirMac.bytes.begin(), kTheirMac.bytes.end(), f.begin() + 22);  // sender MAC
  const uint32_t spa = kTheirIp.networkOrder();
  const uint32_t tpa = kOurIp.networkOrder();
  std::memcpy(&f[28], &spa, 4);
  std::copy(kOurMac.bytes.begin(), kOurMac.bytes.end(), f.begin() + 32);
  std::memcpy(&f[38], &tpa, 4);
  return f;
}

TEST(ArpFrames, RequestIsABroadcastWhoHasPaddedToTheEthernetMinimum) {
  const auto f = arpRequestFrame(kOurMac, kOurIp, kTheirIp);
  ASSERT_EQ(f.size(), 60u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(f[i], 0xff) << "destination byte " << i;
  EXPECT_TRUE(std::equal(kOurMac.bytes.begin(), kOurMac.bytes.end(), f.begin() + 6));
  EXPECT_EQ(f[12], 0x08);
  EXPECT_EQ(f[13], 0x06);
  const std::vector<uint8_t> fixed = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};
  EXPECT_TRUE(std::equal(fixed.begin(), fixed.end(), f.begin() + 14));
  EXPECT_TRUE(std::equal(kOurMac.bytes.begin(), kOurMac.bytes.end(), f.begin() + 22));
  EXPECT_EQ((std::vector<uint8_t>(f.begin() + 28, f.begin() + 32)),
            (std::vector<uint8_t>{198, 18, 0, 1}));
  EXPECT_EQ((std::vector<uint8_t>(f.begin() + 32, f.begin() + 38)), std::vector<uint8_t>(6, 0));
  EXPECT_EQ((std::vector<uint8_t>(f.begin() + 38, f.begin() + 42)),
            (std::vector<uint8_t>{198, 18, 0, 2}));
}

TEST(ArpFrames, ReplyGivesTheSendersAddressAndMac) {
  const auto f = replyFrame();
  net::Ipv4Address ip;
  net::MacAddress mac;
  ASSERT_TRUE(parseArpReply(f.data(), f.size(), ip, mac));
  EXPECT_EQ(ip, kTheirIp);
  EXPECT_EQ(mac, kTheirMac);
}

TEST(ArpFrames, RequestsAndOtherFramesAreNotReplies) {
  net::Ipv4Address ip;
  net::MacAddress mac;
  const auto request = arpRequestFrame(kOurMac, kOurIp, kTheirIp);
  EXPECT_FALSE(parseArpReply(request.data(), request.size(), ip, mac));
  auto wrongType = replyFrame();
  wrongType[13] = 0x00;  // EtherType IPv4
  EXPECT_FALSE(parseArpReply(wrongType.data(), wrongType.size(), ip, mac));
  auto wrongSizes = replyFrame();
  wrongSizes[14 + 4] = 8;  // hardware address length
  EXPECT_FALSE(parseArpReply(wrongSizes.data(), wrongSizes.size(), ip, mac));
}

TEST(ArpFrames, TruncatedRepliesAreRejectedAtEveryLength) {
  const auto f = replyFrame();
  net::Ipv4Address ip;
  net::MacAddress mac;
  for (size_t len = 0; len < 42; ++len) {
    EXPECT_FALSE(parseArpReply(f.data(), len, ip, mac)) << "length " << len;
  }
  EXPECT_TRUE(parseArpReply(f.data(), 42, ip, mac));
}

}  // namespace
}  // namespace portcullis::scan
