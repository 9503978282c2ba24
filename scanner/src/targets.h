#pragma once
// Target specifications as nmap reads them: names, IPv4/IPv6 addresses, CIDR blocks
// (198.18.0.0/24, names too: host/30), per-octet ranges and lists (198.19.0.10-20,
// 198.18.1,3.1-5, 10.0.0.*), and files of those (-iL).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "types.h"

namespace portcullis::scan {

/// The most addresses one run will expand (a /8); more is almost surely a typo.
inline constexpr size_t kMaxTargets = size_t{1} << 24;

struct TargetOptions {
  bool ipv6 = false;    // -6: names resolve to IPv6, IPv4 literals are refused
  bool resolve = true;  // false in unit tests: names are an error instead of a lookup
};

/// Expands one specification, appending to `out`. False with a one-line `error` on failure.
bool expandTargetSpec(std::string_view spec, const TargetOptions& opts, std::vector<Target>& out,
                      std::string& error);

/// An address block, IPv4 or IPv6: "198.18.0.0/15", "fd00::/8", or one address.
struct AddressPrefix {
  Address base;  // host bits cleared
  int length = 0;

  static std::optional<AddressPrefix> parse(std::string_view text);
  bool contains(const Address& a) const;
};

/// Reads a comma-separated list of prefixes (PORTCULLIS_SCAN_ALLOW). False with one line in
/// `error` on the first bad item.
bool parsePrefixList(std::string_view text, std::vector<AddressPrefix>& out, std::string& error);

/// Reads whitespace-separated specifications from a file ('#' starts a comment; "-" is stdin).
bool readTargetFile(const std::string& path, std::vector<std::string>& specs, std::string& error);

}  // namespace portcullis::scan
