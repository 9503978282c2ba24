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
#include "detect/rule.h"
#include "detect/rules.h"
#include "datapath/source_table.h"

namespace portcullis {

/// Keeps a track per source, reads the tables on every poll, hands each source's new evidence to
/// the rules (detect/rules/), dedupes their alerts and passes them on to the blocker and the
/// sink. Knows nothing of BPF or pcap: tables and events come in through SourceTable and
/// onEvent(); nothing of any one rule: they come from detect/rules/registry.cpp.
class Engine final : private RuleContext {
 public:
  Engine(const RuleConfig& rules, AlertSink& sink, bool savePorts);
  ~Engine() override;

  /// New numbers for the rules (SIGHUP): tracks, incidents and the rules' state stay; the rule
  /// set is remade only when the rules in force change.
  void setRules(const RuleConfig& rules);

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
  bool answersVisible(size_t tableIndex) const override;

  /// Called with every alert before it is written (the auto-blocker sets its action).
  using AlertHook = std::function<void(Alert&, size_t tableIndex, const pc_src_state&)>;
  void setAlertHook(AlertHook hook) { hook_ = std::move(hook); }

  /// A watch numbers its incidents from its start time, unique across restarts; a replay
  /// keeps the default and numbers from 1.
  void setIncidentIdStart(uint64_t unixSeconds) { ids_ = IncidentIds(unixSeconds); }

  size_t openIncidents() const { return open_.size(); }
  /// Each open incident as its latest event says it (id, rules, scan, ports, action), with
  /// `tsMicros` its start.
  std::vector<Alert> openIncidentList() const;

  /// --fleet: footprints of sources with evidence go out, the fleet's sightings come in (the
  /// fleet rule). `exchange` must outlive the engine or be reset to nullptr first.
  void setFootprints(FootprintExchange* exchange) { footprints_ = exchange; }

  /// Incidents in which each rule fired, so far (for the metrics endpoint).
  const std::map<std::string, uint64_t>& alertsByRule() const { return alertCounts_; }

 private:
  /// What the summary keeps of a forgotten source.
  struct Retired {
    size_t table = 0;
    pc_src_state last{};
    std::array<uint32_t, PC_KIND_MAX> maxScore{};
    std::map<std::string, uint32_t> alertsByRule;
    std::set<uint16_t> ports;
  };

  // RuleContext
  void raise(const SourceView& v, Alert a, uint8_t kind, uint64_t quietTicks) override;
  void raiseFor(Track& representative, Alert a, uint8_t kind) override;
  const SourceTable& table(size_t tableIndex) const override { return *tables_[tableIndex]; }
  Track* track(size_t tableIndex, size_t slotIndex) override {
    return tracks_[tableIndex][slotIndex].get();
  }
  Track* findTrack(const std::string& src, size_t& slotIndex) override;
  FootprintExchange* footprints() override { return footprints_; }

  Track& trackFor(size_t table, size_t index, const pc_src_state& slot);
  void pollSlot(size_t table, size_t index, const pc_src_state& live, uint64_t now,
                int64_t idleTicks);
  void evaluate(Track& track, size_t slotIndex, const pc_src_state& slot);
  NewEvidence takeNewEvidence(Track& track, const pc_src_state& slot);
  void judgeAnswers(size_t tableIndex, const pc_stats& st);
  void reportStuck(size_t tableIndex, const pc_stats& st);
  void takePendingPorts(Track& track);
  void fillCommon(Alert& a, const SourceTable& table, const pc_src_state& slot, uint8_t kind,
                  uint64_t now, const pc_src_state* before = nullptr) const;
  void retire(const Track& track);
  /// Forgotten sources, then the live ones, as the summary reports them.
  std::vector<Retired> everySource() const;
  void write(Alert& a, size_t tableIndex, const pc_src_state& slot);

  /// An alert raised at this poll, held until the source's rules have all had their say.
  struct Raised {
    Track* track;
    Alert alert;
    uint64_t now;         ///< the table's clock when raised
    uint64_t quietTicks;  ///< silence that ends its incident
    bool countOnTrack;    ///< the group rule counts its members' alerts itself
  };
  /// Silence that ends an incident on `table`'s clock.
  uint64_t incidentQuietTicks(const SourceTable& table) const;
  /// Turns the alerts raised since the last call into incident events (incident.h).
  void settle();
  /// A source's alerts of one poll as one event, with the rules that fired.
  struct Merged {
    Alert alert;
    std::vector<std::string> fired;
    uint64_t now, quiet;
  };
  static Merged merge(const Track& track, const std::vector<const Raised*>& raised);
  std::vector<std::string> join(Track& track, Merged& m, bool& news);
  void settleTrack(Track& track, const std::vector<const Raised*>& raised);
  void endIncident(Track& track, uint64_t now);
  void reconsider(Track& track);
  /// Ends the incidents quiet for their quiet time (every one with `all`).
  void endQuietIncidents(bool all);
  /// Drops a slot's track: its incident ends, the summary keeps what it needs.
  void forget(std::unique_ptr<Track>& track);

  RuleConfig rules_;
  std::vector<std::unique_ptr<Rule>> ruleSet_;  ///< the rules in force; they read rules_
  AlertSink& sink_;
  AlertHook hook_;
  FootprintExchange* footprints_ = nullptr;
  std::map<std::string, uint64_t> alertCounts_;
  bool savePorts_;
  std::vector<const SourceTable*> tables_;
  /// tracks_[table][slot]: a track follows one slot, and a new address or first_seen in it
  /// starts a new track. Indexed, not hashed: a poll visits every slot.
  std::vector<std::vector<std::unique_ptr<Track>>> tracks_;
  std::vector<Retired> retired_;  ///< forgotten sources, kept (bounded) for the summary
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
  std::vector<Raised> raised_;
  IncidentIds ids_;
  std::map<uint64_t, Track*> open_;  ///< open incidents by id
  /// --save-ports: ports probed by sources still in the admission tier (bounded).
  std::unordered_map<std::string, std::set<uint16_t>> pendingPorts_;
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

}  // namespace portcullis
