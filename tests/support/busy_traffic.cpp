#include "busy_traffic.h"

#include <algorithm>
#include <array>
#include <random>
#include <span>
#include <string_view>
#include <unordered_set>

#include "packet/builder.h"

namespace portcullis::testing {

using namespace portcullis::net;

namespace {

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;
constexpr uint64_t kSecond = 1'000'000;
constexpr uint8_t kIpProtoGre = 47, kIpProtoEsp = 50;

// Random numbers that are the same on every platform. mt19937_64 is fully specified by the
// standard, but the std:: distributions and std::shuffle are not (libstdc++ and libc++ differ),
// and a capture that changes with the toolchain makes a failure unreproducible elsewhere.
class Rng {
 public:
  // Each generator salts the seed with its own name, so adding a generator to a scenario (or
  // reordering them) leaves every other generator's traffic as it was.
  Rng(uint64_t seed, std::string_view salt) : g_(mix(seed ^ mix(fnv1a(salt)))) {}

  uint64_t next() { return g_(); }
  /// Uniform in [0, n); n > 0.
  uint64_t below(uint64_t n) { return uint64_t((unsigned __int128)g_() * n >> 64); }
  /// Uniform in [lo, hi].
  uint64_t between(uint64_t lo, uint64_t hi) { return lo + below(hi - lo + 1); }
  bool chance(double p) { return double(g_() >> 11) * 0x1.0p-53 < p; }
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }
  template <typename T, size_t N>
  T pick(const std::array<T, N>& choices) {
    return choices[below(N)];
  }

