// `portcullis top`: the running detector at a glance, refreshed in place. Everything comes from
// the pinned maps (sources, counters, blocklist, admission tier, sketch) and the watch's state
// directory (its mode, its open incidents), so it works beside any watch without talking to it.
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "app/ops.h"
#include "datapath/net_util.h"
#include "report/alert.h"
#include "report/log.h"

namespace portcullis {

namespace {

std::atomic<bool> gQuit{false};
void onQuit(int) { gQuit = true; }

// The terminal in single-key mode (no echo, no line buffering) while top runs; restored on
// every exit path.
class RawTerminal {
 public:
  RawTerminal() {
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= ~tcflag_t(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    active_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  termios saved_{};
  bool active_ = false;
};

// Waits up to `ms` for a key; true when it was q (or the input ended).
bool quitKey(int ms) {
  pollfd fd{STDIN_FILENO, POLLIN, 0};
  if (::poll(&fd, 1, ms) <= 0) return false;
  char c = 0;
  ssize_t n = read(STDIN_FILENO, &c, 1);
  return n == 0 || (n == 1 && (c == 'q' || c == 'Q'));
}

std::string humanRate(double perSecond) {
  char buf[32];
  if (perSecond >= 1e6) {
    snprintf(buf, sizeof(buf), "%.2fM", perSecond / 1e6);
  } else if (perSecond >= 1e3) {
    snprintf(buf, sizeof(buf), "%.1fk", perSecond / 1e3);
  } else {
    snprintf(buf, sizeof(buf), "%.0f", perSecond);
  }
  return buf;
}

std::string secondsLeft(int64_t expiresUnixMicros, int64_t now) {
  if (!expiresUnixMicros) return "never";
  int64_t s = std::max<int64_t>(0, (expiresUnixMicros - now) / 1'000'000);
  char buf[32];
  snprintf(buf, sizeof(buf), "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  return buf;
}

// What the interfaces' maps say this frame: a line per interface, and their top sources and
// blocks in force for the sections below.
struct Snapshot {
  std::string lines;
  std::vector<nlohmann::ordered_json> tops;
  std::vector<BlockEntry> blocks;
};

// Packet and drop counts at the previous frame, per interface, for the rates.
struct Rates {
  std::map<std::string, std::pair<uint64_t, uint64_t>> counts;
  int64_t lastMicros = 0;
};

Snapshot interfaces(const OpsArgs& args, const PinnedView& view, Rates& rates, double dt) {
  Snapshot snap;
  char line[512];
  for (const auto& m : view.maps) {
    nlohmann::ordered_json j = describeWatch(args, *m, view.clock, 10);
    uint64_t packets = j.value("packets", uint64_t(0)), dropped = j.value("dropped", uint64_t(0));
    auto& [p0, d0] = rates.counts[m->iface];
    double pps = dt > 0 && packets >= p0 ? double(packets - p0) / dt : 0;
    double dps = dt > 0 && dropped >= d0 ? double(dropped - d0) / dt : 0;
    p0 = packets;
    d0 = dropped;
    std::string mode = j["watch"].is_object() ? j["watch"].value("mode", "?") : "not running";
    const auto& src = j.value("sources", nlohmann::ordered_json::object());
    const auto& adm = j.value("admission", nlohmann::ordered_json::object());
    snprintf(line, sizeof(line),
             "%-12s %-11s %8s pkt/s %8s drop/s  slots %llu/%llu (%.1f%%)  admission %.1f%%  "
             "untracked sources ~%llu\n",
             m->iface.c_str(), mode.c_str(), humanRate(pps).c_str(), humanRate(dps).c_str(),
             (unsigned long long)src.value("tracked", uint64_t(0)),
             (unsigned long long)src.value("slots", uint64_t(0)), 100 * src.value("fill", 0.0),
             100 * adm.value("fill", 0.0),
             (unsigned long long)j.value("untracked_sources", uint64_t(0)));
    snap.lines += line;
    for (const auto& t : j["top_scores"]) snap.tops.push_back(t);
    Blocklist bl(m->blocklist, m->blockprefix, m->allowlist, m->control, view.clock);
    for (const BlockEntry& e : bl.list()) {
      if (!e.expired) snap.blocks.push_back(e);
    }
  }
  return snap;
}

std::string incidentLines(const std::string& stateDir) {
  std::ifstream in(incidentsFile(stateDir));
  nlohmann::json incidents = nlohmann::json::parse(in, nullptr, false);
  char line[512];
  std::string out = "\nOPEN INCIDENTS\n";
  snprintf(line, sizeof(line), "  %-18s %-28s %-8s %-30s %6s %5s %-8s\n", "ID", "SOURCE", "SCAN",
           "RULES", "PORTS", "HOSTS", "ACTION");
  out += line;
  size_t shown = 0;
  for (const auto& i : incidents.is_array() ? incidents : nlohmann::json::array()) {
    if (shown++ == 10) break;
    std::string rules;
    for (const auto& r : i.value("rules", nlohmann::json::array())) {
      rules += (rules.empty() ? "" : "+") + r.get<std::string>();
    }
    snprintf(line, sizeof(line), "  %-18llu %-28s %-8s %-30s %6llu %5llu %-8s\n",
             (unsigned long long)i.value("id", uint64_t(0)), i.value("src", "").c_str(),
             i.value("scan", "").c_str(), rules.c_str(),
             (unsigned long long)i.value("ports", uint64_t(0)),
             (unsigned long long)i.value("dsts", uint64_t(0)), i.value("action", "").c_str());
    out += line;
  }
  return shown ? out : out + "  (none)\n";
}

std::string sourceLines(std::vector<nlohmann::ordered_json> tops) {
  std::sort(tops.begin(), tops.end(), [](const auto& a, const auto& b) {
    return a.value("evidence", 0) > b.value("evidence", 0);
  });
  char line[512];
  std::string out = "\nTOP SOURCES (by evidence)\n";
  snprintf(line, sizeof(line), "  %-39s %9s %7s %6s %9s\n", "SOURCE", "EVIDENCE", "SCORE", "PORTS",
           "PACKETS");
  out += line;
  for (size_t i = 0; i < tops.size() && i < 10; ++i) {
    const auto& t = tops[i];
    snprintf(line, sizeof(line), "  %-39s %9d %7u %6llu %9llu %s\n", t.value("src", "").c_str(),
             t.value("evidence", 0), t.value("score", 0u),
             (unsigned long long)t.value("ports", uint64_t(0)),
             (unsigned long long)t.value("packets", uint64_t(0)),
             t.value("blocked", false) ? "blocked" : "");
    out += line;
  }
  return tops.empty() ? out + "  (none)\n" : out;
}

std::string blockLines(std::vector<BlockEntry> blocks, int64_t now) {
  std::sort(blocks.begin(), blocks.end(),
            [](const BlockEntry& a, const BlockEntry& b) { return a.drops > b.drops; });
  char line[512];
  std::string out = "\nBLOCKS\n";
  snprintf(line, sizeof(line), "  %-43s %-10s %10s\n", "PREFIX", "TIME LEFT", "DROPS");
  out += line;
  for (size_t i = 0; i < blocks.size() && i < 10; ++i) {
    snprintf(line, sizeof(line), "  %-43s %-10s %10llu\n", formatPrefix(blocks[i].prefix).c_str(),
             secondsLeft(blocks[i].expiresUnixMicros, now).c_str(),
             (unsigned long long)blocks[i].drops);
    out += line;
  }
  if (blocks.empty()) out += "  (none)\n";
  if (blocks.size() > 10) out += "  ... " + std::to_string(blocks.size() - 10) + " more\n";
  return out;
}

// One frame of the view.
std::string frame(const OpsArgs& args, const PinnedView& view, Rates& rates, uint32_t intervalMs) {
  int64_t now = unixMicrosNow();
  double dt = rates.lastMicros ? double(now - rates.lastMicros) / 1e6 : 0;
  rates.lastMicros = now;
  char head[256];
  snprintf(head, sizeof(head), "portcullis top - %s - every %.1f s - q quits\n\n",
           formatTimestamp(now).c_str(), intervalMs / 1000.0);
  Snapshot snap = interfaces(args, view, rates, dt);
  return head + snap.lines + incidentLines(args.stateDir) + sourceLines(std::move(snap.tops)) +
         blockLines(std::move(snap.blocks), now);
}

}  // namespace

int runTop(const OpsArgs& args, uint32_t intervalMs) {
  PinnedView view;
  if (!openPinnedView(args, view)) return 1;
  struct sigaction sa {};
  sa.sa_handler = onQuit;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  RawTerminal terminal;
  bool tty = isatty(STDOUT_FILENO);
  Rates rates;
  frame(args, view, rates, intervalMs);  // the first rates need a previous count
  while (!gQuit) {
    if (quitKey(200)) break;
    std::string text = frame(args, view, rates, intervalMs);
    // In place on a terminal (home, clear); one frame after another elsewhere.
    std::fputs(tty ? "\033[H\033[2J" : "\n", stdout);
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
    if (quitKey(int(intervalMs))) break;
  }
  return 0;
}

}  // namespace portcullis
