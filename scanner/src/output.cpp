#include "output.h"

#include <chrono>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>

#include <nlohmann/json.hpp>

#include "port_spec.h"
#include "services.h"

namespace portcullis::scan {
namespace {

// A sweep reports 65,536 hosts, and a write per host costs as much as the host's probes: host
// reports go out as they complete, but at most every 100 ms (begin and end flush at once).
void flushPaced(std::ostream& out) {
  static std::chrono::steady_clock::time_point last;
  const auto now = std::chrono::steady_clock::now();
  if (now - last < std::chrono::milliseconds(100)) return;
  out.flush();
  last = now;
}

enum class TimeFormat { kShort, kLong };

std::string formatTime(double epoch, TimeFormat format) {
  const time_t t = static_cast<time_t>(epoch);
  tm local{};
  localtime_r(&t, &local);
  char buf[64];
  // Literal formats only, so -Wformat-nonliteral can check them.
  if (format == TimeFormat::kShort) {
    std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M %Z", &local);
  } else {
    std::strftime(buf, sizeof(buf), "%a %b %e %H:%M:%S %Y", &local);
  }
  return buf;
}

std::string seconds(double s, int precision) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", precision, s);
  return buf;
}

// Groups of (state, protocol) with their count and most common reason, in nmap's sense.
struct StateGroup {
  PortState state;
  Protocol protocol;
  size_t count = 0;
  std::map<Reason, size_t> reasons;
  std::vector<uint16_t> ports;
};

// A full-range scan has 65,535 ports and a handful of (state, protocol) pairs: the groups are a
// short list searched linearly, not a map looked up per port, and the ports usually come sorted.
std::vector<StateGroup> ignoredGroups(const HostResult& h) {
  std::vector<StateGroup> groups;
  for (const auto& p : h.ports) {
    auto g = std::find_if(groups.begin(), groups.end(), [&](const StateGroup& x) {
      return x.state == p.state && x.protocol == p.protocol;
    });
    if (g == groups.end()) g = groups.insert(g, StateGroup{p.state, p.protocol});
    ++g->count;
    ++g->reasons[p.reason];  // a reason or two per group: a tiny map
    g->ports.push_back(p.port);
  }
  std::vector<StateGroup> out;
  for (StateGroup& g : groups) {
    if (g.state == PortState::kOpen || g.count <= kIgnoredStateThreshold) continue;
    if (!std::is_sorted(g.ports.begin(), g.ports.end())) std::sort(g.ports.begin(), g.ports.end());
    out.push_back(std::move(g));
  }
  // The map's order: by state, then protocol.
  std::sort(out.begin(), out.end(), [](const StateGroup& a, const StateGroup& b) {
    return std::pair(a.state, a.protocol) < std::pair(b.state, b.protocol);
  });
  return out;
}

bool isIgnored(const std::vector<StateGroup>& groups, const PortResult& p) {
  return std::any_of(groups.begin(), groups.end(), [&](const StateGroup& g) {
    return g.state == p.state && g.protocol == p.protocol;
  });
}

std::vector<PortResult> shownPorts(const HostResult& h, const std::vector<StateGroup>& ignored) {
  std::vector<PortResult> shown;
  for (const auto& p : h.ports) {
    if (!isIgnored(ignored, p)) shown.push_back(p);
  }
  std::sort(shown.begin(), shown.end(), [](const PortResult& a, const PortResult& b) {
    return std::pair(a.protocol, a.port) < std::pair(b.protocol, b.port);
  });
  return shown;
}

std::string hostLabel(const HostResult& h) {
  if (!h.target.hostname.empty()) {
    return h.target.hostname + " (" + h.target.address.toString() + ")";
  }
  return h.target.address.toString();
}

std::string reasonSummary(const StateGroup& g) {
  // nmap: "(reset)" or "(995 resets)" style; we print the reasons with counts when mixed.
  std::string s;
  for (const auto& [r, n] : g.reasons) {
    if (!s.empty()) s += ", ";
    s += g.reasons.size() == 1 ? std::string(reasonName(r))
                               : std::to_string(n) + " " + std::string(reasonName(r));
  }
  return s;
}

class NormalWriter : public ReportWriter {
 public:
  explicit NormalWriter(std::ostream& out) : out_(out) {}

  void begin(const RunInfo& info) override {
    out_ << "Starting " << kScannerName << " " << kScannerVersion << " at "
         << formatTime(info.startTime, TimeFormat::kShort) << "\n";
    for (const auto& note : info.notes) out_ << note << "\n";
    out_.flush();
  }

