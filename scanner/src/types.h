#pragma once
// Vocabulary shared by the scanner's parts: scan types, port states, results.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "packet/addresses.h"

namespace portcullis::scan {

enum class ScanType : uint8_t {
  kConnect,  // -sT
  kSyn,      // -sS
  kNull,     // -sN
  kFin,      // -sF
  kXmas,     // -sX
  kMaimon,   // -sM
  kAck,      // -sA
  kWindow,   // -sW
  kUdp,      // -sU
  kPing,     // -sn (host discovery only)
  kIdle,     // -sI
};

enum class Protocol : uint8_t { kTcp, kUdp };

/// nmap's port states (nmap book, "The Six Port States").
enum class PortState : uint8_t {
  kUnknown,  // not answered yet
  kOpen,
  kClosed,
  kFiltered,
  kUnfiltered,
  kOpenFiltered,
  kClosedFiltered,
};

/// Why a state was given, with nmap's reason names (shown by --reason and in XML).
enum class Reason : uint8_t {
  kNoResponse,
  kSynAck,
  kReset,
  kConnRefused,
  kUdpResponse,
  kPortUnreach,
  kHostUnreach,
  kNetUnreach,
  kProtoUnreach,
  kAdminProhibited,
  kHostProhibited,
  kNetProhibited,
  kEchoReply,
  kTimestampReply,
  kUserSet,
  kLocalhost,
  kSyn,
  kArpResponse,
  kNoIpIdChange,  // idle scan: the zombie's IP ID did not move (closed|filtered)
  kIpIdChange,    // idle scan: it moved (open)
};

std::string_view scanTypeName(ScanType t);  // nmap's scaninfo type: "syn", "connect", ...
std::string_view protocolName(Protocol p);
std::string_view portStateName(PortState s);
std::string_view reasonName(Reason r);

/// A destination address, IPv4 or IPv6.
struct Address {
  bool v6 = false;
  net::Ipv4Address v4addr;
  net::Ipv6Address v6addr;

  std::string toString() const { return v6 ? v6addr.toString() : v4addr.toString(); }
  bool operator==(const Address& o) const {
    return v6 == o.v6 && (v6 ? v6addr == o.v6addr : v4addr == o.v4addr);
  }
};

struct Target {
  Address address;
  std::string hostname;  // as given by the user when it was a name, else empty
};

struct PortResult {
  uint16_t port = 0;
  Protocol protocol = Protocol::kTcp;
  PortState state = PortState::kUnknown;
  Reason reason = Reason::kNoResponse;
  uint8_t replyTtl = 0;
};

struct HostResult {
  Target target;
  bool up = false;
  bool timedOut = false;  // --host-timeout gave up on it: nmap prints no ports for such a host
  Reason upReason = Reason::kNoResponse;
  uint8_t upTtl = 0;
  std::optional<net::MacAddress> mac;  // from an ARP reply on the local segment
  double latencySeconds = -1;          // smoothed RTT, -1 if unknown
  int64_t srttUs = 0;
  int64_t rttvarUs = 0;
  int64_t rtoUs = 0;
  double startTime = 0;  // epoch seconds
  double endTime = 0;
  std::vector<PortResult> ports;  // every scanned port with its final state
};

}  // namespace portcullis::scan
