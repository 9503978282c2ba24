#include "checksum.h"

namespace portcullis::net {

uint32_t checksumAdd(uint32_t sum, std::span<const uint8_t> data) {
  // 64-bit accumulator so a jumbo frame cannot overflow before the fold.
  uint64_t acc = sum;
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) {
    acc += static_cast<uint32_t>(data[i]) << 8 | data[i + 1];
  }
  if (i < data.size()) {
    acc += static_cast<uint32_t>(data[i]) << 8;
  }
  while (acc >> 32) {
    acc = (acc & 0xffffffffu) + (acc >> 32);
  }
  return static_cast<uint32_t>(acc);
}

uint16_t checksumFinish(uint32_t sum) {
  while (sum >> 16) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum & 0xffff);
}

uint32_t pseudoHeaderSum(Ipv4Address src, Ipv4Address dst, uint8_t protocol, uint32_t length) {
  uint64_t acc = (src.value >> 16) + (src.value & 0xffff) + (dst.value >> 16) +
                 (dst.value & 0xffff) + protocol + (length >> 16) + (length & 0xffff);
  while (acc >> 32) {
    acc = (acc & 0xffffffffu) + (acc >> 32);
  }
  return static_cast<uint32_t>(acc);
}

uint32_t pseudoHeaderSum(const Ipv6Address& src, const Ipv6Address& dst, uint8_t nextHeader,
                         uint32_t length) {
  uint32_t sum = checksumAdd(0, src.bytes);
  sum = checksumAdd(sum, dst.bytes);
  const uint8_t tail[8] = {static_cast<uint8_t>(length >> 24),
                           static_cast<uint8_t>(length >> 16),
                           static_cast<uint8_t>(length >> 8),
                           static_cast<uint8_t>(length),
                           0,
                           0,
                           0,
                           nextHeader};
  return checksumAdd(sum, tail);
}

}  // namespace portcullis::net
