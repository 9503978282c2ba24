// Many real TCP clients from distinct source addresses, cheaply, for the live busy-server test.
//
//   many_clients --server ADDR --port PORT --prefix CIDR [--count N] [--in-flight K]
//                [--rate PER_SECOND] [--timeout-ms MS]
//       Opens N TCP connections to ADDR:PORT, the i-th bound to the i-th host address of CIDR
//       (wrapping around after the last one; the prefix's first and last addresses are skipped),
//       sends a small HTTP GET, reads the reply to EOF and closes. Non-blocking, one epoll loop,
//       at most K connections in flight and, with --rate, at most that many started per second.
//       The prefix must be local to the namespace (`ip route add local CIDR dev lo`), so bind()
//       accepts any address in it. Prints what completed and what failed.
//
//   many_clients --serve PORT [--bind ADDR]
//       A small epoll HTTP responder: reads the request, answers "HTTP/1.0 200 OK ... ok" and
//       closes. On SIGINT/SIGTERM prints how many connections it answered, from how many
//       distinct peer addresses, and exits 0.
//
// Output lines are "key=value" pairs so a shell test can pick numbers out of them.
#include <arpa/inet.h>
#include <csignal>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "many_clients: %s\n", why);
  std::fprintf(stderr,
               "usage: many_clients --server ADDR --port PORT --prefix CIDR [--count N]\n"
               "                    [--in-flight K] [--rate PER_SECOND] [--timeout-ms MS]\n"
               "       many_clients --serve PORT [--bind ADDR]\n");
  std::exit(2);
}

long parseNumber(const char* text, long lo, long hi, const char* what) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) {
    std::fprintf(stderr, "many_clients: bad %s '%s'\n", what, text);
    std::exit(2);
  }
  return v;
}

in_addr parseAddress(const char* text) {
  in_addr a{};
  if (inet_pton(AF_INET, text, &a) != 1) {
    std::fprintf(stderr, "many_clients: bad IPv4 address '%s'\n", text);
    std::exit(2);
  }
  return a;
}

// Enough descriptors for the in-flight connections and a busy listener.
void raiseFileLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

