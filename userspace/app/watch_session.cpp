// `portcullis watch`: attach to interfaces, poll, report, block, until a signal.
#include "app/args.h"

#include <net/if.h>
#include <bpf/libbpf.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <nlohmann/json.hpp>

#include "app/ops.h"
#include "app/privileges.h"
#include "datapath/memory_table.h"
#include "datapath/net_util.h"
#include "datapath/pcap_source.h"
#include "detect/engine.h"
#include "report/log.h"
#include "report/metrics.h"
#include "respond/blocklist.h"
#include "respond/nft_blocklist.h"
#include "fleet/fleet_link.h"

namespace portcullis {

namespace {

std::atomic<bool> gStop{false};
std::atomic<bool> gReload{false};

void onSignal(int) { gStop = true; }
void onHangup(int) { gReload = true; }

void installSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sa.sa_handler = onHangup;
  sigaction(SIGHUP, &sa, nullptr);
}

// Options a reload cannot change while attached (they shape the programs, their maps or where
// they live): named in the reload's log line, in force again only after a restart.
std::vector<std::string> needRestart(const WatchArgs& now, const WatchArgs& fresh) {
  std::vector<std::string> out;
  auto differs = [&](bool d, const char* name) {
    if (d) out.emplace_back(name);
  };
  const CommonArgs &a = now.common, &b = fresh.common;
  std::vector<std::string> freshIfaces =
      fresh.ifaces.empty() ? std::vector<std::string>{"lo"} : fresh.ifaces;
  differs(now.ifaces != freshIfaces, "--interface");
  differs(now.mode != fresh.mode, "--mode");
  differs(now.pinRoot != fresh.pinRoot, "--pin-root");
  differs(now.stateDir != fresh.stateDir, "--state-dir");
  differs(now.block != fresh.block, "--block");
  differs(now.blockBackend != fresh.blockBackend, "--block-backend");
  differs(now.persist != fresh.persist, "--persist");
  differs(now.metrics != fresh.metrics, "--metrics");
  differs(now.fleet != fresh.fleet || now.nodeName != fresh.nodeName, "--fleet");
  differs(a.json != b.json, "--json");
  differs(
      a.syslog != b.syslog || a.syslogFacility != b.syslogFacility || a.syslogTag != b.syslogTag,
      "--syslog");
  differs(a.slots != b.slots, "--slots");
  differs(a.dstIps != b.dstIps, "--dst-ip");
  differs(a.savePorts != b.savePorts, "--save-ports");
  DatapathTiming x = timingFrom(a), y = timingFrom(b);
  differs(x.scoreWindowMs != y.scoreWindowMs || x.flowWindowMs != y.flowWindowMs ||
              x.idleTimeoutMs != y.idleTimeoutMs || x.weightHot != y.weightHot ||
              x.weightLow != y.weightLow || x.weightHigh != y.weightHigh ||
              x.eventBurst != y.eventBurst || x.admitTargets != y.admitTargets ||
              x.v4Prefix != y.v4Prefix || x.v6Prefix != y.v6Prefix,
          "the datapath's numbers (windows, port weights, prefixes, admission)");
  return out;
}

// One watched interface: an XDP datapath, or a live pcap capture feeding a MemoryTable.
struct Watched {
  std::string iface;
  std::unique_ptr<XdpDatapath> xdp;
  std::unique_ptr<PcapSource> pcap;
  std::unique_ptr<MemoryTable> table;
  std::vector<Prefix> dsts;  ///< protected destinations: its addresses, or --dst-ip
  const SourceTable& source() const { return xdp ? static_cast<const SourceTable&>(*xdp) : *table; }
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

// Prometheus text: one family per line group, per-interface families labelled by iface.
class MetricsText {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const std::string& name, const std::string& labels, const std::string& value) {
    out_ += name + (labels.empty() ? "" : "{" + labels + "}") + " " + value + "\n";
  }
  // One family with a sample per watched interface.
  template <typename ValueFn>
  void perInterface(const char* name, const char* type, const char* help,
                    const std::vector<std::unique_ptr<Watched>>& watched, ValueFn value) {
    family(name, type, help);
    for (size_t i = 0; i < watched.size(); ++i) {
      sample(name, "iface=\"" + watched[i]->iface + "\"", value(*watched[i], i));
    }
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string metricsText(const Engine& engine, const std::vector<std::unique_ptr<Watched>>& watched,
                        const std::vector<std::unique_ptr<Blocklist>>& blocklists,
                        const AutoBlocker* blocker, const FleetLink* fleet) {
  MetricsText m;
  if (fleet) {
    FleetLink::Stats fs = fleet->stats();
    m.family("portcullis_fleet_up", "gauge", "Whether the Redis link of the fleet is up.");
    m.sample("portcullis_fleet_up", "", fs.up ? "1" : "0");
    m.family("portcullis_fleet_messages_total", "counter", "Fleet blocks sent and received.");
    m.sample("portcullis_fleet_messages_total", "direction=\"out\"", std::to_string(fs.out));
    m.sample("portcullis_fleet_messages_total", "direction=\"in\"", std::to_string(fs.in));
    m.family("portcullis_fleet_lag_seconds", "gauge",
             "From the last received block's creation on its node to its arrival here.");
    m.sample("portcullis_fleet_lag_seconds", "", std::to_string(fs.lastLagSeconds));
    m.family("portcullis_fleet_redis_commands_total", "counter",
             "Redis commands this node sent (blocks, footprints, catch-up, pings).");
    m.sample("portcullis_fleet_redis_commands_total", "", std::to_string(fs.commands));
    m.family("portcullis_fleet_footprints_total", "counter",
             "Footprints of sources with evidence: sent, or dropped when too many waited.");
    m.sample("portcullis_fleet_footprints_total", "outcome=\"sent\"",
             std::to_string(fs.footprintsOut));
    m.sample("portcullis_fleet_footprints_total", "outcome=\"dropped\"",
             std::to_string(fs.footprintsDropped));
  }
  m.family("portcullis_alerts_total", "counter", "Incidents (scans) each rule fired in.");
  for (std::string_view name : kRuleNames) {
    std::string rule(name);
    auto it = engine.alertsByRule().find(rule);
    m.sample("portcullis_alerts_total", "rule=\"" + rule + "\"",
             std::to_string(it == engine.alertsByRule().end() ? 0 : it->second));
  }
  m.family("portcullis_incidents_open", "gauge", "Scans going on (incidents not yet ended).");
  m.sample("portcullis_incidents_open", "", std::to_string(engine.openIncidents()));
  m.family("portcullis_blocks_total", "counter", "Sources blocked by auto-block.");
  m.sample("portcullis_blocks_total", "", std::to_string(blocker ? blocker->blocksTotal() : 0));
  struct Counter {
    const char* name;
    __u64 pc_stats::*field;
    const char* help;
  };
  const Counter counters[] = {
      {"portcullis_packets_total", &pc_stats::packets, "Frames the datapath saw."},
      {"portcullis_dropped_total", &pc_stats::dropped, "Frames dropped (blocked sources)."},
      {"portcullis_events_lost_total", &pc_stats::events_lost,
       "Ring-buffer events lost (the buffer was full)."},
      {"portcullis_untracked_total", &pc_stats::untracked, "Frames from sources without a slot."},
      {"portcullis_evictions_total", &pc_stats::evictions,
       "Slot holders replaced by stronger (or newer after idle) sources."}};
  for (const Counter& c : counters) {
    m.perInterface(c.name, "counter", c.help, watched, [&](const Watched& w, size_t) {
      return std::to_string(w.source().stats().*c.field);
    });
  }
  m.perInterface("portcullis_untracked_sources", "gauge",
                 "Distinct sources seen without a full slot (HyperLogLog estimate).", watched,
                 [](const Watched& w, size_t) {
                   return std::to_string(uint64_t(sketchEstimate(w.source().sketch())));
                 });
  m.perInterface(
      "portcullis_admission_fill", "gauge",
      "Used fraction of the admission tier (the first-packet sketch).", watched,
      [](const Watched& w, size_t) {
        AdmissionFill fill = admissionFill(w.source().admission());
        return std::to_string(fill.capacity ? double(fill.used) / double(fill.capacity) : 0.0);
      });
  m.perInterface(
      "portcullis_answers_visible", "gauge",
      "Whether the host's answers are seen (1), or the slow and trw rules stand down (0).", watched,
      [&](const Watched&, size_t i) { return std::string(engine.answersVisible(i) ? "1" : "0"); });
  m.perInterface("portcullis_source_table_fill", "gauge",
                 "Used fraction of the fixed-size source table.", watched,
                 [](const Watched& w, size_t) {
                   auto slots = w.source().slots();
                   size_t used = 0;
                   for (const pc_src_state& s : slots) used += (s.flags & PC_SRC_USED) != 0;
                   return std::to_string(slots.empty() ? 0.0 : double(used) / double(slots.size()));
                 });
  size_t entries = 0;
  for (const auto& bl : blocklists) entries += bl->size();
  m.family("portcullis_blocklist_entries", "gauge", "Entries on the kernel blocklists.");
  m.sample("portcullis_blocklist_entries", "", std::to_string(entries));
  return m.take();
}

bool sameAddrs(const std::vector<Prefix>& a, const std::vector<Prefix>& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](const Prefix& x, const Prefix& y) {
           return x.length == y.length && pc_addr_eq(&x.addr, &y.addr);
         });
}

// An interface's own addresses, as destinations (/128 each).
std::vector<Prefix> ownAddresses(const std::string& iface) {
  std::vector<Prefix> out;
  for (const pc_addr& a : interfaceAddrs(iface)) out.push_back({a, 128});
  return out;
}

/// One run of `watch`, step by step: set up (outputs, datapaths, events, blocking, privileges,
/// metrics), loop (wait, read captures, poll, sweep, follow the addresses), stop.
class WatchSession {
 public:
  explicit WatchSession(WatchArgs& args) : args_(args), a_(args.common) {}

