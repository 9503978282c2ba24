#include "datapath/net_util.h"

#include <sys/stat.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace portcullis {

std::string namespacedPinRoot(const std::string& pinRoot) {
  struct stat st {};
  if (stat("/proc/self/ns/net", &st) != 0) return pinRoot + "/net0";
  return pinRoot + "/net" + std::to_string(uint64_t(st.st_ino));
}

std::string formatAddr(const pc_addr& addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (pc_addr_is_v4(&addr)) {
    inet_ntop(AF_INET, &addr.w[3], buf, sizeof(buf));
  } else {
    inet_ntop(AF_INET6, addr.w, buf, sizeof(buf));
  }
  return buf;
}

std::optional<pc_addr> parseAddr(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  std::string s(text);
  pc_addr a{};
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    pc_addr_from_v4(&a, v4.s_addr);
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.w) == 1) return a;
  return std::nullopt;
}

std::optional<Prefix> parsePrefix(std::string_view text) {
  auto slash = text.find('/');
  auto addr = parseAddr(text.substr(0, slash));
  if (!addr) return std::nullopt;
  bool v4 = pc_addr_is_v4(&*addr);
  unsigned maxLen = v4 ? 32 : 128;
  unsigned len = maxLen;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
        len > maxLen) {
      return std::nullopt;
    }
  }
  Prefix p{*addr, v4 ? len + 96 : len};
  // Clear host bits so equal prefixes compare equal.
  auto* bytes = reinterpret_cast<unsigned char*>(p.addr.w);
  for (unsigned bit = p.length; bit < 128; ++bit) bytes[bit / 8] &= ~(0x80u >> (bit % 8));
  return p;
}

bool prefixContains(const Prefix& p, const pc_addr& a) {
  auto* x = reinterpret_cast<const uint8_t*>(p.addr.w);
  auto* y = reinterpret_cast<const uint8_t*>(a.w);
  unsigned full = p.length / 8, rest = p.length % 8;
  if (std::memcmp(x, y, full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = uint8_t(0xff << (8 - rest));
  return (x[full] & mask) == (y[full] & mask);
}

std::string formatPrefix(const Prefix& p) {
  std::string s = formatAddr(p.addr);
  if (p.length == 128) return s;
  unsigned len = pc_addr_is_v4(&p.addr) ? p.length - 96 : p.length;
  return s + "/" + std::to_string(len);
}

std::vector<pc_addr> interfaceAddrs(const std::string& iface) {
  std::vector<pc_addr> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* it = list; it; it = it->ifa_next) {
    if (!it->ifa_addr || iface != it->ifa_name) continue;
    pc_addr a{};
    if (it->ifa_addr->sa_family == AF_INET) {
      pc_addr_from_v4(&a, reinterpret_cast<sockaddr_in*>(it->ifa_addr)->sin_addr.s_addr);
      out.push_back(a);
    } else if (it->ifa_addr->sa_family == AF_INET6) {
      std::memcpy(a.w, &reinterpret_cast<sockaddr_in6*>(it->ifa_addr)->sin6_addr, 16);
      out.push_back(a);
    }
  }
  freeifaddrs(list);
  return out;
}

}  // namespace portcullis
