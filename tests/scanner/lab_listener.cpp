// pcs_lab_listener: the services of the scanner's test lab. Accepts (and closes) TCP
// connections on the given ports and answers every UDP datagram on the given ports, so a UDP
// scan sees "open". Runs until killed. Debian ships no socat/ncat by default, hence this helper.
//
//   pcs_lab_listener --tcp 22,80 --udp 53 [--udp-silent 69] [--bind ADDR]
// --udp-silent ports are bound but never answer: the kernel sends no port-unreachable, so a UDP
// scan sees open|filtered. Without --bind (an IPv4 address) every socket is dual-stack, so the
// same ports are open over IPv4 and IPv6.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::vector<int> parsePorts(const char* s) {
  std::vector<int> out;
  std::string text(s);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    out.push_back(std::atoi(text.substr(pos, comma - pos).c_str()));
    pos = comma + 1;
  }
  return out;
}

int openSocket(int type, int port, in_addr_t addr) {
  // A kernel without IPv6 leaves us the IPv4 socket.
  int fd = addr == htonl(INADDR_ANY) ? socket(AF_INET6, type, 0) : -1;
  const bool dual = fd >= 0;
  if (!dual) fd = socket(AF_INET, type, 0);
  if (fd < 0) return -1;
  const int one = 1;
  const int zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (dual) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    sin6->sin6_addr = in6addr_any;
    len = sizeof(sockaddr_in6);
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    sin->sin_addr.s_addr = addr;
    len = sizeof(sockaddr_in);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    std::fprintf(stderr, "pcs_lab_listener: bind %d: %s\n", port, std::strerror(errno));
    std::exit(1);
  }
  if (type == SOCK_STREAM && listen(fd, 1024) != 0) {
    std::fprintf(stderr, "pcs_lab_listener: listen %d: %s\n", port, std::strerror(errno));
    std::exit(1);
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> tcp;
  std::vector<int> udp;
  std::vector<int> silent;
  in_addr_t addr = htonl(INADDR_ANY);
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--tcp") == 0)
      tcp = parsePorts(argv[i + 1]);
    else if (std::strcmp(argv[i], "--udp") == 0)
      udp = parsePorts(argv[i + 1]);
    else if (std::strcmp(argv[i], "--udp-silent") == 0)
      silent = parsePorts(argv[i + 1]);
    else if (std::strcmp(argv[i], "--bind") == 0)
      addr = inet_addr(argv[i + 1]);
  }
  std::vector<pollfd> fds;
  std::vector<bool> isTcp;
  for (int p : tcp) {
    fds.push_back({openSocket(SOCK_STREAM, p, addr), POLLIN, 0});
    isTcp.push_back(true);
  }
  for (int p : udp) {
    fds.push_back({openSocket(SOCK_DGRAM, p, addr), POLLIN, 0});
    isTcp.push_back(false);
  }
  std::vector<int> silentFds;
  for (int p : silent) silentFds.push_back(openSocket(SOCK_DGRAM, p, addr));
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;) {
    if (poll(fds.data(), fds.size(), -1) < 0) continue;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      if (isTcp[i]) {
        const int c = accept(fds[i].fd, nullptr, nullptr);
        if (c >= 0) close(c);
      } else {
        char buf[2048];
        sockaddr_storage from{};
        socklen_t flen = sizeof(from);
        const ssize_t n =
            recvfrom(fds[i].fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &flen);
        if (n >= 0) {
          static const char kReply[] = "pcs-lab\n";
          sendto(fds[i].fd, kReply, sizeof(kReply) - 1, 0, reinterpret_cast<sockaddr*>(&from),
                 flen);
        }
      }
    }
  }
}
