#include "detect/engine.h"
#include "report/log.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "detect/estimate.h"
#include "datapath/net_util.h"

namespace portcullis {

namespace {

constexpr const char* kKindNames[PC_KIND_MAX] = {
    "syn",   "ack",    "null", "fin",         "xmas", "maimon", "synfin",     "synrst",  "other",
    "synack", "rst",   "established", "udp",  "icmp", "icmp-other", "fragment", "ipproto"};

constexpr size_t kMaxRetired = 4096;

template <size_t N>
int popcountWords(const __u64 (&words)[N]) {
  int n = 0;
  for (__u64 w : words) n += std::popcount(w);
  return n;
}

uint64_t portCount(const pc_src_state& s) { return linearCount(s.ports); }

uint64_t dstCount(const pc_src_state& s) { return std::max<uint64_t>(1, linearCount(s.dsts)); }


// The probe kind with the most packets: what a rate alert calls the scan.
uint8_t dominantProbeKind(const pc_src_state& s) {
  uint8_t best = PC_KIND_SYN;
  uint32_t most = 0;
  for (uint8_t k = 0; k < PC_KIND_MAX; ++k) {
    if ((pc_kind_is_probe(k) || k == PC_KIND_FRAGMENT ||
         (k == PC_KIND_IPPROTO && s.proto_targets > 1)) &&
        k != PC_KIND_ICMP_ECHO && s.count[k] > most) {
      most = s.count[k];
      best = k;
    }
  }
  return best;
}

}  // namespace

const char* kindName(uint8_t kind) { return kind < PC_KIND_MAX ? kKindNames[kind] : "?"; }

std::string scanName(uint8_t kind, const pc_src_state& slot, std::string* detail,
                     const pc_src_state* before) {
  switch (kind) {
    case PC_KIND_SYN:
      if (before && pc_addr_eq(&before->key, &slot.key)) {
        uint32_t acked = slot.acked - before->acked;
        uint32_t reset = slot.reset_after_synack - before->reset_after_synack;
        uint32_t syns = slot.count[PC_KIND_SYN] - before->count[PC_KIND_SYN];
        uint32_t stack = slot.stack_syns - before->stack_syns;
        if (acked + reset > 0) return acked > reset ? "connect" : "syn";
        if (syns > 0) return stack * 2 >= syns ? "connect" : "syn";
      }
      // The answers decide when the scan hit open ports: a connect scan completes the
      // handshake, a SYN scan resets it. Otherwise: connect() SYNs come from the OS stack with
      // its full option set, raw-socket scanners send at most MSS.
      if (slot.acked > slot.reset_after_synack) return "connect";
      if (slot.reset_after_synack > 0) return "syn";
      return slot.stack_syns * 2 >= slot.count[PC_KIND_SYN] && slot.stack_syns ? "connect"
                                                                              : "syn";
    case PC_KIND_ACK:
      // nmap -sA and -sW send byte-identical probes; only the scanner's reading of our RST
      // differs, so the target cannot tell a window scan from an ACK scan.
      return "ack";
    case PC_KIND_NULL: return "null";
    case PC_KIND_FIN: return "fin";
    case PC_KIND_XMAS: return "xmas";
    case PC_KIND_MAIMON: return "maimon";
    case PC_KIND_UDP: return "udp";
    case PC_KIND_ICMP_ECHO: return "icmp";
    case PC_KIND_IPPROTO: return "ipproto";
    case PC_KIND_SYNFIN:
      if (detail) *detail = "syn+fin";
      return "other";
    case PC_KIND_SYNRST:
      if (detail) *detail = "syn+rst";
      return "other";
    case PC_KIND_FRAGMENT:
      if (detail) *detail = "tiny-fragment";
      return "other";
    default:
      return "other";
  }
}

std::string shapeOf(uint64_t ports, uint64_t dsts) {
  if (dsts <= 1) return "vertical";
  if (ports <= 2) return "horizontal";
  return "block";
}

Engine::Engine(const RuleConfig& rules, AlertSink& sink, bool savePorts)
    : rules_(rules), sink_(sink), savePorts_(savePorts) {}

void Engine::addTable(const SourceTable* table) {
  tables_.push_back(table);
  tracks_.emplace_back(table->slots().size());
  tableWatch_.emplace_back();
}

bool Engine::answersVisible(size_t tableIndex) const {
  return tableIndex >= tableWatch_.size() || tableWatch_[tableIndex].visible;
}

// The host's answers are what the slow and trw rules read: a SYN the host seems never to
// answer is a closed port to them. When the answers are not visible at all (no egress
// program, asymmetric routing, a one-way capture) every client would look like a scanner,
// so those rules stand down, and the detector says so once each way.
void Engine::judgeAnswers(size_t tableIndex, const pc_stats& st) {
  TableWatch& w = tableWatch_[tableIndex];
  if (st.syn_probes < w.syns || st.answers < w.answers) w = TableWatch{};  // table restarted
  uint64_t syns = st.syn_probes - w.syns;
  if (syns < rules_.answersMinSyns) return;
  uint64_t answers = st.answers - w.answers;
  bool visible = answers * 1000 >= syns * rules_.answersMinPerMille;
  if (visible != w.visible || (!visible && !w.said)) {
    logInfo(visible ? "%s: the host's answers are visible again (%llu answers "
                           "to %llu SYNs); the slow and trw rules are back"
                         : "%s: the host's answers are not visible (%llu answers to "
                           "%llu SYNs): the slow and trw rules stand down",
                 tables_[tableIndex]->name().c_str(), (unsigned long long)answers,
                 (unsigned long long)syns);
    w.said = true;
  }
  w.visible = visible;
  w.syns = st.syn_probes;
  w.answers = st.answers;
}

size_t Engine::trackedSources() const {
  size_t n = 0;
  for (const auto& table : tracks_) {
    for (const auto& t : table) n += t != nullptr;
  }
  return n;
}

uint64_t Engine::Recent::sum(uint64_t now, uint64_t span) {
  size_t expired = 0;
  while (expired < entries.size() && now - entries[expired].first >= span) ++expired;
  entries.erase(entries.begin(), entries.begin() + long(expired));
  uint64_t total = 0;
  for (const auto& [ticks, n] : entries) total += n;
  return total;
}

namespace {

uint64_t answersVersion(const pc_src_state& s) {
  return uint64_t(s.packets) + s.synack_out + s.rst_out + s.fin_out + s.unreach_out;
}

uint32_t closedAnswers(const pc_src_state& s) {
  return s.rst_out + s.unreach_out + s.admitted_rejects;
}

template <size_t N>
uint32_t newBitsOf(const __u64* now, std::array<__u64, N>& seen) {
  uint32_t n = 0;
  for (size_t i = 0; i < N; ++i) {
    n += uint32_t(std::popcount(now[i] & ~seen[i]));
    seen[i] |= now[i];
  }
  return n;
}

uint32_t probeCount(const pc_src_state& s) {
  uint32_t n = 0;
  for (uint8_t k = 0; k < PC_KIND_MAX; ++k) {
    if (pc_kind_is_probe(k)) n += s.count[k];
  }
  return n;
}

std::vector<std::string> toolTags(const pc_src_state& s) {
  std::vector<std::string> tags;
  uint32_t probes = probeCount(s);
  auto marked = [&](uint32_t n) { return n >= 5 && n * 2 >= std::min<uint32_t>(probes, 0xffff); };
  if (marked(s.fp_nmap)) tags.push_back("nmap");
  if (marked(s.fp_masscan)) tags.push_back("masscan");
  if (marked(s.fp_zmap)) tags.push_back("zmap");
  return tags;
}

}  // namespace

Engine::Track& Engine::trackFor(size_t table, size_t index, const pc_src_state& slot) {
  std::unique_ptr<Track>& t = tracks_[table][index];
  if (t && (t->firstSeen != slot.first_seen || !pc_addr_eq(&t->addr, &slot.key))) {
    retire(*t);  // the slot went to another source, or to the same one anew
    t.reset();
  }
  if (!t) {
    t = std::make_unique<Track>();
    t->table = table;
    t->addr = slot.key;
    t->firstSeen = slot.first_seen;
    t->slowStart = slot.first_seen;
    takePendingPorts(*t);
  }
  return *t;
}

void Engine::fillCommon(Alert& a, const SourceTable& table, const pc_src_state& slot,
                        uint8_t kind, uint64_t now, const pc_src_state* before) const {
  if (a.scan.empty()) a.scan = scanName(kind, slot, &a.detail, before);
  a.tsMicros = table.ticksToUnixMicros(now);
  a.src = formatAddr(slot.key);
  // An aggregated source (an IPv6 /64) is named as the prefix it stands for.
  if (slot.prefix_len && slot.prefix_len < 128) {
    a.src += "/" + std::to_string(pc_addr_is_v4(&slot.key) ? slot.prefix_len - 96
                                                           : slot.prefix_len);
  }
  if (a.sources.empty()) a.sources = {a.src};
  if (a.ports == 0) a.ports = portCount(slot);
  if (a.dsts == 0) a.dsts = dstCount(slot);
  if (a.shape.empty()) a.shape = shapeOf(a.ports, a.dsts);
  a.closed = closedAnswers(slot);
  a.tags = toolTags(slot);
  if (tables_.size() > 1 || table.name() != "replay") a.iface = table.name();
}

void Engine::raise(Track& track, const SourceTable& table, const pc_src_state& slot, Alert a,
                   uint8_t kind, uint64_t now, uint64_t quietTicks) {
  fillCommon(a, table, slot, kind, now, &track.before);
  Reported& r = track.reported[a.event + "/" + a.rule + "/" + a.scan + "/" + a.shape];
  uint64_t quiet = quietTicks ? quietTicks : uint64_t(rules_.quietS) * table.ticksPerSecond();
  bool fresh = r.lastActive == 0 || now - r.lastActive > quiet;
  bool grown = !fresh && a.ports >= r.ports * rules_.growthFactor &&
               a.ports >= r.ports + rules_.growthMin;
  r.lastActive = now ? now : 1;
  if (!fresh && !grown) {
    // Not news, but the evidence behind it may be (the scanner reset our SYN-ACKs since):
    // the blocker sees every evaluation of a live incident, not just its first alert.
    if (hook_ && a.event == "alert") {
      Alert again = a;
      hook_(again, track.table, slot);
    }
    return;
  }
  r.ports = a.ports;
  if (a.event == "alert") track.alertsByRule[a.rule]++;
  write(a, track.table, slot);
}

void Engine::write(Alert& a, size_t tableIndex, const pc_src_state& slot) {
  if (hook_) hook_(a, tableIndex, slot);
  if (a.event == "alert") alertCounts_[a.rule]++;
  sink_.write(a);
}

void Engine::onEvent(size_t tableIndex, const pc_event& e) {
  if (tableIndex >= tables_.size()) return;
  const SourceTable& table = *tables_[tableIndex];
  const pc_src_state* slot = table.find(e.src);
  if (!slot) {
    // A source still in the admission tier: its first ports wait for its slot (bounded).
    if (e.type == PC_EVENT_PORT && savePorts_ && pendingPorts_.size() < 4096) {
      pc_addr key = e.src;
      pc_addr_aggregate(&key, &table.tuning());
      pendingPorts_[formatAddr(key)].insert(e.dport);
    }
    return;
  }
  Track& track = trackFor(tableIndex, size_t(slot - table.slots().data()), *slot);
  if (e.type == PC_EVENT_PORT) {
    if (savePorts_ && track.ports.size() < 65536) track.ports.insert(e.dport);
    return;
  }
  if (e.type != PC_EVENT_ANOMALY || !rules_.on("anomaly") || (slot->flags & PC_SRC_ALLOWED)) {
    return;
  }
  uint8_t kind = e.kind < PC_KIND_MAX ? e.kind : uint8_t(PC_KIND_OTHER);
  Alert a;
  a.rule = "anomaly";
  a.score = std::max(slot->win_score[kind], slot->prev_score[kind]);
  pc_src_state copy;
  if (!copySlot(*slot, copy)) return;
  raise(track, table, copy, a, kind, std::max(e.ts, copy.last_seen));
}

// Seed 002's slow-scan method, per window of T over the host's answers.
void Engine::evaluateSlow(Track& track, const SourceTable& table, const pc_src_state& slot,
                          uint64_t now, bool force) {
  uint64_t span = uint64_t(rules_.slowWindowS) * table.ticksPerSecond();
  if (!force && int64_t(now - track.slowStart) < int64_t(span)) return;
  SlowBase cur = SlowBase::of(slot);
  const SlowBase& b = track.slowBase;
  int64_t synTargets = int64_t(cur.synTargets - b.synTargets);
  int64_t synacks = int64_t(cur.synackNew - b.synackNew);
  int64_t nClosed = synTargets - synacks;
  // Half-open connections left unfinished, at most one per distinct SYN target: a client whose
  // SYN-ACKs to one port go unanswered (a flood, a crashed client) is one target, not many.
  int64_t nHalfOpen = std::min(synacks - int64_t(cur.acked - b.acked), synTargets);
  int64_t nFin = int64_t(cur.finTargets - b.finTargets);
  track.slowBase = cur;
  // Windows follow each other from the source's first packet; a silent stretch skips ahead.
  uint64_t elapsed = span ? (now - track.slowStart) / span : 1;
  track.slowStart += span * std::max<uint64_t>(elapsed, 1);
  uint64_t window = track.slowWindow;
  track.slowWindow += std::max<uint64_t>(elapsed, 1);

  int64_t worst = std::max({nClosed, nHalfOpen, nFin});
  if (worst < 1 || !rules_.on("slow") || (slot.flags & PC_SRC_ALLOWED) ||
      !answersVisible(track.table)) {
    return;
  }
  uint8_t kind = PC_KIND_SYN;
  if (nFin == worst && nFin > std::max(nClosed, nHalfOpen)) {
    kind = PC_KIND_FIN;  // whichever FIN-carrying probe the source sent most
    for (uint8_t k : {PC_KIND_XMAS, PC_KIND_MAIMON}) {
      if (slot.count[k] > slot.count[kind]) kind = k;
    }
  }
  Alert a;
  a.rule = "slow";
  a.score = uint64_t(worst);
  a.detail = "N_closed=" + std::to_string(nClosed) + " N_hc=" + std::to_string(nHalfOpen) +
             " N_fin=" + std::to_string(nFin);
  bool listed = track.suspiciousUntil >= int64_t(window);
  uint64_t quiet = 2 * span;  // a slow scan alerts once, not once per window
  if (worst > 1 || listed) {
    raise(track, table, slot, a, kind, now, quiet);
  } else {
    a.event = "suspicious";
    track.suspiciousUntil = int64_t(window + rules_.slowKeepWindows);
    raise(track, table, slot, a, kind, now, quiet);
  }
}

// Threshold Random Walk over connection outcomes: the host's SYN-ACK is a success, its RST or
// port unreachable a failure. Each failure multiplies the likelihood ratio by
// (1 - θ1)/(1 - θ0) = 4, each success by θ1/θ0 = 1/4; at β/α = 99 the source is a scanner, at
// (1 - β)/(1 - α) ≈ 0.0101 benign (and the walk starts over).
void Engine::evaluateTrw(Track& track, const SourceTable& table, const pc_src_state& slot,
                         uint64_t now) {
  uint32_t successes = slot.synack_out - track.trwSuccesses;
  uint32_t failures = closedAnswers(slot) - track.trwFailures;
  track.trwSuccesses = slot.synack_out;
  track.trwFailures = closedAnswers(slot);
  if ((!successes && !failures) || !answersVisible(track.table)) return;
  const double up = std::log((1 - rules_.trwTheta1) / (1 - rules_.trwTheta0));
  const double down = std::log(rules_.trwTheta1 / rules_.trwTheta0);
  const double scanner = std::log(rules_.trwBeta / rules_.trwAlpha);
  const double benign = std::log((1 - rules_.trwBeta) / (1 - rules_.trwAlpha));
  track.trwLog += failures * up + successes * down;
  if (track.trwLog <= benign) track.trwLog = 0;
  if (track.trwLog >= scanner) {
    track.trwLog = scanner;  // stay decided while failures continue; successes walk it back
    if (rules_.on("trw") && !(slot.flags & PC_SRC_ALLOWED)) {
      Alert a;
      a.rule = "trw";
      a.score = closedAnswers(slot);
      raise(track, table, slot, a, dominantProbeKind(slot), now);
    }
  }
}

// Zeek's scan policy: a port scan (many ports on one host), an address scan (one port over
// many hosts, or an ICMP sweep), and both at once (a block scan), within shapeWindowS.
void Engine::evaluateShape(Track& track, const SourceTable& table, const pc_src_state& slot,
                           uint64_t now) {
  uint64_t span = uint64_t(rules_.shapeWindowS) * table.ticksPerSecond();
  uint64_t ports = track.shapePorts.sum(now, span);
  uint64_t hosts = track.shapeDsts.sum(now, span);
  if (!rules_.on("shape") || (slot.flags & PC_SRC_ALLOWED)) return;
  uint64_t allPorts = portCount(slot), allDsts = dstCount(slot);
  Alert a;
  a.rule = "shape";
  uint8_t kind = dominantProbeKind(slot);
  if (slot.count[PC_KIND_ICMP_ECHO] > probeCount(slot) / 2 && hosts >= rules_.shapeHosts) {
    kind = PC_KIND_ICMP_ECHO;
    a.shape = "horizontal";
  } else if (hosts >= rules_.shapeHosts && allPorts <= 2) {
    a.shape = "horizontal";
  } else if (ports >= rules_.shapePorts && allDsts <= 1) {
    a.shape = "vertical";
  } else if (ports >= rules_.shapePorts && hosts >= 5) {
    a.shape = "block";
  } else {
    return;
  }
  a.score = std::max(ports, hosts);
  (void)allDsts;
  raise(track, table, slot, a, kind, now);
}

void Engine::evaluate(Track& track, const SourceTable& table, const pc_src_state& slot) {
  uint64_t now = table.now();
  track.before = track.last;
  track.last = slot;
  bool allowed = slot.flags & PC_SRC_ALLOWED;

  // score: per kind, the current window and the one just closed (polls are shorter than a
  // window, so every window is seen whole at least once).
  for (uint8_t k = 0; k < PC_KIND_MAX; ++k) {
    uint32_t score = std::max(slot.win_score[k], slot.prev_score[k]);
    track.maxScore[k] = std::max(track.maxScore[k], score);
    if (score >= rules_.scoreThreshold && rules_.on("score") && !allowed) {
      Alert a;
      a.rule = "score";
      a.score = score;
      raise(track, table, slot, a, k, now);
    }
  }

  // Distinct ports and destinations first probed now, for rate and shape.
  uint32_t newPorts = newBitsOf(slot.ports, track.seenPorts);
  uint32_t newDsts = newBitsOf(slot.dsts, track.seenDsts);
  // A protocol scan (nmap -sO) walks protocol numbers as a port scan walks ports.
  uint32_t newProtos = newBitsOf(slot.protos, track.seenProtos);
  if (!track.evaluated) newPorts += slot.admitted_targets;  // probed before it had a slot
  track.evaluated = true;
  track.ratePorts.add(now, newPorts + newProtos);
  track.shapePorts.add(now, newPorts);
  track.shapeDsts.add(now, newDsts);
  track.rejects.add(now, closedAnswers(slot) - track.lastRejects);
  track.lastRejects = closedAnswers(slot);

  // rate: more than X distinct ports (or negative answers) within Y seconds.
  uint64_t span = uint64_t(rules_.rateWindowS) * table.ticksPerSecond();
  uint64_t recent = rules_.rateBasis == "rejects" ? track.rejects.sum(now, span)
                                                  : track.ratePorts.sum(now, span);
  if (recent > rules_.rateMaxPorts && rules_.on("rate") && !allowed) {
    uint8_t kind = slot.proto_targets > rules_.rateMaxPorts ? uint8_t(PC_KIND_IPPROTO)
                                                           : dominantProbeKind(slot);
    Alert a;
    a.rule = "rate";
    a.score = std::max(slot.win_score[kind], slot.prev_score[kind]);
    raise(track, table, slot, a, kind, now);
  }

  evaluateTrw(track, table, slot, now);
  evaluateShape(track, table, slot, now);
}

void Engine::poll() {
  pc_src_state slot;
  for (size_t i = 0; i < tables_.size(); ++i) {
    const SourceTable& table = *tables_[i];
    uint64_t now = table.now();
    auto slots = table.slots();
    int64_t idle = int64_t(rules_.forgetS) * int64_t(table.ticksPerSecond());
    auto idleSince = [&](uint64_t ticks) { return int64_t(now - ticks) > idle; };
    const pc_stats st = table.stats();  // one read of the per-CPU counters per poll
    judgeAnswers(i, st);
    for (size_t index = 0; index < slots.size(); ++index) {
      std::unique_ptr<Track>& t = tracks_[i][index];
      // The datapath writes the slot while we read: the rules see one consistent copy.
      if (!(slots[index].flags & PC_SRC_USED) || !copySlot(slots[index], slot) ||
          !(slot.flags & PC_SRC_USED)) {
        if (t && idleSince(t->last.last_seen)) {  // forgotten: idle past forgetS
          retire(*t);
          t.reset();
        }
        continue;
      }
      bool known = t && t->firstSeen == slot.first_seen && pc_addr_eq(&t->addr, &slot.key);
      // Only sources with new packets or answers can have new evidence ...
      if (!known || t->version != answersVersion(slot)) {
        Track& track = trackFor(i, index, slot);
        track.version = answersVersion(slot);
        evaluate(track, table, slot);
        evaluateSlow(track, table, slot, now, false);
        if (uint64_t(popcountWords(slot.ports)) >= rules_.groupMinPorts / 2) {
          groupCandidates_[{i, index}] = now;
        }
      } else if (idleSince(t->last.last_seen)) {
        retire(*t);
        t.reset();
      } else {
        // ... but a slow-scan window closes on time even when the source fell silent.
        evaluateSlow(*t, table, slot, now, false);
      }
    }
    reportStuck(i, st);
  }
  detectGroups(false);
}

void Engine::takePendingPorts(Track& track) {
  if (pendingPorts_.empty()) return;
  auto it = pendingPorts_.find(formatAddr(track.addr));
  if (it == pendingPorts_.end()) return;
  track.ports.insert(it->second.begin(), it->second.end());
  pendingPorts_.erase(it);
}

// No blind spot: a source that showed many targets but found both holders of its slot pair
// stronger is still counted in its admission entry. Report it once, and ask the datapath to
// promote it (evicting the weaker holder), so the rules judge it in full from its next packet.
void Engine::reportStuck(size_t tableIndex, const pc_stats& st) {
  const SourceTable& table = *tables_[tableIndex];
  // Only a refused promotion makes a stuck entry: no scan of the tier while none happened.
  uint64_t refused = st.promote_refused;
  if (refused == tableWatch_[tableIndex].refusedSeen) return;
  tableWatch_[tableIndex].refusedSeen = refused;
  auto entries = table.admission();
  const uint32_t bar = std::max<uint32_t>(2 * table.tuning().admit_targets, 8);
  size_t reported = 0;
  for (size_t index = 0; index < entries.size() && reported < 64; ++index) {
    const pc_admit& e = entries[index];
    if (!(e.flags & PC_ADMIT_STUCK) || !(e.flags & PC_ADMIT_USED) ||
        uint32_t(std::popcount(e.targets)) < bar) {
      continue;
    }
    pc_admit copy = e;
    auto key = std::make_pair(tableIndex, index);
    auto seen = stuckReported_.find(key);
    if (seen != stuckReported_.end() && pc_addr_eq(&seen->second, &copy.key)) continue;
    stuckReported_[key] = copy.key;
    ++reported;
    const_cast<SourceTable&>(table).requestPromotion(index);
    pc_src_state shadow{};
    shadow.key = copy.key;
    shadow.prefix_len = pc_key_prefix_len(&copy.key, &table.tuning());
    Alert a;
    a.event = "suspicious";
    a.rule = "rate";
    a.scan = "unknown";
    a.detail = "no slot: " + std::to_string(std::popcount(copy.targets)) +
               " targets seen in the admission tier; promoted";
    a.ports = uint64_t(std::popcount(copy.targets));
    a.score = a.ports;
    fillCommon(a, table, shadow, PC_KIND_SYN, table.now());
    write(a, tableIndex, shadow);
  }
  if (stuckReported_.size() > 65536) stuckReported_.clear();
}

void Engine::baseline() {
  for (size_t i = 0; i < tables_.size(); ++i) {
    auto slots = tables_[i]->slots();
    for (size_t index = 0; index < slots.size(); ++index) {
      const pc_src_state& slot = slots[index];
      if (!(slot.flags & PC_SRC_USED)) continue;
      Track& t = trackFor(i, index, slot);
      t.version = answersVersion(slot);
      t.last = t.before = slot;
      std::copy(std::begin(slot.ports), std::end(slot.ports), t.seenPorts.begin());
      std::copy(std::begin(slot.dsts), std::end(slot.dsts), t.seenDsts.begin());
      t.lastRejects = t.trwFailures = closedAnswers(slot);
      t.trwSuccesses = slot.synack_out;
      t.slowBase = SlowBase::of(slot);
      t.slowStart = tables_[i]->now();
      for (uint8_t k = 0; k < PC_KIND_MAX; ++k) {
        t.maxScore[k] = std::max(slot.win_score[k], slot.prev_score[k]);
      }
    }
  }
}

void Engine::flush() {
  for (size_t i = 0; i < tracks_.size(); ++i) {
    for (size_t index = 0; index < tracks_[i].size(); ++index) {
      if (tracks_[i][index]) flushTrack(*tracks_[i][index], index);
    }
  }
  detectGroups(true);
}

void Engine::flushTrack(Track& track, size_t index) {
  {
    const SourceTable& table = *tables_[track.table];
    const pc_src_state* slot = &table.slots()[index];
    if (!(slot->flags & PC_SRC_USED) || !pc_addr_eq(&slot->key, &track.addr)) slot = &track.last;
    // Close the open window if anything happened in it.
    if (!(SlowBase::of(*slot) == track.slowBase)) {
      evaluateSlow(track, table, *slot, table.now(), true);
    }
  }
}

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

}  // namespace

