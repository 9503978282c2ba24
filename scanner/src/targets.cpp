#include "targets.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iostream>

namespace portcullis::scan {
namespace {

struct OctetSet {
  std::vector<uint8_t> values;
};

bool parseUint(std::string_view s, uint32_t max, uint32_t& out) {
  if (s.empty() || s.size() > 10) {
    return false;
  }
  const auto* end = s.data() + s.size();
  const auto [p, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && p == end && out <= max;
}

// One octet of a range spec: "*", "5", "10-20", "-20", "10-", "1,3,5-7".
bool parseOctet(std::string_view s, OctetSet& out) {
  if (s == "*") {
    for (int v = 0; v < 256; ++v) out.values.push_back(static_cast<uint8_t>(v));
    return true;
  }
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string_view::npos) comma = s.size();
    const auto item = s.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) return false;
    const size_t dash = item.find('-');
    uint32_t lo = 0;
    uint32_t hi = 0;
    if (dash == std::string_view::npos) {
      if (!parseUint(item, 255, lo)) return false;
      hi = lo;
    } else {
      const auto a = item.substr(0, dash);
      const auto b = item.substr(dash + 1);
      lo = 0;
      hi = 255;
      if (!a.empty() && !parseUint(a, 255, lo)) return false;
      if (!b.empty() && !parseUint(b, 255, hi)) return false;
      if (lo > hi) return false;
    }
    for (uint32_t v = lo; v <= hi; ++v) out.values.push_back(static_cast<uint8_t>(v));
    if (comma == s.size()) break;
  }
  std::sort(out.values.begin(), out.values.end());
  out.values.erase(std::unique(out.values.begin(), out.values.end()), out.values.end());
  return true;
}

bool looksLikeOctetSpec(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ',' || c == '*';
  }) && std::count(s.begin(), s.end(), '.') == 3;
}

bool addV4Block(uint32_t base, int prefix, const std::string& name, std::vector<Target>& out,
                std::string& error, std::string_view spec) {
  const uint64_t count = uint64_t{1} << (32 - prefix);
  if (out.size() + count > kMaxTargets) {
    error = "target '" + std::string(spec) + "' expands past " + std::to_string(kMaxTargets) +
            " addresses";
    return false;
  }
  const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  const uint32_t first = base & mask;
  for (uint64_t i = 0; i < count; ++i) {
    Target t;
    t.address.v4addr.value = static_cast<uint32_t>(first + i);
    t.hostname = count == 1 ? name : std::string();
    out.push_back(std::move(t));
  }
  return true;
}

bool resolveName(std::string_view name, const TargetOptions& opts, Address& out,
                 std::string& error) {
  if (!opts.resolve) {
    error = "cannot resolve '" + std::string(name) + "' (name resolution disabled)";
    return false;
  }
  addrinfo hints{};
  hints.ai_family = opts.ipv6 ? AF_INET6 : AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  const std::string host(name);
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    error = "failed to resolve '" + host + "': " + gai_strerror(rc);
    return false;
  }
  if (res->ai_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(res->ai_addr);
    out.v6 = false;
    out.v4addr = net::Ipv4Address::fromNetworkOrder(sin->sin_addr.s_addr);
  } else {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(res->ai_addr);
    out.v6 = true;
    std::memcpy(out.v6addr.bytes.data(), &sin6->sin6_addr, 16);
  }
  freeaddrinfo(res);
  return true;
}

// Splits "host/prefix"; `prefix` stays -1 without a slash.
bool splitNetmask(std::string_view spec, std::string_view& host, int& prefix, std::string& error) {
  host = spec;
  prefix = -1;
  const size_t slash = spec.rfind('/');
  if (slash != std::string_view::npos) {
    uint32_t p = 0;
    if (!parseUint(spec.substr(slash + 1), 128, p)) {
      error = "bad netmask in target '" + std::string(spec) + "'";
      return false;
    }
    prefix = static_cast<int>(p);
    host = spec.substr(0, slash);
  }
  return true;
}

