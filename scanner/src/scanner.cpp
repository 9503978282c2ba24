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

// Targets that share an interface and source address, so one engine (one capture) serves them.
struct RouteGroup {
  Route route;
  std::vector<size_t> members;  // indexes into the run's targets
};

// One run of the scanner. prepare() does everything that may refuse the run before any output
// is written; execute() then scans route group by route group and host group by host group:
// host discovery, then the port scans of the hosts that are up, then their results.
class ScanRun {
 public:
  explicit ScanRun(const Options& opts) : opts_(opts) {}

  bool prepare() {
    if (!resolveTargets() || !checkAllowList() || !chooseScanTypes() || !choosePorts()) {
      return false;
    }
    // The idle scan's zombie is qualified before any output, so a refused zombie is one line.
    if (tcpType_ == ScanType::kIdle) {
      idle_ = openIdleScanner(opts_, targets_, error_);
      if (!idle_) return false;
    }
    if (!openOutputs()) return false;
    describeRun();
    return groupByRoute() && parseDecoys();
  }

  bool execute() {
    if (idle_) info_.notes.push_back(idle_->banner());
    outs_.begin(info_);
    progress_ = opts_.progress || (opts_.verbose > 0 && isatty(STDERR_FILENO));
    for (size_t i : unroutable_) {
      HostResult h;
      h.target = targets_[i];
      outs_.host(h);
    }
    for (const auto& rg : routeGroups_) {
      if (!scanRouteGroup(rg)) return false;
    }
    info_.endTime = epochSeconds();
    if (info_.hostsUp == 0 && info_.hostsTotal == 1 && !opts_.noPing) {
      std::cout << "Note: Host seems down. If it is really up, but blocking our ping probes, "
                   "try -Pn\n";
    }
    outs_.end(info_);
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  bool refuse(const std::string& msg) {
    error_ = msg;
    return false;
  }

  bool resolveTargets() {
    std::vector<std::string> specs = opts_.targetSpecs;
    if (!opts_.inputList.empty() && !readTargetFile(opts_.inputList, specs, error_)) return false;
    if (specs.empty()) return refuse("no targets given (name, address, CIDR or range; see --help)");
    TargetOptions topts;
    topts.ipv6 = opts_.ipv6;
    for (const auto& s : specs) {
      if (!expandTargetSpec(s, topts, targets_, error_)) return false;
    }
    return true;
  }

  // A safety net for labs and test suites: with PORTCULLIS_SCAN_ALLOW set (comma-separated
  // prefixes), a target outside them is refused before anything is sent.
  bool checkAllowList() {
    const char* allow = std::getenv("PORTCULLIS_SCAN_ALLOW");
    if (allow == nullptr) return true;
    std::vector<AddressPrefix> allowed;
    if (!parsePrefixList(allow, allowed, error_)) {
      return refuse("PORTCULLIS_SCAN_ALLOW: " + error_);
    }
    for (const auto& t : targets_) {
      const bool ok = std::any_of(allowed.begin(), allowed.end(),
                                  [&](const AddressPrefix& p) { return p.contains(t.address); });
      if (!ok) {
        return refuse("target " + t.address.toString() + " is outside PORTCULLIS_SCAN_ALLOW (" +
                      allow + "); nothing was sent");
      }
    }
    return true;
  }

  // nmap's default is SYN when privileged, connect otherwise.
  bool chooseScanTypes() {
    privileged_ = haveRawPrivilege();
    const bool v6 =
        std::any_of(targets_.begin(), targets_.end(), [](const Target& t) { return t.address.v6; });
    tcpType_ = opts_.tcpScan;
    if (!tcpType_ && !opts_.udpScan && !opts_.pingOnly) {
      tcpType_ = privileged_ ? ScanType::kSyn : ScanType::kConnect;
    }
    const bool rawTcp = tcpType_ && isRawType(*tcpType_);
    const bool needRaw = rawTcp || opts_.udpScan || !opts_.decoys.empty() ||
                         !opts_.spoofSource.empty() || opts_.fragmentSize > 0;
    if (needRaw && !privileged_) {
      std::string what = rawTcp ? "-s" + std::string(1, "TSNFXMAWUnI"[static_cast<int>(*tcpType_)])
                                : std::string(opts_.udpScan ? "-sU" : "this option");
      return refuse(what +
                    " needs raw-socket privilege (root or CAP_NET_RAW); run as root, or "
                    "use -sT for a connect scan");
    }
    // IPv6 probes are never fragmented by -f here (nmap's IPv6 -f adds a fragment header; the
    // detector's tests need only IPv4 fragments) and decoys are IPv4 addresses.
    if (v6 && opts_.fragmentSize > 0) return refuse("-f/--mtu is supported for IPv4 targets only");
    if (v6 && !opts_.decoys.empty()) return refuse("-D decoys are supported for IPv4 targets only");
    return true;
  }

  bool choosePorts() {
    if (opts_.portsGiven) {
      tcpPorts_ = opts_.ports.tcp;
      udpPorts_ = opts_.ports.udp;
    } else {
      const size_t n = opts_.topPorts > 0 ? opts_.topPorts : kDefaultTopPorts;
      tcpPorts_ = topPorts(Protocol::kTcp, n);
      udpPorts_ = topPorts(Protocol::kUdp, n);
      std::sort(tcpPorts_.begin(), tcpPorts_.end());
      std::sort(udpPorts_.begin(), udpPorts_.end());
    }
    if (!tcpType_) tcpPorts_.clear();
    if (!opts_.udpScan) udpPorts_.clear();
    if (!opts_.pingOnly && tcpPorts_.empty() && udpPorts_.empty()) {
      return refuse("no ports to scan for the chosen scan types (check -p's T:/U: prefixes)");
    }
    return true;
  }

  bool openOutputs() {
    outs_.writers.push_back(makeNormalWriter(std::cout));
    return outs_.open(opts_.outNormal, makeNormalWriter, error_) &&
           outs_.open(opts_.outXml, makeXmlWriter, error_) &&
           outs_.open(opts_.outGrepable, makeGrepableWriter, error_) &&
           outs_.open(opts_.outJson, makeJsonWriter, error_);
  }

  void describeRun() {
    info_.args = opts_.commandLine;
    info_.startTime = epochSeconds();
    info_.verbose = opts_.verbose;
    if (opts_.pingOnly) info_.scanTypes.push_back(ScanType::kPing);
    if (tcpType_) info_.scanTypes.push_back(*tcpType_);
    if (opts_.udpScan) info_.scanTypes.push_back(ScanType::kUdp);
    info_.tcpPorts = tcpPorts_;
    info_.udpPorts = udpPorts_;
    info_.hostsTotal = targets_.size();
  }

  // Groups targets by (interface, source) so each engine has one capture.
  bool groupByRoute() {
    std::map<std::pair<std::string, std::string>, size_t> routeIndex;
    RouteFinder routes(opts_.iface);
    for (size_t i = 0; i < targets_.size(); ++i) {
      Route r;
      std::string rerr;
      if (!routes.find(targets_[i].address, r, rerr)) {
        if (targets_.size() == 1) return refuse(rerr);
        unroutable_.push_back(i);
        continue;
      }
      if (!opts_.spoofSource.empty() && !applySpoofedSource(r.source)) return false;
      const auto key = std::make_pair(r.iface, r.source.toString());
      auto it = routeIndex.find(key);
      if (it == routeIndex.end()) {
        it = routeIndex.emplace(key, routeGroups_.size()).first;
        routeGroups_.push_back({r, {}});
      }
      routeGroups_[it->second].members.push_back(i);
    }
    return true;
  }

  bool applySpoofedSource(Address& source) {
    if (source.v6) {
      const auto s = net::Ipv6Address::parse(opts_.spoofSource);
      if (!s) return refuse("bad -S address '" + opts_.spoofSource + "' for an IPv6 target");
      source.v6addr = *s;
    } else {
      const auto s = net::Ipv4Address::parse(opts_.spoofSource);
      if (!s) return refuse("bad -S address '" + opts_.spoofSource + "' for an IPv4 target");
      source.v4addr = *s;
    }
    return true;
  }

  bool parseDecoys() {
    bool meSeen = false;
    std::mt19937 rng{std::random_device{}()};
    for (const auto& d : opts_.decoys) {
      if (d == "ME" || d == "me") {
        mePosition_ = decoys_.size();
        meSeen = true;
      } else if (d.rfind("RND", 0) == 0) {
        size_t n = 1;
        if (d.size() > 4 && d[3] == ':') n = std::strtoul(d.c_str() + 4, nullptr, 10);
        if (n == 0 || n > 128) return refuse("bad decoy count in '" + d + "' (1-128)");
        // Random decoys are drawn from the benchmarking range 198.18.0.0/15 (RFC 2544), so even
        // a decoy reply can never reach a real host.
        for (size_t k = 0; k < n; ++k) {
          decoys_.push_back({static_cast<uint32_t>(0xc6120000u | (rng() & 0x1ffffu))});
        }
      } else if (const auto a = net::Ipv4Address::parse(d)) {
        decoys_.push_back(*a);
      } else {
        return refuse("bad decoy '" + d + "' (use addresses, ME or RND:n)");
      }
    }
    if (!meSeen) mePosition_ = decoys_.size();
    return true;
  }

  EngineConfig engineConfig(const RouteGroup& rg) const {
    EngineConfig ecfg;
    ecfg.timing = opts_.timing;
    ecfg.congestion = congestionFor(opts_.timing.level);
    ecfg.randomize = !opts_.sequential;
    ecfg.progress = progress_;
    ecfg.verbose = opts_.verbose;
    ecfg.sourcePort = opts_.sourcePort;
    ecfg.ttl = opts_.ttl;
    ecfg.dataLength = opts_.dataLength;
    ecfg.fragmentSize = opts_.fragmentSize;
    ecfg.source = rg.route.source;
    ecfg.decoys = decoys_;
    ecfg.mePosition = mePosition_;
    ecfg.iface = rg.route.iface;
    ecfg.loopback = rg.route.loopback;
    ecfg.sendEth = !opts_.sendIp;
    ecfg.sendEth = !opts_.sendIp;
    return ecfg;
  }

  // Without raw-socket privilege there is no engine and every probe is a connect().
  bool scanRouteGroup(const RouteGroup& rg) {
    std::unique_ptr<RawEngine> engine;
    if (privileged_) {
      engine = RawEngine::open(engineConfig(rg), error_);
      if (!engine) return false;
    }
    if (engine && !opts_.pingOnly) {
      engine->expectProbes(rg.members.size() * (tcpPorts_.size() + udpPorts_.size()));
    }
    const size_t probesPerHost = std::max<size_t>(tcpPorts_.size() + udpPorts_.size(), 4);
    const size_t groupSize =
        std::clamp<size_t>(kMaxSlotsPerGroup / probesPerHost, 1, kMaxHostsPerGroup);
    for (size_t g0 = 0; g0 < rg.members.size(); g0 += groupSize) {
      const size_t g1 = std::min(rg.members.size(), g0 + groupSize);
      if (!scanHostGroup(rg, engine.get(), g0, g1)) return false;
    }
    return true;
  }

  // Members [g0, g1) of `rg`: discovery, port scans of the hosts found up, then their results.
  bool scanHostGroup(const RouteGroup& rg, RawEngine* engine, size_t g0, size_t g1) {
    std::vector<HostResult> results(g1 - g0);
    for (size_t k = g0; k < g1; ++k) results[k - g0].target = targets_[rg.members[k]];
    const double groupStart = epochSeconds();
    for (auto& r : results) r.startTime = groupStart;

    if (!discoverHosts(rg, engine, results)) return false;

    std::vector<size_t> upIdx;
    for (size_t h = 0; h < results.size(); ++h) {
      if (results[h].up) upIdx.push_back(h);
    }
    if (!opts_.pingOnly) {
      if (tcpType_ && !scanPorts(*tcpType_, tcpPorts_, engine, upIdx, results)) return false;
      if (opts_.udpScan && !scanPorts(ScanType::kUdp, udpPorts_, engine, upIdx, results)) {
        return false;
      }
    }
    const double groupEnd = epochSeconds();
    for (auto& r : results) {
      r.endTime = groupEnd;
      if (r.up) ++info_.hostsUp;
      outs_.host(r);
    }
    return true;
  }

  bool discoverHosts(const RouteGroup& rg, RawEngine* engine, std::vector<HostResult>& results) {
    if (opts_.noPing) {
      for (auto& r : results) {
        r.up = true;
        r.upReason = Reason::kUserSet;
      }
      return true;
    }
    // nmap's rule: IPv4 neighbours on a directly connected Ethernet segment are found by ARP,
    // which no host firewall filters; everything else by IP probes.
    std::vector<size_t> viaArp;
    std::vector<size_t> viaIp;
    std::vector<AddressPrefix> neighbours;
    if (engine && !rg.route.source.v6 && !rg.route.loopback && !opts_.disableArpPing &&
        !opts_.sendIp) {
      neighbours = ethernetNeighbourPrefixes(rg.route.iface);
    }
    for (size_t h = 0; h < results.size(); ++h) {
      const Address& a = results[h].target.address;
      const bool arp = !(a == rg.route.source) &&
                       std::any_of(neighbours.begin(), neighbours.end(),
                                   [&](const AddressPrefix& p) { return p.contains(a); });
      (arp ? viaArp : viaIp).push_back(h);
    }
    if (!viaArp.empty() && !discoverByArp(rg, viaArp, results)) return false;
    discoverByIp(rg, engine, viaIp, results);
    return true;
  }

  bool discoverByArp(const RouteGroup& rg, const std::vector<size_t>& viaArp,
                     std::vector<HostResult>& results) {
    std::vector<net::Ipv4Address> arpHosts;
    for (size_t h : viaArp) arpHosts.push_back(results[h].target.address.v4addr);
    ArpConfig acfg;
    acfg.maxRetries = std::min(opts_.timing.maxRetries, 1);
    acfg.initialTimeoutUs = opts_.timing.initialRttTimeoutMs * 1000;
    acfg.minTimeoutUs = opts_.timing.minRttTimeoutMs * 1000;
    acfg.maxTimeoutUs = opts_.timing.maxRttTimeoutMs * 1000;
    acfg.maxRate = opts_.timing.maxRate;
    const auto replies = arpPing(rg.route.iface, rg.route.source.v4addr, arpHosts, acfg, error_);
    if (!replies) return false;
    for (size_t k = 0; k < viaArp.size(); ++k) {
      const ArpReply& a = (*replies)[k];
      if (!a.answered) continue;
      HostResult& r = results[viaArp[k]];
      r.up = true;
      r.upReason = Reason::kArpResponse;
      r.mac = a.mac;
      r.latencySeconds = static_cast<double>(a.rttUs) / 1e6;
    }
    return true;
  }

  void discoverByIp(const RouteGroup& rg, RawEngine* engine, const std::vector<size_t>& viaIp,
                    std::vector<HostResult>& results) {
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
      std::vector<ProbeDef> pings = {{ProbeDef::Kind::kIcmpEcho, 0, 0},
                                     {ProbeDef::Kind::kTcp, net::tcp_flags::kSyn, 443},
                                     {ProbeDef::Kind::kTcp, net::tcp_flags::kAck, 80}};
      if (!rg.route.source.v6) pings.push_back({ProbeDef::Kind::kIcmpTimestamp, 0, 0});
      engine->configure(ScanType::kPing, std::min(opts_.timing.maxRetries, 1));
      outcomes = engine->run(ipAddrs, pings, timing);
      nprobes = pings.size();
    } else {
      ConnectConfig ccfg;
      ccfg.timing = opts_.timing;
      ccfg.timing.maxRetries = std::min(ccfg.timing.maxRetries, 1);
      ccfg.scanType = ScanType::kPing;
      ccfg.iface = opts_.iface;
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

  // Scans `ports` of the hosts in `upIdx` with one scan type and appends their port results.
  bool scanPorts(ScanType type, const std::vector<uint16_t>& ports, RawEngine* engine,
                 const std::vector<size_t>& upIdx, std::vector<HostResult>& results) {
    if (ports.empty() || upIdx.empty()) return true;
    if (type == ScanType::kIdle) {
      for (size_t h : upIdx) {
        HostResult& r = results[h];
        if (!idle_->scan(r.target.address.v4addr, ports, r.srttUs, r.ports, error_)) return false;
      }
      return true;
    }
    std::vector<Address> hosts;
    for (size_t h : upIdx) hosts.push_back(results[h].target.address);
    std::vector<HostTiming> timing;
    const std::vector<SlotOutcome> outcomes = type == ScanType::kConnect
                                                  ? connectScan(hosts, ports, timing)
                                                  : rawScan(*engine, type, hosts, ports, timing);
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
  }

  std::vector<SlotOutcome> connectScan(const std::vector<Address>& hosts,
                                       const std::vector<uint16_t>& ports,
                                       std::vector<HostTiming>& timing) const {
    ConnectConfig ccfg;
    ccfg.timing = opts_.timing;
    ccfg.congestion = congestionFor(opts_.timing.level);
    ccfg.randomize = !opts_.sequential;
    ccfg.progress = progress_;
    ccfg.iface = opts_.iface;
    return runConnectScan(hosts, ports, ccfg, timing);
  }

  std::vector<SlotOutcome> rawScan(RawEngine& engine, ScanType type,
                                   const std::vector<Address>& hosts,
                                   const std::vector<uint16_t>& ports,
                                   std::vector<HostTiming>& timing) const {
    std::vector<ProbeDef> probes;
    probes.reserve(ports.size());
    for (uint16_t p : ports) {
      if (type == ScanType::kUdp) {
        probes.push_back({ProbeDef::Kind::kUdp, 0, p});
      } else {
        probes.push_back({ProbeDef::Kind::kTcp, probeFlags(type), p});
      }
    }
    engine.configure(type, opts_.timing.maxRetries);
    return engine.run(hosts, probes, timing);
  }

  const Options& opts_;
  std::string error_;
  std::vector<Target> targets_;
  bool privileged_ = false;
  std::optional<ScanType> tcpType_;
  std::vector<uint16_t> tcpPorts_;
  std::vector<uint16_t> udpPorts_;
  std::unique_ptr<IdleScanner> idle_;
  Outputs outs_;
  RunInfo info_;
  std::vector<RouteGroup> routeGroups_;
  std::vector<size_t> unroutable_;
  std::vector<net::Ipv4Address> decoys_;
  size_t mePosition_ = 0;
  bool progress_ = false;
};

}  // namespace

int runScan(const Options& opts) {
  ScanRun run(opts);
  if (!run.prepare() || !run.execute()) return fail(run.error());
  return 0;
}

}  // namespace portcullis::scan
