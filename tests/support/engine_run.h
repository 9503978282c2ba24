#pragma once

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "detect/engine.h"
#include "datapath/memory_table.h"
#include "datapath/replayer.h"
#include "support/pcap_writer.h"

namespace portcullis::testing {

/// Frames through the pcap backend's table and the engine, polled on capture time exactly as
/// `portcullis replay` does; returns every event reported (alerts and suspicious).
inline std::vector<Alert> runEngine(const std::vector<TimedFrame>& frames, RuleConfig rules = {}) {
  std::vector<Alert> events;
  AlertSink sink(false, nullptr, nullptr, &events);
  Engine engine(rules, sink, false);
  MemoryTable table("replay", PC_SOURCES_DEFAULT, rules, false);
  engine.addTable(&table);
  CaptureReplayer replayer(table, engine, 0, uint64_t(rules.pollMs) * 1000);
  for (const auto& f : frames) replayer.frame(f.bytes.data(), f.bytes.size(), 1, f.tsMicros);
  replayer.finish();
  return events;
}

/// For "alert": one event per incident in which `rule` fired, the one where it joined (the
/// incident's `alert`, or the `update` that first names it). Other events by rule and type.
inline std::vector<Alert> withRule(const std::vector<Alert>& all, const std::string& rule,
                                   const std::string& event = "alert") {
  std::vector<Alert> out;
  std::set<uint64_t> named;  // incidents already naming the rule
  for (const Alert& a : all) {
    if (event != "alert") {
      if (a.rule == rule && a.event == event) out.push_back(a);
      continue;
    }
    if (a.event != "alert" && a.event != "update") continue;
    bool names = std::find(a.rules.begin(), a.rules.end(), rule) != a.rules.end();
    if (names && named.insert(a.id).second) out.push_back(a);
  }
  return out;
}

/// The events of one type.
inline std::vector<Alert> ofEvent(const std::vector<Alert>& all, const std::string& event) {
  std::vector<Alert> out;
  std::copy_if(all.begin(), all.end(), std::back_inserter(out),
               [&](const Alert& a) { return a.event == event; });
  return out;
}

}  // namespace portcullis::testing
