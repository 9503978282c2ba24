#include "arp_ping.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netpacket/packet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <thread>
#include <unordered_map>

#include "net_util.h"
#include "packet/ethernet.h"
#include "timing.h"

namespace portcullis::scan {
namespace {

constexpr uint16_t kArpOpRequest = 1;
constexpr uint16_t kArpOpReply = 2;
constexpr size_t kArpFrameLen = 14 + 28;
constexpr size_t kMinFrameLen = 60;

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

}  // namespace

std::vector<AddressPrefix> ethernetNeighbourPrefixes(const std::string& iface) {
  std::vector<AddressPrefix> prefixes;
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return prefixes;
  bool ethernet = false;
  for (ifaddrs* i = ifs; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || iface != i->ifa_name) continue;
    if (i->ifa_addr->sa_family == AF_PACKET) {
      const auto* ll = reinterpret_cast<const sockaddr_ll*>(i->ifa_addr);
      ethernet = ll->sll_hatype == ARPHRD_ETHER && (i->ifa_flags & IFF_LOOPBACK) == 0;
    } else if (i->ifa_addr->sa_family == AF_INET && i->ifa_netmask != nullptr) {
      const uint32_t mask =
          ntohl(reinterpret_cast<const sockaddr_in*>(i->ifa_netmask)->sin_addr.s_addr);
      AddressPrefix p;
      p.length = std::popcount(mask);
      if (p.length == 32) continue;  // a host route: no neighbours behind it
      p.base.v4addr.value =
          ntohl(reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr) & mask;
      prefixes.push_back(p);
    }
  }
  freeifaddrs(ifs);
  if (!ethernet) prefixes.clear();
  return prefixes;
}

std::vector<uint8_t> arpRequestFrame(const net::MacAddress& ourMac, net::Ipv4Address ourIp,
                                     net::Ipv4Address target) {
  std::vector<uint8_t> f(kMinFrameLen, 0);
  std::fill(f.begin(), f.begin() + 6, 0xff);  // broadcast
  std::copy(ourMac.bytes.begin(), ourMac.bytes.end(), f.begin() + 6);
  put16(&f[12], net::kEtherTypeArp);
  uint8_t* a = &f[14];
  put16(a, ARPHRD_ETHER);
  put16(a + 2, net::kEtherTypeIpv4);
  a[4] = 6;
  a[5] = 4;
  put16(a + 6, kArpOpRequest);
  std::copy(ourMac.bytes.begin(), ourMac.bytes.end(), a + 8);
  const uint32_t src = ourIp.networkOrder();
  std::memcpy(a + 14, &src, 4);
  // Target hardware address stays zero: that is what we ask for.
  const uint32_t dst = target.networkOrder();
  std::memcpy(a + 24, &dst, 4);
  return f;
}

bool parseArpReply(const uint8_t* frame, size_t len, net::Ipv4Address& senderIp,
                   net::MacAddress& senderMac) {
  if (len < kArpFrameLen || get16(frame + 12) != net::kEtherTypeArp) return false;
  const uint8_t* a = frame + 14;
  if (get16(a) != ARPHRD_ETHER || get16(a + 2) != net::kEtherTypeIpv4 || a[4] != 6 || a[5] != 4 ||
      get16(a + 6) != kArpOpReply) {
    return false;
  }
  std::copy(a + 8, a + 14, senderMac.bytes.begin());
  uint32_t ip = 0;
  std::memcpy(&ip, a + 14, 4);
  senderIp = net::Ipv4Address::fromNetworkOrder(ip);
  return true;
}

namespace {

// A packet socket bound to `iface` for ARP frames, and the interface's MAC address.
bool openArpSocket(const std::string& iface, UniqueFd& fd, net::MacAddress& ourMac,
                   std::string& error) {
  fd.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP)));
  if (!fd) {
    error = std::string("cannot open a packet socket for ARP: ") + std::strerror(errno);
    return false;
  }
  const unsigned ifindex = if_nametoindex(iface.c_str());
  if (ifindex == 0) {
    error = "no such interface '" + iface + "'";
    return false;
  }
  const auto link = ethernetLink(iface);
  if (!link) {
    error = "cannot read the MAC address of '" + iface + "': " + std::strerror(errno);
    return false;
  }
  ourMac = link->mac;
  sockaddr_ll ll{};
  ll.sll_family = AF_PACKET;
  ll.sll_protocol = htons(ETH_P_ARP);
  ll.sll_ifindex = static_cast<int>(ifindex);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&ll), sizeof(ll)) != 0) {
    error = "cannot bind to '" + iface + "': " + std::strerror(errno);
    return false;
  }
  const int rcvbuf = 4 << 20;  // a few thousand replies may arrive in one burst
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  return true;
}

