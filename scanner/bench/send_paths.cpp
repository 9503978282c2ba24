// How fast one thread can put SYN probes on an interface by each send path the scanner could
// use, measured side by side in one run (scan_bench.sh runs it against the XDP responder, so the
// target costs almost nothing): a raw IP socket with sendmmsg (portcullis-scan --send-ip, and
// its fallback), an AF_PACKET socket with PACKET_QDISC_BYPASS and sendmmsg (what portcullis-scan
// uses where it knows the next hop's MAC), and an AF_PACKET TX ring (TPACKET_V2) with
// PACKET_QDISC_BYPASS flushed by one send() per batch.
//
//   send_paths --iface IF --src A.B.C.D --dst A.B.C.D --dst-mac aa:bb:cc:dd:ee:ff [--count N]
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "packet/checksum.h"

namespace {

namespace net = portcullis::net;

constexpr size_t kBatch = 64;
constexpr size_t kFrameLen = 14 + 20 + 20;

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "send_paths: %s\nusage: send_paths --iface IF --src ADDR --dst ADDR --dst-mac MAC "
               "[--count N]\n",
               why);
  std::exit(2);
}

struct Probes {
  uint8_t srcMac[6], dstMac[6];
  in_addr src{}, dst{};
  // The SYN to `port` as an Ethernet frame; the IP packet starts 14 bytes in.
  void frame(uint16_t port, uint8_t* out) const {
    std::memcpy(out, dstMac, 6);
    std::memcpy(out + 6, srcMac, 6);
    out[12] = 0x08;
    out[13] = 0x00;
    auto* ip = reinterpret_cast<iphdr*>(out + 14);
    *ip = iphdr{};
    ip->version = 4;
    ip->ihl = 5;
    ip->tot_len = htons(40);
    ip->ttl = 64;
    ip->protocol = IPPROTO_TCP;
    ip->saddr = src.s_addr;
    ip->daddr = dst.s_addr;
    ip->check = htons(net::internetChecksum({out + 14, 20}));
    auto* tcp = reinterpret_cast<tcphdr*>(out + 34);
    *tcp = tcphdr{};
    tcp->source = htons(40000);
    tcp->dest = htons(port);
    tcp->seq = htonl(0x12345678u ^ port);
    tcp->doff = 5;
    tcp->syn = 1;
    tcp->window = htons(1024);
    const uint32_t pseudo =
        net::pseudoHeaderSum(net::Ipv4Address::fromNetworkOrder(src.s_addr),
                             net::Ipv4Address::fromNetworkOrder(dst.s_addr), IPPROTO_TCP, 20);
    tcp->check = htons(net::checksumFinish(net::checksumAdd(pseudo, {out + 34, 20})));
  }
};

uint16_t portOf(size_t i) { return uint16_t(1 + i % 65535); }

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// sendmmsg of `count` probes in batches; `l2` sends whole frames, else IP packets to `to`.
double sendBatched(int fd, const Probes& p, size_t count, bool l2, const sockaddr* to,
                   socklen_t toLen) {
  std::vector<uint8_t> frames(kBatch * kFrameLen);
  std::vector<iovec> iov(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  const size_t skip = l2 ? 0 : 14;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t done = 0; done < count;) {
    size_t n = std::min(kBatch, count - done);
    for (size_t i = 0; i < n; ++i) {
      p.frame(portOf(done + i), &frames[i * kFrameLen]);
      iov[i] = {&frames[i * kFrameLen + skip], kFrameLen - skip};
      msgs[i] = mmsghdr{};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = const_cast<sockaddr*>(to);
      msgs[i].msg_hdr.msg_namelen = toLen;
    }
    size_t sent = 0;
    while (sent < n) {
      int rc = sendmmsg(fd, msgs.data() + sent, unsigned(n - sent), 0);
      if (rc > 0) {
        sent += size_t(rc);
      } else if (errno == ENOBUFS || errno == EAGAIN) {
        usleep(50);
      } else {
        std::perror("sendmmsg");
        return -1;
      }
    }
    done += n;
  }
  return secondsSince(t0);
}

