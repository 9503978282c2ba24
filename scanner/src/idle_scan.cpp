#include "idle_scan.h"

#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <thread>

#include "packet/builder.h"
#include "packet/parser.h"
#include "targets.h"

namespace portcullis::scan {
namespace {

void sleepUntilUs(int64_t t) {
  const int64_t d = t - monotonicMicros();
  if (d > 0) std::this_thread::sleep_for(std::chrono::microseconds(d));
}

uint16_t byteSwap(uint16_t v) { return static_cast<uint16_t>((v << 8) | (v >> 8)); }

// Zombie qualification: nmap's six probes 30 ms apart.
constexpr int kQualifyProbes = 6;
constexpr int64_t kQualifyGapUs = 30000;
// Tries per IP ID read, and measurements per count before giving up on the zombie.
constexpr int kProbeTries = 3;
constexpr int kCountAttempts = 4;

}  // namespace

// ---- IP ID sequences ----

std::string_view ipIdClassName(IpIdClass c) {
  switch (c) {
    case IpIdClass::kUnknown:
      return "Unknown";
    case IpIdClass::kIncremental:
      return "Incremental";
    case IpIdClass::kIncrementalBy2:
      return "Incremental by 2";
    case IpIdClass::kBrokenIncremental:
      return "Broken little-endian incremental";
    case IpIdClass::kRandomPositive:
      return "Random positive increments";
    case IpIdClass::kRandomized:
      return "Randomized";
    case IpIdClass::kConstant:
      return "Constant";
    case IpIdClass::kZero:
      return "All zeros";
  }
  return "Unknown";
}

IpIdClass classifyIpIds(std::span<const uint16_t> ids) {
  if (ids.size() < 2) return IpIdClass::kUnknown;
  if (std::all_of(ids.begin(), ids.end(), [](uint16_t v) { return v == 0; })) {
    return IpIdClass::kZero;
  }
  std::vector<uint32_t> diffs;
  for (size_t i = 1; i < ids.size(); ++i) {
    diffs.push_back(static_cast<uint16_t>(ids[i] - ids[i - 1]));  // modulo 2^16: wraps are fine
  }
  auto all = [&](auto pred) { return std::all_of(diffs.begin(), diffs.end(), pred); };
  auto any = [&](auto pred) { return std::any_of(diffs.begin(), diffs.end(), pred); };
  if (all([](uint32_t d) { return d == 0; })) return IpIdClass::kConstant;
  // nmap's thresholds: a jump past 20000 is noise, not a counter (two samples are too few to
  // say so).
  if (ids.size() > 2 && any([](uint32_t d) { return d > 20000; })) return IpIdClass::kRandomized;
  // A counter kept in little-endian order steps by 256 on the wire.
  if (all([](uint32_t d) { return d % 256 == 0 && d <= 5120; })) {
    return IpIdClass::kBrokenIncremental;
  }
  // nmap takes any all-even sequence for "by 2"; small steps only, as a counter would make.
  if (all([](uint32_t d) { return d % 2 == 0 && d <= 18; })) return IpIdClass::kIncrementalBy2;
  if (all([](uint32_t d) { return d <= 9; })) return IpIdClass::kIncremental;
  // Beyond nmap: a little-endian counter whose low byte carried (0x00ff -> 0x0100 reads as
  // 0xff00 -> 0x0001) fails the multiple-of-256 test; byte-swapped it is plainly incremental.
  bool swappedSmall = true;
  for (size_t i = 1; i < ids.size(); ++i) {
    if (static_cast<uint16_t>(byteSwap(ids[i]) - byteSwap(ids[i - 1])) > 9) swappedSmall = false;
  }
  if (swappedSmall) return IpIdClass::kBrokenIncremental;
  if (any([](uint32_t d) { return d > 1000 && (d % 256 != 0 || d >= 25600); })) {
    return IpIdClass::kRandomPositive;
  }
  return IpIdClass::kUnknown;
}

bool ipIdClassUsable(IpIdClass c) {
  return c == IpIdClass::kIncremental || c == IpIdClass::kIncrementalBy2 ||
         c == IpIdClass::kBrokenIncremental;
}

int ipIdDistance(IpIdClass c, uint16_t from, uint16_t to) {
  switch (c) {
    case IpIdClass::kIncremental:
      return static_cast<uint16_t>(to - from);
    case IpIdClass::kIncrementalBy2:
      return static_cast<uint16_t>(to - from) / 2;
    case IpIdClass::kBrokenIncremental:
      return static_cast<uint16_t>(byteSwap(to) - byteSwap(from));
    default:
      return -1;
  }
}

// ---- pacing ----

IdlePacing IdlePacing::fromParallelism(int minParallelism, int maxParallelism) {
  IdlePacing p;
  p.minGroup = minParallelism > 0 ? minParallelism : 4;
  p.maxGroup = std::max(p.minGroup, maxParallelism > 0 ? maxParallelism : 100);
  p.groupSize = std::min(p.maxGroup, 30);
  return p;
}

void IdlePacing::capGroupBySendDelay() {
  // No group may take more than half a second of send delays.
  groupSize = std::min(groupSize, 500000.0 / static_cast<double>(sendDelayUs + 1));
  groupSize = std::clamp(groupSize, static_cast<double>(minGroup), static_cast<double>(maxGroup));
}

void IdlePacing::countChecked(int counted, int real) {
  if (counted < real) {
    // A missed open port: a SYN or the zombie's RST was lost, or we asked the zombie too early.
    groupSize *= 0.8;
    sendDelayUs = std::min(maxSendDelayUs, sendDelayUs + 10000);
    waitScale = std::min(8.0, waitScale * 1.5);
  } else if (counted > real) {
    // Phantom ports: the zombie sent packets of its own. Smaller groups slip between them.
    groupSize *= 0.8;
  } else {
    sendDelayUs = sendDelayUs * 9 / 10;
    if (sendDelayUs < 500) sendDelayUs = 0;
    groupSize *= 1.1;
    waitScale = std::max(1.0, waitScale * 0.95);
  }
  capGroupBySendDelay();
}

void IdlePacing::probesLost() {
  sendDelayUs = std::min(maxSendDelayUs, sendDelayUs + 5000);
  capGroupBySendDelay();
}

void IdlePacing::probesAnswered() {
  sendDelayUs = sendDelayUs * 95 / 100;
  if (sendDelayUs < 500) sendDelayUs = 0;
  capGroupBySendDelay();
}

size_t IdlePacing::topGroupSize() const {
  return std::max<size_t>(1, static_cast<size_t>(groupSize * 2));
}

// ---- search ----

int IdlePortSearch::countOf(std::span<const uint16_t> ports) {
  if (ports.empty() || failed_) return 0;
  ++counts_;
  const int c = count_(ports);
  if (c < 0 || c > static_cast<int>(ports.size())) {
    failed_ = true;
    return 0;
  }
  return c;
}

void IdlePortSearch::setOpen(uint16_t port, bool open) {
  const auto it = std::find(open_.begin(), open_.end(), port);
  if (open && it == open_.end()) open_.push_back(port);
  if (!open && it != open_.end()) open_.erase(it);
}

int IdlePortSearch::search(std::span<const uint16_t> ports, int expected) {
  const size_t firstSize = (ports.size() + 1) / 2;
  const std::array<std::span<const uint16_t>, 2> halves = {ports.first(firstSize),
                                                           ports.subspan(firstSize)};
  std::array<int, 2> counted{0, 0};
  std::array<int, 2> found{0, 0};
  std::array<bool, 2> deep{false, false};
  for (size_t i = 0; i < 2; ++i) {
    counted[i] = found[i] = countOf(halves[i]);
    if (failed_) return 0;
    if (counted[i] == 0) continue;
    if (halves[i].size() == 1) {
      setOpen(halves[i][0], true);
    } else {
      deep[i] = true;
      found[i] = search(halves[i], counted[i]);
      if (failed_) return 0;
      pacing_.countChecked(counted[i], found[i]);
    }
  }
  int total = found[0] + found[1];
  if (expected < 0 || total == expected) return total;

  // The halves do not add up to the count of the whole: count again what was not checked by a
  // deeper search (a half counted 0, or a single port), and believe the recount.
  for (size_t i = 0; i < 2; ++i) {
    if (deep[i] || halves[i].empty()) continue;
    const int again = countOf(halves[i]);
    if (failed_) return 0;
    if (again == counted[i]) continue;
    int now = again;
    if (halves[i].size() == 1) {
      setOpen(halves[i][0], again == 1);
      pacing_.countChecked(counted[i], again);
    } else {  // counted 0 before, so `again` > 0
      now = search(halves[i], again);
      if (failed_) return 0;
      pacing_.countChecked(counted[i], now);  // the first count missed these
    }
    total += now - found[i];
    found[i] = now;
  }
  return total;
}

bool IdlePortSearch::run(std::span<const uint16_t> ports, std::vector<uint16_t>& open) {
  size_t i = 0;
  while (i < ports.size() && !failed_) {
    const size_t n = std::min(ports.size() - i, pacing_.topGroupSize());
    search(ports.subspan(i, n), -1);
    i += n;
  }
  if (failed_) return false;
  std::sort(open_.begin(), open_.end());
  open.insert(open.end(), open_.begin(), open_.end());
  return true;
}

// ---- zombie specification ----

bool parseZombieSpec(std::string_view text, ZombieSpec& out, std::string& error) {
  out = ZombieSpec{};
  if (text.empty()) {
    error = "-sI needs a zombie host (-sI ZOMBIE[:PROBEPORT])";
    return false;
  }
  const size_t colon = text.find(':');
  if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
    error = "idle scan (-sI) supports IPv4 zombies only: '" + std::string(text) + "'";
    return false;
  }
  out.host = std::string(text.substr(0, colon));
  if (out.host.empty()) {
    error = "bad idle scan zombie '" + std::string(text) + "' (use ZOMBIE[:PROBEPORT])";
    return false;
  }
  if (colon != std::string_view::npos) {
    const std::string_view port = text.substr(colon + 1);
    unsigned long v = 0;
    bool ok = !port.empty() && port.size() <= 5;
    for (char c : port) {
      if (c < '0' || c > '9') ok = false;
      if (ok) v = v * 10 + static_cast<unsigned long>(c - '0');
    }
    if (!ok || v == 0 || v > 65535) {
      error = "bad probe port in idle scan zombie '" + std::string(text) + "' (1-65535)";
      return false;
    }
    out.probePort = static_cast<uint16_t>(v);
  }
  return true;
}

