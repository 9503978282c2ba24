#pragma once
// Command line: nmap's flags (DESIGN.md "Contract: portcullis-scan") parsed with CLI11.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "port_spec.h"
#include "timing.h"
#include "types.h"

namespace portcullis::scan {

struct Options {
  std::optional<ScanType> tcpScan;  // -sS/-sT/-sN/-sF/-sX/-sM/-sA/-sW; unset = default by privilege
  bool udpScan = false;             // -sU
  bool pingOnly = false;            // -sn
  bool noPing = false;              // -Pn
  bool disableArpPing = false;      // --disable-arp-ping / --send-ip: IP probes on the local net
  bool sendIp = false;              // --send-ip: the raw IP socket only, no Ethernet frames
  bool sendEth = false;             // --send-eth: frames where possible (the default anyway)
  std::string zombie;               // -sI
  bool portsGiven = false;
  PortLists ports;
  size_t topPorts = 0;      // --top-ports / -F; 0 = default 1000
  bool sequential = false;  // -r
  bool noResolve = false;   // -n
  bool ipv6 = false;        // -6
  int verbose = 0;
  bool progress = false;
  TimingParams timing;
  std::string outNormal, outXml, outGrepable, outJson;
  std::string outAll;  // -oA BASENAME: the first three, named BASENAME.nmap, .xml, .gnmap
  std::vector<std::string> targetSpecs;
  std::string inputList;
  // Evasion.
  std::vector<std::string> decoys;     // raw -D items: ME, RND:n, addresses
  std::string spoofSource;             // -S
  std::string iface;                   // -e
  std::optional<uint16_t> sourcePort;  // -g / --source-port
  size_t fragmentSize = 0;             // -f (8, -ff 16) or --mtu N
  int ttl = 64;
  size_t dataLength = 0;
  std::string commandLine;
};

enum class ParseResult { kOk, kExitSuccess, kError };

/// Parses argv. On kError `error` holds one line for stderr (exit status 2).
ParseResult parseCommandLine(int argc, char** argv, Options& opts, std::string& error);

/// nmap time specs: "250ms", "2s", "5m", "1h", bare numbers are seconds. -1 on error.
int64_t parseTimeSpecMs(const std::string& text);

}  // namespace portcullis::scan
