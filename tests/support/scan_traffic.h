#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "pcap_writer.h"

namespace portcullis::testing {

/// A scan as the victim's interface sees it: the scanner's probes and the victim's answers, the
/// way nmap's scan types and a Linux target produce them.
struct ScanSpec {
  std::string type;  ///< syn connect ack window null fin xmas maimon udp
  std::string src = "198.18.0.2";
  std::string dst = "198.18.0.1";
  std::vector<uint16_t> ports;
  std::set<uint16_t> open;  ///< ports with a listening service
  uint64_t startMicros = 1'700'000'000'000'000ull;
  uint64_t gapMicros = 1000;      ///< between probes
  std::vector<std::string> dsts;  ///< several destinations (horizontal, block); else dst
  bool reacts = true;             ///< false for a forged decoy: no RST/ACK to SYN-ACKs
};

std::vector<TimedFrame> scanTraffic(const ScanSpec& spec);

/// A client making `connections` complete HTTP exchanges with a server's open port 80.
std::vector<TimedFrame> benignConnections(const std::string& client, const std::string& server,
                                          int connections, uint64_t startMicros,
                                          uint64_t gapMicros);

/// ICMP echo requests to each host, with their replies.
std::vector<TimedFrame> icmpSweep(const std::string& src, const std::vector<std::string>& hosts,
                                  uint64_t startMicros, uint64_t gapMicros);

/// The host itself as a client: `connections` HTTPS exchanges it opens to `server`.
std::vector<TimedFrame> outgoingConnections(const std::string& host, const std::string& server,
                                            int connections, uint64_t startMicros,
                                            uint64_t gapMicros);

/// Frames of several captures merged in time order.
std::vector<TimedFrame> merge(std::vector<std::vector<TimedFrame>> parts);

/// "198.18.0.<first>" … for `count` hosts.
std::vector<std::string> hostRange(const std::string& prefix, int first, int count);

/// Every scan type the generator makes, with the `scan` name its alerts must carry (a window
/// scan's probes are an ACK scan's, so it is reported as `ack`).
inline constexpr std::pair<const char*, const char*> kScanTypes[] = {
    {"syn", "syn"},    {"connect", "connect"}, {"ack", "ack"},
    {"window", "ack"}, {"null", "null"},       {"fin", "fin"},
    {"xmas", "xmas"},  {"maimon", "maimon"},   {"udp", "udp"}};

/// Ports 1..n.
std::vector<uint16_t> portRange(uint16_t first, uint16_t last);

}  // namespace portcullis::testing
