// score (seed 001, Sophos): per source and scan kind, at least scoreThreshold points within one
// score window. The datapath keeps the window's score per kind; the rule reads the current
// window and the one just closed (polls are shorter than a window, so each is seen whole).
#include <algorithm>
#include <string>

#include "detect/rules/registry.h"

namespace portcullis {
namespace {

class ScoreRule final : public Rule {
 public:
  explicit ScoreRule(const RuleConfig& config) : config_(config) {}
  RuleId id() const override { return RuleId::Score; }

  void evaluate(const SourceView& v, const NewEvidence&, RuleContext& ctx) override {
    for (uint8_t k = 0; k < PC_KIND_MAX; ++k) {
      uint32_t score = std::max(v.slot.win_score[k], v.slot.prev_score[k]);
      if (score < config_.scoreThreshold || v.allowed()) continue;
      Alert a;
      a.rule = ruleName(id());
      a.score = score;
      ctx.raise(v, a, k);
    }
  }

 private:
  const RuleConfig& config_;
};

}  // namespace

std::unique_ptr<Rule> makeScoreRule(const RuleConfig& config) {
  return std::make_unique<ScoreRule>(config);
}

}  // namespace portcullis
