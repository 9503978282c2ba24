#include "engine.h"

#include <algorithm>
#include <bit>
#include <nlohmann/json.hpp>

#include "estimate.h"
#include "net_util.h"

namespace portcullis {

namespace {

constexpr const char* kKindNames[PC_KIND_MAX] = {
    "syn", "ack",    "null", "fin",         "xmas", "maimon", "synfin",     "synrst",
    "other", "synack", "rst", "established", "udp", "icmp",   "icmp-other", "fragment"};

constexpr size_t kMaxRetired = 10000;

uint64_t portCount(const pc_src_state& s) { return linearCount(s.ports); }

uint64_t dstCount(const pc_src_state& s) { return std::max<uint64_t>(1, linearCount(s.dsts)); }

uint32_t newBits(const __u64* now, std::array<__u64, PC_PORT_WORDS>& seen) {
  uint32_t n = 0;
  for (size_t i = 0; i < PC_PORT_WORDS; ++i) {
    n += uint32_t(std::popcount(now[i] & ~seen[i]));
    seen[i] |= now[i];
  }
  return n;
}

// The probe kind with the most packets: what a rate alert calls the scan.
uint8_t dominantProbeKind(const pc_src_state& s) {
  uint8_t best = PC_KIND_SYN;
  uint32_t most = 0;
  for (uint8_t k = 0; k < PC_KIND_MAX; ++k) {
    if ((pc_kind_is_probe(k) || k == PC_KIND_FRAGMENT) && k != PC_KIND_ICMP_ECHO &&
        s.count[k] > most) {
      most = s.count[k];
      best = k;
    }
  }
  return best;
}

}  // namespace

const char* kindName(uint8_t kind) { return kind < PC_KIND_MAX ? kKindNames[kind] : "?"; }

std::string scanName(uint8_t kind, const pc_src_state& slot, std::string* detail) {
  switch (kind) {
    case PC_KIND_SYN:
      // connect() SYNs come from the OS stack with its full option set; raw-socket scanners
      // send at most MSS. (With the egress program, completed handshakes will confirm it.)
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

void Engine::addTable(const SourceTable* table) { tables_.push_back(table); }

Engine::Track& Engine::trackFor(size_t table, size_t index, const pc_src_state& slot) {
  Key key{table, index};
  auto it = tracks_.find(key);
  if (it != tracks_.end() &&
      (it->second.firstSeen != slot.first_seen || !pc_addr_eq(&it->second.addr, &slot.key))) {
    retire(it->second);  // the slot went to another source, or to the same one anew
    tracks_.erase(it);
    it = tracks_.end();
  }
  if (it == tracks_.end()) {
    Track t;
    t.table = table;
    t.addr = slot.key;
    t.firstSeen = slot.first_seen;
    it = tracks_.emplace(key, std::move(t)).first;
  }
  return it->second;
}

void Engine::raise(Track& track, const SourceTable& table, const pc_src_state& slot,
                   const std::string& rule, uint8_t kind, uint64_t score, uint64_t now) {
  Alert a;
  a.scan = scanName(kind, slot, &a.detail);
  Reported& r = track.reported[rule + "/" + a.scan];
  uint64_t ports = portCount(slot);
  uint64_t quiet = uint64_t(rules_.quietS) * table.ticksPerSecond();
  bool fresh = r.lastActive == 0 || now - r.lastActive > quiet;
  bool grown = !fresh && ports >= r.ports * rules_.growthFactor &&
               ports >= r.ports + rules_.growthMin;
  r.lastActive = now ? now : 1;
  if (!fresh && !grown) return;
  r.ports = ports;
  a.tsMicros = table.ticksToUnixMicros(now);
  a.rule = rule;
  a.src = formatAddr(slot.key);
  a.sources = {a.src};
  a.dsts = dstCount(slot);
  a.ports = ports;
  a.shape = shapeOf(a.ports, a.dsts);
  a.score = score;
  if (tables_.size() > 1 || table.name() != "replay") a.iface = table.name();
  track.alertsByRule[rule]++;
  sink_.write(a);
}

void Engine::onEvent(size_t tableIndex, const pc_event& e) {
  if (tableIndex >= tables_.size()) return;
  const SourceTable& table = *tables_[tableIndex];
  const pc_src_state* slot = table.find(e.src);
  if (!slot) return;
  Track& track = trackFor(tableIndex, size_t(slot - table.slots().data()), *slot);
  if (e.type == PC_EVENT_PORT) {
    if (savePorts_ && track.ports.size() < 65536) track.ports.insert(e.dport);
    return;
  }
  if (e.type != PC_EVENT_ANOMALY || !rules_.anomaly || (slot->flags & PC_SRC_ALLOWED)) return;
  uint8_t kind = e.kind < PC_KIND_MAX ? e.kind : uint8_t(PC_KIND_OTHER);
  uint64_t score = std::max(slot->win_score[kind], slot->prev_score[kind]);
  raise(track, table, *slot, "anomaly", kind, score, std::max(e.ts, slot->last_seen));
}

void Engine::evaluate(Track& track, const SourceTable& table, const pc_src_state& slot) {
  uint64_t now = table.now();
  track.last = slot;
  if (slot.flags & PC_SRC_ALLOWED) return;

  // score: per kind, the current window and the one just closed (polls are shorter than a
  // window, so every window is seen whole at least once).
  for (uint8_t k = 0; k < PC_KIND_MAX; ++k) {
    uint16_t score = std::max(slot.win_score[k], slot.prev_score[k]);
    track.maxScore[k] = std::max(track.maxScore[k], score);
    if (score >= rules_.scoreThreshold) raise(track, table, slot, "score", k, score, now);
  }

  // rate: distinct ports first probed within the last rateWindowS seconds.
  uint32_t fresh = newBits(slot.ports, track.seenPorts);
  if (fresh) track.newPorts.emplace_back(now, fresh);
  uint64_t span = uint64_t(rules_.rateWindowS) * table.ticksPerSecond();
  while (!track.newPorts.empty() && now - track.newPorts.front().first >= span) {
    track.newPorts.pop_front();
  }
  uint64_t recent = 0;
  for (const auto& [ticks, n] : track.newPorts) recent += n;
  if (recent > rules_.rateMaxPorts) {
    uint8_t kind = dominantProbeKind(slot);
    raise(track, table, slot, "rate", kind, std::max(slot.win_score[kind], slot.prev_score[kind]),
          now);
  }
}

void Engine::poll() {
  for (size_t i = 0; i < tables_.size(); ++i) {
    const SourceTable& table = *tables_[i];
    auto slots = table.slots();
    for (size_t index = 0; index < slots.size(); ++index) {
      const pc_src_state& slot = slots[index];
      if (!(slot.flags & PC_SRC_USED)) continue;
      auto it = tracks_.find(Key{i, index});
      // Only sources with new packets can have new evidence.
      if (it != tracks_.end() && it->second.firstSeen == slot.first_seen &&
          it->second.lastPackets == slot.packets) {
        continue;
      }
      Track& track = trackFor(i, index, slot);
      track.lastPackets = slot.packets;
      evaluate(track, table, slot);
    }
    // Forget sources idle past forgetS (their slots may already belong to others).
    uint64_t now = table.now();
    uint64_t idle = uint64_t(rules_.forgetS) * table.ticksPerSecond();
    for (auto it = tracks_.begin(); it != tracks_.end();) {
      if (it->second.table == i && now - it->second.last.last_seen > idle) {
        retire(it->second);
        it = tracks_.erase(it);
      } else {
        ++it;
      }
    }
  }
}

void Engine::retire(const Track& track) {
  if (retired_.size() < kMaxRetired && track.last.packets) retired_.push_back(track);
}

namespace {

nlohmann::ordered_json trackJson(const pc_src_state& s, const std::array<uint16_t, PC_KIND_MAX>& max,
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
  for (const auto& [key, t] : tracks_) add(t);
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
  for (const auto& [key, t] : tracks_) all.push_back(&t);
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
