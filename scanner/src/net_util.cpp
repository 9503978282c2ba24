#include "net_util.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
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

namespace {

// The source address the kernel picks for `dst`: connecting a UDP socket sends nothing.
bool kernelSourceFor(const Address& dst, const std::string& forcedIface, Address& source,
                     std::string& error) {
  UniqueFd fd(::socket(dst.v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  if (!forcedIface.empty() && setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, forcedIface.c_str(),
                                         static_cast<socklen_t>(forcedIface.size())) != 0) {
    error = "cannot use interface '" + forcedIface + "': " + std::strerror(errno);
    return false;
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
// them alone when none does.
void findInterfaceOf(Route& route) {
  const Address& source = route.source;
  const int family = source.v6 ? AF_INET6 : AF_INET;
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return;
  for (ifaddrs* i = ifs; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != family) continue;
    bool match = false;
    if (source.v6) {
      match = std::memcmp(&reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr,
                          source.v6addr.bytes.data(), 16) == 0;
    } else {
      match = reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr ==
              source.v4addr.networkOrder();
    }
    if (match) {
      route.iface = i->ifa_name;
      route.loopback = (i->ifa_flags & IFF_LOOPBACK) != 0;
      break;
    }
  }
  freeifaddrs(ifs);
}

}  // namespace

bool findRoute(const Address& dst, const std::string& forcedIface, Route& out, std::string& error) {
  if (!kernelSourceFor(dst, forcedIface, out.source, error)) return false;
  if (!forcedIface.empty()) {
    out.iface = forcedIface;
  } else {
    findInterfaceOf(out);
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
