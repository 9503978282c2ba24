#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "detect/rule_id.h"
#include "report/alert.h"
#include "respond/blocklist.h"
#include "datapath/net_util.h"
#include "portcullis/source.h"

namespace portcullis {

/// What `watch --block` may block, and for how long.
struct BlockPolicy {
  /// Every rule but anomaly: one forged packet with illegal flags must not block its source.
  std::set<std::string> rules = [] {
    std::set<std::string> all = allRuleNames();
    all.erase(ruleName(RuleId::Anomaly));
    return all;
  }();
  uint64_t ttlS = 600;          ///< first block
  uint64_t maxTtlS = 86400;     ///< repeat offenders double up to this
  uint32_t permanentAfter = 0;  ///< blocks before a permanent one (0: never)
  uint32_t maxPerSecond = 10;   ///< new blocks per second, whatever happens
  uint64_t persistMs = 2000;    ///< "repeated evidence over time": probes spanning this long
};

/// Addresses no rule may ever block: loopback, the host's own addresses, its default gateways
/// and DNS servers, and the operator's --allow entries.
std::vector<Prefix> safetyList(const std::vector<Prefix>& configured);

/// Default gateways from files in /proc/net/route and /proc/net/ipv6_route format.
std::vector<Prefix> defaultGateways(const std::string& routeV4, const std::string& routeV6);

/// Turns alerts into blocks under a policy that a spoofer cannot trigger cheaply: the alert's
/// rule must be a blocking rule, and the source must have reacted to the host's answers
/// (completed or reset a handshake the host offered) or kept probing for persistMs. A tool tag
/// is never evidence. Every block and unblock is an event.
class AutoBlocker {
 public:
  AutoBlocker(BlockPolicy policy, std::vector<Prefix> neverBlock, AlertSink& sink);

  /// The blocklist of table `tableIndex` (an XDP datapath); tables without one never block.
  void setBlocklist(size_t tableIndex, BlockBackend* blocklist, uint64_t ticksPerSecond);

  /// Called for every look at an open incident (its alert, its updates, and the evaluations
  /// with no news) before anything is written; sets a.action = "blocked" when it blocks.
  void consider(Alert& a, size_t tableIndex, const pc_src_state& slot);

  /// Called after each block this blocker makes (the fleet shares it): the prefix, its TTL in
  /// seconds (0: permanent) and the offense count.
  using BlockHook = std::function<void(const Prefix&, uint64_t ttlSeconds, uint32_t offense)>;
  void setOnBlock(BlockHook hook) { onBlock_ = std::move(hook); }

  /// A block (or unblock) another node of the fleet made: into every blocklist, with the time
  /// it has left, unless this node protects the address (its safety list always wins). Each
  /// is a `block` or `unblock` event with rule `fleet`.
  void applyRemote(const Prefix& prefix, int64_t expiresUnixMicros, const std::string& node,
                   bool unblock);

  /// Once a second or so: "unblock" events for blocks that expired.
  void sweep(int64_t nowUnixMicros);

  /// A reloaded policy (SIGHUP): blocks in force keep their expiry.
  void setPolicy(BlockPolicy policy) { policy_ = std::move(policy); }

  /// Replaces the addresses no rule may block (the watch refreshes them as the host's change).
  void setNeverBlock(std::vector<Prefix> neverBlock) { neverBlock_ = std::move(neverBlock); }

  uint64_t blocksTotal() const { return blocksTotal_; }
  bool protects(const pc_addr& a) const;

 private:
  BlockPolicy policy_;
  std::vector<Prefix> neverBlock_;
  AlertSink& sink_;
  std::map<size_t, std::pair<BlockBackend*, uint64_t>> blocklists_;
  std::map<std::string, uint32_t> offenses_;  ///< by address, for repeat offenders
  /// By address, for sources blocked here: their probes at the first look after the block
  /// ended (nullopt until then).
  std::map<std::string, std::optional<uint64_t>> probesAfterBlock_;
  int64_t bucketSecond_ = 0;
  uint32_t bucketUsed_ = 0;
  uint64_t blocksTotal_ = 0;
  std::map<std::string, int64_t> active_;  ///< blocks made here: address -> expiry (0: never)
  BlockHook onBlock_;
  std::set<std::string> refusedRemote_;  ///< protected prefixes other nodes asked for (said once)
};

}  // namespace portcullis
