#include "classify.h"

#include "packet/tcp.h"

namespace portcullis::scan {

using net::tcp_flags::kAck;
using net::tcp_flags::kRst;
using net::tcp_flags::kSyn;

Verdict noResponseVerdict(ScanType type) {
  switch (type) {
    case ScanType::kNull:
    case ScanType::kFin:
    case ScanType::kXmas:
    case ScanType::kMaimon:
    case ScanType::kUdp:
      return {PortState::kOpenFiltered, Reason::kNoResponse};
    default:
      return {PortState::kFiltered, Reason::kNoResponse};
  }
}

std::optional<Verdict> tcpReplyVerdict(ScanType type, uint8_t flags, uint16_t window) {
  const bool rst = (flags & kRst) != 0;
  const bool syn = (flags & kSyn) != 0;
  switch (type) {
    case ScanType::kSyn:
    case ScanType::kConnect:
      if (rst) return Verdict{PortState::kClosed, Reason::kReset};
      if (syn && (flags & kAck)) return Verdict{PortState::kOpen, Reason::kSynAck};
      if (syn) return Verdict{PortState::kOpen, Reason::kSyn};  // split handshake
      return std::nullopt;
    case ScanType::kNull:
    case ScanType::kFin:
    case ScanType::kXmas:
    case ScanType::kMaimon:
      if (rst) return Verdict{PortState::kClosed, Reason::kReset};
      return std::nullopt;
    case ScanType::kAck:
      if (rst) return Verdict{PortState::kUnfiltered, Reason::kReset};
      return std::nullopt;
    case ScanType::kWindow:
      // A positive window in the RST means open on the stacks this scan works against.
      if (rst) return Verdict{window > 0 ? PortState::kOpen : PortState::kClosed, Reason::kReset};
      return std::nullopt;
    case ScanType::kPing:
      if (rst) return Verdict{PortState::kOpen, Reason::kReset};
      if (syn) return Verdict{PortState::kOpen, Reason::kSynAck};
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

Verdict udpReplyVerdict() { return {PortState::kOpen, Reason::kUdpResponse}; }

std::optional<Verdict> icmpUnreachableVerdict(ScanType type, uint8_t code) {
  Reason reason;
  switch (code) {
    case 0:
      reason = Reason::kNetUnreach;
      break;
    case 1:
      reason = Reason::kHostUnreach;
      break;
    case 2:
      reason = Reason::kProtoUnreach;
      break;
    case 3:
      reason = Reason::kPortUnreach;
      break;
    case 9:
      reason = Reason::kNetProhibited;
      break;
    case 10:
      reason = Reason::kHostProhibited;
      break;
    case 13:
      reason = Reason::kAdminProhibited;
      break;
    default:
      return std::nullopt;
  }
  if (type == ScanType::kUdp) {
    return Verdict{code == 3 ? PortState::kClosed : PortState::kFiltered, reason};
  }
  if (type == ScanType::kPing) {
    return std::nullopt;  // the caller decides from the sender of the error
  }
  return Verdict{PortState::kFiltered, reason};
}

}  // namespace portcullis::scan
