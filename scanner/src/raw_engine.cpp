#include "raw_engine.h"

#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>
#include <unordered_map>

#include "net_util.h"
#include "next_hop.h"
#include "packet/builder.h"
#include "packet/parser.h"
#include "probe_template.h"
#include "siphash.h"

namespace portcullis::scan {

uint8_t probeFlags(ScanType type) {
  using namespace net::tcp_flags;
  switch (type) {
    case ScanType::kSyn:
      return kSyn;
    case ScanType::kNull:
      return 0;
    case ScanType::kFin:
      return kFin;
    case ScanType::kXmas:
      return kFin | kPsh | kUrg;
    case ScanType::kMaimon:
      return kFin | kAck;
    case ScanType::kAck:
    case ScanType::kWindow:
      return kAck;
    default:
      return kSyn;
  }
}

std::vector<uint8_t> udpPayload(uint16_t port) {
  switch (port) {
    case 53:  // DNS query: id 0x7063, recursion desired, one question ". IN NS"
      return {0x70, 0x63, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01};
    case 123: {  // NTPv4 client request (mode 3), 48 bytes
      std::vector<uint8_t> p(48, 0);
      p[0] = 0xe3;
      return p;
    }
    case 161:  // SNMPv1 GetRequest, community "public", sysDescr.0
      return {0x30, 0x29, 0x02, 0x01, 0x00, 0x04, 0x06, 'p',  'u',  'b',  'l',
              'i',  'c',  0xa0, 0x1c, 0x02, 0x04, 0x70, 0x63, 0x73, 0x01, 0x02,
              0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x0e, 0x30, 0x0c, 0x06, 0x08,
              0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00, 0x05, 0x00};
    default:
      return {};
  }
}

namespace {

struct PcapCloser {
  void operator()(pcap_t* p) const { pcap_close(p); }
};
using PcapHandle = std::unique_ptr<pcap_t, PcapCloser>;

constexpr uint8_t kGaveUp = 0xff;

uint8_t encodeVerdict(Verdict v) {
  return static_cast<uint8_t>(static_cast<uint8_t>(v.state) << 5 | static_cast<uint8_t>(v.reason));
}

Verdict decodeVerdict(uint8_t code) {
  return {static_cast<PortState>(code >> 5), static_cast<Reason>(code & 0x1f)};
}

struct Slot {
  std::atomic<uint8_t> result{0};  // 0 pending, kGaveUp, or an encoded verdict
  std::atomic<uint8_t> outstanding{0};
  std::atomic<uint8_t> tries{0};
  std::atomic<uint8_t> ttl{0};
  std::atomic<uint32_t> sentUs{0};      // microseconds since the run started, of the latest try
  std::atomic<uint32_t> prevSentUs{0};  // of the try before it (drop accounting)
};

struct Pending {
  uint32_t slot;
  uint32_t sentUs;
};

// Addresses of both families as the cookie sees them: IPv4 mapped into IPv6.
using AddrKey = std::array<uint8_t, 16>;

AddrKey keyOf(const Address& a) { return a.v6 ? a.v6addr.bytes : mapIpv4(a.v4addr.value); }

AddrKey keyOfWire(const uint8_t (&bytes)[16]) {
  AddrKey k;
  std::memcpy(k.data(), bytes, k.size());
  return k;
}

struct AddrKeyHash {
  size_t operator()(const AddrKey& k) const noexcept {
    uint64_t a = 0;
    uint64_t b = 0;
    std::memcpy(&a, k.data(), 8);
    std::memcpy(&b, k.data() + 8, 8);
    return static_cast<size_t>((a * 0x9e3779b97f4a7c15ull) ^
                               (b + 0x632be59bd9b4e019ull + (a >> 7)));
  }
};

// ICMPv6 "destination unreachable" codes in ICMPv4's terms, which the verdict table speaks.
uint8_t icmpv4CodeFor(uint8_t v6code) {
  switch (v6code) {
    case 0:
      return 0;  // no route: network unreachable
    case 1:
      return 13;  // administratively prohibited
    case 2:       // beyond the scope of the source
    case 3:
      return 1;  // address unreachable: host unreachable
    case 4:
      return 3;  // port unreachable
    default:
      return 13;  // source address failed policy, reject route
  }
}

struct OutPacket {
  uint32_t offset;  // into its batch's bytes
  uint32_t length;
  AddrKey dst;
  const uint8_t* linkHeader;  // the Ethernet header of its next hop; none: raw IP
};

// The probes of one sending pass, their bytes back to back (one allocation a batch, not one a
// probe).
struct OutBatch {
  std::vector<uint8_t> bytes;
  std::vector<OutPacket> packets;
};

constexpr size_t kEthernetHeaderLen = 14;

// Transmit workers. On veth (and loopback) the kernel runs the receiving side's whole stack,
// the target's RST included, inside the sender's sendmmsg; one sending thread therefore keeps
// one core busy while the other idles. Handing batches to one worker per core spreads that work.
// A packet with a link header goes out as a frame on the AF_PACKET socket `linkFd`, past the
// kernel's routing, neighbour and queueing code; the others through the raw IP socket `fd`.
class TxPool {
 public:
  TxPool(int fd, int linkFd, bool v6, unsigned scopeId, unsigned threads)
      : fd_(fd), linkFd_(linkFd), v6_(v6), scopeId_(scopeId) {
    for (unsigned i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  ~TxPool() { finish(); }

  /// Sends what is queued and stops the workers; the counts below are final after it.
  void finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }
  TxPool(const TxPool&) = delete;
  TxPool& operator=(const TxPool&) = delete;

  void submit(OutBatch&& batch) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(batch));
    }
    cv_.notify_one();
  }

  uint64_t framesSent() const { return frames_.load(std::memory_order_relaxed); }
  uint64_t packetsSent() const { return packets_.load(std::memory_order_relaxed); }

 private:
  void work() {
    std::vector<sockaddr_in6> addrs(kMaxBatch);  // also holds the sockaddr_in of IPv4
    std::vector<iovec> iovs(2 * kMaxBatch);      // a frame is its link header and its packet
    std::vector<mmsghdr> rawMsgs(kMaxBatch);
    std::vector<mmsghdr> linkMsgs(kMaxBatch);
    for (;;) {
      OutBatch out;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping and drained
        out = std::move(queue_.front());
        queue_.pop_front();
      }
      const std::vector<OutPacket>& batch = out.packets;
      for (size_t off = 0; off < batch.size(); off += kMaxBatch) {
        const size_t n = std::min(kMaxBatch, batch.size() - off);
        size_t nraw = 0;
        size_t nlink = 0;
        for (size_t i = 0; i < n; ++i) {
          auto& pkt = batch[off + i];
          if (pkt.linkHeader != nullptr) {
            iovec* iov = &iovs[2 * i];
            iov[0] = {const_cast<uint8_t*>(pkt.linkHeader), kEthernetHeaderLen};
            iov[1] = {out.bytes.data() + pkt.offset, pkt.length};
            mmsghdr& m = linkMsgs[nlink++];
            m = mmsghdr{};
            m.msg_hdr.msg_iov = iov;  // the socket is bound to the interface: no address
            m.msg_hdr.msg_iovlen = 2;
            continue;
          }
          addrs[i] = sockaddr_in6{};
          socklen_t addrLen = sizeof(sockaddr_in6);
          if (v6_) {
            addrs[i].sin6_family = AF_INET6;
            std::memcpy(&addrs[i].sin6_addr, pkt.dst.data(), 16);
            addrs[i].sin6_scope_id = scopeId_;  // used only for link-local targets
          } else {
            auto* sin = reinterpret_cast<sockaddr_in*>(&addrs[i]);
            sin->sin_family = AF_INET;
            std::memcpy(&sin->sin_addr.s_addr, pkt.dst.data() + 12, 4);
            addrLen = sizeof(sockaddr_in);
          }
          iovs[2 * i] = {out.bytes.data() + pkt.offset, pkt.length};
          mmsghdr& m = rawMsgs[nraw++];
          m = mmsghdr{};
          m.msg_hdr.msg_name = &addrs[i];
          m.msg_hdr.msg_namelen = addrLen;
          m.msg_hdr.msg_iov = &iovs[2 * i];
          m.msg_hdr.msg_iovlen = 1;
        }
        frames_.fetch_add(sendAll(linkFd_, linkMsgs.data(), nlink), std::memory_order_relaxed);
        packets_.fetch_add(sendAll(fd_, rawMsgs.data(), nraw), std::memory_order_relaxed);
      }
    }
  }

  // Sends `n` messages; returns how many went. A full device queue (ENOBUFS, which both sockets
  // report: the raw one has IP_RECVERR) is waited out rather than losing the probe.
  static size_t sendAll(int fd, mmsghdr* msgs, size_t n) {
    size_t done = 0;
    size_t sent = 0;
    int stalls = 0;
    while (done < n) {
      const int rc = sendmmsg(fd, msgs + done, static_cast<unsigned>(n - done), 0);
      if (rc > 0) {
        done += static_cast<size_t>(rc);
        sent += static_cast<size_t>(rc);
      } else if (rc < 0 && (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) && stalls < 50) {
        ++stalls;  // queue full: give the device a moment rather than lose the probe
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      } else {
        ++done;  // anything else loses this packet; its slot times out and retries
      }
    }
    return sent;
  }

  static constexpr size_t kMaxBatch = 64;
  int fd_;
  int linkFd_;
  bool v6_;
  unsigned scopeId_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<OutBatch> queue_;
  bool stop_ = false;
  std::atomic<uint64_t> frames_{0};
  std::atomic<uint64_t> packets_{0};
  std::vector<std::thread> workers_;
};

