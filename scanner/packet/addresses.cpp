#include "addresses.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

namespace portcullis::net {

std::optional<MacAddress> MacAddress::parse(std::string_view text) {
  if (text.size() != 17) {
    return std::nullopt;
  }
  MacAddress mac;
  for (size_t i = 0; i < 6; ++i) {
    unsigned value = 0;
    for (size_t j = 0; j < 2; ++j) {
      const char c = text[i * 3 + j];
      value <<= 4;
      if (c >= '0' && c <= '9') {
        value |= static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        value |= static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        value |= static_cast<unsigned>(c - 'A' + 10);
      } else {
        return std::nullopt;
      }
    }
    if (i < 5 && text[i * 3 + 2] != ':' && text[i * 3 + 2] != '-') {
      return std::nullopt;
    }
    mac.bytes[i] = static_cast<uint8_t>(value);
  }
  return mac;
}

std::string MacAddress::toString() const {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02X:%02X:%02X:%02X:%02X:%02X", bytes[0], bytes[1], bytes[2],
                bytes[3], bytes[4], bytes[5]);
  return buf;
}

std::optional<Ipv4Address> Ipv4Address::parse(std::string_view text) {
  // inet_pton is strict dotted-quad (no octal, no short forms), which is what targets want.
  if (text.size() >= INET_ADDRSTRLEN) {
    return std::nullopt;
  }
  char buf[INET_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  in_addr addr{};
  if (inet_pton(AF_INET, buf, &addr) != 1) {
    return std::nullopt;
  }
  return Ipv4Address{ntohl(addr.s_addr)};
}

std::string Ipv4Address::toString() const {
  char buf[INET_ADDRSTRLEN];
  in_addr addr{htonl(value)};
  inet_ntop(AF_INET, &addr, buf, sizeof(buf));
  return buf;
}

uint32_t Ipv4Address::networkOrder() const { return htonl(value); }

Ipv4Address Ipv4Address::fromNetworkOrder(uint32_t be) { return Ipv4Address{ntohl(be)}; }

std::optional<Ipv6Address> Ipv6Address::parse(std::string_view text) {
  if (text.size() >= INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  Ipv6Address out;
  if (inet_pton(AF_INET6, buf, out.bytes.data()) != 1) {
    return std::nullopt;
  }
  return out;
}

std::string Ipv6Address::toString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf));
  return buf;
}

}  // namespace portcullis::net
