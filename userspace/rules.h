#pragma once

#include <cstdint>

#include "portcullis/flags.h"

namespace portcullis {

/// The detection rules' numbers (DESIGN.md's defaults). Every one is settable from the CLI and
/// from the TOML config file.
struct RuleConfig {
  // score (seed 001, Sophos): per source and scan kind, >= threshold points in one window.
  uint32_t scoreThreshold = 21;
  uint32_t scoreWindowMs = 300;
  uint16_t weightHot = PC_WEIGHT_HOT_DEFAULT;
  uint16_t weightLow = PC_WEIGHT_LOW_DEFAULT;
  uint16_t weightHigh = PC_WEIGHT_HIGH_DEFAULT;
  // rate (seed 002): more than rateMaxPorts distinct ports within rateWindowS seconds.
  uint32_t rateMaxPorts = 10;
  uint32_t rateWindowS = 6;
  // anomaly (seed 002): any illegal flag combination, at once.
  bool anomaly = true;
  // Engine housekeeping.
  uint32_t pollMs = 100;       ///< how often the tables are read
  uint32_t quietS = 30;        ///< a scan quiet this long is over; the next one alerts afresh
  uint32_t forgetS = 300;      ///< sources idle this long are forgotten
  uint32_t flowWindowS = 30;   ///< generation of the "connections it opened" filter
  uint32_t eventBurst = 4;     ///< anomaly events per source per score window
  uint32_t growthFactor = 4;   ///< re-alert when a scan's ports grow this many times …
  uint32_t growthMin = 100;    ///< … and by at least this many ports
};

}  // namespace portcullis
