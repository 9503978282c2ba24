#pragma once
// ICMP for IPv4 (RFC 792). Errors carry the offending packet as payload: build it with a second
// PacketBuilder (no Ethernet) and pass its bytes to payload().

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>

namespace portcullis::net {

inline constexpr uint8_t kIcmpEchoReply = 0;
inline constexpr uint8_t kIcmpUnreachable = 3;
inline constexpr uint8_t kIcmpEchoRequest = 8;
inline constexpr uint8_t kIcmpTimeExceeded = 11;
inline constexpr uint8_t kIcmpTimestamp = 13;
inline constexpr uint8_t kIcmpTimestampReply = 14;
inline constexpr uint8_t kIcmpAddressMask = 17;

inline constexpr uint8_t kIcmpCodePortUnreachable = 3;
inline constexpr uint8_t kIcmpCodeAdminProhibited = 13;

struct __attribute__((packed)) IcmpWire {
  uint8_t type;
  uint8_t code;
  uint16_t checksum;  // network byte order
  uint32_t rest;      // network byte order: id/sequence, MTU, pointer, or unused
};
static_assert(sizeof(IcmpWire) == 8);

/// ICMPv4 header (the 8 bytes common to every message). The checksum covers header and payload
/// and is computed by PacketBuilder unless set.
class IcmpHeader {
 public:
  static constexpr size_t kSize = sizeof(IcmpWire);

  IcmpHeader& setType(uint8_t t) {
    wire_.type = t;
    return *this;
  }
  IcmpHeader& setCode(uint8_t c) {
    wire_.code = c;
    return *this;
  }
  /// Identifier of an echo/timestamp message (upper half of the rest-of-header word).
  IcmpHeader& setId(uint16_t id) {
    const uint32_t v = (ntohl(wire_.rest) & 0x0000ffffu) | (uint32_t{id} << 16);
    wire_.rest = htonl(v);
    return *this;
  }
  IcmpHeader& setSequence(uint16_t seq) {
    const uint32_t v = (ntohl(wire_.rest) & 0xffff0000u) | seq;
    wire_.rest = htonl(v);
    return *this;
  }
  /// The whole rest-of-header word, e.g. next-hop MTU for "fragmentation needed".
  IcmpHeader& setRest(uint32_t rest) {
    wire_.rest = htonl(rest);
    return *this;
  }
  IcmpHeader& setChecksum(uint16_t sum) {
    wire_.checksum = htons(sum);
    checksumSet_ = true;
    return *this;
  }

  uint8_t type() const { return wire_.type; }
  uint8_t code() const { return wire_.code; }
  uint16_t id() const { return static_cast<uint16_t>(ntohl(wire_.rest) >> 16); }
  uint16_t sequence() const { return static_cast<uint16_t>(ntohl(wire_.rest)); }
  bool checksumSet() const { return checksumSet_; }
  size_t size() const { return kSize; }
  void serialize(uint8_t* out) const { std::memcpy(out, &wire_, kSize); }

 private:
  IcmpWire wire_{};
  bool checksumSet_ = false;
};

}  // namespace portcullis::net
