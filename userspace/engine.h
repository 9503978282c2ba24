#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "alert.h"
#include "portcullis/event.h"
#include "rules.h"
#include "source_table.h"

namespace portcullis {

/// Applies the rules to the evidence in one or more source tables and reports alerts. Knows
/// nothing of BPF or pcap: tables and events come in through SourceTable and onEvent().
class Engine {
 public:
  Engine(const RuleConfig& rules, AlertSink& sink, bool savePorts);

  /// Tables are numbered in the order they are added.
  void addTable(const SourceTable* table);

  /// A ring-buffer (or in-memory) event from table `tableIndex`: anomalies alert at once.
  void onEvent(size_t tableIndex, const pc_event& event);

  /// Reads every table and applies the score and rate rules; forgets idle sources.
  void poll();

  /// Per-source report: text lines (or JSON lines with --json) through the sink.
  void writeSummary();
  /// The same report as one JSON document (--log-file).
  std::string summaryJson() const;

  size_t trackedSources() const { return tracks_.size(); }

 private:
  struct Reported {
    uint64_t ports = 0;
    uint64_t lastActive = 0;  ///< ticks of the last poll that saw the scan going on
  };

  struct Track {
    size_t table = 0;
    pc_addr addr{};
    uint64_t firstSeen = 0;  ///< slot incarnation: a new first_seen means a new source
    uint32_t lastPackets = 0;
    pc_src_state last{};     ///< the slot as last read, for the summary
    std::array<__u64, PC_PORT_WORDS> seenPorts{};
    std::deque<std::pair<uint64_t, uint32_t>> newPorts;  ///< (ticks, ports first seen then)
    std::array<uint16_t, PC_KIND_MAX> maxScore{};
    std::map<std::string, Reported> reported;            ///< by "rule/scan"
    std::map<std::string, uint32_t> alertsByRule;
    std::set<uint16_t> ports;                            ///< --save-ports
  };

  // A track follows one slot; a new address or first_seen in it starts a new track.
  struct Key {
    size_t table;
    size_t slot;
    bool operator==(const Key& o) const { return table == o.table && slot == o.slot; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return std::hash<size_t>()(k.slot * 64 + k.table); }
  };

  Track& trackFor(size_t table, size_t index, const pc_src_state& slot);
  void evaluate(Track& track, const SourceTable& table, const pc_src_state& slot);
  void raise(Track& track, const SourceTable& table, const pc_src_state& slot,
             const std::string& rule, uint8_t kind, uint64_t score, uint64_t now);
  void retire(const Track& track);

  RuleConfig rules_;
  AlertSink& sink_;
  bool savePorts_;
  std::vector<const SourceTable*> tables_;
  std::unordered_map<Key, Track, KeyHash> tracks_;
  std::vector<Track> retired_;  ///< forgotten sources, kept (bounded) for the summary
};

/// The alert's `scan` name for a kind, with the source's state to tell connect from syn.
std::string scanName(uint8_t kind, const pc_src_state& slot, std::string* detail);

/// vertical (one host), horizontal (one or two ports over many hosts) or block (both).
std::string shapeOf(uint64_t ports, uint64_t dsts);

/// "syn", "ack", … as used in counters and summaries.
const char* kindName(uint8_t kind);

}  // namespace portcullis
