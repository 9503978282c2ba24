#include "port_spec.h"

#include <algorithm>
#include <charconv>

#include "services.h"

namespace portcullis::scan {
namespace {

bool parseNumber(std::string_view s, uint32_t& out) {
  if (s.empty() || s.size() > 5) {
    return false;
  }
  const auto* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && ptr == end && out <= 65535;
}

void addRange(std::vector<uint16_t>& v, uint32_t lo, uint32_t hi) {
  for (uint32_t p = lo; p <= hi; ++p) {
    v.push_back(static_cast<uint16_t>(p));
  }
}

void normalise(std::vector<uint16_t>& v) {
  if (!std::is_sorted(v.begin(), v.end())) std::sort(v.begin(), v.end());  // -p- already is
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

enum class Which { kBoth, kTcp, kUdp };

// A "T:" or "U:" prefix switches the protocol for this item and the ones after it.
bool takeProtocolPrefix(std::string_view& item, Which& current, std::string& error) {
  if (item.size() < 2 || item[1] != ':') {
    return true;
  }
  const char c = item[0];
  if (c == 'T' || c == 't') {
    current = Which::kTcp;
  } else if (c == 'U' || c == 'u') {
    current = Which::kUdp;
  } else {
    error = "unsupported protocol prefix '" + std::string(item.substr(0, 2)) +
            "' in port specification (use T: or U:)";
    return false;
  }
  item.remove_prefix(2);
  return true;
}

// "lo-hi", where an empty end means 1 or 65535.
bool parseRange(std::string_view item, size_t dash, std::vector<uint16_t>& ports,
                std::string& error) {
  uint32_t lo = 1;
  uint32_t hi = 65535;
  const auto loText = item.substr(0, dash);
  const auto hiText = item.substr(dash + 1);
  if ((!loText.empty() && !parseNumber(loText, lo)) ||
      (!hiText.empty() && !parseNumber(hiText, hi))) {
    error = "bad port range '" + std::string(item) + "' (ports are 0-65535)";
    return false;
  }
  if (lo > hi) {
    error = "bad port range '" + std::string(item) + "': start is after end";
    return false;
  }
  addRange(ports, lo, hi);
  return true;
}

// A service name stands for its own TCP and UDP ports, which may differ or be missing.
bool addServiceName(std::string_view item, Which current, PortLists& out, std::string& error) {
  const bool name = std::all_of(item.begin(), item.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
  const uint16_t tp = name ? portForService(item, Protocol::kTcp) : 0;
  const uint16_t up = name ? portForService(item, Protocol::kUdp) : 0;
  if (tp == 0 && up == 0) {
    error = "bad port '" + std::string(item) + "' (not a number 0-65535 or known service)";
    return false;
  }
  if (current != Which::kUdp && tp != 0) {
    out.tcp.push_back(tp);
    out.tcpGiven = true;
  }
  if (current != Which::kTcp && up != 0) {
    out.udp.push_back(up);
    out.udpGiven = true;
  }
  return true;
}

void addPorts(const std::vector<uint16_t>& ports, Which current, PortLists& out) {
  if (current != Which::kUdp) {
    out.tcp.insert(out.tcp.end(), ports.begin(), ports.end());
    out.tcpGiven = true;
  }
  if (current != Which::kTcp) {
    out.udp.insert(out.udp.end(), ports.begin(), ports.end());
    out.udpGiven = true;
  }
}

// One comma-separated item: [T:|U:] then a port, a range or a service name.
bool parsePortItem(std::string_view spec, std::string_view item, Which& current, PortLists& out,
                   std::string& error) {
  if (!takeProtocolPrefix(item, current, error)) {
    return false;
  }
  if (item.empty()) {
    error = "empty item in port specification '" + std::string(spec) + "'";
    return false;
  }
  std::vector<uint16_t> ports;
  const size_t dash = item.find('-');
  if (dash != std::string_view::npos) {
    if (!parseRange(item, dash, ports, error)) {
      return false;
    }
  } else {
    uint32_t p = 0;
    if (!parseNumber(item, p)) {
      return addServiceName(item, current, out, error);
    }
    ports.push_back(static_cast<uint16_t>(p));
  }
  addPorts(ports, current, out);
  return true;
}

}  // namespace

std::optional<PortLists> parsePortSpec(std::string_view spec, std::string& error) {
  PortLists out;
  if (spec.empty()) {
    error = "empty port specification";
    return std::nullopt;
  }
  Which current = Which::kBoth;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string_view::npos) {
      comma = spec.size();
    }
    const std::string_view item = spec.substr(pos, comma - pos);
    pos = comma + 1;
    if (!parsePortItem(spec, item, current, out, error)) {
      return std::nullopt;
    }
    if (comma == spec.size()) {
      break;
    }
  }
  normalise(out.tcp);
  normalise(out.udp);
  return out;
}

std::string compactPortList(const std::vector<uint16_t>& sortedPorts) {
  std::string out;
  size_t i = 0;
  while (i < sortedPorts.size()) {
    size_t j = i;
    while (j + 1 < sortedPorts.size() && sortedPorts[j + 1] == sortedPorts[j] + 1) {
      ++j;
    }
    if (!out.empty()) {
      out += ',';
    }
    out += std::to_string(sortedPorts[i]);
    if (j > i) {
      out += '-';
      out += std::to_string(sortedPorts[j]);
    }
    i = j + 1;
  }
  return out;
}

}  // namespace portcullis::scan
