#pragma once
// -sT: non-blocking connect() with many sockets in flight (bounded by RLIMIT_NOFILE and the
// congestion window), for users without raw-socket privilege and for IPv6.

#include <string>
#include <vector>

#include "raw_engine.h"
#include "types.h"

namespace portcullis::scan {

struct ConnectConfig {
  TimingParams timing;
  CongestionParams congestion;
  ScanType scanType = ScanType::kConnect;  // kPing: any answer (open or refused) means up
  bool randomize = true;
  bool progress = false;
  std::string iface;  // -e
};

/// Connects to every port of every host. Outcomes are indexed host * ports.size() + port.
std::vector<SlotOutcome> runConnectScan(const std::vector<Address>& hosts,
                                        const std::vector<uint16_t>& ports,
                                        const ConnectConfig& cfg, std::vector<HostTiming>& timing);

}  // namespace portcullis::scan
