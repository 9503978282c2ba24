#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "detect/rules/list.h"

namespace portcullis {

/// The detection rules, in the order the engine applies them to a source's new evidence (made
/// from detect/rules/list.h).
enum class RuleId : uint8_t {
#define PC_RULE_ID(id, name, factory) id,
  PC_RULES(PC_RULE_ID)
#undef PC_RULE_ID
};
/// The names users write (--rules, the config file, alerts' "rule"), in RuleId order.
inline constexpr auto kRuleNames = std::to_array<std::string_view>({
#define PC_RULE_NAME(id, name, factory) name,
    PC_RULES(PC_RULE_NAME)
#undef PC_RULE_NAME
});
inline constexpr size_t kRuleCount = kRuleNames.size();

inline const char* ruleName(RuleId id) { return kRuleNames[size_t(id)].data(); }
std::optional<RuleId> ruleFromName(std::string_view name);

inline std::set<std::string> allRuleNames() { return {kRuleNames.begin(), kRuleNames.end()}; }

}  // namespace portcullis
