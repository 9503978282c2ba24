#include "scan_traffic.h"

#include <algorithm>
#include <iterator>

#include "packet/builder.h"

namespace portcullis::testing {

using namespace portcullis::net;

namespace {

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kUrg = 0x20;

std::vector<uint8_t> tcp(const std::string& src, const std::string& dst, uint16_t sport,
                         uint16_t dport, uint8_t flags, bool stackOptions = false,
                         size_t payload = 0) {
  TcpHeader t;
  t.setSrcPort(sport).setDstPort(dport).setFlags(flags).setSeq(1000).setWindow(stackOptions ? 64240
                                                                                            : 1024);
  if (flags & kAck) t.setAck(2000);
  if (stackOptions) {
    // What Linux's connect() sends: MSS, SACK-permitted, timestamps, window scale.
    t.addMss(1460).addSackPermitted().addTimestamp(12345, 0).addWindowScale(7);
  } else if (flags == kSyn) {
    t.addMss(1460);  // nmap's raw SYN
  }
  std::vector<uint8_t> body(payload, 'x');
  PacketBuilder b;
  b.ethernet(EthernetHeader())
      .ipv4(Ipv4Header().setSrc(*Ipv4Address::parse(src)).setDst(*Ipv4Address::parse(dst)))
      .tcp(t);
  if (payload) b.payload(body);
  return b.build();
}

std::vector<uint8_t> udp(const std::string& src, const std::string& dst, uint16_t sport,
                         uint16_t dport) {
  PacketBuilder b;
  b.ethernet(EthernetHeader())
      .ipv4(Ipv4Header().setSrc(*Ipv4Address::parse(src)).setDst(*Ipv4Address::parse(dst)))
      .udp(UdpHeader().setSrcPort(sport).setDstPort(dport));
  return b.build();
}

std::vector<uint8_t> portUnreachable(const std::string& from, const std::string& to,
                                     const std::vector<uint8_t>& probe) {
  // The quoted datagram: the probe's IP header and first 8 bytes of UDP.
  std::vector<uint8_t> quote(probe.begin() + 14, probe.begin() + 14 + 28);
  PacketBuilder b;
  b.ethernet(EthernetHeader())
      .ipv4(Ipv4Header().setSrc(*Ipv4Address::parse(from)).setDst(*Ipv4Address::parse(to)))
      .icmp(IcmpHeader().setType(3).setCode(3))
      .payload(quote);
  return b.build();
}

}  // namespace

std::vector<uint16_t> portRange(uint16_t first, uint16_t last) {
  std::vector<uint16_t> v;
  for (uint32_t p = first; p <= last; ++p) v.push_back(uint16_t(p));
  return v;
}

std::vector<TimedFrame> scanTraffic(const ScanSpec& spec) {
  if (!spec.dsts.empty()) {
    // One pass per destination, interleaved in time the way a scanner walks a range.
    std::vector<std::vector<TimedFrame>> parts;
    for (size_t i = 0; i < spec.dsts.size(); ++i) {
      ScanSpec one = spec;
      one.dsts.clear();
      one.dst = spec.dsts[i];
      one.startMicros = spec.startMicros + i * spec.gapMicros;
      one.gapMicros = spec.gapMicros * spec.dsts.size();
      parts.push_back(scanTraffic(one));
    }
    return merge(std::move(parts));
  }
  const ScanSpec& s = spec;
  std::vector<TimedFrame> out;
  uint64_t t = s.startMicros;
  uint16_t sport = 40000;
  const std::string& a = s.src;
  const std::string& v = s.dst;
  auto add = [&](uint64_t at, std::vector<uint8_t> f) { out.push_back({at, std::move(f)}); };
  for (uint16_t port : s.ports) {
    bool open = s.open.count(port) != 0;
    const std::string& type = s.type;
    if (type == "connect") sport++;  // connect() takes a new ephemeral port per probe
    if (type == "syn") {
      add(t, tcp(a, v, sport, port, kSyn));
      if (open) {
        add(t + 50, tcp(v, a, port, sport, kSyn | kAck));
        if (s.reacts) add(t + 100, tcp(a, v, sport, port, kRst));
      } else {
        add(t + 50, tcp(v, a, port, sport, kRst | kAck));
      }
    } else if (type == "connect") {
      add(t, tcp(a, v, sport, port, kSyn, true));
      if (open) {
        add(t + 50, tcp(v, a, port, sport, kSyn | kAck, true));
        add(t + 100, tcp(a, v, sport, port, kAck));
        add(t + 150, tcp(a, v, sport, port, kRst | kAck));
      } else {
        add(t + 50, tcp(v, a, port, sport, kRst | kAck));
      }
    } else if (type == "ack" || type == "window") {
      add(t, tcp(a, v, sport, port, kAck));
      add(t + 50, tcp(v, a, port, sport, kRst));
    } else if (type == "null" || type == "fin" || type == "xmas" || type == "maimon") {
      uint8_t flags = type == "null"   ? 0
                      : type == "fin"  ? kFin
                      : type == "xmas" ? uint8_t(kFin | kPsh | kUrg)
                                       : uint8_t(kFin | kAck);
      add(t, tcp(a, v, sport, port, flags));
      if (!open) add(t + 50, tcp(v, a, port, sport, type == "maimon" ? kRst : kRst | kAck));
    } else if (type == "udp") {
      auto probe = udp(a, v, sport, port);
      add(t, probe);
      if (open) {
        add(t + 50, udp(v, a, port, sport));
      } else {
        add(t + 50, portUnreachable(v, a, probe));
      }
    }
    t += s.gapMicros;
  }
  return out;
}

std::vector<TimedFrame> merge(std::vector<std::vector<TimedFrame>> parts) {
  std::vector<TimedFrame> all;
  size_t total = 0;
  for (const auto& p : parts) total += p.size();
  all.reserve(total);
  // Moved, not copied: busy captures hold a million frames.
  for (auto& p : parts)
    all.insert(all.end(), std::make_move_iterator(p.begin()), std::make_move_iterator(p.end()));
  std::stable_sort(all.begin(), all.end(), [](const TimedFrame& x, const TimedFrame& y) {
    return x.tsMicros < y.tsMicros;
  });
  return all;
}

std::vector<std::string> hostRange(const std::string& prefix, int first, int count) {
  std::vector<std::string> v;
  for (int i = 0; i < count; ++i) v.push_back(prefix + std::to_string(first + i));
  return v;
}

std::vector<TimedFrame> icmpSweep(const std::string& src, const std::vector<std::string>& hosts,
                                  uint64_t start, uint64_t gap) {
  std::vector<TimedFrame> out;
  uint64_t t = start;
  uint16_t seq = 1;
  for (const std::string& h : hosts) {
    for (bool reply : {false, true}) {
      PacketBuilder b;
      b.ethernet(EthernetHeader())
          .ipv4(Ipv4Header()
                    .setSrc(*Ipv4Address::parse(reply ? h : src))
                    .setDst(*Ipv4Address::parse(reply ? src : h)))
          .icmp(IcmpHeader().setType(reply ? 0 : 8).setCode(0).setId(77).setSequence(seq));
      out.push_back({t + (reply ? 40 : 0), b.build()});
    }
    ++seq;
    t += gap;
  }
  return out;
}

namespace {

/// One packet of a scripted TCP connection: who sends it, its flags, its payload.
struct Step {
  bool fromClient;
  uint8_t flags;
  bool stackOptions = false;
  size_t payload = 0;
};

// `connections` runs of `script` between client and server:port, 40 us between packets.
std::vector<TimedFrame> scripted(const std::string& client, const std::string& server,
                                 uint16_t port, uint16_t firstSport, int connections,
                                 uint64_t start, uint64_t gap, const std::vector<Step>& script) {
  std::vector<TimedFrame> out;
  uint64_t t = start;
  for (int i = 0; i < connections; ++i) {
    uint16_t sport = uint16_t(firstSport + i);
    uint64_t at = t;
    for (const Step& step : script) {
      out.push_back({at, step.fromClient ? tcp(client, server, sport, port, step.flags,
                                               step.stackOptions, step.payload)
                                         : tcp(server, client, port, sport, step.flags,
                                               step.stackOptions, step.payload)});
      at += 40;
    }
    t += gap;
  }
  return out;
}

}  // namespace

std::vector<TimedFrame> outgoingConnections(const std::string& h, const std::string& srv,
                                            int connections, uint64_t start, uint64_t gap) {
  // The host opens an HTTPS connection; the server closes first.
  return scripted(h, srv, 443, 45000, connections, start, gap,
                  {{true, kSyn, true},
                   {false, kSyn | kAck, true},
                   {true, kAck},
                   {true, kPsh | kAck, false, 300},
                   {false, kPsh | kAck, false, 1400},
                   {true, kAck},
                   {false, kFin | kAck},
                   {true, kFin | kAck},
                   {false, kAck}});
}

std::vector<TimedFrame> benignConnections(const std::string& c, const std::string& s,
                                          int connections, uint64_t start, uint64_t gap) {
  // A client's HTTP request and response; the client closes first.
  return scripted(c, s, 80, 33000, connections, start, gap,
                  {{true, kSyn, true},
                   {false, kSyn | kAck, true},
                   {true, kAck},
                   {true, kPsh | kAck, false, 120},
                   {false, kAck},
                   {false, kPsh | kAck, false, 900},
                   {true, kAck},
                   {true, kFin | kAck},
                   {false, kFin | kAck},
                   {true, kAck}});
}

}  // namespace portcullis::testing
