#include "app/cli.h"
#include "report/log.h"

#include <bpf/libbpf.h>
#include <poll.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <map>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>
#include <set>

#include "report/alert.h"
#include "detect/engine.h"
#include "datapath/kernel_clock.h"
#include "datapath/memory_table.h"
#include "datapath/net_util.h"
#include "respond/blocker.h"
#include "respond/blocklist.h"
#include "report/metrics.h"
#include "app/config_file.h"
#include "app/ops.h"
#include "datapath/pcap_source.h"
#include "app/privileges.h"
#include "datapath/replayer.h"
#include "detect/rules.h"
#include "datapath/xdp_datapath.h"

namespace portcullis {

namespace {

std::atomic<bool> gStop{false};

void onSignal(int) { gStop = true; }

void installSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}


/// Options common to watch and replay: outputs and the rules' numbers.
struct CommonArgs {
  RuleConfig rules;
  bool json = false;
  std::string alertsFile;
  std::string logFile;
  bool savePorts = false;
  uint64_t maxPackets = 0;
  std::vector<std::string> dstIps;
  bool verbose = false;
  bool noAnomaly = false;
  std::string profile = "default";
  std::vector<std::string> ruleList;
  std::string configFile;
  uint32_t slots = PC_SOURCES_DEFAULT;
};

struct WatchArgs {
  CommonArgs common;
  std::vector<std::string> ifaces;
  std::string mode = "auto";
  std::string pinRoot = "/sys/fs/bpf/portcullis";
  std::string stateDir = "/run/portcullis";
  bool block = false;
  BlockPolicy policy;
  std::vector<std::string> blockRules;
  std::vector<std::string> allow;
  bool persist = false;
  std::string metrics;
};

struct ReplayArgs {
  CommonArgs common;
  std::string file;
};

void addCommonOptions(CLI::App* cmd, CommonArgs& a) {
  RuleConfig& r = a.rules;
  // Listed for --help; expandConfig() reads the file before parsing.
  cmd->add_option("--config", a.configFile, "TOML config file (keys are the long option names)");
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_flag("--json", a.json, "one JSON object per line");
  cmd->add_option("--alerts", a.alertsFile, "also append alerts to FILE");
  cmd->add_option("--log-file", a.logFile, "write the per-source report as JSON to FILE on exit");
  cmd->add_flag("--save-ports", a.savePorts, "record the ports each source probed (summary)");
  cmd->add_option("--max-packets", a.maxPackets, "stop after N packets (0: no limit)");
  cmd->add_option("--dst-ip", a.dstIps,
                  "protected destination (repeatable; 'all' for every destination)");
  cmd->add_flag("-v,--verbose", a.verbose, "verbose output, with libbpf's messages");
  auto positive = CLI::Range(1u, 1'000'000'000u);
  cmd->add_option("--score-threshold", r.scoreThreshold, "score rule: points in one window")
      ->check(CLI::Range(1u, 65535u))->capture_default_str();
  cmd->add_option("--score-window-ms", r.scoreWindowMs, "score rule: window length")
      ->check(CLI::Range(1u, 3'600'000u))->capture_default_str();
  cmd->add_option("--weight-hot", r.weightHot, "points for ports 11, 12, 13, 2000")
      ->check(CLI::Range(0, 1000))->capture_default_str();
  cmd->add_option("--weight-low", r.weightLow, "points for other ports below 1024")
      ->check(CLI::Range(0, 1000))->capture_default_str();
  cmd->add_option("--weight-high", r.weightHigh, "points for ports 1024 and above")
      ->check(CLI::Range(0, 1000))->capture_default_str();
  cmd->add_option("--rate-ports", r.rateMaxPorts, "rate rule: more than X distinct ports ...")
      ->check(CLI::Range(1u, 65535u))->capture_default_str();
  cmd->add_option("--rate-window", r.rateWindowS, "... within Y seconds")
      ->check(CLI::Range(1u, 86400u))->capture_default_str();
  cmd->add_flag("--no-anomaly", a.noAnomaly, "turn the anomaly rule off");
  cmd->add_option("--profile", a.profile, "preset: default, snort-low, snort-medium, snort-high, zeek")
      ->check(CLI::IsMember(std::vector<std::string>(std::begin(kProfiles), std::end(kProfiles))))
      ->capture_default_str();
  cmd->add_option("--rules", a.ruleList, "rules in force (comma-separated)")
      ->delimiter(',')
      ->check(CLI::IsMember(allRuleNames()));
  cmd->add_option("--rate-basis", r.rateBasis, "rate counts distinct ports, or negative answers")
      ->check(CLI::IsMember({"ports", "rejects"}))->capture_default_str();
  cmd->add_option("--slow-window", r.slowWindowS, "slow rule: window T in seconds")
      ->check(CLI::Range(1u, 86400u))->capture_default_str();
  cmd->add_option("--slow-keep", r.slowKeepWindows, "slow rule: windows a suspicious source stays listed")
      ->check(CLI::Range(1u, 10000u))->capture_default_str();
  auto probability = CLI::Range(0.000001, 0.999999);
  cmd->add_option("--trw-theta0", r.trwTheta0, "trw: P(success) of a benign source")
      ->check(probability)->capture_default_str();
  cmd->add_option("--trw-theta1", r.trwTheta1, "trw: P(success) of a scanner")
      ->check(probability)->capture_default_str();
  cmd->add_option("--trw-alpha", r.trwAlpha, "trw: false positive bound")
      ->check(probability)->capture_default_str();
  cmd->add_option("--trw-beta", r.trwBeta, "trw: detection probability")
      ->check(probability)->capture_default_str();
  cmd->add_option("--shape-window", r.shapeWindowS, "shape: window in seconds")
      ->check(CLI::Range(1u, 86400u))->capture_default_str();
  cmd->add_option("--shape-ports", r.shapePorts, "shape: ports on one host for a vertical scan")
      ->check(CLI::Range(1u, 65535u))->capture_default_str();
  cmd->add_option("--shape-hosts", r.shapeHosts, "shape: hosts for a horizontal scan")
      ->check(CLI::Range(1u, 1u << 24))->capture_default_str();
  cmd->add_option("--group-min-ports", r.groupMinPorts, "group: ports each source must probe")
      ->check(CLI::Range(1u, 65535u))->capture_default_str();
  cmd->add_option("--group-window", r.groupWindowS, "group: seconds the sources start apart")
      ->check(CLI::Range(1u, 3600u))->capture_default_str();
  cmd->add_option("--poll-ms", r.pollMs, "how often the tables are read")
      ->check(CLI::Range(10u, 10'000u))->capture_default_str();
  cmd->add_option("--quiet-seconds", r.quietS, "a scan quiet this long is over")
      ->check(positive)->capture_default_str();
  cmd->add_option("--forget-seconds", r.forgetS, "forget sources idle this long")
      ->check(positive)->capture_default_str();
  cmd->add_option("--flow-window", r.flowWindowS, "seconds a silent connection is remembered")
      ->check(CLI::Range(1u, 86400u))->capture_default_str();
  cmd->add_option("--event-burst", r.eventBurst, "anomaly events per source per window")
      ->check(CLI::Range(1u, 255u))->capture_default_str();
  cmd->add_option("--admit-targets", r.admitTargets,
                  "distinct targets a source shows before it earns a full slot")
      ->check(CLI::Range(1u, 32u))->capture_default_str();
  cmd->add_option("--v4-prefix", r.v4Prefix, "IPv4 sources are aggregated per this prefix")
      ->check(CLI::Range(8u, 32u))->capture_default_str();
  cmd->add_option("--v6-prefix", r.v6Prefix, "IPv6 sources are aggregated per this prefix")
      ->check(CLI::Range(16u, 128u))->capture_default_str();
  cmd->add_option("--slots", a.slots, "source table size (a power of two)")
      ->check(CLI::Range(2u, 1u << 24))
      ->check([](const std::string& v) {
        unsigned long n = std::stoul(v);
        return (n & (n - 1)) == 0 ? std::string() : std::string("must be a power of two");
      })
      ->capture_default_str();
}

// Applies --profile to the options not given explicitly, then --rules and --no-anomaly.
bool finalizeRules(CLI::App* cmd, CommonArgs& a, std::string& error) {
  std::set<std::string> given;
  for (const CLI::Option* opt : cmd->get_options()) {
    if (opt->count() > 0) given.insert(opt->get_name().substr(2));
  }
  if (!a.ruleList.empty()) given.insert("rules");
  if (!applyProfile(a.profile, a.rules, given)) {
    error = "--profile: unknown profile " + a.profile;
    return false;
  }
  if (!a.ruleList.empty()) a.rules.enabled = {a.ruleList.begin(), a.ruleList.end()};
  if (a.noAnomaly) a.rules.enabled.erase("anomaly");
  if (a.rules.trwTheta1 >= a.rules.trwTheta0) {
    error = "--trw-theta1 must be below --trw-theta0 (a scanner succeeds less often)";
    return false;
  }
  if (a.rules.trwAlpha >= a.rules.trwBeta) {
    error = "--trw-alpha must be below --trw-beta";
    return false;
  }
  return true;
}

// --dst-ip: explicit addresses, "all", or (empty) the interfaces' own addresses.
std::optional<std::vector<pc_addr>> explicitDestinations(const CommonArgs& a, std::string& error) {
  if (a.dstIps.empty()) return std::nullopt;
  std::vector<pc_addr> out;
  for (const std::string& ip : a.dstIps) {
    if (ip == "all" || ip == "any") return std::vector<pc_addr>{};
    auto addr = parseAddr(ip);
    if (!addr) {
      error = "--dst-ip: not an IP address: " + ip;
      return std::nullopt;
    }
    out.push_back(*addr);
  }
  return out;
}

struct OutputFiles {
  FILE* alerts = nullptr;
  FILE* log = nullptr;  ///< --log-file: opened at start, so a bad path fails before any work
  ~OutputFiles() {
    if (alerts) std::fclose(alerts);
    if (log) std::fclose(log);
  }
};

bool openOutputs(const CommonArgs& a, OutputFiles& files) {
  if (!a.alertsFile.empty()) {
    files.alerts = std::fopen(a.alertsFile.c_str(), "a");
    if (!files.alerts) {
      logError("cannot open %s: %s", a.alertsFile.c_str(),
                   std::strerror(errno));
      return false;
    }
  }
  if (!a.logFile.empty()) {
    files.log = std::fopen(a.logFile.c_str(), "w");
    if (!files.log) {
      logError("cannot write %s: %s", a.logFile.c_str(),
                   std::strerror(errno));
      return false;
    }
  }
  return true;
}

void finish(Engine& engine, const OutputFiles& files) {
  engine.writeSummary();
  if (files.log) {
    std::string doc = engine.summaryJson();
    std::fwrite(doc.data(), 1, doc.size(), files.log);
    std::fputc('\n', files.log);
    std::fflush(files.log);
  }
}

DatapathTiming timingFrom(const CommonArgs& a) {
  DatapathTiming t;
  t.scoreWindowMs = a.rules.scoreWindowMs;
  t.flowWindowMs = uint64_t(a.rules.flowWindowS) * 1000;
  t.idleTimeoutMs = uint64_t(a.rules.forgetS) * 1000;
  t.weightHot = a.rules.weightHot;
  t.weightLow = a.rules.weightLow;
  t.weightHigh = a.rules.weightHigh;
  t.eventBurst = uint16_t(a.rules.eventBurst);
  t.admitTargets = uint16_t(a.rules.admitTargets);
  t.v4Prefix = uint8_t(a.rules.v4Prefix);
  t.v6Prefix = uint8_t(a.rules.v6Prefix);
  t.reportPorts = a.savePorts;
  return t;
}

// One watched interface: an XDP datapath, or a live pcap capture feeding a MemoryTable.
struct Watched {
  std::string iface;
  std::unique_ptr<XdpDatapath> xdp;
  std::unique_ptr<PcapSource> pcap;
  std::unique_ptr<MemoryTable> table;
  std::vector<pc_addr> dsts;
  const SourceTable& source() const {
    return xdp ? static_cast<const SourceTable&>(*xdp) : *table;
  }
  size_t index = 0;
};

struct RingBufferDeleter {
  void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
};

struct RingContext {
  Engine* engine;
  size_t index;
};

int onRingEvent(void* ctx, void* data, size_t size) {
  if (size < sizeof(pc_event)) return 0;
  auto* rc = static_cast<RingContext*>(ctx);
  rc->engine->onEvent(rc->index, *static_cast<const pc_event*>(data));
  return 0;
}

std::string metricsText(const Engine& engine, const std::vector<std::unique_ptr<Watched>>& watched,
                        const std::vector<std::unique_ptr<Blocklist>>& blocklists,
                        const AutoBlocker* blocker) {
  std::string out;
  auto line = [&](const std::string& s) { out += s + "\n"; };
  line("# HELP portcullis_alerts_total Alerts reported, per rule.");
  line("# TYPE portcullis_alerts_total counter");
  for (std::string_view name : kRuleNames) {
    std::string rule(name);
    auto it = engine.alertsByRule().find(rule);
    line("portcullis_alerts_total{rule=\"" + rule + "\"} " +
         std::to_string(it == engine.alertsByRule().end() ? 0 : it->second));
  }
  line("# HELP portcullis_blocks_total Sources blocked by auto-block.");
  line("# TYPE portcullis_blocks_total counter");
  line("portcullis_blocks_total " + std::to_string(blocker ? blocker->blocksTotal() : 0));
  for (const char* metric : {"packets", "dropped", "events_lost", "untracked"}) {
    line(std::string("# TYPE portcullis_") + metric + "_total counter");
    for (const auto& w : watched) {
      pc_stats st = w->source().stats();
      uint64_t v = std::string(metric) == "packets" ? st.packets
                   : std::string(metric) == "dropped" ? st.dropped
                   : std::string(metric) == "events_lost" ? st.events_lost
                                                           : st.untracked;
      line(std::string("portcullis_") + metric + "_total{iface=\"" + w->iface + "\"} " +
           std::to_string(v));
    }
  }
  line("# HELP portcullis_evictions_total Slot holders replaced by stronger (or newer after idle) sources.");
  line("# TYPE portcullis_evictions_total counter");
  for (const auto& w : watched) {
    line("portcullis_evictions_total{iface=\"" + w->iface + "\"} " +
         std::to_string(w->source().stats().evictions));
  }
  line("# HELP portcullis_untracked_sources Distinct sources seen without a full slot (HyperLogLog estimate).");
  line("# TYPE portcullis_untracked_sources gauge");
  for (const auto& w : watched) {
    line("portcullis_untracked_sources{iface=\"" + w->iface + "\"} " +
         std::to_string(uint64_t(sketchEstimate(w->source().sketch()))));
  }
  line("# HELP portcullis_admission_fill Used fraction of the admission tier (the first-packet sketch).");
  line("# TYPE portcullis_admission_fill gauge");
  for (const auto& w : watched) {
    AdmissionFill fill = admissionFill(w->source().admission());
    line("portcullis_admission_fill{iface=\"" + w->iface + "\"} " +
         std::to_string(fill.capacity ? double(fill.used) / double(fill.capacity) : 0.0));
  }
  line("# HELP portcullis_answers_visible Whether the host's answers are seen (1), or the slow and trw rules stand down (0).");
  line("# TYPE portcullis_answers_visible gauge");
  for (size_t i = 0; i < watched.size(); ++i) {
    line("portcullis_answers_visible{iface=\"" + watched[i]->iface + "\"} " +
         std::string(engine.answersVisible(i) ? "1" : "0"));
  }
  line("# HELP portcullis_source_table_fill Used fraction of the fixed-size source table.");
  line("# TYPE portcullis_source_table_fill gauge");
  for (const auto& w : watched) {
    auto slots = w->source().slots();
    size_t used = 0;
    for (const pc_src_state& s : slots) used += (s.flags & PC_SRC_USED) != 0;
    line("portcullis_source_table_fill{iface=\"" + w->iface + "\"} " +
         std::to_string(slots.empty() ? 0.0 : double(used) / double(slots.size())));
  }
  line("# TYPE portcullis_blocklist_entries gauge");
  size_t entries = 0;
  for (const auto& bl : blocklists) entries += bl->size();
  line("portcullis_blocklist_entries " + std::to_string(entries));
  return out;
}

int runWatch(WatchArgs& args) {
  CommonArgs& a = args.common;
  setBpfLogging(a.verbose);
  if (args.ifaces.empty()) args.ifaces = {"lo"};
  std::string error;
  auto fixedDsts = explicitDestinations(a, error);
  if (!error.empty()) {
    logError("%s", error.c_str());
    return 2;
  }
  OutputFiles files;
  if (!openOutputs(a, files)) return 2;
  AlertSink sink(a.json, files.alerts);
  Engine engine(a.rules, sink, a.savePorts);

  std::vector<std::unique_ptr<Watched>> watched;
  for (const std::string& iface : args.ifaces) {
    auto w = std::make_unique<Watched>();
    w->iface = iface;
    w->dsts = fixedDsts ? *fixedDsts : interfaceAddrs(iface);
    std::string xdpError;
    if (args.mode != "pcap") {
      XdpOptions opts;
      opts.iface = iface;
      opts.slots = a.slots;
      opts.pinRoot = args.pinRoot;
      opts.persist = args.persist;
      opts.timing = timingFrom(a);
      if (args.mode == "xdp") opts.modes = {XdpMode::Native};
      if (args.mode == "xdp-generic") opts.modes = {XdpMode::Generic};
      w->xdp = XdpDatapath::attach(opts, xdpError);
      if (!w->xdp && args.mode != "auto") {
        logError("%s", xdpError.c_str());
        return 1;
      }
    }
    if (w->xdp) {
      w->xdp->setWatchedDestinations(w->dsts);
      logInfo("watching %s in %s mode (%s)%s%s", iface.c_str(),
                   xdpModeName(w->xdp->mode()),
                   w->xdp->viaDispatcher() ? "libxdp dispatcher" : "direct attach",
                   w->xdp->fallbackReason().empty() ? "" : "; fell back after ",
                   w->xdp->fallbackReason().c_str());
      logInfo("maps pinned under %s", w->xdp->pinDir().c_str());
      if (w->xdp->egressAttached()) {
        logInfo("TC egress attached on %s (the host's answers)",
                     iface.c_str());
      } else {
        logWarning("TC egress not attached on %s (%s); the slow and "
                     "trw rules will not see the host's answers",
                     iface.c_str(), w->xdp->egressError().c_str());
      }
    } else {
      if (args.mode == "auto") {
        logInfo("XDP unavailable on %s (%s); using pcap",
                     iface.c_str(), xdpError.c_str());
      }
      w->pcap = PcapSource::openLive(iface, w->dsts, error);
      if (!w->pcap) {
        logError("%s", error.c_str());
        return 1;
      }
      if (!MemoryTable::supportsLinkType(w->pcap->linkType())) {
        logError("%s: unsupported link type %d", iface.c_str(),
                     w->pcap->linkType());
        return 1;
      }
      w->table = std::make_unique<MemoryTable>(iface, a.slots, a.rules, a.savePorts);
      w->table->setWatchedDestinations(w->dsts);
      w->table->advanceTo(uint64_t(unixMicrosNow()));
      logInfo("watching %s in pcap mode", iface.c_str());
    }
    std::string shown;
    for (const pc_addr& d : w->dsts) shown += " " + formatAddr(d);
    logInfo("protected destinations on %s:%s", iface.c_str(),
                 w->dsts.empty() ? " all" : shown.c_str());
    w->index = watched.size();
    engine.addTable(&w->source());
    watched.push_back(std::move(w));
  }

  // One ring buffer manager over every XDP interface's events.
  std::vector<std::unique_ptr<RingContext>> contexts;
  std::unique_ptr<ring_buffer, RingBufferDeleter> rb;
  for (auto& w : watched) {
    if (!w->xdp) continue;
    contexts.push_back(std::make_unique<RingContext>(RingContext{&engine, w->index}));
    if (!rb) {
      rb.reset(ring_buffer__new(w->xdp->eventsFd(), onRingEvent, contexts.back().get(), nullptr));
    } else {
      ring_buffer__add(rb.get(), w->xdp->eventsFd(), onRingEvent, contexts.back().get());
    }
  }

  // Allowlist (never scored, never dropped) into every XDP datapath; the blocker's safety list
  // adds loopback, this host, its gateways and DNS servers, which are scored but never blocked.
  std::vector<Prefix> allow;
  for (const std::string& text : args.allow) allow.push_back(*parsePrefix(text));
  std::vector<std::unique_ptr<Blocklist>> blocklists;
  std::unique_ptr<AutoBlocker> blocker;
  if (args.block) {
    if (!args.blockRules.empty()) args.policy.rules = {args.blockRules.begin(), args.blockRules.end()};
    blocker = std::make_unique<AutoBlocker>(args.policy, safetyList(allow), sink);
  }
  for (auto& w : watched) {
    if (!w->xdp) {
      if (args.block) {
        logWarning("%s is in pcap mode, which cannot drop; "
                     "its scanners are reported, not blocked", w->iface.c_str());
      }
      w->table->setAllowlist(allow);
      continue;
    }
    auto bl = std::make_unique<Blocklist>(w->xdp->blocklistFd(), w->xdp->blockprefixFd(),
                                          w->xdp->allowlistFd(), w->xdp->controlFd(),
                                          w->xdp->clock());
    bl->setAllowlist(allow);
    if (blocker) blocker->setBlocklist(w->index, bl.get(), w->xdp->ticksPerSecond());
    logInfo("%s: maps take %.1f MiB (source table %u slots of %zu B, admission "
                 "tier %zu entries of %zu B, untracked-sources sketch %d registers per CPU)%s",
                 w->iface.c_str(), double(w->xdp->mapMemoryBytes()) / (1 << 20),
                 unsigned(w->xdp->slots().size()), sizeof(pc_src_state),
                 w->xdp->admission().size(), sizeof(pc_admit), PC_HLL_REGS,
                 w->xdp->adopted() ? "; adopted the previous watch's maps and blocks" : "");
    if (size_t n = bl->size()) {
      logInfo("%s: %zu blocklist entries in force", w->iface.c_str(), n);
    }
    blocklists.push_back(std::move(bl));
    // What `portcullis status` shows about this watch.
    std::error_code ec;
    std::filesystem::create_directories(args.stateDir, ec);
    nlohmann::json st{{"pid", getpid()},
                      {"mode", xdpModeName(w->xdp->mode())},
                      {"attach", w->xdp->viaDispatcher() ? "libxdp dispatcher" : "direct"},
                      {"egress", w->xdp->egressAttached()},
                      {"block", args.block},
                      {"started", formatTimestamp(unixMicrosNow())}};
    std::ofstream(stateFile(args.stateDir, w->iface)) << st.dump() << "\n";
  }
  if (blocker) {
    engine.setAlertHook([&](Alert& alert, size_t table, const pc_src_state& slot) {
      blocker->consider(alert, table, slot);
    });
    logInfo("auto-block on (rules:%s; ttl %llu s; at most %u blocks/s)",
                 [&] {
                   std::string r;
                   for (const auto& x : args.policy.rules) r += " " + x;
                   return r;
                 }().c_str(),
                 (unsigned long long)args.policy.ttlS, args.policy.maxPerSecond);
  }

  // Least privilege: from here on the controller only reads and writes maps through fds it
  // holds, and detaches through netlink at exit.
  {
    std::string capError;
    bool anyXdp = std::any_of(watched.begin(), watched.end(), [](auto& w) { return bool(w->xdp); });
    std::vector<std::string> keep;
    if (anyXdp && !args.persist) keep.push_back("cap_net_admin");
    if (keepOnlyCapabilities(keep, capError)) {
      logInfo("capabilities now: %s", currentCapabilities().c_str());
    } else {
      logWarning("%s", capError.c_str());
    }
  }
  std::unique_ptr<MetricsServer> metrics;
  if (!args.metrics.empty()) {
    metrics = MetricsServer::start(args.metrics, error);
    if (!metrics) {
      logError("%s", error.c_str());
      return 2;
    }
    logInfo("metrics on http://%s/metrics", args.metrics.c_str());
  }

  if (std::any_of(watched.begin(), watched.end(), [](auto& w) { return w->xdp && w->xdp->adopted(); })) {
    engine.baseline();  // the previous watch already reported what the pinned tables hold
  }
  installSignalHandlers();
  std::fflush(stderr);
  uint64_t lastPoll = monotonicNs(), lastAddrCheck = lastPoll, lastSweep = lastPoll;
  const uint64_t pollNs = uint64_t(a.rules.pollMs) * 1'000'000;
  while (!gStop) {
    // Wait for events: the ring buffer (XDP) or capture fds (pcap), at most one poll interval.
    std::vector<pollfd> fds;
    if (rb) fds.push_back({ring_buffer__epoll_fd(rb.get()), POLLIN, 0});
    for (auto& w : watched) {
      if (w->pcap) fds.push_back({w->pcap->selectableFd(), POLLIN, 0});
    }
    ::poll(fds.data(), fds.size(), int(a.rules.pollMs));
    if (rb) ring_buffer__consume(rb.get());
    uint64_t packets = 0;
    for (auto& w : watched) {
      if (w->pcap) {
        CapturedFrame f;
        while (w->pcap->next(f) == ReadResult::Frame) {
          w->table->handleFrame(f.data, f.caplen, w->pcap->linkType(), f.tsMicros);
          for (const pc_event& e : w->table->takeEvents()) engine.onEvent(w->index, e);
        }
      }
      packets += w->source().stats().packets;
    }
    uint64_t now = monotonicNs();
    if (now - lastPoll >= pollNs) {
      for (auto& w : watched) {
        if (w->table) w->table->advanceTo(uint64_t(unixMicrosNow()));
      }
      engine.poll();
      lastPoll = now;
      if (metrics) metrics->publish(metricsText(engine, watched, blocklists, blocker.get()));
    }
    if (blocker && now - lastSweep >= 1'000'000'000ull) {
      blocker->sweep(unixMicrosNow());
      lastSweep = now;
    }
    // Keep the protected destinations current when they are the interfaces' own addresses, and
    // the never-block list with them (an address added to the host is the host's own too).
    if (!fixedDsts && now - lastAddrCheck >= 2'000'000'000ull) {
      lastAddrCheck = now;
      bool changed = false;
      for (auto& w : watched) {
        auto current = interfaceAddrs(w->iface);
        if (current.size() == w->dsts.size() &&
            std::equal(current.begin(), current.end(), w->dsts.begin(),
                       [](const pc_addr& x, const pc_addr& y) { return pc_addr_eq(&x, &y); })) {
          continue;
        }
        w->dsts = current;
        changed = true;
        if (w->xdp) w->xdp->setWatchedDestinations(current);
        if (w->table) w->table->setWatchedDestinations(current);
        if (w->pcap && !w->pcap->setDestinations(current, error)) {
          logError("%s", error.c_str());
        }
      }
      if (changed && blocker) blocker->setNeverBlock(safetyList(allow));
    }
    if (a.maxPackets && packets >= a.maxPackets) break;
  }
  if (rb) ring_buffer__consume(rb.get());
  engine.poll();
  engine.flush();
  finish(engine, files);
  if (args.persist) {
    logInfo("--persist: leaving the programs attached and the maps pinned");
  } else {
    logInfo("detaching");
    for (auto& w : watched) std::remove(stateFile(args.stateDir, w->iface).c_str());
  }
  return 0;
}

int runReplay(ReplayArgs& args) {
  CommonArgs& a = args.common;
  std::string error;
  auto fixedDsts = explicitDestinations(a, error);
  if (!error.empty()) {
    logError("%s", error.c_str());
    return 2;
  }
  auto src = PcapSource::openFile(args.file, error);
  if (!src) {
    logError("%s", error.c_str());
    return 2;
  }
  if (!MemoryTable::supportsLinkType(src->linkType())) {
    logError("%s: unsupported link type %d", args.file.c_str(),
                 src->linkType());
    return 2;
  }
  OutputFiles files;
  if (!openOutputs(a, files)) return 2;
  AlertSink sink(a.json, files.alerts);
  Engine engine(a.rules, sink, a.savePorts);
  MemoryTable table("replay", a.slots, a.rules, a.savePorts);
  if (fixedDsts) table.setWatchedDestinations(*fixedDsts);
  engine.addTable(&table);

  CaptureReplayer replayer(table, engine, 0, uint64_t(a.rules.pollMs) * 1000);
  CapturedFrame f;
  ReadResult rc;
  uint64_t packets = 0;
  while ((rc = src->next(f)) == ReadResult::Frame) {
    replayer.frame(f.data, f.caplen, src->linkType(), f.tsMicros);
    if (a.maxPackets && ++packets >= a.maxPackets) break;
  }
  if (rc == ReadResult::Error) {
    logError("%s: %s", args.file.c_str(), src->lastError().c_str());
    return 2;
  }
  replayer.finish();
  finish(engine, files);
  return 0;
}

// Where each option set by the config file came from ("config FILE:LINE"), by "--name", for
// the options the command line does not set itself: CLI11 names the option in its errors, and
// the user is told the file and line.
using ConfigOrigins = std::map<std::string, std::string>;

bool optionOfAnySubcommand(CLI::App& app, const std::string& name) {
  for (CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_option_no_throw(name)) return true;
  }
  return false;
}

// Turns `--config FILE` into command-line words placed before the user's own, so the file sets
// defaults and the command line overrides them. Each key must be a long option of the
// subcommand (the same table that makes the command line), so a typo is an error, not a no-op.
bool expandConfig(CLI::App& app, int argc, char** argv, std::vector<std::string>& out,
                  ConfigOrigins& origins, std::string& error) {
  std::vector<std::string> user;
  std::string path;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      path = arg.substr(9);
    } else {
      user.push_back(arg);
    }
  }
  out.assign(argv, argv + std::min(argc, 2));
  std::string sub = argc > 1 ? argv[1] : "";
  CLI::App* cmd = nullptr;
  for (CLI::App* candidate : app.get_subcommands({})) {
    if (candidate->get_name() == sub) cmd = candidate;
  }
  if (!path.empty() && cmd) {
    std::vector<ConfigSetting> settings;
    if (!readConfigFile(path, sub, settings, error)) return false;
    for (const ConfigSetting& s : settings) {
      std::string name = "--" + s.key;
      std::string where = "config " + path + ":" + std::to_string(s.line);
      const CLI::Option* opt = cmd->get_option_no_throw(name);
      if (!opt || s.key == "config" || opt->get_positional()) {
        // A top-level key of another subcommand (allow, for watch) is not this one's concern.
        if (!opt && s.key != "config" && optionOfAnySubcommand(app, name)) continue;
        error = where + ": " + s.key + ": no such option of " + sub + " (see " + sub + " --help)";
        return false;
      }
      bool flag = opt->get_expected_max() == 0;
      if (flag != s.isFlag) {
        error = where + ": " + s.key + (flag ? ": takes true or false" : ": needs a value");
        return false;
      }
      // The command line overrides the file: its own value is the only one parsed.
      auto given = [&](const std::string& u) { return u == name || u.rfind(name + "=", 0) == 0; };
      if (std::any_of(user.begin(), user.end(), given)) continue;
      origins[name] = where;
      if (s.isFlag) {
        if (s.flagOn) out.push_back(name);
        continue;
      }
      for (const std::string& value : s.values) {
        out.push_back(name);
        out.push_back(value);
      }
    }
  }
  out.insert(out.end(), user.begin(), user.end());
  return true;
}

// A parse error about an option the config file set names the file and line.
std::string withOrigin(std::string what, const ConfigOrigins& origins) {
  for (const auto& [name, where] : origins) {
    if (what.rfind(name + ":", 0) == 0 || what.find(" " + name + ":") != std::string::npos ||
        what.find(name + " ") != std::string::npos) {
      return where + ": " + what;
    }
  }
  return what;
}

}  // namespace

