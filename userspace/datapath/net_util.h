#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "portcullis/addr.h"

namespace portcullis {

/// "198.18.0.1" for IPv4-mapped addresses, RFC 5952 text for IPv6.
std::string formatAddr(const pc_addr& addr);

/// Parses an IPv4 or IPv6 address; nullopt when it is neither.
std::optional<pc_addr> parseAddr(std::string_view text);

struct Prefix {
  pc_addr addr{};
  unsigned length = 0;  ///< over the 128-bit mapped address (an IPv4 /24 is /120)
};

/// Parses "ADDR" or "ADDR/LEN" (IPv4 or IPv6); nullopt on any malformed part.
std::optional<Prefix> parsePrefix(std::string_view text);

/// Whether `a` lies inside prefix `p`.
bool prefixContains(const Prefix& p, const pc_addr& a);

/// "198.18.0.0/24" (or a bare address for a full-length prefix).
std::string formatPrefix(const Prefix& p);

/// Where a watch in this network namespace pins its maps: <pinRoot>/net<inode of the
/// namespace>/. Interface names repeat across namespaces (every container has its `lo` and
/// `eth0`), so pins keyed by the name alone would mix two detectors' maps.
std::string namespacedPinRoot(const std::string& pinRoot);

/// The IPv4 and IPv6 addresses configured on an interface.
std::vector<pc_addr> interfaceAddrs(const std::string& iface);

}  // namespace portcullis
