#pragma once
// Sockets and routes: RAII descriptors, the source address and interface the kernel would use
// for a destination, and the raw-socket privilege check.

#include <optional>
#include <string>
#include <vector>
#include <utility>

#include "packet/addresses.h"
#include "types.h"

namespace portcullis::scan {

/// Owns one file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset(std::exchange(o.fd_, -1));
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset(int fd = -1);
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

struct Route {
  Address source;
  std::string iface;
  bool loopback = false;
};

/// Asks the kernel which source address and interface reach `dst` (a connected UDP socket sends
/// nothing). `forcedIface` (-e) binds the lookup to that interface.
bool findRoute(const Address& dst, const std::string& forcedIface, Route& out, std::string& error);

/// findRoute for many targets (a sweep of a /16): one socket per family, connected again for
/// each target, and the interfaces' addresses read once, not a socket and a netlink dump each.
class RouteFinder {
 public:
  explicit RouteFinder(std::string forcedIface);
  bool find(const Address& dst, Route& out, std::string& error);

 private:
  bool sourceFor(const Address& dst, Address& source, std::string& error);
  void interfaceOf(Route& route);

  struct Local {
    Address addr;
    std::string iface;
    bool loopback = false;
  };
  std::string forced_;
  UniqueFd fd4_, fd6_;
  bool localsRead_ = false;
  std::vector<Local> locals_;
};

/// An Ethernet interface's index and MAC address; nullopt for loopback, tunnels and anything
/// else without Ethernet framing (and for a name that is no interface).
struct EthernetLink {
  int ifindex = 0;
  net::MacAddress mac{};
};
std::optional<EthernetLink> ethernetLink(const std::string& iface);

/// True when this process may open raw sockets (root or CAP_NET_RAW).
bool haveRawPrivilege();

/// Raises RLIMIT_NOFILE's soft limit to its hard limit and returns the soft limit in force.
long raiseFdLimit();

}  // namespace portcullis::scan
