#pragma once
// TCP header with options (RFC 9293, RFC 7323).

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace portcullis::net {

namespace tcp_flags {
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;
inline constexpr uint8_t kUrg = 0x20;
inline constexpr uint8_t kEce = 0x40;
inline constexpr uint8_t kCwr = 0x80;
}  // namespace tcp_flags

inline constexpr uint8_t kTcpOptEnd = 0;
inline constexpr uint8_t kTcpOptNop = 1;
inline constexpr uint8_t kTcpOptMss = 2;
inline constexpr uint8_t kTcpOptWindowScale = 3;
inline constexpr uint8_t kTcpOptSackPermitted = 4;
inline constexpr uint8_t kTcpOptTimestamp = 8;

struct __attribute__((packed)) TcpWire {
  uint16_t srcPort;    // network byte order
  uint16_t dstPort;    // network byte order
  uint32_t seq;        // network byte order
  uint32_t ack;        // network byte order
  uint8_t dataOffset;  // header length in 32-bit words in the high nibble
  uint8_t flags;
  uint16_t window;    // network byte order
  uint16_t checksum;  // network byte order
  uint16_t urgent;    // network byte order
};
static_assert(sizeof(TcpWire) == 20);

/// TCP header. The checksum is computed by PacketBuilder over the pseudo-header unless set.
class TcpHeader {
 public:
  static constexpr size_t kMinSize = sizeof(TcpWire);
  static constexpr size_t kMaxOptions = 40;

  TcpHeader& setSrcPort(uint16_t p) {
    wire_.srcPort = htons(p);
    return *this;
  }
  TcpHeader& setDstPort(uint16_t p) {
    wire_.dstPort = htons(p);
    return *this;
  }
  TcpHeader& setSeq(uint32_t s) {
    wire_.seq = htonl(s);
    return *this;
  }
  TcpHeader& setAck(uint32_t a) {
    wire_.ack = htonl(a);
    return *this;
  }
  /// Flags as a bit set of tcp_flags::k*.
  TcpHeader& setFlags(uint8_t f) {
    wire_.flags = f;
    return *this;
  }
  TcpHeader& setWindow(uint16_t w) {
    wire_.window = htons(w);
    return *this;
  }
  TcpHeader& setUrgentPointer(uint16_t u) {
    wire_.urgent = htons(u);
    return *this;
  }
  TcpHeader& setChecksum(uint16_t sum) {
    wire_.checksum = htons(sum);
    checksumSet_ = true;
    return *this;
  }
  TcpHeader& addMss(uint16_t mss) {
    const uint8_t d[2] = {static_cast<uint8_t>(mss >> 8), static_cast<uint8_t>(mss)};
    return addOption(kTcpOptMss, d);
  }
  TcpHeader& addWindowScale(uint8_t shift) {
    const uint8_t d[1] = {shift};
    return addOption(kTcpOptWindowScale, d);
  }
  TcpHeader& addSackPermitted() { return addOption(kTcpOptSackPermitted, {}); }
  TcpHeader& addTimestamp(uint32_t value, uint32_t echo) {
    const uint8_t d[8] = {static_cast<uint8_t>(value >> 24), static_cast<uint8_t>(value >> 16),
                          static_cast<uint8_t>(value >> 8),  static_cast<uint8_t>(value),
                          static_cast<uint8_t>(echo >> 24),  static_cast<uint8_t>(echo >> 16),
                          static_cast<uint8_t>(echo >> 8),   static_cast<uint8_t>(echo)};
    return addOption(kTcpOptTimestamp, d);
  }
  TcpHeader& addNop() {
    options_.push_back(kTcpOptNop);
    return *this;
  }
  /// Appends kind, length, data.
  TcpHeader& addOption(uint8_t kind, std::span<const uint8_t> data) {
    options_.push_back(kind);
    options_.push_back(static_cast<uint8_t>(data.size() + 2));
    options_.insert(options_.end(), data.begin(), data.end());
    return *this;
  }
  /// Appends option bytes exactly as given (malformed options for parser tests).
  TcpHeader& addRawOptions(std::span<const uint8_t> bytes) {
    options_.insert(options_.end(), bytes.begin(), bytes.end());
    return *this;
  }

  uint16_t srcPort() const { return ntohs(wire_.srcPort); }
  uint16_t dstPort() const { return ntohs(wire_.dstPort); }
  uint32_t seq() const { return ntohl(wire_.seq); }
  uint32_t ack() const { return ntohl(wire_.ack); }
  uint8_t flags() const { return wire_.flags; }
  uint16_t window() const { return ntohs(wire_.window); }
  bool checksumSet() const { return checksumSet_; }
  /// Header length including options padded with END to a multiple of 4 (capped at 60).
  size_t size() const {
    const size_t opts = (options_.size() + 3) & ~size_t{3};
    return kMinSize + (opts > kMaxOptions ? kMaxOptions : opts);
  }
  void serialize(uint8_t* out) const {
    TcpWire w = wire_;
    const size_t len = size();
    w.dataOffset = static_cast<uint8_t>((len / 4) << 4);
    std::memcpy(out, &w, kMinSize);
    const size_t optLen = len - kMinSize;
    std::memset(out + kMinSize, kTcpOptEnd, optLen);
    std::memcpy(out + kMinSize, options_.data(),
                optLen < options_.size() ? optLen : options_.size());
  }

 private:
  TcpWire wire_{};
  std::vector<uint8_t> options_;
  bool checksumSet_ = false;
};

}  // namespace portcullis::net
