// Writes the fuzz targets' seed corpus: frames of every scan kind and link type (fuzz_parse),
// small captures of every scan in pcap and pcapng (fuzz_capture), and valid and broken configs
// (fuzz_config). Deterministic, so the committed files change only when the builders do:
//
//   build-fuzz/tests/fuzz/fuzz_seed_corpus tests/fuzz/corpus
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "support/packet_cases.h"
#include "support/scan_traffic.h"

namespace {

using portcullis::testing::TimedFrame;
using Bytes = std::vector<uint8_t>;
namespace fs = std::filesystem;

// pcap link types (LINKTYPE_*, the numbers in files) and fuzz_parse's selector for each.
struct Link {
  const char* name;
  uint32_t linktype;
  uint8_t selector;
};
constexpr Link kEthernet{"eth", 1, 0};
constexpr Link kSll{"sll", 113, 1};
constexpr Link kSll2{"sll2", 276, 2};
constexpr Link kRaw{"raw", 101, 3};
constexpr Link kNull{"null", 0, 4};
constexpr Link kLoop{"loop", 108, 5};
constexpr Link kIpv4{"ipv4", 228, 6};
constexpr Link kIpv6{"ipv6", 229, 7};

fs::path gRoot;
size_t gFiles = 0, gBytes = 0;

void put16(Bytes& b, uint16_t v) {
  b.push_back(uint8_t(v >> 8));
  b.push_back(uint8_t(v));
}
void put16le(Bytes& b, uint16_t v) {
  b.push_back(uint8_t(v));
  b.push_back(uint8_t(v >> 8));
}
void put32le(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i)));
}
void put32be(Bytes& b, uint32_t v) {
  for (int i = 3; i >= 0; --i) b.push_back(uint8_t(v >> (8 * i)));
}

void write(const std::string& target, std::string name, const Bytes& data) {
  for (char& c : name) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '-';
  }
  fs::path dir = gRoot / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary)
      .write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
  gFiles++;
  gBytes += data.size();
}

void write(const std::string& target, const std::string& name, const std::string& text) {
  write(target, name, Bytes(text.begin(), text.end()));
}

// An Ethernet frame re-framed for another link type (the L3 packet behind a new header).
Bytes relink(const Bytes& eth, const Link& link) {
  if (link.linktype == 1 || eth.size() < 14) return eth;
  size_t l3 = 14;
  uint16_t etherType = uint16_t(eth[12] << 8 | eth[13]);
  while ((etherType == 0x8100 || etherType == 0x88a8) && eth.size() >= l3 + 4) {
    etherType = uint16_t(eth[l3 + 2] << 8 | eth[l3 + 3]);
    l3 += 4;
  }
  Bytes packet(eth.begin() + long(l3), eth.end());
  bool v6 = etherType == 0x86dd;
  Bytes out;
  switch (link.linktype) {
    case 113:  // packet type, ARPHRD, address length, 8 address bytes, protocol
      put16(out, 0);
      put16(out, 1);
      put16(out, 6);
      out.insert(out.end(), {2, 0, 0, 0, 0, 1, 0, 0});
      put16(out, etherType);
      break;
    case 276:  // protocol, reserved, ifindex, ARPHRD, packet type, address length, 8 bytes
      put16(out, etherType);
      put16(out, 0);
      put32be(out, 2);
      put16(out, 1);
      out.push_back(0);
      out.push_back(6);
      out.insert(out.end(), {2, 0, 0, 0, 0, 1, 0, 0});
      break;
    case 0:  // address family in host (little-endian) order
      put32le(out, v6 ? 10 : 2);
      break;
    case 108:  // address family in network order
      put32be(out, v6 ? 24 : 2);
      break;
    default:  // raw IP
      break;
  }
  out.insert(out.end(), packet.begin(), packet.end());
  return out;
}

// fuzz_parse's input: options byte, then [gap][length][frame] records (see fuzz_parse.cpp).
Bytes parseInput(uint8_t options, const std::vector<TimedFrame>& frames, const Link& link) {
  Bytes out{uint8_t(options | link.selector)};
  uint64_t last = frames.empty() ? 0 : frames.front().tsMicros;
  for (const TimedFrame& f : frames) {
    Bytes frame = relink(f.bytes, link);
    uint64_t gapMs = (f.tsMicros - last) / 1000;
    last = f.tsMicros;
    // 0-199 ms as is; longer gaps in steps of 10 s (200: 10 s ... 255: 560 s).
    uint64_t tens = gapMs / 10'000;
    out.push_back(gapMs < 200 ? uint8_t(gapMs)
                  : tens == 0 ? uint8_t(199)
                              : uint8_t(199 + (tens > 56 ? 56 : tens)));
    put16(out, uint16_t(frame.size()));
    out.insert(out.end(), frame.begin(), frame.end());
  }
  return out;
}

