// `portcullis replay`: the rules over a capture file, polled on capture time.
#include "app/args.h"

#include <cstdio>

#include <unistd.h>

#include "datapath/kernel_clock.h"
#include "datapath/memory_table.h"
#include "datapath/pcap_source.h"
#include "datapath/replayer.h"
#include "detect/engine.h"
#include "report/alert.h"
#include "report/log.h"

namespace portcullis {

namespace {

// A progress line on stderr for long replays, when stderr is a terminal: frames, percent of the
// file, rate and time left, rewritten in place once a second, erased at the end.
class ReplayProgress {
 public:
  ReplayProgress() : shown_(isatty(STDERR_FILENO) != 0), start_(monotonicNs()), last_(start_) {}

  void update(uint64_t frames, uint64_t at, uint64_t size) {
    if (!shown_) return;
    uint64_t now = monotonicNs();
    if (now - last_ < 1'000'000'000ull) return;
    last_ = now;
    double secs = double(now - start_) / 1e9;
    double done = size ? double(at) / double(size) : 0;
    double left = done > 0 ? secs * (1 - done) / done : 0;
    std::fprintf(stderr, "\rreplay: %llu frames, %.2f Mframes/s", (unsigned long long)frames,
                 double(frames) / secs / 1e6);
    if (size) std::fprintf(stderr, ", %.0f%% of the file, %.0f s left", 100 * done, left);
    std::fputs("   ", stderr);
    drawn_ = true;
  }
  void done() {
    if (drawn_) std::fputs("\r\033[K", stderr);
  }

 private:
  bool shown_;
  bool drawn_ = false;
  uint64_t start_, last_;
};

}  // namespace

int runReplay(ReplayArgs& args) {
  CommonArgs& a = args.common;
  std::string error;
  auto fixedDsts = explicitDestinations(a, error);
  if (!error.empty()) {
    logError("%s", error.c_str());
    return 2;
  }
  auto src = PcapSource::openFile(args.file, error);
  if (!src) {
    logError("%s", error.c_str());
    return 2;
  }
  if (!MemoryTable::supportsLinkType(src->linkType())) {
    logError("%s: unsupported link type %d", args.file.c_str(), src->linkType());
    return 2;
  }
  OutputFiles files;
  if (!openOutputs(a, files)) return 2;
  std::unique_ptr<AlertSink> sink = makeSink(a, files);
  Engine engine(a.rules, *sink, a.savePorts);
  MemoryTable table("replay", a.slots, a.rules, a.savePorts);
  if (fixedDsts) table.setWatchedDestinations(*fixedDsts);
  engine.addTable(&table);

  CaptureReplayer replayer(table, engine, 0, uint64_t(a.rules.pollMs) * 1000);
  ReplayProgress progress;
  ReadResult rc = replayer.replay(
      *src, a.maxPackets, error,
      [&](uint64_t frames, uint64_t at, uint64_t size) { progress.update(frames, at, size); });
  progress.done();
  if (rc == ReadResult::Error) {
    logError("%s: %s", args.file.c_str(), error.c_str());
    return 2;
  }
  replayer.finish();
  finishRun(engine, files);
  return 0;
}

}  // namespace portcullis