double sendRing(int fd, const Probes& p, size_t count) {
  int version = TPACKET_V2;
  setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version));
  tpacket_req req{};
  req.tp_frame_size = 2048;
  req.tp_block_size = 1 << 16;
  req.tp_block_nr = 16;
  req.tp_frame_nr = req.tp_block_size / req.tp_frame_size * req.tp_block_nr;
  if (setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) != 0) {
    std::perror("PACKET_TX_RING");
    return -1;
  }
  size_t ringLen = size_t(req.tp_block_size) * req.tp_block_nr;
  auto* ring =
      static_cast<uint8_t*>(mmap(nullptr, ringLen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  if (ring == MAP_FAILED) {
    std::perror("mmap");
    return -1;
  }
  const size_t data = TPACKET_ALIGN(sizeof(tpacket2_hdr));
  size_t slot = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t done = 0; done < count;) {
    size_t n = std::min(kBatch, count - done);
    for (size_t i = 0; i < n; ++i) {
      auto* hdr = reinterpret_cast<tpacket2_hdr*>(ring + slot * req.tp_frame_size);
      while (__atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE) {
        send(fd, nullptr, 0, 0);  // the ring is full: let the kernel drain it
      }
      p.frame(portOf(done + i), reinterpret_cast<uint8_t*>(hdr) + data);
      hdr->tp_len = kFrameLen;
      __atomic_store_n(&hdr->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
      slot = (slot + 1) % req.tp_frame_nr;
    }
    if (send(fd, nullptr, 0, 0) < 0 && errno != ENOBUFS) {
      std::perror("send");
      return -1;
    }
    done += n;
  }
  double t = secondsSince(t0);
  munmap(ring, ringLen);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  std::string iface, src, dst, dstMac;
  size_t count = 262140;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--iface")
      iface = v;
    else if (k == "--src")
      src = v;
    else if (k == "--dst")
      dst = v;
    else if (k == "--dst-mac")
      dstMac = v;
    else if (k == "--count")
      count = std::strtoul(v.c_str(), nullptr, 10);
    else
      usage(("unknown argument " + k).c_str());
  }
  Probes p;
  unsigned mac[6];
  if (iface.empty() || inet_pton(AF_INET, src.c_str(), &p.src) != 1 ||
      inet_pton(AF_INET, dst.c_str(), &p.dst) != 1 ||
      std::sscanf(dstMac.c_str(), "%x:%x:%x:%x:%x:%x", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4],
                  &mac[5]) != 6 ||
      count == 0) {
    usage("missing or bad arguments");
  }
  for (int i = 0; i < 6; ++i) p.dstMac[i] = uint8_t(mac[i]);
  int ifindex = int(if_nametoindex(iface.c_str()));
  if (!ifindex) usage("no such interface");
  {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ifreq ifr{};
    std::snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface.c_str());
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) usage("cannot read the interface's MAC");
    std::memcpy(p.srcMac, ifr.ifr_hwaddr.sa_data, 6);
    close(fd);
  }
  auto packetSocket = [&] {
    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    sockaddr_ll ll{};
    ll.sll_family = AF_PACKET;
    ll.sll_ifindex = ifindex;
    ll.sll_protocol = 0;  // send only
    int one = 1;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&ll), sizeof(ll)) != 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) != 0) {
      usage("cannot open an AF_PACKET socket with PACKET_QDISC_BYPASS (CAP_NET_RAW?)");
    }
    return fd;
  };
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr = p.dst;
  sockaddr_ll ll{};
  ll.sll_family = AF_PACKET;
  ll.sll_ifindex = ifindex;
  ll.sll_halen = 6;
  std::memcpy(ll.sll_addr, p.dstMac, 6);

  int raw = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  int pkt = packetSocket();
  if (raw < 0 || pkt < 0) usage("needs CAP_NET_RAW");
  std::printf("| send path (one thread, %zu SYN probes) | Mpps |\n|---|---:|\n", count);
  for (int round = 0; round < 2; ++round) {  // the second round is the one printed: warm
    double tRaw = sendBatched(raw, p, count, false, reinterpret_cast<sockaddr*>(&to), sizeof(to));
    double tPkt = sendBatched(pkt, p, count, true, reinterpret_cast<sockaddr*>(&ll), sizeof(ll));
    int ring = packetSocket();  // a TX ring is set up once per socket
    double tRing = sendRing(ring, p, count);
    close(ring);
    if (round == 0) continue;
    std::printf("| raw IP socket, sendmmsg x%zu (portcullis-scan --send-ip) | %.2f |\n", kBatch,
                count / tRaw / 1e6);
    std::printf("| AF_PACKET, PACKET_QDISC_BYPASS, sendmmsg x%zu (portcullis-scan) | %.2f |\n",
                kBatch, count / tPkt / 1e6);
    std::printf("| AF_PACKET TX ring (TPACKET_V2), PACKET_QDISC_BYPASS, send() per %zu | %.2f |\n",
                kBatch, count / tRing / 1e6);
  }
  return 0;
}