  /// Exit status: 0, or 1 (the environment failed) or 2 (bad input) after logging why.
  int run() {
    if (int rc = setUp()) return rc;
    installSignalHandlers();
    std::fflush(stderr);
    loop();
    stop();
    return 0;
  }

 private:
  int setUp() {
    setBpfLogging(a_.verbose);
    if (args_.ifaces.empty()) args_.ifaces = {"lo"};
    std::string error;
    fixedDsts_ = explicitDestinations(a_, error);
    if (!error.empty()) {
      logError("%s", error.c_str());
      return 2;
    }
    if (!openOutputs(a_, files_)) return 2;
    sink_ = makeSink(a_, files_);
    engine_ = std::make_unique<Engine>(a_.rules, *sink_, a_.savePorts);
    engine_->setIncidentIdStart(uint64_t(unixMicrosNow() / 1'000'000));
    // Bad input before anything is attached (a refusal after it would leave pins behind).
    if (!args_.fleet.empty()) {
      fleetUrl_ = parseFleetUrl(args_.fleet, error);
      if (!fleetUrl_) {
        logError("%s", error.c_str());
        return 2;
      }
    }
    for (const std::string& iface : args_.ifaces) {
      if (if_nametoindex(iface.c_str()) == 0) {
        logError("no such interface: %s", iface.c_str());
        return 2;
      }
    }
    for (const std::string& iface : args_.ifaces) {
      if (int rc = attach(iface)) return rc;
    }
    if (int rc = openEvents()) return rc;
    if (int rc = wireBlocking()) return rc;
    if (int rc = joinFleet()) return rc;
    dropPrivileges();
    if (int rc = startMetrics()) return rc;
    if (std::any_of(watched_.begin(), watched_.end(),
                    [](auto& w) { return w->xdp && w->xdp->adopted(); })) {
      engine_->baseline();  // the previous watch already reported what the pinned tables hold
    }
    return 0;
  }

