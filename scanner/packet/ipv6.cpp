#include "ipv6.h"

namespace portcullis::net {

Ipv6Header& Ipv6Header::addOptionsHeader(uint8_t type, std::span<const uint8_t> options) {
  Ipv6Extension ext;
  ext.type = type;
  ext.bytes = {0, 0};
  ext.bytes.insert(ext.bytes.end(), options.begin(), options.end());
  // Pad to a multiple of 8 with Pad1 (one byte) or PadN (type 1, length, zeros): RFC 8200 4.2.
  const size_t padded = (ext.bytes.size() + 7) & ~size_t{7};
  const size_t pad = padded - ext.bytes.size();
  if (pad == 1) {
    ext.bytes.push_back(0);
  } else if (pad >= 2) {
    ext.bytes.push_back(1);
    ext.bytes.push_back(static_cast<uint8_t>(pad - 2));
    ext.bytes.insert(ext.bytes.end(), pad - 2, 0);
  }
  ext.bytes[1] = static_cast<uint8_t>(ext.bytes.size() / 8 - 1);
  extensions_.push_back(std::move(ext));
  return *this;
}

Ipv6Header& Ipv6Header::addRouting(uint8_t routingType, uint8_t segmentsLeft,
                                   std::span<const Ipv6Address> addresses) {
  Ipv6Extension ext;
  ext.type = kIpv6ExtRouting;
  ext.bytes = {0, static_cast<uint8_t>(addresses.size() * 2), routingType, segmentsLeft, 0, 0, 0,
               0};
  for (const auto& a : addresses) {
    ext.bytes.insert(ext.bytes.end(), a.bytes.begin(), a.bytes.end());
  }
  extensions_.push_back(std::move(ext));
  return *this;
}

Ipv6Header& Ipv6Header::addFragment(uint16_t offsetBytes, bool moreFragments, uint32_t id) {
  Ipv6Extension ext;
  ext.type = kIpv6ExtFragment;
  const uint16_t offFlags = static_cast<uint16_t>((offsetBytes & 0xfff8) | (moreFragments ? 1 : 0));
  ext.bytes = {0,
               0,
               static_cast<uint8_t>(offFlags >> 8),
               static_cast<uint8_t>(offFlags),
               static_cast<uint8_t>(id >> 24),
               static_cast<uint8_t>(id >> 16),
               static_cast<uint8_t>(id >> 8),
               static_cast<uint8_t>(id)};
  extensions_.push_back(std::move(ext));
  return *this;
}

void Ipv6Header::serialize(uint8_t* out, uint8_t upperProtocol) const {
  Ipv6Wire w = wire_;
  if (!nextHeaderSet_) {
    w.nextHeader = extensions_.empty() ? upperProtocol : extensions_.front().type;
  }
  std::memcpy(out, &w, kFixedSize);
  size_t off = kFixedSize;
  for (size_t i = 0; i < extensions_.size(); ++i) {
    const auto& e = extensions_[i];
    std::memcpy(out + off, e.bytes.data(), e.bytes.size());
    out[off] = i + 1 < extensions_.size() ? extensions_[i + 1].type : upperProtocol;
    off += e.bytes.size();
  }
}

}  // namespace portcullis::net
