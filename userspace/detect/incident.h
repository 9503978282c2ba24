#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "report/alert.h"

namespace portcullis {

/// One scan of one source, as a SIEM should see it: the rules that fire while it goes on are
/// one `alert` (naming every rule that fired at that poll), then `update`s when another rule
/// fires, the scan grows (growthFactor times and growthMin ports) or takes a new label (the
/// source's next scan type: syn, then fin, then udp), and one
/// `end` once its source has been silent for the quiet time (plus the slow rule's window), when
/// the source is forgotten, or at the end of input. The engine keeps one per track.
struct Incident {
  uint64_t id = 0;
  std::vector<std::string> rules;   ///< in the order they fired
  std::string scan;                 ///< the label last reported
  std::vector<std::string> labels;  ///< every label reported (a new one is an update)
  uint64_t reportedPorts = 0;       ///< ports at the last alert or update
  uint64_t startTicks = 0;          ///< the source's first packet since its previous incident
  uint64_t packetsAtStart = 0;      ///< the source's packets before the incident
  uint64_t lastActive = 0;          ///< ticks of the last poll at which a rule fired
  uint64_t quietTicks = 0;          ///< silence that ends it
  bool blocked = false;
  Alert last;  ///< the latest merged alert: what `end` repeats of the scan
};

/// Incident ids: unique per host. A watch numbers from its start time (seconds << 20, so ids
/// stay exact as JSON numbers); a replay from 1, so the same capture gives the same ids.
class IncidentIds {
 public:
  explicit IncidentIds(uint64_t startUnixSeconds = 0) : next_(startUnixSeconds << 20) {}
  uint64_t next() { return ++next_; }

 private:
  uint64_t next_;
};

}  // namespace portcullis