// Snort's decoy and distributed port scans, as one event naming every source. Decoys repeat
// the real scanner's probes from forged addresses at the same moment: the same ports on the
// same destinations; only the real source reacts to the host's SYN-ACKs. A distributed scan
// splits one footprint: the same destinations, disjoint ports.
void Engine::detectGroups(bool settleNow) {
  if (!rules_.on("group")) return;
  std::vector<Track*> cand;
  for (auto it = groupCandidates_.begin(); it != groupCandidates_.end();) {
    auto [tableIndex, slotIndex] = it->first;
    const SourceTable& table = *tables_[tableIndex];
    uint64_t window = uint64_t(rules_.groupWindowS) * table.ticksPerSecond();
    Track* t = tracks_[tableIndex][slotIndex].get();
    if (!t || table.now() - it->second > window) {
      it = groupCandidates_.erase(it);
      continue;
    }
    ++it;
    if (!(t->last.flags & PC_SRC_ALLOWED) && portCount(t->last) >= rules_.groupMinPorts &&
        cand.size() < 512) {  // bounded work per poll, whatever a flood does
      cand.push_back(t);
    }
  }
  std::sort(cand.begin(), cand.end(), [](const Track* a, const Track* b) {
    return std::memcmp(&a->addr, &b->addr, sizeof(pc_addr)) < 0;
  });
  UnionFind decoy(cand.size()), dist(cand.size());
  for (size_t i = 0; i < cand.size(); ++i) {
    for (size_t j = i + 1; j < cand.size(); ++j) {
      const pc_src_state& a = cand[i]->last;
      const pc_src_state& b = cand[j]->last;
      const SourceTable& table = *tables_[cand[i]->table];
      uint64_t window = uint64_t(rules_.groupWindowS) * table.ticksPerSecond();
      // Members scan at the same time: their activity overlaps and starts within a window.
      // (Scans one after another from several addresses are separate scans.)
      // (A second of slack: four short scans launched together may start a little apart.)
      bool overlap = std::max(a.first_seen, b.first_seen) <=
                     std::min(a.last_seen, b.last_seen) + table.ticksPerSecond();
      if (cand[i]->table != cand[j]->table || !overlap ||
          std::memcmp(a.dsts, b.dsts, sizeof(a.dsts)) != 0 ||
          (a.first_seen > b.first_seen ? a.first_seen - b.first_seen
                                       : b.first_seen - a.first_seen) > window) {
        continue;
      }
      double similarity = jaccard(a.ports, b.ports, PC_PORT_WORDS);
      // Decoys repeat the same probes: alike footprints, or one inside the other when the
      // smaller one's source was blocked mid-scan (its later probes were dropped uncounted).
      const pc_src_state& smaller = portCount(a) < portCount(b) ? a : b;
      bool alike = similarity >= 0.6 ||
                   ((smaller.flags & PC_SRC_BLOCKED) &&
                    containment(a.ports, b.ports, PC_PORT_WORDS) >= 0.8);
      if (alike && dominantProbeKind(a) == dominantProbeKind(b)) decoy.join(i, j);
      if (similarity <= 0.25) dist.join(i, j);
    }
  }
  auto emit = [&](UnionFind& uf, const char* type) {
    std::map<size_t, std::vector<Track*>> groups;
    for (size_t i = 0; i < cand.size(); ++i) groups[uf.find(i)].push_back(cand[i]);
    for (auto& [root, members] : groups) {
      if (members.size() < 2) continue;
      std::string key = type;
      for (Track* m : members) key += " " + formatAddr(m->addr);
      const SourceTable& table = *tables_[members[0]->table];
      uint64_t now = table.now();
      auto rep = reportedGroups_.find(key);
      if (rep != reportedGroups_.end()) {
        rep->second = {members[0]->table, now};
        continue;
      }
      // A group must hold still for a second before it is reported, so a scan whose sources
      // start a poll apart is one event naming all of them, not several.
      auto [pending, inserted] = pendingGroups_.emplace(key, GroupSeen{members[0]->table, now});
      if (!settleNow && now - pending->second.ticks < table.ticksPerSecond()) continue;
      pendingGroups_.erase(pending);
      reportedGroups_[key] = {members[0]->table, now};
      // The real source of a decoy scan is the one that answered the host's SYN-ACKs.
      Track* real = members[0];
      for (Track* m : members) {
        uint32_t reacted = m->last.acked + m->last.reset_after_synack;
        if (reacted > real->last.acked + real->last.reset_after_synack) real = m;
      }
      __u64 unionPorts[PC_PORT_WORDS] = {};
      Alert a;
      a.rule = "group";
      a.detail = type;
      for (Track* m : members) {
        a.sources.push_back(formatAddr(m->addr));
        for (size_t w = 0; w < PC_PORT_WORDS; ++w) unionPorts[w] |= m->last.ports[w];
        a.score = std::max<uint64_t>(a.score, closedAnswers(m->last));
      }
      a.ports = linearCount(unionPorts);
      bool known = real->last.acked + real->last.reset_after_synack > 0;
      if (std::string(type) == "decoy" && !known) a.detail = "decoy (real source unknown)";
      fillCommon(a, table, real->last, dominantProbeKind(real->last), now);
      for (Track* m : members) m->alertsByRule["group"]++;
      write(a, real->table, real->last);
    }
  };
  emit(decoy, "decoy");
  emit(dist, "distributed");
  // Drop group memories that went quiet (each on the clock of the table it was seen on).
  for (auto it = reportedGroups_.begin(); it != reportedGroups_.end();) {
    const SourceTable& table = *tables_[it->second.table];
    uint64_t quiet = uint64_t(rules_.quietS) * table.ticksPerSecond();
    uint64_t now = table.now();
    it = now > it->second.ticks + quiet ? reportedGroups_.erase(it) : std::next(it);
  }
  if (pendingGroups_.size() > 4096) pendingGroups_.clear();
}