int runCli(int argc, char** argv) {
  CLI::App app{"portcullis: port-scan detection and blocking in XDP"};
  app.require_subcommand(1);

  WatchArgs watch;
  CLI::App* watchCmd = app.add_subcommand("watch", "attach to interfaces and report scans");
  watchCmd->add_option("-i,--interface", watch.ifaces, "interface to watch (repeatable; default lo)");
  watchCmd->add_option("--mode", watch.mode, "datapath: auto, xdp, xdp-generic or pcap")
      ->check(CLI::IsMember({"auto", "xdp", "xdp-generic", "pcap"}))
      ->capture_default_str();
  watchCmd->add_option("--pin-root", watch.pinRoot, "where maps are pinned (<dir>/<iface>/)")
      ->capture_default_str();
  watchCmd->add_flag("--block", watch.block, "auto-block detected scanners in XDP");
  watchCmd->add_option("--block-ttl", watch.policy.ttlS, "seconds a first block lasts")
      ->check(CLI::Range(1ull, 31ull * 86400))->capture_default_str();
  watchCmd->add_option("--block-max-ttl", watch.policy.maxTtlS,
                       "repeat offenders' TTL doubles up to this")
      ->check(CLI::Range(1ull, 365ull * 86400))->capture_default_str();
  watchCmd->add_option("--block-permanent-after", watch.policy.permanentAfter,
                       "blocks before a permanent one (0: never)")
      ->capture_default_str();
  watchCmd->add_option("--block-rate", watch.policy.maxPerSecond, "new blocks per second at most")
      ->check(CLI::Range(1u, 100000u))->capture_default_str();
  watchCmd->add_option("--block-rules", watch.blockRules, "rules whose alerts may block")
      ->delimiter(',')
      ->check(CLI::IsMember(allRuleNames()));
  watchCmd->add_option("--allow", watch.allow, "CIDR never scored, never blocked (repeatable)")
      ->check([](const std::string& v) {
        return parsePrefix(v) ? std::string() : "not an address or CIDR prefix: " + v;
      });
  watchCmd->add_flag("--persist", watch.persist,
                     "on exit, leave the programs attached and the maps pinned");
  watchCmd->add_option("--metrics", watch.metrics,
                       "serve Prometheus metrics on HOST:PORT (e.g. 127.0.0.1:9464)");
  watchCmd->add_option("--state-dir", watch.stateDir, "where `status` finds running watches")
      ->capture_default_str();
  addCommonOptions(watchCmd, watch.common);

  ReplayArgs replay;
  CLI::App* replayCmd =
      app.add_subcommand("replay", "run the rules over a capture file (pcap or pcapng)");
  replayCmd->add_option("file", replay.file, "capture file")->required();
  addCommonOptions(replayCmd, replay.common);

  OpsArgs ops;
  auto addOpsOptions = [&](CLI::App* cmd) {
    cmd->add_option("-i,--interface", ops.iface, "interface (default: every one with pins)");
    cmd->add_option("--pin-root", ops.pinRoot, "where watch pins its maps")->capture_default_str();
  };
  CLI::App* blockCmd = app.add_subcommand("block", "block an address or CIDR prefix now");
  blockCmd->add_option("cidr", ops.prefix, "address or CIDR prefix")->required();
  blockCmd->add_option("--ttl", ops.ttl, "seconds (0: permanent)")->capture_default_str();
  blockCmd->add_flag("--force", ops.force, "block even this host, its gateway or DNS");
  addOpsOptions(blockCmd);
  CLI::App* unblockCmd = app.add_subcommand("unblock", "remove a block");
  unblockCmd->add_option("cidr", ops.prefix, "address or CIDR prefix")->required();
  addOpsOptions(unblockCmd);
  CLI::App* listCmd = app.add_subcommand("blocklist", "list blocks with their expiry and drops");
  listCmd->add_flag("--json", ops.json, "JSON output");
  addOpsOptions(listCmd);
  CLI::App* statusCmd = app.add_subcommand("status", "mode, tracked sources, top scores, drops");
  statusCmd->add_flag("--json", ops.json, "JSON output");
  statusCmd->add_option("--state-dir", ops.stateDir, "where watch records its state")
      ->capture_default_str();
  addOpsOptions(statusCmd);

  std::vector<std::string> expanded;
  ConfigOrigins origins;
  std::string configError;
  if (!expandConfig(app, argc, argv, expanded, origins, configError)) {
    logError("%s", configError.c_str());
    return 2;
  }
  std::vector<char*> args;
  for (std::string& a : expanded) args.push_back(a.data());
  argc = int(args.size());
  argv = args.data();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    if (what.empty()) what = e.get_name();
    logError("%s", withOrigin(what, origins).c_str());
    return 2;
  }
  if (blockCmd->parsed()) return runBlock(ops);
  if (unblockCmd->parsed()) return runUnblock(ops);
  if (listCmd->parsed()) return runBlocklist(ops);
  if (statusCmd->parsed()) return runStatus(ops);
  std::string ruleError;
  if (watchCmd->parsed()) {
    if (!finalizeRules(watchCmd, watch.common, ruleError)) {
      logError("%s", ruleError.c_str());
      return 2;
    }
    return runWatch(watch);
  }
  if (replayCmd->parsed()) {
    if (!finalizeRules(replayCmd, replay.common, ruleError)) {
      logError("%s", ruleError.c_str());
      return 2;
    }
    return runReplay(replay);
  }
  return 2;
}

}  // namespace portcullis
