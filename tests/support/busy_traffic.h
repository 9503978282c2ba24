#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "pcap_writer.h"
#include "scan_traffic.h"

namespace portcullis::testing {

/// What a busy server's interface sees besides scans: many clients, load generators, spoofed
/// floods, tunnel peers. Every generator is a pure function of the spec: the same seed gives the
/// same capture, byte for byte, on every machine (see Rng in busy_traffic.cpp).
///
/// Address plan (so ground truth is a set lookup):
///   server             198.18.0.1, fd00:198:18::1
///   HTTP clients       10.0.0.0/8 and 100.64.0.0/10
///   wrk client         192.0.2.50
///   tunnel peers       203.0.113.7 (GRE), .8 (IP-in-IP), .9 (ESP)
///   real scanners      198.51.100.0/24
///   spoofed sources    anywhere else in unicast space
///   rotating scanner   one IPv6 /64 (fd00:bad:1:2::/64)
struct BusySpec {
  uint64_t seed = 1;
  uint64_t startMicros = 1'700'000'000'000'000ull;
  uint64_t durationMicros = 90'000'000;  ///< the busy period every generator spreads over
  std::string server = "198.18.0.1";
  std::string server6 = "fd00:198:18::1";

  // HTTP clients (httpClients).
  int clients = 60'000;
  int minConnections = 1;  ///< per client, each a complete exchange to :80 or :443
  int maxConnections = 3;
  double synRetransmitted = 0.02;  ///< the SYN-ACK lost downstream: SYN, SYN-ACK, SYN, SYN-ACK, …
  double synAckMissing = 0.01;     ///< the server dropped the first SYN: SYN, SYN 1 s later, …

  // One load generator (wrkLoad): keep-alive-less connections to :80.
  std::string wrkClient = "192.0.2.50";
  int wrkConnections = 3000;
  uint64_t wrkDurationMicros = 6'000'000;

  // Spoofed SYN flood (spoofedSyns).
  int spoofed = 40'000;
  int synsPerSource = 2;
  uint64_t spoofedGapMicros = 1'000'000;            ///< between one source's SYNs
  uint64_t floodDurationMicros = 20'000'000;        ///< first SYNs spread over this
  uint16_t floodPort = 80;                          ///< 0: each SYN to a random port 1..65535
  std::vector<uint16_t> openPorts = {22, 80, 443};  ///< the server answers SYN-ACK here, else RST

  // Tunnel peers (tunnelPeers): one packet per second each over durationMicros.
  std::string grePeer = "203.0.113.7";
  std::string ipipPeer = "203.0.113.8";
  std::string espPeer = "203.0.113.9";

  // IPv6 scanner rotating its source inside one /64 (rotatingScan).
  std::string rotatingPrefix = "fd00:bad:1:2::";  ///< the /64; "<prefix>/64" names it in alerts
  int rotatingPorts = 1000;
  uint64_t rotatingGapMicros = 2000;

  /// Scenarios only: false leaves the scanners out (a purely benign capture).
  bool withScanners = true;
};

/// Ground truth about one scanner in a scenario: the source alerts must name and the `scan`
/// they must carry.
struct ScannerTruth {
  std::string src;   ///< an address, or "<prefix>/64" for the rotating IPv6 scanner
  std::string scan;  ///< syn fin connect udp …
};

/// A capture with its ground truth.
struct BusyScenario {
  std::vector<TimedFrame> frames;
  std::vector<ScannerTruth> scanners;  ///< each must be reported
  /// Sources no alert may name, with their role ("client", "spoofed", "server", "tunnel", "wrk")
  /// for failure messages.
  std::unordered_map<std::string, std::string> innocent;
};

/// The client addresses httpClients(spec) uses, in the order it uses them.
std::vector<std::string> clientAddresses(const BusySpec& spec);

/// spec.clients clients, each making minConnections..maxConnections complete HTTP(S) exchanges
/// to the server (its stack's full SYN options, request, response, FINs both ways), first SYNs
/// spread uniformly over the busy period.
std::vector<TimedFrame> httpClients(const BusySpec& spec);

/// One client (spec.wrkClient) making spec.wrkConnections connections to server:80 within
/// spec.wrkDurationMicros from the start, each one request and close, with the retransmitted
/// SYNs and dropped first SYNs of an overloaded accept queue.
std::vector<TimedFrame> wrkLoad(const BusySpec& spec);

/// The addresses spoofedSyns(spec) forges, in order.
std::vector<std::string> spoofedAddresses(const BusySpec& spec);

/// spec.spoofed forged sources each sending spec.synsPerSource raw SYNs (no options or MSS
/// only), spec.spoofedGapMicros apart, to spec.floodPort (or random ports), first SYNs spread
/// over spec.floodDurationMicros. The server's SYN-ACKs (open port) or RSTs go back to the
/// forged addresses and are never answered.
std::vector<TimedFrame> spoofedSyns(const BusySpec& spec);

/// A GRE peer and an ESP peer exchanging one packet per second each way with the server, and an
/// IP-in-IP load balancer sending the server one packet per second, over the busy period.
std::vector<TimedFrame> tunnelPeers(const BusySpec& spec);

/// A SYN scan of ports 1..spec.rotatingPorts (random order) of spec.server6, each probe from a
/// fresh random address in spec.rotatingPrefix/64, starting at `startMicros`. The server
/// answers RST (closed) or SYN-ACK (open, then the scanner's RST).
std::vector<TimedFrame> rotatingScan(const BusySpec& spec, uint64_t startMicros);

/// A scan from `src` of `ports` ports (1..ports, random order) of the server, starting at
/// `startMicros`, 1–5 ms between probes (drawn from the seed and src): for scanTraffic().
ScanSpec insideScan(const BusySpec& spec, const std::string& type, const std::string& src,
                    int ports, uint64_t startMicros);

/// Only the frames addressed to one of `serverAddrs` (IPv4 or IPv6 text): what a capture of
/// one direction of the server's link holds.
std::vector<TimedFrame> inboundOnly(const std::vector<TimedFrame>& frames,
                                    const std::vector<std::string>& serverAddrs);

/// The scenario names busyScenario() knows, in the order busy_gen lists them.
inline constexpr const char* kBusyScenarios[] = {
    "clients", "spoofed-then-scan", "synflood", "tunnels", "ipv6-rotation", "wrk", "mixed"};

/// The sizes a scenario is tested at (busy_replay_test), before any override: e.g. "clients"
/// is 60,000 clients over 90 s, "synflood" 20,000 spoofed sources.
BusySpec scenarioSpec(const std::string& name, uint64_t seed);

/// Builds a named scenario (kBusyScenarios) from `spec`; an unknown name gives no frames.
///   clients            HTTP clients; SYN 1000, FIN 300, connect 200, UDP 300-port scanners inside
///   spoofed-then-scan  spoofed SYN flood, then a 500-port SYN scan from a real address
///   synflood           a 300-port SYN scan (the control), then the spoofed SYN flood
///   tunnels            GRE, IP-in-IP and ESP peers; a 300-port SYN scan half way
///   ipv6-rotation      HTTP clients; the rotating IPv6 scan at a third of the period
///   wrk                one wrk client and ordinary clients; a 300-port SYN scan half way
///   mixed              all of the above at once over the busy period
BusyScenario busyScenario(const std::string& name, const BusySpec& spec);

}  // namespace portcullis::testing
