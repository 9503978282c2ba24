#include "scanner.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>

#include "arp_ping.h"
#include "connect_engine.h"
#include "idle_scan.h"
#include "net_util.h"
#include "output.h"
#include "packet/tcp.h"
#include "raw_engine.h"
#include "services.h"
#include "targets.h"

namespace portcullis::scan {
namespace {

// Slots (hosts x probes) in one host group: bounds the engine's memory (about 12 bytes each).
constexpr size_t kMaxSlotsPerGroup = size_t{4} << 20;
constexpr size_t kMaxHostsPerGroup = 4096;

int fail(const std::string& msg) {
  std::cerr << "portcullis-scan: " << msg << "\n";
  return 2;
}

struct Outputs {
  std::vector<std::unique_ptr<std::ofstream>> files;
  std::vector<std::unique_ptr<ReportWriter>> writers;

  bool open(const std::string& path, std::unique_ptr<ReportWriter> (*make)(std::ostream&),
            std::string& error) {
    if (path.empty()) return true;
    if (path == "-") {
      writers.push_back(make(std::cout));
      return true;
    }
    auto f = std::make_unique<std::ofstream>(path);
    if (!*f) {
      error = "cannot write '" + path + "'";
      return false;
    }
    writers.push_back(make(*f));
    files.push_back(std::move(f));
    return true;
  }
  void begin(const RunInfo& i) {
    for (auto& w : writers) w->begin(i);
  }
  void host(const HostResult& h) {
    for (auto& w : writers) w->host(h);
  }
  void end(const RunInfo& i) {
    for (auto& w : writers) w->end(i);
  }
};

bool isRawType(ScanType t) { return t != ScanType::kConnect; }

}  // namespace

int runScan(const Options& opts) {
  std::string error;
  // Targets.
  std::vector<std::string> specs = opts.targetSpecs;
  if (!opts.inputList.empty() && !readTargetFile(opts.inputList, specs, error)) return fail(error);
  if (specs.empty()) return fail("no targets given (name, address, CIDR or range; see --help)");
  TargetOptions topts;
  topts.ipv6 = opts.ipv6;
  std::vector<Target> targets;
  for (const auto& s : specs) {
    if (!expandTargetSpec(s, topts, targets, error)) return fail(error);
  }

  // A safety net for labs and test suites: with PORTCULLIS_SCAN_ALLOW set (comma-separated
  // prefixes), a target outside them is refused before anything is sent.
  if (const char* allow = std::getenv("PORTCULLIS_SCAN_ALLOW"); allow != nullptr) {
    std::vector<AddressPrefix> allowed;
    if (!parsePrefixList(allow, allowed, error)) return fail("PORTCULLIS_SCAN_ALLOW: " + error);
    for (const auto& t : targets) {
      const bool ok = std::any_of(allowed.begin(), allowed.end(),
                                  [&](const AddressPrefix& p) { return p.contains(t.address); });
      if (!ok) {
        return fail("target " + t.address.toString() + " is outside PORTCULLIS_SCAN_ALLOW (" +
                    allow + "); nothing was sent");
      }
    }
  }

  // Scan types and privilege: nmap's default is SYN when privileged, connect otherwise.
  const bool privileged = haveRawPrivilege();
  const bool v6 = std::any_of(targets.begin(), targets.end(),
                              [](const Target& t) { return t.address.v6; });
  std::optional<ScanType> tcpType = opts.tcpScan;
  if (!tcpType && !opts.udpScan && !opts.pingOnly) {
    tcpType = privileged ? ScanType::kSyn : ScanType::kConnect;
  }
  const bool needRaw = (tcpType && isRawType(*tcpType)) || opts.udpScan ||
                       !opts.decoys.empty() || !opts.spoofSource.empty() ||
                       opts.fragmentSize > 0;
  if (needRaw && !privileged) {
    std::string what = tcpType && isRawType(*tcpType)
                           ? "-s" + std::string(1, "TSNFXMAWUnI"[static_cast<int>(*tcpType)])
                           : std::string(opts.udpScan ? "-sU" : "this option");
    return fail(what + " needs raw-socket privilege (root or CAP_NET_RAW); run as root, or use "
                "-sT for a connect scan");
  }
  // IPv6 probes are never fragmented by -f here (nmap's IPv6 -f adds a fragment header; the
  // detector's tests need only IPv4 fragments) and decoys are IPv4 addresses.
  if (v6 && opts.fragmentSize > 0) return fail("-f/--mtu is supported for IPv4 targets only");
  if (v6 && !opts.decoys.empty()) return fail("-D decoys are supported for IPv4 targets only");

  // Ports.
  std::vector<uint16_t> tcpPorts;
  std::vector<uint16_t> udpPorts;
  if (opts.portsGiven) {
    tcpPorts = opts.ports.tcp;
    udpPorts = opts.ports.udp;
  } else {
    const size_t n = opts.topPorts > 0 ? opts.topPorts : kDefaultTopPorts;
    tcpPorts = topPorts(Protocol::kTcp, n);
    udpPorts = topPorts(Protocol::kUdp, n);
    std::sort(tcpPorts.begin(), tcpPorts.end());
    std::sort(udpPorts.begin(), udpPorts.end());
  }
  if (!tcpType) tcpPorts.clear();
  if (!opts.udpScan) udpPorts.clear();
  if (!opts.pingOnly && tcpPorts.empty() && udpPorts.empty()) {
    return fail("no ports to scan for the chosen scan types (check -p's T:/U: prefixes)");
  }

  // The idle scan's zombie is qualified before any output, so a refused zombie is one line.
  std::unique_ptr<IdleScanner> idle;
  if (tcpType == ScanType::kIdle) {
    idle = openIdleScanner(opts, targets, error);
    if (!idle) return fail(error);
  }

  // Outputs.
  Outputs outs;
  outs.writers.push_back(makeNormalWriter(std::cout));
  if (!outs.open(opts.outNormal, makeNormalWriter, error) ||
      !outs.open(opts.outXml, makeXmlWriter, error) ||
      !outs.open(opts.outGrepable, makeGrepableWriter, error) ||
      !outs.open(opts.outJson, makeJsonWriter, error)) {
    return fail(error);
  }

  RunInfo info;
  info.args = opts.commandLine;
  info.startTime = epochSeconds();
  info.verbose = opts.verbose;
  if (opts.pingOnly) info.scanTypes.push_back(ScanType::kPing);
  if (tcpType) info.scanTypes.push_back(*tcpType);
  if (opts.udpScan) info.scanTypes.push_back(ScanType::kUdp);
  info.tcpPorts = tcpPorts;
  info.udpPorts = udpPorts;
  info.hostsTotal = targets.size();

  // Routes: group targets by (interface, source) so each engine has one capture.
  struct RouteGroup {
    Route route;
    std::vector<size_t> members;
  };
  std::vector<RouteGroup> routeGroups;
  std::map<std::pair<std::string, std::string>, size_t> routeIndex;
  std::vector<size_t> unroutable;
  for (size_t i = 0; i < targets.size(); ++i) {
    Route r;
    std::string rerr;
    if (!findRoute(targets[i].address, opts.iface, r, rerr)) {
      if (targets.size() == 1) return fail(rerr);
      unroutable.push_back(i);
      continue;
    }
    if (!opts.spoofSource.empty()) {
      if (r.source.v6) {
        const auto s = net::Ipv6Address::parse(opts.spoofSource);
        if (!s) return fail("bad -S address '" + opts.spoofSource + "' for an IPv6 target");
        r.source.v6addr = *s;
      } else {
        const auto s = net::Ipv4Address::parse(opts.spoofSource);
        if (!s) return fail("bad -S address '" + opts.spoofSource + "' for an IPv4 target");
        r.source.v4addr = *s;
      }
    }
    const auto key = std::make_pair(r.iface, r.source.toString());
    auto it = routeIndex.find(key);
    if (it == routeIndex.end()) {
      it = routeIndex.emplace(key, routeGroups.size()).first;
      routeGroups.push_back({r, {}});
    }
    routeGroups[it->second].members.push_back(i);
  }

  // Decoys.
  std::vector<net::Ipv4Address> decoys;
  size_t mePosition = 0;
  bool meSeen = false;
  std::mt19937 rng{std::random_device{}()};
  for (const auto& d : opts.decoys) {
    if (d == "ME" || d == "me") {
      mePosition = decoys.size();
      meSeen = true;
    } else if (d.rfind("RND", 0) == 0) {
      size_t n = 1;
      if (d.size() > 4 && d[3] == ':') n = std::strtoul(d.c_str() + 4, nullptr, 10);
      if (n == 0 || n > 128) return fail("bad decoy count in '" + d + "' (1-128)");
      // Random decoys are drawn from the benchmarking range 198.18.0.0/15 (RFC 2544), so even
      // a decoy reply can never reach a real host.
      for (size_t k = 0; k < n; ++k) {
        decoys.push_back({static_cast<uint32_t>(0xc6120000u | (rng() & 0x1ffffu))});
      }
    } else if (const auto a = net::Ipv4Address::parse(d)) {
      decoys.push_back(*a);
    } else {
      return fail("bad decoy '" + d + "' (use addresses, ME or RND:n)");
    }
  }
  if (!meSeen) mePosition = decoys.size();

  if (idle) info.notes.push_back(idle->banner());
  outs.begin(info);
  const bool progress = opts.progress || (opts.verbose > 0 && isatty(STDERR_FILENO));

  for (size_t i : unroutable) {
    HostResult h;
    h.target = targets[i];
    outs.host(h);
  }

  for (const auto& rg : routeGroups) {
    EngineConfig ecfg;
    ecfg.timing = opts.timing;
    ecfg.congestion = congestionFor(opts.timing.level);
    ecfg.randomize = !opts.sequential;
    ecfg.progress = progress;
    ecfg.verbose = opts.verbose;
    ecfg.sourcePort = opts.sourcePort;
    ecfg.ttl = opts.ttl;
    ecfg.dataLength = opts.dataLength;
    ecfg.fragmentSize = opts.fragmentSize;
    ecfg.source = rg.route.source;
    ecfg.decoys = decoys;
    ecfg.mePosition = mePosition;
    ecfg.iface = rg.route.iface;
    ecfg.loopback = rg.route.loopback;
    const bool rawOk = privileged;

    std::unique_ptr<RawEngine> engine;
    if (rawOk) {
      engine = RawEngine::open(ecfg, error);
      if (!engine) return fail(error);
    }

    const size_t probesPerHost = std::max<size_t>(tcpPorts.size() + udpPorts.size(), 4);
    const size_t groupSize =
        std::clamp<size_t>(kMaxSlotsPerGroup / probesPerHost, 1, kMaxHostsPerGroup);
    for (size_t g0 = 0; g0 < rg.members.size(); g0 += groupSize) {
      const size_t g1 = std::min(rg.members.size(), g0 + groupSize);
      std::vector<HostResult> results(g1 - g0);
      for (size_t k = g0; k < g1; ++k) results[k - g0].target = targets[rg.members[k]];
      const double groupStart = epochSeconds();
      for (auto& r : results) r.startTime = groupStart;

      // Host discovery.
      if (opts.noPing) {
        for (auto& r : results) {
          r.up = true;
          r.upReason = Reason::kUserSet;
        }
      } else {
        // nmap's rule: IPv4 neighbours on a directly connected Ethernet segment are found by
        // ARP, which no host firewall filters; everything else by IP probes.
        std::vector<size_t> viaArp;
        std::vector<size_t> viaIp;
        std::vector<AddressPrefix> neighbours;
        if (engine && !rg.route.source.v6 && !rg.route.loopback && !opts.disableArpPing) {
          neighbours = ethernetNeighbourPrefixes(rg.route.iface);
        }
        for (size_t h = 0; h < results.size(); ++h) {
          const Address& a = results[h].target.address;
          const bool arp = !(a == rg.route.source) &&
                           std::any_of(neighbours.begin(), neighbours.end(),
                                       [&](const AddressPrefix& p) { return p.contains(a); });
          (arp ? viaArp : viaIp).push_back(h);
        }
        if (!viaArp.empty()) {
          std::vector<net::Ipv4Address> arpHosts;
          for (size_t h : viaArp) arpHosts.push_back(results[h].target.address.v4addr);
          ArpConfig acfg;
          acfg.maxRetries = std::min(opts.timing.maxRetries, 1);
          acfg.initialTimeoutUs = opts.timing.initialRttTimeoutMs * 1000;
          acfg.minTimeoutUs = opts.timing.minRttTimeoutMs * 1000;
          acfg.maxTimeoutUs = opts.timing.maxRttTimeoutMs * 1000;
          acfg.maxRate = opts.timing.maxRate;
          const auto replies =
              arpPing(rg.route.iface, rg.route.source.v4addr, arpHosts, acfg, error);
          if (!replies) return fail(error);
          for (size_t k = 0; k < viaArp.size(); ++k) {
            const ArpReply& a = (*replies)[k];
            if (!a.answered) continue;
            HostResult& r = results[viaArp[k]];
            r.up = true;
            r.upReason = Reason::kArpResponse;
            r.mac = a.mac;
            r.latencySeconds = static_cast<double>(a.rttUs) / 1e6;
          }
        }
        std::vector<Address> ipAddrs;
        for (size_t h : viaIp) ipAddrs.push_back(results[h].target.address);
        std::vector<HostTiming> timing;
        std::vector<SlotOutcome> outcomes;
        size_t nprobes = 0;
        if (ipAddrs.empty()) {
          // every host was asked by ARP
        } else if (engine) {
          // nmap's default probes for a privileged scan: echo, SYN to 443, ACK to 80, and an
          // ICMP timestamp request (IPv4 only: ICMPv6 has none).
          std::vector<ProbeDef> pings = {
              {ProbeDef::Kind::kIcmpEcho, 0, 0},
              {ProbeDef::Kind::kTcp, net::tcp_flags::kSyn, 443},
              {ProbeDef::Kind::kTcp, net::tcp_flags::kAck, 80}};
          if (!rg.route.source.v6) pings.push_back({ProbeDef::Kind::kIcmpTimestamp, 0, 0});
          engine->configure(ScanType::kPing, std::min(opts.timing.maxRetries, 1));
          outcomes = engine->run(ipAddrs, pings, timing);
          nprobes = pings.size();
        } else {
          ConnectConfig ccfg;
          ccfg.timing = opts.timing;
          ccfg.timing.maxRetries = std::min(ccfg.timing.maxRetries, 1);
          ccfg.scanType = ScanType::kPing;
          ccfg.iface = opts.iface;
          outcomes = runConnectScan(ipAddrs, {80, 443}, ccfg, timing);
          nprobes = 2;
        }
        for (size_t k = 0; k < ipAddrs.size(); ++k) {
          HostResult& r = results[viaIp[k]];
          for (size_t p = 0; p < nprobes; ++p) {
            const auto& o = outcomes[k * nprobes + p];
            if (o.answered) {
              r.up = true;
              r.upReason = o.verdict.reason;
              r.upTtl = o.ttl;
              break;
            }
          }
          if (r.up && timing[k].srttUs > 0) {
            r.latencySeconds = static_cast<double>(timing[k].srttUs) / 1e6;
            r.srttUs = timing[k].srttUs;
            r.rttvarUs = timing[k].rttvarUs;
            r.rtoUs = timing[k].rtoUs;
          }
        }
      }

      // Port scans of the hosts that are up.
      std::vector<size_t> upIdx;
      for (size_t h = 0; h < results.size(); ++h) {
        if (results[h].up) upIdx.push_back(h);
      }
      auto scanProtocol = [&](ScanType type, const std::vector<uint16_t>& ports) -> bool {
        if (ports.empty() || upIdx.empty()) return true;
        if (type == ScanType::kIdle) {
          for (size_t h : upIdx) {
            HostResult& r = results[h];
            if (!idle->scan(r.target.address.v4addr, ports, r.srttUs, r.ports, error)) return false;
          }
          return true;
        }
        std::vector<HostTiming> timing;
        std::vector<SlotOutcome> outcomes;
        if (type == ScanType::kConnect) {
          ConnectConfig ccfg;
          ccfg.timing = opts.timing;
          ccfg.congestion = congestionFor(opts.timing.level);
          ccfg.randomize = !opts.sequential;
          ccfg.progress = progress;
          ccfg.iface = opts.iface;
          std::vector<Address> a;
          for (size_t h : upIdx) a.push_back(results[h].target.address);
          outcomes = runConnectScan(a, ports, ccfg, timing);
        } else {
          std::vector<ProbeDef> probes;
          probes.reserve(ports.size());
          for (uint16_t p : ports) {
            if (type == ScanType::kUdp) {
              probes.push_back({ProbeDef::Kind::kUdp, 0, p});
            } else {
              probes.push_back({ProbeDef::Kind::kTcp, probeFlags(type), p});
            }
          }
          engine->configure(type, opts.timing.maxRetries);
          std::vector<Address> hs;
          for (size_t h : upIdx) hs.push_back(results[h].target.address);
          outcomes = engine->run(hs, probes, timing);
        }
        const Protocol proto = type == ScanType::kUdp ? Protocol::kUdp : Protocol::kTcp;
        for (size_t k = 0; k < upIdx.size(); ++k) {
          HostResult& r = results[upIdx[k]];
          for (size_t p = 0; p < ports.size(); ++p) {
            const auto& o = outcomes[k * ports.size() + p];
            r.ports.push_back({ports[p], proto, o.verdict.state, o.verdict.reason, o.ttl});
          }
          if (timing[k].timedOut) r.timedOut = true;
          if (r.latencySeconds < 0 && timing[k].srttUs > 0) {
            r.latencySeconds = static_cast<double>(timing[k].srttUs) / 1e6;
          }
          if (timing[k].srttUs > 0) {
            r.srttUs = timing[k].srttUs;
            r.rttvarUs = timing[k].rttvarUs;
            r.rtoUs = timing[k].rtoUs;
          }
        }
        return true;
      };
      if (!opts.pingOnly) {
        if (tcpType && !scanProtocol(*tcpType, tcpPorts)) return fail(error);
        if (opts.udpScan && !scanProtocol(ScanType::kUdp, udpPorts)) return fail(error);
      }
      const double groupEnd = epochSeconds();
      for (auto& r : results) {
        r.endTime = groupEnd;
        if (r.up) ++info.hostsUp;
        outs.host(r);
      }
    }
  }

  info.endTime = epochSeconds();
  if (info.hostsUp == 0 && info.hostsTotal == 1 && !opts.noPing) {
    std::cout << "Note: Host seems down. If it is really up, but blocking our ping probes, "
                 "try -Pn\n";
  }
  outs.end(info);
  return 0;
}

}  // namespace portcullis::scan
