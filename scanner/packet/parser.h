#pragma once
// A bounds-checked, allocation-free parser for the frames the scanner receives and tests check.
// Never reads outside `data`; checksums are not verified (veth offload leaves them unfinished).

#include <cstdint>
#include <span>

#include "ethernet.h"
#include "icmp.h"
#include "ipv4.h"
#include "ipv6.h"
#include "tcp.h"
#include "udp.h"
#include "vlan.h"

namespace portcullis::net {

enum class LinkType {
  kEthernet,     // DLT_EN10MB
  kRawIp,        // starts at the IP header (DLT_RAW, ICMP quotes)
  kLinuxCooked,  // DLT_LINUX_SLL
};

struct ParsedPacket {
  const EthernetWire* ethernet = nullptr;
  int vlanCount = 0;
  uint16_t vlanId = 0;  // outermost tag
  const Ipv4Wire* ipv4 = nullptr;
  const Ipv6Wire* ipv6 = nullptr;
  uint8_t protocol = 0;        // upper-layer protocol after any IPv6 extension headers
  bool laterFragment = false;  // a non-first fragment: no transport header here
  // Transport header pointers are set only when the whole fixed header is present.
  const TcpWire* tcp = nullptr;
  const UdpWire* udp = nullptr;
  const IcmpWire* icmp = nullptr;      // ICMPv4 or ICMPv6 (same 8-byte layout)
  std::span<const uint8_t> network;    // from the IP header to the end of the IP datagram
  std::span<const uint8_t> transport;  // from the transport header to the end of the datagram
  std::span<const uint8_t> payload;    // after the transport header (TCP options skipped)

  /// Ports of a TCP or UDP header even when truncated to 8 bytes (as in ICMP quotes).
  bool ports(uint16_t& src, uint16_t& dst) const;
  /// TCP sequence number even from a truncated header (ICMP quotes carry the first 8 bytes).
  bool tcpSeq(uint32_t& seq) const;
};

/// Parses `data` as a frame of `link` type. Returns false if no IP header could be read; fields
/// past the first malformed layer are left empty.
bool parsePacket(std::span<const uint8_t> data, LinkType link, ParsedPacket& out);

}  // namespace portcullis::net
