// rate (seed 002): more than rateMaxPorts distinct ports (or, with rateBasis "rejects", probes
// the host answered as closed: Snort's negative responses) within rateWindowS. A protocol scan
// (nmap -sO) walks protocol numbers as a port scan walks ports.
#include <algorithm>
#include <string>

#include "detect/evidence.h"
#include "detect/recent.h"
#include "detect/rules/registry.h"

namespace portcullis {
namespace {

struct RateState : RuleState {
  Recent ports;    ///< distinct ports and protocols first probed, over time
  Recent rejects;  ///< closed answers, over time
};

class RateRule final : public Rule {
 public:
  explicit RateRule(const RuleConfig& config) : config_(config) {}
  RuleId id() const override { return RuleId::Rate; }

  void evaluate(const SourceView& v, const NewEvidence& fresh, RuleContext& ctx) override {
    RateState& s = stateOf<RateState>(v.track);
    s.ports.add(v.now, fresh.ports + fresh.protos);
    s.rejects.add(v.now, fresh.rejects);
    uint64_t span = uint64_t(config_.rateWindowS) * v.table.ticksPerSecond();
    uint64_t recent =
        config_.rateBasis == "rejects" ? s.rejects.sum(v.now, span) : s.ports.sum(v.now, span);
    if (recent <= config_.rateMaxPorts || v.allowed()) return;
    uint8_t kind = v.slot.proto_targets > config_.rateMaxPorts ? uint8_t(PC_KIND_IPPROTO)
                                                               : dominantProbeKind(v.slot);
    Alert a;
    a.rule = ruleName(id());
    a.score = std::max(v.slot.win_score[kind], v.slot.prev_score[kind]);
    ctx.raise(v, a, kind);
  }

 private:
  const RuleConfig& config_;
};

}  // namespace

std::unique_ptr<Rule> makeRateRule(const RuleConfig& config) {
  return std::make_unique<RateRule>(config);
}

}  // namespace portcullis