// ---- the scanner ----

IdleScanner::IdleScanner(const ZombieSpec& spec, const IdleConfig& cfg)
    : spec_(spec),
      cfg_(cfg),
      zombieRtt_(cfg.timing.initialRttTimeoutMs * 1000, cfg.timing.minRttTimeoutMs * 1000,
                 cfg.timing.maxRttTimeoutMs * 1000),
      pacing_(IdlePacing::fromParallelism(cfg.timing.minParallelism, cfg.timing.maxParallelism)),
      rng_(std::random_device{}()) {}

std::string IdleScanner::zombieName() const { return spec_.host + " (" + zombie_.toString() + ")"; }

std::unique_ptr<IdleScanner> IdleScanner::open(const ZombieSpec& spec, const IdleConfig& cfg,
                                               std::optional<net::Ipv4Address> spoofTest,
                                               std::string& error) {
  std::unique_ptr<IdleScanner> s(new IdleScanner(spec, cfg));
  std::vector<Target> resolved;
  std::string err;
  if (!expandTargetSpec(spec.host, TargetOptions{}, resolved, err)) {
    error = "cannot resolve idle scan zombie '" + spec.host + "': " + err;
    return nullptr;
  }
  if (resolved.size() != 1) {
    error = "the idle scan zombie must be one host, not '" + spec.host + "'";
    return nullptr;
  }
  if (resolved[0].address.v6) {
    error = "idle scan (-sI) supports IPv4 zombies only: '" + spec.host + "'";
    return nullptr;
  }
  s->zombie_ = resolved[0].address.v4addr;
  Route route;
  if (!findRoute(resolved[0].address, cfg.iface, route, err)) {
    error = "idle scan zombie " + s->zombieName() + ": " + err;
    return nullptr;
  }
  s->source_ = route.source.v4addr;
  if (!cfg.spoofSource.empty()) {
    const auto a = net::Ipv4Address::parse(cfg.spoofSource);
    if (!a) {
      error = "bad -S address '" + cfg.spoofSource + "'";
      return nullptr;
    }
    s->source_ = *a;
  }

  // An IPPROTO_RAW socket takes our IP header as written, which the spoofed SYNs need; the
  // zombie's RSTs come in on a raw TCP socket that the kernel filters down to the zombie.
  s->sendFd_ = UniqueFd(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
  s->recvFd_ = UniqueFd(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP));
  if (!s->sendFd_ || !s->recvFd_) {
    error = std::string("raw socket for the idle scan: ") + std::strerror(errno);
    return nullptr;
  }
  if (!cfg.iface.empty()) {
    for (int fd : {s->sendFd_.get(), s->recvFd_.get()}) {
      if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, cfg.iface.c_str(),
                     static_cast<socklen_t>(cfg.iface.size())) != 0) {
        error = "cannot use interface '" + cfg.iface + "': " + std::strerror(errno);
        return nullptr;
      }
    }
  }
  // Raw IPv4 sockets hand the filter the packet from its IP header: accept source == zombie.
  std::array<sock_filter, 4> code = {{
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 12),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, s->zombie_.value, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0xffff),
      BPF_STMT(BPF_RET | BPF_K, 0),
  }};
  sock_fprog prog{static_cast<unsigned short>(code.size()), code.data()};
  // Without the filter the socket sees every TCP packet to this host; still correct, so a
  // failure here is not fatal.
  setsockopt(s->recvFd_.get(), SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));

  // Source ports of our probes: nmap's "magic port" idea, a random base per run.
  s->portBase_ = static_cast<uint16_t>(33000 + s->rng_() % 31000);
  s->ackBase_ = static_cast<uint32_t>(s->rng_());
  if (spoofTest && *spoofTest == s->zombie_) spoofTest.reset();
  if (!s->qualify(spoofTest, error)) return nullptr;
  return s;
}

