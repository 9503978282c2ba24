#include "memory_table.h"

#include <pcap/dlt.h>

#include <algorithm>
#include <cstring>

#include "portcullis/control.h"
#include "portcullis/parse.h"

namespace portcullis {

namespace {

constexpr int kDltLinuxSll2 = 276;  // not in every libpcap's dlt.h

}  // namespace

MemoryTable::MemoryTable(std::string name, uint32_t slots, const RuleConfig& rules,
                         bool reportPorts)
    : name_(std::move(name)), slots_(slots) {
  pc_tuning_defaults(&tuning_, ticksPerSecond());
  tuning_.score_window = uint64_t(rules.scoreWindowMs) * 1000;
  tuning_.flow_window = uint64_t(rules.flowWindowS) * 1'000'000;
  tuning_.idle_timeout = uint64_t(rules.forgetS) * 1'000'000;
  tuning_.slot_mask = slots - 1;
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

void MemoryTable::setWatchedDestinations(const std::vector<pc_addr>& dsts) {
  hostAddrs_ = dsts;
  control_.dst_filter = dsts.empty() ? 0 : 1;
  std::memset(control_.dst_bloom, 0, sizeof(control_.dst_bloom));
  for (const pc_addr& d : dsts) {
    uint32_t bit = pc_dst_bloom_bit(&d);
    control_.dst_bloom[bit >> 6] |= 1ull << (bit & 63);
  }
}

bool MemoryTable::isHost(const pc_addr& a) const {
  return std::any_of(hostAddrs_.begin(), hostAddrs_.end(),
                     [&](const pc_addr& h) { return pc_addr_eq(&h, &a); });
}

// Without host addresses every packet may be an answer to its destination, except an RST the
// sender sends in a connection it opened or was offered (a connect scan's teardown, a SYN
// scan's reply to the SYN-ACK): those are the source's own moves, not the host's answers.
bool MemoryTable::sendersOwnFlow(const pc_packet& p) const {
  if (p.l4proto != PC_IPPROTO_TCP || !(p.tcp_flags & PC_TCP_RST)) return false;
  const pc_src_state* sender = find(p.src);
  if (!sender) return false;
  __u32 dstFold = pc_addr_fold(&p.dst);
  __u32 flow = pc_flow_bit(&p, dstFold);
  __u32 half = pc_halfopen_bit(dstFold, p.sport, p.dport);
  return pc_bit_test(sender->flows, flow) || pc_bit_test(sender->flows_prev, flow) ||
         pc_bit_test(sender->halfopen, half);
}

pc_src_state* MemoryTable::findMutable(const pc_addr& a) {
  return const_cast<pc_src_state*>(findSlot(slots_, tuning_, a));
}

bool MemoryTable::allowed(const pc_addr& src) const {
  return std::any_of(allow_.begin(), allow_.end(),
                     [&](const Prefix& p) { return prefixContains(p, src); });
}

void MemoryTable::emit(const pc_packet& p, uint8_t type, uint8_t kind) {
  pc_event e{};
  e.ts = now_;
  e.src = p.src;
  e.dst = p.dst;
  e.sport = p.sport;
  e.dport = p.dport;
  e.kind = kind;
  e.tcp_flags = p.tcp_flags;
  e.l4proto = p.l4proto;
  e.ip_version = p.ip_version;
  e.type = type;
  events_.push_back(e);
  stats_.events++;
}

void MemoryTable::handleFrame(const uint8_t* data, size_t len, int linkType, uint64_t tsMicros) {
  advanceTo(tsMicros);
  stats_.packets++;
  const uint8_t* end = data + len;
  pc_packet p{};
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
  bool everyPacket = hostAddrs_.empty();
  // The TC egress program's part: an answer from the host to a source it tracks.
  if (rc == PC_PARSE_OK && (everyPacket ? !sendersOwnFlow(p) : isHost(p.src))) {
    if (pc_src_state* peer = findMutable(p.dst)) pc_answer_update(peer, &p);
  }
  if (!everyPacket && !isHost(p.dst)) {
    stats_.not_watched++;
    return;
  }
  ingress(p);
}

// The XDP program's part: the source's packet.
void MemoryTable::ingress(const pc_packet& p) {
  uint32_t idx = pc_slot_index(&p.src, &tuning_);
  int fresh = 0, evicted = 0;
  pc_src_state* s =
      pc_slot_pick(&slots_[idx], &slots_[idx | 1], &p.src, now_, &tuning_, &fresh, &evicted);
  if (!s) {
    stats_.untracked++;
    return;
  }
  if (fresh) {
    if (evicted) stats_.evictions++;
    pc_slot_init(s, &p.src, now_);
    if (allowed(p.src)) s->flags |= PC_SRC_ALLOWED;
  }
  if (s->flags & PC_SRC_ALLOWED) {
    stats_.allowed++;
    return;
  }
  int probePort = 0;
  uint8_t kind = pc_source_update(s, &p, now_, &tuning_, &probePort);
  if (pc_kind_is_illegal(kind)) {
    if (s->win_events < tuning_.event_burst) {
      s->win_events++;
      emit(p, PC_EVENT_ANOMALY, kind);
    } else {
      stats_.events_limited++;
    }
  }
  if (probePort && tuning_.report_ports) emit(p, PC_EVENT_PORT, kind);
}

}  // namespace portcullis
