// Loads the XDP responder (xdp_responder.bpf.c) for the scanner's bench: on the target's
// interface with the prefixes it answers for and its open ports, or (--peer) the plain XDP_PASS
// program on the scanner's side of the veth. Prints "ready" once attached; on SIGINT or SIGTERM
// prints what it answered and detaches.
//
//   xdp_responder --iface IF --prefix CIDR [--prefix CIDR]... --open PORTS [--open-share N]
//   xdp_responder --peer IF
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "xdp_responder.h"
#include "xdp_responder.skel.h"

namespace {

volatile std::sig_atomic_t stopRequested = 0;

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "xdp_responder: %s\n"
               "usage: xdp_responder --iface IF --prefix CIDR [--prefix CIDR]... --open PORTS "
               "[--open-share N]\n"
               "       xdp_responder --peer IF\n",
               why);
  std::exit(2);
}

struct Prefix {
  uint32_t net = 0, mask = 0;  // network byte order
  int len = 32;
};

bool parsePrefix(const std::string& text, Prefix& out) {
  std::string addr = text;
  out.len = 32;
  if (auto slash = text.find('/'); slash != std::string::npos) {
    addr = text.substr(0, slash);
    char* end = nullptr;
    long len = std::strtol(text.c_str() + slash + 1, &end, 10);
    if (*end || len < 0 || len > 32) return false;
    out.len = int(len);
  }
  in_addr a{};
  if (inet_pton(AF_INET, addr.c_str(), &a) != 1) return false;
  uint32_t mask = out.len ? ~uint32_t(0) << (32 - out.len) : 0;
  out.mask = htonl(mask);
  out.net = a.s_addr & out.mask;
  return true;
}

// "22,80,8000-8010": the bitmap the program reads.
bool parsePorts(const std::string& text, std::vector<uint64_t>& bits) {
  size_t at = 0;
  while (at <= text.size()) {
    size_t comma = text.find(',', at);
    std::string item = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    char* end = nullptr;
    long lo = std::strtol(item.c_str(), &end, 10), hi = lo;
    if (*end == '-') hi = std::strtol(end + 1, &end, 10);
    if (item.empty() || *end || lo < 1 || hi > 65535 || lo > hi) return false;
    for (long p = lo; p <= hi; ++p) bits[size_t(p) >> 6] |= uint64_t(1) << (p & 63);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return true;
}

struct SkelDeleter {
  void operator()(xdp_responder* s) const { xdp_responder__destroy(s); }
};
struct LinkDeleter {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};

static_assert(sizeof(responder_config) == 8 + 8 * RESPONDER_MAX_PREFIXES);

struct Args {
  std::string iface, peer, ports;
  std::vector<Prefix> prefixes;
  uint32_t share = 4;
};

Args parseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&] {
      if (i + 1 >= argc) usage(("missing value for " + arg).c_str());
      return std::string(argv[++i]);
    };
    if (arg == "--iface") {
      a.iface = value();
    } else if (arg == "--peer") {
      a.peer = value();
    } else if (arg == "--open") {
      a.ports = value();
    } else if (arg == "--open-share") {
      a.share = uint32_t(std::strtoul(value().c_str(), nullptr, 10));
      if (a.share == 0) usage("--open-share must be at least 1");
    } else if (arg == "--prefix") {
      Prefix p;
      if (!parsePrefix(value(), p)) usage("not an IPv4 CIDR prefix");
      a.prefixes.push_back(p);
    } else {
      usage(("unknown argument " + arg).c_str());
    }
  }
  if (a.iface.empty() == a.peer.empty()) usage("give --iface or --peer");
  if (a.peer.empty() && (a.prefixes.empty() || a.prefixes.size() > RESPONDER_MAX_PREFIXES)) {
    usage("give one to four --prefix");
  }
  return a;
}

// The hosts of the sweep prefixes that have the open ports open: what a sweep must find.
uint64_t openHostsOf(const Args& a) {
  uint64_t open = 0;
  for (const Prefix& p : a.prefixes) {
    if (p.len == 32) continue;
    for (uint64_t h = 0; h < (uint64_t(1) << (32 - p.len)); ++h) {
      uint32_t addr = ntohl(p.net) + uint32_t(h);
      open += a.share <= 1 || (addr * 0x9e3779b1u) % a.share == 0;
    }
  }
  return open;
}

void printCounters(const xdp_responder& skel) {
  unsigned cpus = unsigned(libbpf_num_possible_cpus());
  uint64_t totals[RESPONDER_COUNTERS] = {};
  std::vector<uint64_t> perCpu(cpus);
  for (uint32_t c = 0; c < RESPONDER_COUNTERS; ++c) {
    if (bpf_map__lookup_elem(skel.maps.counters, &c, sizeof(c), perCpu.data(),
                             perCpu.size() * sizeof(uint64_t), 0) == 0) {
      for (uint64_t v : perCpu) totals[c] += v;
    }
  }
  std::printf("answered synacks=%llu rsts=%llu dropped=%llu\n",
              (unsigned long long)totals[RESPONDER_SYNACKS],
              (unsigned long long)totals[RESPONDER_RSTS],
              (unsigned long long)totals[RESPONDER_DROPPED]);
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parseArgs(argc, argv);
  std::vector<uint64_t> bits(RESPONDER_PORT_WORDS, 0);
  if (a.peer.empty() && !parsePorts(a.ports, bits)) usage("--open: not a port list");
  const std::string& name = a.peer.empty() ? a.iface : a.peer;
  int ifindex = int(if_nametoindex(name.c_str()));
  if (!ifindex) usage(("no interface " + name).c_str());

  std::unique_ptr<xdp_responder, SkelDeleter> skel(xdp_responder__open());
  if (!skel) {
    std::fprintf(stderr, "xdp_responder: cannot open the BPF object\n");
    return 1;
  }
  auto& cfg = const_cast<responder_config&>(skel->rodata->config);
  cfg.prefixes = uint32_t(a.prefixes.size());
  cfg.open_host_share = a.share;
  for (size_t i = 0; i < a.prefixes.size(); ++i) {
    cfg.net[i] = a.prefixes[i].net;
    cfg.mask[i] = a.prefixes[i].mask;
  }
  if (xdp_responder__load(skel.get())) {
    std::fprintf(stderr, "xdp_responder: cannot load the BPF object\n");
    return 1;
  }
  for (uint32_t w = 0; w < RESPONDER_PORT_WORDS && a.peer.empty(); ++w) {
    bpf_map__update_elem(skel->maps.open_ports, &w, sizeof(w), &bits[w], sizeof(bits[w]), 0);
  }
  bpf_program* prog = a.peer.empty() ? skel->progs.xdp_responder : skel->progs.xdp_peer_pass;
  std::unique_ptr<bpf_link, LinkDeleter> link(bpf_program__attach_xdp(prog, ifindex));
  if (!link) {
    std::fprintf(stderr, "xdp_responder: cannot attach to %s: %s\n", name.c_str(),
                 std::strerror(errno));
    return 1;
  }
  std::signal(SIGINT, [](int) { stopRequested = 1; });
  std::signal(SIGTERM, [](int) { stopRequested = 1; });
  std::printf("ready %s open_hosts=%llu\n", a.peer.empty() ? "responder" : "peer",
              (unsigned long long)openHostsOf(a));
  std::fflush(stdout);
  while (!stopRequested) pause();
  if (a.peer.empty()) printCounters(*skel);
  return 0;
}
