#include "pcap_writer.h"

#include <pcap/pcap.h>

#include <cstdio>

namespace portcullis::testing {

bool writePcap(const std::string& path, const std::vector<TimedFrame>& frames) {
  pcap_t* dead =
      pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_MICRO);
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

namespace {

void put32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(uint8_t(v >> (8 * i)));
}

// One block: type, total length, body (padded to 4 bytes), total length again.
void block(std::vector<uint8_t>& out, uint32_t type, const std::vector<uint8_t>& body) {
  std::vector<uint8_t> padded = body;
  padded.resize((body.size() + 3) / 4 * 4, 0);
  uint32_t total = uint32_t(12 + padded.size());
  put32(out, type);
  put32(out, total);
  out.insert(out.end(), padded.begin(), padded.end());
  put32(out, total);
}

}  // namespace

bool writePcapng(const std::string& path, const std::vector<TimedFrame>& frames) {
  std::vector<uint8_t> out, body;
  put32(body, 0x1A2B3C4D);  // byte-order magic: little endian
  put32(body, 1);           // version 1.0
  put32(body, 0xFFFFFFFF);  // section length: unknown
  put32(body, 0xFFFFFFFF);
  block(out, 0x0A0D0D0A, body);  // section header
  body.clear();
  put32(body, 1);       // link type Ethernet, reserved 0
  put32(body, 65535);   // snap length
  block(out, 1, body);  // interface description
  for (const TimedFrame& f : frames) {
    body.clear();
    put32(body, 0);  // interface 0
    put32(body, uint32_t(f.tsMicros >> 32));
    put32(body, uint32_t(f.tsMicros));
    put32(body, uint32_t(f.bytes.size()));
    put32(body, uint32_t(f.bytes.size()));
    body.insert(body.end(), f.bytes.begin(), f.bytes.end());
    block(out, 6, body);  // enhanced packet
  }
  FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) return false;
  bool ok = std::fwrite(out.data(), 1, out.size(), file) == out.size();
  return std::fclose(file) == 0 && ok;
}

}  // namespace portcullis::testing