bool IdleScanner::sendSpoofed(net::Ipv4Address src, net::Ipv4Address dst, uint16_t sport,
                              uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack,
                              size_t padding) {
  std::vector<uint8_t> pad(padding);
  for (auto& b : pad) b = static_cast<uint8_t>(rng_());
  const auto pkt = net::PacketBuilder()
                       .ipv4(net::Ipv4Header()
                                 .setSrc(src)
                                 .setDst(dst)
                                 .setTtl(static_cast<uint8_t>(cfg_.ttl))
                                 .setId(static_cast<uint16_t>(rng_())))
                       .tcp(net::TcpHeader()
                                .setSrcPort(sport)
                                .setDstPort(dport)
                                .setSeq(seq)
                                .setAck(ack)
                                .setFlags(flags)
                                .setWindow(1024)
                                .addMss(1460))
                       .payload(pad)
                       .build();
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = dst.networkOrder();
  for (int attempt = 0; attempt < 50; ++attempt) {
    const ssize_t n = ::sendto(sendFd_.get(), pkt.data(), pkt.size(), 0,
                               reinterpret_cast<const sockaddr*>(&sin), sizeof(sin));
    if (n >= 0) return true;
    if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    // Unreachable neighbours and the like are a lost packet, which the counts tolerate;
    // a refusal to send at all is not.
    if (errno == EPERM || errno == EACCES || errno == EINVAL || errno == EMSGSIZE) {
      error_ = std::string("sending to ") + dst.toString() + ": " + std::strerror(errno);
    }
    return false;
  }
  return false;
}

