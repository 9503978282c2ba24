#pragma once
// The Internet checksum (RFC 1071) and the pseudo-header sums TCP, UDP and ICMPv6 need.

#include <cstddef>
#include <cstdint>
#include <span>

#include "addresses.h"

namespace portcullis::net {

/// Adds `data` to a running 32-bit one's-complement sum (bytes taken as big-endian pairs).
uint32_t checksumAdd(uint32_t sum, std::span<const uint8_t> data);

/// Folds a running sum into the final 16-bit checksum, in host order (store it with htons).
uint16_t checksumFinish(uint32_t sum);

/// The checksum of one buffer, in host order.
inline uint16_t internetChecksum(std::span<const uint8_t> data) {
  return checksumFinish(checksumAdd(0, data));
}

/// Running sum of the IPv4 pseudo-header (RFC 793 / RFC 768).
uint32_t pseudoHeaderSum(Ipv4Address src, Ipv4Address dst, uint8_t protocol, uint32_t length);

/// Running sum of the IPv6 pseudo-header (RFC 8200 section 8.1).
uint32_t pseudoHeaderSum(const Ipv6Address& src, const Ipv6Address& dst, uint8_t nextHeader,
                         uint32_t length);

}  // namespace portcullis::net
