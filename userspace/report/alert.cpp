#include "report/alert.h"

#include <cmath>
#include <ctime>
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

void AlertSink::write(const Alert& alert) {
  if (record_) record_->push_back(alert);
  writeLine(json_ ? alertToJson(alert) : alertToText(alert));
}

void AlertSink::writeLine(const std::string& line) {
  if (primary_) {
    std::fputs(line.c_str(), primary_);
    std::fputc('\n', primary_);
    std::fflush(primary_);
  }
  if (extra_) {
    std::fputs(line.c_str(), extra_);
    std::fputc('\n', extra_);
    std::fflush(extra_);
  }
}

}  // namespace portcullis
