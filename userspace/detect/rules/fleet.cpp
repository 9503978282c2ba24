// fleet (DESIGN.md, "Fleet"): a source that probes a few targets on each of many hosts, too few
// for any one node, crosses the shape thresholds over the whole fleet. Each node shares the
// footprint (destination and port bits) of its sources with evidence, and the node whose
// footprint makes the fleet's union cross the thresholds, at two nodes or more, alerts once.
// Without --fleet (no exchange) the rule does nothing.
#include <algorithm>
#include <array>
#include <bit>
#include <string>

#include "detect/evidence.h"
#include "detect/footprint.h"
#include "detect/rules/registry.h"

namespace portcullis {
namespace {

struct FleetState : RuleState {
  std::array<__u64, PC_DST_WORDS> sharedDsts{};
  std::array<__u64, PC_PORT_WORDS> sharedPorts{};
  uint64_t lastShare = 0;  ///< ticks
  bool pending = false;    ///< bits not shared yet (held back by the once-a-second limit)
};

// Evidence worth sharing, as DESIGN.md puts it: probes the host rejected or left unanswered
// (closed ports, SYN-ACKs the source reset, FIN-type probes), or a scan its rules flagged.
// Clients that complete their connections share nothing, and a spoofed flood's sources never
// hold a slot: the fleet's load follows scanners, not packets.
bool worthSharing(const SourceView& v, RuleContext& ctx) {
  const pc_src_state& s = v.slot;
  if (v.track.incident || closedAnswers(s) || s.reset_after_synack || s.fin_targets) return true;
  uint32_t answered = s.synack_new + s.rst_out + s.unreach_out;
  return ctx.answersVisible(v.track.table) && s.syn_targets > answered + 1;
}

// The bits set in `now` and not in `shared` (which takes them), as bit numbers.
template <size_t N>
std::vector<uint16_t> takeNewBits(const __u64 (&now)[N], std::array<__u64, N>& shared) {
  std::vector<uint16_t> bits;
  for (size_t w = 0; w < N; ++w) {
    for (__u64 fresh = now[w] & ~shared[w]; fresh; fresh &= fresh - 1) {
      bits.push_back(uint16_t(w * 64 + size_t(std::countr_zero(fresh))));
    }
    shared[w] |= now[w];
  }
  return bits;
}

class FleetRule final : public Rule {
 public:
  explicit FleetRule(const RuleConfig& config) : config_(config) {}
  RuleId id() const override { return RuleId::Fleet; }

  void evaluate(const SourceView& v, const NewEvidence&, RuleContext& ctx) override {
    if (!ctx.footprints() || v.allowed()) return;
    FleetState& s = stateOf<FleetState>(v.track);
    s.pending = true;
    share(v, s, ctx);
  }

  void idle(const SourceView& v, RuleContext& ctx) override {
    auto& state = v.track.ruleState[size_t(id())];
    if (!state || !ctx.footprints()) return;
    auto& s = static_cast<FleetState&>(*state);
    if (s.pending) share(v, s, ctx);
  }

  void afterPoll(RuleContext& ctx, bool) override {
    FootprintExchange* fleet = ctx.footprints();
    if (!fleet) return;
    for (FleetSighting& seen : fleet->takeSightings()) {
      size_t slotIndex = 0;
      Track* track = ctx.findTrack(seen.src, slotIndex);
      if (!track) continue;  // forgotten since its footprint went out
      const SourceTable& table = ctx.table(track->table);
      SourceView v{*track, table, slotIndex, track->last, table.now()};
      if (v.allowed()) continue;
      Alert a;
      a.rule = ruleName(id());
      a.dsts = seen.hosts;
      a.ports = seen.ports;
      a.score = std::max(seen.hosts, seen.ports);
      a.nodes = std::move(seen.nodes);
      a.detail = "fleet-wide: " + std::to_string(seen.hosts) + " hosts, " +
                 std::to_string(seen.ports) + " ports at " + std::to_string(a.nodes.size()) +
                 " nodes";
      ctx.raise(v, a, dominantProbeKind(v.slot));
    }
  }

 private:
  // At most once a second per source; what is held back goes out from idle().
  void share(const SourceView& v, FleetState& s, RuleContext& ctx) const {
    if (s.lastShare && v.now - s.lastShare < v.table.ticksPerSecond()) return;
    if (!worthSharing(v, ctx)) return;
    Footprint fp;
    fp.dstBits = takeNewBits(v.slot.dsts, s.sharedDsts);
    fp.portBits = takeNewBits(v.slot.ports, s.sharedPorts);
    s.pending = false;
    s.lastShare = v.now ? v.now : 1;
    if (fp.dstBits.empty() && fp.portBits.empty()) return;
    fp.src = sourceName(v.slot);
    fp.hostsBar = config_.shapeHosts;
    fp.portsBar = config_.shapePorts;
    fp.windowS = config_.shapeWindowS;
    ctx.footprints()->share(std::move(fp));
  }

  const RuleConfig& config_;
};

}  // namespace

std::unique_ptr<Rule> makeFleetRule(const RuleConfig& config) {
  return std::make_unique<FleetRule>(config);
}

}  // namespace portcullis
