// CaptureReplayer::replay (a reader thread parsing batches ahead) against frame() by frame on the
// same capture: the same events in the same order, whatever the capture; and how a file's end,
// a cut file and --max-packets end it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "datapath/memory_table.h"
#include "datapath/pcap_source.h"
#include "datapath/replayer.h"
#include "detect/engine.h"
#include "support/busy_traffic.h"
#include "support/pcap_writer.h"
#include "support/scratch_dir.h"

namespace portcullis {
namespace {

namespace fs = std::filesystem;

struct ReplayRun {
  std::vector<std::string> events;  // each alert as JSON, in the order reported
  ReadResult end = ReadResult::End;
  std::string error;
  uint64_t progressFrames = 0;
};

// Both runs use one hash seed, so the tables place every source alike.
constexpr uint32_t kSeed = 0x5eed;

ReplayRun replayFile(const std::string& path, bool threaded, uint64_t maxFrames = 0) {
  ReplayRun run;
  std::vector<Alert> alerts;
  RuleConfig rules;
  AlertSink sink(true, nullptr, nullptr, &alerts);
  Engine engine(rules, sink, false);
  MemoryTable table("replay", PC_SOURCES_DEFAULT, rules, false, kSeed);
  engine.addTable(&table);
  CaptureReplayer replayer(table, engine, 0, uint64_t(rules.pollMs) * 1000);
  std::string error;
  auto src = PcapSource::openFile(path, error);
  EXPECT_NE(src, nullptr) << error;
  if (!src) return run;
  if (threaded) {
    run.end = replayer.replay(*src, maxFrames, run.error, [&](uint64_t frames, uint64_t, uint64_t) {
      run.progressFrames = frames;
    });
  } else {
    CapturedFrame f;
    uint64_t n = 0;
    while ((!maxFrames || n < maxFrames) && (run.end = src->next(f)) == ReadResult::Frame) {
      replayer.frame(f.data, f.caplen, src->linkType(), f.tsMicros);
      ++n;
    }
    if (run.end == ReadResult::Frame) run.end = ReadResult::End;
    if (run.end == ReadResult::Error) run.error = src->lastError();
  }
  if (run.end == ReadResult::End) replayer.finish();
  for (const Alert& a : alerts) run.events.push_back(alertToJson(a));
  return run;
}

class Replayer : public ::testing::Test {
 protected:
  testing::ScratchDir dir_{"replayer-test"};
};

TEST_F(Replayer, TheReaderThreadGivesExactlyTheEventsOfFrameByFrame) {
  for (const char* name : {"clients", "spoofed-then-scan", "tunnels"}) {
    for (uint64_t seed : {1u, 2u}) {
      SCOPED_TRACE(std::string(name) + " seed " + std::to_string(seed));
      testing::BusySpec spec = testing::scenarioSpec(name, seed);
      spec.clients = 3000;  // a few hundred thousand frames: many batches, quickly
      spec.spoofed = 4000;
      testing::BusyScenario sc = testing::busyScenario(name, spec);
      std::string path = dir_.file("busy.pcap");
      ASSERT_TRUE(testing::writePcap(path, sc.frames));
      ReplayRun byFrame = replayFile(path, false), threaded = replayFile(path, true);
      EXPECT_EQ(threaded.end, ReadResult::End);
      EXPECT_EQ(threaded.progressFrames, sc.frames.size());
      EXPECT_FALSE(byFrame.events.empty()) << "the scanners inside are the positive control";
      EXPECT_EQ(threaded.events, byFrame.events);
    }
  }
}

TEST_F(Replayer, ACutFileEndsInAnErrorAfterItsWholeFramesAndMaxFramesStopsEarly) {
  testing::BusySpec spec = testing::scenarioSpec("clients", 3);
  spec.clients = 2000;
  testing::BusyScenario sc = testing::busyScenario("clients", spec);
  std::string path = dir_.file("cut.pcap");
  ASSERT_TRUE(testing::writePcap(path, sc.frames));
  fs::resize_file(path, fs::file_size(path) - 7);
  ReplayRun byFrame = replayFile(path, false), threaded = replayFile(path, true);
  EXPECT_EQ(threaded.end, ReadResult::Error);
  EXPECT_EQ(byFrame.end, ReadResult::Error);
  EXPECT_NE(threaded.error.find("truncated"), std::string::npos) << threaded.error;
  EXPECT_EQ(threaded.progressFrames, sc.frames.size() - 1);
  EXPECT_EQ(threaded.events, byFrame.events);

  const uint64_t some = 5000;  // not a multiple of the batch size
  ReplayRun firstBy = replayFile(path, false, some), firstThreaded = replayFile(path, true, some);
  EXPECT_EQ(firstThreaded.end, ReadResult::End);
  EXPECT_EQ(firstThreaded.progressFrames, some);
  EXPECT_EQ(firstThreaded.events, firstBy.events);
}

}  // namespace
}  // namespace portcullis