bool expandIpv6Literal(std::string_view spec, std::string_view host, int prefix,
                       std::vector<Target>& out, std::string& error) {
  const auto a6 = net::Ipv6Address::parse(host);
  if (!a6) {
    error = "bad IPv6 address in target '" + std::string(spec) + "'";
    return false;
  }
  const int pfx = prefix < 0 ? 128 : prefix;
  if (pfx < 104) {
    error = "IPv6 target '" + std::string(spec) + "' is too large (prefix /104 or longer)";
    return false;
  }
  const uint32_t count = 1u << (128 - pfx);
  for (uint32_t i = 0; i < count; ++i) {
    Target t;
    t.address.v6 = true;
    t.address.v6addr = *a6;
    // Clear host bits then add i into the last 24 bits (pfx >= 104 keeps it there).
    uint32_t low = static_cast<uint32_t>(a6->bytes[13]) << 16 |
                   static_cast<uint32_t>(a6->bytes[14]) << 8 | a6->bytes[15];
    const uint32_t hostBits = 128 - static_cast<uint32_t>(pfx);
    low = (hostBits >= 24 ? 0 : (low & ~((1u << hostBits) - 1))) + i;
    t.address.v6addr.bytes[13] = static_cast<uint8_t>(low >> 16);
    t.address.v6addr.bytes[14] = static_cast<uint8_t>(low >> 8);
    t.address.v6addr.bytes[15] = static_cast<uint8_t>(low);
    out.push_back(std::move(t));
  }
  return true;
}

// An nmap octet range such as 10.0.0-3.1,5 (no netmask allowed with it).
bool expandOctetRange(std::string_view spec, std::string_view host, int prefix,
                      std::vector<Target>& out, std::string& error) {
  if (prefix >= 0) {
    error = "target '" + std::string(spec) + "' mixes a range and a netmask";
    return false;
  }
  OctetSet octets[4];
  size_t start = 0;
  for (int i = 0; i < 4; ++i) {
    const size_t dot = i < 3 ? host.find('.', start) : host.size();
    if (!parseOctet(host.substr(start, dot - start), octets[i])) {
      error = "bad target '" + std::string(spec) + "' (octet " + std::to_string(i + 1) +
              " is not a number, range or list of 0-255)";
      return false;
    }
    start = dot + 1;
  }
  const uint64_t count = uint64_t{octets[0].values.size()} * octets[1].values.size() *
                         octets[2].values.size() * octets[3].values.size();
  if (out.size() + count > kMaxTargets) {
    error = "target '" + std::string(spec) + "' expands past " + std::to_string(kMaxTargets) +
            " addresses";
    return false;
  }
  for (uint8_t a : octets[0].values)
    for (uint8_t b : octets[1].values)
      for (uint8_t c : octets[2].values)
        for (uint8_t d : octets[3].values) {
          Target t;
          t.address.v4addr.value = uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d;
          out.push_back(std::move(t));
        }
  return true;
}

bool expandHostName(std::string_view spec, std::string_view host, int prefix,
                    const TargetOptions& opts, std::vector<Target>& out, std::string& error) {
  // A host name: letters, digits, hyphens and dots only.
  const bool nameChars = std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
  });
  if (!nameChars || host.empty() || host.size() > 253) {
    error = "bad target specification '" + std::string(spec) + "'";
    return false;
  }
  Target t;
  if (!resolveName(host, opts, t.address, error)) {
    return false;
  }
  if (t.address.v6) {
    if (prefix >= 0 && prefix != 128) {
      error = "netmask on IPv6 name '" + std::string(spec) + "' is not supported";
      return false;
    }
    t.hostname = std::string(host);
    out.push_back(std::move(t));
    return true;
  }
  return addV4Block(t.address.v4addr.value, prefix < 0 ? 32 : prefix, std::string(host), out, error,
                    spec);
}

}  // namespace

