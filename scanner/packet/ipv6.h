#pragma once
// IPv6 header (RFC 8200) with extension headers.

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "addresses.h"

namespace portcullis::net {

inline constexpr uint8_t kIpv6ExtHopByHop = 0;
inline constexpr uint8_t kIpv6ExtRouting = 43;
inline constexpr uint8_t kIpv6ExtFragment = 44;
inline constexpr uint8_t kIpv6ExtDestOptions = 60;
inline constexpr uint8_t kIpv6NoNextHeader = 59;

struct __attribute__((packed)) Ipv6Wire {
  uint32_t vtcFlow;        // network byte order: version(4) traffic class(8) flow label(20)
  uint16_t payloadLength;  // network byte order
  uint8_t nextHeader;
  uint8_t hopLimit;
  uint8_t src[16];
  uint8_t dst[16];
};
static_assert(sizeof(Ipv6Wire) == 40);

/// One extension header, already laid out on the wire except for its next-header byte, which
/// PacketBuilder chains.
struct Ipv6Extension {
  uint8_t type = kIpv6ExtHopByHop;
  std::vector<uint8_t> bytes;  // whole header, multiple of 8; bytes[0] is the next header
};

/// IPv6 header followed by any extension headers. Payload length and the next-header chain are
/// filled in by PacketBuilder unless set explicitly.
class Ipv6Header {
 public:
  static constexpr size_t kFixedSize = sizeof(Ipv6Wire);

  Ipv6Header() {
    wire_.vtcFlow = htonl(6u << 28);
    wire_.hopLimit = 64;
  }

  Ipv6Header& setSrc(const Ipv6Address& a) {
    std::memcpy(wire_.src, a.bytes.data(), 16);
    return *this;
  }
  Ipv6Header& setDst(const Ipv6Address& a) {
    std::memcpy(wire_.dst, a.bytes.data(), 16);
    return *this;
  }
  Ipv6Header& setHopLimit(uint8_t hops) {
    wire_.hopLimit = hops;
    return *this;
  }
  Ipv6Header& setTrafficClass(uint8_t tc) {
    const uint32_t v = (ntohl(wire_.vtcFlow) & 0xf00fffffu) | (uint32_t{tc} << 20);
    wire_.vtcFlow = htonl(v);
    return *this;
  }
  Ipv6Header& setFlowLabel(uint32_t label) {
    const uint32_t v = (ntohl(wire_.vtcFlow) & 0xfff00000u) | (label & 0xfffffu);
    wire_.vtcFlow = htonl(v);
    return *this;
  }
  /// Next header of the fixed header; normally derived from the first extension or upper layer.
  Ipv6Header& setNextHeader(uint8_t nh) {
    wire_.nextHeader = nh;
    nextHeaderSet_ = true;
    return *this;
  }
  Ipv6Header& setPayloadLength(uint16_t len) {
    wire_.payloadLength = htons(len);
    payloadLengthSet_ = true;
    return *this;
  }
  /// Hop-by-hop options header; `options` are TLV options, padded here with PadN.
  Ipv6Header& addHopByHop(std::span<const uint8_t> options = {}) {
    return addOptionsHeader(kIpv6ExtHopByHop, options);
  }
  Ipv6Header& addDestinationOptions(std::span<const uint8_t> options = {}) {
    return addOptionsHeader(kIpv6ExtDestOptions, options);
  }
  /// Routing header of `routingType` carrying `addresses` (type 0 layout; type 0 is deprecated
  /// by RFC 5095, which is exactly why a detector test wants to build it).
  Ipv6Header& addRouting(uint8_t routingType, uint8_t segmentsLeft,
                         std::span<const Ipv6Address> addresses);
  Ipv6Header& addFragment(uint16_t offsetBytes, bool moreFragments, uint32_t id);
  Ipv6Header& addExtension(Ipv6Extension ext) {
    extensions_.push_back(std::move(ext));
    return *this;
  }

  Ipv6Address src() const {
    Ipv6Address a;
    std::memcpy(a.bytes.data(), wire_.src, 16);
    return a;
  }
  Ipv6Address dst() const {
    Ipv6Address a;
    std::memcpy(a.bytes.data(), wire_.dst, 16);
    return a;
  }
  bool nextHeaderSet() const { return nextHeaderSet_; }
  bool payloadLengthSet() const { return payloadLengthSet_; }
  const std::vector<Ipv6Extension>& extensions() const { return extensions_; }
  size_t size() const {
    size_t n = kFixedSize;
    for (const auto& e : extensions_) {
      n += e.bytes.size();
    }
    return n;
  }
  /// Writes the fixed header and extensions; `upperProtocol` ends the next-header chain.
  void serialize(uint8_t* out, uint8_t upperProtocol) const;

 private:
  Ipv6Header& addOptionsHeader(uint8_t type, std::span<const uint8_t> options);

  Ipv6Wire wire_{};
  std::vector<Ipv6Extension> extensions_;
  bool nextHeaderSet_ = false;
  bool payloadLengthSet_ = false;
};

}  // namespace portcullis::net
