// anomaly (seed 002): any packet with an illegal flag combination (NULL, Xmas, SYN+FIN, …)
// alerts at once. The datapath sends these through its ring buffer, a burst per window at most.
#include <algorithm>
#include <string>

#include "detect/rules/registry.h"

namespace portcullis {
namespace {

class AnomalyRule final : public Rule {
 public:
  RuleId id() const override { return RuleId::Anomaly; }

  void onEvent(const SourceView& v, const pc_event& e, RuleContext& ctx) override {
    if (e.type != PC_EVENT_ANOMALY || v.allowed()) return;
    uint8_t kind = e.kind < PC_KIND_MAX ? e.kind : uint8_t(PC_KIND_OTHER);
    Alert a;
    a.rule = ruleName(id());
    a.score = std::max(v.slot.win_score[kind], v.slot.prev_score[kind]);
    ctx.raise(v, a, kind);
  }
};

}  // namespace

std::unique_ptr<Rule> makeAnomalyRule(const RuleConfig&) { return std::make_unique<AnomalyRule>(); }

}  // namespace portcullis
