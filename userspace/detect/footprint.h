#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace portcullis {

/// What one node saw of a source with evidence (DESIGN.md, "Fleet"): the bits its probes set
/// in the slot's destination and port bitmaps since the last footprint. The bitmaps' hashes are
/// unseeded (include/portcullis/update.h), so one host or port is the same bit on every node,
/// and the fleet's union of bits counts distinct hosts and ports as one node's bitmap would.
struct Footprint {
  std::string src;  ///< as alerts name it: an address, or the prefix it stands for
  std::vector<uint16_t> dstBits, portBits;
  /// The fleet-wide shape thresholds (the shape rule's), and how long a footprint counts.
  uint32_t hostsBar = 0, portsBar = 0, windowS = 0;
};

/// The fleet-wide counts that crossed a footprint's thresholds, at more than one node. Only one
/// node of the fleet gets a given source's sighting per window: the one whose footprint crossed.
struct FleetSighting {
  std::string src;
  uint64_t hosts = 0, ports = 0;
  std::vector<std::string> nodes;  ///< every node that saw the source, sorted
};

/// The fleet's counts cross a footprint's thresholds: the shape rule's hosts or ports, over
/// the whole fleet, at two nodes or more (one node alone is its own rules' business).
inline bool fleetCrossed(const Footprint& fp, const FleetSighting& fleet) {
  return fleet.nodes.size() >= 2 && (fleet.hosts >= fp.hostsBar || fleet.ports >= fp.portsBar);
}

/// The engine's side of the fleet (fleet/fleet_link.h implements it over Redis): footprints go
/// out, sightings come back. Neither call may wait for the network.
class FootprintExchange {
 public:
  virtual ~FootprintExchange() = default;
  virtual void share(Footprint footprint) = 0;
  virtual std::vector<FleetSighting> takeSightings() = 0;
};

}  // namespace portcullis
