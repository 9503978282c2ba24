#include "cli.h"

#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "estimate.h"
#include "net_util.h"
#include "xdp_datapath.h"

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

const char* kKindNames[PC_KIND_MAX] = {"syn",    "ack",    "null",   "fin",
                                       "xmas",   "maimon", "synfin", "synrst",
                                       "other",  "synack", "rst",    "established",
                                       "udp",    "icmp",   "icmp-other", "fragment"};

void printSources(const SourceTable& table) {
  for (const pc_src_state& s : table.slots()) {
    if (!(s.flags & PC_SRC_USED)) continue;
    std::printf("%-39s pkts=%u", formatAddr(s.key).c_str(), s.packets);
    for (int k = 0; k < PC_KIND_MAX; ++k) {
      if (s.count[k]) std::printf(" %s=%u", kKindNames[k], s.count[k]);
    }
    std::printf(" ports~%llu dsts~%llu\n", (unsigned long long)linearCount(s.ports),
                (unsigned long long)linearCount(s.dsts));
  }
  std::fflush(stdout);
}

struct WatchArgs {
  std::vector<std::string> ifaces{"lo"};
  std::string mode = "auto";
  bool verbose = false;
};

int runWatch(const WatchArgs& args) {
  setBpfLogging(args.verbose);
  std::vector<std::unique_ptr<XdpDatapath>> datapaths;
  for (const std::string& iface : args.ifaces) {
    XdpOptions opts;
    opts.iface = iface;
    if (args.mode == "xdp") opts.modes = {XdpMode::Native};
    if (args.mode == "xdp-generic") opts.modes = {XdpMode::Generic};
    std::string error;
    auto dp = XdpDatapath::attach(opts, error);
    if (!dp) {
      std::fprintf(stderr, "portcullis: %s\n", error.c_str());
      return 1;
    }
    std::printf("portcullis: watching %s in %s mode (%s)%s%s\n", iface.c_str(),
                xdpModeName(dp->mode()), dp->viaDispatcher() ? "libxdp dispatcher" : "direct attach",
                dp->fallbackReason().empty() ? "" : "; fell back after ",
                dp->fallbackReason().c_str());
    std::printf("portcullis: maps pinned under %s\n", dp->pinDir().c_str());
    std::fflush(stdout);
    datapaths.push_back(std::move(dp));
  }
  installSignalHandlers();
  while (!gStop) {
    for (int i = 0; i < 10 && !gStop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (const auto& dp : datapaths) printSources(*dp);
  }
  std::printf("portcullis: detaching\n");
  return 0;
}

}  // namespace

int runCli(int argc, char** argv) {
  CLI::App app{"portcullis: port-scan detection and blocking in XDP"};
  app.require_subcommand(1);
  WatchArgs watch;
  CLI::App* watchCmd = app.add_subcommand("watch", "attach to interfaces and report scans");
  watchCmd->add_option("-i,--interface", watch.ifaces, "interface to watch (repeatable)")
      ->capture_default_str();
  watchCmd->add_option("--mode", watch.mode, "datapath: auto, xdp, xdp-generic or pcap")
      ->check(CLI::IsMember({"auto", "xdp", "xdp-generic", "pcap"}))
      ->capture_default_str();
  watchCmd->add_flag("-v,--verbose", watch.verbose, "verbose output, with libbpf's messages");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "portcullis: %s\n", e.what());
    return 2;
  }
  if (watchCmd->parsed()) return runWatch(watch);
  return 2;
}

}  // namespace portcullis