  // XDP when it can (or as --mode says), else a live capture into an in-memory table.
  int attach(const std::string& iface) {
    auto w = std::make_unique<Watched>();
    w->iface = iface;
    w->dsts = fixedDsts_ ? *fixedDsts_ : ownAddresses(iface);
    std::string xdpError;
    if (args_.mode != "pcap") {
      w->xdp = XdpDatapath::attach(xdpOptions(iface), xdpError);
      if (!w->xdp && args_.mode != "auto") {
        logError("%s", xdpError.c_str());
        return 1;
      }
    }
    if (w->xdp) {
      w->xdp->setWatchedDestinations(w->dsts);
      describeXdp(*w);
    } else if (int rc = openCapture(*w, xdpError)) {
      return rc;
    }
    std::string shown;
    for (const Prefix& d : w->dsts) shown += " " + formatPrefix(d);
    logInfo("protected destinations on %s:%s", iface.c_str(),
            w->dsts.empty() ? " all" : shown.c_str());
    w->index = watched_.size();
    engine_->addTable(&w->source());
    watched_.push_back(std::move(w));
    return 0;
  }

  XdpOptions xdpOptions(const std::string& iface) const {
    XdpOptions opts;
    opts.iface = iface;
    opts.slots = a_.slots;
    opts.pinRoot = args_.pinRoot;
    opts.persist = args_.persist;
    opts.timing = timingFrom(a_);
    if (args_.mode == "xdp") opts.modes = {XdpMode::Native};
    if (args_.mode == "xdp-generic") opts.modes = {XdpMode::Generic};
    return opts;
  }