bool applyProfile(const std::string& profile, RuleConfig& r,
                  const std::set<std::string>& explicitlySet) {
  auto unset = [&](const char* name) { return explicitlySet.count(name) == 0; };
  auto rules = [&](std::set<std::string> on) {
    if (unset("rules")) r.enabled = std::move(on);
  };
  if (profile == "default") return true;
  if (profile == "snort-low" || profile == "snort-medium" || profile == "snort-high") {
    // Snort's port_scan sensitivity levels count negative responses (RST, ICMP unreachable)
    // over a window of 60, 90 or 600 s; medium and high also see slow scans.
    uint32_t window = profile == "snort-low" ? 60 : profile == "snort-medium" ? 90 : 600;
    if (unset("rate-basis")) r.rateBasis = "rejects";
    if (unset("rate-ports")) r.rateMaxPorts = 5;
    if (unset("rate-window")) r.rateWindowS = window;
    if (profile == "snort-low") {
      rules({"rate", "anomaly", "group"});
    } else {
      rules({"rate", "anomaly", "group", "slow", "shape"});
    }
    return true;
  }
  if (profile == "zeek") {
    // Zeek's scan policy: 15 ports on one host or 25 hosts on one port within 5 minutes,
    // and its TRW heritage (Jung et al. wrote TRW for Bro).
    if (unset("shape-window")) r.shapeWindowS = 300;
    if (unset("shape-ports")) r.shapePorts = 15;
    if (unset("shape-hosts")) r.shapeHosts = 25;
    rules({"shape", "trw", "anomaly"});
    return true;
  }
  return false;
}