uint16_t IdleScanner::probeSourcePort() const {
  // -g fixes it; else it walks 256 ports above a random base (as nmap's probes do), so that
  // successive probes are distinct connections to the zombie, never a repeat of one.
  if (cfg_.sourcePort) return *cfg_.sourcePort;
  return static_cast<uint16_t>(portBase_ + (probeCounter_ & 0xff));
}

bool IdleScanner::sendProbe(uint16_t sport, uint32_t ack) {
  // SYN/ACK is what the zombie gets from the target too, and what firewalls let through most.
  return sendSpoofed(source_, zombie_, sport, spec_.probePort,
                     net::tcp_flags::kSyn | net::tcp_flags::kAck, static_cast<uint32_t>(rng_()),
                     ack, 0);
}

template <typename F>
void IdleScanner::readReplies(int64_t deadlineUs, F&& onReply) {
  std::array<uint8_t, 2048> buf;
  for (;;) {
    for (;;) {
      const ssize_t n = ::recv(recvFd_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n <= 0) break;
      net::ParsedPacket p;
      if (!net::parsePacket({buf.data(), static_cast<size_t>(n)}, net::LinkType::kRawIp, p) ||
          p.ipv4 == nullptr || p.tcp == nullptr) {
        continue;
      }
      if (net::Ipv4Address::fromNetworkOrder(p.ipv4->src) != zombie_ ||
          net::Ipv4Address::fromNetworkOrder(p.ipv4->dst) != source_ ||
          ntohs(p.tcp->srcPort) != spec_.probePort || (p.tcp->flags & net::tcp_flags::kRst) == 0) {
        continue;
      }
      // A RST answering our SYN/ACK carries our ACK number as its sequence number.
      if (onReply(ntohl(p.tcp->seq), ntohs(p.ipv4->id))) return;
    }
    const int64_t left = deadlineUs - monotonicMicros();
    if (left <= 0) return;
    pollfd pfd{recvFd_.get(), POLLIN, 0};
    const timespec ts{static_cast<time_t>(left / 1000000),
                      static_cast<long>(left % 1000000) * 1000};
    ::ppoll(&pfd, 1, &ts, nullptr);
  }
}

