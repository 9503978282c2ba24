#include "app/ops.h"
#include "report/log.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "report/alert.h"
#include "respond/blocker.h"
#include "respond/blocklist.h"
#include "respond/nft_blocklist.h"
#include "detect/estimate.h"
#include "fleet/fleet_link.h"
#include "datapath/kernel_clock.h"
#include "datapath/net_util.h"
#include "datapath/mapped_array.h"
#include "datapath/source_table.h"
#include "datapath/xdp_datapath.h"

namespace portcullis {

std::string stateFile(const std::string& stateDir, const std::string& iface) {
  return stateDir + "/" + iface + ".json";
}

std::string incidentsFile(const std::string& stateDir) { return stateDir + "/incidents.json"; }

namespace {

using Opened = PinnedView;

// Opens the pins (and the kernel clock, for expiries); one line and false on failure (no line
// with `quiet`).
bool open(const OpsArgs& args, Opened& out, bool quiet = false) {
  std::string error;
  setBpfLogging(false);
  if (ensureBpffs(error) != 0) {
    logError("%s", error.c_str());
    return false;
  }
  out.maps = openPinnedMaps(args.pinRoot, args.iface, error);
  if (out.maps.empty()) {
    if (!quiet) logError("%s", error.c_str());
    return false;
  }
  if (probeKernelClock(out.clock, error) != 0) {
    logError("%s", error.c_str());
    return false;
  }
  return true;
}

std::optional<Prefix> prefixArg(const std::string& text) {
  auto p = parsePrefix(text);
  if (!p) logError("not an address or CIDR prefix: %s", text.c_str());
  return p;
}

// --fleet on block and unblock: parsed before anything changes (a bad URL is status 2).
bool fleetArg(const OpsArgs& args, std::optional<FleetUrl>& url) {
  if (args.fleet.empty()) return true;
  std::string error;
  url = parseFleetUrl(args.fleet, error);
  if (!url) logError("%s", error.c_str());
  return url.has_value();
}

// The block or unblock for every node of the fleet too: its key and its message.
int shareWithFleet(const OpsArgs& args, const FleetUrl& url, const Prefix& prefix, bool unblock) {
  FleetBlock b;
  b.prefix = prefix;
  b.unblock = unblock;
  b.createdUnixMs = unixMicrosNow() / 1000;
  b.expiresUnixMs = !unblock && args.ttl ? b.createdUnixMs + int64_t(args.ttl) * 1000 : 0;
  b.node = fleetNodeName(args.nodeName);
  std::string error;
  if (!FleetLink::publishNow(url, b, error)) {
    logError("%s", error.c_str());
    return 1;
  }
  std::printf("%s %s for the fleet at %s:%d (node %s)\n", unblock ? "unblocked" : "blocked",
              formatPrefix(prefix).c_str(), url.host.c_str(), url.port, b.node.c_str());
  return 0;
}

}  // namespace

int runBlock(const OpsArgs& args) {
  auto prefix = prefixArg(args.prefix);
  std::optional<FleetUrl> fleet;
  if (!prefix || !fleetArg(args, fleet)) return 2;
  for (const Prefix& safe : safetyList({})) {
    if ((prefixContains(*prefix, safe.addr) || prefixContains(safe, prefix->addr)) && !args.force) {
      logError(
          "%s covers %s (loopback, this host, its gateway or DNS); "
          "use --force to block it anyway",
          args.prefix.c_str(), formatPrefix(safe).c_str());
      return 2;
    }
  }
  // The nftables set of a watch with --block-backend nft|both (pcap mode has no maps) too.
  auto nft = NftBlocklist::attach();
  if (nft) {
    if (nft->block(*prefix, args.ttl, 0) != 0) {
      logError("cannot block %s in nftables", args.prefix.c_str());
      return 1;
    }
    std::printf("blocked %s in nftables table inet %s (%s)\n", formatPrefix(*prefix).c_str(),
                NftBlocklist::kTable,
                args.ttl ? ("ttl " + std::to_string(args.ttl) + " s").c_str() : "permanent");
  }
  // Without a watch here, a fleet block is still the fleet's.
  Opened o;
  if (!open(args, o, nft || fleet) && !nft && !fleet) return 1;
  for (auto& m : o.maps) {
    Blocklist bl(m->blocklist, m->blockprefix, m->allowlist, m->control, o.clock);
    if (int err = bl.block(*prefix, args.ttl, 0, fleet ? PC_BLOCK_FLEET : 0); err) {
      logError("%s: cannot block %s: %s", m->iface.c_str(), args.prefix.c_str(),
               std::strerror(-err));
      return 1;
    }
    std::printf("blocked %s on %s (%s)\n", formatPrefix(*prefix).c_str(), m->iface.c_str(),
                args.ttl ? ("ttl " + std::to_string(args.ttl) + " s").c_str() : "permanent");
  }
  return fleet ? shareWithFleet(args, *fleet, *prefix, false) : 0;
}

int runUnblock(const OpsArgs& args) {
  auto prefix = prefixArg(args.prefix);
  std::optional<FleetUrl> fleet;
  if (!prefix || !fleetArg(args, fleet)) return 2;
  bool any = false;
  auto nft = NftBlocklist::attach();
  if (nft && nft->unblock(*prefix) == 0) {
    any = true;
    std::printf("unblocked %s in nftables table inet %s\n", formatPrefix(*prefix).c_str(),
                NftBlocklist::kTable);
  }
  Opened o;
  if (!open(args, o, nft || fleet) && !nft && !fleet) return 1;
  for (auto& m : o.maps) {
    Blocklist bl(m->blocklist, m->blockprefix, m->allowlist, m->control, o.clock);
    if (bl.unblock(*prefix) == 0) {
      any = true;
      std::printf("unblocked %s on %s\n", formatPrefix(*prefix).c_str(), m->iface.c_str());
    }
  }
  if (fleet) return shareWithFleet(args, *fleet, *prefix, true);
  if (!any) {
    logError("%s is not on any blocklist", args.prefix.c_str());
    return 1;
  }
  return 0;
}

int runBlocklist(const OpsArgs& args) {
  Opened o;
  if (!open(args, o)) return 1;
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (auto& m : o.maps) {
    Blocklist bl(m->blocklist, m->blockprefix, m->allowlist, m->control, o.clock);
    for (const BlockEntry& e : bl.list()) {
      std::string expires = e.expiresUnixMicros ? formatTimestamp(e.expiresUnixMicros) : "never";
      if (args.json) {
        all.push_back({{"iface", m->iface},
                       {"prefix", formatPrefix(e.prefix)},
                       {"expires", expires},
                       {"expired", e.expired},
                       {"drops", e.drops},
                       {"offense", e.reason},
                       {"fleet", (e.flags & PC_BLOCK_FLEET) != 0}});
      } else {
        std::printf("%-12s %-40s expires %s%s  drops %llu\n", m->iface.c_str(),
                    formatPrefix(e.prefix).c_str(), expires.c_str(), e.expired ? " (expired)" : "",
                    (unsigned long long)e.drops);
      }
    }
  }
  if (args.json) std::printf("%s\n", all.dump().c_str());
  return 0;
}

namespace {

// The source table's fill and its `limit` highest window scores.
void describeSources(const PinnedMaps& m, nlohmann::ordered_json& j, size_t limit) {
  MappedArray table(m.sources);
  struct Top {
    uint32_t score;
    std::string src;
    int32_t evidence;
    uint64_t ports, packets;
    bool blocked;
    bool operator<(const Top& o) const { return score < o.score; }
  };
  std::vector<Top> top;
  if (auto slots = table.values<const pc_src_state>(); !slots.empty()) {
    uint64_t used = 0;
    for (const pc_src_state& s : slots) {
      if (!(s.flags & PC_SRC_USED)) continue;
      ++used;
      uint32_t best = 0;
      for (int k = 0; k < PC_KIND_MAX; ++k)
        best = std::max({best, s.win_score[k], s.prev_score[k]});
      top.push_back({best, formatAddr(s.key), s.evidence, linearCount(s.ports), s.packets,
                     (s.flags & PC_SRC_BLOCKED) != 0});
    }
    j["sources"] = {
        {"tracked", used}, {"slots", slots.size()}, {"fill", double(used) / double(slots.size())}};
  }
  std::sort(top.rbegin(), top.rend());
  if (top.size() > limit) top.resize(limit);
  nlohmann::ordered_json topj = nlohmann::ordered_json::array();
  for (const Top& t : top) {
    topj.push_back({{"src", t.src},
                    {"score", t.score},
                    {"evidence", t.evidence},
                    {"ports", t.ports},
                    {"packets", t.packets},
                    {"blocked", t.blocked}});
  }
  j["top_scores"] = topj;
}

void describeCounters(const PinnedMaps& m, nlohmann::ordered_json& j) {
  if (m.stats < 0) return;
  pc_stats sum = readStats(m.stats);
  j["packets"] = sum.packets;
  j["dropped"] = sum.dropped;
  j["untracked"] = sum.untracked;
  j["events_lost"] = sum.events_lost;
  j["evictions"] = sum.evictions;
  j["promotions"] = sum.promotions;
  j["answers"] = sum.answers;
  j["syn_probes"] = sum.syn_probes;
}

// The admission tier and the untracked-sources sketch: fixed memory, never a blind spot.
void describeAdmission(const PinnedMaps& m, nlohmann::ordered_json& j) {
  if (m.sketch >= 0) j["untracked_sources"] = uint64_t(sketchEstimate(readSketch(m.sketch)));
  MappedArray admit(m.admit);
  auto entries = admit.values<const pc_admit>();
  if (entries.empty()) return;
  AdmissionFill fill = admissionFill(entries);
  j["admission"] = {{"used", fill.used},
                    {"with_evidence", fill.withEvidence},
                    {"entries", fill.capacity},
                    {"fill", double(fill.used) / std::max<size_t>(1, fill.capacity)}};
}

void printStatus(const nlohmann::ordered_json& j) {
  std::printf("%s: %s\n", j["iface"].get<std::string>().c_str(), j["watch"].dump().c_str());
  if (j.contains("sources")) {
    std::printf("  sources: %s tracked of %s slots; blocklist: %s entries\n",
                j["sources"]["tracked"].dump().c_str(), j["sources"]["slots"].dump().c_str(),
                j["blocklist"].dump().c_str());
  }
  if (j.contains("packets")) {
    std::printf("  packets: %s, dropped: %s, untracked: %s, events lost: %s\n",
                j["packets"].dump().c_str(), j["dropped"].dump().c_str(),
                j["untracked"].dump().c_str(), j["events_lost"].dump().c_str());
    std::printf("  evictions: %s, promotions: %s, host answers: %s to %s SYNs\n",
                j["evictions"].dump().c_str(), j["promotions"].dump().c_str(),
                j["answers"].dump().c_str(), j["syn_probes"].dump().c_str());
  }
  if (j.contains("admission")) {
    std::printf("  admission tier: %s of %s entries (%s with evidence); untracked sources: ~%s\n",
                j["admission"]["used"].dump().c_str(), j["admission"]["entries"].dump().c_str(),
                j["admission"]["with_evidence"].dump().c_str(),
                j.value("untracked_sources", nlohmann::ordered_json(0)).dump().c_str());
  }
  for (auto& t : j["top_scores"]) {
    std::printf("  top: %-39s score %s\n", t["src"].get<std::string>().c_str(),
                t["score"].dump().c_str());
  }
}

}  // namespace

nlohmann::ordered_json describeWatch(const OpsArgs& args, const PinnedMaps& m,
                                     const KernelClock& clock, size_t topSources) {
  nlohmann::ordered_json j;
  j["iface"] = m.iface;
  std::ifstream state(stateFile(args.stateDir, m.iface));
  nlohmann::json st = nlohmann::json::parse(state, nullptr, false);
  j["watch"] = st.is_object() ? st : nlohmann::json("not running (maps pinned)");
  describeSources(m, j, topSources);
  Blocklist bl(m.blocklist, m.blockprefix, m.allowlist, m.control, clock);
  j["blocklist"] = bl.size();
  describeCounters(m, j);
  describeAdmission(m, j);
  return j;
}

bool openPinnedView(const OpsArgs& args, PinnedView& out) { return open(args, out); }

int runStatus(const OpsArgs& args) {
  Opened o;
  if (!open(args, o)) return 1;
  nlohmann::ordered_json doc = nlohmann::ordered_json::array();
  for (auto& m : o.maps) doc.push_back(describeWatch(args, *m, o.clock, 5));
  if (args.json) {
    std::printf("%s\n", doc.dump().c_str());
    return 0;
  }
  for (auto& j : doc) printStatus(j);
  return 0;
}

}  // namespace portcullis
