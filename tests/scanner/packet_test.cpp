// Packet library: header layouts, derived fields and checksums, checked against a known vector
// and against the one's-complement property (a correct checksum sums to zero).
#include <gtest/gtest.h>

#include "packet/packet.h"

namespace portcullis::net {
namespace {

const Ipv4Address kSrc = *Ipv4Address::parse("198.18.0.1");
const Ipv4Address kDst = *Ipv4Address::parse("198.18.0.2");

uint16_t get16(const std::vector<uint8_t>& v, size_t at) {
  return static_cast<uint16_t>(v[at] << 8 | v[at + 1]);
}

TEST(Checksum, MatchesTextbookIpv4Header) {
  // A widely quoted example header whose checksum is 0xb861.
  const std::vector<uint8_t> hdr = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                                    0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(internetChecksum(hdr), 0xb861);
}

TEST(Checksum, OddLengthPadsWithZero) {
  const std::vector<uint8_t> a = {0x01, 0x02, 0x03};
  const std::vector<uint8_t> b = {0x01, 0x02, 0x03, 0x00};
  EXPECT_EQ(internetChecksum(a), internetChecksum(b));
}

TEST(Builder, TcpSynOverEthernet) {
  const auto frame = PacketBuilder()
                         .ethernet(EthernetHeader()
                                       .setSrc(*MacAddress::parse("02:00:00:00:00:01"))
                                       .setDst(*MacAddress::parse("02:00:00:00:00:02")))
                         .ipv4(Ipv4Header().setSrc(kSrc).setDst(kDst).setTtl(51).setId(7))
                         .tcp(TcpHeader()
                                  .setSrcPort(40000)
                                  .setDstPort(80)
                                  .setSeq(0x01020304)
                                  .setFlags(tcp_flags::kSyn)
                                  .setWindow(1024)
                                  .addMss(1460)
                                  .addWindowScale(7))
                         .build();
  // 14 + 20 + 20 + options (4 MSS + 3 wscale -> 8).
  ASSERT_EQ(frame.size(), 14u + 20u + 28u);
  EXPECT_EQ(get16(frame, 12), kEtherTypeIpv4);
  EXPECT_EQ(frame[14], 0x45);
  EXPECT_EQ(get16(frame, 16), 48);  // total length
  EXPECT_EQ(frame[23], kIpProtoTcp);
  EXPECT_EQ(internetChecksum({frame.data() + 14, 20}), 0);
  EXPECT_EQ(frame[34 + 12] >> 4, 7);  // data offset 28 bytes
  EXPECT_EQ(frame[34 + 20], kTcpOptMss);
  EXPECT_EQ(get16(frame, 34 + 22), 1460);
  const uint32_t pseudo = pseudoHeaderSum(kSrc, kDst, kIpProtoTcp, 28);
  EXPECT_EQ(checksumFinish(checksumAdd(pseudo, {frame.data() + 34, 28})), 0);

  ParsedPacket p;
  ASSERT_TRUE(parsePacket(frame, LinkType::kEthernet, p));
  ASSERT_NE(p.tcp, nullptr);
  EXPECT_EQ(ntohs(p.tcp->dstPort), 80);
  EXPECT_EQ(ntohl(p.tcp->seq), 0x01020304u);
  EXPECT_EQ(p.tcp->flags, tcp_flags::kSyn);
  EXPECT_TRUE(p.payload.empty());
}

TEST(Builder, VlanTagCarriesInnerEtherType) {
  const auto frame = PacketBuilder()
                         .ethernet(EthernetHeader())
                         .vlan(VlanHeader().setVlanId(42).setPriority(5))
                         .ipv4(Ipv4Header().setSrc(kSrc).setDst(kDst))
                         .udp(UdpHeader().setSrcPort(1).setDstPort(53))
                         .build();
  EXPECT_EQ(get16(frame, 12), kEtherTypeVlan);
  EXPECT_EQ(get16(frame, 14), (5 << 13) | 42);
  EXPECT_EQ(get16(frame, 16), kEtherTypeIpv4);
  ParsedPacket p;
  ASSERT_TRUE(parsePacket(frame, LinkType::kEthernet, p));
  EXPECT_EQ(p.vlanId, 42);
  ASSERT_NE(p.udp, nullptr);
  EXPECT_EQ(ntohs(p.udp->length), 8);
}

TEST(Builder, UdpChecksumAndPayload) {
  const std::vector<uint8_t> data = {'h', 'i', '!'};
  const auto pkt = PacketBuilder()
                       .ipv4(Ipv4Header().setSrc(kSrc).setDst(kDst))
                       .udp(UdpHeader().setSrcPort(5353).setDstPort(53))
                       .payload(data)
                       .build();
  ASSERT_EQ(pkt.size(), 31u);
  EXPECT_EQ(get16(pkt, 24), 11);
  const uint32_t pseudo = pseudoHeaderSum(kSrc, kDst, kIpProtoUdp, 11);
  EXPECT_EQ(checksumFinish(checksumAdd(pseudo, {pkt.data() + 20, 11})), 0);
}

TEST(Builder, Ipv4OptionsArePaddedAndCounted) {
  const uint8_t rr[7] = {4, 0, 0, 0, 0, 0, 0};  // record route pointer + one empty slot
  const auto pkt =
      PacketBuilder()
          .ipv4(Ipv4Header().setSrc(kSrc).setDst(kDst).addOption(kIpv4OptRecordRoute, rr))
          .icmp(IcmpHeader().setType(kIcmpEchoRequest).setId(9).setSequence(1))
          .build();
  EXPECT_EQ(pkt[0] & 0x0f, 8);  // 20 + 9 options -> 32 bytes
  EXPECT_EQ(pkt[20], kIpv4OptRecordRoute);
  EXPECT_EQ(pkt[21], 9);
  EXPECT_EQ(internetChecksum({pkt.data(), 32}), 0);
  EXPECT_EQ(internetChecksum({pkt.data() + 32, 8}), 0);
  ParsedPacket p;
  ASSERT_TRUE(parsePacket(pkt, LinkType::kRawIp, p));
  ASSERT_NE(p.icmp, nullptr);
  EXPECT_EQ(p.icmp->type, kIcmpEchoRequest);
}

TEST(Builder, Ipv6ExtensionChainAndTcpChecksum) {
  const Ipv6Address s = *Ipv6Address::parse("2001:db8::1");
  const Ipv6Address d = *Ipv6Address::parse("2001:db8::2");
  const auto pkt =
      PacketBuilder()
          .ethernet(EthernetHeader())
          .ipv6(Ipv6Header().setSrc(s).setDst(d).addHopByHop().addDestinationOptions().addFragment(
              0, false, 0x1234))
          .tcp(TcpHeader().setSrcPort(1).setDstPort(22).setFlags(tcp_flags::kSyn))
          .build();
  EXPECT_EQ(get16(pkt, 12), kEtherTypeIpv6);
  const size_t v6 = 14;
  EXPECT_EQ(pkt[v6 + 6], kIpv6ExtHopByHop);
  EXPECT_EQ(get16(pkt, v6 + 4), 8 + 8 + 8 + 20);
  EXPECT_EQ(pkt[v6 + 40], kIpv6ExtDestOptions);
  EXPECT_EQ(pkt[v6 + 48], kIpv6ExtFragment);
  EXPECT_EQ(pkt[v6 + 56], kIpProtoTcp);
  const size_t tcpAt = v6 + 40 + 24;
  const uint32_t pseudo = pseudoHeaderSum(s, d, kIpProtoTcp, 20);
  EXPECT_EQ(checksumFinish(checksumAdd(pseudo, {pkt.data() + tcpAt, 20})), 0);
  ParsedPacket p;
  ASSERT_TRUE(parsePacket(pkt, LinkType::kEthernet, p));
  EXPECT_EQ(p.protocol, kIpProtoTcp);
  ASSERT_NE(p.tcp, nullptr);
  EXPECT_EQ(ntohs(p.tcp->dstPort), 22);
}

TEST(Builder, Icmpv6EchoUsesPseudoHeader) {
  const Ipv6Address s = *Ipv6Address::parse("fd00::1");
  const Ipv6Address d = *Ipv6Address::parse("fd00::2");
  const auto pkt = PacketBuilder()
                       .ipv6(Ipv6Header().setSrc(s).setDst(d))
                       .icmpv6(Icmpv6Header().setType(kIcmpv6EchoRequest).setId(1))
                       .build();
  const uint32_t pseudo = pseudoHeaderSum(s, d, kIpProtoIcmpv6, 8);
  EXPECT_EQ(checksumFinish(checksumAdd(pseudo, {pkt.data() + 40, 8})), 0);
}

TEST(Builder, IcmpErrorQuotesInnerPacket) {
  const auto inner = PacketBuilder()
                         .ipv4(Ipv4Header().setSrc(kSrc).setDst(kDst))
                         .udp(UdpHeader().setSrcPort(40000).setDstPort(161))
                         .build();
  const auto err = PacketBuilder()
                       .ipv4(Ipv4Header().setSrc(kDst).setDst(kSrc))
                       .icmp(IcmpHeader().setType(kIcmpUnreachable).setCode(3))
                       .payload(inner)
                       .build();
  ParsedPacket outer;
  ASSERT_TRUE(parsePacket(err, LinkType::kRawIp, outer));
  ASSERT_NE(outer.icmp, nullptr);
  ParsedPacket quoted;
  ASSERT_TRUE(parsePacket(outer.payload, LinkType::kRawIp, quoted));
  uint16_t sp = 0;
  uint16_t dp = 0;
  ASSERT_TRUE(quoted.ports(sp, dp));
  EXPECT_EQ(sp, 40000);
  EXPECT_EQ(dp, 161);
}

TEST(Builder, ExplicitFieldsAreKept) {
  const auto pkt = PacketBuilder()
                       .ipv4(Ipv4Header()
                                 .setSrc(kSrc)
                                 .setDst(kDst)
                                 .setTotalLength(9999)
                                 .setChecksum(0xdead)
                                 .setProtocol(200))
                       .tcp(TcpHeader().setChecksum(0xbeef))
                       .build();
  EXPECT_EQ(get16(pkt, 2), 9999);
  EXPECT_EQ(get16(pkt, 10), 0xdead);
  EXPECT_EQ(pkt[9], 200);
  EXPECT_EQ(get16(pkt, 36), 0xbeef);
}

TEST(Fragment, SplitsAtEightByteBoundaries) {
  const std::vector<uint8_t> data(30, 0xab);
  const auto pkt = PacketBuilder()
                       .ipv4(Ipv4Header().setSrc(kSrc).setDst(kDst).setId(77))
                       .tcp(TcpHeader().setSrcPort(1).setDstPort(2).setFlags(tcp_flags::kSyn))
                       .payload(data)
                       .build();
  const auto frags = fragmentIpv4(pkt, 8);
  ASSERT_EQ(frags.size(), 7u);  // 50 bytes of payload in 8-byte pieces
  std::vector<uint8_t> reassembled;
  for (size_t i = 0; i < frags.size(); ++i) {
    const auto& f = frags[i];
    EXPECT_EQ(internetChecksum({f.data(), 20}), 0);
    const uint16_t field = get16(f, 6);
    EXPECT_EQ((field & 0x1fff) * 8u, i * 8);
    EXPECT_EQ((field & 0x2000) != 0, i + 1 < frags.size());
    reassembled.insert(reassembled.end(), f.begin() + 20, f.end());
  }
  EXPECT_TRUE(std::equal(reassembled.begin(), reassembled.end(), pkt.begin() + 20));
  ParsedPacket p;
  ASSERT_TRUE(parsePacket(frags[1], LinkType::kRawIp, p));
  EXPECT_TRUE(p.laterFragment);
  EXPECT_EQ(p.tcp, nullptr);
}

TEST(Parser, RejectsTruncatedAndGarbage) {
  ParsedPacket p;
  const std::vector<uint8_t> empty;
  EXPECT_FALSE(parsePacket(empty, LinkType::kEthernet, p));
  std::vector<uint8_t> junk(14, 0xff);
  EXPECT_FALSE(parsePacket(junk, LinkType::kEthernet, p));
  // IPv4 with a header length of 60 but only 20 bytes present.
  std::vector<uint8_t> bad = {0x4f, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2};
  EXPECT_FALSE(parsePacket(bad, LinkType::kRawIp, p));
  // TCP header with a data offset past the end is clamped, never over-read.
  auto pkt = PacketBuilder()
                 .ipv4(Ipv4Header().setSrc(kSrc).setDst(kDst))
                 .tcp(TcpHeader().setSrcPort(1).setDstPort(2))
                 .build();
  pkt[32] = 0xf0;
  ASSERT_TRUE(parsePacket(pkt, LinkType::kRawIp, p));
  ASSERT_NE(p.tcp, nullptr);
  EXPECT_TRUE(p.payload.empty());
}

TEST(Addresses, ParseAndPrint) {
  EXPECT_EQ(Ipv4Address::parse("198.18.0.1")->value, 0xc6120001u);
  EXPECT_FALSE(Ipv4Address::parse("198.18.0"));
  EXPECT_FALSE(Ipv4Address::parse("198.18.0.256"));
  EXPECT_EQ(Ipv4Address{0xc6120001u}.toString(), "198.18.0.1");
  EXPECT_EQ(MacAddress::parse("02:aa:bb:cc:dd:0f")->toString(), "02:AA:BB:CC:DD:0F");
  EXPECT_FALSE(MacAddress::parse("02:aa:bb:cc:dd"));
  EXPECT_EQ(Ipv6Address::parse("2001:db8::1")->toString(), "2001:db8::1");
}

}  // namespace
}  // namespace portcullis::net
