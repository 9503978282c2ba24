#include "manual.h"

namespace portcullis::scan {

docs::ManPage scannerManual() {
  docs::ManPage m;
  m.name = "portcullis-scan";
  m.section = "1";
  m.summary = "a raw-socket port scanner with nmap's flags";
  m.synopsis = {"portcullis-scan [SCAN TYPE]... [OPTIONS] TARGET..."};
  m.description = {
      "portcullis-scan sends nmap's probes (SYN, connect, NULL, FIN, Xmas, Maimon, ACK, Window, "
      "UDP, ping and idle scans) and reports nmap's port states (open, closed, filtered, "
      "unfiltered, open|filtered) in nmap's normal, XML, grepable and JSON formats. Probes are "
      "matched to answers by a keyed cookie, so the scanner keeps no per-probe state.",
      "Targets are addresses, names, CIDR prefixes and ranges (192.0.2.1-20). Raw scans need "
      "CAP_NET_RAW; without it the default is a connect scan.",
      "Scan only hosts you are allowed to scan."};
  m.sections = {{"EXIT STATUS",
                 "0 when the scan ran; 1 when it could not (no raw socket, no route); 2 on "
                 "bad options or targets, with one line naming them."},
                {"EXAMPLES",
                 "A SYN scan of the first thousand ports of a lab host:\n"
                 "  portcullis-scan -sS -p1-1000 198.18.0.1\n"
                 "\n"
                 "Every port, fast timing, XML for ndiff:\n"
                 "  portcullis-scan -sS -p- -T5 -oX scan.xml 198.18.0.1"},
                {"SEE ALSO", "portcullis(8), nmap(1)"}};
  return m;
}

}  // namespace portcullis::scan
