#include "report/alert.h"

#include <syslog.h>

#include <cmath>
#include <ctime>
#include <iterator>
#include <nlohmann/json.hpp>

namespace portcullis {

std::string formatTimestamp(int64_t unixMicros) {
  time_t secs = time_t(unixMicros / 1'000'000);
  tm utc{};
  gmtime_r(&secs, &utc);
  char buf[64];
  size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(buf + n, sizeof(buf) - n, ".%06lldZ", (long long)(unixMicros % 1'000'000));
  return buf;
}

std::string alertToJson(const Alert& a) {
  nlohmann::ordered_json j;
  j["ts"] = formatTimestamp(a.tsMicros);
  j["event"] = a.event;
  j["rule"] = a.rule;
  j["scan"] = a.scan;
  j["src"] = a.src;
  j["sources"] = a.sources;
  j["shape"] = a.shape;
  j["dsts"] = a.dsts;
  j["ports"] = a.ports;
  j["score"] = a.score;
  j["closed"] = a.closed;
  j["action"] = a.action;
  if (!a.detail.empty()) j["detail"] = a.detail;
  if (!a.iface.empty()) j["iface"] = a.iface;
  if (!a.tags.empty()) j["tags"] = a.tags;
  if (!a.nodes.empty()) j["nodes"] = a.nodes;
  if (a.id) j["id"] = a.id;
  if (!a.rules.empty()) j["rules"] = a.rules;
  if (a.durationS >= 0) {
    j["duration"] = std::round(a.durationS * 1000) / 1000;
    j["packets"] = a.packets;
  }
  return j.dump();
}

std::string alertToText(const Alert& a) {
  std::string s = formatTimestamp(a.tsMicros) + " " + a.event;
  if (a.id) s += " #" + std::to_string(a.id);
  std::string rules = a.rule;
  if (!a.rules.empty()) {
    rules.clear();
    for (const auto& r : a.rules) rules += (rules.empty() ? "" : "+") + r;
  }
  s += " " + rules + ": " + a.scan + " scan from " + a.src;
  if (a.sources.size() > 1) {
    s += " (sources";
    for (const auto& src : a.sources) s += " " + src;
    s += ")";
  }
  if (!a.detail.empty()) s += " [" + a.detail + "]";
  if (!a.nodes.empty()) {
    s += " (nodes";
    for (const auto& node : a.nodes) s += " " + node;
    s += ")";
  }
  s += ", " + a.shape + ", " + std::to_string(a.ports) + " ports (" + std::to_string(a.closed) +
       " closed) on " + std::to_string(a.dsts) + (a.dsts == 1 ? " host" : " hosts") + ", score " +
       std::to_string(a.score);
  if (a.durationS >= 0) {
    char span[64];
    snprintf(span, sizeof(span), ", %llu packets in %.1f s", (unsigned long long)a.packets,
             a.durationS);
    s += span;
  }
  if (!a.iface.empty()) s += ", on " + a.iface;
  for (const auto& t : a.tags) s += " #" + t;
  s += ", action " + a.action;
  return s;
}

namespace {

constexpr const char* kEveCategory = "Attempted Information Leak";  // Suricata's, for scans

const char* protoName(uint8_t proto) {
  switch (proto) {
    case 6:
      return "TCP";
    case 17:
      return "UDP";
    case 1:
      return "ICMP";
    case 58:
      return "IPv6-ICMP";
    default:
      return nullptr;
  }
}

// Suricata writes "2026-11-30T15:48:01.102117+0000".
std::string eveTimestamp(int64_t unixMicros) {
  std::string ts = formatTimestamp(unixMicros);
  ts.pop_back();  // the Z
  return ts + "+0000";
}

void putLine(FILE* f, const std::string& line) {
  std::fputs(line.c_str(), f);
  std::fputc('\n', f);
  std::fflush(f);
}

constexpr std::pair<const char*, int> kFacilities[] = {
    {"daemon", LOG_DAEMON},     {"user", LOG_USER},     {"auth", LOG_AUTH},
    {"authpriv", LOG_AUTHPRIV}, {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1},
    {"local2", LOG_LOCAL2},     {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
    {"local5", LOG_LOCAL5},     {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7}};

}  // namespace

uint32_t eveSignatureId(const std::string& rule, const std::string& scan) {
  static constexpr const char* kRules[] = {"score", "rate",  "anomaly", "slow",
                                           "trw",   "shape", "group"};
  static constexpr const char* kScans[] = {"syn",    "connect", "ack",  "null",    "fin",  "xmas",
                                           "maimon", "udp",     "icmp", "ipproto", "other"};
  uint32_t r = 99, k = 99;
  for (uint32_t i = 0; i < std::size(kRules); ++i) r = rule == kRules[i] ? i : r;
  for (uint32_t i = 0; i < std::size(kScans); ++i) k = scan == kScans[i] ? i : k;
  return 9'100'000 + r * 100 + k;
}

std::string alertToEve(const Alert& a) {
  if (a.event != "alert" && a.event != "update") return "";
  nlohmann::ordered_json j;
  j["timestamp"] = eveTimestamp(a.tsMicros);
  if (!a.iface.empty()) j["in_iface"] = a.iface;
  j["event_type"] = "alert";
  j["src_ip"] = a.src.substr(0, a.src.find('/'));  // an aggregated /64 by its address
  j["dest_ip"] = a.dst;
  if (const char* proto = protoName(a.proto)) j["proto"] = proto;
  nlohmann::ordered_json alert;
  alert["action"] = a.action == "blocked" ? "blocked" : "allowed";
  alert["gid"] = 1;
  alert["signature_id"] = eveSignatureId(a.rule, a.scan);
  alert["rev"] = 1;
  alert["signature"] = "PORTCULLIS " + a.scan + " port scan (" + a.rule + ")";
  alert["category"] = kEveCategory;
  alert["severity"] = a.action == "blocked" || a.rules.size() > 1 ? 1 : 2;
  j["alert"] = alert;
  nlohmann::ordered_json pc;
  pc["id"] = a.id;
  pc["event"] = a.event;
  pc["rules"] = a.rules;
  pc["shape"] = a.shape;
  pc["ports"] = a.ports;
  pc["dsts"] = a.dsts;
  pc["sources"] = a.sources;
  j["portcullis"] = pc;
  return j.dump();
}

AlertSink::~AlertSink() {
  if (syslog_) closelog();
}

void AlertSink::openSyslog(int facility, const std::string& tag) {
  syslogTag_ = tag;
  openlog(syslogTag_.c_str(), LOG_PID | LOG_NDELAY, facility);
  syslog_ = true;
}

void AlertSink::write(const Alert& alert) {
  if (record_) record_->push_back(alert);
  int priority = LOG_INFO;
  if (alert.event == "alert" || alert.event == "update" || alert.event == "block") {
    priority = LOG_WARNING;
  } else if (alert.event == "suspicious") {
    priority = LOG_NOTICE;
  }
  emit(json_ ? alertToJson(alert) : alertToText(alert), priority);
  if (eve_) {
    std::string eve = alertToEve(alert);
    if (!eve.empty()) putLine(eve_, eve);
  }
}

void AlertSink::writeLine(const std::string& line) { emit(line, LOG_INFO); }

void AlertSink::emit(const std::string& line, int priority) {
  if (primary_) putLine(primary_, line);
  if (extra_) putLine(extra_, line);
  if (syslog_) syslog(priority, "%s", line.c_str());
}

int syslogFacility(const std::string& name) {
  for (const auto& [n, f] : kFacilities) {
    if (name == n) return f;
  }
  return -1;
}

std::vector<std::string> syslogFacilityNames() {
  std::vector<std::string> names;
  for (const auto& [n, f] : kFacilities) names.emplace_back(n);
  return names;
}

}  // namespace portcullis