// Collects the probes of one sending pass and hands them to the pool as one batch.
class SendBatch {
 public:
  explicit SendBatch(TxPool& pool) : pool_(pool) {}
  /// Room for a `length`-byte packet, valid until the next append or flush. A full batch goes
  /// to the pool first.
  uint8_t* append(size_t length, const AddrKey& dst, const uint8_t* linkHeader) {
    if (batch_.packets.size() >= kPackets) flush();
    if (batch_.packets.empty()) {
      batch_.bytes.reserve(kPackets * 64);
      batch_.packets.reserve(kPackets);
    }
    const size_t offset = batch_.bytes.size();
    batch_.bytes.resize(offset + length);
    batch_.packets.push_back(
        {static_cast<uint32_t>(offset), static_cast<uint32_t>(length), dst, linkHeader});
    return batch_.bytes.data() + offset;
  }
  void add(const std::vector<uint8_t>& pkt, const AddrKey& dst, const uint8_t* linkHeader) {
    std::memcpy(append(pkt.size(), dst, linkHeader), pkt.data(), pkt.size());
  }
  void flush() {
    if (batch_.packets.empty()) return;
    pool_.submit(std::move(batch_));
    batch_ = OutBatch{};
  }

 private:
  static constexpr size_t kPackets = 64;
  TxPool& pool_;
  OutBatch batch_;
};

}  // namespace

struct RawEngine::Impl {
  // The progress line spans the engine's runs: a sweep is many host groups of one engine, each
  // a run of a fraction of a second.
  struct Progress {
    uint64_t total = 0;  ///< probes expected over every run (expectProbes); 0: unknown
    uint64_t doneBefore = 0, sentBefore = 0, foundBefore = 0;  ///< of the runs that ended
    int64_t startUs = 0, lastUs = 0;
    uint64_t sentAtLast = 0;
    bool shown = false;
  };
  static constexpr int64_t kProgressUs = 250000;

  // A probe's next hop, as the link-layer path frames it. `known` only once the kernel's
  // neighbour table has its MAC; until then its probes take the raw IP socket (which makes the
  // kernel resolve it) and the sender asks again now and then.
  struct Hop {
    Address addr;
    std::array<uint8_t, kEthernetHeaderLen> header{};
    bool known = false;
  };
  static constexpr int64_t kHopRecheckUs = 20000;
  static constexpr size_t kFramedHostsAlways = 64;
  static constexpr size_t kFramedProbesPerHost = 8;

  EngineConfig cfg;
  UniqueFd rawFd;
  UniqueFd linkFd;  // AF_PACKET, bound to the interface; empty: every probe goes raw
  std::optional<EthernetLink> link;
  std::optional<NeighbourTable> neighbours;
  PcapHandle pcap;
  net::LinkType linkType = net::LinkType::kEthernet;
  CookieJar jar;
  AddrKey srcMapped{};
  bool v6 = false;
  std::mt19937_64 rng{std::random_device{}()};

  // Per-run state.
  const std::vector<Address>* hosts = nullptr;
  std::vector<AddrKey> hostKeys;
  const std::vector<ProbeDef>* probes = nullptr;
  size_t nprobes = 0;
  std::unordered_map<AddrKey, uint32_t, AddrKeyHash> hostIndex;
  // Per destination port, the TCP probe's index and flags packed in one word: replies come in
  // random port order, and a second table (the probes') was a second cache miss each.
  struct TcpProbeEntry {
    int32_t index;
    uint8_t tcpFlags;
    int32_t pack() const { return index << 8 | tcpFlags; }
    static TcpProbeEntry unpack(int32_t e) { return {e >> 8, static_cast<uint8_t>(e & 0xff)}; }
  };
  std::vector<int32_t> tcpIndex;  // packed TcpProbeEntry; -1: no probe to that port
  std::vector<int32_t> udpIndex;
  int32_t echoIndex = -1;
  int32_t timestampIndex = -1;
  std::unique_ptr<Slot[]> slots;
  std::unique_ptr<std::atomic<uint8_t>[]> hostUp;
  struct TemplateSlot {
    bool tried = false;
    std::optional<TcpProbeTemplate> tmpl;
  };
  std::array<TemplateSlot, 256> tcpTemplates;  // by TCP flags; kept across runs
  std::vector<Hop> hops;                       // the run's distinct next hops
  std::vector<int32_t> hostHop;                // index into `hops` per host; -1: no link-layer path
  size_t unknownHops = 0;
  size_t hopCursor = 0;  // where the next recheck of unknown hops starts
  int64_t runStartUs = 0;
  std::atomic<int64_t> inflight{0};
  std::atomic<uint64_t> finished{0};
  std::atomic<uint64_t> openFound{0};
  Progress progress;
  std::atomic<bool> stopReceiver{false};

  std::mutex mu;  // guards the timing state below
  std::optional<RttEstimator> groupRtt;
  std::vector<RttEstimator> hostRtt;
  std::vector<SendDelay> hostDelay;
  // The sender's lock-free copy of each host's delay.
  std::unique_ptr<std::atomic<int64_t>[]> hostDelayUs;
  double cwnd = 10;
  double ssthresh = 75;
  int maxSuccessfulRetry = 0;
  int64_t lastDropUs = 0;

