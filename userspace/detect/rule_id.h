#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace portcullis {

/// The detection rules, in the order the engine applies them to a source's new evidence.
/// Adding a rule: a value here, its name in kRuleNames, one file in detect/rules/, one line in
/// detect/rules/registry.cpp.
enum class RuleId : uint8_t { Score, Rate, Trw, Shape, Slow, Anomaly, Group };
inline constexpr size_t kRuleCount = 7;
/// The names users write (--rules, the config file, alerts' "rule"), in RuleId order.
inline constexpr std::array<std::string_view, kRuleCount> kRuleNames = {
    "score", "rate", "trw", "shape", "slow", "anomaly", "group"};

inline const char* ruleName(RuleId id) { return kRuleNames[size_t(id)].data(); }
std::optional<RuleId> ruleFromName(std::string_view name);

inline std::set<std::string> allRuleNames() { return {kRuleNames.begin(), kRuleNames.end()}; }

}  // namespace portcullis
