#pragma once
// Next hops for the link-layer send path: which neighbour (a router, or the target itself when
// it is on the link) a probe to each target leaves through, and that neighbour's MAC address
// from the kernel's neighbour table. Asked over rtnetlink, the way `ip route get` and
// `ip neigh get` ask; a target whose next hop is unknown is sent through the raw IP socket,
// where the kernel resolves it.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "net_util.h"
#include "packet/addresses.h"
#include "types.h"

namespace portcullis::scan {

class NeighbourTable {
 public:
  /// Routes and neighbours out of interface `ifindex` only (the raw socket is bound to it too).
  explicit NeighbourTable(int ifindex);
  bool ok() const { return static_cast<bool>(fd_); }

  /// For each target, the neighbour its probes leave through on this interface: the gateway of
  /// its route, or the target itself on the link; nullopt when the route is not a unicast route
  /// out of this interface. The lookups go to the kernel in batches (one system call per 64).
  std::vector<std::optional<Address>> nextHops(const std::vector<Address>& targets);

  /// The neighbour's MAC address while the kernel holds a valid entry for it (reachable, stale,
  /// delayed, probing or permanent).
  std::optional<net::MacAddress> macOf(const Address& neighbour);

 private:
  int ifindex_;
  UniqueFd fd_;
  uint32_t seq_ = 0;
};

}  // namespace portcullis::scan
