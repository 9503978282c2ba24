#pragma once
// The service table: port -> name from IANA's Service Name and Transport Protocol Port Number
// Registry (names as registered), and the project's own "most likely open" order for
// --top-ports and -F. nmap's nmap-services is deliberately not used (its licence is not ours).

#include <cstdint>
#include <string_view>
#include <vector>

#include "types.h"

namespace portcullis::scan {

/// IANA service name for a port, or "unknown" as nmap prints it.
std::string_view serviceName(uint16_t port, Protocol protocol);

/// Looks a service name up ("http", "domain"); 0 when unknown.
uint16_t portForService(std::string_view name, Protocol protocol);

/// The `n` most likely open ports for `protocol`, in our order (see services.cpp). n is capped
/// at 65535.
std::vector<uint16_t> topPorts(Protocol protocol, size_t n);

/// How many ports a scan covers without -p: 1000, as nmap does.
inline constexpr size_t kDefaultTopPorts = 1000;
/// -F: 100 ports.
inline constexpr size_t kFastTopPorts = 100;

}  // namespace portcullis::scan