  // An IPPROTO_RAW socket of either family takes the whole IP header from us.
  bool openRawSocket(std::string& error) {
    rawFd.reset(::socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
    if (!rawFd) {
      error = std::string("cannot open a raw socket: ") + std::strerror(errno);
      return false;
    }
    const int sndbuf = 8 << 20;
    setsockopt(rawFd.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    // Without RECVERR a raw socket reports a full device queue (ENOBUFS) as success and the
    // probe is lost; a probe lost late in a scan costs a whole RTO (50 ms at -T5) of waiting at
    // the end. With it, sendmmsg stops at that probe and the sender waits and sends it again.
    const int on = 1;
    if (v6) {
      setsockopt(rawFd.get(), IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on));
    } else {
      setsockopt(rawFd.get(), IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
    }
    if (!cfg.iface.empty() && !cfg.loopback &&
        setsockopt(rawFd.get(), SOL_SOCKET, SO_BINDTODEVICE, cfg.iface.c_str(),
                   static_cast<socklen_t>(cfg.iface.size())) != 0) {
      error = "cannot bind to interface '" + cfg.iface + "': " + std::strerror(errno);
      return false;
    }
    return true;
  }

  // The link-layer send path, on Ethernet interfaces: an AF_PACKET socket that hands frames
  // straight to the driver (PACKET_QDISC_BYPASS). Anything missing leaves the raw socket alone.
  void openLinkSocket() {
    link = ethernetLink(cfg.iface);
    if (!link) return;
    UniqueFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));  // protocol 0: receives nothing
    sockaddr_ll ll{};
    ll.sll_family = AF_PACKET;
    ll.sll_ifindex = link->ifindex;
    const int one = 1;
    const int sndbuf = 8 << 20;
    if (!fd || bind(fd.get(), reinterpret_cast<sockaddr*>(&ll), sizeof(ll)) != 0 ||
        setsockopt(fd.get(), SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) != 0) {
      return;
    }
    setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    neighbours.emplace(link->ifindex);
    if (!neighbours->ok()) return;
    linkFd = std::move(fd);
  }

  uint32_t elapsedUs(int64_t mono) const { return static_cast<uint32_t>(mono - runStartUs); }

  uint16_t sourcePortFor(const AddrKey& dst, uint16_t dstPort, uint8_t proto) const {
    if (cfg.sourcePort) return *cfg.sourcePort;
    return jar.sourcePort(srcMapped, dst, dstPort, proto);
  }

  // A TCP probe's source port (-g's when given) and sequence number, from one hash.
  CookieJar::Probe tcpCookieFor(const AddrKey& dst, uint16_t dstPort) const {
    CookieJar::Probe c = jar.probe(srcMapped, dst, dstPort, net::kIpProtoTcp);
    if (cfg.sourcePort) c.srcPort = *cfg.sourcePort;
    return c;
  }

  uint32_t cookieFor(const AddrKey& dst, uint16_t srcPort, uint16_t dstPort, uint8_t proto) const {
    CookieTuple t;
    t.src = srcMapped;
    t.dst = dst;
    t.srcPort = srcPort;
    t.dstPort = dstPort;
    t.protocol = proto;
    return jar.cookie(t);
  }

  std::vector<uint8_t> buildProbe(const Address& src, size_t host, const ProbeDef& p,
                                  uint8_t tryNo) {
    using namespace net;
    const Address& dst = (*hosts)[host];
    const AddrKey& dstKey = hostKeys[host];
    std::vector<uint8_t> extra(cfg.dataLength);
    for (auto& b : extra) b = static_cast<uint8_t>(rng());
    PacketBuilder b;
    if (v6) {
      b.ipv6(Ipv6Header()
                 .setSrc(src.v6addr)
                 .setDst(dst.v6addr)
                 .setHopLimit(static_cast<uint8_t>(cfg.ttl)));
    } else {
      b.ipv4(Ipv4Header()
                 .setSrc(src.v4addr)
                 .setDst(dst.v4addr)
                 .setTtl(static_cast<uint8_t>(cfg.ttl))
                 .setId(static_cast<uint16_t>(rng())));
    }
    switch (p.kind) {
      case ProbeDef::Kind::kTcp: {
        const auto [sport, c] = tcpCookieFor(dstKey, p.port);
        TcpHeader t;
        t.setSrcPort(sport).setDstPort(p.port).setSeq(c).setFlags(p.tcpFlags).setWindow(65535);
        if (p.tcpFlags & tcp_flags::kAck) t.setAck(c);
        if (p.tcpFlags & tcp_flags::kSyn) t.addMss(1460);
        b.tcp(t).payload(extra);
        break;
      }
      case ProbeDef::Kind::kUdp: {
        const uint16_t sport = sourcePortFor(dstKey, p.port, kIpProtoUdp);
        auto payload = udpPayload(p.port);
        if (payload.empty()) payload = std::move(extra);
        b.udp(UdpHeader().setSrcPort(sport).setDstPort(p.port)).payload(payload);
        break;
      }
      case ProbeDef::Kind::kIcmpEcho:
      case ProbeDef::Kind::kIcmpTimestamp: {
        const bool echo = v6 || p.kind == ProbeDef::Kind::kIcmpEcho;
        const uint16_t id = static_cast<uint16_t>(
            cookieFor(dstKey, 0, 0, echo ? kIcmpEchoRequest : kIcmpTimestamp) >> 16);
        if (v6) {
          b.icmpv6(Icmpv6Header().setType(kIcmpv6EchoRequest).setId(id).setSequence(tryNo));
          b.payload(extra);
          break;
        }
        b.icmp(IcmpHeader()
                   .setType(echo ? kIcmpEchoRequest : kIcmpTimestamp)
                   .setId(id)
                   .setSequence(tryNo));
        if (!echo) {
          const std::vector<uint8_t> stamps(12, 0);  // originate/receive/transmit timestamps
          b.payload(stamps);
        }
        b.payload(extra);
        break;
      }
    }
    return b.build();
  }

  // The template for TCP probes with these flags, made from the first such probe; none when
  // probes carry more than headers (--data-length, fragments) or come from decoys too.
  const TcpProbeTemplate* tcpTemplateFor(size_t h, const ProbeDef& p) {
    if (p.kind != ProbeDef::Kind::kTcp || cfg.dataLength > 0 || cfg.fragmentSize > 0 ||
        !cfg.decoys.empty()) {
      return nullptr;
    }
    auto& t = tcpTemplates[p.tcpFlags];
    if (!t.tried) {
      t.tried = true;
      t.tmpl = TcpProbeTemplate::from(buildProbe(cfg.source, h, p, 0));
    }
    return t.tmpl ? &*t.tmpl : nullptr;
  }

  void sendSlot(SendBatch& batch, uint32_t idx, uint8_t tryNo) {
    const size_t h = idx / nprobes;
    const ProbeDef& p = (*probes)[idx % nprobes];
    if (const TcpProbeTemplate* t = tcpTemplateFor(h, p)) {
      const AddrKey& dst = hostKeys[h];
      TcpProbeTemplate::Fields f{dst};
      f.ipId = static_cast<uint16_t>(rng());
      const CookieJar::Probe c = tcpCookieFor(dst, p.port);
      f.srcPort = c.srcPort;
      f.dstPort = p.port;
      f.seq = c.seq;
      f.ack = (p.tcpFlags & net::tcp_flags::kAck) ? f.seq : 0;
      t->write(batch.append(t->size(), dst, linkHeaderOf(h)), f);
      return;
    }
    const uint8_t* header = linkHeaderOf(h);
    const size_t total = cfg.decoys.size() + 1;
    for (size_t i = 0; i < total; ++i) {
      Address src = cfg.source;
      if (i != cfg.mePosition) {
        src.v4addr = cfg.decoys[i < cfg.mePosition ? i : i - 1];
      }
      auto pkt = buildProbe(src, h, p, tryNo);
      if (cfg.fragmentSize > 0 && !v6) {
        for (auto& f : net::fragmentIpv4(pkt, cfg.fragmentSize)) batch.add(f, hostKeys[h], header);
      } else {
        batch.add(pkt, hostKeys[h], header);
      }
    }
  }

  const uint8_t* linkHeaderOf(size_t h) const {
    const int32_t i = hostHop.empty() ? -1 : hostHop[h];
    return i >= 0 && hops[static_cast<size_t>(i)].known ? hops[static_cast<size_t>(i)].header.data()
                                                        : nullptr;
  }

