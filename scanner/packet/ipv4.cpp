#include "ipv4.h"

#include "checksum.h"

namespace portcullis::net {

std::vector<std::vector<uint8_t>> fragmentIpv4(std::span<const uint8_t> packet,
                                               size_t fragmentSize) {
  std::vector<std::vector<uint8_t>> out;
  if (packet.size() < Ipv4Header::kMinSize) {
    out.emplace_back(packet.begin(), packet.end());
    return out;
  }
  const size_t headerLen = static_cast<size_t>(packet[0] & 0x0f) * 4;
  if (headerLen < Ipv4Header::kMinSize || headerLen > packet.size()) {
    out.emplace_back(packet.begin(), packet.end());
    return out;
  }
  fragmentSize &= ~size_t{7};
  if (fragmentSize < 8) {
    fragmentSize = 8;
  }
  const size_t payloadLen = packet.size() - headerLen;
  if (payloadLen <= fragmentSize) {
    out.emplace_back(packet.begin(), packet.end());
    return out;
  }
  const uint16_t origFrag = static_cast<uint16_t>(packet[6] << 8 | packet[7]);
  const size_t baseOffset = static_cast<size_t>(origFrag & 0x1fff) * 8;
  const bool origMore = (origFrag & Ipv4Header::kFlagMoreFragments) != 0;
  for (size_t off = 0; off < payloadLen; off += fragmentSize) {
    const size_t chunk = std::min(fragmentSize, payloadLen - off);
    std::vector<uint8_t> frag(headerLen + chunk);
    std::memcpy(frag.data(), packet.data(), headerLen);
    std::memcpy(frag.data() + headerLen, packet.data() + headerLen + off, chunk);
    const bool more = off + chunk < payloadLen || origMore;
    const uint16_t fragField = static_cast<uint16_t>((origFrag & Ipv4Header::kFlagDontFragment) |
                                                     (more ? Ipv4Header::kFlagMoreFragments : 0) |
                                                     ((baseOffset + off) / 8));
    frag[2] = static_cast<uint8_t>(frag.size() >> 8);
    frag[3] = static_cast<uint8_t>(frag.size());
    frag[6] = static_cast<uint8_t>(fragField >> 8);
    frag[7] = static_cast<uint8_t>(fragField);
    frag[10] = 0;
    frag[11] = 0;
    const uint16_t sum = internetChecksum({frag.data(), headerLen});
    frag[10] = static_cast<uint8_t>(sum >> 8);
    frag[11] = static_cast<uint8_t>(sum);
    out.push_back(std::move(frag));
  }
  return out;
}

}  // namespace portcullis::net