std::string addressText(uint32_t hostOrder) {
  in_addr a{htonl(hostOrder)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---------------------------------------------------------------------------------- server

int serve(uint16_t port, in_addr bindAddr) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) {
    std::perror("many_clients: socket");
    return 1;
  }
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr = bindAddr;
  if (bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    std::perror("many_clients: bind");
    return 1;
  }
  if (listen(lfd, 65535) != 0) {
    std::perror("many_clients: listen");
    return 1;
  }

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.fd = sfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);

  std::printf("serving port=%u\n", unsigned(port));
  std::fflush(stdout);

  static constexpr std::string_view kReply =
      "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
  std::unordered_set<uint32_t> peers;
  uint64_t answered = 0, dropped = 0;
  std::vector<epoll_event> events(256);
  bool running = true;
  while (running) {
    int n = epoll_wait(ep, events.data(), int(events.size()), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("many_clients: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[size_t(i)].data.fd;
      if (fd == sfd) {
        running = false;
      } else if (fd == lfd) {
        for (;;) {
          sockaddr_in peer{};
          socklen_t len = sizeof peer;
          int c =
              accept4(lfd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;  // EAGAIN, or out of descriptors until some close
          peers.insert(ntohl(peer.sin_addr.s_addr));
          epoll_event cev{};
          cev.events = EPOLLIN | EPOLLRDHUP;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
      } else {
        // The request is one small segment: read what is there, answer, close.
        char buf[2048];
        ssize_t got = read(fd, buf, sizeof buf);
        if (got > 0) {
          if (write(fd, kReply.data(), kReply.size()) == ssize_t(kReply.size()))
            ++answered;
          else
            ++dropped;
        } else if (got < 0 && errno == EAGAIN) {
          continue;
        } else {
          ++dropped;  // the peer went away before asking
        }
        close(fd);  // epoll forgets a closed descriptor by itself
      }
    }
  }
  std::printf("served answered=%llu dropped=%llu distinct_peers=%zu\n",
              (unsigned long long)answered, (unsigned long long)dropped, peers.size());
  return 0;
}

// ---------------------------------------------------------------------------------- clients

struct ClientOptions {
  in_addr server{};
  uint16_t port = 0;
  uint32_t prefixBase = 0;  // host order, first usable address
  uint32_t hosts = 0;       // usable addresses in the prefix
  long count = 0;
  long inFlight = 512;
  long rate = 0;  // connections started per second, 0: as fast as possible
  long timeoutMs = 10000;
};

enum class Phase : uint8_t { Idle, Connecting, Reading };

struct Conn {
  Phase phase = Phase::Idle;
  uint32_t src = 0;
  uint32_t generation = 0;
  std::string reply;
};

struct Pending {
  int fd;
  uint32_t generation;
  Clock::time_point deadline;
};

int runClients(const ClientOptions& o) {
  static constexpr std::string_view kRequest =
      "GET / HTTP/1.0\r\nHost: server\r\nUser-Agent: many_clients\r\n\r\n";
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    std::perror("many_clients: epoll_create1");
    return 1;
  }

  std::vector<Conn> conns;    // indexed by descriptor
  std::deque<Pending> byAge;  // start order = deadline order (one timeout for all)
  std::vector<uint8_t> completedHost(o.hosts, 0);
  uint64_t started = 0, completed = 0, failed = 0, bindFailed = 0, connectFailed = 0, timedOut = 0,
           badReply = 0;
  long live = 0;
  uint32_t generation = 0;
  const auto t0 = Clock::now();
  const auto timeout = std::chrono::milliseconds(o.timeoutMs);

  auto finishConn = [&](int fd, bool ok) {
    Conn& c = conns[size_t(fd)];
    if (ok) {
      ++completed;
      completedHost[c.src - o.prefixBase] = 1;
    } else {
      ++failed;
    }
    c.phase = Phase::Idle;
    c.reply.clear();
    close(fd);
    --live;
  };

  auto startOne = [&]() {
    uint32_t src = o.prefixBase + uint32_t(started % o.hosts);
    ++started;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      ++failed;
      ++connectFailed;
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(src);
    if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      if (bindFailed == 0)
        std::fprintf(stderr, "many_clients: bind %s: %s\n", addressText(src).c_str(),
                     std::strerror(errno));
      ++failed;
      ++bindFailed;
      close(fd);
      return;
    }
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(o.port);
    dst.sin_addr = o.server;
    if (connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0 && errno != EINPROGRESS) {
      ++failed;
      ++connectFailed;
      close(fd);
      return;
    }
    if (size_t(fd) >= conns.size()) conns.resize(size_t(fd) + 1024);
    Conn& c = conns[size_t(fd)];
    c.phase = Phase::Connecting;
    c.src = src;
    c.generation = ++generation;
    c.reply.clear();
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    byAge.push_back({fd, c.generation, Clock::now() + timeout});
    ++live;
  };

  std::vector<epoll_event> events(1024);
  while (long(started) < o.count || live > 0) {
    // Start what the in-flight bound and the rate allow.
    long allowed = o.count;
    if (o.rate > 0) allowed = std::min<long>(o.count, long(secondsSince(t0) * double(o.rate)) + 1);
    while (long(started) < allowed && live < o.inFlight) startOne();

    int waitMs = 100;
    if (o.rate > 0 && long(started) < o.count && live < o.inFlight) waitMs = 2;
    int n = epoll_wait(ep, events.data(), int(events.size()), waitMs);
    if (n < 0 && errno != EINTR) {
      std::perror("many_clients: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[size_t(i)].data.fd;
      Conn& c = conns[size_t(fd)];
      if (c.phase == Phase::Connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          ++connectFailed;
          finishConn(fd, false);
          continue;
        }
        if (write(fd, kRequest.data(), kRequest.size()) != ssize_t(kRequest.size())) {
          ++connectFailed;
          finishConn(fd, false);
          continue;
        }
        c.phase = Phase::Reading;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.fd = fd;
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
      } else if (c.phase == Phase::Reading) {
        char buf[4096];
        for (;;) {
          ssize_t got = read(fd, buf, sizeof buf);
          if (got > 0) {
            c.reply.append(buf, size_t(got));
            continue;
          }
          if (got < 0 && errno == EAGAIN) break;
          // EOF (or an error): the answer is whole; judge it.
          bool ok = got == 0 && c.reply.rfind("HTTP/1.0 200", 0) == 0;
          if (!ok) ++badReply;
          finishConn(fd, ok);
          break;
        }
      }
    }
    // Give up on connections past their deadline (oldest first).
    auto now = Clock::now();
    while (!byAge.empty()) {
      const Pending& p = byAge.front();
      const Conn& c = conns[size_t(p.fd)];
      if (c.phase == Phase::Idle || c.generation != p.generation) {
        byAge.pop_front();
        continue;
      }
      if (p.deadline > now) break;
      ++timedOut;
      int fd = p.fd;
      byAge.pop_front();
      finishConn(fd, false);
    }
  }
  double elapsed = secondsSince(t0);
  size_t distinct = 0;
  for (uint8_t b : completedHost) distinct += b;
  std::printf(
      "clients started=%llu completed=%llu failed=%llu distinct_completed=%zu "
      "elapsed=%.2f per_second=%.0f first=%s last=%s\n",
      (unsigned long long)started, (unsigned long long)completed, (unsigned long long)failed,
      distinct, elapsed, elapsed > 0 ? double(completed) / elapsed : 0.0,
      addressText(o.prefixBase).c_str(),
      addressText(o.prefixBase + uint32_t(std::min<uint64_t>(started, o.hosts)) - 1).c_str());
  if (failed != 0)
    std::printf("failures bind=%llu connect=%llu timeout=%llu bad_reply=%llu\n",
                (unsigned long long)bindFailed, (unsigned long long)connectFailed,
                (unsigned long long)timedOut, (unsigned long long)badReply);
  return completed > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  raiseFileLimit();
  ClientOptions o;
  bool haveServer = false, havePrefix = false;
  long servePort = -1;
  in_addr bindAddr{htonl(INADDR_ANY)};
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage("missing value after an option");
      return argv[++i];
    };
    if (a == "--server") {
      o.server = parseAddress(value());
      haveServer = true;
    } else if (a == "--port")
      o.port = uint16_t(parseNumber(value(), 1, 65535, "port"));
    else if (a == "--prefix") {
      std::string text = value();
      auto slash = text.find('/');
      if (slash == std::string::npos) usage("--prefix needs ADDR/LEN");
      long len = parseNumber(text.c_str() + slash + 1, 8, 30, "prefix length");
      uint32_t base = ntohl(parseAddress(text.substr(0, slash).c_str()).s_addr);
      uint32_t size = uint32_t(1) << (32 - len);
      base &= ~(size - 1);
      o.prefixBase = base + 1;  // skip the prefix's first and last address
      o.hosts = size - 2;
      havePrefix = true;
    } else if (a == "--count")
      o.count = parseNumber(value(), 1, 100'000'000, "count");
    else if (a == "--in-flight")
      o.inFlight = parseNumber(value(), 1, 100'000, "in-flight");
    else if (a == "--rate")
      o.rate = parseNumber(value(), 0, 10'000'000, "rate");
    else if (a == "--timeout-ms")
      o.timeoutMs = parseNumber(value(), 1, 600'000, "timeout");
    else if (a == "--serve")
      servePort = parseNumber(value(), 1, 65535, "port");
    else if (a == "--bind")
      bindAddr = parseAddress(value());
    else
      usage("unknown option");
  }
  if (servePort > 0) return serve(uint16_t(servePort), bindAddr);
  if (!haveServer || o.port == 0 || !havePrefix) usage("--server, --port and --prefix are needed");
  if (o.count == 0) o.count = long(o.hosts);
  return runClients(o);
}
