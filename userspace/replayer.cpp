#include "replayer.h"

#include <algorithm>

namespace portcullis {

void CaptureReplayer::frame(const uint8_t* data, size_t len, int linkType, uint64_t tsMicros) {
  if (nextPoll_ == 0) nextPoll_ = tsMicros + pollUs_;
  if (tsMicros >= nextPoll_) {
    table_.advanceTo(nextPoll_);
    engine_.poll();
    // After a gap, resume on the poll grid at the first point past this frame.
    nextPoll_ += pollUs_ * ((tsMicros - nextPoll_) / pollUs_ + 1);
  }
  table_.handleFrame(data, len, linkType, tsMicros);
  for (const pc_event& e : table_.takeEvents()) engine_.onEvent(index_, e);
  last_ = std::max(last_, tsMicros);
}

void CaptureReplayer::finish() {
  table_.advanceTo(last_);
  engine_.poll();
}

}  // namespace portcullis
