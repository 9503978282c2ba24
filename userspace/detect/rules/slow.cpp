// slow (seed 002): per window of slowWindowS over the host's answers, N_closed (SYN targets the
// host did not answer open), N_hc (half-open connections left unfinished) and N_fin (targets of
// FIN, Xmas and Maimon probes). Above 1: a scanner. Exactly 1: suspicious, listed for
// slowKeepWindows windows; suspicious again while listed: a scanner. Seed 002's counters count
// distinct targets, so retransmissions and floods to one port count once.
#include <algorithm>
#include <string>

#include "detect/rules/registry.h"

namespace portcullis {
namespace {

/// Cumulative counters at the start of the current window.
struct SlowBase {
  uint32_t synTargets = 0, synackNew = 0, acked = 0, finTargets = 0;
  static SlowBase of(const pc_src_state& s) {
    return {s.syn_targets, s.synack_new, s.acked, s.fin_targets};
  }
  bool operator==(const SlowBase&) const = default;
};

struct SlowState : RuleState {
  bool started = false;
  uint64_t windowStart = 0;  ///< ticks
  SlowBase base;
  uint64_t window = 0;           ///< index of the current window
  int64_t suspiciousUntil = -1;  ///< last window index the source stays listed
};

class SlowRule final : public Rule {
 public:
  explicit SlowRule(const RuleConfig& config) : config_(config) {}
  RuleId id() const override { return RuleId::Slow; }

  void evaluate(const SourceView& v, const NewEvidence&, RuleContext& ctx) override {
    step(v, ctx, false);
  }
  // A window closes on time even when the source fell silent.
  void idle(const SourceView& v, RuleContext& ctx) override { step(v, ctx, false); }
  // End of input: close the open window if anything happened in it.
  void flush(const SourceView& v, RuleContext& ctx) override {
    if (!(SlowBase::of(v.slot) == state(v).base)) step(v, ctx, true);
  }
  void baseline(const SourceView& v) override {
    SlowState& s = state(v);
    s.base = SlowBase::of(v.slot);
    s.windowStart = v.table.now();
  }

 private:
  // Windows follow each other from the source's first packet.
  SlowState& state(const SourceView& v) const {
    SlowState& s = stateOf<SlowState>(v.track);
    if (!s.started) {
      s.started = true;
      s.windowStart = v.track.firstSeen;
    }
    return s;
  }

  void step(const SourceView& v, RuleContext& ctx, bool force) {
    SlowState& s = state(v);
    uint64_t span = uint64_t(config_.slowWindowS) * v.table.ticksPerSecond();
    if (!force && int64_t(v.now - s.windowStart) < int64_t(span)) return;
    SlowBase cur = SlowBase::of(v.slot);
    int64_t synTargets = int64_t(cur.synTargets - s.base.synTargets);
    int64_t synacks = int64_t(cur.synackNew - s.base.synackNew);
    int64_t nClosed = synTargets - synacks;
    // Half-open connections left unfinished, at most one per distinct SYN target: a client whose
    // SYN-ACKs to one port go unanswered (a flood, a crashed client) is one target, not many.
    int64_t nHalfOpen = std::min(synacks - int64_t(cur.acked - s.base.acked), synTargets);
    int64_t nFin = int64_t(cur.finTargets - s.base.finTargets);
    s.base = cur;
    // A silent stretch skips ahead.
    uint64_t elapsed = span ? (v.now - s.windowStart) / span : 1;
    s.windowStart += span * std::max<uint64_t>(elapsed, 1);
    uint64_t window = s.window;
    s.window += std::max<uint64_t>(elapsed, 1);

    int64_t worst = std::max({nClosed, nHalfOpen, nFin});
    if (worst < 1 || v.allowed() || !ctx.answersVisible(v.track.table)) return;
    uint8_t kind = PC_KIND_SYN;
    if (nFin == worst && nFin > std::max(nClosed, nHalfOpen)) {
      kind = PC_KIND_FIN;  // whichever FIN-carrying probe the source sent most
      for (uint8_t k : {PC_KIND_XMAS, PC_KIND_MAIMON}) {
        if (v.slot.count[k] > v.slot.count[kind]) kind = k;
      }
    }
    Alert a;
    a.rule = ruleName(id());
    a.score = uint64_t(worst);
    a.detail = "N_closed=" + std::to_string(nClosed) + " N_hc=" + std::to_string(nHalfOpen) +
               " N_fin=" + std::to_string(nFin);
    bool listed = s.suspiciousUntil >= int64_t(window);
    if (worst <= 1 && !listed) {
      a.event = "suspicious";
      s.suspiciousUntil = int64_t(window + config_.slowKeepWindows);
    }
    ctx.raise(v, a, kind, 2 * span);  // a slow scan alerts once, not once per window
  }

  const RuleConfig& config_;
};

}  // namespace

std::unique_ptr<Rule> makeSlowRule(const RuleConfig& config) {
  return std::make_unique<SlowRule>(config);
}

}  // namespace portcullis
