#include "cli.h"

#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <iostream>

namespace portcullis::scan {
namespace {

// nmap's multi-letter single-dash options, which CLI11 cannot name directly, become long
// options before parsing ("-sS" -> "--sS", "-oX" -> "--oX", "-p-" -> "-p1-65535").
std::vector<std::string> normaliseArgs(int argc, char** argv) {
  static const char* kMultiLetter[] = {"-sT", "-sS", "-sN", "-sF", "-sX", "-sM", "-sA", "-sW",
                                       "-sU", "-sn", "-sP", "-sI", "-Pn", "-oN", "-oX", "-oG",
                                       "-oJ", "-iL"};
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool mapped = false;
    for (const char* m : kMultiLetter) {
      if (a == m) {
        out.push_back("-" + a);
        mapped = true;
        break;
      }
    }
    if (mapped) continue;
    if (a == "-p-") {
      out.push_back("-p1-65535");
    } else if (a == "-ff") {
      out.push_back("--mtu=16");
    } else {
      out.push_back(a);
    }
  }
  return out;
}

std::string shellQuote(const std::string& s) {
  if (!s.empty() && s.find_first_of(" \t\"'\\$`") == std::string::npos) return s;
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

}  // namespace

int64_t parseTimeSpecMs(const std::string& text) {
  if (text.empty()) return -1;
  double value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || value < 0 || !std::isfinite(value)) return -1;
  const std::string unit(ptr, end);
  double ms = 0;
  if (unit.empty() || unit == "s") {
    ms = value * 1000;
  } else if (unit == "ms") {
    ms = value;
  } else if (unit == "m") {
    ms = value * 60000;
  } else if (unit == "h") {
    ms = value * 3600000;
  } else {
    return -1;
  }
  if (ms > 1e12) return -1;
  return static_cast<int64_t>(ms);
}