bool expandTargetSpec(std::string_view spec, const TargetOptions& opts, std::vector<Target>& out,
                      std::string& error) {
  if (spec.empty()) {
    error = "empty target specification";
    return false;
  }
  std::string_view host;
  int prefix = -1;
  if (!splitNetmask(spec, host, prefix, error)) return false;
  if (host.find(':') != std::string_view::npos) {
    return expandIpv6Literal(spec, host, prefix, out, error);
  }
  if (prefix > 32) {
    error = "bad netmask in target '" + std::string(spec) + "' (IPv4 prefixes are 0-32)";
    return false;
  }
  if (opts.ipv6 && looksLikeOctetSpec(host)) {
    error = "IPv4 target '" + std::string(spec) + "' given with -6";
    return false;
  }
  if (const auto a4 = net::Ipv4Address::parse(host)) {
    return addV4Block(a4->value, prefix < 0 ? 32 : prefix, "", out, error, spec);
  }
  if (looksLikeOctetSpec(host)) {
    return expandOctetRange(spec, host, prefix, out, error);
  }
  return expandHostName(spec, host, prefix, opts, out, error);
}

std::optional<AddressPrefix> AddressPrefix::parse(std::string_view text) {
  const size_t slash = text.find('/');
  const std::string_view host = text.substr(0, slash);
  AddressPrefix p;
  int maxLen = 32;
  if (const auto a4 = net::Ipv4Address::parse(host)) {
    p.base.v4addr = *a4;
  } else if (const auto a6 = net::Ipv6Address::parse(host)) {
    p.base.v6 = true;
    p.base.v6addr = *a6;
    maxLen = 128;
  } else {
    return std::nullopt;
  }
  p.length = maxLen;
  if (slash != std::string_view::npos) {
    uint32_t len = 0;
    if (!parseUint(text.substr(slash + 1), static_cast<uint32_t>(maxLen), len)) return std::nullopt;
    p.length = static_cast<int>(len);
  }
  // Clear the host bits, so contains() compares whole bytes and one partial byte.
  if (p.base.v6) {
    for (int i = 0; i < 16; ++i) {
      const int keep = std::clamp(p.length - i * 8, 0, 8);
      p.base.v6addr.bytes[static_cast<size_t>(i)] &= static_cast<uint8_t>(0xff00 >> keep);
    }
  } else if (p.length < 32) {
    p.base.v4addr.value &= p.length == 0 ? 0 : ~uint32_t{0} << (32 - p.length);
  }
  return p;
}

bool AddressPrefix::contains(const Address& a) const {
  if (a.v6 != base.v6) return false;
  if (!a.v6) {
    const uint32_t mask = length == 0 ? 0 : ~uint32_t{0} << (32 - length);
    return (a.v4addr.value & mask) == base.v4addr.value;
  }
  for (int i = 0; i < 16; ++i) {
    const int keep = std::clamp(length - i * 8, 0, 8);
    const auto mask = static_cast<uint8_t>(0xff00 >> keep);
    if ((a.v6addr.bytes[static_cast<size_t>(i)] & mask) !=
        base.v6addr.bytes[static_cast<size_t>(i)]) {
      return false;
    }
  }
  return true;
}

bool parsePrefixList(std::string_view text, std::vector<AddressPrefix>& out, std::string& error) {
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view item = text.substr(pos, comma - pos);
    const auto p = AddressPrefix::parse(item);
    if (!p) {
      error =
          "bad prefix '" + std::string(item) + "' (use 198.18.0.0/15 or fd00::/8, comma-separated)";
      return false;
    }
    out.push_back(*p);
    pos = comma + 1;
  }
  return true;
}

bool readTargetFile(const std::string& path, std::vector<std::string>& specs, std::string& error) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path);
    if (!file) {
      error = "cannot open target list '" + path + "': " + std::strerror(errno);
      return false;
    }
    in = &file;
  }
  std::string line;
  while (std::getline(*in, line)) {
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    size_t pos = 0;
    while (pos < line.size()) {
      while (pos < line.size() && std::isspace(static_cast<unsigned char>(line[pos]))) ++pos;
      size_t end = pos;
      while (end < line.size() && !std::isspace(static_cast<unsigned char>(line[end]))) ++end;
      if (end > pos) specs.push_back(line.substr(pos, end - pos));
      pos = end;
    }
  }
  return true;
}

}  // namespace portcullis::scan
