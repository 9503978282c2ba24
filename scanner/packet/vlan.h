#pragma once
// IEEE 802.1Q tag: the 4 bytes that follow the MAC addresses when the EtherType is 0x8100.
// In a PacketBuilder it sits between EthernetHeader and the network layer.

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>

namespace portcullis::net {

struct __attribute__((packed)) VlanWire {
  uint16_t tci;        // network byte order: priority(3) DEI(1) VLAN id(12)
  uint16_t etherType;  // network byte order: type of what follows the tag
};
static_assert(sizeof(VlanWire) == 4);

class VlanHeader {
 public:
  static constexpr size_t kSize = sizeof(VlanWire);

  VlanHeader& setVlanId(uint16_t id) {
    tci_ = static_cast<uint16_t>((tci_ & 0xf000) | (id & 0x0fff));
    return *this;
  }
  VlanHeader& setPriority(uint8_t pcp) {
    tci_ = static_cast<uint16_t>((tci_ & 0x1fff) | ((pcp & 0x7) << 13));
    return *this;
  }
  VlanHeader& setDropEligible(bool dei) {
    tci_ = static_cast<uint16_t>((tci_ & ~0x1000) | (dei ? 0x1000 : 0));
    return *this;
  }
  VlanHeader& setEtherType(uint16_t type) {
    etherType_ = type;
    etherTypeSet_ = true;
    return *this;
  }

  uint16_t vlanId() const { return tci_ & 0x0fff; }
  uint8_t priority() const { return static_cast<uint8_t>(tci_ >> 13); }
  uint16_t etherType() const { return etherType_; }
  bool etherTypeSet() const { return etherTypeSet_; }
  size_t size() const { return kSize; }
  void serialize(uint8_t* out) const {
    VlanWire wire{htons(tci_), htons(etherType_)};
    std::memcpy(out, &wire, kSize);
  }

 private:
  uint16_t tci_ = 0;
  uint16_t etherType_ = 0;
  bool etherTypeSet_ = false;
};

}  // namespace portcullis::net
