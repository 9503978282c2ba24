#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "detect/rule_id.h"
#include "portcullis/flags.h"
#include "portcullis/update.h"

namespace portcullis {

/// The detection rules' numbers (DESIGN.md's defaults). Every one is settable from the CLI and
/// from the TOML config file; --profile picks a preset for the ones not set explicitly.
struct RuleConfig {
  /// Rules in force, by name (kRuleNames); all by default.
  std::set<std::string> enabled = allRuleNames();
  bool on(RuleId rule) const { return enabled.count(ruleName(rule)) != 0; }

  // score (seed 001, Sophos): per source and scan kind, >= threshold points in one window.
  uint32_t scoreThreshold = 21;
  uint32_t scoreWindowMs = 300;
  uint16_t weightHot = PC_WEIGHT_HOT_DEFAULT;
  uint16_t weightLow = PC_WEIGHT_LOW_DEFAULT;
  uint16_t weightHigh = PC_WEIGHT_HIGH_DEFAULT;
  // rate (seed 002): more than rateMaxPorts distinct ports (or, with rateBasis "rejects",
  // probes the host answered as closed: Snort's negative responses) within rateWindowS.
  uint32_t rateMaxPorts = 10;
  uint32_t rateWindowS = 6;
  std::string rateBasis = "ports";
  // slow (seed 002): per window of slowWindowS, N_closed, N_hc, N_fin; > 1 scanner, = 1
  // suspicious for slowKeepWindows windows, suspicious again while listed: scanner.
  uint32_t slowWindowS = 180;
  uint32_t slowKeepWindows = 10;
  // trw (Jung, Paxson, Berger, Balakrishnan 2004): sequential test over connection outcomes.
  double trwTheta0 = 0.8;  ///< P(success) for a benign source
  double trwTheta1 = 0.2;  ///< P(success) for a scanner
  double trwAlpha = 0.01;  ///< false positive bound
  double trwBeta = 0.99;   ///< detection probability
  // shape (Zeek's scan policy): 15 ports on one host / 25 hosts within 5 minutes.
  uint32_t shapeWindowS = 300;
  uint32_t shapePorts = 15;
  uint32_t shapeHosts = 25;
  // group (Snort's decoy and distributed port scans): sources with at least groupMinPorts,
  // active within groupWindowS of each other, on the same destinations.
  uint32_t groupMinPorts = 10;
  uint32_t groupWindowS = 10;
  // Engine housekeeping.
  uint32_t pollMs = 100;  ///< how often the tables are read
  uint32_t quietS = 30;   ///< a scan quiet this long is over; the next one alerts afresh
  uint32_t forgetS = PC_IDLE_TIMEOUT_S_DEFAULT;  ///< sources idle this long are forgotten
                                                 ///< (and lose their slot in the datapath)
  // The datapath's evidence model (DESIGN.md, "Per-source state under real traffic").
  uint32_t admitTargets = PC_ADMIT_TARGETS_DEFAULT;  ///< distinct targets that earn a slot
  uint32_t v4Prefix = PC_V4_PREFIX_DEFAULT;          ///< IPv4 sources aggregated per /v4Prefix
  uint32_t v6Prefix = PC_V6_PREFIX_DEFAULT;          ///< IPv6 sources aggregated per /v6Prefix
  /// The response-aware rules (slow, trw) stand down while fewer than this per mille of SYNs
  /// to watched destinations are seen answered (egress not attached, asymmetric routing, a
  /// one-way capture): without answers every client looks like a scanner to them.
  uint32_t answersMinPerMille = 20;
  uint32_t answersMinSyns = 200;  ///< … judged once this many SYNs were seen
  uint32_t flowWindowS = 30;      ///< generation of the "connections it opened" filter
  uint32_t eventBurst = 4;        ///< anomaly events per source per score window
  uint32_t growthFactor = 4;      ///< re-alert when a scan's ports grow this many times …
  uint32_t growthMin = 100;       ///< … and by at least this many ports
};

}  // namespace portcullis
