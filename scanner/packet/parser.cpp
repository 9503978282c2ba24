#include "parser.h"

#include <algorithm>

namespace portcullis::net {
namespace {

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

}  // namespace

bool ParsedPacket::ports(uint16_t& src, uint16_t& dst) const {
  if ((protocol != kIpProtoTcp && protocol != kIpProtoUdp) || transport.size() < 4) {
    return false;
  }
  src = get16(transport.data());
  dst = get16(transport.data() + 2);
  return true;
}

bool ParsedPacket::tcpSeq(uint32_t& seq) const {
  if (protocol != kIpProtoTcp || transport.size() < 8) {
    return false;
  }
  const uint8_t* p = transport.data() + 4;
  seq = static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
        static_cast<uint32_t>(p[2]) << 8 | p[3];
  return true;
}

namespace {

// Where the IP header starts and which EtherType announces it; false when the frame is too short.
bool parseLinkLayer(std::span<const uint8_t> data, LinkType link, ParsedPacket& out, size_t& off,
                    uint16_t& etherType) {
  if (link == LinkType::kEthernet) {
    if (data.size() < sizeof(EthernetWire)) {
      return false;
    }
    out.ethernet = reinterpret_cast<const EthernetWire*>(data.data());
    etherType = get16(data.data() + 12);
    off = sizeof(EthernetWire);
    while ((etherType == kEtherTypeVlan || etherType == kEtherTypeQinQ) && out.vlanCount < 4) {
      if (data.size() < off + sizeof(VlanWire)) {
        return false;
      }
      if (out.vlanCount == 0) {
        out.vlanId = get16(data.data() + off) & 0x0fff;
      }
      ++out.vlanCount;
      etherType = get16(data.data() + off + 2);
      off += sizeof(VlanWire);
    }
  } else if (link == LinkType::kLinuxCooked) {
    if (data.size() < 16) {
      return false;
    }
    etherType = get16(data.data() + 14);
    off = 16;
  } else {
    if (data.empty()) {
      return false;
    }
    etherType = (data[0] >> 4) == 6 ? kEtherTypeIpv6 : kEtherTypeIpv4;
  }
  return true;
}

// How parsing goes on after the network layer: a malformed header fails the whole packet, a
// truncated IPv6 extension header ends it successfully with no transport layer.
enum class NetworkStep { kFail, kStop, kContinue };

NetworkStep parseIpv4Layer(const uint8_t* base, size_t& off, size_t& end, ParsedPacket& out) {
  if (end < off + sizeof(Ipv4Wire) || (base[off] >> 4) != 4) {
    return NetworkStep::kFail;
  }
  const size_t ihl = static_cast<size_t>(base[off] & 0x0f) * 4;
  const size_t total = get16(base + off + 2);
  if (ihl < sizeof(Ipv4Wire) || off + ihl > end) {
    return NetworkStep::kFail;
  }
  // A quoted datagram is usually cut short: trust the capture length when it is smaller.
  if (total >= ihl && off + total < end) {
    end = off + total;
  }
  out.ipv4 = reinterpret_cast<const Ipv4Wire*>(base + off);
  out.network = {base + off, end - off};
  out.protocol = out.ipv4->protocol;
  out.laterFragment = (get16(base + off + 6) & 0x1fff) != 0;
  off += ihl;
  return NetworkStep::kContinue;
}

NetworkStep parseIpv6Layer(const uint8_t* base, size_t& off, size_t& end, ParsedPacket& out) {
  if (end < off + sizeof(Ipv6Wire) || (base[off] >> 4) != 6) {
    return NetworkStep::kFail;
  }
  const size_t total = sizeof(Ipv6Wire) + get16(base + off + 4);
  if (off + total < end) {
    end = off + total;
  }
  out.ipv6 = reinterpret_cast<const Ipv6Wire*>(base + off);
  out.network = {base + off, end - off};
  uint8_t nh = out.ipv6->nextHeader;
  off += sizeof(Ipv6Wire);
  // Walk at most 8 extension headers: enough for real traffic, bounded for hostile input.
  for (int i = 0; i < 8; ++i) {
    if (nh == kIpv6ExtHopByHop || nh == kIpv6ExtRouting || nh == kIpv6ExtDestOptions) {
      if (end < off + 8) {
        return NetworkStep::kStop;
      }
      const size_t len = (static_cast<size_t>(base[off + 1]) + 1) * 8;
      nh = base[off];
      off += len;
    } else if (nh == kIpv6ExtFragment) {
      if (end < off + 8) {
        return NetworkStep::kStop;
      }
      out.laterFragment = (get16(base + off + 2) & 0xfff8) != 0;
      nh = base[off];
      off += 8;
    } else {
      break;
    }
  }
  out.protocol = nh;
  return NetworkStep::kContinue;
}

void parseTransportLayer(const uint8_t* base, size_t off, size_t end, ParsedPacket& out) {
  out.transport = {base + off, end - off};
  const size_t avail = end - off;
  if (out.protocol == kIpProtoTcp && avail >= sizeof(TcpWire)) {
    out.tcp = reinterpret_cast<const TcpWire*>(base + off);
    size_t hl = static_cast<size_t>(out.tcp->dataOffset >> 4) * 4;
    if (hl < sizeof(TcpWire) || hl > avail) {
      hl = std::min(avail, sizeof(TcpWire));
    }
    out.payload = {base + off + hl, avail - hl};
  } else if (out.protocol == kIpProtoUdp && avail >= sizeof(UdpWire)) {
    out.udp = reinterpret_cast<const UdpWire*>(base + off);
    out.payload = {base + off + sizeof(UdpWire), avail - sizeof(UdpWire)};
  } else if ((out.protocol == kIpProtoIcmp || out.protocol == kIpProtoIcmpv6) &&
             avail >= sizeof(IcmpWire)) {
    out.icmp = reinterpret_cast<const IcmpWire*>(base + off);
    out.payload = {base + off + sizeof(IcmpWire), avail - sizeof(IcmpWire)};
  }
}

}  // namespace

bool parsePacket(std::span<const uint8_t> data, LinkType link, ParsedPacket& out) {
  out = ParsedPacket{};
  size_t off = 0;
  uint16_t etherType = 0;
  if (!parseLinkLayer(data, link, out, off, etherType)) {
    return false;
  }
  const uint8_t* base = data.data();
  size_t end = data.size();
  NetworkStep step = NetworkStep::kFail;
  if (etherType == kEtherTypeIpv4) {
    step = parseIpv4Layer(base, off, end, out);
  } else if (etherType == kEtherTypeIpv6) {
    step = parseIpv6Layer(base, off, end, out);
  }
  if (step == NetworkStep::kFail) {
    return false;
  }
  if (step == NetworkStep::kStop || off > end || out.laterFragment) {
    return true;
  }
  parseTransportLayer(base, off, end, out);
  return true;
}

}  // namespace portcullis::net