void Engine::retire(const Track& track) {
  // Kept for the summary: sources with some history, up to a bound whatever a flood does.
  if (retired_.size() < kMaxRetired && (track.last.packets > 1 || !track.alertsByRule.empty())) {
    retired_.push_back(track);
    retired_.back().ratePorts = retired_.back().shapePorts = retired_.back().shapeDsts =
        retired_.back().rejects = Recent{};
  }
}

namespace {

nlohmann::ordered_json trackJson(const pc_src_state& s, const std::array<uint32_t, PC_KIND_MAX>& max,
                                 const std::map<std::string, uint32_t>& alerts,
                                 const std::set<uint16_t>& ports, bool savePorts) {
  nlohmann::ordered_json j;
  uint64_t tcp = 0;
  for (uint8_t k = PC_KIND_SYN; k <= PC_KIND_ESTABLISHED; ++k) tcp += s.count[k];
  j["src"] = formatAddr(s.key);
  j["packets"] = {{"total", s.packets},
                  {"tcp", tcp},
                  {"udp", s.count[PC_KIND_UDP]},
                  {"icmp", s.count[PC_KIND_ICMP_ECHO] + s.count[PC_KIND_ICMP_OTHER]},
                  {"fragments", s.count[PC_KIND_FRAGMENT]}};
  nlohmann::ordered_json kinds = nlohmann::ordered_json::object();
  nlohmann::ordered_json scores = nlohmann::ordered_json::object();
  for (uint8_t k = 0; k < PC_KIND_MAX; ++k) {
    if (s.count[k]) kinds[kindName(k)] = s.count[k];
    if (max[k]) scores[kindName(k)] = max[k];
  }
  j["kinds"] = kinds;
  j["max_score"] = scores;
  j["alerts"] = alerts;
  j["distinct_ports"] = linearCount(s.ports);
  j["distinct_dsts"] = linearCount(s.dsts);
  if (savePorts) j["ports"] = ports;
  return j;
}

}  // namespace

