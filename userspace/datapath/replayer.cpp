#include "datapath/replayer.h"

#include <algorithm>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <array>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>
#include <type_traits>

namespace portcullis {

void CaptureReplayer::frame(const uint8_t* data, size_t len, int linkType, uint64_t tsMicros) {
  MemoryTable::ParsedFrame f;
  table_.parseFrame(data, len, linkType, tsMicros, f);
  apply(f);
}

void CaptureReplayer::apply(const MemoryTable::ParsedFrame& f) {
  const uint64_t tsMicros = f.tsMicros;
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
  table_.applyFrame(f);
  if (table_.hasEvents()) {
    for (const pc_event& e : table_.takeEvents()) engine_.onEvent(index_, e);
  }
  last_ = std::max(last_, tsMicros);
}

namespace {

// Reading and parsing are about half of a replay's instructions per frame, and need nothing the
// rules write: the reader thread does them a batch at a time, four batches in flight, and
// hands each over whole (one lock per 1,024 frames).
constexpr size_t kBatchFrames = 1024;
constexpr size_t kBatches = 4;

// A parsed frame goes into its batch with non-temporal stores: a batch's lines were last read by
// the applying thread's CPU, and plain stores would fetch each one back from there before
// writing it (measured: the reading thread ran 60 % slower beside the applier than alone, and
// the two threads together no faster than one). Streamed, the lines go to memory, and the
// applier reads them from there in order.
static_assert(std::is_trivially_copyable_v<MemoryTable::ParsedFrame>);
static_assert(sizeof(MemoryTable::ParsedFrame) % 16 == 0, "handed over in 16-byte stores");
inline void handOver(const MemoryTable::ParsedFrame& from, MemoryTable::ParsedFrame& to) {
#if defined(__x86_64__)
  const auto* src = reinterpret_cast<const __m128i*>(&from);
  auto* dst = reinterpret_cast<__m128i*>(&to);
  for (size_t i = 0; i < sizeof from / 16; ++i) _mm_stream_si128(dst + i, _mm_loadu_si128(src + i));
#else
  to = from;
#endif
}
// Streamed stores are weakly ordered: they are all visible before the batch is published.
inline void handOverDone() {
#if defined(__x86_64__)
  _mm_sfence();
#endif
}

struct Batch {
  // Default-initialised: the reader writes each frame before it is read (no 400 KiB memset).
  std::unique_ptr<MemoryTable::ParsedFrame[]> frames{new MemoryTable::ParsedFrame[kBatchFrames]};
  size_t count = 0;
  bool last = false;  // the reader's final batch: `end` says why
  ReadResult end = ReadResult::End;
  std::string error;
  uint64_t bytesRead = 0, fileBytes = 0;
};

// Batches go round: the reader fills batch k % kBatches once the applier has given it back.
class BatchRing {
 public:
  Batch& slot(uint64_t k) { return batches_[k % kBatches]; }
  // The reader: waits until batch k's slot is free; false when the applier stopped.
  bool waitFree(uint64_t k) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return k < applied_ + kBatches || stopped_; });
    return !stopped_;
  }
  void publish(uint64_t k) {
    std::lock_guard lock(mutex_);
    filled_ = k + 1;
    changed_.notify_all();
  }
  // The applier: waits until batch k is filled.
  void waitFilled(uint64_t k) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return k < filled_; });
  }
  void release(uint64_t k) {
    std::lock_guard lock(mutex_);
    applied_ = k + 1;
    changed_.notify_all();
  }
  void stop() {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    changed_.notify_all();
  }

 private:
  std::array<Batch, kBatches> batches_;
  std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t filled_ = 0, applied_ = 0;
  bool stopped_ = false;
};

}  // namespace

ReadResult CaptureReplayer::replay(PcapSource& src, uint64_t maxFrames, std::string& error,
                                   const Progress& progress) {
  BatchRing ring;
  const int linkType = src.linkType();
  std::thread reader([&] {
    uint64_t frames = 0;
    for (uint64_t k = 0;; ++k) {
      if (!ring.waitFree(k)) return;
      Batch& b = ring.slot(k);
      b.count = 0;
      CapturedFrame f;
      ReadResult rc = ReadResult::Frame;
      while (b.count < kBatchFrames && (!maxFrames || frames < maxFrames) &&
             (rc = src.next(f)) == ReadResult::Frame) {
        MemoryTable::ParsedFrame parsed;
        table_.parseFrame(f.data, f.caplen, linkType, f.tsMicros, parsed);
        handOver(parsed, b.frames[b.count++]);
        ++frames;
      }
      b.last = rc != ReadResult::Frame || (maxFrames && frames >= maxFrames);
      b.end = rc == ReadResult::Error ? ReadResult::Error : ReadResult::End;
      if (rc == ReadResult::Error) b.error = src.lastError();
      std::tie(b.bytesRead, b.fileBytes) = src.fileProgress();
      handOverDone();
      ring.publish(k);
      if (b.last) return;
    }
  });
  struct JoinOnExit {  // the reader stops and is joined however this function leaves
    BatchRing& ring;
    std::thread& thread;
    ~JoinOnExit() {
      ring.stop();
      thread.join();
    }
  } joinOnExit{ring, reader};
  uint64_t applied = 0;
  ReadResult result = ReadResult::End;
  for (uint64_t k = 0;; ++k) {
    ring.waitFilled(k);
    const Batch& b = ring.slot(k);
    for (size_t i = 0; i < b.count; ++i) apply(b.frames[i]);
    applied += b.count;
    if (progress) progress(applied, b.bytesRead, b.fileBytes);
    const bool last = b.last;
    if (last) {
      result = b.end;
      error = b.error;
    }
    ring.release(k);
    if (last) break;
  }
  return result;
}

void CaptureReplayer::finish() {
  table_.advanceTo(last_);
  engine_.poll();
  engine_.flush();
}

}  // namespace portcullis
