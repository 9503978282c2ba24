#include "builder.h"

#include "checksum.h"

namespace portcullis::net {
namespace {

size_t layerSize(const PacketBuilder::Layer& l) {
  return std::visit([](const auto& h) { return h.size(); }, l);
}

// EtherType announcing layer `l` to the link layer in front of it; 0 if it has none.
uint16_t etherTypeOf(const PacketBuilder::Layer* l) {
  if (l == nullptr) {
    return 0;
  }
  if (std::holds_alternative<VlanHeader>(*l)) {
    return kEtherTypeVlan;
  }
  if (std::holds_alternative<Ipv4Header>(*l)) {
    return kEtherTypeIpv4;
  }
  if (std::holds_alternative<Ipv6Header>(*l)) {
    return kEtherTypeIpv6;
  }
  return 0;
}

// IP protocol number of layer `l` for the network layer in front of it.
uint8_t protocolOf(const PacketBuilder::Layer* l) {
  if (l == nullptr) {
    return kIpv6NoNextHeader;
  }
  if (std::holds_alternative<TcpHeader>(*l)) {
    return kIpProtoTcp;
  }
  if (std::holds_alternative<UdpHeader>(*l)) {
    return kIpProtoUdp;
  }
  if (std::holds_alternative<IcmpHeader>(*l)) {
    return kIpProtoIcmp;
  }
  if (std::holds_alternative<Icmpv6Header>(*l)) {
    return kIpProtoIcmpv6;
  }
  if (std::holds_alternative<Ipv4Header>(*l)) {
    return kIpProtoIpip;
  }
  if (std::holds_alternative<Ipv6Header>(*l)) {
    return kIpProtoIpv6;
  }
  return kIpv6NoNextHeader;
}

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

using Layers = std::vector<PacketBuilder::Layer>;

const PacketBuilder::Layer* layerAfter(const Layers& layers, size_t i) {
  return i + 1 < layers.size() ? &layers[i + 1] : nullptr;
}

// Serialises layer `i` at `p` and fills in the fields that describe the next layer and the
// lengths; `rest` counts this layer and everything after it.
void serializeLayer(const Layers& layers, size_t i, uint8_t* p, size_t rest) {
  const PacketBuilder::Layer* next = layerAfter(layers, i);
  std::visit(
      [&](const auto& h) {
        using T = std::decay_t<decltype(h)>;
        if constexpr (std::is_same_v<T, Ipv6Header>) {
          h.serialize(p, protocolOf(next));
        } else {
          h.serialize(p);
        }
        if constexpr (std::is_same_v<T, EthernetHeader>) {
          if (!h.etherTypeSet()) {
            put16(p + 12, etherTypeOf(next));
          }
        } else if constexpr (std::is_same_v<T, VlanHeader>) {
          if (!h.etherTypeSet()) {
            put16(p + 2, etherTypeOf(next));
          }
        } else if constexpr (std::is_same_v<T, Ipv4Header>) {
          if (!h.totalLengthSet()) {
            put16(p + 2, static_cast<uint16_t>(rest));
          }
          if (!h.protocolSet()) {
            p[9] = protocolOf(next);
          }
        } else if constexpr (std::is_same_v<T, Ipv6Header>) {
          if (!h.payloadLengthSet()) {
            put16(p + 4, static_cast<uint16_t>(rest - Ipv6Header::kFixedSize));
          }
        } else if constexpr (std::is_same_v<T, UdpHeader>) {
          if (!h.lengthSet()) {
            put16(p + 4, static_cast<uint16_t>(rest));
          }
        }
      },
      layers[i]);
}

// The nearest network layer in front of layer `i`, whose addresses a transport checksum covers.
const PacketBuilder::Layer* networkLayerBefore(const Layers& layers, size_t i) {
  for (size_t j = i; j-- > 0;) {
    if (std::holds_alternative<Ipv4Header>(layers[j]) ||
        std::holds_alternative<Ipv6Header>(layers[j])) {
      return &layers[j];
    }
  }
  return nullptr;
}

// Fills in layer `i`'s transport checksum (when it has one and it was not set) over `len` bytes
// from `p`, this header and everything after it.
void fillTransportChecksum(const Layers& layers, size_t i, uint8_t* p, size_t len) {
  const PacketBuilder::Layer& l = layers[i];
  const std::span<const uint8_t> body(p, len);
  const PacketBuilder::Layer* ip = networkLayerBefore(layers, i);
  auto pseudo = [&](uint8_t proto) -> uint32_t {
    if (ip == nullptr) {
      return 0;
    }
    if (const auto* v4 = std::get_if<Ipv4Header>(ip)) {
      return pseudoHeaderSum(v4->src(), v4->dst(), proto, static_cast<uint32_t>(len));
    }
    const auto& v6 = std::get<Ipv6Header>(*ip);
    return pseudoHeaderSum(v6.src(), v6.dst(), proto, static_cast<uint32_t>(len));
  };
  auto fill = [&](size_t at, uint32_t start, bool zeroMeansNone) {
    p[at] = 0;
    p[at + 1] = 0;
    uint16_t sum = checksumFinish(checksumAdd(start, body));
    if (zeroMeansNone && sum == 0) {
      sum = 0xffff;  // RFC 768: a computed zero is sent as all ones
    }
    put16(p + at, sum);
  };
  if (const auto* t = std::get_if<TcpHeader>(&l); t && !t->checksumSet()) {
    fill(16, pseudo(kIpProtoTcp), false);
  } else if (const auto* u = std::get_if<UdpHeader>(&l); u && !u->checksumSet()) {
    fill(6, pseudo(kIpProtoUdp), true);
  } else if (const auto* c = std::get_if<IcmpHeader>(&l); c && !c->checksumSet()) {
    fill(2, 0, false);
  } else if (const auto* c6 = std::get_if<Icmpv6Header>(&l); c6 && !c6->checksumSet()) {
    fill(2, pseudo(kIpProtoIcmpv6), false);
  }
}

}  // namespace

std::vector<uint8_t> PacketBuilder::build() const {
  std::vector<size_t> offsets(layers_.size());
  size_t total = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    offsets[i] = total;
    total += layerSize(layers_[i]);
  }
  std::vector<uint8_t> out(total + payload_.size());
  std::copy(payload_.begin(), payload_.end(), out.begin() + static_cast<ptrdiff_t>(total));

  for (size_t i = 0; i < layers_.size(); ++i) {
    serializeLayer(layers_, i, out.data() + offsets[i], out.size() - offsets[i]);
  }

  // Transport checksums innermost first, so an ICMP error quoting a packet built in the same
  // builder sees final bytes.
  for (size_t i = layers_.size(); i-- > 0;) {
    fillTransportChecksum(layers_, i, out.data() + offsets[i], out.size() - offsets[i]);
  }

  // IPv4 header checksums, over the header only.
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (const auto* v4 = std::get_if<Ipv4Header>(&layers_[i]); v4 && !v4->checksumSet()) {
      uint8_t* p = out.data() + offsets[i];
      p[10] = 0;
      p[11] = 0;
      put16(p + 10, internetChecksum({p, v4->size()}));
    }
  }
  return out;
}

}  // namespace portcullis::net
