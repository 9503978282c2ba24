#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "datapath/xdp_datapath.h"
#include "detect/rules.h"
#include "report/alert.h"
#include "respond/blocker.h"

namespace portcullis {

class Engine;

/// Options common to watch and replay: outputs and the rules' numbers.
struct CommonArgs {
  RuleConfig rules;
  bool json = false;
  std::string alertsFile;
  std::string logFile;
  std::string eveFile;
  bool syslog = false;
  std::string syslogFacility = "daemon";
  std::string syslogTag = "portcullis";
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
  std::string blockBackend = "xdp";  ///< xdp, nft or both
  BlockPolicy policy;
  std::vector<std::string> blockRules;
  std::vector<std::string> allow;
  bool persist = false;
  std::string metrics;
  std::string fleet;     ///< redis://… (empty: this host alone)
  std::string nodeName;  ///< this node in the fleet (default: the host name)
  /// Parses the watch's own command line (and config file) again, for SIGHUP; false with a
  /// one-line reason when it no longer parses.
  std::function<bool(WatchArgs& fresh, std::string& error)> reparse;
};

struct ReplayArgs {
  CommonArgs common;
  std::string file;
};

/// --dst-ip: explicit addresses and CIDR prefixes (a gateway protects the networks behind it),
/// "all" (an empty list), or nullopt for the interfaces' own addresses. A bad one sets `error`.
std::optional<std::vector<Prefix>> explicitDestinations(const CommonArgs& a, std::string& error);

/// The datapath's per-run constants from the options.
DatapathTiming timingFrom(const CommonArgs& a);

/// --alerts, --eve and --log-file, opened at start so a bad path fails before any work.
struct OutputFiles {
  FILE* alerts = nullptr;
  FILE* eve = nullptr;
  FILE* log = nullptr;
  OutputFiles() = default;
  OutputFiles(const OutputFiles&) = delete;
  OutputFiles& operator=(const OutputFiles&) = delete;
  ~OutputFiles() { close(); }
  void close();
};

/// Opens the files; false after logging why.
bool openOutputs(const CommonArgs& a, OutputFiles& files);

/// The sink of a run: stdout, the files, and syslog when asked for.
std::unique_ptr<AlertSink> makeSink(const CommonArgs& a, const OutputFiles& files);

/// End of a run: the summary through the sink, and the --log-file report.
void finishRun(Engine& engine, const OutputFiles& files);

int runWatch(WatchArgs& args);
int runReplay(ReplayArgs& args);

}  // namespace portcullis
