// Threshold Random Walk (Jung, Paxson, Berger, Balakrishnan 2004) over connection outcomes: the
// host's SYN-ACK is a success, its RST or port unreachable a failure. Each failure multiplies
// the likelihood ratio by (1 - θ1)/(1 - θ0) = 4, each success by θ1/θ0 = 1/4; at β/α = 99 the
// source is a scanner, at (1 - β)/(1 - α) ≈ 0.0101 benign (and the walk starts over).
#include <cmath>

#include <algorithm>
#include <string>

#include "detect/evidence.h"
#include "detect/rules/registry.h"

namespace portcullis {
namespace {

struct TrwState : RuleState {
  double logRatio = 0;
  uint32_t successes = 0, failures = 0;  ///< the slot's counters at the last step
};

class TrwRule final : public Rule {
 public:
  explicit TrwRule(const RuleConfig& config) : config_(config) {}
  RuleId id() const override { return RuleId::Trw; }

  void evaluate(const SourceView& v, const NewEvidence&, RuleContext& ctx) override {
    TrwState& s = stateOf<TrwState>(v.track);
    uint32_t successes = v.slot.synack_out - s.successes;
    uint32_t failures = closedAnswers(v.slot) - s.failures;
    s.successes = v.slot.synack_out;
    s.failures = closedAnswers(v.slot);
    if ((!successes && !failures) || !ctx.answersVisible(v.track.table)) return;
    const double up = std::log((1 - config_.trwTheta1) / (1 - config_.trwTheta0));
    const double down = std::log(config_.trwTheta1 / config_.trwTheta0);
    const double scanner = std::log(config_.trwBeta / config_.trwAlpha);
    const double benign = std::log((1 - config_.trwBeta) / (1 - config_.trwAlpha));
    s.logRatio += failures * up + successes * down;
    if (s.logRatio <= benign) s.logRatio = 0;
    if (s.logRatio < scanner) return;
    s.logRatio = scanner;  // stay decided while failures continue; successes walk it back
    if (v.allowed()) return;
    Alert a;
    a.rule = ruleName(id());
    a.score = closedAnswers(v.slot);
    ctx.raise(v, a, dominantProbeKind(v.slot));
  }

  void baseline(const SourceView& v) override {
    TrwState& s = stateOf<TrwState>(v.track);
    s.failures = closedAnswers(v.slot);
    s.successes = v.slot.synack_out;
  }

 private:
  const RuleConfig& config_;
};

}  // namespace

std::unique_ptr<Rule> makeTrwRule(const RuleConfig& config) {
  return std::make_unique<TrwRule>(config);
}

}  // namespace portcullis
