#include "probe_template.h"

#include <cstring>

#include "packet/checksum.h"

namespace portcullis::scan {

namespace {

constexpr uint8_t kTcp = 6;
constexpr size_t kTcpMinLen = 20;

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

void put32(uint8_t* p, uint32_t v) {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}

}  // namespace

std::optional<TcpProbeTemplate> TcpProbeTemplate::from(std::vector<uint8_t> packet) {
  TcpProbeTemplate t;
  if (packet.empty()) return std::nullopt;
  t.v6_ = (packet[0] >> 4) == 6;
  if (t.v6_) {
    if (packet.size() < 40 + kTcpMinLen || packet[6] != kTcp) return std::nullopt;
    t.tcpOffset_ = 40;
  } else {
    if ((packet[0] >> 4) != 4 || (packet[0] & 0x0f) != 5 || packet.size() < 20 + kTcpMinLen ||
        packet[9] != kTcp || (packet[6] & 0x3f) != 0 || packet[7] != 0) {  // no fragment
      return std::nullopt;
    }
    t.tcpOffset_ = 20;
  }
  const size_t tcpLen = static_cast<size_t>(packet[t.tcpOffset_ + 12] >> 4) * 4;
  if (tcpLen < kTcpMinLen || t.tcpOffset_ + tcpLen != packet.size()) return std::nullopt;
  t.bytes_ = std::move(packet);
  return t;
}

void TcpProbeTemplate::write(uint8_t* out, const Fields& f) const {
  std::memcpy(out, bytes_.data(), bytes_.size());
  uint8_t* tcp = out + tcpOffset_;
  const auto tcpLen = static_cast<uint32_t>(bytes_.size() - tcpOffset_);
  uint32_t pseudo = 0;
  if (v6_) {
    std::memcpy(out + 24, f.dst.data(), 16);
    pseudo = net::checksumAdd(0, {out + 8, 32});  // source and destination
  } else {
    std::memcpy(out + 16, f.dst.data() + 12, 4);
    put16(out + 4, f.ipId);
    put16(out + 10, 0);
    put16(out + 10, net::internetChecksum({out, 20}));
    pseudo = net::checksumAdd(0, {out + 12, 8});
  }
  put16(tcp, f.srcPort);
  put16(tcp + 2, f.dstPort);
  put32(tcp + 4, f.seq);
  put32(tcp + 8, f.ack);
  put16(tcp + 16, 0);
  const uint32_t sum = net::checksumAdd(pseudo + kTcp + tcpLen, {tcp, tcpLen});
  put16(tcp + 16, net::checksumFinish(sum));
}

}  // namespace portcullis::scan