  void host(const HostResult& h) override {
    if (!h.up) {
      return;  // nmap prints nothing for down hosts without -v
    }
    out_ << "Nmap scan report for " << hostLabel(h) << "\n";
    if (h.latencySeconds >= 0) {
      out_ << "Host is up (" << seconds(h.latencySeconds, h.latencySeconds < 0.01 ? 6 : 4)
           << "s latency).\n";
    } else {
      out_ << "Host is up.\n";
    }
    // nmap has an OUI table for the vendor; we do not ship one.
    const std::string macLine =
        h.mac ? "MAC Address: " + h.mac->toString() + " (Unknown)\n" : std::string();
    if (h.timedOut) {
      out_ << "Skipping host " << h.target.address.toString() << " due to host timeout\n"
           << macLine << "\n";
      flushPaced(out_);
      return;
    }
    if (h.ports.empty()) {
      out_ << macLine << "\n";
      flushPaced(out_);
      return;
    }
    const auto ignored = ignoredGroups(h);
    const auto shown = shownPorts(h, ignored);
    if (shown.empty()) {
      out_ << "All " << h.ports.size() << " scanned ports on " << hostLabel(h)
           << " are in ignored states.\n";
    }
    for (const auto& g : ignored) {
      out_ << "Not shown: " << g.count << " " << portStateName(g.state) << " "
           << protocolName(g.protocol) << " ports (" << reasonSummary(g) << ")\n";
    }
    if (!shown.empty()) {
      size_t portWidth = 4;
      size_t stateWidth = 5;
      std::vector<std::string> portCol;
      for (const auto& p : shown) {
        portCol.push_back(std::to_string(p.port) + "/" + std::string(protocolName(p.protocol)));
        portWidth = std::max(portWidth, portCol.back().size());
        stateWidth = std::max(stateWidth, portStateName(p.state).size());
      }
      auto pad = [](std::string s, size_t w) {
        s.resize(std::max(s.size(), w), ' ');
        return s;
      };
      out_ << pad("PORT", portWidth + 1) << pad("STATE", stateWidth + 1) << "SERVICE\n";
      for (size_t i = 0; i < shown.size(); ++i) {
        const auto& p = shown[i];
        out_ << pad(portCol[i], portWidth + 1)
             << pad(std::string(portStateName(p.state)), stateWidth + 1)
             << serviceName(p.port, p.protocol) << "\n";
      }
    }
    out_ << macLine << "\n";
    flushPaced(out_);
  }

  void end(const RunInfo& info) override {
    out_ << "Nmap done: " << info.hostsTotal << " IP address" << (info.hostsTotal == 1 ? "" : "es")
         << " (" << info.hostsUp << " host" << (info.hostsUp == 1 ? "" : "s") << " up) scanned in "
         << seconds(info.endTime - info.startTime, 2) << " seconds\n";
    out_.flush();
  }

 private:
  std::ostream& out_;
};

class XmlWriter : public ReportWriter {
 public:
  explicit XmlWriter(std::ostream& out) : out_(out) {}

  void begin(const RunInfo& info) override {
    out_ << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n";
    // Point at nmap's stylesheet when nmap is installed, so xsltproc renders it as HTML.
    if (std::FILE* f = std::fopen("/usr/share/nmap/nmap.xsl", "r")) {
      std::fclose(f);
      out_ << "<?xml-stylesheet href=\"file:///usr/share/nmap/nmap.xsl\" type=\"text/xsl\"?>\n";
    }
    out_ << "<nmaprun scanner=\"" << kScannerName << "\" args=\"" << xmlEscape(info.args)
         << "\" start=\"" << static_cast<int64_t>(info.startTime) << "\" startstr=\""
         << formatTime(info.startTime, TimeFormat::kLong) << "\" version=\"" << kScannerVersion
         << "\" xmloutputversion=\"1.05\">\n";
    for (ScanType t : info.scanTypes) {
      const bool udp = t == ScanType::kUdp;
      const auto& ports = udp ? info.udpPorts : info.tcpPorts;
      if (t == ScanType::kPing) continue;
      out_ << "<scaninfo type=\"" << scanTypeName(t) << "\" protocol=\"" << (udp ? "udp" : "tcp")
           << "\" numservices=\"" << ports.size() << "\" services=\"" << compactPortList(ports)
           << "\"/>\n";
    }
    verbose_ = info.verbose;
    out_ << "<verbose level=\"" << info.verbose << "\"/>\n<debugging level=\"0\"/>\n";
    out_.flush();
  }

