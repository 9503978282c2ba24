#pragma once
// UDP header (RFC 768).

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>

namespace portcullis::net {

struct __attribute__((packed)) UdpWire {
  uint16_t srcPort;   // network byte order
  uint16_t dstPort;   // network byte order
  uint16_t length;    // network byte order: header plus payload
  uint16_t checksum;  // network byte order; 0 means "none" over IPv4
};
static_assert(sizeof(UdpWire) == 8);

/// UDP header. Length and checksum are computed by PacketBuilder unless set.
class UdpHeader {
 public:
  static constexpr size_t kSize = sizeof(UdpWire);

  UdpHeader& setSrcPort(uint16_t p) {
    wire_.srcPort = htons(p);
    return *this;
  }
  UdpHeader& setDstPort(uint16_t p) {
    wire_.dstPort = htons(p);
    return *this;
  }
  UdpHeader& setLength(uint16_t len) {
    wire_.length = htons(len);
    lengthSet_ = true;
    return *this;
  }
  UdpHeader& setChecksum(uint16_t sum) {
    wire_.checksum = htons(sum);
    checksumSet_ = true;
    return *this;
  }

  uint16_t srcPort() const { return ntohs(wire_.srcPort); }
  uint16_t dstPort() const { return ntohs(wire_.dstPort); }
  bool lengthSet() const { return lengthSet_; }
  bool checksumSet() const { return checksumSet_; }
  size_t size() const { return kSize; }
  void serialize(uint8_t* out) const { std::memcpy(out, &wire_, kSize); }

 private:
  UdpWire wire_{};
  bool lengthSet_ = false;
  bool checksumSet_ = false;
};

}  // namespace portcullis::net
