// `portcullis replay` as a user runs it, on capture files this test writes itself.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "support/scan_traffic.h"

namespace portcullis {
namespace {

using testing::ScanSpec;
using testing::TimedFrame;
namespace fs = std::filesystem;

constexpr uint64_t kStart = 1'700'000'000'000'000ull;

struct Result {
  int status = -1;
  std::vector<nlohmann::json> events;
  std::string stderrText;
};

class Replay : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pc-replay-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::vector<TimedFrame>& frames) {
    std::string path = (dir_ / name).string();
    EXPECT_TRUE(testing::writePcap(path, frames));
    return path;
  }

  Result replay(const std::string& args) {
    std::string err = (dir_ / "stderr").string();
    std::string cmd = std::string(PORTCULLIS_BIN) + " replay --json " + args + " 2>" + err;
    Result r;
    FILE* p = popen(cmd.c_str(), "r");
    char line[8192];
    while (p && fgets(line, sizeof(line), p)) {
      r.events.push_back(nlohmann::json::parse(line, nullptr, false));
    }
    int st = p ? pclose(p) : -1;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    std::ifstream in(err);
    r.stderrText.assign(std::istreambuf_iterator<char>(in), {});
    return r;
  }

  static std::vector<nlohmann::json> alerts(const Result& r) {
    std::vector<nlohmann::json> out;
    for (const auto& e : r.events) {
      if (e.is_object() && e.value("event", "") == "alert") out.push_back(e);
    }
    return out;
  }

  fs::path dir_;
};

class ReplayScan : public Replay,
                   public ::testing::WithParamInterface<std::pair<const char*, const char*>> {};

