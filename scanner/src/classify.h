#pragma once
// How a reply (or its absence) maps to a port state for each scan type, as nmap's manual
// defines it ("Port Scanning Techniques"). Pure functions, so the table is unit-tested.

#include <cstdint>
#include <optional>

#include "types.h"

namespace portcullis::scan {

struct Verdict {
  PortState state;
  Reason reason;
};

/// State of a port that never answered (after all retransmissions).
Verdict noResponseVerdict(ScanType type);

/// A TCP segment from the probed port. nullopt when the scan type ignores it (e.g. a SYN/ACK to
/// a FIN probe, which no stack sends).
std::optional<Verdict> tcpReplyVerdict(ScanType type, uint8_t flags, uint16_t window);

/// A UDP datagram from the probed port.
Verdict udpReplyVerdict();

/// An ICMPv4 destination-unreachable (type 3) quoting our probe, with its code.
std::optional<Verdict> icmpUnreachableVerdict(ScanType type, uint8_t code);

}  // namespace portcullis::scan