  // The run's next hops: one route lookup per host (batched), one neighbour lookup per distinct
  // next hop. Hosts whose route leaves elsewhere, or is not unicast, keep the raw socket.
  // A route lookup costs about 2 us and a frame saves about 0.4 us over the raw socket (the
  // kernel's routing and queueing), so a sweep of many hosts with a port or two each is sent
  // raw: framing made the /16 one-port sweep 15 % slower.
  void resolveHops() {
    hops.clear();
    hostHop.clear();
    unknownHops = 0;
    hopCursor = 0;
    if (!linkFd || !neighbours) return;
    if (hosts->size() > kFramedHostsAlways && nprobes < kFramedProbesPerHost) return;
    const auto nextHops = neighbours->nextHops(*hosts);
    hostHop.assign(nextHops.size(), -1);
    std::unordered_map<AddrKey, int32_t, AddrKeyHash> index;
    for (size_t h = 0; h < nextHops.size(); ++h) {
      if (!nextHops[h]) continue;
      const auto [it, added] =
          index.emplace(keyOf(*nextHops[h]), static_cast<int32_t>(hops.size()));
      if (added) {
        Hop hop;
        hop.addr = *nextHops[h];
        std::memcpy(hop.header.data() + 6, link->mac.bytes.data(), 6);
        hop.header[12] = v6 ? 0x86 : 0x08;  // EtherType, network order
        hop.header[13] = v6 ? 0xdd : 0x00;
        hops.push_back(hop);
        ++unknownHops;
      }
      hostHop[h] = it->second;
    }
    recheckHops(hops.size());
  }

  // Asks the neighbour table about up to `limit` next hops whose MAC is not known yet.
  void recheckHops(size_t limit) {
    for (size_t asked = 0; asked < limit && unknownHops > 0 && asked < hops.size(); ++asked) {
      Hop& hop = hops[hopCursor];
      hopCursor = (hopCursor + 1) % hops.size();
      if (hop.known) continue;
      if (const auto mac = neighbours->macOf(hop.addr)) {
        std::memcpy(hop.header.data(), mac->bytes.data(), 6);
        hop.known = true;
        --unknownHops;
      }
    }
  }

  // Records a verdict for slot `idx`; the first answer wins, later ones are duplicates.
  void complete(uint32_t idx, Verdict v, uint8_t ttl, int64_t now) {
    Slot& s = slots[idx];
    s.ttl.store(ttl, std::memory_order_relaxed);
    uint8_t expected = 0;
    if (!s.result.compare_exchange_strong(expected, encodeVerdict(v))) {
      return;
    }
    finished.fetch_add(1);
    if (v.state == PortState::kOpen) openFound.fetch_add(1);
    const size_t h = idx / nprobes;
    if (cfg.scanType == ScanType::kPing) hostUp[h].store(1);
    const bool wasOutstanding = s.outstanding.exchange(0) != 0;
    if (wasOutstanding) inflight.fetch_sub(1);
    const uint8_t tries = s.tries.load();
    const int64_t rtt = static_cast<int64_t>(elapsedUs(now) - s.sentUs.load());
    std::lock_guard<std::mutex> lock(mu);
    SendDelay& delay = hostDelay[h];
    const int64_t before = delay.delayUs();
    const unsigned dropped = delay.droppedSinceChange() + (tries > 1 ? 1 : 0);
    const unsigned answers = delay.answersSinceChange() + 1;
    // nmap counts a drop only when the lost try went out after the last increase: drops from
    // before it are what the increase already answered.
    const bool drop = tries > 1 && runStartUs + s.prevSentUs.load() > delay.lastBoostUs();
    std::string why;
    const bool retryBoost = tries > 1 && delay.onRetryAnswered(tries - 1, now);
    const bool ratioBoost = delay.onAnswer(drop, now);
    if (retryBoost) {
      why = "max_successful_tryno increase to " + std::to_string(tries - 1);
    } else if (ratioBoost) {
      why = std::to_string(dropped) + " out of " + std::to_string(answers) +
            " dropped probes since last increase";
    }
    if (!why.empty()) {
      hostDelayUs[h].store(delay.delayUs());
      if (cfg.verbose > 0) {
        std::fprintf(stderr, "Increasing send delay for %s from %lld to %lld due to %s.\n",
                     (*hosts)[h].toString().c_str(), static_cast<long long>(before / 1000),
                     static_cast<long long>(delay.delayUs() / 1000), why.c_str());
      }
    }
    if (wasOutstanding && tries == 1) {
      // Karn's rule: only an unambiguous (first-try) answer is an RTT sample.
      groupRtt->addSample(rtt);
      hostRtt[h].addSample(rtt);
    }
    if (tries > 1) {
      // An answer to a retransmission means an earlier probe was lost: nmap's "drop".
      maxSuccessfulRetry = std::max(maxSuccessfulRetry, tries - 1);
      const int64_t sinceDrop = now - lastDropUs;
      if (sinceDrop > std::max<int64_t>(groupRtt->srttUs(), 1000)) {
        cwnd = std::max(cfg.congestion.minCwnd, cwnd / 2);
        ssthresh = std::max(cwnd, 2.0);
        lastDropUs = now;
      }
    } else if (cwnd < ssthresh) {
      cwnd += 1;  // slow start
    } else {
      cwnd += 1.0 / cwnd;  // congestion avoidance
    }
    cwnd = std::min(cwnd, cfg.congestion.maxCwnd);
  }

  int32_t hostOf(const AddrKey& addr) const {
    const auto it = hostIndex.find(addr);
    return it == hostIndex.end() ? -1 : static_cast<int32_t>(it->second);
  }

  uint32_t slotOf(int32_t h, int32_t probe) const {
    return static_cast<uint32_t>(static_cast<size_t>(h) * nprobes + static_cast<size_t>(probe));
  }

  // The sender and TTL of a packet addressed to our source; false for anything else.
  bool addressedToUs(const net::ParsedPacket& p, AddrKey& from, uint8_t& ttl) const {
    if (v6) {
      if (p.ipv6 == nullptr || keyOfWire(p.ipv6->dst) != srcMapped) return false;
      from = keyOfWire(p.ipv6->src);
      ttl = p.ipv6->hopLimit;
    } else {
      if (p.ipv4 == nullptr || p.ipv4->dst != cfg.source.v4addr.networkOrder()) return false;
      from = mapIpv4(ntohl(p.ipv4->src));
      ttl = p.ipv4->ttl;
    }
    return true;
  }

  void onPacket(const uint8_t* data, size_t len) {
    net::ParsedPacket p;
    if (!net::parsePacket({data, len}, linkType, p)) return;
    AddrKey from;
    uint8_t ttl = 0;
    if (!addressedToUs(p, from, ttl)) return;
    const int64_t now = monotonicMicros();
    if (p.tcp != nullptr) {
      onTcpReply(p, from, ttl, now);
    } else if (p.udp != nullptr) {
      onUdpReply(p, from, ttl, now);
    } else if (p.icmp != nullptr) {
      onIcmpReply(p, from, ttl, now);
    }
  }