  void host(const HostResult& h) override {
    if (!h.up && verbose_ == 0) {
      return;  // as nmap: down hosts are written only with -v
    }
    out_ << "<host starttime=\"" << static_cast<int64_t>(h.startTime) << "\" endtime=\""
         << static_cast<int64_t>(h.endTime) << "\">";
    out_ << "<status state=\"" << (h.up ? "up" : "down") << "\" reason=\"" << reasonName(h.upReason)
         << "\" reason_ttl=\"" << int{h.upTtl} << "\"/>\n";
    out_ << "<address addr=\"" << h.target.address.toString() << "\" addrtype=\""
         << (h.target.address.v6 ? "ipv6" : "ipv4") << "\"/>\n";
    if (h.mac) out_ << "<address addr=\"" << h.mac->toString() << "\" addrtype=\"mac\"/>\n";
    out_ << "<hostnames>\n";
    if (!h.target.hostname.empty()) {
      out_ << "<hostname name=\"" << xmlEscape(h.target.hostname) << "\" type=\"user\"/>\n";
    }
    out_ << "</hostnames>\n";
    if (h.up && !h.timedOut && !h.ports.empty()) {
      out_ << "<ports>";
      const auto ignored = ignoredGroups(h);
      for (const auto& g : ignored) {
        out_ << "<extraports state=\"" << portStateName(g.state) << "\" count=\"" << g.count
             << "\">\n";
        std::map<Reason, std::vector<uint16_t>> byReason;
        for (const auto& p : h.ports) {
          if (p.state == g.state && p.protocol == g.protocol) byReason[p.reason].push_back(p.port);
        }
        for (auto& [r, ports] : byReason) {
          if (!std::is_sorted(ports.begin(), ports.end())) std::sort(ports.begin(), ports.end());
          out_ << "<extrareasons reason=\"" << reasonName(r) << "\" count=\"" << ports.size()
               << "\" proto=\"" << protocolName(g.protocol) << "\" ports=\""
               << compactPortList(ports) << "\"/>\n";
        }
        out_ << "</extraports>\n";
      }
      for (const auto& p : shownPorts(h, ignored)) {
        out_ << "<port protocol=\"" << protocolName(p.protocol) << "\" portid=\"" << p.port
             << "\"><state state=\"" << portStateName(p.state) << "\" reason=\""
             << reasonName(p.reason) << "\" reason_ttl=\"" << int{p.replyTtl}
             << "\"/><service name=\"" << serviceName(p.port, p.protocol)
             << "\" method=\"table\" conf=\"3\"/></port>\n";
      }
      out_ << "</ports>\n";
    }
    if (h.up && h.srttUs > 0) {
      out_ << "<times srtt=\"" << h.srttUs << "\" rttvar=\"" << h.rttvarUs << "\" to=\"" << h.rtoUs
           << "\"/>\n";
    }
    out_ << "</host>\n";
    flushPaced(out_);
  }

  void end(const RunInfo& info) override {
    const double elapsed = info.endTime - info.startTime;
    const std::string timestr = formatTime(info.endTime, TimeFormat::kLong);
    out_ << "<runstats><finished time=\"" << static_cast<int64_t>(info.endTime) << "\" timestr=\""
         << timestr << "\" summary=\"" << kScannerName << " done at " << timestr << "; "
         << info.hostsTotal << " IP address" << (info.hostsTotal == 1 ? "" : "es") << " ("
         << info.hostsUp << " host" << (info.hostsUp == 1 ? "" : "s") << " up) scanned in "
         << seconds(elapsed, 2) << " seconds\" elapsed=\"" << seconds(elapsed, 2)
         << "\" exit=\"success\"/><hosts up=\"" << info.hostsUp << "\" down=\""
         << info.hostsTotal - info.hostsUp << "\" total=\"" << info.hostsTotal << "\"/>\n"
         << "</runstats>\n</nmaprun>\n";
    out_.flush();
  }

 private:
  std::ostream& out_;
  int verbose_ = 0;
};

class GrepableWriter : public ReportWriter {
 public:
  explicit GrepableWriter(std::ostream& out) : out_(out) {}

  void begin(const RunInfo& info) override {
    out_ << "# " << kScannerName << " " << kScannerVersion << " scan initiated "
         << formatTime(info.startTime, TimeFormat::kLong) << " as: " << info.args << "\n";
    for (ScanType t : info.scanTypes) {
      if (t == ScanType::kPing) continue;
      const bool udp = t == ScanType::kUdp;
      const auto& ports = udp ? info.udpPorts : info.tcpPorts;
      out_ << "# Ports scanned: " << (udp ? "UDP" : "TCP") << "(" << ports.size() << ";"
           << compactPortList(ports) << ")\n";
    }
  }

