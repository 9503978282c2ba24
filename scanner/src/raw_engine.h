#pragma once
// The raw-socket scan engine: a sender (IPPROTO_RAW socket, sendmmsg batches) and a receiver
// (libpcap on the outgoing interface) running apart, for IPv4 or IPv6 (one family per engine),
// joined only by a fixed array of per-probe slots. Replies are matched statelessly by the keyed
// cookie in the source port and sequence number; timing follows nmap (RFC 6298 RTO, congestion
// window, adaptive retries, rates).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "classify.h"
#include "packet/addresses.h"
#include "timing.h"
#include "types.h"

namespace portcullis::scan {

struct ProbeDef {
  // Echo is ICMPv6 echo on an IPv6 engine; timestamp exists only in ICMPv4.
  enum class Kind : uint8_t { kTcp, kUdp, kIcmpEcho, kIcmpTimestamp };
  Kind kind = Kind::kTcp;
  uint8_t tcpFlags = 0;
  uint16_t port = 0;
};

/// TCP flags each scan type sends (nmap's definitions).
uint8_t probeFlags(ScanType type);

/// Payload for a UDP probe to `port` (DNS, NTP, SNMP requests; empty elsewhere).
std::vector<uint8_t> udpPayload(uint16_t port);

struct EngineConfig {
  TimingParams timing;
  CongestionParams congestion;
  ScanType scanType = ScanType::kSyn;
  bool randomize = true;
  bool progress = false;
  int verbose = 0;
  std::optional<uint16_t> sourcePort;    // -g
  int ttl = 64;                          // --ttl
  size_t dataLength = 0;                 // --data-length: random bytes after the header
  size_t fragmentSize = 0;               // -f / --mtu: IP payload bytes per fragment, 0 = off
  Address source;                        // our address (or -S); its family is the engine's
  std::vector<net::Ipv4Address> decoys;  // -D, in order (IPv4 only)
  size_t mePosition = 0;                 // where the real probe goes among the decoys
  std::string iface;
  bool loopback = false;
  bool sendEth = true;  // Ethernet frames where the next hop is known (--send-eth); else --send-ip
};

struct SlotOutcome {
  Verdict verdict{PortState::kUnknown, Reason::kNoResponse};
  uint8_t ttl = 0;
  bool answered = false;
};

struct HostTiming {
  int64_t srttUs = 0;
  int64_t rttvarUs = 0;
  int64_t rtoUs = 0;
  bool timedOut = false;
  double startTime = 0;
  double endTime = 0;
};

class RawEngine {
 public:
  /// Opens the raw socket and the capture. Errors (EPERM, no such interface) come back in
  /// `error` as one line.
  static std::unique_ptr<RawEngine> open(const EngineConfig& cfg, std::string& error);
  ~RawEngine();
  /// The probes every run of this engine will send, for the progress line (0: each run's own).
  void expectProbes(uint64_t total);

  /// Changes what the next run() sends and how replies are read, keeping the socket and the
  /// capture (opening a capture ring costs milliseconds).
  void configure(ScanType type, int maxRetries);

  /// Sends every probe to every host and waits for the answers. Outcomes are indexed
  /// host * probes.size() + probe; `timing` gets one entry per host.
  std::vector<SlotOutcome> run(const std::vector<Address>& hosts,
                               const std::vector<ProbeDef>& probes,
                               std::vector<HostTiming>& timing);

  struct Impl;

 private:
  explicit RawEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace portcullis::scan
