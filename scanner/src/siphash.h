#pragma once
// SipHash-2-4 (Aumasson and Bernstein, 2012) and the probe cookies built on it. A keyed hash
// of a probe's addresses and ports goes into the TCP sequence number and the source port, so a
// reply proves which probe it answers without the scanner remembering any probe: memory does
// not grow with the number of probes, and blind spoofed replies fail the check.

#include <array>
#include <cstddef>
#include <cstdint>

namespace portcullis::scan {

using SipKey = std::array<uint8_t, 16>;

/// SipHash-2-4 of `len` bytes under `key`.
uint64_t sipHash24(const SipKey& key, const uint8_t* data, size_t len);

/// The 4-tuple (plus protocol) a cookie covers. Addresses are 16 bytes so IPv4 (mapped) and
/// IPv6 share one layout.
struct CookieTuple {
  std::array<uint8_t, 16> src{};
  std::array<uint8_t, 16> dst{};
  uint16_t srcPort = 0;
  uint16_t dstPort = 0;
  uint8_t protocol = 0;
};

class CookieJar {
 public:
  static constexpr uint16_t kSourcePortBase = 33000;
  static constexpr uint16_t kSourcePortSpan = 28000;  // 33000..60999, clear of ephemeral use

  /// A jar with a fresh random key (getrandom).
  CookieJar();
  explicit CookieJar(const SipKey& key) : key_(key) {}

  /// Source port and TCP sequence number for probes to (dst, dstPort), from one SipHash of the
  /// tuple: derived from the key, so the receiver recomputes both from a reply with one hash
  /// (two hashes a probe on each side were a twentieth of the scanner's time at full speed);
  /// the port is spread so concurrent probes rarely share a 4-tuple.
  struct Probe {
    uint16_t srcPort;
    uint32_t seq;
  };
  Probe probe(const std::array<uint8_t, 16>& src, const std::array<uint8_t, 16>& dst,
              uint16_t dstPort, uint8_t protocol) const;
  /// probe()'s source port.
  uint16_t sourcePort(const std::array<uint8_t, 16>& src, const std::array<uint8_t, 16>& dst,
                      uint16_t dstPort, uint8_t protocol) const {
    return probe(src, dst, dstPort, protocol).srcPort;
  }
  /// 32-bit cookie for the full tuple (the TCP sequence number of a probe).
  uint32_t cookie(const CookieTuple& t) const;
  /// 16-bit cookie (ICMP echo id/sequence).
  uint16_t cookie16(const CookieTuple& t) const { return static_cast<uint16_t>(cookie(t) >> 8); }

 private:
  SipKey key_{};
};

/// An IPv4 address (host order) in the 16-byte form cookies hash (::ffff:a.b.c.d).
std::array<uint8_t, 16> mapIpv4(uint32_t hostOrder);

}  // namespace portcullis::scan