  void host(const HostResult& h) override {
    const std::string addr = h.target.address.toString();
    const std::string name = h.target.hostname;
    out_ << "Host: " << addr << " (" << name << ")\tStatus: " << (h.up ? "Up" : "Down") << "\n";
    if (!h.up || h.timedOut || h.ports.empty()) {
      return;
    }
    const auto ignored = ignoredGroups(h);
    out_ << "Host: " << addr << " (" << name << ")\tPorts: ";
    bool first = true;
    for (const auto& p : shownPorts(h, ignored)) {
      if (!first) out_ << ", ";
      first = false;
      // port/state/protocol/owner/service/rpc info/version/
      out_ << p.port << "/" << portStateName(p.state) << "/" << protocolName(p.protocol) << "//"
           << serviceName(p.port, p.protocol) << "///";
    }
    for (const auto& g : ignored) {
      out_ << "\tIgnored State: " << portStateName(g.state) << " (" << g.count << ")";
    }
    out_ << "\n";
    flushPaced(out_);
  }

  void end(const RunInfo& info) override {
    out_ << "# " << kScannerName << " done at " << formatTime(info.endTime, TimeFormat::kLong)
         << " -- " << info.hostsTotal << " IP address" << (info.hostsTotal == 1 ? "" : "es") << " ("
         << info.hostsUp << " host" << (info.hostsUp == 1 ? "" : "s") << " up) scanned in "
         << seconds(info.endTime - info.startTime, 2) << " seconds\n";
    out_.flush();
  }

 private:
  std::ostream& out_;
};

// JSON: {"scanner":..,"args":..,"start":..,"scans":[..],"hosts":[..],"stats":{..}}, streamed by
// writing the hosts array element by element.
class JsonWriter : public ReportWriter {
 public:
  explicit JsonWriter(std::ostream& out) : out_(out) {}

  void begin(const RunInfo& info) override {
    nlohmann::json scans = nlohmann::json::array();
    for (ScanType t : info.scanTypes) {
      const bool udp = t == ScanType::kUdp;
      scans.push_back({{"type", scanTypeName(t)},
                       {"protocol", udp ? "udp" : "tcp"},
                       {"ports", compactPortList(udp ? info.udpPorts : info.tcpPorts)}});
    }
    out_ << "{\"scanner\":\"" << kScannerName << "\",\"version\":\"" << kScannerVersion
         << "\",\"args\":" << nlohmann::json(info.args).dump()
         << ",\"start\":" << static_cast<int64_t>(info.startTime) << ",\"scans\":" << scans.dump()
         << ",\"hosts\":[";
  }

  void host(const HostResult& h) override {
    nlohmann::json j;
    j["address"] = h.target.address.toString();
    j["addrtype"] = h.target.address.v6 ? "ipv6" : "ipv4";
    if (!h.target.hostname.empty()) j["hostname"] = h.target.hostname;
    j["status"] = h.up ? "up" : "down";
    j["reason"] = reasonName(h.upReason);
    if (h.latencySeconds >= 0) j["latency"] = h.latencySeconds;
    if (h.mac) j["mac"] = h.mac->toString();
    if (h.timedOut) j["timedout"] = true;
    nlohmann::json ports = nlohmann::json::array();
    std::vector<PortResult> sorted = h.ports;
    std::sort(sorted.begin(), sorted.end(), [](const PortResult& a, const PortResult& b) {
      return std::pair(a.protocol, a.port) < std::pair(b.protocol, b.port);
    });
    // Every port is listed: JSON consumers filter themselves, and "not shown" is a display idea.
    for (const auto& p : sorted) {
      ports.push_back({{"port", p.port},
                       {"protocol", protocolName(p.protocol)},
                       {"state", portStateName(p.state)},
                       {"reason", reasonName(p.reason)},
                       {"ttl", p.replyTtl},
                       {"service", serviceName(p.port, p.protocol)}});
    }
    j["ports"] = std::move(ports);
    out_ << (first_ ? "\n" : ",\n") << j.dump();
    first_ = false;
    flushPaced(out_);
  }

  void end(const RunInfo& info) override {
    nlohmann::json stats = {{"end", static_cast<int64_t>(info.endTime)},
                            {"elapsed", info.endTime - info.startTime},
                            {"hosts_up", info.hostsUp},
                            {"hosts_total", info.hostsTotal}};
    out_ << "\n],\"stats\":" << stats.dump() << "}\n";
    out_.flush();
  }

 private:
  std::ostream& out_;
  bool first_ = true;
};

}  // namespace

std::string xmlEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          out += '?';  // control characters are not allowed in XML 1.0
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::unique_ptr<ReportWriter> makeNormalWriter(std::ostream& out) {
  return std::make_unique<NormalWriter>(out);
}
std::unique_ptr<ReportWriter> makeXmlWriter(std::ostream& out) {
  return std::make_unique<XmlWriter>(out);
}
std::unique_ptr<ReportWriter> makeGrepableWriter(std::ostream& out) {
  return std::make_unique<GrepableWriter>(out);
}
std::unique_ptr<ReportWriter> makeJsonWriter(std::ostream& out) {
  return std::make_unique<JsonWriter>(out);
}

}  // namespace portcullis::scan
