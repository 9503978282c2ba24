#include "detect/engine.h"
#include "report/log.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "detect/estimate.h"
#include "detect/evidence.h"
#include "detect/rules/registry.h"
#include "datapath/net_util.h"

namespace portcullis {

namespace {

constexpr const char* kKindNames[PC_KIND_MAX] = {
    "syn",    "ack", "null",        "fin", "xmas", "maimon",     "synfin",   "synrst", "other",
    "synack", "rst", "established", "udp", "icmp", "icmp-other", "fragment", "ipproto"};

constexpr size_t kMaxRetired = 4096;

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
      return slot.stack_syns * 2 >= slot.count[PC_KIND_SYN] && slot.stack_syns ? "connect" : "syn";
    case PC_KIND_ACK:
      // nmap -sA and -sW send byte-identical probes; only the scanner's reading of our RST
      // differs, so the target cannot tell a window scan from an ACK scan.
      return "ack";
    case PC_KIND_NULL:
      return "null";
    case PC_KIND_FIN:
      return "fin";
    case PC_KIND_XMAS:
      return "xmas";
    case PC_KIND_MAIMON:
      return "maimon";
    case PC_KIND_UDP:
      return "udp";
    case PC_KIND_ICMP_ECHO:
      return "icmp";
    case PC_KIND_IPPROTO:
      return "ipproto";
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
    : rules_(rules), ruleSet_(makeRules(rules_)), sink_(sink), savePorts_(savePorts) {}

Engine::~Engine() = default;

void Engine::setRules(const RuleConfig& rules) {
  bool sameSet = rules.enabled == rules_.enabled;
  rules_ = rules;  // the rules hold a reference to rules_: they read the new numbers
  if (!sameSet) ruleSet_ = makeRules(rules_);
}

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

namespace {

// Changes whenever a source sends or is answered, or shows new evidence: past PC_STAT_EXACT its
// packet count moves only on sampled packets, so a new target must show on its own (evidence
// and the distinct-target counts move on every one, exactly).
uint64_t answersVersion(const pc_src_state& s) {
  uint64_t answers = uint64_t(s.synack_out) + s.rst_out + s.fin_out + s.unreach_out + s.acked;
  uint64_t evidence = uint64_t(uint32_t(s.evidence)) + s.syn_targets + s.fin_targets +
                      s.proto_targets + s.reset_after_synack;
  return uint64_t(s.packets) ^ (answers << 22) ^ (evidence << 43);
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

Track& Engine::trackFor(size_t table, size_t index, const pc_src_state& slot) {
  std::unique_ptr<Track>& t = tracks_[table][index];
  if (t && (t->firstSeen != slot.first_seen || !pc_addr_eq(&t->addr, &slot.key))) {
    forget(t);  // the slot went to another source, or to the same one anew
  }
  if (!t) {
    t = std::make_unique<Track>();
    t->table = table;
    t->addr = slot.key;
    t->firstSeen = slot.first_seen;
    t->incidentFloor = slot.first_seen;
    takePendingPorts(*t);
  }
  return *t;
}

std::string sourceName(const pc_src_state& slot) {
  std::string name = formatAddr(slot.key);
  // An aggregated source (an IPv6 /64) is named as the prefix it stands for.
  if (slot.prefix_len && slot.prefix_len < 128) {
    name += "/" + std::to_string(pc_addr_is_v4(&slot.key) ? slot.prefix_len - 96 : slot.prefix_len);
  }
  return name;
}

Track* Engine::findTrack(const std::string& src, size_t& slotIndex) {
  // Only for the fleet's sightings, a few a minute: a walk over the tracks is fine.
  for (auto& table : tracks_) {
    for (size_t i = 0; i < table.size(); ++i) {
      if (table[i] && sourceName(table[i]->last) == src) {
        slotIndex = i;
        return table[i].get();
      }
    }
  }
  return nullptr;
}

void Engine::fillCommon(Alert& a, const SourceTable& table, const pc_src_state& slot, uint8_t kind,
                        uint64_t now, const pc_src_state* before) const {
  if (a.scan.empty()) a.scan = scanName(kind, slot, &a.detail, before);
  a.tsMicros = table.ticksToUnixMicros(now);
  a.src = sourceName(slot);
  if (a.sources.empty()) a.sources = {a.src};
  static const pc_addr kNone{};
  if (!pc_addr_eq(&slot.dst, &kNone)) a.dst = formatAddr(slot.dst);
  bool v4 = pc_addr_is_v4(&slot.key);
  if (kind <= PC_KIND_ESTABLISHED) {
    a.proto = 6;
  } else if (kind == PC_KIND_UDP) {
    a.proto = 17;
  } else if (kind == PC_KIND_ICMP_ECHO || kind == PC_KIND_ICMP_OTHER) {
    a.proto = v4 ? 1 : 58;
  }
  if (a.ports == 0) a.ports = portCount(slot);
  if (a.dsts == 0) a.dsts = dstCount(slot);
  if (a.shape.empty()) a.shape = shapeOf(a.ports, a.dsts);
  a.closed = closedAnswers(slot);
  a.tags = toolTags(slot);
  if (tables_.size() > 1 || table.name() != "replay") a.iface = table.name();
}

uint64_t Engine::incidentQuietTicks(const SourceTable& table) const {
  // The slow rule's verdict on a scan comes when its window closes, up to a window after the
  // scan's last packet: its incident stays open that long, so the verdict is an update of the
  // scan, not a new incident of no packets.
  uint64_t seconds = rules_.quietS;
  if (rules_.on(RuleId::Slow)) seconds += rules_.slowWindowS;
  return seconds * table.ticksPerSecond();
}

void Engine::raise(const SourceView& v, Alert a, uint8_t kind, uint64_t quietTicks) {
  Track& track = v.track;
  fillCommon(a, v.table, v.slot, kind, v.now, &track.before);
  if (a.event == "alert") {
    // A rule's own quiet time (the slow rule's, so it alerts once, not once per window) is
    // the incident's: its verdicts while the scan goes on are that incident's updates.
    raised_.push_back({&track, std::move(a), v.now, incidentQuietTicks(v.table), true});
    return;
  }
  uint64_t quiet = quietTicks ? quietTicks : uint64_t(rules_.quietS) * v.table.ticksPerSecond();
  Track::Reported& r = track.reported[a.event + "/" + a.rule + "/" + a.scan + "/" + a.shape];
  bool fresh = r.lastActive == 0 || v.now - r.lastActive > quiet;
  bool grown =
      !fresh && a.ports >= r.ports * rules_.growthFactor && a.ports >= r.ports + rules_.growthMin;
  r.lastActive = v.now ? v.now : 1;
  if (!fresh && !grown) return;
  r.ports = a.ports;
  write(a, track.table, v.slot);
}

void Engine::raiseFor(Track& representative, Alert a, uint8_t kind) {
  const SourceTable& t = *tables_[representative.table];
  fillCommon(a, t, representative.last, kind, t.now());
  raised_.push_back({&representative, std::move(a), t.now(), incidentQuietTicks(t), false});
}

void Engine::settle() {
  if (raised_.empty()) return;
  // Each source's alerts of this poll together, in the order its first one was raised; a
  // group's alert (several sources, its own detail) apart from its representative's own.
  using Key = std::pair<Track*, bool>;
  std::vector<Key> order;
  for (const Raised& r : raised_) {
    Key key{r.track, r.countOnTrack};
    if (std::find(order.begin(), order.end(), key) == order.end()) order.push_back(key);
  }
  std::vector<Raised> raised = std::move(raised_);
  raised_.clear();
  for (const Key& key : order) {
    std::vector<const Raised*> mine;
    for (const Raised& r : raised) {
      if (Key{r.track, r.countOnTrack} == key) mine.push_back(&r);
    }
    settleTrack(*key.first, mine);
  }
}

namespace {

bool contains(const std::vector<std::string>& list, const std::string& x) {
  return std::find(list.begin(), list.end(), x) != list.end();
}

// A label the incident has not had yet (a source's next scan type) is news.
bool unseenLabel(const Track& track, const std::string& scan) {
  return track.incident && !contains(track.incident->labels, scan);
}

}  // namespace

Engine::Merged Engine::merge(const Track& track, const std::vector<const Raised*>& raised) {
  // Rules name the scan by different kinds (trw by the source's dominant probes): an alert
  // with a new label is the news of this poll, and the base of the event.
  const Raised* base = raised.front();
  for (const Raised* r : raised) {
    if (unseenLabel(track, r->alert.scan)) {
      base = r;
      break;
    }
  }
  Merged m{base->alert, {}, 0, 0};
  for (const Raised* r : raised) {
    if (!contains(m.fired, r->alert.rule)) m.fired.push_back(r->alert.rule);
    // Each rule's detail (the slow rule's counters, an anomaly's flags) stays readable.
    const std::string& d = r->alert.detail;
    if (r != base && !d.empty() && m.alert.detail.find(d) == std::string::npos) {
      m.alert.detail += (m.alert.detail.empty() ? "" : "; ") + d;
    }
    m.alert.ports = std::max(m.alert.ports, r->alert.ports);
    m.alert.dsts = std::max(m.alert.dsts, r->alert.dsts);
    if (m.alert.nodes.empty()) m.alert.nodes = r->alert.nodes;
    m.now = std::max(m.now, r->now);
    m.quiet = std::max(m.quiet, r->quietTicks);
  }
  return m;
}

// The track's incident takes the merged alert: opened by it (an `alert`), or updated. Returns
// the rules new to the incident; `news` says whether the event is worth a line.
std::vector<std::string> Engine::join(Track& track, Merged& m, bool& news) {
  std::vector<std::string> joined;
  if (!track.incident) {
    Incident& inc = track.incident.emplace();
    inc.id = ids_.next();
    inc.startTicks = track.incidentFloor;
    inc.packetsAtStart = track.packetsBefore;
    inc.scan = m.alert.scan;
    open_[inc.id] = &track;
    m.alert.event = "alert";
    news = true;
    joined = m.fired;
  } else {
    const Incident& inc = *track.incident;
    for (const std::string& r : m.fired) {
      if (!contains(inc.rules, r)) joined.push_back(r);
    }
    bool grown = m.alert.ports >= inc.reportedPorts * rules_.growthFactor &&
                 m.alert.ports >= inc.reportedPorts + rules_.growthMin;
    news = !joined.empty() || grown || unseenLabel(track, m.alert.scan);
    m.alert.event = "update";
  }
  Incident& inc = *track.incident;
  inc.rules.insert(inc.rules.end(), joined.begin(), joined.end());
  // The source's last packet, not the poll: a late verdict (the slow rule's, when its window
  // closes) on a scan that is over does not keep it open.
  inc.lastActive =
      std::max<uint64_t>({inc.lastActive, std::min<uint64_t>(m.now, track.last.last_seen), 1});
  inc.quietTicks = std::max(inc.quietTicks, m.quiet);
  if (!joined.empty()) m.alert.rule = joined.front();
  m.alert.rules = inc.rules;
  m.alert.id = inc.id;
  return joined;
}

void Engine::settleTrack(Track& track, const std::vector<const Raised*>& raised) {
  Merged m = merge(track, raised);
  bool news = false;
  for (const std::string& r : join(track, m, news)) {
    alertCounts_[r]++;
    bool counted = false;
    for (const Raised* x : raised) counted |= x->alert.rule == r && x->countOnTrack;
    if (counted) track.alertsByRule[r]++;
  }
  Incident& inc = *track.incident;
  // The blocker sees every look at a live incident, news or not: the evidence behind it (the
  // scanner reset our SYN-ACKs since) may be.
  if (hook_) hook_(m.alert, track.table, track.last);
  inc.blocked |= m.alert.action == "blocked";
  if (!news) return;
  inc.scan = m.alert.scan;
  if (!contains(inc.labels, inc.scan)) inc.labels.push_back(inc.scan);
  inc.reportedPorts = m.alert.ports;
  inc.last = m.alert;
  sink_.write(m.alert);
}

// New evidence on a source whose scan is open, but no rule fired again at this poll (its windows
// passed: the scanner's RST to our SYN-ACK came after them): the blocker still sees it.
void Engine::reconsider(Track& track) {
  if (!track.incident || !hook_) return;
  Incident& inc = *track.incident;
  Alert a = inc.last;
  a.event = "update";
  a.rules = inc.rules;
  a.action = inc.blocked ? "blocked" : "none";
  hook_(a, track.table, track.last);
  inc.blocked |= a.action == "blocked";
}

void Engine::endIncident(Track& track, uint64_t now) {
  if (!track.incident) return;
  Incident& inc = *track.incident;
  const SourceTable& table = *tables_[track.table];
  const pc_src_state& slot = track.last;
  Alert e = inc.last;
  e.event = "end";
  e.rule = inc.rules.front();
  e.rules = inc.rules;
  e.scan = inc.scan;
  e.detail.clear();
  if (e.sources.size() <= 1) {  // a group's sources and ports stay the group's
    e.ports = std::max<uint64_t>(e.ports, portCount(slot));
    e.dsts = std::max<uint64_t>(e.dsts, dstCount(slot));
    e.shape = shapeOf(e.ports, e.dsts);
  }
  e.closed = closedAnswers(slot);
  e.action = inc.blocked ? "blocked" : "none";
  uint64_t last = std::max<uint64_t>(slot.last_seen, inc.startTicks);
  e.durationS = double(last - inc.startTicks) / double(table.ticksPerSecond());
  e.packets = slot.packets >= inc.packetsAtStart ? slot.packets - inc.packetsAtStart : 0;
  e.tsMicros = table.ticksToUnixMicros(now);
  open_.erase(inc.id);
  track.incidentFloor = last;
  track.packetsBefore = slot.packets;
  track.incident.reset();
  sink_.write(e);
}

std::vector<Alert> Engine::openIncidentList() const {
  std::vector<Alert> out;
  for (const auto& [id, track] : open_) {
    const Incident& inc = *track->incident;
    Alert a = inc.last;
    a.rules = inc.rules;
    a.action = inc.blocked ? "blocked" : "none";
    a.tsMicros = tables_[track->table]->ticksToUnixMicros(inc.startTicks);
    out.push_back(std::move(a));
  }
  return out;
}

void Engine::endQuietIncidents(bool all) {
  std::vector<Track*> ending;
  for (const auto& [id, track] : open_) {
    const Incident& inc = *track->incident;
    uint64_t now = tables_[track->table]->now();
    uint64_t active = std::max<uint64_t>(inc.lastActive, track->last.last_seen);
    if (all || (now > active && now - active > inc.quietTicks)) {
      ending.push_back(track);
    }
  }
  for (Track* t : ending) endIncident(*t, tables_[t->table]->now());
}

void Engine::forget(std::unique_ptr<Track>& track) {
  settle();  // nothing raised for it may outlive it
  endIncident(*track, tables_[track->table]->now());
  retire(*track);
  track.reset();
}

void Engine::write(Alert& a, size_t tableIndex, const pc_src_state& slot) {
  if (hook_) hook_(a, tableIndex, slot);
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
  size_t slotIndex = size_t(slot - table.slots().data());
  Track& track = trackFor(tableIndex, slotIndex, *slot);
  if (e.type == PC_EVENT_PORT) {
    if (savePorts_ && track.ports.size() < 65536) track.ports.insert(e.dport);
    return;
  }
  pc_src_state copy;
  if (!copySlot(*slot, copy)) return;
  SourceView v{track, table, slotIndex, copy, std::max(e.ts, copy.last_seen)};
  for (auto& rule : ruleSet_) rule->onEvent(v, e, *this);
  settle();
}

// Distinct ports, destinations and protocols first probed now, and the closed answers since.
NewEvidence Engine::takeNewEvidence(Track& track, const pc_src_state& slot) {
  NewEvidence fresh;
  fresh.ports = newBitsOf(slot.ports, track.seenPorts);
  fresh.dsts = newBitsOf(slot.dsts, track.seenDsts);
  fresh.protos = newBitsOf(slot.protos, track.seenProtos);
  if (!track.evaluated) fresh.ports += slot.admitted_targets;  // probed before it had a slot
  track.evaluated = true;
  fresh.rejects = closedAnswers(slot) - track.lastRejects;
  track.lastRejects = closedAnswers(slot);
  return fresh;
}

void Engine::evaluate(Track& track, size_t slotIndex, const pc_src_state& slot) {
  const SourceTable& table = *tables_[track.table];
  track.before = track.last;
  track.last = slot;
  for (uint8_t k = 0; k < PC_KIND_MAX; ++k) {
    track.maxScore[k] = std::max({track.maxScore[k], slot.win_score[k], slot.prev_score[k]});
  }
  NewEvidence fresh = takeNewEvidence(track, slot);
  SourceView v{track, table, slotIndex, slot, table.now()};
  for (auto& rule : ruleSet_) rule->evaluate(v, fresh, *this);
}

void Engine::poll() {
  for (size_t i = 0; i < tables_.size(); ++i) {
    const SourceTable& table = *tables_[i];
    uint64_t now = table.now();
    auto slots = table.slots();
    const pc_stats st = table.stats();  // one read of the per-CPU counters per poll
    judgeAnswers(i, st);
    int64_t idle = int64_t(rules_.forgetS) * int64_t(table.ticksPerSecond());
    auto tags = table.occupancy();
    for (size_t index = nextOccupied(tags, 0); index < slots.size();
         index = nextOccupied(tags, index + 1)) {
      pollSlot(i, index, slots[index], now, idle);
    }
    reportStuck(i, st);
  }
  for (auto& rule : ruleSet_) rule->afterPoll(*this, false);
  settle();
  endQuietIncidents(false);
}

// One slot of table i at a poll: evaluated when it changed, retired when idle past forgetS.
void Engine::pollSlot(size_t i, size_t index, const pc_src_state& live, uint64_t now,
                      int64_t idle) {
  const SourceTable& table = *tables_[i];
  std::unique_ptr<Track>& t = tracks_[i][index];
  auto sameSource = [&](const pc_src_state& s) {
    return t && t->firstSeen == s.first_seen && pc_addr_eq(&t->addr, &s.key);
  };
  // Most slots have not changed since the last poll. That is read from the live slot (a read
  // racing a write shows the change one poll later), with no 784-byte copy per slot and poll.
  bool unchanged =
      (live.flags & PC_SRC_USED) && sameSource(live) && t->version == answersVersion(live);
  if (!unchanged) {
    // The datapath writes the slot while we read: the rules see one consistent copy.
    pc_src_state slot;
    if (!(live.flags & PC_SRC_USED) || !copySlot(live, slot) || !(slot.flags & PC_SRC_USED)) {
      if (t && int64_t(now - t->last.last_seen) > idle) forget(t);  // idle past forgetS
      return;
    }
    if (!sameSource(slot) || t->version != answersVersion(slot)) {
      Track& track = trackFor(i, index, slot);
      track.version = answersVersion(slot);
      evaluate(track, index, slot);
      bool raised = std::any_of(raised_.begin(), raised_.end(),
                                [&](const Raised& r) { return r.track == &track; });
      settle();
      if (!raised) reconsider(track);
      return;
    }
  }
  if (int64_t(now - t->last.last_seen) > idle) {
    forget(t);
    return;
  }
  // Nothing new, but a rule's window may close on time even when the source fell silent.
  SourceView v{*t, table, index, t->last, now};
  for (auto& rule : ruleSet_) rule->idle(v, *this);
  settle();
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
    a.rule = ruleName(RuleId::Rate);
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
    const SourceTable& table = *tables_[i];
    auto slots = table.slots();
    for (size_t index = 0; index < slots.size(); ++index) {
      const pc_src_state& slot = slots[index];
      if (!(slot.flags & PC_SRC_USED)) continue;
      Track& t = trackFor(i, index, slot);
      t.version = answersVersion(slot);
      t.last = t.before = slot;
      std::copy(std::begin(slot.ports), std::end(slot.ports), t.seenPorts.begin());
      std::copy(std::begin(slot.dsts), std::end(slot.dsts), t.seenDsts.begin());
      t.lastRejects = closedAnswers(slot);
      for (uint8_t k = 0; k < PC_KIND_MAX; ++k) {
        t.maxScore[k] = std::max(slot.win_score[k], slot.prev_score[k]);
      }
      SourceView v{t, table, index, slot, table.now()};
      for (auto& rule : ruleSet_) rule->baseline(v);
    }
  }
}

void Engine::flush() {
  for (size_t i = 0; i < tracks_.size(); ++i) {
    const SourceTable& table = *tables_[i];
    for (size_t index = 0; index < tracks_[i].size(); ++index) {
      Track* t = tracks_[i][index].get();
      if (!t) continue;
      const pc_src_state* slot = &table.slots()[index];
      if (!(slot->flags & PC_SRC_USED) || !pc_addr_eq(&slot->key, &t->addr)) slot = &t->last;
      SourceView v{*t, table, index, *slot, table.now()};
      for (auto& rule : ruleSet_) rule->flush(v, *this);
    }
  }
  for (auto& rule : ruleSet_) rule->afterPoll(*this, true);
  settle();
  endQuietIncidents(true);
}

void Engine::retire(const Track& track) {
  // Kept for the summary: sources with some history, up to a bound whatever a flood does.
  if (retired_.size() < kMaxRetired && (track.last.packets > 1 || !track.alertsByRule.empty())) {
    retired_.push_back({track.table, track.last, track.maxScore, track.alertsByRule, track.ports});
  }
}

namespace {

nlohmann::ordered_json trackJson(const pc_src_state& s,
                                 const std::array<uint32_t, PC_KIND_MAX>& max,
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

std::vector<Engine::Retired> Engine::everySource() const {
  std::vector<Retired> all = retired_;
  for (const auto& table : tracks_) {
    for (const auto& t : table) {
      if (t) all.push_back({t->table, t->last, t->maxScore, t->alertsByRule, t->ports});
    }
  }
  return all;
}

std::string Engine::summaryJson() const {
  nlohmann::ordered_json doc;
  doc["sources"] = nlohmann::ordered_json::array();
  for (const Retired& t : everySource()) {
    doc["sources"].push_back(trackJson(t.last, t.maxScore, t.alertsByRule, t.ports, savePorts_));
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
  std::vector<Retired> all = everySource();
  std::stable_sort(all.begin(), all.end(), [](const Retired& a, const Retired& b) {
    return a.last.packets > b.last.packets;
  });
  for (const Retired* t = all.data(); t != all.data() + all.size(); ++t) {
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
                    j["packets"]["tcp"].dump() + ", udp " + j["packets"]["udp"].dump() + ", icmp " +
                    j["packets"]["icmp"].dump() + ")";
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
