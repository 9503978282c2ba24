#include <algorithm>
#include <string>

#include "detect/rules/registry.h"

#include <cassert>

namespace portcullis {

std::optional<RuleId> ruleFromName(std::string_view name) {
  for (size_t i = 0; i < kRuleCount; ++i) {
    if (kRuleNames[i] == name) return RuleId(i);
  }
  return std::nullopt;
}

std::vector<std::unique_ptr<Rule>> makeRules(const RuleConfig& config) {
  using Factory = std::unique_ptr<Rule> (*)(const RuleConfig&);
  // One line per rule, in RuleId order.
  constexpr Factory kFactories[kRuleCount] = {
      makeScoreRule, makeRateRule,    makeTrwRule,   makeShapeRule,
      makeSlowRule,  makeAnomalyRule, makeGroupRule,
  };
  std::vector<std::unique_ptr<Rule>> rules;
  for (size_t i = 0; i < kRuleCount; ++i) {
    if (!config.on(RuleId(i))) continue;
    rules.push_back(kFactories[i](config));
    assert(rules.back()->id() == RuleId(i) && "kFactories follows RuleId order");
  }
  return rules;
}

}  // namespace portcullis