Bytes pcapFile(const std::vector<TimedFrame>& frames, const Link& link, bool nanoseconds) {
  Bytes out;
  put32le(out, nanoseconds ? 0xa1b23c4d : 0xa1b2c3d4);
  put16le(out, 2);
  put16le(out, 4);
  put32le(out, 0);      // thiszone
  put32le(out, 0);      // sigfigs
  put32le(out, 65535);  // snaplen
  put32le(out, link.linktype);
  for (const TimedFrame& f : frames) {
    Bytes frame = relink(f.bytes, link);
    put32le(out, uint32_t(f.tsMicros / 1'000'000));
    uint32_t frac = uint32_t(f.tsMicros % 1'000'000);
    put32le(out, nanoseconds ? frac * 1000 : frac);
    put32le(out, uint32_t(frame.size()));
    put32le(out, uint32_t(frame.size()));
    out.insert(out.end(), frame.begin(), frame.end());
  }
  return out;
}

void pad4(Bytes& b) {
  while (b.size() % 4) b.push_back(0);
}

// pcapng: a section header, one interface (microsecond timestamps), an enhanced packet block
// per frame.
Bytes pcapngFile(const std::vector<TimedFrame>& frames, const Link& link) {
  Bytes out;
  auto block = [&](uint32_t type, const Bytes& body) {
    uint32_t total = uint32_t(12 + body.size());
    put32le(out, type);
    put32le(out, total);
    out.insert(out.end(), body.begin(), body.end());
    put32le(out, total);
  };
  Bytes shb;
  put32le(shb, 0x1a2b3c4d);
  put16le(shb, 1);
  put16le(shb, 0);
  put32le(shb, 0xffffffff);  // section length unknown (64 bits)
  put32le(shb, 0xffffffff);
  block(0x0a0d0d0a, shb);
  Bytes idb;
  put16le(idb, uint16_t(link.linktype));
  put16le(idb, 0);
  put32le(idb, 65535);
  block(0x00000001, idb);
  for (const TimedFrame& f : frames) {
    Bytes frame = relink(f.bytes, link);
    Bytes epb;
    put32le(epb, 0);  // interface 0
    put32le(epb, uint32_t(f.tsMicros >> 32));
    put32le(epb, uint32_t(f.tsMicros));
    put32le(epb, uint32_t(frame.size()));
    put32le(epb, uint32_t(frame.size()));
    epb.insert(epb.end(), frame.begin(), frame.end());
    pad4(epb);
    block(0x00000006, epb);
  }
  return out;
}

std::vector<TimedFrame> scan(const std::string& type, uint16_t ports, uint64_t gapMicros = 2000) {
  portcullis::testing::ScanSpec spec;
  spec.type = type;
  spec.ports = portcullis::testing::portRange(20, uint16_t(20 + ports - 1));
  spec.open = {22, 25};
  spec.gapMicros = gapMicros;
  return portcullis::testing::scanTraffic(spec);
}