  static void describeXdp(const Watched& w) {
    const XdpDatapath& x = *w.xdp;
    logInfo("watching %s in %s mode (%s)%s%s", w.iface.c_str(), xdpModeName(x.mode()),
            x.viaDispatcher() ? "libxdp dispatcher" : "direct attach",
            x.fallbackReason().empty() ? "" : "; fell back after ", x.fallbackReason().c_str());
    logInfo("maps pinned under %s", x.pinDir().c_str());
    if (x.egressAttached()) {
      logInfo("TC egress attached on %s (the host's answers)", w.iface.c_str());
    } else {
      logWarning(
          "TC egress not attached on %s (%s); the slow and trw rules will not see the "
          "host's answers",
          w.iface.c_str(), x.egressError().c_str());
    }
  }

  int openCapture(Watched& w, const std::string& xdpError) {
    if (args_.mode == "auto") {
      logInfo("XDP unavailable on %s (%s); using pcap", w.iface.c_str(), xdpError.c_str());
    }
    std::string error;
    w.pcap = PcapSource::openLive(w.iface, w.dsts, error);
    if (!w.pcap) {
      logError("%s", error.c_str());
      return 1;
    }
    if (!MemoryTable::supportsLinkType(w.pcap->linkType())) {
      logError("%s: unsupported link type %d", w.iface.c_str(), w.pcap->linkType());
      return 1;
    }
    w.table = std::make_unique<MemoryTable>(w.iface, a_.slots, a_.rules, a_.savePorts);
    w.table->setWatchedDestinations(w.dsts);
    w.table->advanceTo(uint64_t(unixMicrosNow()));
    logInfo("watching %s in pcap mode", w.iface.c_str());
    return 0;
  }

  // One ring buffer manager over every XDP interface's events.
  int openEvents() {
    for (auto& w : watched_) {
      if (!w->xdp) continue;
      contexts_.push_back(std::make_unique<RingContext>(RingContext{engine_.get(), w->index}));
      int err = 0;
      if (!rb_) {
        rb_.reset(
            ring_buffer__new(w->xdp->eventsFd(), onRingEvent, contexts_.back().get(), nullptr));
        if (!rb_) err = -errno;
      } else {
        err = ring_buffer__add(rb_.get(), w->xdp->eventsFd(), onRingEvent, contexts_.back().get());
      }
      if (err < 0) {
        logError("%s: cannot read the event ring buffer: %s", w->iface.c_str(),
                 std::strerror(-err));
        return 1;
      }
    }
    return 0;
  }

