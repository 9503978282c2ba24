#include "cli.h"

#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <iostream>

#include "manual.h"

namespace portcullis::scan {
namespace {

// nmap's multi-letter single-dash options, which CLI11 cannot name directly, become long
// options before parsing ("-sS" -> "--sS", "-oX" -> "--oX", "-p-" -> "-p1-65535").
std::vector<std::string> normaliseArgs(int argc, char** argv) {
  static const char* kMultiLetter[] = {"-sT", "-sS", "-sN", "-sF", "-sX", "-sM", "-sA",
                                       "-sW", "-sU", "-sn", "-sP", "-sI", "-Pn", "-oN",
                                       "-oX", "-oG", "-oJ", "-oA", "-iL"};
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

// Values CLI11 parses into before they are checked and turned into Options. CLI11 keeps
// pointers to these members, so one instance must outlive the parse.
struct RawArgs {
  std::vector<std::string> scanFlags;
  std::string portSpec;
  bool fast = false;
  size_t top = 0;
  int level = 3;
  CLI::Option* levelOption = nullptr;
  int maxRetries = -1;
  double minRate = 0;
  double maxRate = 0;
  std::string scanDelay;
  std::string maxScanDelay;
  std::string hostTimeout;
  std::string minRtt;
  std::string maxRtt;
  std::string initRtt;
  int maxPar = 0;
  std::string decoys;
  int srcPort = -1;
  bool frag = false;
  int mtu = 0;
};

// The add* functions run in the order --help lists the groups.
void addScanOptions(CLI::App& app, Options& opts, RawArgs& raw) {
  std::vector<std::string>& scanFlags = raw.scanFlags;
  auto scanFlag = [&](const char* name, const char* nmapName, const char* desc) {
    app.add_flag_callback(
           name, [&scanFlags, nmapName] { scanFlags.emplace_back(nmapName); },
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
  app.add_flag("--disable-arp-ping", opts.disableArpPing,
               "Discover local-network hosts with IP probes instead of ARP")
      ->group("HOST DISCOVERY");
  // nmap's pair: --send-ip also means no ARP discovery (applied after parsing).
  auto* sendIp = app.add_flag("--send-ip", opts.sendIp,
                              "Send probes through the raw IP socket, never as Ethernet frames; "
                              "no ARP discovery")
                     ->group("HOST DISCOVERY");
  app.add_flag("--send-eth", opts.sendEth,
               "Send probes as Ethernet frames where the next hop's MAC is known (the default)")
      ->group("HOST DISCOVERY")
      ->excludes(sendIp);
  app.add_flag("-n", opts.noResolve, "Never resolve names")->group("HOST DISCOVERY");
}

void addPortOptions(CLI::App& app, Options& opts, RawArgs& raw) {
  app.add_option("-p", raw.portSpec, "Ports: 22; 1-65535; U:53,T:21-25,80; -p- for all")
      ->group("PORTS");
  app.add_flag("-F", raw.fast, "Fast mode: 100 most likely ports")->group("PORTS");
  app.add_option("--top-ports", raw.top, "Scan the N most likely ports")->group("PORTS");
  app.add_flag("-r", opts.sequential, "Scan ports in order (default random)")->group("PORTS");
}

void addTimingOptions(CLI::App& app, RawArgs& raw) {
  raw.levelOption = app.add_option("-T", raw.level, "Timing template 0-5 (higher is faster)")
                        ->check(CLI::Range(0, 5))
                        ->group("TIMING");
  app.add_option("--max-retries", raw.maxRetries, "Cap on probe retransmissions")
      ->check(CLI::Range(0, 50))
      ->group("TIMING");
  app.add_option("--min-rate", raw.minRate, "Send at least N packets per second")
      ->check(CLI::PositiveNumber)
      ->group("TIMING");
  app.add_option("--max-rate", raw.maxRate, "Send at most N packets per second")
      ->check(CLI::PositiveNumber)
      ->group("TIMING");
  app.add_option("--scan-delay", raw.scanDelay, "Delay between probes (e.g. 100ms, 1s)")
      ->group("TIMING");
  app.add_option("--max-scan-delay", raw.maxScanDelay,
                 "Ceiling on the delay grown when probes are dropped (e.g. 20ms)")
      ->group("TIMING");
  app.add_option("--host-timeout", raw.hostTimeout, "Give up on a host after this long")
      ->group("TIMING");
  app.add_option("--min-rtt-timeout", raw.minRtt, "Lower bound on the probe timeout")
      ->group("TIMING");
  app.add_option("--max-rtt-timeout", raw.maxRtt, "Upper bound on the probe timeout")
      ->group("TIMING");
  app.add_option("--initial-rtt-timeout", raw.initRtt, "Probe timeout before any RTT sample")
      ->group("TIMING");
  app.add_option("--max-parallelism", raw.maxPar, "At most N probes in flight")
      ->check(CLI::Range(1, 1 << 20))
      ->group("TIMING");
}

void addOutputOptions(CLI::App& app, Options& opts) {
  app.add_option("--oN", opts.outNormal, "-oN FILE: normal output")->group("OUTPUT");
  app.add_option("--oX", opts.outXml, "-oX FILE: nmap XML output")->group("OUTPUT");
  app.add_option("--oG", opts.outGrepable, "-oG FILE: grepable output")->group("OUTPUT");
  app.add_option("--oJ", opts.outJson, "-oJ FILE: JSON output")->group("OUTPUT");
  app.add_option("--oA", opts.outAll,
                 "-oA BASENAME: normal, XML and grepable output to BASENAME.nmap, .xml, .gnmap")
      ->group("OUTPUT");
  app.add_flag("-v", opts.verbose, "More output (repeat for more)")->group("OUTPUT");
  app.add_flag("--progress,!--no-progress", opts.progress,
               "Progress line on stderr (default: when stderr is a terminal)")
      ->group("OUTPUT");
}

void addEvasionOptions(CLI::App& app, Options& opts, RawArgs& raw) {
  app.add_option("-D", raw.decoys, "Decoys: addr,ME,RND:5 (ME marks the real probe's position)")
      ->group("EVASION");
  app.add_option("-S", opts.spoofSource, "Spoof the source address")->group("EVASION");
  app.add_option("-e", opts.iface, "Use this interface")->group("EVASION");
  app.add_option("-g,--source-port", raw.srcPort, "Fixed source port")
      ->check(CLI::Range(1, 65535))
      ->group("EVASION");
  app.add_flag("-f", raw.frag, "Fragment probes into 8-byte pieces (-ff: 16)")->group("EVASION");
  app.add_option("--mtu", raw.mtu, "Fragment payload size, a multiple of 8")
      ->check(CLI::Range(8, 1480))
      ->group("EVASION");
  app.add_option("--ttl", opts.ttl, "IP time-to-live of probes")
      ->check(CLI::Range(1, 255))
      ->group("EVASION");
  app.add_option("--data-length", opts.dataLength, "Append N random bytes to probes")
      ->check(CLI::Range(0, 1400))
      ->group("EVASION");
}

void addTargetOptions(CLI::App& app, Options& opts) {
  app.add_option("--iL", opts.inputList, "-iL FILE: read targets from a file")
      ->group("TARGET SPECIFICATION");
  app.add_flag("-6", opts.ipv6, "IPv6 targets")->group("TARGET SPECIFICATION");
  app.add_option("targets", opts.targetSpecs, "Names, addresses, CIDR blocks, ranges")
      ->group("TARGET SPECIFICATION");
}

// Scan types: at most one TCP type, optionally with -sU.
bool applyScanTypes(const RawArgs& raw, Options& opts, std::string& error) {
  for (const auto& f : raw.scanFlags) {
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
        return false;
      }
      opts.tcpScan = t;
    }
  }
  if (!opts.zombie.empty()) {
    if (opts.tcpScan) {
      error = "-sI cannot be combined with another TCP scan type";
      return false;
    }
    opts.tcpScan = ScanType::kIdle;
  }
  if (opts.pingOnly && (opts.tcpScan || opts.udpScan)) {
    error = "-sn (ping scan) cannot be combined with a port scan type";
    return false;
  }
  return true;
}

bool applyPorts(const CLI::App& app, const RawArgs& raw, Options& opts, std::string& error) {
  if (!raw.portSpec.empty()) {
    auto p = parsePortSpec(raw.portSpec, error);
    if (!p) return false;
    opts.ports = std::move(*p);
    opts.portsGiven = true;
  }
  if ((raw.fast || raw.top > 0) && opts.portsGiven) {
    error = "-p cannot be combined with -F or --top-ports";
    return false;
  }
  if (app.count("--top-ports") > 0 && raw.top == 0) {
    error = "--top-ports needs a positive number";
    return false;
  }
  opts.topPorts = raw.top > 0 ? raw.top : (raw.fast ? 100 : 0);
  return true;
}

bool applyTiming(const RawArgs& raw, Options& opts, std::string& error) {
  opts.timing = timingTemplate(raw.levelOption->count() > 0 ? raw.level : 3);
  if (raw.maxRetries >= 0) opts.timing.maxRetries = raw.maxRetries;
  opts.timing.minRate = raw.minRate;
  opts.timing.maxRate = raw.maxRate;
  if (raw.minRate > 0 && raw.maxRate > 0 && raw.minRate > raw.maxRate) {
    error = "--min-rate must not exceed --max-rate";
    return false;
  }
  if (raw.maxPar > 0) opts.timing.maxParallelism = raw.maxPar;
  struct TimeArg {
    const std::string& text;
    const char* name;
    int64_t* dest;
  };
  const TimeArg timeArgs[] = {
      {raw.scanDelay, "--scan-delay", &opts.timing.scanDelayMs},
      {raw.maxScanDelay, "--max-scan-delay", &opts.timing.maxScanDelayMs},
      {raw.hostTimeout, "--host-timeout", &opts.timing.hostTimeoutMs},
      {raw.minRtt, "--min-rtt-timeout", &opts.timing.minRttTimeoutMs},
      {raw.maxRtt, "--max-rtt-timeout", &opts.timing.maxRttTimeoutMs},
      {raw.initRtt, "--initial-rtt-timeout", &opts.timing.initialRttTimeoutMs}};
  for (const auto& ta : timeArgs) {
    if (ta.text.empty()) continue;
    const int64_t ms = parseTimeSpecMs(ta.text);
    if (ms < 0) {
      error = std::string("bad time '") + ta.text + "' for " + ta.name +
              " (use e.g. 500ms, 2s, 1m, 1h)";
      return false;
    }
    *ta.dest = ms;
  }
  return true;
}

bool applyEvasion(const RawArgs& raw, Options& opts, std::string& error) {
  const std::string& decoys = raw.decoys;
  if (!decoys.empty()) {
    size_t pos = 0;
    while (pos <= decoys.size()) {
      size_t comma = decoys.find(',', pos);
      if (comma == std::string::npos) comma = decoys.size();
      const std::string item = decoys.substr(pos, comma - pos);
      if (item.empty()) {
        error = "empty decoy in -D '" + decoys + "'";
        return false;
      }
      opts.decoys.push_back(item);
      pos = comma + 1;
    }
  }
  if (raw.srcPort > 0) opts.sourcePort = static_cast<uint16_t>(raw.srcPort);
  if (raw.mtu > 0) {
    if (raw.mtu % 8 != 0) {
      error = "--mtu must be a multiple of 8";
      return false;
    }
    opts.fragmentSize = static_cast<size_t>(raw.mtu);
  } else if (raw.frag) {
    opts.fragmentSize = 8;
  }
  return true;
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

namespace {

// -oA BASENAME is nmap's three files at once; an -oN/-oX/-oG given as well names its own file.
bool applyOutputs(Options& opts, std::string& error) {
  if (opts.outAll.empty()) return true;
  if (opts.outAll == "-") {
    error = "-oA: the three formats cannot all go to stdout; give a base name";
    return false;
  }
  if (opts.outNormal.empty()) opts.outNormal = opts.outAll + ".nmap";
  if (opts.outXml.empty()) opts.outXml = opts.outAll + ".xml";
  if (opts.outGrepable.empty()) opts.outGrepable = opts.outAll + ".gnmap";
  return true;
}

}  // namespace

ParseResult parseCommandLine(int argc, char** argv, Options& opts, std::string& error) {
  CLI::App app{"portcullis-scan: a raw-socket port scanner with nmap's flags", "portcullis-scan"};
  app.set_help_flag("-h,--help", "Print this help and exit");
  app.get_formatter()->column_width(30);
  RawArgs raw;
  addScanOptions(app, opts, raw);
  addPortOptions(app, opts, raw);
  addTimingOptions(app, raw);
  addOutputOptions(app, opts);
  addEvasionOptions(app, opts, raw);
  addTargetOptions(app, opts);

  // Hidden: prints portcullis-scan(1) or the bash completion, made from these options.
  app.add_option_function<std::string>(
         "--generate",
         [&app](const std::string& what) {
           if (what == "man") {
             std::cout << docs::manPage(app, scannerManual());
           } else if (what == "bash-completion") {
             std::cout << docs::bashCompletion(app, "portcullis-scan");
           } else {
             throw CLI::ValidationError("--generate", "man or bash-completion");
           }
           throw CLI::Success();
         },
         "man or bash-completion")
      ->group("");

  auto args = normaliseArgs(argc, argv);
  opts.commandLine = "portcullis-scan";
  for (int i = 1; i < argc; ++i) opts.commandLine += " " + shellQuote(argv[i]);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return ParseResult::kExitSuccess;
  } catch (const CLI::Success&) {
    return ParseResult::kExitSuccess;
  } catch (const CLI::ParseError& e) {
    error = e.what();
    return ParseResult::kError;
  }

  if (!applyOutputs(opts, error) || !applyScanTypes(raw, opts, error) ||
      !applyPorts(app, raw, opts, error) || !applyTiming(raw, opts, error) ||
      !applyEvasion(raw, opts, error)) {
    return ParseResult::kError;
  }
  return ParseResult::kOk;
}

}  // namespace portcullis::scan