TEST_P(ReplayScan, EachScanTypeAlertsWithItsScanAndSource) {
  auto [type, expected] = GetParam();
  ScanSpec s{type, "198.18.0.66", "198.18.0.1", testing::portRange(1, 300), {22, 80, 443},
             kStart, 2000};
  Result r = replay(write(std::string(type) + ".pcap", testing::scanTraffic(s)));
  ASSERT_EQ(r.status, 0) << r.stderrText;
  auto found = alerts(r);
  ASSERT_FALSE(found.empty());
  for (const auto& a : found) {
    EXPECT_EQ(a["src"], "198.18.0.66");
    EXPECT_EQ(a["scan"], expected) << a.dump();
    for (const char* key : {"ts", "event", "rule", "scan", "src", "sources", "shape", "dsts",
                            "ports", "score", "action"}) {
      EXPECT_TRUE(a.contains(key)) << key;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Scans, ReplayScan,
    ::testing::ValuesIn(testing::kScanTypes),
    [](const auto& param) { return std::string(param.param.first); });

TEST_F(Replay, BenignTrafficRaisesNoAlert) {
  auto frames = testing::benignConnections("198.18.0.3", "198.18.0.1", 2000, kStart, 2000);
  ScanSpec oneClosed{"connect", "198.18.0.4", "198.18.0.1", {8080}, {}, kStart + 500};
  auto more = testing::scanTraffic(oneClosed);
  frames.insert(frames.end(), more.begin(), more.end());
  std::sort(frames.begin(), frames.end(),
            [](const TimedFrame& a, const TimedFrame& b) { return a.tsMicros < b.tsMicros; });
  Result r = replay(write("benign.pcap", frames));
  ASSERT_EQ(r.status, 0) << r.stderrText;
  EXPECT_TRUE(alerts(r).empty()) << alerts(r)[0].dump();
}

TEST_F(Replay, IsRepeatable) {
  ScanSpec s{"syn", "198.18.0.66", "198.18.0.1", testing::portRange(1, 500), {80}, kStart, 700};
  std::string path = write("syn.pcap", testing::scanTraffic(s));
  Result a = replay(path), b = replay(path);
  ASSERT_EQ(a.status, 0);
  ASSERT_EQ(a.events.size(), b.events.size());
  for (size_t i = 0; i < a.events.size(); ++i) EXPECT_EQ(a.events[i], b.events[i]);
}

TEST_F(Replay, SavePortsListsEveryProbedPort) {
  ScanSpec s{"syn", "198.18.0.66", "198.18.0.1", testing::portRange(1000, 1099), {}, kStart};
  Result r = replay(write("ports.pcap", testing::scanTraffic(s)) + " --save-ports");
  ASSERT_EQ(r.status, 0);
  bool seen = false;
  for (const auto& e : r.events) {
    if (e.value("event", "") == "summary" && e["src"] == "198.18.0.66") {
      seen = true;
      EXPECT_EQ(e["ports"].size(), 100u);
      EXPECT_EQ(e["kinds"]["syn"], 100);
    }
  }
  EXPECT_TRUE(seen);
}

TEST_F(Replay, DstIpNarrowsTheWatchedDestinations) {
  ScanSpec s{"syn", "198.18.0.66", "198.18.0.1", testing::portRange(1, 300), {}, kStart};
  std::string path = write("syn.pcap", testing::scanTraffic(s));
  EXPECT_TRUE(alerts(replay(path + " --dst-ip 198.18.0.99")).empty());
  EXPECT_FALSE(alerts(replay(path + " --dst-ip 198.18.0.1")).empty());
}

TEST_F(Replay, MissingTruncatedOrNonCaptureFilesExitWithStatus2) {
  ScanSpec s{"syn", "198.18.0.66", "198.18.0.1", testing::portRange(1, 50), {}, kStart};
  std::string good = write("good.pcap", testing::scanTraffic(s));
  auto size = fs::file_size(good);
  std::string truncated = (dir_ / "truncated.pcap").string();
  fs::copy_file(good, truncated);
  fs::resize_file(truncated, size - 30);
  std::string text = (dir_ / "notes.txt").string();
  std::ofstream(text) << "this is not a capture\n";
  for (const std::string& path : {(dir_ / "missing.pcap").string(), truncated, text}) {
    Result r = replay(path);
    EXPECT_EQ(r.status, 2) << path;
    EXPECT_EQ(std::count(r.stderrText.begin(), r.stderrText.end(), '\n'), 1) << r.stderrText;
    EXPECT_NE(r.stderrText.find("portcullis:"), std::string::npos);
  }
}

TEST_F(Replay, ConfigFileSetsTheRules) {
  ScanSpec s{"syn", "198.18.0.66", "198.18.0.1", {8001, 8002, 8003}, {}, kStart, 2'000'000};
  std::string path = write("slow.pcap", testing::scanTraffic(s));
  auto rateAlerts = [&](const Result& r) {
    size_t n = 0;
    for (const auto& a : alerts(r)) n += a["rule"] == "rate";
    return n;
  };
  EXPECT_EQ(rateAlerts(replay(path)), 0u);
  std::ofstream((dir_ / "rules.toml").string()) << "rate-ports = 2\n";
  EXPECT_EQ(rateAlerts(replay(path + " --config " + (dir_ / "rules.toml").string())), 1u);
}

TEST_F(Replay, InvalidValuesAreRefusedWithStatus2) {
  ScanSpec s{"syn", "198.18.0.66", "198.18.0.1", {1}, {}, kStart};
  std::string path = write("one.pcap", testing::scanTraffic(s));
  std::ofstream((dir_ / "bad.toml").string()) << "score-threshold = -4\n";
  for (const std::string& args :
       {path + " --score-threshold 0", path + " --rate-window abc", path + " --slots 1000",
        path + " --no-such-flag", path + " --config " + (dir_ / "bad.toml").string(),
        path + " --config " + (dir_ / "absent.toml").string(), path + " --dst-ip 300.1.1.1"}) {
    Result r = replay(args);
    EXPECT_EQ(r.status, 2) << args;
    EXPECT_EQ(std::count(r.stderrText.begin(), r.stderrText.end(), '\n'), 1)
        << args << ": " << r.stderrText;
  }
}

}  // namespace
}  // namespace portcullis
