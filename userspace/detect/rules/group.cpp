// group (Snort's decoy and distributed port scans), as one event naming every source. Decoys
// repeat the real scanner's probes from forged addresses at the same moment: the same ports on
// the same destinations; only the real source reacts to the host's SYN-ACKs. A distributed scan
// splits one footprint: the same destinations, disjoint ports.
#include <bit>
#include <cstring>

#include <algorithm>
#include <string>

#include "datapath/net_util.h"
#include "detect/evidence.h"
#include "detect/rules/registry.h"

namespace portcullis {
namespace {

struct UnionFind {
  std::vector<size_t> parent;
  explicit UnionFind(size_t n) : parent(n) {
    for (size_t i = 0; i < n; ++i) parent[i] = i;
  }
  size_t find(size_t x) { return parent[x] == x ? x : parent[x] = find(parent[x]); }
  void join(size_t a, size_t b) { parent[find(a)] = find(b); }
};

double jaccard(const __u64* a, const __u64* b, size_t words) {
  uint64_t inter = 0, uni = 0;
  for (size_t i = 0; i < words; ++i) {
    inter += uint64_t(std::popcount(a[i] & b[i]));
    uni += uint64_t(std::popcount(a[i] | b[i]));
  }
  return uni ? double(inter) / double(uni) : 0;
}

// The share of the smaller footprint that lies in the larger one.
double containment(const __u64* a, const __u64* b, size_t words) {
  uint64_t inter = 0, na = 0, nb = 0;
  for (size_t i = 0; i < words; ++i) {
    inter += uint64_t(std::popcount(a[i] & b[i]));
    na += uint64_t(std::popcount(a[i]));
    nb += uint64_t(std::popcount(b[i]));
  }
  uint64_t smaller = std::min(na, nb);
  return smaller ? double(inter) / double(smaller) : 0;
}

uint32_t reactions(const pc_src_state& s) { return s.acked + s.reset_after_synack; }

class GroupRule final : public Rule {
 public:
  explicit GroupRule(const RuleConfig& config) : config_(config) {}
  RuleId id() const override { return RuleId::Group; }

  // Only sources with many ports can be members: they are the ones compared after each poll.
  void evaluate(const SourceView& v, const NewEvidence&, RuleContext&) override {
    int ports = 0;
    for (__u64 w : v.slot.ports) ports += std::popcount(w);
    if (uint64_t(ports) >= config_.groupMinPorts / 2) {
      candidates_[{v.track.table, v.slotIndex}] = v.now;
    }
  }

  void afterPoll(RuleContext& ctx, bool settle) override {
    std::vector<Track*> cand = liveCandidates(ctx);
    UnionFind decoy(cand.size()), dist(cand.size());
    for (size_t i = 0; i < cand.size(); ++i) {
      for (size_t j = i + 1; j < cand.size(); ++j) compare(ctx, cand, i, j, decoy, dist);
    }
    emit(ctx, cand, decoy, "decoy", settle);
    emit(ctx, cand, dist, "distributed", settle);
    forgetQuietGroups(ctx);
  }

 private:
  struct Seen {
    size_t table;  ///< whose clock `ticks` is on
    uint64_t ticks;
  };

  // Candidates active within the window, bounded whatever a flood does, in address order.
  std::vector<Track*> liveCandidates(RuleContext& ctx) {
    std::vector<Track*> cand;
    for (auto it = candidates_.begin(); it != candidates_.end();) {
      auto [tableIndex, slotIndex] = it->first;
      const SourceTable& table = ctx.table(tableIndex);
      uint64_t window = uint64_t(config_.groupWindowS) * table.ticksPerSecond();
      Track* t = ctx.track(tableIndex, slotIndex);
      if (!t || table.now() - it->second > window) {
        it = candidates_.erase(it);
        continue;
      }
      ++it;
      if (!(t->last.flags & PC_SRC_ALLOWED) && portCount(t->last) >= config_.groupMinPorts &&
          cand.size() < 512) {
        cand.push_back(t);
      }
    }
    std::sort(cand.begin(), cand.end(), [](const Track* a, const Track* b) {
      return std::memcmp(&a->addr, &b->addr, sizeof(pc_addr)) < 0;
    });
    return cand;
  }