  void onTcpReply(const net::ParsedPacket& p, const AddrKey& from, uint8_t ttl, int64_t now) {
    using namespace net;
    const bool ping = cfg.scanType == ScanType::kPing;
    const int32_t h = hostOf(from);
    const uint16_t sport = ntohs(p.tcp->srcPort);
    const uint16_t dport = ntohs(p.tcp->dstPort);
    const int32_t entry = h < 0 ? -1 : tcpIndex[sport];
    if (entry < 0) return;
    const auto [ourPort, c] = tcpCookieFor(hostKeys[static_cast<size_t>(h)], sport);
    if (dport != ourPort) return;
    const TcpProbeEntry probe = TcpProbeEntry::unpack(entry);
    const uint8_t flags = p.tcp->flags;
    bool valid = false;
    if (flags & tcp_flags::kAck) {
      // A SYN/ACK acknowledges our SYN only (data on a SYN is not accepted); a RST answering
      // a segment without ACK acknowledges SYN, FIN and every data byte we sent.
      const uint32_t adv = (flags & tcp_flags::kSyn)
                               ? 1u
                               : ((probe.tcpFlags & tcp_flags::kSyn) ? 1u : 0u) +
                                     ((probe.tcpFlags & tcp_flags::kFin) ? 1u : 0u) +
                                     static_cast<uint32_t>(cfg.dataLength);
      valid = ntohl(p.tcp->ack) == c + adv;
    }
    if (!valid && (flags & tcp_flags::kRst) && (probe.tcpFlags & tcp_flags::kAck)) {
      valid = ntohl(p.tcp->seq) == c;  // RST to an ACK takes its sequence from our ACK
    }
    if (!valid) return;
    const auto v =
        tcpReplyVerdict(ping ? ScanType::kPing : cfg.scanType, flags, ntohs(p.tcp->window));
    if (!v) return;
    Verdict verdict = *v;
    if (ping) verdict.reason = (flags & tcp_flags::kRst) ? Reason::kReset : Reason::kSynAck;
    complete(slotOf(h, probe.index), verdict, ttl, now);
  }

  void onUdpReply(const net::ParsedPacket& p, const AddrKey& from, uint8_t ttl, int64_t now) {
    const int32_t h = hostOf(from);
    const uint16_t sport = ntohs(p.udp->srcPort);
    const uint16_t dport = ntohs(p.udp->dstPort);
    if (h < 0 || udpIndex[sport] < 0) return;
    if (dport != sourcePortFor(hostKeys[static_cast<size_t>(h)], sport, net::kIpProtoUdp)) return;
    complete(slotOf(h, udpIndex[sport]), udpReplyVerdict(), ttl, now);
  }

  void onIcmpReply(const net::ParsedPacket& p, const AddrKey& from, uint8_t ttl, int64_t now) {
    using namespace net;
    const uint8_t type = p.icmp->type;
    const bool echoReply = v6 ? type == kIcmpv6EchoReply : type == kIcmpEchoReply;
    if (echoReply || (!v6 && type == kIcmpTimestampReply)) {
      const int32_t h = hostOf(from);
      const int32_t idx = echoReply ? echoIndex : timestampIndex;
      if (h < 0 || idx < 0) return;
      const uint16_t id =
          static_cast<uint16_t>(cookieFor(hostKeys[static_cast<size_t>(h)], 0, 0,
                                          echoReply ? kIcmpEchoRequest : kIcmpTimestamp) >>
                                16);
      if ((ntohl(p.icmp->rest) >> 16) != id) return;
      complete(slotOf(h, idx),
               {PortState::kOpen, echoReply ? Reason::kEchoReply : Reason::kTimestampReply}, ttl,
               now);
      return;
    }
    if (type != (v6 ? kIcmpv6Unreachable : kIcmpUnreachable)) return;
    onIcmpUnreachable(p, from, ttl, now);
  }

  // An ICMP error quoting one of our probes: matched by the quoted addresses, ports and cookie.
  void onIcmpUnreachable(const net::ParsedPacket& p, const AddrKey& from, uint8_t ttl,
                         int64_t now) {
    using namespace net;
    const uint8_t code = v6 ? icmpv4CodeFor(p.icmp->code) : p.icmp->code;
    ParsedPacket q;
    if (!parsePacket(p.payload, LinkType::kRawIp, q)) return;
    AddrKey quotedDst;
    if (v6) {
      if (q.ipv6 == nullptr || keyOfWire(q.ipv6->src) != srcMapped) return;
      quotedDst = keyOfWire(q.ipv6->dst);
    } else {
      if (q.ipv4 == nullptr || q.ipv4->src != cfg.source.v4addr.networkOrder()) return;
      quotedDst = mapIpv4(ntohl(q.ipv4->dst));
    }
    const int32_t h = hostOf(quotedDst);
    uint16_t qs = 0;
    uint16_t qd = 0;
    if (h < 0 || !q.ports(qs, qd)) return;
    const AddrKey& hostKey = hostKeys[static_cast<size_t>(h)];
    int32_t idx = -1;
    if (q.protocol == kIpProtoTcp) {
      if (tcpIndex[qd] < 0) return;
      idx = TcpProbeEntry::unpack(tcpIndex[qd]).index;
      const CookieJar::Probe c = tcpCookieFor(hostKey, qd);
      uint32_t seq = 0;
      if (qs != c.srcPort || !q.tcpSeq(seq) || seq != c.seq) return;
    } else if (q.protocol == kIpProtoUdp) {
      idx = udpIndex[qd];
      if (idx < 0 || qs != sourcePortFor(hostKey, qd, kIpProtoUdp)) return;
    } else {
      return;
    }
    std::optional<Verdict> v;
    if (cfg.scanType == ScanType::kPing) {
      // An error from the target itself proves it is up; one from a router proves nothing.
      if (from == quotedDst) v = Verdict{PortState::kOpen, Reason::kPortUnreach};
    } else {
      v = icmpUnreachableVerdict(cfg.scanType, code);
    }
    if (!v) return;
    complete(slotOf(h, idx), *v, ttl, now);
  }

  // Per-run state: the lookup tables replies are matched with, fresh slots and timing.
  void beginRun(const std::vector<Address>& runHosts, const std::vector<ProbeDef>& runProbes) {
    const size_t nhosts = runHosts.size();
    hosts = &runHosts;
    probes = &runProbes;
    nprobes = runProbes.size();
    hostIndex.clear();
    hostIndex.reserve(nhosts * 2);
    hostKeys.resize(nhosts);
    for (size_t i = 0; i < nhosts; ++i) {
      hostKeys[i] = keyOf(runHosts[i]);
      hostIndex.emplace(hostKeys[i], static_cast<uint32_t>(i));
    }
    tcpIndex.assign(65536, -1);
    udpIndex.assign(65536, -1);
    echoIndex = -1;
    timestampIndex = -1;
    for (size_t i = 0; i < nprobes; ++i) {
      const auto& p = runProbes[i];
      const auto idx = static_cast<int32_t>(i);
      switch (p.kind) {
        case ProbeDef::Kind::kTcp:
          tcpIndex[p.port] = TcpProbeEntry{idx, p.tcpFlags}.pack();
          break;
        case ProbeDef::Kind::kUdp:
          udpIndex[p.port] = idx;
          break;
        case ProbeDef::Kind::kIcmpEcho:
          echoIndex = idx;
          break;
        case ProbeDef::Kind::kIcmpTimestamp:
          timestampIndex = idx;
          break;
      }
    }
    slots.reset(new Slot[nhosts * nprobes]);
    hostUp.reset(new std::atomic<uint8_t>[nhosts]);
    for (size_t i = 0; i < nhosts; ++i) hostUp[i].store(0);
    resolveHops();
    resetTiming(nhosts);
  }

  void resetTiming(size_t nhosts) {
    const int64_t initUs = cfg.timing.initialRttTimeoutMs * 1000;
    const int64_t minUs = cfg.timing.minRttTimeoutMs * 1000;
    const int64_t maxUs = cfg.timing.maxRttTimeoutMs * 1000;
    groupRtt.emplace(initUs, minUs, maxUs);
    hostRtt.assign(nhosts, RttEstimator(initUs, minUs, maxUs));
    const int64_t scanDelayUs = cfg.timing.scanDelayMs * 1000;
    hostDelay.assign(nhosts, SendDelay(scanDelayUs, cfg.timing.maxScanDelayMs * 1000,
                                       cfg.timing.level, cfg.scanType == ScanType::kUdp));
    hostDelayUs.reset(new std::atomic<int64_t>[nhosts]);
    for (size_t i = 0; i < nhosts; ++i) hostDelayUs[i].store(scanDelayUs);
    double maxCwnd = cfg.congestion.maxCwnd;
    if (cfg.timing.maxParallelism > 0) maxCwnd = cfg.timing.maxParallelism;
    cfg.congestion.maxCwnd = maxCwnd;
    cwnd = std::min(cfg.congestion.initialCwnd, maxCwnd);
    ssthresh = cfg.congestion.initialSsthresh;
    maxSuccessfulRetry = 0;
    lastDropUs = 0;
    inflight = 0;
    finished = 0;
    openFound = 0;
    runStartUs = monotonicMicros();
  }

