#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace portcullis::testing {

struct TimedFrame {
  uint64_t tsMicros;
  std::vector<uint8_t> bytes;
};

/// Writes Ethernet frames to a pcap file (libpcap's own writer). False on any error.
bool writePcap(const std::string& path, const std::vector<TimedFrame>& frames);

/// The same frames as a pcapng file (one section, one Ethernet interface, microsecond times),
/// written here block by block: libpcap reads pcapng but cannot write it.
bool writePcapng(const std::string& path, const std::vector<TimedFrame>& frames);

}  // namespace portcullis::testing
