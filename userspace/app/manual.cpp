#include "app/manual.h"

namespace portcullis {

docs::ManPage detectorManual() {
  docs::ManPage m;
  m.name = "portcullis";
  m.section = "8";
  m.summary = "port-scan detection and blocking in XDP";
  m.synopsis = {"portcullis watch [-i IFACE]... [--block] [--config FILE] [OPTIONS]",
                "portcullis replay [OPTIONS] CAPTURE",
                "portcullis status | blocklist [--json] [-i IFACE]",
                "portcullis top [-i IFACE] [-d MILLISECONDS]",
                "portcullis block [--ttl SECONDS] [--force] CIDR",
                "portcullis unblock CIDR"};
  m.description = {
      "portcullis watches the packets a host receives for port scans. An XDP program classifies "
      "every packet in the NIC driver and keeps per-source evidence (distinct targets, the "
      "host's rejections seen by a TC egress program, illegal flag combinations) in kernel "
      "maps; the controller applies the rules (score, rate, trw, shape, slow, anomaly, group, and "
      "fleet with --fleet), "
      "reports alerts, and with --block drops scanners in XDP, blocks ending in the kernel on "
      "time.",
      "A source first lives in a first-packet tier, then an admission tier, and earns a full "
      "slot with its third distinct target: clients of one service and spoofed floods never "
      "push a scanner out of the table. IPv6 sources are aggregated per /64.",
      "replay runs the same per-packet code and the same rules over a pcap or pcapng capture."};
  m.sections = {
      {"SIGNALS",
       "SIGINT, SIGTERM: end the open incidents, print the summary, detach (unless --persist).\n\n"
       "SIGHUP: read the command line and the config file again without detaching: rules, "
       "allowlist, block policy; reopen --alerts, --eve and --log-file (for logrotate). Tracked "
       "sources, incidents and blocks stay. A config that does not parse is refused in one "
       "line and the running one stays."},
      {"EXIT STATUS",
       "0 on success; 1 when the detector cannot run (no such interface, the program does not "
       "load); 2 on bad input (options, config file, capture), with one line naming it."},
      {"FILES",
       "/etc/portcullis/portcullis.toml: the config file (keys are the long option names).\n\n"
       "/sys/fs/bpf/portcullis/NETNS/IFACE/: the pinned maps of a watch.\n\n"
       "/run/portcullis/: where status finds running watches."},
      {"EXAMPLES",
       "Watch eth0 and block scanners for ten minutes:\n"
       "  portcullis watch -i eth0 --block --block-ttl 600\n"
       "\n"
       "Run the rules over a capture, one JSON object per alert:\n"
       "  portcullis replay --json capture.pcapng\n"
       "\n"
       "Block a prefix for an hour on every watched interface:\n"
       "  portcullis block 203.0.113.0/24 --ttl 3600"},
      {"SEE ALSO", "portcullis-scan(1), nmap(1), xdp-loader(8)"}};
  return m;
}

}  // namespace portcullis