  // A random permutation of all slots, or with -r ports in order per host with hosts
  // interleaved (probe-major), so one host never takes a burst.
  std::vector<uint32_t> probeOrder() {
    const size_t nhosts = hosts->size();
    const size_t total = nhosts * nprobes;
    std::vector<uint32_t> order(total);
    if (cfg.randomize) {
      std::iota(order.begin(), order.end(), 0u);
      std::shuffle(order.begin(), order.end(), rng);
    } else {
      size_t k = 0;
      for (size_t p = 0; p < nprobes; ++p)
        for (size_t h = 0; h < nhosts; ++h) order[k++] = static_cast<uint32_t>(h * nprobes + p);
    }
    return order;
  }

  // What nmap's -d shows in its own words: how much was resent and whether the capture kept up
  // (a dropped reply costs a retransmission and shrinks the window).
  // Four times a second, so a scan of a fraction of a second still shows one. The rate is the
  // last interval's (the average since the start hides a stall, and at 300,000 probes a second
  // the start's ramp-up would skew it for seconds); the time left is what is unresolved at that
  // rate, or by the fraction done while nothing is being sent (retries waiting out timeouts).
  // The last line, when one was shown, gives the whole scan's rate and 100 %.
  void reportProgress(int64_t now, uint64_t sentRun, uint64_t doneRun, uint64_t runTotal,
                      bool last = false) {
    Progress& p = progress;
    if (!cfg.progress) return;
    if (p.startUs == 0) p.startUs = p.lastUs = runStartUs;
    if (!last && now - p.lastUs < kProgressUs) return;
    const uint64_t sent = p.sentBefore + sentRun;
    const uint64_t done = p.doneBefore + doneRun;
    const uint64_t total = std::max(p.total ? p.total : p.doneBefore + runTotal, done);
    const double interval = static_cast<double>(now - p.lastUs) / 1e6;
    const double elapsed = static_cast<double>(now - p.startUs) / 1e6;
    const double rate = last ? static_cast<double>(sent) / std::max(elapsed, 1e-3)
                             : static_cast<double>(sent - p.sentAtLast) / std::max(interval, 1e-3);
    p.lastUs = now;
    p.sentAtLast = sent;
    const double fraction = total ? static_cast<double>(done) / static_cast<double>(total) : 1;
    const double left = static_cast<double>(total - done);
    double eta = rate > 0 ? left / rate : (fraction > 0 ? elapsed * (1 - fraction) / fraction : 0);
    if (last) eta = 0;
    // At these rates most scans end within a minute: tenths of a second mean something there.
    char remaining[32];
    if (eta < 60) {
      std::snprintf(remaining, sizeof(remaining), "%.1f s", eta);
    } else {
      std::snprintf(remaining, sizeof(remaining), "%u:%02u:%02u", static_cast<unsigned>(eta) / 3600,
                    static_cast<unsigned>(eta) / 60 % 60, static_cast<unsigned>(eta) % 60);
    }
    const uint64_t found = p.foundBefore + (last ? 0 : openFound.load());
    std::fprintf(stderr, "\rrate: %7.2f-kpps, %6.2f%% done, %s remaining, found=%llu, sent=%llu   ",
                 rate / 1000, fraction * 100, remaining, static_cast<unsigned long long>(found),
                 static_cast<unsigned long long>(sent));
    std::fflush(stderr);
    p.shown = true;
  }

  // A run ended: its counts join the scan's (the last line reads only these).
  void endRunProgress(uint64_t sentRun, uint64_t runTotal) {
    progress.doneBefore += runTotal;
    progress.sentBefore += sentRun;
    progress.foundBefore += openFound.load();
  }

  void reportRunStats(uint64_t sentProbes, uint64_t retransmissions, unsigned txThreads,
                      uint64_t frames, uint64_t packets) {
    pcap_stat ps{};
    pcap_stats(pcap.get(), &ps);
    std::lock_guard<std::mutex> lock(mu);
    // The I/O methods, so a user knows what was measured (README, "The scanner": why these).
    std::string send;
    if (frames > 0) {
      send = "Ethernet frames on an AF_PACKET socket past the qdisc (" + std::to_string(frames) +
             " frames)";
    }
    if (packets > 0) {
      if (!send.empty()) send += " and ";
      send += "raw IP socket (" + std::to_string(packets) + " packets)";
    }
    if (send.empty()) send = "nothing sent";
    std::fprintf(stderr,
                 "raw engine: send: %s, sendmmsg in batches of 64 on %u threads; "
                 "receive: libpcap on a memory-mapped TPACKET_V3 ring (%s), polled\n",
                 send.c_str(), txThreads, pcap_lib_version());
    if (linkFd && unknownHops > 0) {
      std::fprintf(stderr, "raw engine: %zu of %zu next hops had no neighbour entry: raw IP\n",
                   unknownHops, hops.size());
    }
    std::fprintf(stderr,
                 "raw engine: %llu probes sent (%llu retransmitted) in %.3f s, final window %.0f,"
                 " RTO %lld us, capture dropped %u\n",
                 static_cast<unsigned long long>(sentProbes),
                 static_cast<unsigned long long>(retransmissions),
                 static_cast<double>(monotonicMicros() - runStartUs) / 1e6, cwnd,
                 static_cast<long long>(groupRtt->rtoUs()), ps.ps_drop);
  }

  // Turns the slots into outcomes and the RTT estimates into per-host timing, and frees the
  // slots.
  void collectResults(std::vector<SlotOutcome>& outcomes, std::vector<HostTiming>& timing,
                      double startEpoch) {
    const double endEpoch = epochSeconds();
    for (size_t i = 0; i < outcomes.size(); ++i) {
      const uint8_t r = slots[i].result.load();
      SlotOutcome& o = outcomes[i];
      if (r != 0 && r != kGaveUp) {
        o.verdict = decodeVerdict(r);
        o.ttl = slots[i].ttl.load();
        o.answered = true;
      } else {
        o.verdict = noResponseVerdict(cfg.scanType);
      }
    }
    for (size_t h = 0; h < timing.size(); ++h) {
      auto& t = timing[h];
      const RttEstimator& est = hostRtt[h].hasSample() ? hostRtt[h] : *groupRtt;
      t.srttUs = est.srttUs();
      t.rttvarUs = est.rttvarUs();
      t.rtoUs = est.rtoUs();
      t.startTime = startEpoch;
      t.endTime = endEpoch;
    }
    slots.reset();
  }

  static void pcapCallback(u_char* user, const pcap_pkthdr* hdr, const u_char* bytes) {
    reinterpret_cast<Impl*>(user)->onPacket(bytes, hdr->caplen);
  }

