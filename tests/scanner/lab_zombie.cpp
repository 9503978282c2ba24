// pcs_lab_zombie: an idle-scan zombie for the scanner's test lab. Linux cannot be one (its RSTs
// carry IP ID 0 with DF set, other packets per-destination IDs), so this is a host in user
// space, on an AF_PACKET socket, owning an IPv4 address that the kernel of its namespace does
// not have (the kernel never answers for it). Like an old Windows box or a printer, it has one
// global IP ID counter that every packet it sends takes and increments:
//   * ARP requests for its address get a reply (ARP has no IP ID);
//   * a TCP segment with ACK set (SYN/ACK, stray ACK) gets a RST with seq = its ACK;
//   * a SYN or other segment without ACK gets RST/ACK (no port is open); RSTs get nothing.
// Replies go to the Ethernet source of the packet answered, so it needs no ARP of its own: a
// SYN/ACK spoofed "from" the target is answered towards whoever sent it, which moves the counter
// exactly as a real zombie's answer through a router would.
//
//   pcs_lab_zombie --iface IF --addr A [--mac M] [--start-id N] [--little-endian]
// --mac defaults to the interface's address; --start-id (default 1) lets a test cross the
// 65535 -> 0 wrap; --little-endian writes the counter in host order, as old Windows stacks did
// (nmap's "Broken little-endian incremental": each packet adds 256 on the wire). Prints "ready"
// when listening; exits on SIGTERM or SIGINT, printing how many packets it sent.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "packet/builder.h"
#include "packet/parser.h"

