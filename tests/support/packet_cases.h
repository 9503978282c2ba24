#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "portcullis/flags.h"
#include "portcullis/packet.h"

namespace portcullis::testing {

/// One frame and what every backend must make of it: the table the parser's unit tests and the
/// XDP program's BPF_PROG_TEST_RUN tests both walk.
struct PacketCase {
  std::string name;
  std::vector<uint8_t> frame;
  int parse;           ///< enum pc_parse_result
  int kind;            ///< enum pc_kind the source's counter moves in; -1 when no source is read
  std::string src;     ///< source address as text; empty when no source is read
  uint16_t dport = 0;  ///< expected destination port (0: not checked)
};

/// Every scan kind over IPv4 and IPv6, with a VLAN tag, with IP options and IPv6 extension
/// headers, as fragments, truncated at every header boundary, with a bad IHL or data offset.
/// Each case uses its own source address, so map state can be checked per case.
std::vector<PacketCase> packetCases();

/// A SYN from src to dst:dport, for tests that need one more probe.
std::vector<uint8_t> synFrame(const std::string& src, const std::string& dst, uint16_t dport,
                              uint16_t sport = 40000, uint8_t flags = 0x02);

}  // namespace portcullis::testing
