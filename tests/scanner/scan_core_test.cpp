// Scanner core without root: port specs, targets, cookies, timing, RTT, verdicts, outputs.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "classify.h"
#include "cli.h"
#include "output.h"
#include "packet/tcp.h"
#include "packet/builder.h"
#include "port_spec.h"
#include "probe_template.h"
#include "services.h"
#include "siphash.h"
#include "targets.h"
#include "timing.h"

namespace portcullis::scan {
namespace {

// ---- port specifications ----

std::vector<uint16_t> tcpOf(const std::string& spec) {
  std::string err;
  auto p = parsePortSpec(spec, err);
  EXPECT_TRUE(p.has_value()) << spec << ": " << err;
  return p ? p->tcp : std::vector<uint16_t>{};
}

TEST(PortSpec, ListsAndRanges) {
  EXPECT_EQ(tcpOf("22"), (std::vector<uint16_t>{22}));
  EXPECT_EQ(tcpOf("80,22,22,443"), (std::vector<uint16_t>{22, 80, 443}));
  EXPECT_EQ(tcpOf("20-23,25"), (std::vector<uint16_t>{20, 21, 22, 23, 25}));
  EXPECT_EQ(tcpOf("-3"), (std::vector<uint16_t>{1, 2, 3}));
  EXPECT_EQ(tcpOf("65533-"), (std::vector<uint16_t>{65533, 65534, 65535}));
  EXPECT_EQ(tcpOf("1-65535").size(), 65535u);
  EXPECT_EQ(tcpOf("http,ssh"), (std::vector<uint16_t>{22, 80}));
}

TEST(PortSpec, ProtocolPrefixes) {
  std::string err;
  auto p = parsePortSpec("T:21-22,80,U:53,161", err);
  ASSERT_TRUE(p) << err;
  EXPECT_EQ(p->tcp, (std::vector<uint16_t>{21, 22, 80}));
  EXPECT_EQ(p->udp, (std::vector<uint16_t>{53, 161}));
  auto both = parsePortSpec("53", err);
  ASSERT_TRUE(both);
  EXPECT_EQ(both->tcp, both->udp);
}

TEST(PortSpec, Errors) {
  for (const char* bad :
       {"", "70000", "10-5", "a-b", "22,", ",22", "X:22", "1-2-3", "nosuchsvc", "22;23", "-1-"}) {
    std::string err;
    EXPECT_FALSE(parsePortSpec(bad, err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

TEST(PortSpec, CompactList) {
  EXPECT_EQ(compactPortList({1, 2, 3, 5, 7, 8}), "1-3,5,7-8");
  EXPECT_EQ(compactPortList({}), "");
}

// ---- targets ----

std::vector<std::string> expand(const std::string& spec) {
  std::vector<Target> out;
  std::string err;
  TargetOptions o;
  o.resolve = false;
  EXPECT_TRUE(expandTargetSpec(spec, o, out, err)) << spec << ": " << err;
  std::vector<std::string> s;
  for (const auto& t : out) s.push_back(t.address.toString());
  return s;
}

TEST(Targets, AddressesCidrAndRanges) {
  EXPECT_EQ(expand("198.18.0.1"), (std::vector<std::string>{"198.18.0.1"}));
  EXPECT_EQ(expand("198.18.0.5/30"),
            (std::vector<std::string>{"198.18.0.4", "198.18.0.5", "198.18.0.6", "198.18.0.7"}));
  EXPECT_EQ(expand("198.19.0.10-12"),
            (std::vector<std::string>{"198.19.0.10", "198.19.0.11", "198.19.0.12"}));
  EXPECT_EQ(expand("198.18.1,3.7"), (std::vector<std::string>{"198.18.1.7", "198.18.3.7"}));
  EXPECT_EQ(expand("198.18.0.*").size(), 256u);
  EXPECT_EQ(expand("198.18.0.0/16").size(), 65536u);
  EXPECT_EQ(expand("198.18.0.250-").size(), 6u);
  EXPECT_EQ(expand("2001:db8::1"), (std::vector<std::string>{"2001:db8::1"}));
  EXPECT_EQ(expand("2001:db8::/126").size(), 4u);
}

TEST(Targets, Errors) {
  TargetOptions o;
  o.resolve = false;
  for (const char* bad : {"", "198.18.0.256", "198.18.0.1/33", "198.18.0.20-10", "198.18.0",
                          "198.18.0.1-3/24", "bad!name", "2001:db8::/64", "host.example"}) {
    std::vector<Target> out;
    std::string err;
    EXPECT_FALSE(expandTargetSpec(bad, o, out, err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

TEST(Targets, TooLargeIsRefused) {
  std::vector<Target> out;
  std::string err;
  EXPECT_FALSE(expandTargetSpec("0.0.0.0/0", TargetOptions{}, out, err));
  EXPECT_NE(err.find("expands past"), std::string::npos);
}

// ---- cookies ----

TEST(SipHash, ReferenceVectors) {
  // From the SipHash paper's appendix: key 00..0f, messages 00..(n-1).
  SipKey key;
  for (int i = 0; i < 16; ++i) key[i] = static_cast<uint8_t>(i);
  uint8_t msg[16];
  for (int i = 0; i < 16; ++i) msg[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(sipHash24(key, msg, 0), 0x726fdb47dd0e0e31ull);
  EXPECT_EQ(sipHash24(key, msg, 15), 0xa129ca6149be45e5ull);
}

TEST(Cookie, RoundTripAndKeyDependence) {
  SipKey k1{};
  SipKey k2{};
  k2[0] = 1;
  CookieJar a(k1);
  CookieJar b(k2);
  CookieTuple t;
  t.src = mapIpv4(0xc6120001);
  t.dst = mapIpv4(0xc6120002);
  t.dstPort = 80;
  t.protocol = 6;
  t.srcPort = a.sourcePort(t.src, t.dst, t.dstPort, t.protocol);
  EXPECT_GE(t.srcPort, CookieJar::kSourcePortBase);
  EXPECT_LT(t.srcPort, CookieJar::kSourcePortBase + CookieJar::kSourcePortSpan);
  // The receiver recomputes the same values from the reply's fields alone.
  const uint32_t sent = a.cookie(t);
  CookieTuple fromReply;
  fromReply.src = mapIpv4(0xc6120001);
  fromReply.dst = mapIpv4(0xc6120002);
  fromReply.srcPort = t.srcPort;
  fromReply.dstPort = 80;
  fromReply.protocol = 6;
  EXPECT_EQ(a.cookie(fromReply), sent);
  EXPECT_NE(b.cookie(t), sent);
  fromReply.dstPort = 81;
  EXPECT_NE(a.cookie(fromReply), sent);
  CookieJar random1;
  CookieJar random2;
  EXPECT_NE(random1.cookie(t), random2.cookie(t));
}

TEST(Cookie, OneHashGivesTheSourcePortAndTheSequence) {
  SipKey k1{};
  SipKey k2{};
  k2[0] = 1;
  const CookieJar a(k1);
  const CookieJar b(k2);
  const auto src = mapIpv4(0xc6120001);
  const auto dst = mapIpv4(0xc6120002);
  const CookieJar::Probe p = a.probe(src, dst, 80, 6);
  EXPECT_GE(p.srcPort, CookieJar::kSourcePortBase);
  EXPECT_LT(p.srcPort, CookieJar::kSourcePortBase + CookieJar::kSourcePortSpan);
  // The receiver recomputes both from the reply's addresses and port alone.
  EXPECT_EQ(a.probe(src, dst, 80, 6).seq, p.seq);
  EXPECT_EQ(a.sourcePort(src, dst, 80, 6), p.srcPort);
  // Another port, protocol, destination or key gives another sequence number.
  EXPECT_NE(a.probe(src, dst, 81, 6).seq, p.seq);
  EXPECT_NE(a.probe(src, dst, 80, 17).seq, p.seq);
  EXPECT_NE(a.probe(src, mapIpv4(0xc6120003), 80, 6).seq, p.seq);
  EXPECT_NE(b.probe(src, dst, 80, 6).seq, p.seq);
  // Source ports spread over the span: 1,000 ports of one host use hundreds of them.
  std::set<uint16_t> ports;
  for (uint16_t port = 1; port <= 1000; ++port) ports.insert(a.probe(src, dst, port, 6).srcPort);
  EXPECT_GT(ports.size(), 900u);
}

// ---- probe templates ----

struct TemplateCase {
  const char* name;
  bool v6;
  uint8_t flags;
};

struct ProbeFieldsForTest {
  std::string dst;
  uint16_t ipId, srcPort, dstPort;
  uint32_t seq;
};

// A probe as the engine's builder path makes it.
std::vector<uint8_t> builtProbe(const TemplateCase& c, const ProbeFieldsForTest& f) {
  using namespace net;
  PacketBuilder b;
  if (c.v6) {
    b.ipv6(Ipv6Header()
               .setSrc(*Ipv6Address::parse("fd00:198:18::1"))
               .setDst(*Ipv6Address::parse(f.dst))
               .setHopLimit(64));
  } else {
    b.ipv4(Ipv4Header()
               .setSrc(*Ipv4Address::parse("198.18.0.1"))
               .setDst(*Ipv4Address::parse(f.dst))
               .setTtl(64)
               .setId(f.ipId));
  }
  TcpHeader t;
  t.setSrcPort(f.srcPort).setDstPort(f.dstPort).setSeq(f.seq).setFlags(c.flags).setWindow(65535);
  if (c.flags & tcp_flags::kAck) t.setAck(f.seq);
  if (c.flags & tcp_flags::kSyn) t.addMss(1460);
  return b.tcp(t).build();
}

std::array<uint8_t, 16> mappedOf(const std::string& text) {
  if (const auto v4 = net::Ipv4Address::parse(text)) return mapIpv4(v4->value);
  return net::Ipv6Address::parse(text)->bytes;
}

TEST(ProbeTemplate, WritesTheBytesTheBuilderWouldForEveryField) {
  using namespace net::tcp_flags;
  const TemplateCase cases[] = {
      {"IPv4 SYN with MSS", false, kSyn}, {"IPv4 ACK", false, kAck},
      {"IPv4 FIN", false, kFin},          {"IPv4 Xmas", false, kFin | kPsh | kUrg},
      {"IPv6 SYN with MSS", true, kSyn},  {"IPv6 Maimon", true, kFin | kAck},
  };
  for (const auto& c : cases) {
    const ProbeFieldsForTest first{c.v6 ? "fd00:198:18::2" : "198.18.0.2", 1, 40000, 22, 7};
    const auto tmpl = TcpProbeTemplate::from(builtProbe(c, first));
    ASSERT_TRUE(tmpl.has_value()) << c.name;
    const ProbeFieldsForTest others[] = {
        {c.v6 ? "fd00:198:18::2" : "198.18.0.2", 1, 40000, 22, 7},
        {c.v6 ? "2001:db8::ffff:1" : "198.19.255.254", 0xffff, 60999, 65535, 0xffffffff},
        {c.v6 ? "fd00::" : "198.19.0.0", 0, 33000, 1, 0},
    };
    for (const auto& f : others) {
      const auto expected = builtProbe(c, f);
      const auto dst = mappedOf(f.dst);
      TcpProbeTemplate::Fields fields{dst};
      fields.ipId = f.ipId;
      fields.srcPort = f.srcPort;
      fields.dstPort = f.dstPort;
      fields.seq = f.seq;
      fields.ack = (c.flags & kAck) ? f.seq : 0;
      std::vector<uint8_t> out(tmpl->size());
      tmpl->write(out.data(), fields);
      EXPECT_EQ(out, expected) << c.name << " to " << f.dst << " port " << f.dstPort;
    }
  }
}

TEST(ProbeTemplate, RefusesWhatItCannotPatch) {
  using namespace net;
  const TemplateCase syn{"", false, tcp_flags::kSyn};
  auto withPayload = builtProbe(syn, {"198.18.0.2", 1, 40000, 22, 7});
  withPayload.push_back(0);
  EXPECT_FALSE(TcpProbeTemplate::from(withPayload).has_value());
  const auto udp = PacketBuilder()
                       .ipv4(Ipv4Header()
                                 .setSrc(*Ipv4Address::parse("198.18.0.1"))
                                 .setDst(*Ipv4Address::parse("198.18.0.2")))
                       .udp(UdpHeader().setSrcPort(1).setDstPort(2))
                       .build();
  EXPECT_FALSE(TcpProbeTemplate::from(udp).has_value());
  EXPECT_FALSE(TcpProbeTemplate::from({}).has_value());
}

// ---- timing ----

TEST(Timing, TemplatesHaveNmapNumbers) {
  const auto t0 = timingTemplate(0);
  EXPECT_EQ(t0.scanDelayMs, 300000);
  EXPECT_EQ(t0.initialRttTimeoutMs, 300000);
  EXPECT_EQ(t0.maxParallelism, 1);
  const auto t1 = timingTemplate(1);
  EXPECT_EQ(t1.scanDelayMs, 15000);
  EXPECT_EQ(t1.initialRttTimeoutMs, 15000);
  const auto t2 = timingTemplate(2);
  EXPECT_EQ(t2.scanDelayMs, 400);
  EXPECT_EQ(t2.maxParallelism, 1);
  const auto t3 = timingTemplate(3);
  EXPECT_EQ(t3.minRttTimeoutMs, 100);
  EXPECT_EQ(t3.maxRttTimeoutMs, 10000);
  EXPECT_EQ(t3.initialRttTimeoutMs, 1000);
  EXPECT_EQ(t3.maxRetries, 10);
  EXPECT_EQ(t3.scanDelayMs, 0);
  const auto t4 = timingTemplate(4);
  EXPECT_EQ(t4.maxRttTimeoutMs, 1250);
  EXPECT_EQ(t4.initialRttTimeoutMs, 500);
  EXPECT_EQ(t4.maxRetries, 6);
  EXPECT_EQ(t4.maxScanDelayMs, 10);
  const auto t5 = timingTemplate(5);
  EXPECT_EQ(t5.minRttTimeoutMs, 50);
  EXPECT_EQ(t5.maxRttTimeoutMs, 300);
  EXPECT_EQ(t5.initialRttTimeoutMs, 250);
  EXPECT_EQ(t5.maxRetries, 2);
  EXPECT_EQ(t5.hostTimeoutMs, 900000);
  EXPECT_EQ(t5.maxScanDelayMs, 5);
}

TEST(Timing, TimeSpecs) {
  EXPECT_EQ(parseTimeSpecMs("250ms"), 250);
  EXPECT_EQ(parseTimeSpecMs("2s"), 2000);
  EXPECT_EQ(parseTimeSpecMs("3"), 3000);
  EXPECT_EQ(parseTimeSpecMs("1.5m"), 90000);
  EXPECT_EQ(parseTimeSpecMs("1h"), 3600000);
  EXPECT_EQ(parseTimeSpecMs("5x"), -1);
  EXPECT_EQ(parseTimeSpecMs("-1s"), -1);
  EXPECT_EQ(parseTimeSpecMs(""), -1);
}

TEST(Rtt, FollowsRfc6298) {
  RttEstimator e(1000000, 100000, 10000000);
  EXPECT_EQ(e.rtoUs(), 1000000);  // initial
  e.addSample(200000);
  // First sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 * RTTVAR.
  EXPECT_EQ(e.srttUs(), 200000);
  EXPECT_EQ(e.rttvarUs(), 100000);
  EXPECT_EQ(e.rtoUs(), 600000);
  e.addSample(100000);
  // RTTVAR = 3/4 * 100000 + 1/4 * |200000 - 100000|; SRTT = 7/8 * 200000 + 1/8 * 100000.
  EXPECT_EQ(e.rttvarUs(), 100000);
  EXPECT_EQ(e.srttUs(), 187500);
  EXPECT_EQ(e.rtoUs(), 587500);
  e.backoff();
  EXPECT_EQ(e.rtoUs(), 1175000);
}

TEST(Rtt, ClampedToTemplateBounds) {
  RttEstimator e(500000, 100000, 1250000);
  e.addSample(50);               // a veth round trip
  EXPECT_EQ(e.rtoUs(), 100000);  // never below min-rtt-timeout
  for (int i = 0; i < 10; ++i) e.backoff();
  EXPECT_EQ(e.rtoUs(), 1250000);  // never above max-rtt-timeout
}

// ---- PORTCULLIS_SCAN_ALLOW prefixes ----

Address addr(const char* text) {
  std::vector<Target> t;
  std::string error;
  TargetOptions o;
  o.resolve = false;
  EXPECT_TRUE(expandTargetSpec(text, o, t, error)) << error;
  return t.at(0).address;
}

TEST(AllowPrefixes, ContainOnlyTheirOwnFamilyAndBlock) {
  struct Case {
    const char* prefix;
    const char* address;
    bool inside;
  };
  const Case cases[] = {
      {"198.18.0.0/15", "198.18.0.1", true},
      {"198.18.0.0/15", "198.19.255.255", true},
      {"198.18.0.0/15", "198.20.0.0", false},
      {"198.18.7.9/15", "198.19.1.1", true},  // host bits in the prefix are ignored
      {"127.0.0.1", "127.0.0.1", true},
      {"127.0.0.1", "127.0.0.2", false},
      {"0.0.0.0/0", "203.0.113.7", true},
      {"0.0.0.0/0", "2001:db8::1", false},  // no family crosses over
      {"fd00::/8", "fd00:198:18::2", true},
      {"fd00::/8", "fe80::1", false},
      {"2001:db8:ff::/45", "2001:db8:f8::1", true},  // a prefix ending inside a byte
      {"2001:db8:ff::/45", "2001:db8:f7::1", false},
      {"::/0", "198.18.0.1", false},
  };
  for (const auto& c : cases) {
    const auto p = AddressPrefix::parse(c.prefix);
    ASSERT_TRUE(p) << c.prefix;
    EXPECT_EQ(p->contains(addr(c.address)), c.inside) << c.prefix << " ? " << c.address;
  }
}

TEST(AllowPrefixes, ListsParseAndBadItemsAreOneLine) {
  std::vector<AddressPrefix> out;
  std::string error;
  EXPECT_TRUE(parsePrefixList("198.18.0.0/15,fd00::/8,127.0.0.0/8", out, error));
  EXPECT_EQ(out.size(), 3u);
  for (const char* bad :
       {"", "198.18.0.0/33", "fd00::/129", "lab", "198.18.0.0/15,,fd00::/8", "198.18.0.0/x"}) {
    out.clear();
    error.clear();
    EXPECT_FALSE(parsePrefixList(bad, out, error)) << bad;
    EXPECT_EQ(error.find('\n'), std::string::npos);
    EXPECT_FALSE(error.empty()) << bad;
  }
}

// ---- dynamic scan delay ----

// Feeds `good` clean answers, then `dropped` answers to retransmissions, and returns the delay
// (ms) after each increase.
std::vector<int64_t> boostsAfter(SendDelay& d, int good, int dropped) {
  std::vector<int64_t> out;
  int64_t now = 1;
  for (int i = 0; i < good + dropped; ++i) {
    if (d.onAnswer(i >= good, ++now)) out.push_back(d.delayUs() / 1000);
  }
  return out;
}

TEST(SendDelay, GrowsOnlyWhenMoreThanTenAndThePolicyShareOfAnswersWereDropped) {
  struct Case {
    int level;
    bool udp;
    int good;
    int dropped;
    std::vector<int64_t> boostsMs;
  };
  const Case cases[] = {
      {3, false, 100, 10, {}},             // ten drops are never enough
      {3, false, 20, 11, {5}},             // 11 of 31 = 35 % > 30 %: 0 -> 5 ms
      {4, false, 20, 11, {}},              // -T4 tolerates up to 40 %
      {4, false, 10, 11, {5}},             // 52 % > 40 %
      {3, true, 20, 11, {50}},             // UDP starts at 50 ms
      {3, false, 0, 44, {5, 10, 20, 40}},  // counters restart after each increase
  };
  for (const auto& c : cases) {
    SendDelay d(0, 1000000, c.level, c.udp);
    EXPECT_EQ(boostsAfter(d, c.good, c.dropped), c.boostsMs)
        << "T" << c.level << (c.udp ? " udp " : " tcp ") << c.good << " good " << c.dropped
        << " dropped";
  }
}

TEST(SendDelay, NeverExceedsMaxScanDelayUnlessScanDelayIsLarger) {
  SendDelay t5(0, 5000, 5, true);  // -T5: max-scan-delay 5 ms, even for UDP
  boostsAfter(t5, 0, 100);
  EXPECT_EQ(t5.delayUs(), 5000);
  SendDelay slow(400000, 5000, 2, false);  // --scan-delay 400ms beats a smaller ceiling
  EXPECT_EQ(slow.delayUs(), 400000);
  boostsAfter(slow, 0, 100);
  EXPECT_EQ(slow.delayUs(), 400000);
  SendDelay big(0, 100000000, 3, false);  // doubling stops at one second
  boostsAfter(big, 0, 200);
  EXPECT_EQ(big.delayUs(), 1000000);
}

TEST(SendDelay, AFourthRetransmissionNeededGrowsItOncePerNewMaximum) {
  SendDelay d(0, 1000000, 4, false);
  EXPECT_FALSE(d.onRetryAnswered(1, 10));
  EXPECT_FALSE(d.onRetryAnswered(3, 11));
  EXPECT_EQ(d.delayUs(), 0);
  EXPECT_TRUE(d.onRetryAnswered(4, 12));
  EXPECT_EQ(d.delayUs(), 5000);
  EXPECT_EQ(d.lastBoostUs(), 12);
  EXPECT_FALSE(d.onRetryAnswered(4, 13));  // not a new maximum
  EXPECT_TRUE(d.onRetryAnswered(6, 14));
  EXPECT_EQ(d.delayUs(), 10000);
  EXPECT_EQ(d.maxAnsweredRetry(), 6);
}

// ---- verdicts ----

TEST(Classify, NmapStateTable) {
  using namespace net::tcp_flags;
  auto st = [](ScanType t, uint8_t f, uint16_t w = 0) { return tcpReplyVerdict(t, f, w)->state; };
  EXPECT_EQ(st(ScanType::kSyn, kSyn | kAck), PortState::kOpen);
  EXPECT_EQ(st(ScanType::kSyn, kRst | kAck), PortState::kClosed);
  EXPECT_EQ(st(ScanType::kFin, kRst), PortState::kClosed);
  EXPECT_EQ(st(ScanType::kAck, kRst), PortState::kUnfiltered);
  EXPECT_EQ(st(ScanType::kWindow, kRst, 0), PortState::kClosed);
  EXPECT_EQ(st(ScanType::kWindow, kRst, 512), PortState::kOpen);
  EXPECT_FALSE(tcpReplyVerdict(ScanType::kNull, kSyn | kAck, 0));
  EXPECT_EQ(noResponseVerdict(ScanType::kSyn).state, PortState::kFiltered);
  EXPECT_EQ(noResponseVerdict(ScanType::kAck).state, PortState::kFiltered);
  EXPECT_EQ(noResponseVerdict(ScanType::kXmas).state, PortState::kOpenFiltered);
  EXPECT_EQ(noResponseVerdict(ScanType::kUdp).state, PortState::kOpenFiltered);
  EXPECT_EQ(icmpUnreachableVerdict(ScanType::kUdp, 3)->state, PortState::kClosed);
  EXPECT_EQ(icmpUnreachableVerdict(ScanType::kUdp, 13)->state, PortState::kFiltered);
  EXPECT_EQ(icmpUnreachableVerdict(ScanType::kSyn, 3)->state, PortState::kFiltered);
  EXPECT_FALSE(icmpUnreachableVerdict(ScanType::kSyn, 4));
  EXPECT_EQ(udpReplyVerdict().state, PortState::kOpen);
}

// ---- services ----

TEST(Services, IanaNamesAndTopPorts) {
  EXPECT_EQ(serviceName(22, Protocol::kTcp), "ssh");
  EXPECT_EQ(serviceName(53, Protocol::kUdp), "domain");
  EXPECT_EQ(serviceName(514, Protocol::kUdp), "syslog");
  EXPECT_EQ(serviceName(514, Protocol::kTcp), "shell");
  EXPECT_EQ(serviceName(40000, Protocol::kTcp), "unknown");
  const auto top = topPorts(Protocol::kTcp, 1000);
  EXPECT_EQ(top.size(), 1000u);
  EXPECT_EQ(top.front(), 80);
  std::vector<uint16_t> sorted = top;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
  EXPECT_EQ(topPorts(Protocol::kTcp, 100).size(), 100u);
  EXPECT_EQ(topPorts(Protocol::kUdp, 70000).size(), 65535u);
}

// ---- outputs ----

RunInfo sampleRun() {
  RunInfo info;
  info.args = "portcullis-scan -sS -p 21-23 \"198.18.0.2\"";
  info.startTime = 1795000000;
  info.endTime = 1795000001.5;
  info.scanTypes = {ScanType::kSyn};
  info.tcpPorts = {21, 22, 23};
  info.hostsTotal = 1;
  info.hostsUp = 1;
  return info;
}

HostResult sampleHost() {
  HostResult h;
  h.target.address.v4addr = *net::Ipv4Address::parse("198.18.0.2");
  h.up = true;
  h.upReason = Reason::kEchoReply;
  h.latencySeconds = 0.000123;
  h.srttUs = 123;
  h.rttvarUs = 50;
  h.rtoUs = 100000;
  h.ports = {{21, Protocol::kTcp, PortState::kClosed, Reason::kReset, 64},
             {22, Protocol::kTcp, PortState::kOpen, Reason::kSynAck, 64},
             {23, Protocol::kTcp, PortState::kFiltered, Reason::kNoResponse, 0}};
  return h;
}

std::string render(std::unique_ptr<ReportWriter> (*make)(std::ostream&), const HostResult& h) {
  std::ostringstream out;
  auto w = make(out);
  const auto info = sampleRun();
  w->begin(info);
  w->host(h);
  w->end(info);
  return out.str();
}

TEST(Output, NormalTable) {
  const std::string text = render(makeNormalWriter, sampleHost());
  EXPECT_NE(text.find("Nmap scan report for 198.18.0.2\n"
                      "Host is up (0.000123s latency).\n"
                      "PORT   STATE    SERVICE\n"
                      "21/tcp closed   ftp\n"
                      "22/tcp open     ssh\n"
                      "23/tcp filtered telnet\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Nmap done: 1 IP address (1 host up) scanned in 1.50 seconds"),
            std::string::npos);
}

TEST(Output, NormalFoldsCommonStates) {
  HostResult h = sampleHost();
  h.ports.clear();
  for (uint16_t p = 1; p <= 100; ++p) {
    h.ports.push_back({p, Protocol::kTcp, PortState::kClosed, Reason::kReset, 64});
  }
  h.ports.push_back({443, Protocol::kTcp, PortState::kOpen, Reason::kSynAck, 64});
  const std::string text = render(makeNormalWriter, h);
  EXPECT_NE(text.find("Not shown: 100 closed tcp ports (reset)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("443/tcp open  https\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("1/tcp "), std::string::npos);
}

TEST(Output, XmlHasNmapStructure) {
  const std::string xml = render(makeXmlWriter, sampleHost());
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n", 0), 0u);
  EXPECT_NE(xml.find("args=\"portcullis-scan -sS -p 21-23 &quot;198.18.0.2&quot;\""),
            std::string::npos);
  EXPECT_NE(xml.find("<scaninfo type=\"syn\" protocol=\"tcp\" numservices=\"3\" "
                     "services=\"21-23\"/>"),
            std::string::npos);
  EXPECT_NE(xml.find("<status state=\"up\" reason=\"echo-reply\" reason_ttl=\"0\"/>"),
            std::string::npos);
  EXPECT_NE(xml.find("<address addr=\"198.18.0.2\" addrtype=\"ipv4\"/>"), std::string::npos);
  EXPECT_NE(xml.find("<port protocol=\"tcp\" portid=\"22\"><state state=\"open\" "
                     "reason=\"syn-ack\" reason_ttl=\"64\"/><service name=\"ssh\" "
                     "method=\"table\" conf=\"3\"/></port>"),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<hosts up=\"1\" down=\"0\" total=\"1\"/>"), std::string::npos);
  EXPECT_NE(xml.find("</nmaprun>\n"), std::string::npos);
  // Balanced: every element opened is closed (a cheap well-formedness check; the lab test runs
  // xmllint on real output).
  auto count = [&](const std::string& s) {
    size_t n = 0;
    for (size_t p = xml.find(s); p != std::string::npos; p = xml.find(s, p + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("<host "), count("</host>"));
  EXPECT_EQ(count("<ports>"), count("</ports>"));
  EXPECT_EQ(count("<port "), count("</port>"));
}

TEST(Output, GrepableLine) {
  const std::string g = render(makeGrepableWriter, sampleHost());
  EXPECT_NE(g.find("Host: 198.18.0.2 ()\tStatus: Up\n"), std::string::npos);
  EXPECT_NE(g.find("Host: 198.18.0.2 ()\tPorts: 21/closed/tcp//ftp///, 22/open/tcp//ssh///, "
                   "23/filtered/tcp//telnet///\n"),
            std::string::npos)
      << g;
}

TEST(Output, JsonParses) {
  const std::string j = render(makeJsonWriter, sampleHost());
  const auto doc = nlohmann::json::parse(j);
  EXPECT_EQ(doc["scanner"], "portcullis-scan");
  ASSERT_EQ(doc["hosts"].size(), 1u);
  EXPECT_EQ(doc["hosts"][0]["ports"][1]["state"], "open");
  EXPECT_EQ(doc["hosts"][0]["ports"][2]["state"], "filtered");
  EXPECT_EQ(doc["stats"]["hosts_up"], 1);
}

TEST(Output, XmlEscape) { EXPECT_EQ(xmlEscape("a<b>&\"'\x01"), "a&lt;b&gt;&amp;&quot;&apos;?"); }

// ---- command line ----

ParseResult parse(std::vector<std::string> args, Options& o, std::string& err) {
  std::vector<char*> argv;
  static std::string prog = "portcullis-scan";
  argv.push_back(prog.data());
  for (auto& a : args) argv.push_back(a.data());
  return parseCommandLine(static_cast<int>(argv.size()), argv.data(), o, err);
}

TEST(Cli, NmapStyleFlags) {
  Options o;
  std::string err;
  ASSERT_EQ(parse({"-sS", "-sU", "-p-", "-T4", "-Pn", "-n", "-r", "-oX", "out.xml", "--max-retries",
                   "3", "--scan-delay", "5ms", "198.18.0.2"},
                  o, err),
            ParseResult::kOk)
      << err;
  EXPECT_EQ(o.tcpScan, ScanType::kSyn);
  EXPECT_TRUE(o.udpScan);
  EXPECT_EQ(o.ports.tcp.size(), 65535u);
  EXPECT_EQ(o.timing.level, 4);
  EXPECT_EQ(o.timing.maxRetries, 3);
  EXPECT_EQ(o.timing.scanDelayMs, 5);
  EXPECT_TRUE(o.noPing);
  EXPECT_TRUE(o.sequential);
  EXPECT_EQ(o.outXml, "out.xml");
  EXPECT_EQ(o.targetSpecs, (std::vector<std::string>{"198.18.0.2"}));
}

TEST(Cli, AllFormatsNameThreeFilesAndAnExplicitFileWins) {
  Options o;
  std::string err;
  ASSERT_EQ(parse({"-oA", "/tmp/scan1", "-oX", "mine.xml", "198.18.0.2"}, o, err), ParseResult::kOk)
      << err;
  EXPECT_EQ(o.outNormal, "/tmp/scan1.nmap");
  EXPECT_EQ(o.outGrepable, "/tmp/scan1.gnmap");
  EXPECT_EQ(o.outXml, "mine.xml");
  EXPECT_TRUE(o.outJson.empty());
  Options stdoutAll;
  EXPECT_EQ(parse({"-oA", "-", "198.18.0.2"}, stdoutAll, err), ParseResult::kError);
  EXPECT_NE(err.find("-oA"), std::string::npos) << err;
}

TEST(Cli, Errors) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--bogus", "x"},
                                                                {"-sS", "-sT", "x"},
                                                                {"-sn", "-sS", "x"},
                                                                {"-p", "0-70000", "x"},
                                                                {"-T9", "x"},
                                                                {"--scan-delay", "fast", "x"},
                                                                {"--mtu", "13", "x"},
                                                                {"-F", "-p", "22", "x"}}) {
    Options o;
    std::string err;
    EXPECT_EQ(parse(args, o, err), ParseResult::kError) << args[0];
    EXPECT_FALSE(err.empty());
  }
}

TEST(Cli, EvasionOptions) {
  Options o;
  std::string err;
  ASSERT_EQ(parse({"-D", "RND:3,ME,198.18.0.9", "-g", "53", "-f", "--ttl", "33", "--data-length",
                   "10", "-e", "eth0", "x"},
                  o, err),
            ParseResult::kOk)
      << err;
  EXPECT_EQ(o.decoys, (std::vector<std::string>{"RND:3", "ME", "198.18.0.9"}));
  EXPECT_EQ(o.sourcePort, 53);
  EXPECT_EQ(o.fragmentSize, 8u);
  EXPECT_EQ(o.ttl, 33);
  EXPECT_EQ(o.dataLength, 10u);
  EXPECT_EQ(o.iface, "eth0");
}

}  // namespace
}  // namespace portcullis::scan