ParseResult parseCommandLine(int argc, char** argv, Options& opts, std::string& error) {
  CLI::App app{"portcullis-scan: a raw-socket port scanner with nmap's flags", "portcullis-scan"};
  app.set_help_flag("-h,--help", "Print this help and exit");
  app.get_formatter()->column_width(30);

  std::vector<std::string> scanFlags;
  auto scanFlag = [&](const char* name, const char* nmapName, const char* desc) {
    app.add_flag_callback(name, [&scanFlags, nmapName] { scanFlags.emplace_back(nmapName); },
                          std::string(nmapName) + ": " + desc)
        ->group("SCAN TECHNIQUES");
  };
  scanFlag("--sS", "-sS", "TCP SYN scan (default when privileged)");
  scanFlag("--sT", "-sT", "TCP connect() scan (default otherwise)");
  scanFlag("--sN", "-sN", "TCP NULL scan");
  scanFlag("--sF", "-sF", "TCP FIN scan");
  scanFlag("--sX", "-sX", "TCP Xmas scan (FIN, PSH, URG)");
  scanFlag("--sM", "-sM", "TCP Maimon scan (FIN/ACK)");
  scanFlag("--sA", "-sA", "TCP ACK scan (filtered vs unfiltered)");
  scanFlag("--sW", "-sW", "TCP Window scan");
  scanFlag("--sU", "-sU", "UDP scan");
  scanFlag("--sn,--sP", "-sn", "Ping scan: host discovery only");
  app.add_option("--sI", opts.zombie, "-sI ZOMBIE[:PORT]: idle scan")->group("SCAN TECHNIQUES");
  app.add_flag("--Pn", opts.noPing, "-Pn: treat all hosts as up, skip discovery")
      ->group("HOST DISCOVERY");
  app.add_flag("--disable-arp-ping,--send-ip", opts.disableArpPing,
               "Discover local-network hosts with IP probes instead of ARP")
      ->group("HOST DISCOVERY");
  app.add_flag("-n", opts.noResolve, "Never resolve names")->group("HOST DISCOVERY");

  std::string portSpec;
  app.add_option("-p", portSpec, "Ports: 22; 1-65535; U:53,T:21-25,80; -p- for all")
      ->group("PORTS");
  bool fast = false;
  app.add_flag("-F", fast, "Fast mode: 100 most likely ports")->group("PORTS");
  size_t top = 0;
  app.add_option("--top-ports", top, "Scan the N most likely ports")->group("PORTS");
  app.add_flag("-r", opts.sequential, "Scan ports in order (default random)")->group("PORTS");

  int level = 3;
  auto* tOpt = app.add_option("-T", level, "Timing template 0-5 (higher is faster)")
                   ->check(CLI::Range(0, 5))
                   ->group("TIMING");
  int maxRetries = -1;
  app.add_option("--max-retries", maxRetries, "Cap on probe retransmissions")
      ->check(CLI::Range(0, 50))
      ->group("TIMING");
  double minRate = 0;
  double maxRate = 0;
  app.add_option("--min-rate", minRate, "Send at least N packets per second")
      ->check(CLI::PositiveNumber)
      ->group("TIMING");
  app.add_option("--max-rate", maxRate, "Send at most N packets per second")
      ->check(CLI::PositiveNumber)
      ->group("TIMING");
  std::string scanDelay;
  std::string maxScanDelay;
  std::string hostTimeout;
  std::string minRtt;
  std::string maxRtt;
  std::string initRtt;
  app.add_option("--scan-delay", scanDelay, "Delay between probes (e.g. 100ms, 1s)")
      ->group("TIMING");
  app.add_option("--max-scan-delay", maxScanDelay,
                 "Ceiling on the delay grown when probes are dropped (e.g. 20ms)")
      ->group("TIMING");
  app.add_option("--host-timeout", hostTimeout, "Give up on a host after this long")
      ->group("TIMING");
  app.add_option("--min-rtt-timeout", minRtt, "Lower bound on the probe timeout")->group("TIMING");
  app.add_option("--max-rtt-timeout", maxRtt, "Upper bound on the probe timeout")->group("TIMING");
  app.add_option("--initial-rtt-timeout", initRtt, "Probe timeout before any RTT sample")
      ->group("TIMING");
  int maxPar = 0;
  app.add_option("--max-parallelism", maxPar, "At most N probes in flight")
      ->check(CLI::Range(1, 1 << 20))
      ->group("TIMING");

  app.add_option("--oN", opts.outNormal, "-oN FILE: normal output")->group("OUTPUT");
  app.add_option("--oX", opts.outXml, "-oX FILE: nmap XML output")->group("OUTPUT");
  app.add_option("--oG", opts.outGrepable, "-oG FILE: grepable output")->group("OUTPUT");
  app.add_option("--oJ", opts.outJson, "-oJ FILE: JSON output")->group("OUTPUT");
  app.add_flag("-v", opts.verbose, "More output (repeat for more)")->group("OUTPUT");
  app.add_flag("--progress,!--no-progress", opts.progress,
               "Progress line on stderr (default: when stderr is a terminal)")
      ->group("OUTPUT");

  std::string decoys;
  app.add_option("-D", decoys, "Decoys: addr,ME,RND:5 (ME marks the real probe's position)")
      ->group("EVASION");
  app.add_option("-S", opts.spoofSource, "Spoof the source address")->group("EVASION");
  app.add_option("-e", opts.iface, "Use this interface")->group("EVASION");
  int srcPort = -1;
  app.add_option("-g,--source-port", srcPort, "Fixed source port")
      ->check(CLI::Range(1, 65535))
      ->group("EVASION");
  bool frag = false;
  app.add_flag("-f", frag, "Fragment probes into 8-byte pieces (-ff: 16)")->group("EVASION");
  int mtu = 0;
  app.add_option("--mtu", mtu, "Fragment payload size, a multiple of 8")
      ->check(CLI::Range(8, 1480))
      ->group("EVASION");
  app.add_option("--ttl", opts.ttl, "IP time-to-live of probes")->check(CLI::Range(1, 255))
      ->group("EVASION");
  app.add_option("--data-length", opts.dataLength, "Append N random bytes to probes")
      ->check(CLI::Range(0, 1400))
      ->group("EVASION");

  app.add_option("--iL", opts.inputList, "-iL FILE: read targets from a file")
      ->group("TARGET SPECIFICATION");
  app.add_flag("-6", opts.ipv6, "IPv6 targets")->group("TARGET SPECIFICATION");
  app.add_option("targets", opts.targetSpecs, "Names, addresses, CIDR blocks, ranges")
      ->group("TARGET SPECIFICATION");

  auto args = normaliseArgs(argc, argv);
  opts.commandLine = "portcullis-scan";
  for (int i = 1; i < argc; ++i) opts.commandLine += " " + shellQuote(argv[i]);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return ParseResult::kExitSuccess;
  } catch (const CLI::ParseError& e) {
    error = e.what();
    return ParseResult::kError;
  }

  // Scan types: at most one TCP type, optionally with -sU.
  for (const auto& f : scanFlags) {
    std::optional<ScanType> t;
    if (f == "-sS") t = ScanType::kSyn;
    if (f == "-sT") t = ScanType::kConnect;
    if (f == "-sN") t = ScanType::kNull;
    if (f == "-sF") t = ScanType::kFin;
    if (f == "-sX") t = ScanType::kXmas;
    if (f == "-sM") t = ScanType::kMaimon;
    if (f == "-sA") t = ScanType::kAck;
    if (f == "-sW") t = ScanType::kWindow;
    if (f == "-sU") opts.udpScan = true;
    if (f == "-sn") opts.pingOnly = true;
    if (t) {
      if (opts.tcpScan && *opts.tcpScan != *t) {
        error = "only one TCP scan type may be given (" + f + " conflicts with an earlier one)";
        return ParseResult::kError;
      }
      opts.tcpScan = t;
    }
  }
  if (!opts.zombie.empty()) {
    if (opts.tcpScan) {
      error = "-sI cannot be combined with another TCP scan type";
      return ParseResult::kError;
    }
    opts.tcpScan = ScanType::kIdle;
  }
  if (opts.pingOnly && (opts.tcpScan || opts.udpScan)) {
    error = "-sn (ping scan) cannot be combined with a port scan type";
    return ParseResult::kError;
  }

  if (!portSpec.empty()) {
    auto p = parsePortSpec(portSpec, error);
    if (!p) return ParseResult::kError;
    opts.ports = std::move(*p);
    opts.portsGiven = true;
  }
  if ((fast || top > 0) && opts.portsGiven) {
    error = "-p cannot be combined with -F or --top-ports";
    return ParseResult::kError;
  }
  if (app.count("--top-ports") > 0 && top == 0) {
    error = "--top-ports needs a positive number";
    return ParseResult::kError;
  }
  opts.topPorts = top > 0 ? top : (fast ? 100 : 0);

  opts.timing = timingTemplate(tOpt->count() > 0 ? level : 3);
  if (maxRetries >= 0) opts.timing.maxRetries = maxRetries;
  opts.timing.minRate = minRate;
  opts.timing.maxRate = maxRate;
  if (minRate > 0 && maxRate > 0 && minRate > maxRate) {
    error = "--min-rate must not exceed --max-rate";
    return ParseResult::kError;
  }
  if (maxPar > 0) opts.timing.maxParallelism = maxPar;
  struct TimeArg {
    const std::string& text;
    const char* name;
    int64_t* dest;
  };
  const TimeArg timeArgs[] = {{scanDelay, "--scan-delay", &opts.timing.scanDelayMs},
                              {maxScanDelay, "--max-scan-delay", &opts.timing.maxScanDelayMs},
                              {hostTimeout, "--host-timeout", &opts.timing.hostTimeoutMs},
                              {minRtt, "--min-rtt-timeout", &opts.timing.minRttTimeoutMs},
                              {maxRtt, "--max-rtt-timeout", &opts.timing.maxRttTimeoutMs},
                              {initRtt, "--initial-rtt-timeout",
                               &opts.timing.initialRttTimeoutMs}};
  for (const auto& ta : timeArgs) {
    if (ta.text.empty()) continue;
    const int64_t ms = parseTimeSpecMs(ta.text);
    if (ms < 0) {
      error = std::string("bad time '") + ta.text + "' for " + ta.name +
              " (use e.g. 500ms, 2s, 1m, 1h)";
      return ParseResult::kError;
    }
    *ta.dest = ms;
  }

  if (!decoys.empty()) {
    size_t pos = 0;
    while (pos <= decoys.size()) {
      size_t comma = decoys.find(',', pos);
      if (comma == std::string::npos) comma = decoys.size();
      const std::string item = decoys.substr(pos, comma - pos);
      if (item.empty()) {
        error = "empty decoy in -D '" + decoys + "'";
        return ParseResult::kError;
      }
      opts.decoys.push_back(item);
      pos = comma + 1;
    }
  }
  if (srcPort > 0) opts.sourcePort = static_cast<uint16_t>(srcPort);
  if (mtu > 0) {
    if (mtu % 8 != 0) {
      error = "--mtu must be a multiple of 8";
      return ParseResult::kError;
    }
    opts.fragmentSize = static_cast<size_t>(mtu);
  } else if (frag) {
    opts.fragmentSize = 8;
  }
  return ParseResult::kOk;
}

}  // namespace portcullis::scan