  void receiveLoop() {
    // Poll the ring on a short timer instead of sleeping in poll(): a thread asleep on the
    // socket must be woken (an IPI in a VM) for every reply, which cost more than the replies.
    while (!stopReceiver.load(std::memory_order_relaxed)) {
      int got = 0;
      int n = 0;
      while ((n = pcap_dispatch(pcap.get(), 512, &Impl::pcapCallback,
                                reinterpret_cast<u_char*>(this))) > 0) {
        got += n;
      }
      if (got == 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
    // Drain what is already queued.
    while (pcap_dispatch(pcap.get(), 512, &Impl::pcapCallback, reinterpret_cast<u_char*>(this)) >
           0) {}
  }
};

RawEngine::RawEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RawEngine::~RawEngine() {
  if (impl_->progress.shown) {  // the line as the scan ended, and a newline under it
    impl_->reportProgress(monotonicMicros(), 0, 0, 0, true);
    std::fprintf(stderr, "\n");
  }
}

void RawEngine::expectProbes(uint64_t total) { impl_->progress.total = total; }

void RawEngine::configure(ScanType type, int maxRetries) {
  impl_->cfg.scanType = type;
  impl_->cfg.timing.maxRetries = maxRetries;
}

std::unique_ptr<RawEngine> RawEngine::open(const EngineConfig& cfg, std::string& error) {
  auto impl = std::make_unique<Impl>();
  impl->cfg = cfg;
  impl->srcMapped = keyOf(cfg.source);
  impl->v6 = cfg.source.v6;
  if (!impl->openRawSocket(error)) return nullptr;
  if (cfg.sendEth && !cfg.loopback) impl->openLinkSocket();
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  impl->pcap.reset(pcap_create(cfg.iface.c_str(), errbuf));
  if (!impl->pcap) {
    error = "cannot capture on '" + cfg.iface + "': " + errbuf;
    return nullptr;
  }
  pcap_t* pc = impl->pcap.get();
  pcap_set_snaplen(pc, 256);
  pcap_set_promisc(pc, 0);
  pcap_set_immediate_mode(pc, 1);
  pcap_set_buffer_size(pc, 2 << 20);
  const int act = pcap_activate(pc);
  if (act < 0) {
    error = "cannot capture on '" + cfg.iface + "': " + pcap_geterr(pc);
    return nullptr;
  }
  switch (pcap_datalink(pc)) {
    case DLT_EN10MB:
      impl->linkType = net::LinkType::kEthernet;
      break;
    case DLT_LINUX_SLL:
      impl->linkType = net::LinkType::kLinuxCooked;
      break;
    case DLT_RAW:
      impl->linkType = net::LinkType::kRawIp;
      break;
    default:
      error = "unsupported link type on '" + cfg.iface + "'";
      return nullptr;
  }
  // Only what is addressed to us; lo carries both directions and the cookie check sorts them.
  const std::string filter =
      impl->v6 ? "ip6 dst host " + cfg.source.toString() + " and (tcp or udp or icmp6)"
               : "ip dst host " + cfg.source.toString() + " and (tcp or udp or icmp)";
  bpf_program prog{};
  if (pcap_compile(pc, &prog, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0 ||
      pcap_setfilter(pc, &prog) != 0) {
    error = "cannot set capture filter: " + std::string(pcap_geterr(pc));
    pcap_freecode(&prog);
    return nullptr;
  }
  pcap_freecode(&prog);
  if (!cfg.loopback) {
    pcap_setdirection(pc, PCAP_D_IN);
    // Keeps our own probes from being cloned to the capture at all (the direction filter alone
    // drops them only after the copy); kernels before 4.20 lack it and the filter still holds.
    const int one = 1;
    setsockopt(pcap_fileno(pc), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
  }
  if (pcap_setnonblock(pc, 1, errbuf) != 0) {
    error = std::string("pcap_setnonblock: ") + errbuf;
    return nullptr;
  }
  return std::unique_ptr<RawEngine>(new RawEngine(std::move(impl)));
}

namespace {

// The sending side of one run: each pass gives up on timed-out hosts, expires probes older
// than the RTO (queueing retries), sends what the window, the rate limits and the per-host
// delays allow, and reports progress. The receiver thread completes slots meanwhile.
class ProbeLoop {
 public:
  ProbeLoop(RawEngine::Impl& m, std::vector<uint32_t> order, std::vector<HostTiming>& timing)
      : m_(m),
        cfg_(m.cfg),
        nhosts_(m.hosts->size()),
        nprobes_(m.nprobes),
        total_(nhosts_ * nprobes_),
        order_(std::move(order)),
        timing_(timing),
        pool_(m.rawFd.get(), m.linkFd.get(), m.v6, scopeIdOf(m.cfg.iface), txThreads()),
        batch_(pool_),
        hostTimedOut_(nhosts_, 0),
        hostTimeoutUs_(cfg_.timing.hostTimeoutMs * 1000),
        nextSendUs_(nhosts_, 0),
        deferredCap_(std::min<size_t>(nhosts_, 1024)),
        lastTickUs_(m.runStartUs),
        lastHostCheckUs_(m.runStartUs),
        lastHopCheckUs_(m.runStartUs),
        pingMode_(cfg_.scanType == ScanType::kPing) {}

  void run() {
    while (m_.finished.load() < total_) {
      const int64_t now = monotonicMicros();
      const double dt = static_cast<double>(now - lastTickUs_) / 1e6;
      lastTickUs_ = now;
      int64_t rto;
      double cwnd;
      int allowedRetries;
      {
        std::lock_guard<std::mutex> lock(m_.mu);
        rto = m_.groupRtt->rtoUs();
        cwnd = m_.cwnd;
        // nmap's adaptive retransmission: no more retries than were ever needed, plus one.
        allowedRetries = std::min(cfg_.timing.maxRetries, m_.maxSuccessfulRetry + 1);
      }
      checkHostTimeouts(now);
      if (m_.unknownHops > 0 && now - lastHopCheckUs_ >= RawEngine::Impl::kHopRecheckUs) {
        lastHopCheckUs_ = now;  // the raw socket's first probes have had the kernel resolve some
        m_.recheckHops(8);
      }
      expireProbes(now, rto, allowedRetries);
      sendProbes(now, sendBudget(dt, cwnd));
      giveUpWhenStalled();
      reportProgress(now);
      if (sentNow_ == 0) {
        // Sleep until the next probe can expire or a slot opens; short, the receiver wakes us
        // by freeing window room that we notice on the next pass.
        std::this_thread::sleep_for(std::chrono::microseconds(paced_ ? 1000 : 100));
      }
    }
    m_.endRunProgress(sentProbes_, total_);
    // A reply can complete the run before its probe's worker has counted the batch.
    pool_.finish();
  }

  uint64_t sentProbes() const { return sentProbes_; }
  static unsigned txThreads() { return std::clamp(std::thread::hardware_concurrency(), 1u, 4u); }
  uint64_t retransmissions() const { return retransmissions_; }
  uint64_t framesSent() const { return pool_.framesSent(); }
  uint64_t packetsSent() const { return pool_.packetsSent(); }

 private:
  static unsigned scopeIdOf(const std::string& iface) {
    return iface.empty() ? 0 : if_nametoindex(iface.c_str());
  }

  void giveUp(uint32_t idx) {
    uint8_t expected = 0;
    if (m_.slots[idx].result.compare_exchange_strong(expected, kGaveUp)) m_.finished.fetch_add(1);
  }

  bool skippable(uint32_t idx) const {
    const size_t h = idx / nprobes_;
    return hostTimedOut_[h] || (pingMode_ && m_.hostUp[h].load(std::memory_order_relaxed));
  }

  // --host-timeout counts from the start of the run; checking it ten times a second is enough.
  void checkHostTimeouts(int64_t now) {
    if (hostTimeoutUs_ <= 0 || now - lastHostCheckUs_ <= 100000) return;
    lastHostCheckUs_ = now;
    if (now - m_.runStartUs <= hostTimeoutUs_) return;
    for (size_t h = 0; h < nhosts_; ++h) {
      if (hostTimedOut_[h]) continue;
      hostTimedOut_[h] = 1;
      timing_[h].timedOut = true;
      for (size_t p = 0; p < nprobes_; ++p) giveUp(static_cast<uint32_t>(h * nprobes_ + p));
    }
  }

  void expireProbes(int64_t now, int64_t rto, int allowedRetries) {
    const uint32_t nowRel = m_.elapsedUs(now);
    while (!pending_.empty() && static_cast<int64_t>(nowRel - pending_.front().sentUs) >= rto) {
      const Pending e = pending_.front();
      pending_.pop_front();
      Slot& s = m_.slots[e.slot];
      if (s.sentUs.load() != e.sentUs) continue;
      if (s.outstanding.exchange(0) == 0) continue;  // answered meanwhile
      m_.inflight.fetch_sub(1);
      if (s.result.load() != 0) continue;
      if (skippable(e.slot)) {
        giveUp(e.slot);
      } else if (s.tries.load() <= allowedRetries) {
        retries_.push_back(e.slot);
      } else {
        giveUp(e.slot);
      }
    }
  }

  // How many probes may go now: the window's room, raised by --min-rate and capped by
  // --max-rate (token buckets holding at most a hundredth of a second's worth).
  int64_t sendBudget(double dt, double cwnd) {
    if (cfg_.timing.maxRate > 0) {
      maxRateTokens_ = std::min(maxRateTokens_ + dt * cfg_.timing.maxRate,
                                std::max(1.0, cfg_.timing.maxRate / 100));
    }
    if (cfg_.timing.minRate > 0) {
      minRateTokens_ = std::min(minRateTokens_ + dt * cfg_.timing.minRate,
                                std::max(1.0, cfg_.timing.minRate / 100));
    }
    int64_t windowRoom = static_cast<int64_t>(cwnd) - m_.inflight.load();
    int64_t budget = std::max<int64_t>(windowRoom, 0);
    if (cfg_.timing.minRate > 0) budget = std::max(budget, static_cast<int64_t>(minRateTokens_));
    if (cfg_.timing.maxRate > 0) budget = std::min(budget, static_cast<int64_t>(maxRateTokens_));
    return std::min<int64_t>(budget, 256);
  }

  // Deferred probes whose host is due go first, then retries, then fresh probes. A probe whose
  // host is not due yet (--scan-delay, or the delay grown on drops) waits in `deferred_`, which
  // holds at most one probe per host, while others go out.
  void sendProbes(int64_t now, int64_t budget) {
    sentNow_ = 0;
    paced_ = false;
    for (size_t n = deferred_.size(); n > 0 && sentNow_ < budget; --n) {
      const uint32_t idx = deferred_.front();
      deferred_.pop_front();
      if (m_.slots[idx].result.load() == 0) dispatch(idx, now);
    }
    while (sentNow_ < budget && deferred_.size() < deferredCap_) {
      if (!retries_.empty()) {
        const uint32_t idx = retries_.front();
        retries_.pop_front();
        if (m_.slots[idx].result.load() == 0) dispatch(idx, now);
      } else if (nextFresh_ < total_) {
        prefetchFresh(nextFresh_ + kPrefetchAhead);
        dispatch(order_[nextFresh_++], now);
      } else {
        break;
      }
    }
    batch_.flush();
    if (sentNow_ > 0) {
      if (cfg_.timing.maxRate > 0) maxRateTokens_ -= static_cast<double>(sentNow_);
      if (cfg_.timing.minRate > 0) minRateTokens_ = std::max(0.0, minRateTokens_ - sentNow_);
    }
  }

  // Fresh probes go in random order, so each one's slot and definition are a cache miss (the
  // sender's two largest costs at full speed); the order is known, so they are fetched ahead.
  static constexpr size_t kPrefetchAhead = 16;
  void prefetchFresh(size_t k) const {
    if (k >= total_) return;
    const uint32_t idx = order_[k];
    __builtin_prefetch(&m_.slots[idx], 1);
    __builtin_prefetch(&(*m_.probes)[idx % nprobes_]);
  }

  void dispatch(uint32_t idx, int64_t now) {
    if (skippable(idx)) {
      giveUp(idx);
    } else if (due(idx, now)) {
      send(idx);
    } else {
      deferred_.push_back(idx);
    }
  }

  bool due(uint32_t idx, int64_t now) {
    const size_t h = idx / nprobes_;
    const int64_t gap = m_.hostDelayUs[h].load(std::memory_order_relaxed);
    if (gap == 0) return true;
    paced_ = true;
    if (nextSendUs_[h] > now) return false;
    nextSendUs_[h] = now + gap;
    return true;
  }

  void send(uint32_t idx) {
    Slot& s = m_.slots[idx];
    const uint8_t tryNo = s.tries.load(std::memory_order_relaxed);
    const uint32_t sent = m_.elapsedUs(monotonicMicros());
    // Only this thread writes these; the receiver reads them after taking `outstanding`, whose
    // release store publishes them (sequentially consistent stores cost a full fence each).
    s.prevSentUs.store(s.sentUs.load(std::memory_order_relaxed), std::memory_order_relaxed);
    s.sentUs.store(sent, std::memory_order_relaxed);
    s.tries.store(static_cast<uint8_t>(tryNo + 1), std::memory_order_relaxed);
    s.outstanding.store(1, std::memory_order_release);
    m_.inflight.fetch_add(1, std::memory_order_relaxed);
    m_.sendSlot(batch_, idx, tryNo);
    pending_.push_back({idx, sent});
    ++sentNow_;
    ++sentProbes_;
    if (tryNo > 0) ++retransmissions_;
  }

  // Nothing in flight, nothing queued, nothing fresh: whatever is unresolved never will be.
  void giveUpWhenStalled() {
    if (pending_.empty() && retries_.empty() && deferred_.empty() && nextFresh_ >= total_ &&
        m_.inflight.load() == 0) {
      for (size_t i = 0; i < total_; ++i) giveUp(static_cast<uint32_t>(i));
    }
  }

  void reportProgress(int64_t now) {
    m_.reportProgress(now, sentProbes_, m_.finished.load(), total_);
  }

  RawEngine::Impl& m_;
  const EngineConfig& cfg_;
  const size_t nhosts_;
  const size_t nprobes_;
  const size_t total_;
  const std::vector<uint32_t> order_;
  std::vector<HostTiming>& timing_;
  TxPool pool_;
  SendBatch batch_;
  std::deque<Pending> pending_;
  std::deque<uint32_t> retries_;
  size_t nextFresh_ = 0;
  std::vector<uint8_t> hostTimedOut_;
  const int64_t hostTimeoutUs_;
  std::vector<int64_t> nextSendUs_;
  std::deque<uint32_t> deferred_;
  const size_t deferredCap_;
  int64_t lastTickUs_;
  int64_t lastHostCheckUs_;
  int64_t lastHopCheckUs_;

  double minRateTokens_ = 0;
  double maxRateTokens_ = 1;
  uint64_t sentProbes_ = 0;
  uint64_t retransmissions_ = 0;
  const bool pingMode_;
  int64_t sentNow_ = 0;  // of the current pass
  bool paced_ = false;   // the current pass met a host with a send delay
};

}  // namespace

std::vector<SlotOutcome> RawEngine::run(const std::vector<Address>& hosts,
                                        const std::vector<ProbeDef>& probes,
                                        std::vector<HostTiming>& timing) {
  Impl& m = *impl_;
  std::vector<SlotOutcome> outcomes(hosts.size() * probes.size());
  timing.assign(hosts.size(), HostTiming{});
  if (outcomes.empty()) return outcomes;

  m.beginRun(hosts, probes);
  const double startEpoch = epochSeconds();
  std::vector<uint32_t> order = m.probeOrder();
  m.stopReceiver = false;
  std::thread receiver([&m] { m.receiveLoop(); });
  ProbeLoop loop(m, std::move(order), timing);
  loop.run();
  m.stopReceiver = true;
  receiver.join();
  if (m.cfg.verbose > 0) {
    m.reportRunStats(loop.sentProbes(), loop.retransmissions(), loop.txThreads(), loop.framesSent(),
                     loop.packetsSent());
  }
  m.collectResults(outcomes, timing, startEpoch);
  return outcomes;
}

}  // namespace portcullis::scan
