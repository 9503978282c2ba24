#include "app/args.h"
#include "datapath/control_page.h"

#include <cerrno>
#include <cstring>

#include "datapath/net_util.h"
#include "detect/engine.h"
#include "report/log.h"

namespace portcullis {

std::optional<std::vector<Prefix>> explicitDestinations(const CommonArgs& a, std::string& error) {
  if (a.dstIps.empty()) return std::nullopt;
  std::vector<Prefix> out;
  for (const std::string& ip : a.dstIps) {
    if (ip == "all" || ip == "any") return std::vector<Prefix>{};
    auto prefix = parsePrefix(ip);
    if (!prefix) {
      error = "--dst-ip: not an address or CIDR prefix: " + ip;
      return std::nullopt;
    }
    out.push_back(*prefix);
  }
  if (!destinationLengthsFit(out)) {
    error = "--dst-ip: at most " + std::to_string(PC_DST_LENS) +
            " different prefix lengths (addresses count as one)";
    return std::nullopt;
  }
  return out;
}

DatapathTiming timingFrom(const CommonArgs& a) {
  DatapathTiming t;
  t.scoreWindowMs = a.rules.scoreWindowMs;
  t.flowWindowMs = uint64_t(a.rules.flowWindowS) * 1000;
  t.idleTimeoutMs = uint64_t(a.rules.forgetS) * 1000;
  t.weightHot = a.rules.weightHot;
  t.weightLow = a.rules.weightLow;
  t.weightHigh = a.rules.weightHigh;
  t.eventBurst = uint16_t(a.rules.eventBurst);
  t.admitTargets = uint16_t(a.rules.admitTargets);
  t.v4Prefix = uint8_t(a.rules.v4Prefix);
  t.v6Prefix = uint8_t(a.rules.v6Prefix);
  t.reportPorts = a.savePorts;
  return t;
}

void OutputFiles::close() {
  for (FILE** f : {&alerts, &eve, &log}) {
    if (*f) std::fclose(*f);
    *f = nullptr;
  }
}

bool openOutputs(const CommonArgs& a, OutputFiles& files) {
  auto open = [](const std::string& path, const char* mode, FILE*& f) {
    if (path.empty()) return true;
    f = std::fopen(path.c_str(), mode);
    if (!f) logError("cannot open %s: %s", path.c_str(), std::strerror(errno));
    return f != nullptr;
  };
  return open(a.alertsFile, "a", files.alerts) && open(a.eveFile, "a", files.eve) &&
         open(a.logFile, "w", files.log);
}

std::unique_ptr<AlertSink> makeSink(const CommonArgs& a, const OutputFiles& files) {
  auto sink = std::make_unique<AlertSink>(a.json, files.alerts);
  sink->setEve(files.eve);
  if (a.syslog) sink->openSyslog(syslogFacility(a.syslogFacility), a.syslogTag);
  return sink;
}

void finishRun(Engine& engine, const OutputFiles& files) {
  engine.writeSummary();
  if (files.log) {
    std::string doc = engine.summaryJson();
    std::fwrite(doc.data(), 1, doc.size(), files.log);
    std::fputc('\n', files.log);
    std::fflush(files.log);
  }
}

}  // namespace portcullis
