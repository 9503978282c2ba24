#pragma once

/// Every detection rule, in the order the engine applies them to a source's new evidence:
/// PC_RULE(RuleId value, the name users write, the factory in its file in detect/rules/).
/// Adding a rule is one file in detect/rules/ and one line here; the RuleId enum, the names and
/// the registry are made from this list.
#define PC_RULES(PC_RULE)                      \
  PC_RULE(Score, "score", makeScoreRule)       \
  PC_RULE(Rate, "rate", makeRateRule)          \
  PC_RULE(Trw, "trw", makeTrwRule)             \
  PC_RULE(Shape, "shape", makeShapeRule)       \
  PC_RULE(Slow, "slow", makeSlowRule)          \
  PC_RULE(Anomaly, "anomaly", makeAnomalyRule) \
  PC_RULE(Group, "group", makeGroupRule)       \
  PC_RULE(Fleet, "fleet", makeFleetRule)