  void compare(RuleContext& ctx, const std::vector<Track*>& cand, size_t i, size_t j,
               UnionFind& decoy, UnionFind& dist) const {
    const pc_src_state& a = cand[i]->last;
    const pc_src_state& b = cand[j]->last;
    const SourceTable& table = ctx.table(cand[i]->table);
    uint64_t window = uint64_t(config_.groupWindowS) * table.ticksPerSecond();
    // Members scan at the same time: their activity overlaps and starts within a window.
    // (Scans one after another from several addresses are separate scans.)
    // (A second of slack: four short scans launched together may start a little apart.)
    bool overlap = std::max(a.first_seen, b.first_seen) <=
                   std::min(a.last_seen, b.last_seen) + table.ticksPerSecond();
    uint64_t startGap =
        a.first_seen > b.first_seen ? a.first_seen - b.first_seen : b.first_seen - a.first_seen;
    if (cand[i]->table != cand[j]->table || !overlap ||
        std::memcmp(a.dsts, b.dsts, sizeof(a.dsts)) != 0 || startGap > window) {
      return;
    }
    double similarity = jaccard(a.ports, b.ports, PC_PORT_WORDS);
    // Decoys repeat the same probes: alike footprints, or one inside the other when the
    // smaller one's source was blocked mid-scan (its later probes were dropped uncounted).
    const pc_src_state& smaller = portCount(a) < portCount(b) ? a : b;
    bool alike = similarity >= 0.6 || ((smaller.flags & PC_SRC_BLOCKED) &&
                                       containment(a.ports, b.ports, PC_PORT_WORDS) >= 0.8);
    if (alike && dominantProbeKind(a) == dominantProbeKind(b)) decoy.join(i, j);
    if (similarity <= 0.25) dist.join(i, j);
  }

  void emit(RuleContext& ctx, const std::vector<Track*>& cand, UnionFind& uf, const char* type,
            bool settle) {
    std::map<size_t, std::vector<Track*>> groups;
    for (size_t i = 0; i < cand.size(); ++i) groups[uf.find(i)].push_back(cand[i]);
    for (auto& [root, members] : groups) {
      if (members.size() < 2) continue;
      std::string key = type;
      for (Track* m : members) key += " " + formatAddr(m->addr);
      const SourceTable& table = ctx.table(members[0]->table);
      uint64_t now = table.now();
      auto rep = reported_.find(key);
      if (rep != reported_.end()) {
        rep->second = {members[0]->table, now};
        continue;
      }
      // A group must hold still for a second before it is reported, so a scan whose sources
      // start a poll apart is one event naming all of them, not several.
      auto [pending, inserted] = pending_.emplace(key, Seen{members[0]->table, now});
      if (!settle && now - pending->second.ticks < table.ticksPerSecond()) continue;
      pending_.erase(pending);
      reported_[key] = {members[0]->table, now};
      report(ctx, members, type);
    }
  }

  void report(RuleContext& ctx, const std::vector<Track*>& members, const char* type) {
    // The real source of a decoy scan is the one that answered the host's SYN-ACKs.
    Track* real = members[0];
    for (Track* m : members) {
      if (reactions(m->last) > reactions(real->last)) real = m;
    }
    __u64 unionPorts[PC_PORT_WORDS] = {};
    Alert a;
    a.rule = ruleName(id());
    a.detail = type;
    for (Track* m : members) {
      a.sources.push_back(formatAddr(m->addr));
      for (size_t w = 0; w < PC_PORT_WORDS; ++w) unionPorts[w] |= m->last.ports[w];
      a.score = std::max<uint64_t>(a.score, closedAnswers(m->last));
    }
    a.ports = linearCount(unionPorts);
    if (std::string(type) == "decoy" && reactions(real->last) == 0) {
      a.detail = "decoy (real source unknown)";
    }
    for (Track* m : members) m->alertsByRule[ruleName(id())]++;
    ctx.raiseFor(*real, a, dominantProbeKind(real->last));
  }

  // Group memories that went quiet are dropped (each on the clock of its table).
  void forgetQuietGroups(RuleContext& ctx) {
    for (auto it = reported_.begin(); it != reported_.end();) {
      const SourceTable& table = ctx.table(it->second.table);
      uint64_t quiet = uint64_t(config_.quietS) * table.ticksPerSecond();
      it = table.now() > it->second.ticks + quiet ? reported_.erase(it) : std::next(it);
    }
    if (pending_.size() > 4096) pending_.clear();
  }

  const RuleConfig& config_;
  /// Sources with at least groupMinPorts / 2 ports, by (table, slot), with their last activity.
  std::map<std::pair<size_t, size_t>, uint64_t> candidates_;
  std::map<std::string, Seen> pending_;   ///< group key -> first seen
  std::map<std::string, Seen> reported_;  ///< group key -> last active
};

}  // namespace

std::unique_ptr<Rule> makeGroupRule(const RuleConfig& config) {
  return std::make_unique<GroupRule>(config);
}

}  // namespace portcullis
