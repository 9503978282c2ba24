#include "packet_cases.h"

#include <array>
#include <cstring>

#include "packet/builder.h"
#include "packet/ipv4.h"

namespace portcullis::testing {

using namespace portcullis::net;

namespace {

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kUrg = 0x20;

Ipv4Address v4(const std::string& s) { return *Ipv4Address::parse(s); }
Ipv6Address v6(const std::string& s) { return *Ipv6Address::parse(s); }

struct Scan {
  const char* name;
  int kind;
  uint8_t flags;  // for TCP
  int proto;      // 6, 17, 1 (echo request)
};

const Scan kScans[] = {
    {"syn", PC_KIND_SYN, kSyn, 6},
    {"ack", PC_KIND_ACK, kAck, 6},
    {"null", PC_KIND_NULL, 0, 6},
    {"fin", PC_KIND_FIN, kFin, 6},
    {"xmas", PC_KIND_XMAS, kFin | kPsh | kUrg, 6},
    {"maimon", PC_KIND_MAIMON, kFin | kAck, 6},
    {"synfin", PC_KIND_SYNFIN, kSyn | kFin, 6},
    {"synrst", PC_KIND_SYNRST, kSyn | kRst, 6},
    {"udp", PC_KIND_UDP, 0, 17},
    {"icmp-echo", PC_KIND_ICMP_ECHO, 0, 1},
};

PacketBuilder& addL4(PacketBuilder& b, const Scan& s, bool ipv6, uint16_t dport) {
  if (s.proto == 6) {
    b.tcp(TcpHeader().setSrcPort(40000).setDstPort(dport).setFlags(s.flags).setWindow(1024).addMss(
        1460));
  } else if (s.proto == 17) {
    b.udp(UdpHeader().setSrcPort(40000).setDstPort(dport));
  } else if (ipv6) {
    b.icmpv6(Icmpv6Header().setType(128).setCode(0));
  } else {
    b.icmp(IcmpHeader().setType(8).setCode(0));
  }
  return b;
}

std::vector<uint8_t> withEthernet(const std::vector<uint8_t>& l3, uint16_t etherType) {
  std::vector<uint8_t> frame(14 + l3.size(), 0);
  if (!l3.empty()) std::memcpy(frame.data() + 14, l3.data(), l3.size());
  frame[0] = 0x02;
  frame[6] = 0x02;
  frame[11] = 1;
  frame[12] = uint8_t(etherType >> 8);
  frame[13] = uint8_t(etherType);
  return frame;
}

}  // namespace

std::vector<uint8_t> synFrame(const std::string& src, const std::string& dst, uint16_t dport,
                              uint16_t sport, uint8_t flags) {
  PacketBuilder b;
  b.ethernet(EthernetHeader());
  if (src.find(':') != std::string::npos) {
    b.ipv6(Ipv6Header().setSrc(v6(src)).setDst(v6(dst)));
  } else {
    b.ipv4(Ipv4Header().setSrc(v4(src)).setDst(v4(dst)));
  }
  b.tcp(TcpHeader().setSrcPort(sport).setDstPort(dport).setFlags(flags).setWindow(1024));
  return b.build();
}

std::vector<PacketCase> packetCases() {
  std::vector<PacketCase> cases;
  int host = 1;
  auto nextV4 = [&] { return "198.18.1." + std::to_string(host++); };
  auto nextV6 = [&] { return "2001:db8::" + std::to_string(host++); };
  const uint16_t dport = 22;

  for (const Scan& s : kScans) {
    {  // plain IPv4
      std::string src = nextV4();
      PacketBuilder b;
      b.ethernet(EthernetHeader()).ipv4(Ipv4Header().setSrc(v4(src)).setDst(v4("198.18.0.1")));
      cases.push_back({std::string("ipv4 ") + s.name, addL4(b, s, false, dport).build(),
                       PC_PARSE_OK, s.kind, src, s.proto == 1 ? uint16_t(0) : dport});
    }
    {  // IPv4 behind an 802.1Q tag
      std::string src = nextV4();
      PacketBuilder b;
      b.ethernet(EthernetHeader()).vlan(VlanHeader().setVlanId(42));
      b.ipv4(Ipv4Header().setSrc(v4(src)).setDst(v4("198.18.0.1")));
      cases.push_back({std::string("vlan ipv4 ") + s.name, addL4(b, s, false, dport).build(),
                       PC_PARSE_OK, s.kind, src, s.proto == 1 ? uint16_t(0) : dport});
    }
    {  // IPv4 with options (NOP NOP NOP EOL): the IHL says 24
      std::string src = nextV4();
      const std::array<uint8_t, 4> opts{1, 1, 1, 0};
      PacketBuilder b;
      b.ethernet(EthernetHeader());
      b.ipv4(Ipv4Header().setSrc(v4(src)).setDst(v4("198.18.0.1")).addRawOptions(opts));
      cases.push_back({std::string("ipv4 options ") + s.name, addL4(b, s, false, dport).build(),
                       PC_PARSE_OK, s.kind, src, s.proto == 1 ? uint16_t(0) : dport});
    }
    {  // plain IPv6
      std::string src = nextV6();
      PacketBuilder b;
      b.ethernet(EthernetHeader()).ipv6(Ipv6Header().setSrc(v6(src)).setDst(v6("2001:db8::1")));
      cases.push_back({std::string("ipv6 ") + s.name, addL4(b, s, true, dport).build(), PC_PARSE_OK,
                       s.kind, src, s.proto == 1 ? uint16_t(0) : dport});
    }
    {  // IPv6 with hop-by-hop and destination options
      std::string src = nextV6();
      PacketBuilder b;
      b.ethernet(EthernetHeader()).vlan(VlanHeader().setVlanId(7));
      b.ipv6(Ipv6Header()
                 .setSrc(v6(src))
                 .setDst(v6("2001:db8::1"))
                 .addHopByHop()
                 .addDestinationOptions());
      cases.push_back({std::string("vlan ipv6 ext ") + s.name, addL4(b, s, true, dport).build(),
                       PC_PARSE_OK, s.kind, src, s.proto == 1 ? uint16_t(0) : dport});
    }
  }

  {  // nmap -f: the first fragment holds 8 bytes of TCP (ports, no flags), then the rest
    std::string src = nextV4();
    PacketBuilder b;
    b.ipv4(Ipv4Header().setSrc(v4(src)).setDst(v4("198.18.0.1")));
    b.tcp(TcpHeader().setSrcPort(40000).setDstPort(443).setFlags(kSyn));
    auto frags = fragmentIpv4(b.build(), 8);
    cases.push_back({"ipv4 tiny first fragment", withEthernet(frags.at(0), 0x0800),
                     PC_PARSE_FRAGMENT, PC_KIND_FRAGMENT, src, 443});
    cases.push_back({"ipv4 later fragment", withEthernet(frags.at(1), 0x0800), PC_PARSE_FRAGMENT,
                     PC_KIND_FRAGMENT, src, 0});
  }
  {  // a first fragment big enough to hold the whole TCP header is classified
    std::string src = nextV4();
    PacketBuilder b;
    b.ipv4(Ipv4Header().setSrc(v4(src)).setDst(v4("198.18.0.1")));
    b.tcp(TcpHeader().setSrcPort(40000).setDstPort(80).setFlags(kFin | kPsh | kUrg));
    std::vector<uint8_t> payload(64, 0xab);
    b.payload(payload);
    auto frags = fragmentIpv4(b.build(), 32);
    cases.push_back({"ipv4 classified first fragment", withEthernet(frags.at(0), 0x0800),
                     PC_PARSE_OK, PC_KIND_XMAS, src, 80});
  }
  {  // IPv6 later fragment
    std::string src = nextV6();
    PacketBuilder b;
    b.ethernet(EthernetHeader());
    b.ipv6(Ipv6Header().setSrc(v6(src)).setDst(v6("2001:db8::1")).addFragment(64, false, 7));
    std::vector<uint8_t> payload(16, 0);
    b.payload(payload);
    cases.push_back({"ipv6 later fragment", b.build(), PC_PARSE_FRAGMENT, PC_KIND_FRAGMENT, src});
  }

  // Truncated at every header boundary (and inside each header) of a VLAN-tagged IPv4 SYN
  // carrying an MSS option: Ethernet 14, VLAN 4, IPv4 20, TCP 24.
  {
    std::string src = nextV4();
    PacketBuilder b;
    b.ethernet(EthernetHeader()).vlan(VlanHeader().setVlanId(3));
    b.ipv4(Ipv4Header().setSrc(v4(src)).setDst(v4("198.18.0.1")));
    b.tcp(TcpHeader().setSrcPort(40000).setDstPort(80).setFlags(kSyn).addMss(1460));
    auto full = b.build();
    for (size_t len :
         {size_t(0), size_t(6), size_t(13), size_t(14), size_t(16), size_t(18), size_t(30),
          size_t(37), size_t(38), size_t(50), size_t(57), size_t(58), size_t(61)}) {
      cases.push_back({"truncated at " + std::to_string(len),
                       std::vector<uint8_t>(full.begin(), full.begin() + long(len)),
                       PC_PARSE_MALFORMED, -1, ""});
    }
    cases.push_back({"whole vlan ipv4 syn", full, PC_PARSE_OK, PC_KIND_SYN, src, 80});
  }
  {  // IPv6 truncated inside the fixed header and inside an extension header
    std::string src = nextV6();
    PacketBuilder b;
    b.ethernet(EthernetHeader());
    b.ipv6(Ipv6Header().setSrc(v6(src)).setDst(v6("2001:db8::1")).addDestinationOptions());
    b.tcp(TcpHeader().setSrcPort(40000).setDstPort(80).setFlags(kSyn));
    auto full = b.build();
    for (size_t len : {size_t(30), size_t(54), size_t(58), size_t(62), size_t(70)}) {
      cases.push_back({"ipv6 truncated at " + std::to_string(len),
                       std::vector<uint8_t>(full.begin(), full.begin() + long(len)),
                       PC_PARSE_MALFORMED, -1, ""});
    }
  }
  {  // IHL below 5 words
    std::string src = nextV4();
    auto frame = synFrame(src, "198.18.0.1", 80);
    frame[14] = 0x44;
    cases.push_back({"ipv4 bad ihl 4", frame, PC_PARSE_MALFORMED, -1, ""});
    frame[14] = 0x4f;  // 60 bytes of header in a 40-byte packet
    cases.push_back({"ipv4 ihl past the packet", frame, PC_PARSE_MALFORMED, -1, ""});
  }
  {  // TCP data offset below 5 words, and past the segment
    std::string src = nextV4();
    auto frame = synFrame(src, "198.18.0.1", 80);
    frame[14 + 20 + 12] = 0x40;
    cases.push_back({"tcp data offset 4", frame, PC_PARSE_MALFORMED, -1, ""});
    frame[14 + 20 + 12] = 0xf0;
    cases.push_back({"tcp data offset past the segment", frame, PC_PARSE_MALFORMED, -1, ""});
  }
  {  // ARP is not ours to judge
    std::vector<uint8_t> arp(42, 0);
    arp[12] = 0x08;
    arp[13] = 0x06;
    cases.push_back({"arp", arp, PC_PARSE_NOT_IP, -1, ""});
  }
  return cases;
}

}  // namespace portcullis::testing