int IdleScanner::probeZombie(int& sent, int& answered) {
  sent = answered = 0;
  std::array<uint32_t, kProbeTries> acks{};
  std::array<int64_t, kProbeTries> sentAt{};
  std::array<bool, kProbeTries> got{};
  int id = -1;
  int idTry = -1;
  for (int t = 0; t < kProbeTries && id < 0; ++t) {
    const uint16_t sport = probeSourcePort();
    acks[t] = ackBase_ + probeCounter_++;
    if (!sendProbe(sport, acks[t])) {
      if (!error_.empty()) return -1;
      continue;
    }
    sentAt[t] = monotonicMicros();
    ++sent;
    readReplies(sentAt[t] + zombieRtt_.rtoUs(), [&](uint32_t seq, uint16_t ipId) {
      for (int k = 0; k <= t; ++k) {
        if (got[k] || seq != acks[k]) continue;
        got[k] = true;
        ++answered;
        zombieRtt_.addSample(monotonicMicros() - sentAt[k]);
        // The latest try's answer is the one after every probe of ours so far.
        if (k > idTry) {
          idTry = k;
          id = ipId;
        }
      }
      return id >= 0 && answered >= sent;
    });
  }
  if (id < 0) zombieRtt_.backoff();
  return id;
}

bool IdleScanner::qualify(std::optional<net::Ipv4Address> spoofTest, std::string& error) {
  std::array<int, kQualifyProbes> ids{};
  int answered = 0;
  if (!sampleQualifyIds(ids, answered, error) || !classifyZombie(ids, answered, error)) {
    return false;
  }
  if (spoofTest && !checkSpoofedCounted(*spoofTest, error)) return false;
  banner_ = "Idle scan using zombie " + spec_.host + " (" + zombie_.toString() + ":" +
            std::to_string(spec_.probePort) + "); Class: " + std::string(ipIdClassName(class_));
  return true;
}

