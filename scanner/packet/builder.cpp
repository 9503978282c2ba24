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

  auto next = [&](size_t i) -> const Layer* {
    return i + 1 < layers_.size() ? &layers_[i + 1] : nullptr;
  };

  // Pass 1: serialise and fill in the fields that describe the next layer and lengths.
  for (size_t i = 0; i < layers_.size(); ++i) {
    uint8_t* p = out.data() + offsets[i];
    const size_t rest = out.size() - offsets[i];  // this layer and everything after it
    std::visit(
        [&](const auto& h) {
          using T = std::decay_t<decltype(h)>;
          if constexpr (std::is_same_v<T, Ipv6Header>) {
            h.serialize(p, protocolOf(next(i)));
          } else {
            h.serialize(p);
          }
          if constexpr (std::is_same_v<T, EthernetHeader>) {
            if (!h.etherTypeSet()) {
              put16(p + 12, etherTypeOf(next(i)));
            }
          } else if constexpr (std::is_same_v<T, VlanHeader>) {
            if (!h.etherTypeSet()) {
              put16(p + 2, etherTypeOf(next(i)));
            }
          } else if constexpr (std::is_same_v<T, Ipv4Header>) {
            if (!h.totalLengthSet()) {
              put16(p + 2, static_cast<uint16_t>(rest));
            }
            if (!h.protocolSet()) {
              p[9] = protocolOf(next(i));
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
        layers_[i]);
  }

  // Pass 2: transport checksums, innermost first so an ICMP error quoting a packet built in the
  // same builder sees final bytes. Each uses the nearest network layer in front of it.
  for (size_t i = layers_.size(); i-- > 0;) {
    const Layer& l = layers_[i];
    uint8_t* p = out.data() + offsets[i];
    const size_t len = out.size() - offsets[i];
    const std::span<const uint8_t> body(p, len);
    const Layer* ip = nullptr;
    for (size_t j = i; j-- > 0;) {
      if (std::holds_alternative<Ipv4Header>(layers_[j]) ||
          std::holds_alternative<Ipv6Header>(layers_[j])) {
        ip = &layers_[j];
        break;
      }
    }
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

  // Pass 3: IPv4 header checksums, over the header only.
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
