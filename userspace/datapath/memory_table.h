#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "datapath/net_util.h"
#include "datapath/zeroed_array.h"
#include "portcullis/admit.h"
#include "portcullis/event.h"
#include "portcullis/update.h"
#include "detect/rules.h"
#include "datapath/source_table.h"

struct pc_env;

namespace portcullis {

/// The pcap backend's source table: the XDP program's per-packet path (portcullis/ingress.h:
/// admission tier, slots, update, events) run in userspace over the same structs. Ticks are
/// microseconds of capture time, so a replay's clock is exact; the hash seed is random per
/// run, as in the kernel, so colliding addresses cannot be picked offline.
class MemoryTable final : public SourceTable {
 public:
  MemoryTable(std::string name, uint32_t slots, const RuleConfig& rules, bool reportPorts,
              uint32_t hashSeed = 0 /* 0: random */);

  /// The host's addresses: packets to them are the sources' probes, packets from them the
  /// host's answers. Empty (a replay without --dst-ip): every packet is from a source, and the
  /// side that answers a connection (the receiver of its SYN, or of its first UDP datagram)
  /// is the host for that connection: its packets are answers, never probes.
  void setWatchedDestinations(const std::vector<Prefix>& dsts);
  /// Allowlisted prefixes: never scored.
  void setAllowlist(std::vector<Prefix> allow) {
    allow_ = std::move(allow);
    control_.nr_allow = uint32_t(allow_.size());
    control_.gen++;  // every slot re-checks its allow status on its next packet
  }

  /// One frame parsed, not yet applied (replay parses on one thread, applies on another, and
  /// hands frames over 16 bytes at a time).
  struct alignas(16) ParsedFrame {
    pc_packet packet;
    uint64_t tsMicros;
    uint64_t connection;  ///< the connection's hash (replay without --dst-ip); 0: none
    int rc;               ///< enum pc_parse_result
    bool senderLow;       ///< the sender is the connection's lower end (connectionRole)
  };

  /// One captured frame: parseFrame() then applyFrame(). `linkType` is a pcap DLT_* value;
  /// unsupported ones count as non-IP.
  void handleFrame(const uint8_t* data, size_t len, int linkType, uint64_t tsMicros) {
    ParsedFrame f;
    parseFrame(data, len, linkType, tsMicros, f);
    applyFrame(f);
  }
  /// Reads a frame into `out`. Touches no table, clock or counter, so it may run on another
  /// thread than applyFrame() (the watched destinations and the seed must not change meanwhile).
  void parseFrame(const uint8_t* data, size_t len, int linkType, uint64_t tsMicros,
                  ParsedFrame& out) const;
  /// The frame's effect, in capture order: the clock, the counters, ingress and egress.
  void applyFrame(const ParsedFrame& f);

  /// Moves the clock forward (polls between packets, the end of a capture).
  void advanceTo(uint64_t tsMicros) { now_ = std::max(now_, tsMicros); }

  /// Events written since the last call (anomalies, and first-seen ports with --save-ports).
  std::vector<pc_event> takeEvents() { return std::exchange(events_, {}); }
  /// Whether takeEvents() has any (most packets raise none: no vector changes hands for them).
  bool hasEvents() const { return !events_.empty(); }

  std::span<const pc_src_state> slots() const override { return slots_; }
  std::span<const pc_admit> admission() const override { return admit_; }
  std::span<const pc_slot_tags> occupancy() const override { return tags_; }
  void requestPromotion(size_t index) override;
  pc_stats stats() const override { return stats_; }
  pc_sketch sketch() const override { return sketch_; }
  uint64_t now() const override { return now_; }
  uint64_t ticksPerSecond() const override { return 1'000'000; }
  int64_t ticksToUnixMicros(uint64_t ticks) const override { return int64_t(ticks); }
  const pc_tuning& tuning() const override { return tuning_; }
  const std::string& name() const override { return name_; }

  /// Whether a pcap link type is one handleFrame() can read.
  static bool supportsLinkType(int linkType);

  /// The shared ingress and egress steps on an already parsed packet (tests drive these).
  void ingress(const pc_packet& p);
  void egress(const pc_packet& p);

 private:
  enum class Role { Unknown, Opener, Answerer };
  pc_env bind();
  Role connectionRole(const ParsedFrame& f);
  bool isHost(const pc_addr& a) const;

  std::string name_;
  ZeroedArray<pc_src_state> slots_;
  ZeroedArray<pc_slot_tags> tags_;
  ZeroedArray<pc_admit> admit_;
  ZeroedArray<pc_admit_tags> admitTags_;
  ZeroedArray<pc_first> first_;
  pc_sketch sketch_{};
  pc_tuning tuning_{};
  pc_control control_{};
  pc_stats stats_{};
  uint64_t now_ = 0;
  std::vector<pc_event> events_;
  std::vector<Prefix> allow_;
  std::vector<Prefix> hostAddrs_;  ///< the protected destinations (the perimeter)
  /// Replay's perimeter view: which side opened each connection, in four-way buckets by a hash
  /// of the connection (a tag with the opener's side in bit 0), fixed size whatever the capture.
  struct Connection {
    uint32_t tag;       // 0: free
    uint32_t lastSeen;  // capture time >> 10 (about milliseconds)
  };
  ZeroedArray<Connection> connections_;
};

}  // namespace portcullis
