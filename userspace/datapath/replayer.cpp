#include "datapath/replayer.h"

#include <algorithm>

namespace portcullis {

void CaptureReplayer::frame(const uint8_t* data, size_t len, int linkType, uint64_t tsMicros) {
  if (nextPoll_ == 0) nextPoll_ = tsMicros + pollUs_;
  if (tsMicros >= nextPoll_) {
    table_.advanceTo(nextPoll_);
    engine_.poll();
    // After a gap, poll once more at the last grid point before this frame, as a live
    // controller would have done while the capture was quiet (slow-scan windows close then).
    uint64_t steps = (tsMicros - nextPoll_) / pollUs_;
    if (steps > 0) {
      table_.advanceTo(nextPoll_ + steps * pollUs_);
      engine_.poll();
    }
    nextPoll_ += pollUs_ * (steps + 1);
  }
  table_.handleFrame(data, len, linkType, tsMicros);
  for (const pc_event& e : table_.takeEvents()) engine_.onEvent(index_, e);
  last_ = std::max(last_, tsMicros);
}

void CaptureReplayer::finish() {
  table_.advanceTo(last_);
  engine_.poll();
  engine_.flush();
}

}  // namespace portcullis