 private:
  static uint64_t fnv1a(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (char c : s) h = (h ^ uint8_t(c)) * 0x100000001b3ull;
    return h;
  }
  // splitmix64's finaliser: nearby seeds (1, 2, 3…) give unrelated streams.
  static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  std::mt19937_64 g_;
};

// The server's link: every frame crosses one router, so captures look like a real uplink.
const MacAddress kRouterMac{{0x02, 0x00, 0x5e, 0x00, 0x00, 0x01}};
const MacAddress kServerMac{{0x02, 0x00, 0x5e, 0x00, 0x00, 0x02}};

EthernetHeader link(bool toServer) {
  return EthernetHeader()
      .setSrc(toServer ? kRouterMac : kServerMac)
      .setDst(toServer ? kServerMac : kRouterMac);
}

// Payload bytes: content is irrelevant to the detector, only lengths matter.
std::span<const uint8_t> filler(size_t n) {
  static const std::vector<uint8_t> bytes(1500, 'x');
  return {bytes.data(), std::min(n, bytes.size())};
}

/// TCP option sets, as the stacks and tools that send them lay them out.
enum class Options {
  kNone,        // raw tools, RSTs
  kMss,         // nmap's and hping's SYN
  kStack,       // a Linux SYN or SYN-ACK: MSS, SACK-permitted, timestamps, window scale
  kTimestamps,  // a Linux segment after the handshake: NOP NOP timestamps
};

/// One TCP segment, without its addresses.
struct Segment {
  uint16_t sport, dport;
  uint8_t flags;
  uint32_t seq = 0, ack = 0;
  uint16_t window = 0;
  Options options = Options::kNone;
  size_t payload = 0;
  uint8_t ttl = 64;
  uint32_t tsval = 0, tsecr = 0;
};

TcpHeader tcpHeader(const Segment& s) {
  TcpHeader t;
  t.setSrcPort(s.sport).setDstPort(s.dport).setFlags(s.flags).setSeq(s.seq).setAck(s.ack).setWindow(
      s.window);
  switch (s.options) {
    case Options::kNone:
      break;
    case Options::kMss:
      t.addMss(1460);
      break;
    case Options::kStack:
      t.addMss(1460).addSackPermitted().addTimestamp(s.tsval, s.tsecr).addNop().addWindowScale(7);
      break;
    case Options::kTimestamps:
      t.addNop().addNop().addTimestamp(s.tsval, s.tsecr);
      break;
  }
  return t;
}

std::vector<uint8_t> tcp4(Ipv4Address src, Ipv4Address dst, bool toServer, const Segment& s,
                          uint16_t ipId = 0) {
  PacketBuilder b;
  b.ethernet(link(toServer))
      .ipv4(Ipv4Header().setSrc(src).setDst(dst).setTtl(s.ttl).setId(ipId).setDontFragment(
          s.options != Options::kNone && s.options != Options::kMss))
      .tcp(tcpHeader(s));
  if (s.payload) b.payload(filler(s.payload));
  return b.build();
}

std::vector<uint8_t> tcp6(const Ipv6Address& src, const Ipv6Address& dst, bool toServer,
                          const Segment& s) {
  PacketBuilder b;
  b.ethernet(link(toServer))
      .ipv6(Ipv6Header().setSrc(src).setDst(dst).setHopLimit(s.ttl))
      .tcp(tcpHeader(s));
  if (s.payload) b.payload(filler(s.payload));
  return b.build();
}

Ipv4Address v4(const std::string& text) { return Ipv4Address::parse(text).value(); }
Ipv6Address v6(const std::string& text) { return Ipv6Address::parse(text).value(); }

std::vector<TimedFrame> timeOrdered(std::vector<TimedFrame> frames) {
  std::vector<std::vector<TimedFrame>> one;
  one.push_back(std::move(frames));
  return merge(std::move(one));
}

/// How a connection's handshake went wrong, as real captures show it.
enum class Trouble {
  kNone,
  kSynAckLost,      // the SYN-ACK died downstream: the client retransmits, the server answers again
  kFirstSynDropped  // a full accept queue dropped the first SYN: no SYN-ACK until the retransmit
};

/// One complete HTTP exchange between a client and the server, seen at the server.
struct Exchange {
  Ipv4Address client, server;
  uint16_t sport, dport;
  uint64_t start;  ///< the first SYN
  uint64_t rtt;    ///< capture point to client and back
  uint8_t clientTtl;
  Trouble trouble = Trouble::kNone;
  bool serverClosesFirst;  ///< HTTP/1.0 or "Connection: close": the server's FIN comes first
};

/// Appends the exchange's frames; returns the time of its last frame.
uint64_t exchange(const Exchange& x, Rng& rng, std::vector<TimedFrame>& out) {
  // The capture sits at the server: its answers follow within tens of microseconds, the
  // client's after a round trip.
  auto serverDelay = [&] { return rng.between(15, 80); };
  const uint32_t ciss = uint32_t(rng.next()), siss = uint32_t(rng.next());
  const uint32_t cts = uint32_t(rng.next()), sts = uint32_t(rng.next());
  const size_t request = rng.between(80, 420), response = rng.between(200, 1400);
  auto fromClient = [&](uint64_t at, uint8_t flags, uint32_t seq, uint32_t ack, Options o,
                        size_t payload = 0) {
    // A SYN echoes no timestamp: the client has seen none yet.
    Segment s{x.sport,
              x.dport,
              flags,
              seq,
              ack,
              uint16_t(flags == kSyn ? 64240 : 502),
              o,
              payload,
              x.clientTtl,
              cts + uint32_t((at - x.start) / 1000),
              flags == kSyn ? 0 : sts};
    out.push_back({at, tcp4(x.client, x.server, true, s, uint16_t(rng.next()))});
  };
  auto fromServer = [&](uint64_t at, uint8_t flags, uint32_t seq, uint32_t ack, Options o,
                        size_t payload = 0) {
    Segment s{x.dport, x.sport,
              flags,   seq,
              ack,     uint16_t(flags & kSyn ? 65160 : 509),
              o,       payload,
              64,      sts + uint32_t((at - x.start) / 1000),
              cts};
    out.push_back({at, tcp4(x.server, x.client, false, s)});
  };

  uint64_t t = x.start;
  fromClient(t, kSyn, ciss, 0, Options::kStack);
  if (x.trouble == Trouble::kSynAckLost) {
    fromServer(t + serverDelay(), kSyn | kAck, siss, ciss + 1, Options::kStack);
  }
  if (x.trouble != Trouble::kNone) {
    t += kSecond;  // Linux's initial retransmission timeout
    fromClient(t, kSyn, ciss, 0, Options::kStack);
  }
  t += serverDelay();
  fromServer(t, kSyn | kAck, siss, ciss + 1, Options::kStack);
  t += x.rtt;
  fromClient(t, kAck, ciss + 1, siss + 1, Options::kTimestamps);
  t += rng.between(5, 40);
  fromClient(t, kPsh | kAck, ciss + 1, siss + 1, Options::kTimestamps, request);
  const uint32_t cnext = ciss + 1 + uint32_t(request);
  t += rng.between(200, 20'000);  // the application's time to answer
  fromServer(t, kPsh | kAck, siss + 1, cnext, Options::kTimestamps, response);
  const uint32_t snext = siss + 1 + uint32_t(response);
  if (x.serverClosesFirst) {
    t += rng.between(5, 40);
    fromServer(t, kFin | kAck, snext, cnext, Options::kTimestamps);
    t += x.rtt;
    fromClient(t, kFin | kAck, cnext, snext + 1, Options::kTimestamps);
    t += serverDelay();
    fromServer(t, kAck, snext + 1, cnext + 1, Options::kTimestamps);
  } else {
    t += x.rtt;  // the client acknowledges the response with its FIN
    fromClient(t, kFin | kAck, cnext, snext, Options::kTimestamps);
    t += serverDelay();
    fromServer(t, kFin | kAck, snext, cnext + 1, Options::kTimestamps);
    t += x.rtt;
    fromClient(t, kAck, cnext + 1, snext + 1, Options::kTimestamps);
  }
  return t;
}

Trouble trouble(const BusySpec& spec, Rng& rng) {
  if (rng.chance(spec.synRetransmitted)) return Trouble::kSynAckLost;
  if (rng.chance(spec.synAckMissing)) return Trouble::kFirstSynDropped;
  return Trouble::kNone;
}

uint16_t ephemeralPort(Rng& rng) { return uint16_t(rng.between(32768, 60999)); }  // Linux's range

bool inRange(uint32_t a, const char* net, int bits) {
  uint32_t base = v4(net).value;
  uint32_t mask = bits ? ~uint32_t(0) << (32 - bits) : 0;
  return (a & mask) == (base & mask);
}

// Address space a forged source must stay out of: the address plan's other roles (so ground
// truth stays unambiguous), and what no spoofing tool would send from (loopback, multicast…).
bool reservedForSpoofing(uint32_t a) {
  static const std::pair<const char*, int> kReserved[] = {
      {"0.0.0.0", 8},      {"10.0.0.0", 8},   {"100.64.0.0", 10}, {"127.0.0.0", 8},
      {"169.254.0.0", 16}, {"192.0.2.0", 24}, {"198.18.0.0", 15}, {"198.51.100.0", 24},
      {"203.0.113.0", 24}, {"224.0.0.0", 3}};
  for (const auto& [net, bits] : kReserved) {
    if (inRange(a, net, bits)) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> clientAddresses(const BusySpec& spec) {
  Rng rng(spec.seed, "client-addresses");
  std::unordered_set<uint32_t> taken;
  std::vector<std::string> out;
  out.reserve(size_t(std::max(spec.clients, 0)));
  const uint32_t ten = v4("10.0.0.0").value, cgnat = v4("100.64.0.0").value;
  while (int(out.size()) < spec.clients) {
    // Three in four from an enterprise 10/8, the rest from carrier-grade NAT space.
    uint32_t a = rng.chance(0.75) ? ten + uint32_t(rng.below(1u << 24))
                                  : cgnat + uint32_t(rng.below(1u << 22));
    uint8_t last = uint8_t(a);
    if (last == 0 || last == 255 || !taken.insert(a).second) continue;
    out.push_back(Ipv4Address{a}.toString());
  }
  return out;
}

std::vector<TimedFrame> httpClients(const BusySpec& spec) {
  Rng rng(spec.seed, "http-clients");
  const Ipv4Address server = v4(spec.server);
  std::vector<TimedFrame> out;
  out.reserve(size_t(std::max(spec.clients, 0)) * 18);
  for (const std::string& text : clientAddresses(spec)) {
    Exchange x{};
    x.client = v4(text);
    x.server = server;
    x.rtt = rng.between(2'000, 120'000);
    // Linux/macOS start at 64, Windows at 128; the hops on the way take some off.
    x.clientTtl = uint8_t((rng.chance(0.3) ? 128 : 64) - rng.between(4, 20));
    x.start = spec.startMicros + rng.below(std::max<uint64_t>(spec.durationMicros, 1));
    int connections =
        int(rng.between(uint64_t(spec.minConnections),
                        uint64_t(std::max(spec.minConnections, spec.maxConnections))));
    uint16_t sport = ephemeralPort(rng);
    for (int i = 0; i < connections; ++i) {
      x.dport = rng.chance(0.6) ? 443 : 80;
      x.sport = sport;
      x.trouble = trouble(spec, rng);
      x.serverClosesFirst = rng.chance(0.5);
      uint64_t end = exchange(x, rng, out);
      // The next page or asset: a new connection from the next ephemeral port, after a while.
      x.start = end + rng.between(20'000, 3 * kSecond);
      uint64_t next = sport + 1 + rng.below(8);
      sport = uint16_t(next > 60999 ? 32768 : next);
    }
  }
  return timeOrdered(std::move(out));
}

std::vector<TimedFrame> wrkLoad(const BusySpec& spec) {
  Rng rng(spec.seed, "wrk");
  std::vector<TimedFrame> out;
  // Distinct source ports: thousands of connections in seconds reuse none while they sit in
  // TIME_WAIT.
  std::vector<uint16_t> ports = portRange(32768, 60999);
  rng.shuffle(ports);
  std::vector<uint64_t> starts;
  for (int i = 0; i < spec.wrkConnections; ++i) {
    starts.push_back(spec.startMicros + rng.below(std::max<uint64_t>(spec.wrkDurationMicros, 1)));
  }
  std::sort(starts.begin(), starts.end());
  Exchange x{};
  x.client = v4(spec.wrkClient);
  x.server = v4(spec.server);
  x.dport = 80;
  x.clientTtl = 64;
  for (size_t i = 0; i < starts.size(); ++i) {
    x.sport = ports[i % ports.size()];
    x.start = starts[i];
    x.rtt = rng.between(80, 400);  // a load generator sits next to the server
    x.trouble = trouble(spec, rng);
    x.serverClosesFirst = true;  // wrk -H "Connection: close"
    exchange(x, rng, out);
  }
  return timeOrdered(std::move(out));
}

std::vector<std::string> spoofedAddresses(const BusySpec& spec) {
  Rng rng(spec.seed, "spoofed-addresses");
  std::unordered_set<uint32_t> taken;
  std::vector<std::string> out;
  out.reserve(size_t(std::max(spec.spoofed, 0)));
  while (int(out.size()) < spec.spoofed) {
    uint32_t a = uint32_t(rng.next());
    if (reservedForSpoofing(a) || !taken.insert(a).second) continue;
    out.push_back(Ipv4Address{a}.toString());
  }
  return out;
}

std::vector<TimedFrame> spoofedSyns(const BusySpec& spec) {
  Rng rng(spec.seed, "spoofed-syns");
  const Ipv4Address server = v4(spec.server);
  const std::unordered_set<uint16_t> open(spec.openPorts.begin(), spec.openPorts.end());
  std::vector<TimedFrame> out;
  out.reserve(size_t(std::max(spec.spoofed, 0)) * size_t(std::max(spec.synsPerSource, 0)) * 2);
  for (const std::string& text : spoofedAddresses(spec)) {
    const Ipv4Address src = v4(text);
    // hping3, a SYN-flood script: whatever the tool, a forged SYN carries no options or MSS
    // only, and the flood randomises TTL, window and source port to defeat simple filters.
    const Options options = rng.chance(0.5) ? Options::kNone : Options::kMss;
    const uint8_t ttl = uint8_t(rng.between(32, 255));
    const uint16_t window = rng.pick(std::array<uint16_t, 5>{64, 512, 1024, 5840, 65535});
    uint64_t t = spec.startMicros + rng.below(std::max<uint64_t>(spec.floodDurationMicros, 1));
    for (int k = 0; k < spec.synsPerSource; ++k, t += spec.spoofedGapMicros) {
      Segment syn{uint16_t(rng.between(1024, 65535)),
                  spec.floodPort ? spec.floodPort : uint16_t(rng.between(1, 65535)),
                  kSyn,
                  uint32_t(rng.next()),
                  0,
                  window,
                  options,
                  0,
                  ttl};
      out.push_back({t, tcp4(src, server, true, syn, uint16_t(rng.next()))});
      // Under a flood Linux answers with SYN cookies and keeps no state, so it never
      // retransmits these SYN-ACKs; nobody at the forged address answers them. The SYN-ACK
      // carries MSS alone: a stack echoes only the options the SYN offered.
      const bool isOpen = open.count(syn.dport) != 0;
      Segment answer{syn.dport,
                     syn.sport,
                     uint8_t(isOpen ? kSyn | kAck : kRst | kAck),
                     isOpen ? uint32_t(rng.next()) : 0,
                     syn.seq + 1,
                     uint16_t(isOpen ? 65160 : 0),
                     isOpen ? Options::kMss : Options::kNone};
      out.push_back({t + rng.between(15, 80), tcp4(server, src, false, answer)});
    }
  }
  return timeOrdered(std::move(out));
}

namespace {

// A small inner packet for a tunnel: an ICMP echo between the tunnel's inner addresses, the
// keepalive a tunnel or a load balancer's health check sends. Harmless even to a detector that
// decapsulates, so an alert on a tunnel peer can only come from the outer protocol.
PacketBuilder& innerEcho(PacketBuilder& b, const std::string& src, const std::string& dst,
                         uint16_t id, uint16_t seq) {
  return b.ipv4(Ipv4Header().setSrc(v4(src)).setDst(v4(dst)).setTtl(64))
      .icmp(IcmpHeader().setType(kIcmpEchoRequest).setId(id).setSequence(seq))
      .payload(filler(32));
}

std::vector<uint8_t> greFrame(Ipv4Address src, Ipv4Address dst, bool toServer, uint16_t seq) {
  PacketBuilder inner;
  innerEcho(inner, toServer ? "172.16.0.1" : "172.16.0.2", toServer ? "172.16.0.2" : "172.16.0.1",
            0x47, seq);
  std::vector<uint8_t> payload = {0x00, 0x00, 0x08, 0x00};  // GRE, no options, inner IPv4
  std::vector<uint8_t> bytes = inner.build();
  payload.insert(payload.end(), bytes.begin(), bytes.end());
  PacketBuilder b;
  b.ethernet(link(toServer))
      .ipv4(Ipv4Header().setSrc(src).setDst(dst).setProtocol(kIpProtoGre).setDontFragment(true))
      .payload(payload);
  return b.build();
}

std::vector<uint8_t> ipipFrame(Ipv4Address lb, Ipv4Address server, uint16_t seq) {
  // IPVS in tunnel mode: the outer header goes to the real server, which answers clients
  // directly, so the load balancer sends and never receives.
  PacketBuilder b;
  b.ethernet(link(true)).ipv4(Ipv4Header().setSrc(lb).setDst(server));
  innerEcho(b, "172.17.0.1", "172.17.0.10", 0x04, seq);
  return b.build();
}

std::vector<uint8_t> espFrame(Ipv4Address src, Ipv4Address dst, bool toServer, uint32_t spi,
                              uint32_t seq, Rng& rng) {
  std::vector<uint8_t> payload(8 + 96);  // SPI, sequence, then ciphertext and ICV
  for (int i = 0; i < 4; ++i) {
    payload[size_t(i)] = uint8_t(spi >> (24 - 8 * i));
    payload[size_t(4 + i)] = uint8_t(seq >> (24 - 8 * i));
  }
  for (size_t i = 8; i < payload.size(); ++i) payload[i] = uint8_t(rng.next());
  PacketBuilder b;
  b.ethernet(link(toServer))
      .ipv4(Ipv4Header().setSrc(src).setDst(dst).setProtocol(kIpProtoEsp).setDontFragment(true))
      .payload(payload);
  return b.build();
}

}  // namespace

std::vector<TimedFrame> tunnelPeers(const BusySpec& spec) {
  Rng rng(spec.seed, "tunnels");
  const Ipv4Address server = v4(spec.server), gre = v4(spec.grePeer), ipip = v4(spec.ipipPeer),
                    esp = v4(spec.espPeer);
  const uint32_t spiIn = uint32_t(rng.next()), spiOut = uint32_t(rng.next());
  // Each peer ticks on its own phase within the second.
  const uint64_t greAt = rng.below(kSecond), ipipAt = rng.below(kSecond),
                 espAt = rng.below(kSecond);
  std::vector<TimedFrame> out;
  const uint64_t seconds = spec.durationMicros / kSecond;
  for (uint64_t s = 0; s < seconds; ++s) {
    const uint64_t base = spec.startMicros + s * kSecond;
    const uint16_t seq = uint16_t(s + 1);
    out.push_back({base + greAt, greFrame(gre, server, true, seq)});
    out.push_back({base + greAt + rng.between(50, 400), greFrame(server, gre, false, seq)});
    out.push_back({base + ipipAt, ipipFrame(ipip, server, seq)});
    out.push_back({base + espAt, espFrame(esp, server, true, spiIn, uint32_t(s + 1), rng)});
    out.push_back({base + espAt + rng.between(50, 400),
                   espFrame(server, esp, false, spiOut, uint32_t(s + 1), rng)});
  }
  return timeOrdered(std::move(out));
}

std::vector<TimedFrame> rotatingScan(const BusySpec& spec, uint64_t startMicros) {
  Rng rng(spec.seed, "rotating-scan");
  const Ipv6Address prefix = v6(spec.rotatingPrefix), server = v6(spec.server6);
  const std::unordered_set<uint16_t> open(spec.openPorts.begin(), spec.openPorts.end());
  std::vector<uint16_t> ports = portRange(1, uint16_t(std::clamp(spec.rotatingPorts, 1, 65535)));
  rng.shuffle(ports);
  std::vector<TimedFrame> out;
  uint64_t t = startMicros;
  for (uint16_t port : ports) {
    Ipv6Address src = prefix;
    uint64_t iid = rng.next();
    for (int i = 0; i < 8; ++i) src.bytes[size_t(8 + i)] = uint8_t(iid >> (56 - 8 * i));
    const uint16_t sport = uint16_t(rng.between(1024, 65535));
    const uint32_t seq = uint32_t(rng.next());
    Segment syn{sport, port, kSyn, seq, 0, 1024, Options::kMss, 0, 52};
    out.push_back({t, tcp6(src, server, true, syn)});
    const uint64_t answered = t + rng.between(15, 80);
    if (open.count(port)) {
      // MSS only: a stack echoes the options the SYN offered, and nmap offers MSS alone.
      Segment synAck{port, sport, kSyn | kAck, uint32_t(rng.next()), seq + 1, 64800, Options::kMss};
      out.push_back({answered, tcp6(server, src, false, synAck)});
      // The scanner's stack never opened this connection, so it resets it.
      Segment rst{sport, port, kRst, seq + 1, 0, 0, Options::kNone, 0, 52};
      out.push_back({answered + rng.between(5'000, 30'000), tcp6(src, server, true, rst)});
    } else {
      Segment rst{port, sport, kRst | kAck, 0, seq + 1, 0, Options::kNone};
      out.push_back({answered, tcp6(server, src, false, rst)});
    }
    t += rng.between(spec.rotatingGapMicros / 2, spec.rotatingGapMicros * 3 / 2);
  }
  return timeOrdered(std::move(out));
}

ScanSpec insideScan(const BusySpec& spec, const std::string& type, const std::string& src,
                    int ports, uint64_t startMicros) {
  Rng rng(spec.seed, "scan " + src);
  ScanSpec s;
  s.type = type;
  s.src = src;
  s.dst = spec.server;
  s.ports = portRange(1, uint16_t(std::clamp(ports, 1, 65535)));
  rng.shuffle(s.ports);  // nmap's default port order is random
  if (type == "udp") {
    s.open = {53, 123};
  } else {
    s.open = {spec.openPorts.begin(), spec.openPorts.end()};
  }
  s.startMicros = startMicros;
  s.gapMicros = rng.between(1000, 5000);
  return s;
}

std::vector<TimedFrame> inboundOnly(const std::vector<TimedFrame>& frames,
                                    const std::vector<std::string>& serverAddrs) {
  std::vector<Ipv4Address> mine4;
  std::vector<Ipv6Address> mine6;
  for (const std::string& a : serverAddrs) {
    if (auto a4 = Ipv4Address::parse(a)) {
      mine4.push_back(*a4);
    } else if (auto a6 = Ipv6Address::parse(a)) {
      mine6.push_back(*a6);
    }
  }
  std::vector<TimedFrame> out;
  for (const TimedFrame& f : frames) {
    const std::vector<uint8_t>& b = f.bytes;
    if (b.size() < 14) continue;
    const uint16_t etherType = uint16_t(b[12] << 8 | b[13]);
    bool keep = false;
    if (etherType == kEtherTypeIpv4 && b.size() >= 14 + 20) {
      const uint32_t dst =
          uint32_t(b[30]) << 24 | uint32_t(b[31]) << 16 | uint32_t(b[32]) << 8 | b[33];
      keep = std::any_of(mine4.begin(), mine4.end(), [&](Ipv4Address a) { return a.value == dst; });
    } else if (etherType == kEtherTypeIpv6 && b.size() >= 14 + 40) {
      keep = std::any_of(mine6.begin(), mine6.end(), [&](const Ipv6Address& a) {
        return std::equal(a.bytes.begin(), a.bytes.end(), b.begin() + 38);
      });
    }
    if (keep) out.push_back(f);
  }
  return out;
}

BusySpec scenarioSpec(const std::string& name, uint64_t seed) {
  BusySpec s;
  s.seed = seed;
  s.clients = 0;
  s.spoofed = 0;
  s.wrkConnections = 0;
  if (name == "clients" || name == "mixed") {
    s.clients = 60'000;
    s.durationMicros = 90 * kSecond;
  }
  if (name == "spoofed-then-scan" || name == "mixed") {
    s.spoofed = 40'000;
    s.floodDurationMicros = 20 * kSecond;
    s.floodPort = 0;
    if (name != "mixed") s.durationMicros = s.floodDurationMicros;
  }
  if (name == "synflood") {
    s.spoofed = 20'000;
    s.floodPort = 80;
    s.floodDurationMicros = 10 * kSecond;
    s.durationMicros = s.floodDurationMicros;
  }
  if (name == "tunnels") s.durationMicros = 300 * kSecond;
  if (name == "ipv6-rotation") {
    s.clients = 5'000;
    s.durationMicros = 30 * kSecond;
  }
  if (name == "wrk" || name == "mixed") {
    s.wrkConnections = 3000;
    s.wrkDurationMicros = 6 * kSecond;
  }
  if (name == "wrk") {
    s.clients = 200;  // ordinary fetches alongside the load: one each
    s.minConnections = s.maxConnections = 1;
    s.durationMicros = s.wrkDurationMicros;
  }
  return s;
}

namespace {

void addInnocent(BusyScenario& sc, const std::vector<std::string>& addrs, const char* role) {
  for (const std::string& a : addrs) sc.innocent.emplace(a, role);
}

void addScan(BusyScenario& sc, std::vector<std::vector<TimedFrame>>& parts, const BusySpec& spec,
             const std::string& type, const std::string& scanName, const std::string& src,
             int ports, uint64_t start) {
  if (!spec.withScanners) return;
  parts.push_back(scanTraffic(insideScan(spec, type, src, ports, start)));
  sc.scanners.push_back({src, scanName});
}

// The end of a flood: its last SYNs and their answers.
uint64_t floodEnd(const BusySpec& s) {
  return s.startMicros + s.floodDurationMicros +
         uint64_t(std::max(s.synsPerSource - 1, 0)) * s.spoofedGapMicros;
}

}  // namespace

BusyScenario busyScenario(const std::string& name, const BusySpec& spec) {
  BusyScenario sc;
  std::vector<std::vector<TimedFrame>> parts;
  const bool mixed = name == "mixed";
  const uint64_t t0 = spec.startMicros, d = spec.durationMicros;
  sc.innocent.emplace(spec.server, "server");
  sc.innocent.emplace(spec.server6, "server");
  // Real scanners' start times move a little with the seed, so two seeds exercise two
  // interleavings with the clients.
  Rng rng(spec.seed, "scenario " + name);
  auto at = [&](double fraction) {
    return t0 + uint64_t(double(d) * fraction) + rng.below(std::max<uint64_t>(d / 20, 1));
  };

  if (name == "clients" || name == "ipv6-rotation" || name == "wrk" || mixed) {
    parts.push_back(httpClients(spec));
    addInnocent(sc, clientAddresses(spec), "client");
  }
  if (name == "clients" || mixed) {
    addScan(sc, parts, spec, "syn", "syn", "198.51.100.10", 1000, at(0.10));
    addScan(sc, parts, spec, "fin", "fin", "198.51.100.11", 300, at(0.30));
    addScan(sc, parts, spec, "connect", "connect", "198.51.100.12", 200, at(0.55));
    addScan(sc, parts, spec, "udp", "udp", "198.51.100.13", 300, at(0.80));
  }
  if (name == "spoofed-then-scan" || mixed) {
    BusySpec flood = spec;
    if (mixed) flood.startMicros = at(0.25);
    parts.push_back(spoofedSyns(flood));
    addInnocent(sc, spoofedAddresses(flood), "spoofed");
    // After the flood, when every slot a forged source could take is taken.
    addScan(sc, parts, spec, "syn", "syn", "198.51.100.20", 500, floodEnd(flood) + kSecond);
  }
  if (name == "synflood") {
    // The control scans first: this scenario is about what the flood raises, and a scan
    // during or after a flood is what spoofed-then-scan tests.
    addScan(sc, parts, spec, "syn", "syn", "198.51.100.30", 300, t0);
    BusySpec flood = spec;
    flood.startMicros = t0 + 2 * kSecond;
    parts.push_back(spoofedSyns(flood));
    addInnocent(sc, spoofedAddresses(flood), "spoofed");
  }
  if (name == "tunnels" || mixed) {
    parts.push_back(tunnelPeers(spec));
    addInnocent(sc, {spec.grePeer, spec.ipipPeer, spec.espPeer}, "tunnel");
    addScan(sc, parts, spec, "syn", "syn", "198.51.100.40", 300, at(0.5));
  }
  if ((name == "ipv6-rotation" || mixed) && spec.withScanners) {
    parts.push_back(rotatingScan(spec, at(1.0 / 3)));
    sc.scanners.push_back({spec.rotatingPrefix + "/64", "syn"});
  }
  if (name == "wrk" || mixed) {
    BusySpec load = spec;
    if (mixed) load.startMicros = at(0.6);
    parts.push_back(wrkLoad(load));
    sc.innocent.emplace(spec.wrkClient, "wrk");
    addScan(sc, parts, spec, "syn", "syn", "198.51.100.60", 300,
            load.startMicros + load.wrkDurationMicros / 2);
  }
  sc.frames = merge(std::move(parts));
  return sc;
}

}  // namespace portcullis::testing
