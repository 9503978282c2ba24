#pragma once
// IPv4 header with options (RFC 791).

#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "addresses.h"

namespace portcullis::net {

inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoIpip = 4;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIpProtoIpv6 = 41;
inline constexpr uint8_t kIpProtoIcmpv6 = 58;

inline constexpr uint8_t kIpv4OptEnd = 0;
inline constexpr uint8_t kIpv4OptNop = 1;
inline constexpr uint8_t kIpv4OptRecordRoute = 7;
inline constexpr uint8_t kIpv4OptTimestamp = 68;

struct __attribute__((packed)) Ipv4Wire {
  uint8_t versionIhl;  // version 4 in the high nibble, header length in 32-bit words low
  uint8_t tos;
  uint16_t totalLength;  // network byte order
  uint16_t id;           // network byte order
  uint16_t fragOff;      // network byte order: flags(3) offset in 8-byte units(13)
  uint8_t ttl;
  uint8_t protocol;
  uint16_t checksum;  // network byte order
  uint32_t src;       // network byte order
  uint32_t dst;       // network byte order
};
static_assert(sizeof(Ipv4Wire) == 20);

/// IPv4 header. Total length, protocol and checksum are computed by PacketBuilder unless set
/// explicitly (tests use the explicit setters to build malformed packets).
class Ipv4Header {
 public:
  static constexpr size_t kMinSize = sizeof(Ipv4Wire);
  static constexpr size_t kMaxOptions = 40;
  static constexpr uint16_t kFlagDontFragment = 0x4000;
  static constexpr uint16_t kFlagMoreFragments = 0x2000;

  Ipv4Header() {
    wire_.versionIhl = 0x45;
    wire_.ttl = 64;
  }

  Ipv4Header& setSrc(Ipv4Address a) {
    wire_.src = a.networkOrder();
    return *this;
  }
  Ipv4Header& setDst(Ipv4Address a) {
    wire_.dst = a.networkOrder();
    return *this;
  }
  Ipv4Header& setTtl(uint8_t ttl) {
    wire_.ttl = ttl;
    return *this;
  }
  Ipv4Header& setTos(uint8_t tos) {
    wire_.tos = tos;
    return *this;
  }
  Ipv4Header& setId(uint16_t id) {
    wire_.id = htons(id);
    return *this;
  }
  Ipv4Header& setDontFragment(bool on) { return setFlag(kFlagDontFragment, on); }
  Ipv4Header& setMoreFragments(bool on) { return setFlag(kFlagMoreFragments, on); }
  /// Fragment offset in bytes; must be a multiple of 8.
  Ipv4Header& setFragmentOffset(uint16_t bytes) {
    const uint16_t v = static_cast<uint16_t>((ntohs(wire_.fragOff) & 0xe000) | (bytes / 8));
    wire_.fragOff = htons(v);
    return *this;
  }
  Ipv4Header& setProtocol(uint8_t proto) {
    wire_.protocol = proto;
    protocolSet_ = true;
    return *this;
  }
  Ipv4Header& setTotalLength(uint16_t len) {
    wire_.totalLength = htons(len);
    totalLengthSet_ = true;
    return *this;
  }
  Ipv4Header& setChecksum(uint16_t sum) {
    wire_.checksum = htons(sum);
    checksumSet_ = true;
    return *this;
  }
  /// Appends one option as type, length, data (or a bare type byte for NOP/END).
  Ipv4Header& addOption(uint8_t type, std::span<const uint8_t> data = {}) {
    options_.push_back(type);
    if (type != kIpv4OptEnd && type != kIpv4OptNop) {
      options_.push_back(static_cast<uint8_t>(data.size() + 2));
      options_.insert(options_.end(), data.begin(), data.end());
    }
    return *this;
  }
  /// Appends option bytes exactly as given (for malformed-option tests).
  Ipv4Header& addRawOptions(std::span<const uint8_t> bytes) {
    options_.insert(options_.end(), bytes.begin(), bytes.end());
    return *this;
  }

  Ipv4Address src() const { return Ipv4Address::fromNetworkOrder(wire_.src); }
  Ipv4Address dst() const { return Ipv4Address::fromNetworkOrder(wire_.dst); }
  uint8_t ttl() const { return wire_.ttl; }
  uint8_t protocol() const { return wire_.protocol; }
  bool protocolSet() const { return protocolSet_; }
  bool totalLengthSet() const { return totalLengthSet_; }
  bool checksumSet() const { return checksumSet_; }
  /// Header length including options padded to a multiple of 4 (capped at 60 bytes).
  size_t size() const {
    const size_t opts = (options_.size() + 3) & ~size_t{3};
    return kMinSize + (opts > kMaxOptions ? kMaxOptions : opts);
  }
  void serialize(uint8_t* out) const {
    Ipv4Wire w = wire_;
    const size_t len = size();
    w.versionIhl = static_cast<uint8_t>(0x40 | (len / 4));
    std::memcpy(out, &w, kMinSize);
    const size_t optLen = len - kMinSize;
    std::memset(out + kMinSize, kIpv4OptEnd, optLen);
    std::memcpy(out + kMinSize, options_.data(), std::min(optLen, options_.size()));
  }

 private:
  Ipv4Header& setFlag(uint16_t flag, bool on) {
    uint16_t v = ntohs(wire_.fragOff);
    v = on ? (v | flag) : (v & ~flag);
    wire_.fragOff = htons(v);
    return *this;
  }

  Ipv4Wire wire_{};
  std::vector<uint8_t> options_;
  bool protocolSet_ = false;
  bool totalLengthSet_ = false;
  bool checksumSet_ = false;
};

/// Splits a complete IPv4 packet into fragments whose payloads are at most `fragmentSize`
/// bytes (rounded down to a multiple of 8, at least 8), with correct offsets, MF flags and
/// header checksums. Options are copied into every fragment (simpler than RFC 791's
/// copy-flag rule, and what a scanner's -f wants). Returns the packet unchanged if it fits.
std::vector<std::vector<uint8_t>> fragmentIpv4(std::span<const uint8_t> packet,
                                               size_t fragmentSize);

}  // namespace portcullis::net
