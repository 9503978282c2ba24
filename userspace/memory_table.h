#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "net_util.h"
#include "portcullis/event.h"
#include "portcullis/update.h"
#include "rules.h"
#include "source_table.h"

namespace portcullis {

/// The pcap backend's source table: the XDP program's logic (parser, slot choice, per-source
/// update, events) run in userspace over the same structs. Ticks are microseconds of capture
/// time, so a replay is exact and repeatable.
class MemoryTable final : public SourceTable {
 public:
  MemoryTable(std::string name, uint32_t slots, const RuleConfig& rules, bool reportPorts);

  /// The host's addresses: packets to them are the sources' probes, packets from them the
  /// host's answers. Empty (a replay without --dst-ip): every packet is both, a probe from its
  /// source and an answer to its destination, which is what a capture taken on the host holds.
  void setWatchedDestinations(const std::vector<pc_addr>& dsts);
  /// Allowlisted prefixes: never scored.
  void setAllowlist(std::vector<Prefix> allow) { allow_ = std::move(allow); }

  /// One captured frame. `linkType` is a pcap DLT_* value; unsupported ones count as non-IP.
  void handleFrame(const uint8_t* data, size_t len, int linkType, uint64_t tsMicros);

  /// Moves the clock forward (polls between packets, the end of a capture).
  void advanceTo(uint64_t tsMicros) { now_ = std::max(now_, tsMicros); }

  /// Events written since the last call (anomalies, and first-seen ports with --save-ports).
  std::vector<pc_event> takeEvents() { return std::exchange(events_, {}); }

  std::span<const pc_src_state> slots() const override { return slots_; }
  pc_stats stats() const override { return stats_; }
  uint64_t now() const override { return now_; }
  uint64_t ticksPerSecond() const override { return 1'000'000; }
  int64_t ticksToUnixMicros(uint64_t ticks) const override { return int64_t(ticks); }
  const pc_src_state* find(const pc_addr& src) const override {
    return findSlot(slots_, tuning_, src);
  }
  const std::string& name() const override { return name_; }

  /// Whether a pcap link type is one handleFrame() can read.
  static bool supportsLinkType(int linkType);

 private:
  bool allowed(const pc_addr& src) const;
  bool isHost(const pc_addr& a) const;
  bool sendersOwnFlow(const pc_packet& p) const;
  void ingress(const pc_packet& p);
  pc_src_state* findMutable(const pc_addr& a);
  void emit(const pc_packet& p, uint8_t type, uint8_t kind);

  std::string name_;
  std::vector<pc_src_state> slots_;
  pc_tuning tuning_{};
  pc_control control_{};
  pc_stats stats_{};
  uint64_t now_ = 0;
  std::vector<pc_event> events_;
  std::vector<Prefix> allow_;
  std::vector<pc_addr> hostAddrs_;
};

}  // namespace portcullis
