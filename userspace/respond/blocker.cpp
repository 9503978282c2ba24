#include "respond/blocker.h"
#include "report/log.h"
#include "detect/estimate.h"
#include "detect/evidence.h"

#include "datapath/kernel_clock.h"

#include <arpa/inet.h>
#include <ifaddrs.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace portcullis {

namespace {

void addAddr(std::vector<Prefix>& out, const pc_addr& a) { out.push_back({a, 128}); }

}  // namespace

// Default gateways from the kernel's routing tables (no netlink needed for a read).
std::vector<Prefix> defaultGateways(const std::string& routeV4, const std::string& routeV6) {
  std::vector<Prefix> out;
  std::ifstream v4(routeV4);
  std::string line;
  std::getline(v4, line);  // header
  while (std::getline(v4, line)) {
    std::istringstream f(line);
    std::string iface, dest, gw;
    f >> iface >> dest >> gw;
    if (dest == "00000000" && gw != "00000000") {
      pc_addr a{};
      pc_addr_from_v4(&a, uint32_t(std::stoul(gw, nullptr, 16)));  // already network order
      addAddr(out, a);
    }
  }
  std::ifstream v6(routeV6);
  while (std::getline(v6, line)) {
    std::istringstream f(line);
    std::string dest, dlen, src, slen, next;
    f >> dest >> dlen >> src >> slen >> next;
    if (dest == std::string(32, '0') && dlen == "00" && next != std::string(32, '0')) {
      pc_addr a{};
      auto* bytes = reinterpret_cast<uint8_t*>(a.w);
      for (int i = 0; i < 16; ++i)
        bytes[i] = uint8_t(std::stoul(next.substr(i * 2, 2), nullptr, 16));
      addAddr(out, a);
    }
  }
  return out;
}

namespace {

void addResolvers(std::vector<Prefix>& out) {
  std::ifstream conf("/etc/resolv.conf");
  std::string line;
  while (std::getline(conf, line)) {
    std::istringstream f(line);
    std::string word, addr;
    f >> word >> addr;
    if (word != "nameserver") continue;
    if (auto a = parseAddr(addr)) addAddr(out, *a);
  }
}

void addOwnAddresses(std::vector<Prefix>& out) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return;
  for (ifaddrs* it = list; it; it = it->ifa_next) {
    if (!it->ifa_addr) continue;
    pc_addr a{};
    if (it->ifa_addr->sa_family == AF_INET) {
      pc_addr_from_v4(&a, reinterpret_cast<sockaddr_in*>(it->ifa_addr)->sin_addr.s_addr);
    } else if (it->ifa_addr->sa_family == AF_INET6) {
      std::memcpy(a.w, &reinterpret_cast<sockaddr_in6*>(it->ifa_addr)->sin6_addr, 16);
    } else {
      continue;
    }
    addAddr(out, a);
  }
  freeifaddrs(list);
}

}  // namespace

std::vector<Prefix> safetyList(const std::vector<Prefix>& configured) {
  std::vector<Prefix> out = configured;
  out.push_back(*parsePrefix("127.0.0.0/8"));
  out.push_back(*parsePrefix("::1/128"));
  addOwnAddresses(out);
  for (const Prefix& gw : defaultGateways("/proc/net/route", "/proc/net/ipv6_route")) {
    out.push_back(gw);
  }
  addResolvers(out);
  return out;
}

namespace {
// Distinct ports (or protocols) a source must have probed before time alone makes it a
// blocking offense.
constexpr uint64_t kPersistTargets = 5;

// Probes the source has sent over the slot's life (pings, the operator's own checks, excepted).
uint64_t probesSent(const pc_src_state& slot) {
  return uint64_t(probeCount(slot)) - slot.count[PC_KIND_ICMP_ECHO];
}
}  // namespace

AutoBlocker::AutoBlocker(BlockPolicy policy, std::vector<Prefix> neverBlock, AlertSink& sink)
    : policy_(std::move(policy)), neverBlock_(std::move(neverBlock)), sink_(sink) {}

void AutoBlocker::setBlocklist(size_t tableIndex, BlockBackend* blocklist,
                               uint64_t ticksPerSecond) {
  blocklists_[tableIndex] = {blocklist, ticksPerSecond};
}

bool AutoBlocker::protects(const pc_addr& a) const {
  for (const Prefix& p : neverBlock_) {
    if (prefixContains(p, a)) return true;
  }
  return false;
}

