#include "datapath/memory_table.h"
#include "datapath/control_page.h"

#include <pcap/dlt.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "portcullis/control.h"
#include "portcullis/parse.h"

// The ingress path's view of the in-memory tables (portcullis/ingress.h).
struct pc_env {
  pc_src_state* slots;
  size_t nslots;
  pc_slot_tags* tags;
  pc_admit* admit;
  pc_admit_tags* admitTags;
  pc_first* first;
  size_t nadmit;
  pc_sketch* sketch;
  const std::vector<portcullis::Prefix>* allow;
  std::vector<pc_event>* events;
};

static pc_src_state* pc_env_slot(pc_env* env, __u32 idx) {
  return idx < env->nslots ? &env->slots[idx] : nullptr;
}
static pc_slot_tags* pc_env_tags(pc_env* env, __u32 pair) {
  return pair < env->nslots / 2 ? &env->tags[pair] : nullptr;
}
static pc_admit* pc_env_admit(pc_env* env, __u32 idx) {
  return idx < env->nadmit ? &env->admit[idx] : nullptr;
}
static pc_admit_tags* pc_env_admit_tags(pc_env* env, __u32 pair) {
  return pair < env->nadmit / 2 ? &env->admitTags[pair] : nullptr;
}
static pc_first* pc_env_first(pc_env* env, __u32 idx) {
  return idx < env->nadmit ? &env->first[idx] : nullptr;
}
static pc_sketch* pc_env_sketch(pc_env* env) { return env->sketch; }
static int pc_env_allowed(pc_env* env, const pc_addr* src) {
  return std::any_of(env->allow->begin(), env->allow->end(), [&](const portcullis::Prefix& p) {
    return portcullis::prefixContains(p, *src);
  });
}
// The pcap backend cannot drop: it has no blocklist of its own (blocks go to nftables).
static int pc_env_blocked(pc_env*, const pc_addr*, const pc_addr*, __u64, __u64*) { return 0; }
static void pc_env_emit(pc_env* env, const pc_packet* p, __u8 type, __u8 kind, __u64 now) {
  pc_event e{};
  e.ts = now;
  e.src = p->src;
  e.dst = p->dst;
  e.sport = p->sport;
  e.dport = p->dport;
  e.kind = kind;
  e.tcp_flags = p->tcp_flags;
  e.l4proto = p->l4proto;
  e.ip_version = p->ip_version;
  e.type = type;
  env->events->push_back(e);
}

#include "portcullis/ingress.h"