// One ARP sweep: rounds of requests to the hosts still silent, each followed by a wait of one
// RTO for their replies.
class ArpSweep {
 public:
  ArpSweep(int fd, const net::MacAddress& ourMac, net::Ipv4Address source,
           const std::vector<net::Ipv4Address>& hosts, const ArpConfig& cfg)
      : fd_(fd),
        ourMac_(ourMac),
        source_(source),
        hosts_(hosts),
        cfg_(cfg),
        replies_(hosts.size()),
        sentUs_(hosts.size(), 0),
        rtt_(cfg.initialTimeoutUs, cfg.minTimeoutUs, cfg.maxTimeoutUs) {
    index_.reserve(hosts.size() * 2);
    for (size_t i = 0; i < hosts.size(); ++i) index_.emplace(hosts[i].value, i);
    unanswered_ = index_.size();  // duplicates share one slot
  }

  std::vector<ArpReply> run() {
    for (int round = 0; round <= cfg_.maxRetries && unanswered_ > 0; ++round) {
      sendRound();
      awaitReplies(monotonicMicros() + rtt_.rtoUs());
    }
    // Duplicated targets share their first copy's answer.
    for (size_t i = 0; i < hosts_.size(); ++i) replies_[i] = replies_[index_[hosts_[i].value]];
    return replies_;
  }

 private:
  void sendRound() {
    const int64_t roundStart = monotonicMicros();
    size_t sent = 0;
    for (const auto& [ip, i] : index_) {
      if (replies_[i].answered) continue;
      if (cfg_.maxRate > 0) {
        // Pace against the round's start, so a slow send never bunches the next ones.
        const auto due =
            roundStart + static_cast<int64_t>(static_cast<double>(sent) * 1e6 / cfg_.maxRate);
        const int64_t wait = due - monotonicMicros();
        if (wait > 0) std::this_thread::sleep_for(std::chrono::microseconds(wait));
      }
      const auto frame = arpRequestFrame(ourMac_, source_, hosts_[i]);
      sentUs_[i] = monotonicMicros();
      for (int tries = 0; tries < 50; ++tries) {
        if (send(fd_, frame.data(), frame.size(), 0) >= 0) break;
        if (errno != ENOBUFS && errno != EAGAIN) break;
        std::this_thread::sleep_for(std::chrono::microseconds(200));  // device queue full
      }
      ++sent;
      if (sent % 64 == 0) drain();
    }
  }

  void awaitReplies(int64_t deadline) {
    for (int64_t now = monotonicMicros(); unanswered_ > 0 && now < deadline;
         now = monotonicMicros()) {
      pollfd p{fd_, POLLIN, 0};
      const int ms = static_cast<int>(std::max<int64_t>((deadline - now + 999) / 1000, 1));
      if (poll(&p, 1, ms) > 0) drain();
    }
  }

  void drain() {
    uint8_t buf[256];
    for (;;) {
      const ssize_t n = recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n < 0) return;
      net::Ipv4Address ip;
      net::MacAddress mac;
      if (!parseArpReply(buf, static_cast<size_t>(n), ip, mac)) continue;
      const auto it = index_.find(ip.value);
      if (it == index_.end() || replies_[it->second].answered) continue;
      ArpReply& r = replies_[it->second];
      r.answered = true;
      r.mac = mac;
      r.rttUs = std::max<int64_t>(monotonicMicros() - sentUs_[it->second], 1);
      rtt_.addSample(r.rttUs);
      --unanswered_;
    }
  }

  int fd_;
  const net::MacAddress& ourMac_;
  net::Ipv4Address source_;
  const std::vector<net::Ipv4Address>& hosts_;
  const ArpConfig& cfg_;
  std::vector<ArpReply> replies_;
  std::vector<int64_t> sentUs_;
  std::unordered_map<uint32_t, size_t> index_;
  size_t unanswered_ = 0;
  RttEstimator rtt_;
};

}  // namespace

std::optional<std::vector<ArpReply>> arpPing(const std::string& iface, net::Ipv4Address source,
                                             const std::vector<net::Ipv4Address>& hosts,
                                             const ArpConfig& cfg, std::string& error) {
  UniqueFd fd;
  net::MacAddress ourMac;
  if (!openArpSocket(iface, fd, ourMac, error)) return std::nullopt;
  return ArpSweep(fd.get(), ourMac, source, hosts, cfg).run();
}

}  // namespace portcullis::scan
