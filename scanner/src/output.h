#pragma once
// Report writers: nmap's normal table, nmap XML (-oX, for ndiff and xsltproc), grepable (-oG)
// and JSON (-oJ). Each is streamed host by host so memory does not grow with the target count.

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "types.h"

namespace portcullis::scan {

inline constexpr const char* kScannerName = "portcullis-scan";
inline constexpr const char* kScannerVersion = "0.1.0";

/// What the whole run was, for headers and footers.
struct RunInfo {
  std::string args;      // the command line, shell-quoted
  double startTime = 0;  // epoch seconds
  double endTime = 0;
  std::vector<ScanType> scanTypes;  // one per protocol scanned (e.g. syn + udp)
  std::vector<uint16_t> tcpPorts;   // sorted
  std::vector<uint16_t> udpPorts;
  int verbose = 0;
  uint64_t hostsTotal = 0;
  uint64_t hostsUp = 0;
  // Lines normal output prints after its start line (the idle scan's zombie and class).
  std::vector<std::string> notes;
};

class ReportWriter {
 public:
  virtual ~ReportWriter() = default;
  virtual void begin(const RunInfo& info) = 0;
  virtual void host(const HostResult& h) = 0;
  virtual void end(const RunInfo& info) = 0;
};

std::unique_ptr<ReportWriter> makeNormalWriter(std::ostream& out);
std::unique_ptr<ReportWriter> makeXmlWriter(std::ostream& out);
std::unique_ptr<ReportWriter> makeGrepableWriter(std::ostream& out);
std::unique_ptr<ReportWriter> makeJsonWriter(std::ostream& out);

/// Escapes text for an XML attribute value.
std::string xmlEscape(const std::string& s);

/// nmap's "ignored states": a state is folded into "Not shown: N <state> ports" when more than
/// this many ports share it (open ports are always listed).
inline constexpr size_t kIgnoredStateThreshold = 25;

}  // namespace portcullis::scan
