#pragma once

#include <memory>
#include <vector>

#include "detect/rule.h"
#include "detect/rules.h"

namespace portcullis {

/// One factory per rule file in detect/rules/.
std::unique_ptr<Rule> makeScoreRule(const RuleConfig& config);
std::unique_ptr<Rule> makeRateRule(const RuleConfig& config);
std::unique_ptr<Rule> makeTrwRule(const RuleConfig& config);
std::unique_ptr<Rule> makeShapeRule(const RuleConfig& config);
std::unique_ptr<Rule> makeSlowRule(const RuleConfig& config);
std::unique_ptr<Rule> makeAnomalyRule(const RuleConfig& config);
std::unique_ptr<Rule> makeGroupRule(const RuleConfig& config);

/// The rules in force under `config`, in RuleId order (the order they see a source's evidence).
/// `config` must outlive them.
std::vector<std::unique_ptr<Rule>> makeRules(const RuleConfig& config);

}  // namespace portcullis
