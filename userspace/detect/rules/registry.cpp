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
  constexpr Factory kFactories[kRuleCount] = {
#define PC_RULE_FACTORY(id, name, factory) factory,
      PC_RULES(PC_RULE_FACTORY)
#undef PC_RULE_FACTORY
  };
  std::vector<std::unique_ptr<Rule>> rules;
  for (size_t i = 0; i < kRuleCount; ++i) {
    if (!config.on(RuleId(i))) continue;
    rules.push_back(kFactories[i](config));
    assert(rules.back()->id() == RuleId(i) && "a rule's id() is its line in list.h");
  }
  return rules;
}

}  // namespace portcullis
