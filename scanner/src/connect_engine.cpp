#include "connect_engine.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <numeric>
#include <random>

#include "net_util.h"

namespace portcullis::scan {
namespace {

struct Conn {
  uint32_t slot = 0;
  int64_t startUs = 0;
  bool live = false;
};

struct Waiting {
  int fd;
  uint32_t slot;
  int64_t startUs;
};

Verdict verdictForErrno(int err, ScanType type) {
  if (err == 0) return {PortState::kOpen, Reason::kSynAck};
  if (err == ECONNREFUSED) {
    return {type == ScanType::kPing ? PortState::kOpen : PortState::kClosed, Reason::kConnRefused};
  }
  if (err == EHOSTUNREACH) return {PortState::kFiltered, Reason::kHostUnreach};
  if (err == ENETUNREACH) return {PortState::kFiltered, Reason::kNetUnreach};
  if (err == EACCES || err == EPERM) return {PortState::kFiltered, Reason::kAdminProhibited};
  return {PortState::kFiltered, Reason::kNoResponse};
}

}  // namespace

std::vector<SlotOutcome> runConnectScan(const std::vector<Address>& hosts,
                                        const std::vector<uint16_t>& ports,
                                        const ConnectConfig& cfg, std::vector<HostTiming>& timing) {
  const size_t nhosts = hosts.size();
  const size_t nports = ports.size();
  const size_t total = nhosts * nports;
  std::vector<SlotOutcome> out(total);
  timing.assign(nhosts, HostTiming{});
  if (total == 0) return out;

  const long fdLimit = raiseFdLimit();
  // Keep headroom for stdio, the epoll fd, output files and the resolver.
  const int64_t fdCap = std::max<long>(fdLimit - 64, 8);
  double maxCwnd = cfg.timing.maxParallelism > 0 ? cfg.timing.maxParallelism
                                                 : cfg.congestion.maxCwnd;
  maxCwnd = std::min<double>(maxCwnd, static_cast<double>(fdCap));
  double cwnd = std::min(cfg.congestion.initialCwnd, maxCwnd);
  double ssthresh = cfg.congestion.initialSsthresh;

  const int64_t initUs = cfg.timing.initialRttTimeoutMs * 1000;
  const int64_t minUs = cfg.timing.minRttTimeoutMs * 1000;
  const int64_t maxUs = cfg.timing.maxRttTimeoutMs * 1000;
  RttEstimator group(initUs, minUs, maxUs);
  std::vector<RttEstimator> perHost(nhosts, RttEstimator(initUs, minUs, maxUs));

  std::vector<uint8_t> tries(total, 0);
  std::vector<uint8_t> done(total, 0);
  std::vector<uint8_t> hostUp(nhosts, 0);
  std::vector<uint32_t> order(total);
  std::mt19937_64 rng{std::random_device{}()};
  if (cfg.randomize) {
    std::iota(order.begin(), order.end(), 0u);
    std::shuffle(order.begin(), order.end(), rng);
  } else {
    size_t k = 0;
    for (size_t p = 0; p < nports; ++p)
      for (size_t h = 0; h < nhosts; ++h) order[k++] = static_cast<uint32_t>(h * nports + p);
  }

  UniqueFd ep(epoll_create1(EPOLL_CLOEXEC));
  std::vector<Conn> conns;
  std::deque<Waiting> waiting;
  std::deque<uint32_t> retries;
  size_t nextFresh = 0;
  size_t finished = 0;
  int64_t inflight = 0;
  int maxSuccessfulRetry = 0;
  const int64_t start = monotonicMicros();
  const double startEpoch = epochSeconds();
  int64_t lastSend = 0;
  int64_t lastProgress = start;
  const bool ping = cfg.scanType == ScanType::kPing;

  auto finish = [&](uint32_t slot, Verdict v, bool answered) {
    if (done[slot]) return;
    done[slot] = 1;
    ++finished;
    out[slot].verdict = v;
    out[slot].answered = answered;
    if (answered && ping) hostUp[slot / nports] = 1;
  };
  auto closeConn = [&](int fd) {
    epoll_ctl(ep.get(), EPOLL_CTL_DEL, fd, nullptr);
    // Linger 0: close with RST, so thousands of probes leave no TIME_WAIT behind.
    linger lg{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    ::close(fd);
    conns[static_cast<size_t>(fd)].live = false;
    --inflight;
  };
  auto answered = [&](int fd, int err, int64_t now) {
    const Conn c = conns[static_cast<size_t>(fd)];
    closeConn(fd);
    const Verdict v = verdictForErrno(err, cfg.scanType);
    const bool definite = err == 0 || err == ECONNREFUSED || err == EHOSTUNREACH ||
                          err == ENETUNREACH || err == EACCES || err == EPERM;
    if (!definite) {
      retries.push_back(c.slot);  // odd error: treat like a timeout
      return;
    }
    const size_t h = c.slot / nports;
    if (tries[c.slot] == 1) {
      group.addSample(now - c.startUs);
      perHost[h].addSample(now - c.startUs);
    } else {
      maxSuccessfulRetry = std::max(maxSuccessfulRetry, tries[c.slot] - 1);
      cwnd = std::max(cfg.congestion.minCwnd, cwnd / 2);
      ssthresh = std::max(cwnd, 2.0);
    }
    if (tries[c.slot] == 1) cwnd = std::min(maxCwnd, cwnd < ssthresh ? cwnd + 1 : cwnd + 1 / cwnd);
    finish(c.slot, v, true);
  };

  epoll_event events[256];
  while (finished < total) {
    const int64_t now = monotonicMicros();
    const int allowedRetries = std::min(cfg.timing.maxRetries, maxSuccessfulRetry + 1);
    // Timeouts.
    while (!waiting.empty() && now - waiting.front().startUs >= group.rtoUs()) {
      const Waiting w = waiting.front();
      waiting.pop_front();
      Conn& c = conns[static_cast<size_t>(w.fd)];
      if (!c.live || c.slot != w.slot || c.startUs != w.startUs) continue;
      closeConn(w.fd);
      if (tries[w.slot] <= allowedRetries && !(ping && hostUp[w.slot / nports])) {
        retries.push_back(w.slot);
      } else {
        finish(w.slot, noResponseVerdict(cfg.scanType), false);
      }
    }
    if (cfg.timing.hostTimeoutMs > 0 && now - start > cfg.timing.hostTimeoutMs * 1000) {
      for (size_t h = 0; h < nhosts; ++h) timing[h].timedOut = true;
      for (size_t i = 0; i < total; ++i) {
        finish(static_cast<uint32_t>(i), noResponseVerdict(cfg.scanType), false);
      }
      break;
    }
    // Launch.
    const int64_t delayUs = cfg.timing.scanDelayMs * 1000;
    while (inflight < static_cast<int64_t>(cwnd) && (delayUs == 0 || now - lastSend >= delayUs)) {
      uint32_t slot = 0;
      if (!retries.empty()) {
        slot = retries.front();
        retries.pop_front();
      } else if (nextFresh < total) {
        slot = order[nextFresh++];
      } else {
        break;
      }
      if (done[slot]) continue;
      const size_t h = slot / nports;
      if (ping && hostUp[h]) {
        finish(slot, {PortState::kUnknown, Reason::kNoResponse}, false);
        continue;
      }
      const Address& a = hosts[h];
      const int fd = ::socket(a.v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                              0);
      if (fd < 0) {
        retries.push_front(slot);  // out of descriptors for now: wait for some to close
        cwnd = std::max(1.0, static_cast<double>(inflight));
        break;
      }
      if (!cfg.iface.empty()) {
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, cfg.iface.c_str(),
                   static_cast<socklen_t>(cfg.iface.size()));
      }
      sockaddr_storage ss{};
      socklen_t len = 0;
      if (a.v6) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(ports[slot % nports]);
        std::memcpy(&s6->sin6_addr, a.v6addr.bytes.data(), 16);
        len = sizeof(sockaddr_in6);
      } else {
        auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(ports[slot % nports]);
        s4->sin_addr.s_addr = a.v4addr.networkOrder();
        len = sizeof(sockaddr_in);
      }
      if (static_cast<size_t>(fd) >= conns.size()) conns.resize(static_cast<size_t>(fd) + 1);
      const int64_t t0 = monotonicMicros();
      conns[static_cast<size_t>(fd)] = Conn{slot, t0, true};
      ++inflight;
      ++tries[slot];
      lastSend = t0;
      const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
      if (rc == 0 || errno != EINPROGRESS) {
        answered(fd, rc == 0 ? 0 : errno, t0);
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLOUT | EPOLLERR | EPOLLHUP;
      ev.data.fd = fd;
      epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev);
      waiting.push_back({fd, slot, t0});
    }
    if (finished >= total) break;
    if (inflight == 0 && retries.empty() && nextFresh >= total) {
      for (size_t i = 0; i < total; ++i) {
        finish(static_cast<uint32_t>(i), noResponseVerdict(cfg.scanType), false);
      }
      break;
    }
    const int n = epoll_wait(ep.get(), events, 256, 2);
    const int64_t t = monotonicMicros();
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (static_cast<size_t>(fd) >= conns.size() || !conns[static_cast<size_t>(fd)].live) continue;
      int err = 0;
      socklen_t elen = sizeof(err);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
      answered(fd, err, t);
    }
    if (cfg.progress && t - lastProgress >= 1000000) {
      lastProgress = t;
      const double el = static_cast<double>(t - start) / 1e6;
      const double frac = static_cast<double>(finished) / static_cast<double>(total);
      std::fprintf(stderr, "\rconnect: %6.2f%% done, %.0f s elapsed   ", frac * 100, el);
      std::fflush(stderr);
    }
  }
  for (size_t fd = 0; fd < conns.size(); ++fd) {
    if (conns[fd].live) closeConn(static_cast<int>(fd));
  }
  if (cfg.progress && monotonicMicros() - start >= 1000000) std::fprintf(stderr, "\n");
  const double endEpoch = epochSeconds();
  for (size_t h = 0; h < nhosts; ++h) {
    const RttEstimator& e = perHost[h].hasSample() ? perHost[h] : group;
    timing[h].srttUs = e.srttUs();
    timing[h].rttvarUs = e.rttvarUs();
    timing[h].rtoUs = e.rtoUs();
    timing[h].startTime = startEpoch;
    timing[h].endTime = endEpoch;
  }
  return out;
}

}  // namespace portcullis::scan
