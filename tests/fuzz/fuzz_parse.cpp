// libFuzzer target: hostile frames through the pcap backend's per-packet path (the shared parser
// pc_parse_frame / pc_parse_l3, slot choice, pc_source_update, anomaly events), for every link
// type MemoryTable reads, with the engine polling the table as a replay does.
//
// Input: one options byte, then frames.
//   byte 0, bits 0-2: link type, in kLinkTypes' order
//           bit 3: --save-ports (an event per probed port)
//           bit 4: JSON alerts (else text)
//           bit 5: a 2-slot table (every new source fights for the same pair), else 64 slots
//           bit 6: watch only 198.18.0.1 and 2001:db8::1 (else every destination)
//           bit 7: allowlist 198.18.1.0/24 and 2001:db8::/112
//   then records: [gap since the previous frame: 1 byte][length: 2 bytes, big-endian][frame]
//   The gap is 0-199 ms for 0-199, and (g - 199) * 10 s for 200-255 (up to 560 s), so windows of
//   every rule (300 ms score windows up to minutes of slow-scan windows and idle timeouts) end.
//   A record whose length runs past the end takes what is left, so a bare frame after a 3-byte
//   record header is a valid input.
#include <pcap/dlt.h>

#include <cstddef>
#include <cstdint>

#include "report/alert.h"
#include "detect/engine.h"
#include "datapath/memory_table.h"
#include "datapath/net_util.h"
#include "datapath/replayer.h"
#include "detect/rules.h"

namespace {

constexpr int kDltLinuxSll2 = 276;  // not in every libpcap's dlt.h
constexpr int kLinkTypes[8] = {DLT_EN10MB, DLT_LINUX_SLL, kDltLinuxSll2, DLT_RAW,
                               DLT_NULL,   DLT_LOOP,      DLT_IPV4,      DLT_IPV6};
constexpr uint64_t kStartMicros = 1'700'000'000'000'000ull;
constexpr size_t kMaxFrames = 256;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace portcullis;
  if (size < 1) return -1;  // -1: not added to the corpus
  const uint8_t opts = data[0];
  const int linkType = kLinkTypes[opts & 7];
  const bool savePorts = opts & 0x08;

  RuleConfig rules;
  AlertSink sink(opts & 0x10, nullptr, nullptr);  // formats every alert, prints nothing
  Engine engine(rules, sink, savePorts);
  MemoryTable table("fuzz", (opts & 0x20) ? 2 : 64, rules, savePorts);
  if (opts & 0x40) {
    table.setWatchedDestinations({*parsePrefix("198.18.0.1"), *parsePrefix("2001:db8::1")});
  }
  if (opts & 0x80) {
    table.setAllowlist({*parsePrefix("198.18.1.0/24"), *parsePrefix("2001:db8::/112")});
  }
  engine.addTable(&table);
  CaptureReplayer replayer(table, engine, 0, uint64_t(rules.pollMs) * 1000);

  uint64_t now = kStartMicros;
  size_t pos = 1;
  for (size_t n = 0; pos + 3 <= size && n < kMaxFrames; ++n) {
    const uint8_t gap = data[pos];
    now += gap < 200 ? uint64_t(gap) * 1000 : uint64_t(gap - 199) * 10'000'000;
    size_t len = size_t(data[pos + 1]) << 8 | data[pos + 2];
    pos += 3;
    if (len > size - pos) len = size - pos;
    // A copy of exactly `len` bytes, so ASan catches any read past the frame's end.
    auto* frame = new uint8_t[len];
    __builtin_memcpy(frame, data + pos, len);
    replayer.frame(frame, len, linkType, now);
    delete[] frame;
    pos += len;
  }
  replayer.finish();
  engine.writeSummary();
  (void)engine.summaryJson();
  return 0;
}
