#pragma once
// ARP host discovery on a directly connected Ethernet segment, as nmap does it for IPv4
// targets on the local network: an ARP reply is the surest sign a neighbour is up (no firewall
// filters ARP), and it costs one broadcast frame per host.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "packet/addresses.h"
#include "targets.h"

namespace portcullis::scan {

struct ArpConfig {
  int maxRetries = 1;  // extra rounds for hosts that stayed silent
  // How long a round waits after its last request: the initial value until replies give RTT
  // samples, then RFC 6298's timeout clamped to [min, max], as for IP probes.
  int64_t initialTimeoutUs = 1000000;
  int64_t minTimeoutUs = 100000;
  int64_t maxTimeoutUs = 10000000;
  double maxRate = 0;  // requests per second, 0 = unpaced
};

struct ArpReply {
  bool answered = false;
  net::MacAddress mac;
  int64_t rttUs = 0;
};

/// The IPv4 prefixes directly connected through `iface` when it is an Ethernet interface (empty
/// otherwise): a target inside one is reached by ARP itself rather than through a router.
/// Read once per interface, not once per target.
std::vector<AddressPrefix> ethernetNeighbourPrefixes(const std::string& iface);

/// Asks for every host's MAC address on `iface`, from `source`. Replies are indexed like
/// `hosts`. Errors (no such interface, no privilege) come back in `error` as one line.
std::optional<std::vector<ArpReply>> arpPing(const std::string& iface, net::Ipv4Address source,
                                             const std::vector<net::Ipv4Address>& hosts,
                                             const ArpConfig& cfg, std::string& error);

/// Builds an ARP request frame (Ethernet broadcast, padded to the 60-byte minimum).
std::vector<uint8_t> arpRequestFrame(const net::MacAddress& ourMac, net::Ipv4Address ourIp,
                                     net::Ipv4Address target);

/// Reads an ARP reply frame: the sender's IPv4 address and MAC. False for anything else.
bool parseArpReply(const uint8_t* frame, size_t len, net::Ipv4Address& senderIp,
                   net::MacAddress& senderMac);

}  // namespace portcullis::scan