bool IdleScanner::sampleQualifyIds(std::span<int> ids, int& answered, std::string& error) {
  std::array<uint32_t, kQualifyProbes> acks{};
  std::array<int64_t, kQualifyProbes> sentAt{};
  std::fill(ids.begin(), ids.end(), -1);
  int sent = 0;
  answered = 0;
  auto onReply = [&](uint32_t seq, uint16_t ipId) {
    for (int k = 0; k < sent; ++k) {
      if (ids[k] >= 0 || acks[k] != seq) continue;
      ids[k] = ipId;
      ++answered;
      zombieRtt_.addSample(monotonicMicros() - sentAt[k]);
    }
    return false;  // keep the 30 ms rhythm; the final wait below stops on its own
  };
  const int64_t gap = std::max<int64_t>(kQualifyGapUs, cfg_.timing.scanDelayMs * 1000);
  for (int i = 0; i < kQualifyProbes; ++i) {
    if (i > 0) readReplies(sentAt[i - 1] + gap, onReply);
    acks[i] = ackBase_ + probeCounter_;
    const uint16_t sport = probeSourcePort();
    ++probeCounter_;
    sentAt[i] = monotonicMicros();
    if (!sendProbe(sport, acks[i]) && !error_.empty()) {
      error = error_;
      return false;
    }
    ++sent;
  }
  // Wait for stragglers: twice the initial RTT timeout, between 1 and 9 seconds (nmap's cap).
  const int64_t patience =
      std::clamp<int64_t>(cfg_.timing.initialRttTimeoutMs * 2000, 1000000, 9000000);
  const int64_t deadline = sentAt[kQualifyProbes - 1] + patience;
  while (answered < sent && monotonicMicros() < deadline) {
    readReplies(deadline, [&](uint32_t seq, uint16_t ipId) {
      onReply(seq, ipId);
      return answered == sent;
    });
  }
  return true;
}

bool IdleScanner::classifyZombie(std::span<const int> ids, int answered, std::string& error) {
  const std::string where =
      "Idle scan zombie " + zombieName() + " port " + std::to_string(spec_.probePort);
  if (answered == 0) {
    error = where +
            " cannot be used because it has not returned any of our probes -- perhaps it is "
            "down or firewalled.";
    return false;
  }
  std::vector<uint16_t> seen;
  for (int v : ids) {
    if (v >= 0) seen.push_back(static_cast<uint16_t>(v));
  }
  class_ = classifyIpIds(seen);
  if (cfg_.verbose > 0) {
    std::cerr << "Idle scan zombie IP IDs:";
    for (uint16_t v : seen) std::cerr << " " << v;
    std::cerr << " (" << ipIdClassName(class_) << ")\n";
  }
  if (!ipIdClassUsable(class_)) {
    error = where + " cannot be used because IP ID sequence class is: " +
            std::string(ipIdClassName(class_)) + ".  Try another zombie.";
    return false;
  }
  latestId_ = seen.back();
  if (answered < kQualifyProbes) {
    // Losing packets already: start small and slow, as nmap does.
    pacing_.groupSize = std::clamp(12.0, static_cast<double>(pacing_.minGroup),
                                   static_cast<double>(pacing_.maxGroup));
    pacing_.sendDelayUs += 5000;
  }
  return true;
}