  // Allowlist (never scored, never dropped) into every datapath; the blocker's safety list adds
  // loopback, this host, its gateways and DNS servers, which are scored but never blocked.
  int wireBlocking() {
    for (const std::string& text : args_.allow) allow_.push_back(*parsePrefix(text));
    if (args_.block) {
      if (!args_.blockRules.empty()) {
        args_.policy.rules = {args_.blockRules.begin(), args_.blockRules.end()};
      }
      blocker_ = std::make_unique<AutoBlocker>(args_.policy, safetyList(allow_), *sink_);
      if (args_.blockBackend != "xdp") {
        std::string error;
        nft_ = NftBlocklist::open(error);
        if (!nft_) {
          logError("%s", error.c_str());
          return 1;
        }
        logInfo("blocks go to nftables: table inet %s, sets block4 and block6%s",
                NftBlocklist::kTable,
                args_.blockBackend == "both" ? ", and the XDP blocklist" : "");
      }
    }
    for (auto& w : watched_) {
      if (w->xdp) {
        if (int rc = wireXdpBlocklist(*w)) return rc;
        continue;
      }
      if (blocker_ && nft_) {
        blocker_->setBlocklist(w->index, nft_.get(), w->table->ticksPerSecond());
      } else if (args_.block) {
        logWarning(
            "%s is in pcap mode, which cannot drop; its scanners are reported, not blocked "
            "(--block-backend nft blocks them in nftables)",
            w->iface.c_str());
      }
      w->table->setAllowlist(allow_);
    }
    if (!blocker_) return 0;
    engine_->setAlertHook([this](Alert& alert, size_t table, const pc_src_state& slot) {
      blocker_->consider(alert, table, slot);
    });
    std::string rules;
    for (const auto& x : args_.policy.rules) rules += " " + x;
    logInfo("auto-block on (rules:%s; ttl %llu s; at most %u blocks/s)", rules.c_str(),
            (unsigned long long)args_.policy.ttlS, args_.policy.maxPerSecond);
    return 0;
  }

  // --fleet: this node's blocks go to Redis, the other nodes' come back into its blocklists.
  int joinFleet() {
    if (!fleetUrl_) return 0;
    fleet_ = FleetLink::start(*fleetUrl_, fleetNodeName(args_.nodeName));
    // Footprints go out with or without --block: the fleet rule alerts either way.
    engine_->setFootprints(fleet_.get());
    if (!blocker_) {
      logWarning("fleet: without --block this node shares no blocks and enforces none");
      return 0;
    }
    blocker_->setOnBlock([this](const Prefix& p, uint64_t ttl, uint32_t offense) {
      FleetBlock b;
      b.prefix = p;
      b.createdUnixMs = unixMicrosNow() / 1000;
      b.expiresUnixMs = ttl ? b.createdUnixMs + int64_t(ttl) * 1000 : 0;
      b.node = fleet_->node();
      b.offense = offense;
      fleet_->publish(b);
    });
    return 0;
  }

  // The blocks `portcullis block --fleet` made here: the watch holds them for the fleet, so
  // they go out again when Redis comes back (the command itself has long exited).
  void holdManualFleetBlocks() {
    if (!fleet_) return;
    std::vector<uint32_t> gens;
    for (const auto& bl : blocklists_) gens.push_back(bl->generation());
    if (gens == heldGens_) return;  // no list changed: the blocklists are not read again
    heldGens_ = gens;
    std::vector<FleetBlock> held;
    std::set<std::string> seen;
    for (const auto& bl : blocklists_) {
      for (const BlockEntry& e : bl->list()) {
        if (!(e.flags & PC_BLOCK_FLEET) || e.expired) continue;
        if (!seen.insert(formatPrefix(e.prefix)).second) continue;  // one per interface
        FleetBlock b;
        b.prefix = e.prefix;
        b.createdUnixMs = e.createdUnixMicros / 1000;
        b.expiresUnixMs = e.expiresUnixMicros / 1000;
        b.node = fleet_->node();
        held.push_back(std::move(b));
      }
    }
    fleet_->setHeld(std::move(held));
  }

  void applyFleetBlocks() {
    if (!fleet_) return;
    for (const FleetBlock& b : fleet_->takeIncoming()) {
      if (blocker_) blocker_->applyRemote(b.prefix, b.expiresUnixMs * 1000, b.node, b.unblock);
    }
  }

