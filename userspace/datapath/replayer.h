#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "detect/engine.h"
#include "datapath/memory_table.h"
#include "datapath/pcap_source.h"

namespace portcullis {

/// Feeds captured frames to a MemoryTable and polls the engine every `pollUs` of capture time,
/// so a replay is exact and repeatable whatever the machine's speed.
class CaptureReplayer {
 public:
  CaptureReplayer(MemoryTable& table, Engine& engine, size_t tableIndex, uint64_t pollUs)
      : table_(table), engine_(engine), index_(tableIndex), pollUs_(pollUs) {}

  /// One frame, parsed and applied now.
  void frame(const uint8_t* data, size_t len, int linkType, uint64_t tsMicros);

  /// Where a file's replay stands: frames applied, and the file's bytes read and size.
  using Progress = std::function<void(uint64_t frames, uint64_t bytesRead, uint64_t fileBytes)>;
  /// A whole capture, or its first `maxFrames` (0: all). A second thread reads and parses it a
  /// few batches ahead while this one applies the frames in capture order, so the tables, the
  /// engine and every alert are exactly what frame() by frame gives. Returns End, or Error with
  /// `error` set after every whole frame before it was applied. Call finish() after End.
  ReadResult replay(PcapSource& src, uint64_t maxFrames, std::string& error,
                    const Progress& progress = {});

  /// Polls once more at the last frame's time, then flushes the engine (end of input).
  void finish();

 private:
  void apply(const MemoryTable::ParsedFrame& f);

  MemoryTable& table_;
  Engine& engine_;
  size_t index_;
  uint64_t pollUs_;
  uint64_t nextPoll_ = 0;
  uint64_t last_ = 0;
};

}  // namespace portcullis
