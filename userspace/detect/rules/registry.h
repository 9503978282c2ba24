#pragma once

#include <memory>
#include <vector>

#include "detect/rule.h"
#include "detect/rules.h"

namespace portcullis {

/// One factory per rule file in detect/rules/ (named in list.h).
#define PC_RULE_FACTORY(id, name, factory) std::unique_ptr<Rule> factory(const RuleConfig& config);
PC_RULES(PC_RULE_FACTORY)
#undef PC_RULE_FACTORY

/// The rules in force under `config`, in RuleId order (the order they see a source's evidence).
/// `config` must outlive them.
std::vector<std::unique_ptr<Rule>> makeRules(const RuleConfig& config);

}  // namespace portcullis
