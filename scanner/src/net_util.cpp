#include "net_util.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace portcullis::scan {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) {
    ::close(fd_);
  }
  fd_ = fd;
}

std::optional<EthernetLink> ethernetLink(const std::string& iface) {
  if (iface.empty() || iface.size() >= IFNAMSIZ) return std::nullopt;
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return std::nullopt;
  ifreq req{};
  std::memcpy(req.ifr_name, iface.c_str(), iface.size());
  if (ioctl(fd.get(), SIOCGIFHWADDR, &req) != 0 || req.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
    return std::nullopt;
  }
  EthernetLink link;
  std::memcpy(link.mac.bytes.data(), req.ifr_hwaddr.sa_data, 6);
  link.ifindex = static_cast<int>(if_nametoindex(iface.c_str()));
  if (link.ifindex == 0) return std::nullopt;
  return link;
}

RouteFinder::RouteFinder(std::string forcedIface) : forced_(std::move(forcedIface)) {}

// The source address the kernel picks for `dst`: connecting a UDP socket sends nothing, and one
// socket per family is connected again for each target (two system calls a target).
bool RouteFinder::sourceFor(const Address& dst, Address& source, std::string& error) {
  UniqueFd& fd = dst.v6 ? fd6_ : fd4_;
  if (!fd) {
    fd.reset(::socket(dst.v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) {
      error = std::string("socket: ") + std::strerror(errno);
      return false;
    }
    if (!forced_.empty() && setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, forced_.c_str(),
                                       static_cast<socklen_t>(forced_.size())) != 0) {
      error = "cannot use interface '" + forced_ + "': " + std::strerror(errno);
      fd.reset();
      return false;
    }
  }
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (dst.v6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(9);
    std::memcpy(&s6->sin6_addr, dst.v6addr.bytes.data(), 16);
    len = sizeof(sockaddr_in6);
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(9);
    s4->sin_addr.s_addr = dst.v4addr.networkOrder();
    len = sizeof(sockaddr_in);
  }
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    error = "no route to " + dst.toString() + ": " + std::strerror(errno);
    return false;
  }
  sockaddr_storage local{};
  socklen_t llen = sizeof(local);
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &llen) != 0) {
    error = std::string("getsockname: ") + std::strerror(errno);
    return false;
  }
  source.v6 = dst.v6;
  if (dst.v6) {
    std::memcpy(source.v6addr.bytes.data(), &reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr,
                16);
  } else {
    source.v4addr =
        net::Ipv4Address::fromNetworkOrder(reinterpret_cast<sockaddr_in*>(&local)->sin_addr.s_addr);
  }
  return true;
}

// Sets `route.iface` and `route.loopback` from the interface holding `route.source`; leaves
// them alone when none does. The interfaces' addresses are read once per finder.
void RouteFinder::interfaceOf(Route& route) {
  if (!localsRead_) {
    localsRead_ = true;
    ifaddrs* ifs = nullptr;
    if (getifaddrs(&ifs) != 0) return;
    for (ifaddrs* i = ifs; i != nullptr; i = i->ifa_next) {
      if (i->ifa_addr == nullptr) continue;
      Local l;
      if (i->ifa_addr->sa_family == AF_INET6) {
        l.addr.v6 = true;
        std::memcpy(l.addr.v6addr.bytes.data(),
                    &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, 16);
      } else if (i->ifa_addr->sa_family == AF_INET) {
        l.addr.v4addr = net::Ipv4Address::fromNetworkOrder(
            reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr);
      } else {
        continue;
      }
      l.iface = i->ifa_name;
      l.loopback = (i->ifa_flags & IFF_LOOPBACK) != 0;
      locals_.push_back(std::move(l));
    }
    freeifaddrs(ifs);
  }
  for (const Local& l : locals_) {
    if (l.addr == route.source) {
      route.iface = l.iface;
      route.loopback = l.loopback;
      return;
    }
  }
}

bool RouteFinder::find(const Address& dst, Route& out, std::string& error) {
  if (!sourceFor(dst, out.source, error)) return false;
  if (!forced_.empty()) {
    out.iface = forced_;
  } else {
    interfaceOf(out);
  }
  // Traffic to our own addresses goes over lo whatever interface holds the address.
  const bool toSelf = dst == out.source;
  if (toSelf || (!dst.v6 && (dst.v4addr.value >> 24) == 127)) {
    out.iface = "lo";
    out.loopback = true;
  }
  if (out.iface.empty()) {
    error = "cannot find the interface for source " + out.source.toString();
    return false;
  }
  return true;
}

bool findRoute(const Address& dst, const std::string& forcedIface, Route& out, std::string& error) {
  RouteFinder finder(forcedIface);
  return finder.find(dst, out, error);
}

bool haveRawPrivilege() {
  UniqueFd fd(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
  return static_cast<bool>(fd);
}

long raiseFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return 1024;
  }
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
      rl = want;
    }
  }
  return rl.rlim_cur == RLIM_INFINITY ? 1 << 20 : static_cast<long>(rl.rlim_cur);
}

}  // namespace portcullis::scan
