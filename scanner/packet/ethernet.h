#pragma once
// Ethernet II header.

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>

#include "addresses.h"

namespace portcullis::net {

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;
inline constexpr uint16_t kEtherTypeQinQ = 0x88a8;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;

struct __attribute__((packed)) EthernetWire {
  uint8_t dst[6];
  uint8_t src[6];
  uint16_t etherType;  // network byte order
};
static_assert(sizeof(EthernetWire) == 14);

/// Ethernet II header. The EtherType is filled in by PacketBuilder from the next layer unless
/// setEtherType() was called.
class EthernetHeader {
 public:
  static constexpr size_t kSize = sizeof(EthernetWire);

  EthernetHeader& setSrc(const MacAddress& mac) {
    std::memcpy(wire_.src, mac.bytes.data(), 6);
    return *this;
  }
  EthernetHeader& setDst(const MacAddress& mac) {
    std::memcpy(wire_.dst, mac.bytes.data(), 6);
    return *this;
  }
  EthernetHeader& setEtherType(uint16_t type) {
    wire_.etherType = htons(type);
    etherTypeSet_ = true;
    return *this;
  }

  MacAddress src() const {
    MacAddress mac;
    std::memcpy(mac.bytes.data(), wire_.src, 6);
    return mac;
  }
  MacAddress dst() const {
    MacAddress mac;
    std::memcpy(mac.bytes.data(), wire_.dst, 6);
    return mac;
  }
  uint16_t etherType() const { return ntohs(wire_.etherType); }
  bool etherTypeSet() const { return etherTypeSet_; }
  size_t size() const { return kSize; }
  void serialize(uint8_t* out) const { std::memcpy(out, &wire_, kSize); }

 private:
  EthernetWire wire_{};
  bool etherTypeSet_ = false;
};

}  // namespace portcullis::net
