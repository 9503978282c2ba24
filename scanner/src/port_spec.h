#pragma once
// nmap's -p syntax: "22,80,1000-2000", "-" (1-65535), "1024-" , "-100", "T:22,U:53",
// service names ("http"), and "0" only when named explicitly.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::scan {

struct PortLists {
  std::vector<uint16_t> tcp;  // sorted, unique
  std::vector<uint16_t> udp;
  bool tcpGiven = false;  // a T: (or unqualified) part appeared
  bool udpGiven = false;
};

/// Parses a -p argument. On error returns nullopt and sets `error` to a one-line reason.
std::optional<PortLists> parsePortSpec(std::string_view spec, std::string& error);

/// nmap's compact list form ("1,3-5,80"), used in XML scaninfo and grepable output.
std::string compactPortList(const std::vector<uint16_t>& sortedPorts);

}  // namespace portcullis::scan