std::string Engine::summaryJson() const {
  nlohmann::ordered_json doc;
  doc["sources"] = nlohmann::ordered_json::array();
  auto add = [&](const Track& t) {
    doc["sources"].push_back(trackJson(t.last, t.maxScore, t.alertsByRule, t.ports, savePorts_));
  };
  for (const Track& t : retired_) add(t);
  for (const auto& table : tracks_) {
    for (const auto& t : table) {
      if (t) add(*t);
    }
  }
  nlohmann::ordered_json stats = nlohmann::ordered_json::array();
  for (const SourceTable* table : tables_) {
    pc_stats st = table->stats();
    stats.push_back({{"name", table->name()},
                     {"packets", st.packets},
                     {"parsed", st.parsed},
                     {"unparsable", st.unparsable},
                     {"fragments", st.fragments},
                     {"dropped", st.dropped},
                     {"untracked", st.untracked},
                     {"events_lost", st.events_lost}});
  }
  doc["datapaths"] = stats;
  return doc.dump(2);
}

void Engine::writeSummary() {
  std::vector<const Track*> all;
  for (const Track& t : retired_) all.push_back(&t);
  for (const auto& table : tracks_) {
    for (const auto& t : table) {
      if (t) all.push_back(t.get());
    }
  }
  std::sort(all.begin(), all.end(),
            [](const Track* a, const Track* b) { return a->last.packets > b->last.packets; });
  for (const Track* t : all) {
    if (!t->last.packets) continue;
    auto j = trackJson(t->last, t->maxScore, t->alertsByRule, t->ports, savePorts_);
    if (sink_.json()) {
      nlohmann::ordered_json line;
      line["ts"] = formatTimestamp(tables_[t->table]->ticksToUnixMicros(t->last.last_seen));
      line["event"] = "summary";
      for (auto& [k, v] : j.items()) line[k] = v;
      sink_.writeLine(line.dump());
      continue;
    }
    std::string s = "summary " + j["src"].get<std::string>() + ": " +
                    std::to_string(t->last.packets) + " packets (tcp " +
                    j["packets"]["tcp"].dump() + ", udp " + j["packets"]["udp"].dump() +
                    ", icmp " + j["packets"]["icmp"].dump() + ")";
    for (auto& [k, v] : j["kinds"].items()) s += " " + k + "=" + v.dump();
    if (!j["max_score"].empty()) {
      s += "; max score";
      for (auto& [k, v] : j["max_score"].items()) s += " " + k + "=" + v.dump();
    }
    s += "; alerts";
    if (t->alertsByRule.empty()) s += " none";
    for (const auto& [rule, n] : t->alertsByRule) s += " " + rule + "=" + std::to_string(n);
    if (savePorts_) {
      s += "; ports";
      for (uint16_t p : t->ports) s += " " + std::to_string(p);
    }
    sink_.writeLine(s);
  }
}

}  // namespace portcullis
