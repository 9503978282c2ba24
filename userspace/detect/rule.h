#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "datapath/source_table.h"
#include "detect/footprint.h"
#include "detect/incident.h"
#include "detect/rule_id.h"
#include "portcullis/event.h"
#include "report/alert.h"

namespace portcullis {

/// A rule's private state for one source; each rule derives its own.
struct RuleState {
  virtual ~RuleState() = default;
};

/// What the engine knows of one source across polls. The rules' own per-source state hangs off
/// `ruleState`, one slot per rule, created by the rule on first use.
struct Track {
  size_t table = 0;
  pc_addr addr{};
  uint64_t firstSeen = 0;  ///< slot incarnation: a new first_seen means a new source
  uint64_t version = 0;    ///< packets, answers and evidence at the last evaluation
  pc_src_state last{};     ///< the slot as last read, for the summary
  pc_src_state before{};   ///< the slot at the evaluation before that
  std::array<__u64, PC_PORT_WORDS> seenPorts{};
  std::array<__u64, PC_DST_WORDS> seenDsts{};
  std::array<__u64, PC_PROTO_WORDS> seenProtos{};
  bool evaluated = false;  ///< the first evaluation also counts its admission-tier targets
  uint32_t lastRejects = 0;
  std::array<uint32_t, PC_KIND_MAX> maxScore{};
  struct Reported {
    uint64_t ports = 0;
    uint64_t lastActive = 0;  ///< ticks of the last poll that saw the scan going on
  };
  std::map<std::string, Reported> reported;  ///< by "event/rule/scan/shape"
  std::map<std::string, uint32_t> alertsByRule;
  std::set<uint16_t> ports;  ///< --save-ports
  std::array<std::unique_ptr<RuleState>, kRuleCount> ruleState;
  std::optional<Incident> incident;  ///< the scan going on, if any
  uint64_t incidentFloor = 0;        ///< ticks: the end of its previous incident's last packet
  uint64_t packetsBefore = 0;        ///< its packets when its previous incident ended
};

/// One source at one evaluation, as the rules see it.
struct SourceView {
  Track& track;
  const SourceTable& table;
  size_t slotIndex;
  const pc_src_state& slot;  ///< a consistent copy
  uint64_t now;              ///< the table's clock
  bool allowed() const { return slot.flags & PC_SRC_ALLOWED; }
};

/// What arrived since the source's previous evaluation (bits first set in its bitmaps).
struct NewEvidence {
  uint32_t ports = 0, dsts = 0, protos = 0, rejects = 0;
};

/// The engine as the rules reach it: reporting, the answers check, the other sources.
class RuleContext {
 public:
  virtual ~RuleContext() = default;
  /// Reports `a` (rule, score and anything special set): an alert joins the source's incident
  /// (incident.h), other events are written unless the same one is already reported and still
  /// going on; `quietTicks` 0 is the configured quiet time.
  virtual void raise(const SourceView& v, Alert a, uint8_t kind, uint64_t quietTicks = 0) = 0;
  /// An alert about several sources (groups), in the incident of `representative`.
  virtual void raiseFor(Track& representative, Alert a, uint8_t kind) = 0;
  /// Whether the host's answers are visible on a table (the response-aware rules need them).
  virtual bool answersVisible(size_t tableIndex) const = 0;
  virtual const SourceTable& table(size_t tableIndex) const = 0;
  /// The live track of a slot, or nullptr.
  virtual Track* track(size_t tableIndex, size_t slotIndex) = 0;
  /// The live track of the source alerts name `src` (sourceName), with its slot; or nullptr.
  virtual Track* findTrack(const std::string& src, size_t& slotIndex) = 0;
  /// The fleet's footprint exchange (--fleet), or nullptr.
  virtual FootprintExchange* footprints() = 0;
};

class Rule {
 public:
  virtual ~Rule() = default;
  virtual RuleId id() const = 0;
  /// New packets or answers from a source.
  virtual void evaluate(const SourceView&, const NewEvidence&, RuleContext&) {}
  /// A known source with nothing new this poll (a window may close on time regardless).
  virtual void idle(const SourceView&, RuleContext&) {}
  /// An event from the datapath's ring buffer for a source with a slot.
  virtual void onEvent(const SourceView&, const pc_event&, RuleContext&) {}
  /// After every poll, over all sources; `settle` at the end of input.
  virtual void afterPoll(RuleContext&, bool /*settle*/) {}
  /// End of input: close what is open for this source.
  virtual void flush(const SourceView&, RuleContext&) {}
  /// A restarted watch adopting pinned maps: the source's evidence so far is already judged.
  virtual void baseline(const SourceView&) {}

 protected:
  /// This rule's state for the source, created on first use.
  template <typename State>
  State& stateOf(Track& t) const {
    std::unique_ptr<RuleState>& s = t.ruleState[size_t(id())];
    if (!s) s = std::make_unique<State>();
    return static_cast<State&>(*s);
  }
};

}  // namespace portcullis
