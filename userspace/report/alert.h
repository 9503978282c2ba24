#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace portcullis {

/// One reported event (DESIGN.md's JSON contract).
struct Alert {
  int64_t tsMicros = 0;         ///< Unix time
  std::string event = "alert";  ///< alert, update, end, suspicious, block, unblock, summary
  std::string rule;             ///< score, rate, anomaly, …
  std::string scan;             ///< syn, connect, ack, null, fin, xmas, maimon, udp, icmp, other
  std::string src;
  std::string dst;    ///< a destination it probed (EVE's dest_ip); not in portcullis' own JSON
  uint8_t proto = 0;  ///< IP protocol of its probes (EVE's proto); 0: unknown
  std::vector<std::string> sources;
  std::vector<std::string> nodes;  ///< rule fleet: the nodes that saw the source (else omitted)
  std::string shape;               ///< vertical, horizontal, block
  uint64_t dsts = 0;
  uint64_t ports = 0;
  uint64_t score = 0;
  uint64_t closed = 0;  ///< probes the host answered as closed (RST, port unreachable)
  std::string action = "none";
  std::string detail;  ///< e.g. "syn+fin" for scan "other"; omitted when empty
  std::string iface;   ///< omitted when empty (replay)
  std::vector<std::string> tags;
  /// The incident (one scan) the event belongs to: alert, update, end and the block it caused.
  /// 0 (omitted) for events outside one.
  uint64_t id = 0;
  std::vector<std::string> rules;  ///< every rule that fired in the incident so far
  double durationS = -1;           ///< end: the scan's first to last packet (omitted when < 0)
  uint64_t packets = 0;            ///< end: the source's packets in the incident
};

/// "2026-11-22T10:00:00.123456Z"
std::string formatTimestamp(int64_t unixMicros);

std::string alertToJson(const Alert& alert);
std::string alertToText(const Alert& alert);
/// Suricata's eve.json alert shape (event_type, src_ip, dest_ip, proto, alert.signature, …),
/// for the tools that read Suricata. Only `alert` and `update` events are EVE alerts: "" for
/// the others.
std::string alertToEve(const Alert& alert);
/// EVE's signature_id for a rule and scan label: stable across versions (9,100,000 and up).
uint32_t eveSignatureId(const std::string& rule, const std::string& scan);

/// Writes events as text lines or JSON lines to stdout and, optionally, to a file.
class AlertSink {
 public:
  /// `primary` is stdout for the CLI, nullptr for none. `record`, when given, receives a copy of
  /// every event (tests and benchmarks); a daemon passes none, so nothing grows with time.
  AlertSink(bool json, FILE* extra, FILE* primary = stdout, std::vector<Alert>* record = nullptr)
      : json_(json), extra_(extra), primary_(primary), record_(record) {}
  ~AlertSink();
  AlertSink(const AlertSink&) = delete;
  AlertSink& operator=(const AlertSink&) = delete;

  void write(const Alert& alert);
  /// Anything already formatted (summaries) to the same destinations.
  void writeLine(const std::string& line);
  bool json() const { return json_; }

  /// Also every event through syslog(3) (so journald gets it), one line each, as text or JSON
  /// like the rest; alerts, updates and blocks at LOG_WARNING, suspicious at LOG_NOTICE, the
  /// rest at LOG_INFO.
  void openSyslog(int facility, const std::string& tag);
  /// Also alerts in EVE form (alertToEve) to `eve`, which the caller owns.
  void setEve(FILE* eve) { eve_ = eve; }
  /// Files reopened by the caller (SIGHUP, logrotate) take the old ones' places.
  void setFiles(FILE* extra, FILE* eve) {
    extra_ = extra;
    eve_ = eve;
  }

 private:
  void emit(const std::string& line, int priority);

  bool json_;
  FILE* extra_;
  FILE* primary_;
  std::vector<Alert>* record_;
  FILE* eve_ = nullptr;
  std::string syslogTag_;  ///< openlog keeps the pointer: it must outlive the log
  bool syslog_ = false;
};

/// A --syslog-facility name (daemon, user, auth, authpriv, local0 … local7) as LOG_*; -1 if
/// unknown.
int syslogFacility(const std::string& name);
std::vector<std::string> syslogFacilityNames();

}  // namespace portcullis