void AutoBlocker::consider(Alert& a, size_t tableIndex, const pc_src_state& slot) {
  if (a.event != "alert" && a.event != "update") return;
  // An incident blocks once any blocking rule has fired in it, whichever came first.
  bool blocking = policy_.rules.count(a.rule) > 0;
  for (const std::string& r : a.rules) blocking |= policy_.rules.count(r) > 0;
  if (!blocking) return;
  auto it = blocklists_.find(tableIndex);
  if (it == blocklists_.end() || !it->second.first) return;
  if (protects(slot.key)) return;
  // Already blocked (by this watch, a previous one, or the operator): the later alerts of the
  // same scan neither extend it nor count as new offenses.
  if (it->second.first->blocked(slot.key)) {
    a.action = "blocked";
    return;
  }
  // Evidence a spoofer cannot make cheaply: it answered what the host sent (only the real
  // sender sees the SYN-ACKs), or it kept probing many targets over time. Time alone is not
  // enough: a spoofed flood's two SYNs to one port come seconds apart too.
  uint64_t ticksPerSecond = it->second.second;
  bool reacted = slot.acked + slot.reset_after_synack > 0;
  bool persisted =
      (slot.last_seen - slot.first_seen) * 1000 >= policy_.persistMs * ticksPerSecond &&
      linearCount(slot.ports) + linearCount(slot.protos) >= kPersistTargets;
  if (!reacted && !persisted) return;
  // After a block of ours ends, the alert that caused it is still on the source's track: only
  // probes sent after the block are a new offense, not the old evidence met again by a ping.
  // The first look after the block takes the count as it stands (probes that raced the block
  // into the table are old evidence too), and five more probes are a new offense.
  std::string addr = formatAddr(slot.key);
  auto after = probesAfterBlock_.find(addr);
  if (after != probesAfterBlock_.end()) {
    if (!after->second) {
      after->second = probesSent(slot);
      return;
    }
    if (probesSent(slot) < *after->second + kPersistTargets) return;
  }

  int64_t now = unixMicrosNow();
  if (now / 1'000'000 != bucketSecond_) {
    bucketSecond_ = now / 1'000'000;
    bucketUsed_ = 0;
  }
  if (bucketUsed_ >= policy_.maxPerSecond) return;  // the cap holds whatever a flood does

  uint32_t offense = ++offenses_[addr];
  uint64_t ttl = policy_.ttlS;
  for (uint32_t i = 1; i < offense && ttl < policy_.maxTtlS; ++i) ttl *= 2;
  ttl = std::min(ttl, policy_.maxTtlS);
  if (policy_.permanentAfter && offense > policy_.permanentAfter) ttl = 0;
  // The block covers the source as the datapath aggregates it (an IPv6 /64).
  unsigned length = slot.prefix_len ? slot.prefix_len : 128;
  if (int err = it->second.first->block(Prefix{slot.key, length}, ttl, offense); err) {
    logError("cannot block %s: %s", a.src.c_str(), std::strerror(-err));
    return;
  }
  ++bucketUsed_;
  ++blocksTotal_;
  probesAfterBlock_[addr] = std::nullopt;  // counted at the first look after the block
  // Keyed as the sweep names the entry ("2001:db8::/64"), so an expiry is reported once.
  active_[formatPrefix(Prefix{slot.key, length})] = ttl ? now + int64_t(ttl) * 1'000'000 : 0;
  a.action = "blocked";
  Alert b = a;
  b.event = "block";
  b.detail = ttl ? "ttl " + std::to_string(ttl) + "s" : "permanent";
  if (offense > 1) b.detail += ", offense " + std::to_string(offense);
  b.tsMicros = now;
  sink_.write(b);
  if (onBlock_) onBlock_(Prefix{slot.key, length}, ttl, offense);
}

void AutoBlocker::applyRemote(const Prefix& prefix, int64_t expiresUnixMicros,
                              const std::string& node, bool unblock) {
  std::string text = formatPrefix(prefix);
  int64_t now = unixMicrosNow();
  Alert e;
  e.rule = "fleet";
  e.src = text;
  e.sources = {text};
  e.tsMicros = now;
  if (unblock) {
    bool any = false;
    for (auto& [table, entry] : blocklists_)
      any |= entry.first && entry.first->unblock(prefix) == 0;
    if (!any) return;
    active_.erase(text);
    e.event = "unblock";
    e.detail = "from node " + node;
    sink_.write(e);
    return;
  }
  if (protects(prefix.addr)) {
    if (refusedRemote_.insert(text).second) {
      logWarning("fleet: node %s asked to block %s, which this host protects: not blocked",
                 node.c_str(), text.c_str());
    }
    return;
  }
  if (expiresUnixMicros && expiresUnixMicros <= now) return;
  // The time left, rounded up: it ends here when it ends on the node that made it.
  uint64_t ttl = expiresUnixMicros ? uint64_t((expiresUnixMicros - now + 999'999) / 1'000'000) : 0;
  // Already applied: the same block sent again. A node's watch sends the `block --fleet`
  // blocks made there again after Redis restarts, their expiry read back from the kernel's
  // clock a few milliseconds off; a refresh or a new offense moves it by far more.
  auto known = active_.find(text);
  if (known != active_.end() && (known->second == 0) == (expiresUnixMicros == 0) &&
      std::llabs(known->second - expiresUnixMicros) < 1'000'000) {
    return;
  }
  bool any = false;
  for (auto& [table, entry] : blocklists_)
    any |= entry.first && entry.first->block(prefix, ttl, 0) == 0;
  if (!any) return;
  active_[text] = expiresUnixMicros;
  e.event = "block";
  e.action = "blocked";
  e.detail = "from node " + node + (ttl ? ", ttl " + std::to_string(ttl) + "s" : ", permanent");
  sink_.write(e);
}

void AutoBlocker::sweep(int64_t nowUnixMicros) {
  auto unblocked = [&](const std::string& src, const std::string& detail) {
    Alert u;
    u.event = "unblock";
    u.rule = "expiry";
    u.src = src;
    u.sources = {src};
    u.tsMicros = nowUnixMicros;
    u.detail = detail;
    sink_.write(u);
  };
  // The XDP program stops dropping at expiry and deletes an expired exact entry itself on
  // the source's next packet, so the controller's own record says when a block ended.
  std::set<std::string> ended;
  for (auto it = active_.begin(); it != active_.end();) {
    if (it->second && it->second <= nowUnixMicros) {
      unblocked(it->first, "expired");
      ended.insert(it->first);
      it = active_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [table, entry] : blocklists_) {
    if (!entry.first) continue;
    for (const BlockEntry& e : entry.first->sweep()) {
      std::string src = formatPrefix(e.prefix);
      if (!active_.count(src) && !ended.count(src))
        unblocked(src, "expired after " + std::to_string(e.drops) + " drops");
    }
  }
}

}  // namespace portcullis