// The zombie must spend IDs on packets that claim to come from the target.
bool IdleScanner::checkSpoofedCounted(net::Ipv4Address spoofTest, std::string& error) {
  for (int i = 0; i < 4; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!sendSpoofed(spoofTest, zombie_, portBase_, spec_.probePort,
                     net::tcp_flags::kSyn | net::tcp_flags::kAck, static_cast<uint32_t>(rng_()),
                     static_cast<uint32_t>(rng_()), 0) &&
        !error_.empty()) {
      error = error_;
      return false;
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int ourProbes = 0;
  int id = -1;
  for (int attempt = 0; attempt < 2 && id < 0; ++attempt) {
    int s = 0;
    int a = 0;
    id = probeZombie(s, a);
    ourProbes += s;
  }
  if (id < 0) {
    error = !error_.empty() ? error_
                            : "idle scan zombie " + zombieName() + " stopped answering our probes";
    return false;
  }
  const int distance = ipIdDistance(class_, latestId_, static_cast<uint16_t>(id));
  if (distance <= 0 || distance > 20000) {
    error = "idle scan zombie " + zombieName() +
            " behaves strangely: no valid IP ID distance after the spoofing test";
    return false;
  }
  if (distance <= ourProbes) {
    error = "idle scan zombie " + zombieName() + " (class: " + std::string(ipIdClassName(class_)) +
            ") did not count packets spoofed from " + spoofTest.toString() +
            ": it keeps an IP ID per destination, or spoofed packets are filtered on the way";
    return false;
  }
  latestId_ = static_cast<uint16_t>(id);
  return true;
}

int IdleScanner::countOnce(std::span<const uint16_t> ports) {
  const uint32_t seq = static_cast<uint32_t>(rng_());
  const int64_t delay = std::max(pacing_.sendDelayUs, cfg_.timing.scanDelayMs * 1000);
  for (size_t k = 0; k < ports.size(); ++k) {
    if (k > 0 && delay > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay));
    // Source port = the probe port, as nmap: the target's SYN/ACK then reaches the zombie on a
    // port we know it answers on.
    if (!sendSpoofed(zombie_, target_, spec_.probePort, ports[k], net::tcp_flags::kSyn, seq, 0,
                     cfg_.dataLength) &&
        !error_.empty()) {
      return -1;
    }
  }
  const int64_t end = monotonicMicros();
  // Ask the zombie twice: once about when the target's answers should have arrived, once
  // later for stragglers (nmap's floors of 50 and 75 ms), and keep the higher count.
  auto scaled = [this](int64_t us) {
    return std::min<int64_t>(4000000,
                             static_cast<int64_t>(static_cast<double>(us) * pacing_.waitScale));
  };
  const std::array<int64_t, 2> waits = {
      scaled(std::max<int64_t>(50000, targetSrttUs_)),
      scaled(std::max<int64_t>(75000, 2 * targetSrttUs_ + targetRttvarUs_))};
  int open = -1;
  int probesSent = 0;
  int probesAnswered = 0;
  int newest = -1;
  for (int64_t w : waits) {
    sleepUntilUs(end + w);
    int s = 0;
    int a = 0;
    const int id = probeZombie(s, a);
    if (!error_.empty()) return -1;
    probesSent += s;
    probesAnswered += a;
    if (id >= 0) {
      newest = id;
      open =
          std::max(open, ipIdDistance(class_, latestId_, static_cast<uint16_t>(id)) - probesSent);
    }
    if (open >= static_cast<int>(ports.size())) break;  // it cannot rightly grow any further
  }
  if (probesAnswered < probesSent) {
    pacing_.probesLost();
  } else {
    pacing_.probesAnswered();
  }
  if (newest >= 0) latestId_ = static_cast<uint16_t>(newest);
  return open;
}

int IdleScanner::countOpen(std::span<const uint16_t> ports) {
  for (int attempt = 1; attempt <= kCountAttempts; ++attempt) {
    const int c = countOnce(ports);
    if (!error_.empty()) return -1;
    if (c >= 0 && c <= static_cast<int>(ports.size())) return c;
    if (cfg_.verbose > 0) {
      std::cerr << "idle scan: counted " << c << " open ports of " << ports.size() << " (try "
                << attempt << "); retrying\n";
    }
    if (attempt == kCountAttempts) break;
    // The zombie may have had a burst of its own traffic: pause, then take a fresh baseline.
    std::this_thread::sleep_for(std::chrono::milliseconds(250 * attempt * attempt));
    int s = 0;
    int a = 0;
    const int id = probeZombie(s, a);
    if (!error_.empty()) return -1;
    if (id >= 0) latestId_ = static_cast<uint16_t>(id);
  }
  error_ =
      "idle scan cannot get meaningful counts from zombie " + zombieName() + "; is it really idle?";
  return -1;
}

