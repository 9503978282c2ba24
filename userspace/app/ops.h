#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "datapath/kernel_clock.h"
#include "respond/blocklist.h"

namespace portcullis {

/// Operations on a watch's pinned maps: they work whether the watch runs or not (its maps stay
/// pinned), and change what the kernel enforces at once.
struct OpsArgs {
  std::string pinRoot = "/sys/fs/bpf/portcullis";
  std::string stateDir = "/run/portcullis";
  std::string iface;   ///< empty: every interface with pins
  std::string prefix;  ///< block / unblock
  uint64_t ttl = 600;  ///< block; 0: permanent
  bool force = false;  ///< block an address the safety list protects
  bool json = false;
  std::string fleet;     ///< block / unblock: also for the fleet at this redis:// URL
  std::string nodeName;  ///< … as this node (default: the host name)
};

/// The pins of this namespace's watches, and the kernel clock for their expiries.
struct PinnedView {
  std::vector<std::unique_ptr<PinnedMaps>> maps;
  KernelClock clock;
};
/// Opens them as `status` does; one line and false on failure.
bool openPinnedView(const OpsArgs& args, PinnedView& out);

/// What `status --json` says of one interface, with its `topSources` highest scores.
nlohmann::ordered_json describeWatch(const OpsArgs& args, const PinnedMaps& m,
                                     const KernelClock& clock, size_t topSources);

/// Where a running watch lists its open incidents for `top` (rewritten every second).
std::string incidentsFile(const std::string& stateDir);

int runBlock(const OpsArgs& args);
int runUnblock(const OpsArgs& args);
int runBlocklist(const OpsArgs& args);
int runStatus(const OpsArgs& args);
/// A live view in the terminal (`portcullis top`): refreshes every `intervalMs`, q quits.
int runTop(const OpsArgs& args, uint32_t intervalMs);

/// Where `watch` records its mode per interface for `status` (removed on a clean stop).
std::string stateFile(const std::string& stateDir, const std::string& iface);

}  // namespace portcullis