  int wireXdpBlocklist(const Watched& w) {
    const XdpDatapath& x = *w.xdp;
    auto bl = std::make_unique<Blocklist>(x.blocklistFd(), x.blockprefixFd(), x.allowlistFd(),
                                          x.controlFd(), x.clock());
    // Without its allowlist the program could drop a host the operator vouched for.
    if (int err = bl->setAllowlist(allow_); err) {
      logError("%s: cannot install the allowlist: %s", w.iface.c_str(), std::strerror(-err));
      return 1;
    }
    if (blocker_) {
      BlockBackend* backend = bl.get();
      if (args_.blockBackend == "nft") backend = nft_.get();
      if (args_.blockBackend == "both") {
        fanouts_.push_back(
            std::make_unique<BlockFanout>(std::vector<BlockBackend*>{bl.get(), nft_.get()}));
        backend = fanouts_.back().get();
      }
      blocker_->setBlocklist(w.index, backend, x.ticksPerSecond());
    }
    logInfo(
        "%s: maps take %.1f MiB (source table %u slots of %zu B, admission tier %zu entries "
        "of %zu B, untracked-sources sketch %d registers per CPU)%s",
        w.iface.c_str(), double(x.mapMemoryBytes()) / (1 << 20), unsigned(x.slots().size()),
        sizeof(pc_src_state), x.admission().size(), sizeof(pc_admit), PC_HLL_REGS,
        x.adopted() ? "; adopted the previous watch's maps and blocks" : "");
    if (size_t n = bl->size()) logInfo("%s: %zu blocklist entries in force", w.iface.c_str(), n);
    blocklists_.push_back(std::move(bl));
    writeState(w);
    return 0;
  }

  // What `portcullis status` shows about this watch.
  void writeState(const Watched& w) const {
    std::error_code ec;
    std::filesystem::create_directories(args_.stateDir, ec);
    nlohmann::json st{{"pid", getpid()},
                      {"mode", xdpModeName(w.xdp->mode())},
                      {"attach", w.xdp->viaDispatcher() ? "libxdp dispatcher" : "direct"},
                      {"egress", w.xdp->egressAttached()},
                      {"block", args_.block},
                      {"started", formatTimestamp(unixMicrosNow())}};
    std::ofstream(stateFile(args_.stateDir, w.iface)) << st.dump() << "\n";
  }

  // Least privilege: from here on the controller only reads and writes maps through fds it
  // holds, and detaches through netlink at exit.
  void dropPrivileges() const {
    std::string capError;
    bool anyXdp =
        std::any_of(watched_.begin(), watched_.end(), [](auto& w) { return bool(w->xdp); });
    std::vector<std::string> keep;
    if ((anyXdp && !args_.persist) || nft_) {
      keep.push_back("cap_net_admin");  // to detach through netlink at exit; nftables
      // A service user reaches its pins through bpffs's root-only directory with this one
      // (deploy/portcullis.service): the clean stop unpins them.
      if (hasPermittedCapability("cap_dac_read_search")) keep.push_back("cap_dac_read_search");
    }
    if (keepOnlyCapabilities(keep, capError)) {
      logInfo("capabilities now: %s", currentCapabilities().c_str());
    } else {
      logWarning("%s", capError.c_str());
    }
  }

  int startMetrics() {
    if (args_.metrics.empty()) return 0;
    std::string error;
    metrics_ = MetricsServer::start(args_.metrics, error);
    if (!metrics_) {
      logError("%s", error.c_str());
      return 2;
    }
    logInfo("metrics on http://%s/metrics", args_.metrics.c_str());
    return 0;
  }

  void loop() {
    uint64_t lastPoll = monotonicNs(), lastAddrCheck = lastPoll, lastSweep = lastPoll;
    const uint64_t pollNs = uint64_t(a_.rules.pollMs) * 1'000'000;
    while (!gStop) {
      if (gReload.exchange(false)) reload();
      applyFleetBlocks();
      waitForInput();
      uint64_t packets = readCaptures();
      uint64_t now = monotonicNs();
      if (now - lastPoll >= pollNs) {
        poll();
        lastPoll = now;
      }
      if (now - lastSweep >= 1'000'000'000ull) {
        if (blocker_) blocker_->sweep(unixMicrosNow());
        holdManualFleetBlocks();
        writeIncidents();
        lastSweep = now;
      }
      if (!fixedDsts_ && now - lastAddrCheck >= 2'000'000'000ull) {
        followAddresses();
        lastAddrCheck = now;
      }
      if (a_.maxPackets && packets >= a_.maxPackets) break;
    }
  }

