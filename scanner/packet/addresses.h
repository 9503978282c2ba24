#pragma once
// Small value types for link and network addresses, shared by every header class.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::net {

/// A 48-bit Ethernet address, kept in wire order.
struct MacAddress {
  std::array<uint8_t, 6> bytes{};

  /// Parses "aa:bb:cc:dd:ee:ff"; nullopt on anything else.
  static std::optional<MacAddress> parse(std::string_view text);
  std::string toString() const;
  bool operator==(const MacAddress&) const = default;
};

/// An IPv4 address held in host byte order, so arithmetic (ranges, CIDR) is plain integer math.
struct Ipv4Address {
  uint32_t value = 0;

  static std::optional<Ipv4Address> parse(std::string_view text);
  std::string toString() const;
  /// The address in network byte order, as it goes on the wire.
  uint32_t networkOrder() const;
  static Ipv4Address fromNetworkOrder(uint32_t be);
  auto operator<=>(const Ipv4Address&) const = default;
};

/// An IPv6 address, kept in wire order.
struct Ipv6Address {
  std::array<uint8_t, 16> bytes{};

  static std::optional<Ipv6Address> parse(std::string_view text);
  std::string toString() const;
  auto operator<=>(const Ipv6Address&) const = default;
};

}  // namespace portcullis::net
