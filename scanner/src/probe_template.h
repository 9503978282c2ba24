#pragma once
// A TCP probe kept as bytes: the engine copies it and writes the fields that change from probe
// to probe (destination, IP ID, ports, sequence and acknowledgment numbers) and both checksums,
// instead of building every probe through the packet builder. At 400,000 probes a second the
// builder's allocations were a fifth of the scanner's own CPU time.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace portcullis::scan {

class TcpProbeTemplate {
 public:
  /// A template from a probe the builder made: an IPv4 header without options, or an IPv6
  /// header followed directly by TCP, then the TCP header with its options and no payload.
  /// nullopt for anything else (the engine then builds those probes one by one).
  static std::optional<TcpProbeTemplate> from(std::vector<uint8_t> packet);

  size_t size() const { return bytes_.size(); }

  struct Fields {
    std::span<const uint8_t, 16> dst;  ///< IPv6, or IPv4 mapped (::ffff:a.b.c.d); network order
    uint16_t ipId = 0;                 ///< IPv4 only
    uint16_t srcPort = 0;
    uint16_t dstPort = 0;
    uint32_t seq = 0;
    uint32_t ack = 0;
  };
  /// Writes the probe to `out` (size() bytes) with `f` and correct checksums.
  void write(uint8_t* out, const Fields& f) const;

 private:
  std::vector<uint8_t> bytes_;
  size_t tcpOffset_ = 0;
  bool v6_ = false;
};

}  // namespace portcullis::scan