namespace {

volatile std::sig_atomic_t gStop = 0;
void onSignal(int) { gStop = 1; }

struct __attribute__((packed)) ArpWire {
  uint16_t htype, ptype;
  uint8_t hlen, plen;
  uint16_t op;
  uint8_t sha[6];
  uint32_t spa;
  uint8_t tha[6];
  uint32_t tpa;
};
static_assert(sizeof(ArpWire) == 28);

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "pcs_lab_zombie: %s\n", msg.c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  std::string iface;
  std::string addrText;
  std::string macText;
  unsigned long startId = 1;
  bool littleEndian = false;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--little-endian") {
      littleEndian = true;
      continue;
    }
    if (i + 1 >= argc) die("missing value for " + k);
    ++i;
    if (k == "--iface")
      iface = argv[i];
    else if (k == "--addr")
      addrText = argv[i];
    else if (k == "--mac")
      macText = argv[i];
    else if (k == "--start-id")
      startId = std::strtoul(argv[i], nullptr, 10);
    else
      die("unknown option " + k);
  }
  if (iface.empty() || addrText.empty()) {
    die("usage: pcs_lab_zombie --iface IF --addr A [--mac M] [--start-id N] [--little-endian]");
  }
  const auto addr = portcullis::net::Ipv4Address::parse(addrText);
  if (!addr) die("bad address " + addrText);
  const unsigned ifindex = if_nametoindex(iface.c_str());
  if (ifindex == 0) die("no interface " + iface);

  const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) die(std::string("AF_PACKET socket: ") + std::strerror(errno));
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = static_cast<int>(ifindex);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0) {
    die(std::string("bind: ") + std::strerror(errno));
  }
  portcullis::net::MacAddress mac;
  if (!macText.empty()) {
    const auto m = portcullis::net::MacAddress::parse(macText);
    if (!m) die("bad MAC " + macText);
    mac = *m;
  } else {
    ifreq ifr{};
    std::snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface.c_str());
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) {
      die(std::string("SIOCGIFHWADDR: ") + std::strerror(errno));
    }
    std::memcpy(mac.bytes.data(), ifr.ifr_hwaddr.sa_data, 6);
  }
  // A MAC of our own (not the interface's) needs the frames the bridge floods to us.
  packet_mreq mr{};
  mr.mr_ifindex = static_cast<int>(ifindex);
  mr.mr_type = PACKET_MR_PROMISC;
  if (!macText.empty()) setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr));

  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  uint16_t ipId = static_cast<uint16_t>(startId);
  unsigned long sent = 0;
  auto transmit = [&](const std::vector<uint8_t>& frame) {
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = static_cast<int>(ifindex);
    to.sll_halen = 6;
    std::memcpy(to.sll_addr, frame.data(), 6);
    if (sendto(fd, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) >
        0) {
      ++sent;
    }
  };

  std::printf("ready\n");
  std::fflush(stdout);
  std::vector<uint8_t> buf(65536);
  const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  while (!gStop) {
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, 200) <= 0) continue;
    sockaddr_ll from{};
    socklen_t flen = sizeof(from);
    const ssize_t n = recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT,
                               reinterpret_cast<sockaddr*>(&from), &flen);
    if (n < static_cast<ssize_t>(sizeof(portcullis::net::EthernetWire))) continue;
    if (from.sll_pkttype == PACKET_OUTGOING) continue;
    const auto* eth = reinterpret_cast<const portcullis::net::EthernetWire*>(buf.data());
    const bool toUs = std::memcmp(eth->dst, mac.bytes.data(), 6) == 0;
    const bool toAll = std::memcmp(eth->dst, broadcast, 6) == 0;
    if (!toUs && !toAll) continue;  // flooded frames for other hosts
    portcullis::net::MacAddress peer;
    std::memcpy(peer.bytes.data(), eth->src, 6);
    const uint16_t etherType = ntohs(eth->etherType);

    if (etherType == portcullis::net::kEtherTypeArp &&
        n >= static_cast<ssize_t>(sizeof(portcullis::net::EthernetWire) + sizeof(ArpWire))) {
      ArpWire arp;
      std::memcpy(&arp, buf.data() + sizeof(portcullis::net::EthernetWire), sizeof(arp));
      if (ntohs(arp.op) != 1 || arp.tpa != addr->networkOrder()) continue;
      ArpWire reply = arp;
      reply.op = htons(2);
      std::memcpy(reply.sha, mac.bytes.data(), 6);
      reply.spa = addr->networkOrder();
      std::memcpy(reply.tha, arp.sha, 6);
      reply.tpa = arp.spa;
      std::vector<uint8_t> frame(sizeof(portcullis::net::EthernetWire) + sizeof(ArpWire));
      portcullis::net::EthernetHeader()
          .setDst(peer)
          .setSrc(mac)
          .setEtherType(portcullis::net::kEtherTypeArp)
          .serialize(frame.data());
      std::memcpy(frame.data() + sizeof(portcullis::net::EthernetWire), &reply, sizeof(reply));
      transmit(frame);
      continue;
    }
    if (!toUs || etherType != portcullis::net::kEtherTypeIpv4) continue;

    portcullis::net::ParsedPacket p;
    if (!portcullis::net::parsePacket({buf.data(), static_cast<size_t>(n)},
                                      portcullis::net::LinkType::kEthernet, p) ||
        p.ipv4 == nullptr || p.tcp == nullptr || p.laterFragment) {
      continue;
    }
    if (p.ipv4->dst != addr->networkOrder()) continue;
    const uint8_t flags = p.tcp->flags;
    if (flags & portcullis::net::tcp_flags::kRst) continue;
    const uint32_t seq = ntohl(p.tcp->seq);
    const uint32_t ack = ntohl(p.tcp->ack);
    portcullis::net::TcpHeader rst;
    rst.setSrcPort(ntohs(p.tcp->dstPort)).setDstPort(ntohs(p.tcp->srcPort)).setWindow(0);
    if (flags & portcullis::net::tcp_flags::kAck) {
      rst.setSeq(ack).setFlags(portcullis::net::tcp_flags::kRst);
    } else {
      // RFC 9293 3.10.7.1: no ACK in the segment, so the RST acknowledges everything it held.
      uint32_t len = static_cast<uint32_t>(p.payload.size());
      if (flags & portcullis::net::tcp_flags::kSyn) ++len;
      if (flags & portcullis::net::tcp_flags::kFin) ++len;
      rst.setSeq(0).setAck(seq + len).setFlags(portcullis::net::tcp_flags::kRst |
                                               portcullis::net::tcp_flags::kAck);
    }
    const auto frame =
        portcullis::net::PacketBuilder()
            .ethernet(portcullis::net::EthernetHeader().setDst(peer).setSrc(mac))
            .ipv4(portcullis::net::Ipv4Header()
                      .setSrc(*addr)
                      .setDst(portcullis::net::Ipv4Address::fromNetworkOrder(p.ipv4->src))
                      .setTtl(128)
                      .setId(littleEndian ? static_cast<uint16_t>(ipId << 8 | ipId >> 8) : ipId))
            .tcp(rst)
            .build();
    transmit(frame);
    ++ipId;
  }
  std::fprintf(stderr, "pcs_lab_zombie: sent %lu packets, next IP ID %u\n", sent, unsigned{ipId});
  close(fd);
  return 0;
}
