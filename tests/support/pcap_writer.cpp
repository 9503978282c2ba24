#include "pcap_writer.h"

#include <pcap/pcap.h>

namespace portcullis::testing {

bool writePcap(const std::string& path, const std::vector<TimedFrame>& frames) {
  pcap_t* dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_MICRO);
  if (!dead) return false;
  pcap_dumper_t* out = pcap_dump_open(dead, path.c_str());
  if (!out) {
    pcap_close(dead);
    return false;
  }
  for (const TimedFrame& f : frames) {
    pcap_pkthdr h{};
    h.ts.tv_sec = time_t(f.tsMicros / 1'000'000);
    h.ts.tv_usec = suseconds_t(f.tsMicros % 1'000'000);
    h.caplen = h.len = uint32_t(f.bytes.size());
    pcap_dump(reinterpret_cast<u_char*>(out), &h, f.bytes.data());
  }
  pcap_dump_close(out);
  pcap_close(dead);
  return true;
}

}  // namespace portcullis::testing