  // Events: the ring buffer (XDP) or capture fds (pcap), at most one poll interval.
  void waitForInput() {
    std::vector<pollfd> fds;
    if (rb_) fds.push_back({ring_buffer__epoll_fd(rb_.get()), POLLIN, 0});
    for (auto& w : watched_) {
      if (w->pcap) fds.push_back({w->pcap->selectableFd(), POLLIN, 0});
    }
    ::poll(fds.data(), fds.size(), int(a_.rules.pollMs));
    consumeEvents();
  }

  // Captured frames through their tables; returns the packets seen on every interface so far.
  uint64_t readCaptures() {
    uint64_t packets = 0;
    for (auto& w : watched_) {
      if (w->pcap) {
        CapturedFrame f;
        while (w->pcap->next(f) == ReadResult::Frame) {
          w->table->handleFrame(f.data, f.caplen, w->pcap->linkType(), f.tsMicros);
          for (const pc_event& e : w->table->takeEvents()) engine_->onEvent(w->index, e);
        }
      }
      packets += w->source().stats().packets;
    }
    return packets;
  }

  void poll() {
    for (auto& w : watched_) {
      if (w->table) w->table->advanceTo(uint64_t(unixMicrosNow()));
    }
    engine_->poll();
    if (metrics_)
      metrics_->publish(metricsText(*engine_, watched_, blocklists_, blocker_.get(), fleet_.get()));
  }

  // Keep the protected destinations current when they are the interfaces' own addresses, and
  // the never-block list with them (an address added to the host is the host's own too).
  void followAddresses() {
    bool changed = false;
    for (auto& w : watched_) {
      auto current = ownAddresses(w->iface);
      if (sameAddrs(current, w->dsts)) continue;
      w->dsts = current;
      changed = true;
      if (w->xdp) w->xdp->setWatchedDestinations(current);
      if (w->table) w->table->setWatchedDestinations(current);
      std::string error;
      if (w->pcap && !w->pcap->setDestinations(current, error)) logError("%s", error.c_str());
    }
    if (changed && blocker_) blocker_->setNeverBlock(safetyList(allow_));
  }

  // The open incidents, for `portcullis top` (written whole, then renamed into place), when
  // they changed: a quiet host costs no write a second.
  void writeIncidents() {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const Alert& a : engine_->openIncidentList()) {
      list.push_back({{"id", a.id},
                      {"src", a.src},
                      {"scan", a.scan},
                      {"rules", a.rules},
                      {"ports", a.ports},
                      {"dsts", a.dsts},
                      {"started", formatTimestamp(a.tsMicros)},
                      {"action", a.action},
                      {"iface", a.iface}});
    }
    std::string text = list.dump();
    if (text == incidentsWritten_) return;
    std::string path = incidentsFile(args_.stateDir), tmp = path + ".tmp";
    {
      std::ofstream out(tmp);
      if (!out) return;  // no state directory: status says so; top shows no incidents
      out << text << "\n";
    }
    std::rename(tmp.c_str(), path.c_str());
    incidentsWritten_ = text;
  }

