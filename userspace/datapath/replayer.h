#pragma once

#include <cstddef>
#include <cstdint>

#include "detect/engine.h"
#include "datapath/memory_table.h"

namespace portcullis {

/// Feeds captured frames to a MemoryTable and polls the engine every `pollUs` of capture time,
/// so a replay is exact and repeatable whatever the machine's speed.
class CaptureReplayer {
 public:
  CaptureReplayer(MemoryTable& table, Engine& engine, size_t tableIndex, uint64_t pollUs)
      : table_(table), engine_(engine), index_(tableIndex), pollUs_(pollUs) {}

  void frame(const uint8_t* data, size_t len, int linkType, uint64_t tsMicros);
  /// Polls once more at the last frame's time, then flushes the engine (end of input).
  void finish();

 private:
  MemoryTable& table_;
  Engine& engine_;
  size_t index_;
  uint64_t pollUs_;
  uint64_t nextPoll_ = 0;
  uint64_t last_ = 0;
};

}  // namespace portcullis
