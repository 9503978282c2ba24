#pragma once
// PacketBuilder: stacks header objects and payload into one frame, filling in what the layers
// say about each other (EtherType, protocol / next header, lengths, checksums).
//
//   auto frame = PacketBuilder()
//       .ethernet(EthernetHeader().setSrc(a).setDst(b))
//       .ipv4(Ipv4Header().setSrc(s).setDst(d).setTtl(64))
//       .tcp(TcpHeader().setSrcPort(40000).setDstPort(80).setFlags(tcp_flags::kSyn).addMss(1460))
//       .build();
//
// Start with ipv4()/ipv6() instead of ethernet() for a packet a raw socket sends.

#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "ethernet.h"
#include "icmp.h"
#include "icmpv6.h"
#include "ipv4.h"
#include "ipv6.h"
#include "tcp.h"
#include "udp.h"
#include "vlan.h"

namespace portcullis::net {

class PacketBuilder {
 public:
  using Layer = std::variant<EthernetHeader, VlanHeader, Ipv4Header, Ipv6Header, TcpHeader,
                             UdpHeader, IcmpHeader, Icmpv6Header>;

  PacketBuilder& ethernet(const EthernetHeader& h) { return push(h); }
  /// One 802.1Q tag; call twice for QinQ.
  PacketBuilder& vlan(const VlanHeader& h) { return push(h); }
  PacketBuilder& ipv4(const Ipv4Header& h) { return push(h); }
  PacketBuilder& ipv6(const Ipv6Header& h) { return push(h); }
  PacketBuilder& tcp(const TcpHeader& h) { return push(h); }
  PacketBuilder& udp(const UdpHeader& h) { return push(h); }
  PacketBuilder& icmp(const IcmpHeader& h) { return push(h); }
  PacketBuilder& icmpv6(const Icmpv6Header& h) { return push(h); }
  /// Bytes after the last header (appends on repeated calls).
  PacketBuilder& payload(std::span<const uint8_t> bytes) {
    payload_.insert(payload_.end(), bytes.begin(), bytes.end());
    return *this;
  }

  /// Assembles the frame. Never throws on odd layer orders: fields with nothing to derive from
  /// are left as set (zero by default), so tests can build deliberately broken packets.
  std::vector<uint8_t> build() const;

 private:
  template <typename H>
  PacketBuilder& push(const H& h) {
    layers_.emplace_back(h);
    return *this;
  }

  std::vector<Layer> layers_;
  std::vector<uint8_t> payload_;
};

}  // namespace portcullis::net