  // SIGHUP: the config file and command line again. Rules, allowlist, block policy and output
  // files change in place; tracked sources, incidents, blocks and the programs stay. A config
  // that no longer parses is refused in one line and the running one stays in force.
  void reload() {
    WatchArgs fresh;
    std::string error;
    if (!args_.reparse || !args_.reparse(fresh, error)) {
      logError("reload refused, the running configuration stays: %s", error.c_str());
      return;
    }
    std::vector<Prefix> allow;
    for (const std::string& text : fresh.allow) allow.push_back(*parsePrefix(text));
    OutputFiles files;
    if (!openOutputs(fresh.common, files)) {  // logged which file
      logError("reload refused, the running configuration stays");
      return;
    }
    for (auto& bl : blocklists_) {
      if (int err = bl->setAllowlist(allow); err) {
        logError("reload: cannot install the allowlist: %s", std::strerror(-err));
      }
    }
    for (auto& w : watched_) {
      if (w->table) w->table->setAllowlist(allow);
    }
    allow_ = allow;
    engine_->setRules(fresh.common.rules);
    if (blocker_) {
      if (!fresh.blockRules.empty()) {
        fresh.policy.rules = {fresh.blockRules.begin(), fresh.blockRules.end()};
      }
      blocker_->setPolicy(fresh.policy);
      blocker_->setNeverBlock(safetyList(allow_));
    }
    // logrotate moved the files: the new ones take their places, the old ones close.
    sink_->setFiles(files.alerts, files.eve);
    std::swap(files_.alerts, files.alerts);
    std::swap(files_.eve, files.eve);
    std::swap(files_.log, files.log);
    std::vector<std::string> kept = needRestart(args_, fresh);
    a_.rules = fresh.common.rules;
    a_.alertsFile = fresh.common.alertsFile;
    a_.eveFile = fresh.common.eveFile;
    a_.logFile = fresh.common.logFile;
    args_.allow = fresh.allow;
    args_.policy = fresh.policy;
    args_.blockRules = fresh.blockRules;
    std::string note;
    for (const std::string& k : kept) note += (note.empty() ? "" : ", ") + k;
    logInfo("reloaded%s%s: rules, allowlist (%zu entries), block policy, output files reopened%s%s",
            a_.configFile.empty() ? "" : " ", a_.configFile.c_str(), allow_.size(),
            note.empty() ? "" : "; needs a restart, unchanged: ", note.c_str());
  }

  void consumeEvents() {
    if (!rb_) return;
    int n = ring_buffer__consume(rb_.get());
    if (n < 0 && !eventsErrorLogged_) {  // once: a broken ring would repeat every poll
      logError("cannot read the event ring buffer: %s", std::strerror(-n));
      eventsErrorLogged_ = true;
    }
  }

  void stop() {
    consumeEvents();
    engine_->poll();
    engine_->flush();
    finishRun(*engine_, files_);
    if (nft_ && !args_.persist) nft_->remove();
    if (args_.persist) {
      logInfo("--persist: leaving the programs attached and the maps pinned");
      return;
    }
    logInfo("detaching");
    for (auto& w : watched_) std::remove(stateFile(args_.stateDir, w->iface).c_str());
    std::remove(incidentsFile(args_.stateDir).c_str());
  }

  WatchArgs& args_;
  CommonArgs& a_;
  std::optional<std::vector<Prefix>> fixedDsts_;
  OutputFiles files_;
  std::unique_ptr<AlertSink> sink_;
  std::unique_ptr<Engine> engine_;
  std::vector<std::unique_ptr<Watched>> watched_;
  std::vector<std::unique_ptr<RingContext>> contexts_;
  std::unique_ptr<ring_buffer, RingBufferDeleter> rb_;
  bool eventsErrorLogged_ = false;
  std::vector<Prefix> allow_;
  std::vector<std::unique_ptr<Blocklist>> blocklists_;
  std::unique_ptr<NftBlocklist> nft_;                  ///< --block-backend nft|both
  std::vector<std::unique_ptr<BlockFanout>> fanouts_;  ///< --block-backend both, per interface
  std::unique_ptr<AutoBlocker> blocker_;
  std::optional<FleetUrl> fleetUrl_;  ///< --fleet, parsed with the other arguments
  std::vector<uint32_t> heldGens_;    ///< the lists' generations holdManualFleetBlocks last read
  std::unique_ptr<FleetLink> fleet_;  ///< --fleet; stopped before the blocker goes
  std::string incidentsWritten_;      ///< the open incidents as last written for `top`
  std::unique_ptr<MetricsServer> metrics_;
};

}  // namespace

int runWatch(WatchArgs& args) { return WatchSession(args).run(); }

}  // namespace portcullis
