#include "next_hop.h"

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace portcullis::scan {

namespace {

constexpr size_t kBatch = 64;
// The states in which the kernel itself would send to the entry's address (its NUD_VALID).
constexpr uint16_t kUsableStates =
    NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY;

// One request: the netlink header, the family header (rtmsg or ndmsg) and attributes, appended
// to `buf` with the alignment netlink wants.
class Request {
 public:
  Request(std::vector<uint8_t>& buf, uint16_t type, uint32_t seq, const void* family,
          size_t familyLen)
      : buf_(buf), start_(buf.size()) {
    nlmsghdr h{};
    h.nlmsg_type = type;
    h.nlmsg_flags = NLM_F_REQUEST;
    h.nlmsg_seq = seq;
    append(&h, sizeof(h));
    append(family, familyLen);
  }
  void attr(uint16_t type, const void* data, size_t len) {
    rtattr a{};
    a.rta_type = type;
    a.rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
    append(&a, sizeof(a));
    append(data, len);
  }
  void finish() {
    const auto len = static_cast<uint32_t>(buf_.size() - start_);
    std::memcpy(buf_.data() + start_ + offsetof(nlmsghdr, nlmsg_len), &len, sizeof(len));
  }

 private:
  void append(const void* p, size_t len) {
    const auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + len);
    buf_.resize(NLMSG_ALIGN(buf_.size()), 0);
  }
  std::vector<uint8_t>& buf_;
  size_t start_;
};

int familyOf(const Address& a) { return a.v6 ? AF_INET6 : AF_INET; }

void addressAttr(Request& r, uint16_t type, const Address& a) {
  if (a.v6) {
    r.attr(type, a.v6addr.bytes.data(), 16);
  } else {
    const uint32_t v4 = a.v4addr.networkOrder();
    r.attr(type, &v4, 4);
  }
}

bool addressFrom(const rtattr* a, bool v6, Address& out) {
  const size_t len = RTA_PAYLOAD(a);
  out = Address{};
  out.v6 = v6;
  if (v6 && len == 16) {
    std::memcpy(out.v6addr.bytes.data(), RTA_DATA(a), 16);
    return true;
  }
  if (!v6 && len == 4) {
    uint32_t v4 = 0;
    std::memcpy(&v4, RTA_DATA(a), 4);
    out.v4addr = net::Ipv4Address::fromNetworkOrder(v4);
    return true;
  }
  return false;
}

// Sends `buf` (many requests) and calls `onReply(seq, header)` for each reply until `count`
// replies (answers or errors) have come; false when the socket fails.
template <typename OnReply>
bool exchange(int fd, const std::vector<uint8_t>& buf, size_t count, OnReply&& onReply) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) !=
      static_cast<ssize_t>(buf.size())) {
    return false;
  }
  alignas(nlmsghdr) static thread_local uint8_t rx[64 * 1024];
  size_t got = 0;
  while (got < count) {
    const ssize_t n = recv(fd, rx, sizeof(rx), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    auto left = static_cast<unsigned>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(rx); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      ++got;
      onReply(h->nlmsg_seq, h);
    }
  }
  return true;
}

}  // namespace

NeighbourTable::NeighbourTable(int ifindex)
    : ifindex_(ifindex), fd_(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) {
  if (!fd_) return;
  // A reply to one lookup takes a page of receive buffer; room for a whole batch of them.
  const int rcvbuf = static_cast<int>(kBatch) * 16 * 1024;
  if (setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0) {
    setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  }
}

std::vector<std::optional<Address>> NeighbourTable::nextHops(const std::vector<Address>& targets) {
  std::vector<std::optional<Address>> hops(targets.size());
  if (!fd_) return hops;
  std::vector<uint8_t> buf;
  for (size_t off = 0; off < targets.size(); off += kBatch) {
    const size_t n = std::min(kBatch, targets.size() - off);
    const uint32_t firstSeq = seq_;
    buf.clear();
    for (size_t i = 0; i < n; ++i) {
      const Address& dst = targets[off + i];
      rtmsg rt{};
      rt.rtm_family = static_cast<uint8_t>(familyOf(dst));
      rt.rtm_dst_len = dst.v6 ? 128 : 32;
      Request r(buf, RTM_GETROUTE, seq_++, &rt, sizeof(rt));
      addressAttr(r, RTA_DST, dst);
      r.attr(RTA_OIF, &ifindex_, sizeof(ifindex_));
      r.finish();
    }
    const bool done = exchange(fd_.get(), buf, n, [&](uint32_t seq, nlmsghdr* h) {
      const uint32_t i = seq - firstSeq;
      if (i >= n || h->nlmsg_type != RTM_NEWROUTE) return;  // an error: no route
      auto* rt = static_cast<rtmsg*>(NLMSG_DATA(h));
      if (rt->rtm_type != RTN_UNICAST) return;
      const Address& dst = targets[off + i];
      std::optional<Address> gateway;
      int oif = 0;
      int left = static_cast<int>(RTM_PAYLOAD(h));
      for (auto* a = RTM_RTA(rt); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
        Address addr;
        if (a->rta_type == RTA_GATEWAY && addressFrom(a, dst.v6, addr)) gateway = addr;
        if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) == sizeof(int)) {
          std::memcpy(&oif, RTA_DATA(a), sizeof(int));
        }
        // RTA_VIA (an IPv4 route through an IPv6 router) and anything else: not ours to frame.
        if (a->rta_type == RTA_VIA) return;
      }
      if (oif != ifindex_) return;
      hops[off + i] = gateway ? *gateway : dst;
    });
    if (!done) {
      hops.assign(targets.size(), std::nullopt);  // a failed socket: every probe goes raw
      return hops;
    }
  }
  return hops;
}

std::optional<net::MacAddress> NeighbourTable::macOf(const Address& neighbour) {
  if (!fd_) return std::nullopt;
  std::vector<uint8_t> buf;
  ndmsg nd{};
  nd.ndm_family = static_cast<uint8_t>(familyOf(neighbour));
  nd.ndm_ifindex = ifindex_;
  const uint32_t seq = seq_++;
  Request r(buf, RTM_GETNEIGH, seq, &nd, sizeof(nd));
  addressAttr(r, NDA_DST, neighbour);
  r.finish();
  std::optional<net::MacAddress> mac;
  const bool done = exchange(fd_.get(), buf, 1, [&](uint32_t replySeq, nlmsghdr* h) {
    if (replySeq != seq || h->nlmsg_type != RTM_NEWNEIGH) return;
    auto* reply = static_cast<ndmsg*>(NLMSG_DATA(h));
    if ((reply->ndm_state & kUsableStates) == 0) return;
    int left = static_cast<int>(NLMSG_PAYLOAD(h, sizeof(ndmsg)));
    auto* a =
        reinterpret_cast<rtattr*>(reinterpret_cast<uint8_t*>(reply) + NLMSG_ALIGN(sizeof(ndmsg)));
    for (; RTA_OK(a, left); a = RTA_NEXT(a, left)) {
      if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
        net::MacAddress m;
        std::memcpy(m.bytes.data(), RTA_DATA(a), 6);
        mac = m;
      }
    }
  });
  return done ? mac : std::nullopt;
}

}  // namespace portcullis::scan
