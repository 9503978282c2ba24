#pragma once
// ICMPv6 (RFC 4443). Same 8-byte layout as ICMPv4, but the checksum includes the IPv6
// pseudo-header, which PacketBuilder adds.

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>

namespace portcullis::net {

inline constexpr uint8_t kIcmpv6Unreachable = 1;
inline constexpr uint8_t kIcmpv6PacketTooBig = 2;
inline constexpr uint8_t kIcmpv6TimeExceeded = 3;
inline constexpr uint8_t kIcmpv6ParamProblem = 4;
inline constexpr uint8_t kIcmpv6EchoRequest = 128;
inline constexpr uint8_t kIcmpv6EchoReply = 129;
inline constexpr uint8_t kIcmpv6NeighborSolicit = 135;
inline constexpr uint8_t kIcmpv6NeighborAdvert = 136;

inline constexpr uint8_t kIcmpv6CodeAdminProhibited = 1;
inline constexpr uint8_t kIcmpv6CodePortUnreachable = 4;

struct __attribute__((packed)) Icmpv6Wire {
  uint8_t type;
  uint8_t code;
  uint16_t checksum;  // network byte order
  uint32_t rest;      // network byte order
};
static_assert(sizeof(Icmpv6Wire) == 8);

class Icmpv6Header {
 public:
  static constexpr size_t kSize = sizeof(Icmpv6Wire);

  Icmpv6Header& setType(uint8_t t) {
    wire_.type = t;
    return *this;
  }
  Icmpv6Header& setCode(uint8_t c) {
    wire_.code = c;
    return *this;
  }
  Icmpv6Header& setId(uint16_t id) {
    const uint32_t v = (ntohl(wire_.rest) & 0x0000ffffu) | (uint32_t{id} << 16);
    wire_.rest = htonl(v);
    return *this;
  }
  Icmpv6Header& setSequence(uint16_t seq) {
    const uint32_t v = (ntohl(wire_.rest) & 0xffff0000u) | seq;
    wire_.rest = htonl(v);
    return *this;
  }
  Icmpv6Header& setRest(uint32_t rest) {
    wire_.rest = htonl(rest);
    return *this;
  }
  Icmpv6Header& setChecksum(uint16_t sum) {
    wire_.checksum = htons(sum);
    checksumSet_ = true;
    return *this;
  }

  uint8_t type() const { return wire_.type; }
  uint8_t code() const { return wire_.code; }
  bool checksumSet() const { return checksumSet_; }
  size_t size() const { return kSize; }
  void serialize(uint8_t* out) const { std::memcpy(out, &wire_, kSize); }

 private:
  Icmpv6Wire wire_{};
  bool checksumSet_ = false;
};

}  // namespace portcullis::net
