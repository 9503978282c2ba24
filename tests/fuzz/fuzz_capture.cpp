// libFuzzer target: hostile capture files (pcap, pcapng) through `portcullis replay`'s reading
// path: PcapSource::openFile, CaptureReplayer, MemoryTable and the engine, wired as cli.cpp's
// runReplay wires them, with alerts formatted but never printed.
//
// Input: the capture file itself. Its last byte also picks options (it is usually a byte of the
// last frame, so a mutation of it still tests the same file):
//   bit 0: JSON alerts    bit 1: --save-ports    bit 2: a 2-slot table (else 256 slots)
//   bit 3: watch only 198.18.0.1 and 2001:db8::1 (else every destination)
#include <cstddef>
#include <cstdint>
#include <string>

#include "report/alert.h"
#include "detect/engine.h"
#include "mem_file.h"
#include "datapath/memory_table.h"
#include "datapath/net_util.h"
#include "datapath/pcap_source.h"
#include "datapath/replayer.h"
#include "detect/rules.h"

namespace {

constexpr uint64_t kMaxFrames = 4096;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace portcullis;
  static fuzz::MemFile file("fuzz_capture");
  file.assign(data, size);

  std::string error;
  auto src = PcapSource::openFile(file.path(), error);
  if (!src) return 0;
  if (!MemoryTable::supportsLinkType(src->linkType())) return 0;

  const uint8_t opts = size ? data[size - 1] : 0;
  const bool savePorts = opts & 0x02;
  RuleConfig rules;
  AlertSink sink(opts & 0x01, nullptr, nullptr);
  Engine engine(rules, sink, savePorts);
  MemoryTable table("replay", (opts & 0x04) ? 2 : 256, rules, savePorts);
  if (opts & 0x08) {
    table.setWatchedDestinations({*parsePrefix("198.18.0.1"), *parsePrefix("2001:db8::1")});
  }
  engine.addTable(&table);

  CaptureReplayer replayer(table, engine, 0, uint64_t(rules.pollMs) * 1000);
  CapturedFrame f;
  uint64_t frames = 0;
  while (frames++ < kMaxFrames && src->next(f) == ReadResult::Frame) {
    // libpcap's buffer is larger than the frame: an exact copy lets ASan see reads past caplen.
    auto* frame = new uint8_t[f.caplen];
    __builtin_memcpy(frame, f.data, f.caplen);
    replayer.frame(frame, f.caplen, src->linkType(), f.tsMicros);
    delete[] frame;
  }
  replayer.finish();
  engine.writeSummary();
  (void)engine.summaryJson();
  return 0;
}