void parseSeeds() {
  const auto cases = portcullis::testing::packetCases();
  const Link links[] = {kEthernet, kSll, kSll2, kRaw, kNull, kLoop, kIpv4, kIpv6};
  // Every case of the parser's unit tests, as one Ethernet frame each.
  for (const auto& c : cases) {
    write("fuzz_parse", "eth-" + c.name, parseInput(0, {{0, c.frame}}, kEthernet));
  }
  // The well-formed IPv4 and IPv6 SYNs behind every other link-layer header.
  for (const Link& link : links) {
    if (link.selector == 0) continue;
    for (const auto& c : cases) {
      if (c.name != "ipv4 syn" && c.name != "ipv6 syn" && c.name != "vlan ipv6 ext udp") continue;
      if (link.linktype == 228 && c.name != "ipv4 syn") continue;
      if (link.linktype == 229 && c.name == "ipv4 syn") continue;
      write("fuzz_parse", std::string(link.name) + "-" + c.name,
            parseInput(0, {{0, c.frame}}, link));
    }
  }
  // Whole scans (probes and the victim's answers), with the options bits exercised.
  struct Sequence {
    const char* type;
    uint8_t options;
    Link link;
  };
  const Sequence sequences[] = {
      {"syn", 0x00, kEthernet}, {"connect", 0x08, kEthernet}, {"xmas", 0x10, kEthernet},
      {"udp", 0x20, kEthernet}, {"ack", 0x40, kSll},          {"maimon", 0x80, kRaw},
      {"null", 0x18, kSll2},    {"fin", 0x28, kNull},         {"window", 0x50, kLoop},
  };
  for (const Sequence& s : sequences) {
    write("fuzz_parse", std::string("scan-") + s.type + "-" + s.link.name,
          parseInput(s.options, scan(s.type, 12), s.link));
  }
  // nmap -T1: a probe every 20 s, across slow-scan windows and idle timeouts.
  write("fuzz_parse", "scan-syn-slow-eth", parseInput(0, scan("syn", 12, 20'000'000), kEthernet));
  write("fuzz_parse", "benign-http",
        parseInput(0,
                   portcullis::testing::benignConnections("198.18.0.9", "198.18.0.1", 3,
                                                          1'700'000'000'000'000ull, 5000),
                   kEthernet));
}

void captureSeeds() {
  const char* types[] = {"syn", "connect", "ack", "window", "null", "fin", "xmas", "maimon", "udp"};
  for (const char* type : types) {
    write("fuzz_capture", std::string("scan-") + type + ".pcap",
          pcapFile(scan(type, 12), kEthernet, false));
  }
  std::vector<TimedFrame> all;
  uint64_t t = 1'700'000'000'000'000ull;
  for (const auto& c : portcullis::testing::packetCases()) all.push_back({t += 700, c.frame});
  write("fuzz_capture", "packet-cases.pcap", pcapFile(all, kEthernet, false));
  write("fuzz_capture", "scan-syn-nanoseconds.pcap", pcapFile(scan("syn", 6), kEthernet, true));
  write("fuzz_capture", "scan-syn.pcapng", pcapngFile(scan("syn", 6), kEthernet));
  write("fuzz_capture", "scan-syn-slow.pcap",
        pcapFile(scan("syn", 8, 20'000'000), kEthernet, false));
  for (const Link& link : {kSll, kSll2, kRaw, kNull, kLoop}) {
    write("fuzz_capture", std::string("scan-xmas-") + link.name + ".pcap",
          pcapFile(scan("xmas", 4), link, false));
  }
  write("fuzz_capture", "benign-http.pcap",
        pcapFile(portcullis::testing::benignConnections("198.18.0.9", "198.18.0.1", 3,
                                                        1'700'000'000'000'000ull, 5000),
                 kEthernet, false));
}

void configSeeds() {
  std::ifstream example(PORTCULLIS_SOURCE_DIR "/config/portcullis.toml");
  std::string text((std::istreambuf_iterator<char>(example)), std::istreambuf_iterator<char>());
  if (!text.empty()) write("fuzz_config", "example.toml", text);

  write("fuzz_config", "replay-section.toml",
        "[replay]\njson = true\nsave-ports = true\ndst-ip = [\"198.18.0.1\", \"2001:db8::1\"]\n"
        "score-threshold = 30\nrate-ports = 20\nrate-window = 10\nno-anomaly = false\n");
  write("fuzz_config", "top-level.toml",
        "# comment\nscore-window-ms = 500 # inline\nweight-hot = 0\nweight-low = 1000\n"
        "poll-ms = 10\nslots = 2\nmax-packets = 18446744073709551615\nverbose = true\n");
  write("fuzz_config", "quoted.toml",
        "alerts = '/nonexistent/dir/alerts.json'\nlog-file = \"/nonexistent/dir/log.json\"\n"
        "dst-ip = 'all'\n'event-burst' = 255\n");
  write("fuzz_config", "watch-only.toml",
        "[watch]\ninterface = [\"lo\", \"veth0\"]\nmode = \"xdp-generic\"\n"
        "pin-root = \"/tmp/x\"\n");
  write("fuzz_config", "bad-range.toml", "score-threshold = 0\nslots = 3\n");
  write("fuzz_config", "bad-number.toml", "poll-ms = 1e3\nrate-window = -1\n");
  write("fuzz_config", "bad-address.toml", "dst-ip = [\"198.18.0.256\", \"::ffff:1.2.3\"]\n");
  write("fuzz_config", "unknown-key.toml", "no-such-option = 1\n[replay.deeper]\nx = 1\n");
  write("fuzz_config", "broken-syntax.toml", "[replay\njson = \n= 3\n\"unterminated = 1\n");
  write("fuzz_config", "multiline.toml", "dst-ip = [\n  \"198.18.0.1\",\n  \"198.18.0.2\",\n]\n");
  // A NUL byte starts the extra command-line arguments.
  write("fuzz_config", "with-args",
        std::string("json = true\n") + '\0' + "--dst-ip" + '\0' + "198.18.0.1" + '\0' +
            "--slots=1024" + '\0' + "-v");
  write("fuzz_config", "args-bad",
        std::string("") + '\0' + "--rate-ports" + '\0' + "x" + '\0' + "--unknown" + '\0' +
            "extra-positional");
  write("fuzz_config", "args-help", std::string("") + '\0' + "--help");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  gRoot = argv[1];
  parseSeeds();
  captureSeeds();
  configSeeds();
  std::printf("fuzz_seed_corpus: %zu files, %zu bytes under %s\n", gFiles, gBytes, argv[1]);
  return 0;
}
