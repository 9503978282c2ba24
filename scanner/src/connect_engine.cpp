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

RttEstimator estimatorFor(const TimingParams& t) {
  return RttEstimator(t.initialRttTimeoutMs * 1000, t.minRttTimeoutMs * 1000,
                      t.maxRttTimeoutMs * 1000);
}

// Fills `ss` with the address of `port` on `a`; returns its length.
socklen_t fillSockaddr(const Address& a, uint16_t port, sockaddr_storage& ss) {
  if (a.v6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    std::memcpy(&s6->sin6_addr, a.v6addr.bytes.data(), 16);
    return sizeof(sockaddr_in6);
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  s4->sin_family = AF_INET;
  s4->sin_port = htons(port);
  s4->sin_addr.s_addr = a.v4addr.networkOrder();
  return sizeof(sockaddr_in);
}

// One connect scan of hosts x ports. Each pass of run() expires timed-out connects, launches as
// many new ones as the window allows and waits briefly for connects to complete.
class ConnectScan {
 public:
  ConnectScan(const std::vector<Address>& hosts, const std::vector<uint16_t>& ports,
              const ConnectConfig& cfg, std::vector<HostTiming>& timing)
      : hosts_(hosts),
        ports_(ports),
        cfg_(cfg),
        timing_(timing),
        nhosts_(hosts.size()),
        nports_(ports.size()),
        total_(nhosts_ * nports_),
        out_(total_),
        ping_(cfg.scanType == ScanType::kPing),
        group_(estimatorFor(cfg.timing)),
        perHost_(nhosts_, estimatorFor(cfg.timing)) {
    const long fdLimit = raiseFdLimit();
    // Keep headroom for stdio, the epoll fd, output files and the resolver.
    const int64_t fdCap = std::max<long>(fdLimit - 64, 8);
    maxCwnd_ = cfg.timing.maxParallelism > 0 ? cfg.timing.maxParallelism : cfg.congestion.maxCwnd;
    maxCwnd_ = std::min<double>(maxCwnd_, static_cast<double>(fdCap));
    cwnd_ = std::min(cfg.congestion.initialCwnd, maxCwnd_);
    ssthresh_ = cfg.congestion.initialSsthresh;

    tries_.assign(total_, 0);
    done_.assign(total_, 0);
    hostUp_.assign(nhosts_, 0);
    order_.resize(total_);
    std::mt19937_64 rng{std::random_device{}()};
    if (cfg.randomize) {
      std::iota(order_.begin(), order_.end(), 0u);
      std::shuffle(order_.begin(), order_.end(), rng);
    } else {
      size_t k = 0;
      for (size_t p = 0; p < nports_; ++p)
        for (size_t h = 0; h < nhosts_; ++h) order_[k++] = static_cast<uint32_t>(h * nports_ + p);
    }
    ep_.reset(epoll_create1(EPOLL_CLOEXEC));
    start_ = monotonicMicros();
    startEpoch_ = epochSeconds();
    lastProgress_ = start_;
  }

  std::vector<SlotOutcome> run() {
    while (finished_ < total_) {
      const int64_t now = monotonicMicros();
      const int allowedRetries = std::min(cfg_.timing.maxRetries, maxSuccessfulRetry_ + 1);
      expireTimeouts(now, allowedRetries);
      if (cfg_.timing.hostTimeoutMs > 0 && now - start_ > cfg_.timing.hostTimeoutMs * 1000) {
        for (size_t h = 0; h < nhosts_; ++h) timing_[h].timedOut = true;
        finishAllUnanswered();
        break;
      }
      launchProbes(now);
      if (finished_ >= total_) break;
      if (inflight_ == 0 && retries_.empty() && nextFresh_ >= total_) {
        finishAllUnanswered();
        break;
      }
      const int64_t t = awaitCompletions();
      reportProgress(t);
    }
    for (size_t fd = 0; fd < conns_.size(); ++fd) {
      if (conns_[fd].live) closeConn(static_cast<int>(fd));
    }
    if (cfg_.progress && monotonicMicros() - start_ >= 1000000) std::fprintf(stderr, "\n");
    fillTiming();
    return std::move(out_);
  }

 private:
  void finish(uint32_t slot, Verdict v, bool answered) {
    if (done_[slot]) return;
    done_[slot] = 1;
    ++finished_;
    out_[slot].verdict = v;
    out_[slot].answered = answered;
    if (answered && ping_) hostUp_[slot / nports_] = 1;
  }

  void finishAllUnanswered() {
    for (size_t i = 0; i < total_; ++i) {
      finish(static_cast<uint32_t>(i), noResponseVerdict(cfg_.scanType), false);
    }
  }

  void closeConn(int fd) {
    epoll_ctl(ep_.get(), EPOLL_CTL_DEL, fd, nullptr);
    // Linger 0: close with RST, so thousands of probes leave no TIME_WAIT behind.
    linger lg{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    ::close(fd);
    conns_[static_cast<size_t>(fd)].live = false;
    --inflight_;
  }

  // A connect on `fd` completed with `err` (0: it connected).
  void onAnswer(int fd, int err, int64_t now) {
    const Conn c = conns_[static_cast<size_t>(fd)];
    closeConn(fd);
    const Verdict v = verdictForErrno(err, cfg_.scanType);
    const bool definite = err == 0 || err == ECONNREFUSED || err == EHOSTUNREACH ||
                          err == ENETUNREACH || err == EACCES || err == EPERM;
    if (!definite) {
      retries_.push_back(c.slot);  // odd error: treat like a timeout
      return;
    }
    const size_t h = c.slot / nports_;
    if (tries_[c.slot] == 1) {
      group_.addSample(now - c.startUs);
      perHost_[h].addSample(now - c.startUs);
    } else {
      maxSuccessfulRetry_ = std::max(maxSuccessfulRetry_, tries_[c.slot] - 1);
      cwnd_ = std::max(cfg_.congestion.minCwnd, cwnd_ / 2);
      ssthresh_ = std::max(cwnd_, 2.0);
    }
    if (tries_[c.slot] == 1) {
      cwnd_ = std::min(maxCwnd_, cwnd_ < ssthresh_ ? cwnd_ + 1 : cwnd_ + 1 / cwnd_);
    }
    finish(c.slot, v, true);
  }

  void expireTimeouts(int64_t now, int allowedRetries) {
    while (!waiting_.empty() && now - waiting_.front().startUs >= group_.rtoUs()) {
      const Waiting w = waiting_.front();
      waiting_.pop_front();
      Conn& c = conns_[static_cast<size_t>(w.fd)];
      if (!c.live || c.slot != w.slot || c.startUs != w.startUs) continue;
      closeConn(w.fd);
      if (tries_[w.slot] <= allowedRetries && !(ping_ && hostUp_[w.slot / nports_])) {
        retries_.push_back(w.slot);
      } else {
        finish(w.slot, noResponseVerdict(cfg_.scanType), false);
      }
    }
  }

  // Retries go before fresh slots; false when neither is left.
  bool nextSlot(uint32_t& slot) {
    if (!retries_.empty()) {
      slot = retries_.front();
      retries_.pop_front();
      return true;
    }
    if (nextFresh_ < total_) {
      slot = order_[nextFresh_++];
      return true;
    }
    return false;
  }

  void launchProbes(int64_t now) {
    const int64_t delayUs = cfg_.timing.scanDelayMs * 1000;
    uint32_t slot = 0;
    while (inflight_ < static_cast<int64_t>(cwnd_) &&
           (delayUs == 0 || now - lastSend_ >= delayUs) && nextSlot(slot)) {
      if (done_[slot]) continue;
      if (ping_ && hostUp_[slot / nports_]) {
        finish(slot, {PortState::kUnknown, Reason::kNoResponse}, false);
        continue;
      }
      if (!startConnect(slot)) break;
    }
  }

  // Starts the connect of `slot`; false when out of descriptors.
  bool startConnect(uint32_t slot) {
    const Address& a = hosts_[slot / nports_];
    const int fd =
        ::socket(a.v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      retries_.push_front(slot);  // out of descriptors for now: wait for some to close
      cwnd_ = std::max(1.0, static_cast<double>(inflight_));
      return false;
    }
    if (!cfg_.iface.empty()) {
      setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, cfg_.iface.c_str(),
                 static_cast<socklen_t>(cfg_.iface.size()));
    }
    sockaddr_storage ss{};
    const socklen_t len = fillSockaddr(a, ports_[slot % nports_], ss);
    if (static_cast<size_t>(fd) >= conns_.size()) conns_.resize(static_cast<size_t>(fd) + 1);
    const int64_t t0 = monotonicMicros();
    conns_[static_cast<size_t>(fd)] = Conn{slot, t0, true};
    ++inflight_;
    ++tries_[slot];
    lastSend_ = t0;
    const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
    if (rc == 0 || errno != EINPROGRESS) {
      onAnswer(fd, rc == 0 ? 0 : errno, t0);
      return true;
    }
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLERR | EPOLLHUP;
    ev.data.fd = fd;
    epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &ev);
    waiting_.push_back({fd, slot, t0});
    return true;
  }

  // Waits up to 2 ms for connects to complete and records them; returns when it woke.
  int64_t awaitCompletions() {
    const int n = epoll_wait(ep_.get(), events_, 256, 2);
    const int64_t t = monotonicMicros();
    for (int i = 0; i < n; ++i) {
      const int fd = events_[i].data.fd;
      if (static_cast<size_t>(fd) >= conns_.size() || !conns_[static_cast<size_t>(fd)].live) {
        continue;
      }
      int err = 0;
      socklen_t elen = sizeof(err);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
      onAnswer(fd, err, t);
    }
    return t;
  }

  void reportProgress(int64_t t) {
    if (!cfg_.progress || t - lastProgress_ < 1000000) return;
    lastProgress_ = t;
    const double el = static_cast<double>(t - start_) / 1e6;
    const double frac = static_cast<double>(finished_) / static_cast<double>(total_);
    std::fprintf(stderr, "\rconnect: %6.2f%% done, %.0f s elapsed   ", frac * 100, el);
    std::fflush(stderr);
  }

  void fillTiming() {
    const double endEpoch = epochSeconds();
    for (size_t h = 0; h < nhosts_; ++h) {
      const RttEstimator& e = perHost_[h].hasSample() ? perHost_[h] : group_;
      timing_[h].srttUs = e.srttUs();
      timing_[h].rttvarUs = e.rttvarUs();
      timing_[h].rtoUs = e.rtoUs();
      timing_[h].startTime = startEpoch_;
      timing_[h].endTime = endEpoch;
    }
  }

  const std::vector<Address>& hosts_;
  const std::vector<uint16_t>& ports_;
  const ConnectConfig& cfg_;
  std::vector<HostTiming>& timing_;
  const size_t nhosts_;
  const size_t nports_;
  const size_t total_;
  std::vector<SlotOutcome> out_;
  const bool ping_;
  RttEstimator group_;
  std::vector<RttEstimator> perHost_;
  double maxCwnd_ = 0;
  double cwnd_ = 0;
  double ssthresh_ = 0;
  std::vector<uint8_t> tries_;
  std::vector<uint8_t> done_;
  std::vector<uint8_t> hostUp_;
  std::vector<uint32_t> order_;
  UniqueFd ep_;
  std::vector<Conn> conns_;
  std::deque<Waiting> waiting_;
  std::deque<uint32_t> retries_;
  size_t nextFresh_ = 0;
  size_t finished_ = 0;
  int64_t inflight_ = 0;
  int maxSuccessfulRetry_ = 0;
  int64_t start_ = 0;
  double startEpoch_ = 0;
  int64_t lastSend_ = 0;
  int64_t lastProgress_ = 0;
  epoll_event events_[256];
};

}  // namespace

std::vector<SlotOutcome> runConnectScan(const std::vector<Address>& hosts,
                                        const std::vector<uint16_t>& ports,
                                        const ConnectConfig& cfg, std::vector<HostTiming>& timing) {
  timing.assign(hosts.size(), HostTiming{});
  if (hosts.empty() || ports.empty()) return {};
  return ConnectScan(hosts, ports, cfg, timing).run();
}

}  // namespace portcullis::scan
