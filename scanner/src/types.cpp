#include "types.h"

namespace portcullis::scan {

std::string_view scanTypeName(ScanType t) {
  switch (t) {
    case ScanType::kConnect:
      return "connect";
    case ScanType::kSyn:
      return "syn";
    case ScanType::kNull:
      return "null";
    case ScanType::kFin:
      return "fin";
    case ScanType::kXmas:
      return "xmas";
    case ScanType::kMaimon:
      return "maimon";
    case ScanType::kAck:
      return "ack";
    case ScanType::kWindow:
      return "window";
    case ScanType::kUdp:
      return "udp";
    case ScanType::kPing:
      return "ping";
    case ScanType::kIdle:
      return "idle";
  }
  return "unknown";
}

std::string_view protocolName(Protocol p) { return p == Protocol::kTcp ? "tcp" : "udp"; }

std::string_view portStateName(PortState s) {
  switch (s) {
    case PortState::kUnknown:
      return "unknown";
    case PortState::kOpen:
      return "open";
    case PortState::kClosed:
      return "closed";
    case PortState::kFiltered:
      return "filtered";
    case PortState::kUnfiltered:
      return "unfiltered";
    case PortState::kOpenFiltered:
      return "open|filtered";
    case PortState::kClosedFiltered:
      return "closed|filtered";
  }
  return "unknown";
}

std::string_view reasonName(Reason r) {
  switch (r) {
    case Reason::kNoResponse:
      return "no-response";
    case Reason::kSynAck:
      return "syn-ack";
    case Reason::kReset:
      return "reset";
    case Reason::kConnRefused:
      return "conn-refused";
    case Reason::kUdpResponse:
      return "udp-response";
    case Reason::kPortUnreach:
      return "port-unreach";
    case Reason::kHostUnreach:
      return "host-unreach";
    case Reason::kNetUnreach:
      return "net-unreach";
    case Reason::kProtoUnreach:
      return "proto-unreach";
    case Reason::kAdminProhibited:
      return "admin-prohibited";
    case Reason::kHostProhibited:
      return "host-prohibited";
    case Reason::kNetProhibited:
      return "net-prohibited";
    case Reason::kEchoReply:
      return "echo-reply";
    case Reason::kTimestampReply:
      return "timestamp-reply";
    case Reason::kUserSet:
      return "user-set";
    case Reason::kLocalhost:
      return "localhost-response";
    case Reason::kSyn:
      return "syn";
    case Reason::kArpResponse:
      return "arp-response";
    case Reason::kNoIpIdChange:
      return "no-ipid-change";
    case Reason::kIpIdChange:
      return "ipid-change";
  }
  return "unknown";
}

}  // namespace portcullis::scan
