#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "report/alert.h"
#include "portcullis/event.h"
#include "detect/rules.h"
#include "datapath/source_table.h"

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

  /// Reads every table and applies the rules; forgets idle sources.
  void poll();

  /// End of input (a capture's end, a stop): closes open slow-scan windows and settles groups.
  void flush();

  /// Takes the tables' current contents as already judged (a restarted watch adopting pinned
  /// maps): only evidence that arrives from now on raises alerts.
  void baseline();

  /// Per-source report: text lines (or JSON lines with --json) through the sink.
  void writeSummary();
  /// The same report as one JSON document (--log-file).
  std::string summaryJson() const;

  size_t trackedSources() const;

  /// Whether the host's answers are visible on table `tableIndex` (egress attached, both
  /// directions captured). While they are not, the slow and trw rules stand down.
  bool answersVisible(size_t tableIndex) const;

  /// Called with every alert before it is written (the auto-blocker sets its action).
  using AlertHook = std::function<void(Alert&, size_t tableIndex, const pc_src_state&)>;
  void setAlertHook(AlertHook hook) { hook_ = std::move(hook); }

  /// Alerts written so far, per rule (for the metrics endpoint).
  const std::map<std::string, uint64_t>& alertsByRule() const { return alertCounts_; }

 private:
  struct Reported {
    uint64_t ports = 0;
    uint64_t lastActive = 0;  ///< ticks of the last poll that saw the scan going on
  };

  /// Cumulative counters at the start of the current slow-scan window.
  /// Seed 002's counters count distinct targets (SYN targets, new half-open connections,
  /// FIN-probe targets), so retransmissions and floods to one port count once.
  struct SlowBase {
    uint32_t synTargets = 0, synackNew = 0, acked = 0, finTargets = 0;
    static SlowBase of(const pc_src_state& s) {
      return {s.syn_targets, s.synack_new, s.acked, s.fin_targets};
    }
    bool operator==(const SlowBase&) const = default;
  };

  /// Distinct items first seen over time, summed over a sliding window.
  struct Recent {
    // A vector, not a deque: an empty deque allocates, and a flood creates many tracks.
    std::vector<std::pair<uint64_t, uint32_t>> entries;  ///< (ticks, new items), oldest first
    void add(uint64_t now, uint32_t n) {
      if (n) entries.emplace_back(now, n);
    }
    uint64_t sum(uint64_t now, uint64_t span);
  };

  struct Track {
    size_t table = 0;
    pc_addr addr{};
    uint64_t firstSeen = 0;  ///< slot incarnation: a new first_seen means a new source
    uint64_t version = 0;    ///< packets and answers at the last evaluation
    pc_src_state last{};     ///< the slot as last read, for the summary
    pc_src_state before{};   ///< the slot at the evaluation before that
    std::array<__u64, PC_PORT_WORDS> seenPorts{};
    std::array<__u64, PC_DST_WORDS> seenDsts{};
    std::array<__u64, PC_PROTO_WORDS> seenProtos{};
    bool evaluated = false;  ///< the first evaluation also counts its admission-tier targets
    Recent ratePorts, shapePorts, shapeDsts, rejects;
    uint32_t lastRejects = 0;
    // slow
    uint64_t slowStart = 0;
    SlowBase slowBase;
    uint64_t slowWindow = 0;      ///< index of the current window
    int64_t suspiciousUntil = -1; ///< last window index the source stays listed
    // trw
    double trwLog = 0;
    uint32_t trwSuccesses = 0, trwFailures = 0;
    std::array<uint32_t, PC_KIND_MAX> maxScore{};
    std::map<std::string, Reported> reported;  ///< by "rule/scan/…"
    std::map<std::string, uint32_t> alertsByRule;
    std::set<uint16_t> ports;                  ///< --save-ports
  };

  Track& trackFor(size_t table, size_t index, const pc_src_state& slot);
  void evaluate(Track& track, const SourceTable& table, const pc_src_state& slot);
  void evaluateSlow(Track& track, const SourceTable& table, const pc_src_state& slot,
                    uint64_t now, bool force);
  void evaluateTrw(Track& track, const SourceTable& table, const pc_src_state& slot,
                   uint64_t now);
  void evaluateShape(Track& track, const SourceTable& table, const pc_src_state& slot,
                     uint64_t now);
  void detectGroups(bool settleNow);
  void judgeAnswers(size_t tableIndex, const pc_stats& st);
  void reportStuck(size_t tableIndex, const pc_stats& st);
  void takePendingPorts(Track& track);
  void flushTrack(Track& track, size_t slotIndex);
  /// Reports `a` (rule, score and anything special set by the caller) unless the same rule and
  /// scan is already reported for this source and still going on.
  void raise(Track& track, const SourceTable& table, const pc_src_state& slot, Alert a,
             uint8_t kind, uint64_t now, uint64_t quietTicks = 0);
  void fillCommon(Alert& a, const SourceTable& table, const pc_src_state& slot, uint8_t kind,
                  uint64_t now, const pc_src_state* before = nullptr) const;
  void retire(const Track& track);

  void write(Alert& a, size_t tableIndex, const pc_src_state& slot);

  RuleConfig rules_;
  AlertSink& sink_;
  AlertHook hook_;
  std::map<std::string, uint64_t> alertCounts_;
  bool savePorts_;
  std::vector<const SourceTable*> tables_;
  /// tracks_[table][slot]: a track follows one slot, and a new address or first_seen in it
  /// starts a new track. Indexed, not hashed: a poll visits every slot.
  std::vector<std::vector<std::unique_ptr<Track>>> tracks_;
  /// Tracks that probed at least groupMinPorts ports, by (table, slot), with their last
  /// activity: the only ones group detection needs to compare.
  std::map<std::pair<size_t, size_t>, uint64_t> groupCandidates_;
  std::vector<Track> retired_;  ///< forgotten sources, kept (bounded) for the summary
  /// Per table: answers seen against SYNs (judged per period of answersMinSyns SYNs), and the
  /// refused promotions already looked at for stuck sources.
  struct TableWatch {
    uint64_t syns = 0, answers = 0;  ///< at the start of the current period
    uint64_t refusedSeen = 0;        ///< promotions refused, as of the last stuck-entry scan
    bool visible = true;
    bool said = false;
  };
  std::vector<TableWatch> tableWatch_;
  /// Admission entries already reported as stuck (by table and index, with the key).
  std::map<std::pair<size_t, size_t>, pc_addr> stuckReported_;
  /// --save-ports: ports probed by sources still in the admission tier (bounded).
  std::unordered_map<std::string, std::set<uint16_t>> pendingPorts_;
  std::vector<pc_src_state> copy_;  ///< the poll's consistent copy of one slot
  struct GroupSeen {
    size_t table;   ///< whose clock `ticks` is on
    uint64_t ticks;
  };
  std::map<std::string, GroupSeen> pendingGroups_;   ///< group key -> first seen
  std::map<std::string, GroupSeen> reportedGroups_;  ///< group key -> last active
};

/// The alert's `scan` name for a kind, with the source's state to tell connect from syn;
/// `before` (the slot at the previous poll, optional) lets the latest moves decide, so a
/// source that mixes scans is named for the one going on.
std::string scanName(uint8_t kind, const pc_src_state& slot, std::string* detail,
                     const pc_src_state* before = nullptr);

/// vertical (one host), horizontal (one or two ports over many hosts) or block (both).
std::string shapeOf(uint64_t ports, uint64_t dsts);

/// "syn", "ack", … as used in counters and summaries.
const char* kindName(uint8_t kind);

/// Applies a --profile preset to the rules, leaving alone the names in `explicitlySet`
/// (long option names given on the command line or in the config file). False: unknown name.
bool applyProfile(const std::string& profile, RuleConfig& rules,
                  const std::set<std::string>& explicitlySet);

}  // namespace portcullis