bool IdleScanner::scan(net::Ipv4Address target, std::vector<uint16_t> ports, int64_t targetSrttUs,
                       std::vector<PortResult>& out, std::string& error) {
  if (ports.empty()) return true;
  Route route;
  std::string rerr;
  Address addr;
  addr.v4addr = target;
  if (findRoute(addr, cfg_.iface, route, rerr) && route.loopback) {
    std::cout << "Skipping Idle Scan against " << target.toString()
              << " -- you can't idle scan your own machine (localhost).\n";
    return true;
  }
  target_ = target;
  // The target's RTT is what the waits need, and we never talk to it: take discovery's when
  // there was one, else twice the zombie's with the template's min-rtt-timeout as a floor.
  const int64_t zSrtt = zombieRtt_.srttUs();
  const int64_t zVar = zombieRtt_.rttvarUs();
  if (targetSrttUs > 0) {
    targetSrttUs_ = std::max(targetSrttUs, zSrtt);
  } else {
    targetSrttUs_ = std::max<int64_t>(cfg_.timing.minRttTimeoutMs * 1000, 2 * zSrtt);
  }
  targetRttvarUs_ = std::clamp<int64_t>(zVar, 10000, 2000000);
  if (!cfg_.sequential) std::shuffle(ports.begin(), ports.end(), rng_);

  IdlePortSearch search(pacing_, [this](std::span<const uint16_t> p) { return countOpen(p); });
  std::vector<uint16_t> open;
  if (!search.run(ports, open)) {
    error = error_.empty() ? "idle scan failed against " + target.toString() : error_;
    return false;
  }
  if (cfg_.verbose > 0) {
    std::cerr << "Idle scan of " << target.toString() << ": " << ports.size() << " ports, "
              << search.countsUsed() << " counts, " << open.size() << " open\n";
  }
  std::sort(ports.begin(), ports.end());
  for (uint16_t p : ports) {
    const bool isOpen = std::binary_search(open.begin(), open.end(), p);
    out.push_back({p, Protocol::kTcp, isOpen ? PortState::kOpen : PortState::kClosedFiltered,
                   isOpen ? Reason::kIpIdChange : Reason::kNoIpIdChange, 0});
  }
  return true;
}

std::unique_ptr<IdleScanner> openIdleScanner(const Options& opts,
                                             const std::vector<Target>& targets,
                                             std::string& error) {
  if (std::any_of(targets.begin(), targets.end(), [](const Target& t) { return t.address.v6; })) {
    error = "idle scan (-sI) supports IPv4 targets only";
    return nullptr;
  }
  // Decoy copies or fragments of our probes are not implemented for the idle scan, and
  // silently dropping the options would mislead.
  if (!opts.decoys.empty() || opts.fragmentSize > 0) {
    error = "-D and -f/--mtu cannot be combined with -sI";
    return nullptr;
  }
  ZombieSpec spec;
  if (!parseZombieSpec(opts.zombie, spec, error)) return nullptr;
  IdleConfig cfg;
  cfg.timing = opts.timing;
  cfg.iface = opts.iface;
  cfg.spoofSource = opts.spoofSource;
  cfg.sourcePort = opts.sourcePort;
  cfg.ttl = opts.ttl;
  cfg.dataLength = opts.dataLength;
  cfg.sequential = opts.sequential;
  cfg.verbose = opts.verbose;
  std::optional<net::Ipv4Address> first;
  if (!targets.empty()) first = targets.front().address.v4addr;
  return IdleScanner::open(spec, cfg, first, error);
}

}  // namespace portcullis::scan
