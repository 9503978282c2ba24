#pragma once

#include <string>

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
};

int runBlock(const OpsArgs& args);
int runUnblock(const OpsArgs& args);
int runBlocklist(const OpsArgs& args);
int runStatus(const OpsArgs& args);

/// Where `watch` records its mode per interface for `status` (removed on a clean stop).
std::string stateFile(const std::string& stateDir, const std::string& iface);

}  // namespace portcullis