namespace portcullis {

namespace {

constexpr int kDltLinuxSll2 = 276;  // not in every libpcap's dlt.h
// 65,536 entries (512 KiB, so it stays in cache): the connections going on at once, four ways per
// bucket, least recently seen replaced. Replay without --dst-ip only.
constexpr size_t kConnectionEntries = size_t(1) << 16;

uint32_t randomSeed() {
  std::random_device rd;
  uint32_t seed = rd();
  return seed ? seed : 1;
}

}  // namespace

MemoryTable::MemoryTable(std::string name, uint32_t slots, const RuleConfig& rules,
                         bool reportPorts, uint32_t hashSeed)
    : name_(std::move(name)),
      slots_(slots),
      tags_(slots / 2),
      admit_(size_t(slots) * 4),
      admitTags_(size_t(slots) * 2),
      first_(size_t(slots) * 4) {
  pc_tuning_defaults(&tuning_, ticksPerSecond());
  tuning_.score_window = uint64_t(rules.scoreWindowMs) * 1000;
  tuning_.flow_window = uint64_t(rules.flowWindowS) * 1'000'000;
  tuning_.idle_timeout = uint64_t(rules.forgetS) * 1'000'000;
  tuning_.hash_seed = hashSeed ? hashSeed : randomSeed();
  tuning_.slot_mask = slots - 1;
  tuning_.admit_mask = uint32_t(admit_.size() - 1);
  tuning_.admit_targets = uint16_t(std::clamp<uint32_t>(rules.admitTargets, 1, 32));
  tuning_.v4_prefix = uint8_t(rules.v4Prefix);
  tuning_.v6_prefix = uint8_t(rules.v6Prefix);
  setWatchedDestinations({});
  tuning_.weight_hot = rules.weightHot;
  tuning_.weight_low = rules.weightLow;
  tuning_.weight_high = rules.weightHigh;
  tuning_.event_burst = uint16_t(std::min<uint32_t>(rules.eventBurst, 0xffff));
  tuning_.report_ports = reportPorts ? 1 : 0;
}

bool MemoryTable::supportsLinkType(int linkType) {
  switch (linkType) {
    case DLT_EN10MB:
    case DLT_LINUX_SLL:
    case kDltLinuxSll2:
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
    case DLT_NULL:
    case DLT_LOOP:
      return true;
    default:
      return false;
  }
}

void MemoryTable::setWatchedDestinations(const std::vector<Prefix>& dsts) {
  hostAddrs_ = dsts;
  if (dsts.empty()) {
    if (connections_.empty()) connections_.assign(kConnectionEntries);
  } else {
    connections_.clear();
  }
  fillDestinationFilter(control_, dsts);
}

bool MemoryTable::isHost(const pc_addr& a) const {
  return std::any_of(hostAddrs_.begin(), hostAddrs_.end(),
                     [&](const Prefix& h) { return prefixContains(h, a); });
}

void MemoryTable::requestPromotion(size_t index) {
  if (index < admit_.size()) admit_[index].flags |= PC_ADMIT_PROMOTE;
}

// A connection's hash, the same from both ends: one function of (address, port) for each end,
// and the pair in order. 0 for packets of no connection (TCP and UDP only).
static uint64_t connectionHash(const pc_packet& p, uint32_t seed, bool& senderLow) {
  if (p.l4proto != PC_IPPROTO_TCP && p.l4proto != PC_IPPROTO_UDP) return 0;
  uint32_t a = pc_mix32(pc_addr_hash(&p.src, seed) ^ p.sport);
  uint32_t b = pc_mix32(pc_addr_hash(&p.dst, seed) ^ p.dport);
  senderLow = a < b;
  // splitmix64's finaliser: every input bit moves every output bit (one end is often the same
  // server address and port, so no half of the input may dominate the index).
  uint64_t h = (uint64_t(std::min(a, b)) << 32 | std::max(a, b)) ^ (uint64_t(p.l4proto) << 56);
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h | 1;  // never 0 (bit 0 is not used below)
}

// Which side of its connection the packet's sender is: the opener sent the SYN (or the first
// UDP datagram); the answerer is the host for that connection, whose SYN-ACKs, FINs and RSTs
// are answers. Keyed by the connection in either direction.
MemoryTable::Role MemoryTable::connectionRole(const ParsedFrame& f) {
  const pc_packet& p = f.packet;
  const uint64_t h = f.connection;
  if (connections_.empty() || !h) return Role::Unknown;
  uint32_t tag = (uint32_t(h) | 2) & ~1u;  // bit 0: the opener is the low side; never 0
  // Capture time in units of 1.024 ms: 32 bits last 50 days, and least recently seen only needs
  // an order.
  uint32_t seen = uint32_t(now_ >> 10);
  bool opens = p.l4proto == PC_IPPROTO_TCP ? p.kind == PC_KIND_SYN : true;
  bool answersOpen = p.l4proto == PC_IPPROTO_TCP && p.kind == PC_KIND_SYNACK;
  // Four ways per bucket, the least recently seen replaced: a new connection never pushes out
  // one still going on, however many have come and gone.
  Connection* bucket = &connections_[((h >> 44) & (kConnectionEntries / 4 - 1)) * 4];
  Connection* entry = nullptr;
  for (int i = 0; i < 4; ++i) {
    if ((bucket[i].tag & ~1u) == tag) entry = &bucket[i];
  }
  if (!entry) {
    if (!opens && !answersOpen) return Role::Unknown;
    // A new connection: the SYN's sender opened it (a SYN-ACK's receiver, when the SYN is
    // missing from the capture).
    entry = &bucket[0];
    for (int i = 1; i < 4 && entry->tag; ++i) {  // a free way first, else the oldest
      if (!bucket[i].tag || int32_t(bucket[i].lastSeen - entry->lastSeen) < 0) entry = &bucket[i];
    }
    entry->tag = tag | uint32_t(opens ? f.senderLow : !f.senderLow);
  }
  if (entry->lastSeen != seen) entry->lastSeen = seen;
  bool openerLow = entry->tag & 1;
  return openerLow == f.senderLow ? Role::Opener : Role::Answerer;
}

void MemoryTable::ingress(const pc_packet& p) {
  pc_env env = bind();
  pc_ingress_ctx c{&env, &stats_, &control_, &tuning_, now_};
  pc_ingress(&c, &p);
}

void MemoryTable::egress(const pc_packet& p) {
  pc_env env = bind();
  pc_ingress_ctx c{&env, &stats_, &control_, &tuning_, now_};
  pc_egress(&c, &p);
}

// The ingress path's view of these tables.
pc_env MemoryTable::bind() {
  return {slots_.data(), slots_.size(), tags_.data(), admit_.data(), admitTags_.data(),
          first_.data(), admit_.size(), &sketch_,     &allow_,       &events_};
}

void MemoryTable::parseFrame(const uint8_t* data, size_t len, int linkType, uint64_t tsMicros,
                             ParsedFrame& out) const {
  const uint8_t* end = data + len;
  pc_packet& p = out.packet;
  p = pc_packet{};
  out.tsMicros = tsMicros;
  out.connection = 0;
  out.senderLow = false;
  int rc;
  // The same parser as the XDP program, entered at the right layer for the capture's link type.
  switch (linkType) {
    case DLT_EN10MB:
      rc = pc_parse_frame(data, end, &p);
      break;
    case DLT_LINUX_SLL:  // 16-byte cooked header, protocol at 14
      rc = len < 16 ? PC_PARSE_MALFORMED : pc_parse_l3(data + 16, end, pc_rd16(data + 14), &p);
      break;
    case kDltLinuxSll2:  // 20-byte cooked header, protocol at 0
      rc = len < 20 ? PC_PARSE_MALFORMED : pc_parse_l3(data + 20, end, pc_rd16(data), &p);
      break;
    case DLT_NULL:
    case DLT_LOOP:  // 4-byte address family, then IP
      if (len < 5) {
        rc = PC_PARSE_MALFORMED;
        break;
      }
      data += 4;
      [[fallthrough]];
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
      if (data >= end) {
        rc = PC_PARSE_MALFORMED;
        break;
      }
      rc = pc_parse_l3(data, end, (data[0] >> 4) == 6 ? PC_ETH_P_IPV6 : PC_ETH_P_IP, &p);
      break;
    default:
      rc = PC_PARSE_NOT_IP;
  }
  out.rc = rc;
  if (rc == PC_PARSE_OK && !connections_.empty()) {
    out.connection = connectionHash(p, tuning_.hash_seed, out.senderLow);
  }
}

void MemoryTable::applyFrame(const ParsedFrame& f) {
  advanceTo(f.tsMicros);
  stats_.packets++;
  const pc_packet& p = f.packet;
  const int rc = f.rc;
  if (rc == PC_PARSE_NOT_IP) {
    stats_.non_ip++;
    return;
  }
  if (rc == PC_PARSE_MALFORMED) {
    stats_.unparsable++;
    return;
  }
  stats_.parsed++;
  if (rc == PC_PARSE_FRAGMENT) stats_.fragments++;
  if (!hostAddrs_.empty()) {
    // The TC egress program's part: an answer from the host; the XDP program's: a packet to it.
    if (rc == PC_PARSE_OK && isHost(p.src)) egress(p);
    if (!isHost(p.dst)) {
      stats_.not_watched++;
      return;
    }
    ingress(p);
    return;
  }
  // Every destination watched: a packet is its sender's, unless the sender is answering a
  // connection the other side opened; then it is the host's answer and never scored.
  switch (rc == PC_PARSE_OK ? connectionRole(f) : Role::Unknown) {
    case Role::Answerer:
      egress(p);
      return;
    case Role::Opener:
      ingress(p);
      return;
    case Role::Unknown:
      // An RST to an ACK probe, an ICMP unreachable: answers if their receiver probed.
      if (rc == PC_PARSE_OK) egress(p);
      ingress(p);
      return;
  }
}

}  // namespace portcullis
