// `portcullis replay` as a user runs it, on capture files this test writes itself.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <set>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "support/pcap_writer.h"
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
    dir_ = fs::temp_directory_path() /
           ("pc-replay-" + std::to_string(getpid()) + "-" +
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

  /// One event per rule that fired in an incident: the incident's `alert` or `update` where the
  /// rule is first named, with "rule" set to it.
  static std::vector<nlohmann::json> alerts(const Result& r) {
    std::vector<nlohmann::json> out;
    std::set<std::pair<uint64_t, std::string>> named;
    for (const auto& e : r.events) {
      std::string event = e.is_object() ? e.value("event", "") : "";
      if (event != "alert" && event != "update") continue;
      for (const auto& rule : e.value("rules", nlohmann::json::array())) {
        if (!named.insert({e.value("id", uint64_t(0)), rule.get<std::string>()}).second) continue;
        nlohmann::json one = e;
        one["rule"] = rule;
        out.push_back(one);
      }
    }
    return out;
  }

  fs::path dir_;
};

class ReplayScan : public Replay,
                   public ::testing::WithParamInterface<std::pair<const char*, const char*>> {};

TEST_P(ReplayScan, EachScanTypeAlertsWithItsScanAndSource) {
  auto [type, expected] = GetParam();
  ScanSpec s{type,          "198.18.0.66", "198.18.0.1", testing::portRange(1, 300),
             {22, 80, 443}, kStart,        2000};
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

INSTANTIATE_TEST_SUITE_P(Scans, ReplayScan, ::testing::ValuesIn(testing::kScanTypes),
                         [](const auto& param) { return std::string(param.param.first); });

TEST_F(Replay, BenignTrafficRaisesNoAlert) {
  auto frames = testing::benignConnections("198.18.0.3", "198.18.0.1", 2000, kStart, 2000);
  ScanSpec oneClosed{"connect", "198.18.0.4", "198.18.0.1", {8080}, {}, kStart + 500};
  // The control in the same capture: a scanner among the clients is reported.
  ScanSpec control{"syn", "198.18.0.9", "198.18.0.1", testing::portRange(1, 100), {}, kStart + 900};
  frames = testing::merge({frames, testing::scanTraffic(oneClosed), testing::scanTraffic(control)});
  Result r = replay(write("benign.pcap", frames));
  ASSERT_EQ(r.status, 0) << r.stderrText;
  ASSERT_FALSE(alerts(r).empty()) << "control: the scanner was not reported";
  for (const auto& a : alerts(r)) EXPECT_EQ(a["src"], "198.18.0.9") << a.dump();
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
  // CIDR prefixes: the network a gateway protects.
  EXPECT_FALSE(alerts(replay(path + " --dst-ip 198.18.0.0/24")).empty());
  EXPECT_FALSE(alerts(replay(path + " --dst-ip 198.18.0.0/15 --dst-ip 2001:db8::/32")).empty());
  EXPECT_TRUE(alerts(replay(path + " --dst-ip 198.18.1.0/24")).empty());
  Result bad = replay(path + " --dst-ip 198.18.0.0/33");
  EXPECT_EQ(bad.status, 2);
  EXPECT_EQ(std::count(bad.stderrText.begin(), bad.stderrText.end(), '\n'), 1) << bad.stderrText;
  Result lengths = replay(path + " --dst-ip 10.0.0.0/8 --dst-ip 10.0.0.0/9 --dst-ip 10.0.0.0/10 " +
                          "--dst-ip 10.0.0.0/11 --dst-ip 10.0.0.0/12");
  EXPECT_EQ(lengths.status, 2) << "five prefix lengths are more than the filter holds";
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

TEST_F(Replay, ConfigFileErrorsNameTheFileLineAndKey) {
  ScanSpec s{"syn", "198.18.0.66", "198.18.0.1", {8001, 8002, 8003}, {}, kStart, 2'000'000};
  std::string path = write("slow.pcap", testing::scanTraffic(s));
  struct Case {
    std::string toml, expected;
  };
  const std::vector<Case> cases = {
      {"rate-ports = 2\nrate-portz = 3\n", ":2: rate-portz: no such option of replay"},
      {"\n\nrate-ports = 0\n", ":3: --rate-ports: Value 0 not in range"},
      {"json = 3\n", ":1: json: takes true or false"},
      {"rate-ports = [1,\n", ":1: Error while parsing array"},  // toml++ says where
      {"[rate]\nports = 2\n", ":1: rate: a table here"},
  };
  std::string config = (dir_ / "bad.toml").string();
  for (const Case& c : cases) {
    std::ofstream(config) << c.toml;
    Result r = replay(path + " --config " + config);
    EXPECT_EQ(r.status, 2) << c.toml;
    EXPECT_EQ(std::count(r.stderrText.begin(), r.stderrText.end(), '\n'), 1) << r.stderrText;
    EXPECT_NE(r.stderrText.find("portcullis: config " + config + c.expected), std::string::npos)
        << c.toml << " gave: " << r.stderrText;
  }
}

// Bad input gets one clear line and exit status 2, before anything is attached or read.
TEST_F(Replay, BadInputIsOneLineAndExitStatusTwo) {
  std::string notPcap = (dir_ / "not.pcap").string();
  std::ofstream(notPcap) << "this is not a capture\n";
  struct Case {
    std::string args, expected;
  };
  const std::vector<Case> cases = {
      {"watch -i pc-nosuchif0", "no such interface: pc-nosuchif0"},
      {"watch -i lo -i pc-nosuchif1", "no such interface: pc-nosuchif1"},
      // The URL is checked with the other arguments: before the interfaces, so before any
      // attach (the interface here does not exist either: nothing could attach if it came later).
      {"watch -i pc-nosuchif2 --fleet redis://198.18.0.1:notaport", "redis://198.18.0.1:notaport"},
      {"replay " + (dir_ / "missing.pcap").string(), "missing.pcap: No such file or directory"},
      {"replay " + notPcap, "not.pcap: "},
      {"replay --rate-ports 0 " + notPcap, "--rate-ports: Value 0 not in range"},
  };
  std::string err = (dir_ / "stderr").string();
  for (const Case& c : cases) {
    int st =
        std::system((std::string(PORTCULLIS_BIN) + " " + c.args + " >/dev/null 2>" + err).c_str());
    std::ifstream in(err);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 2) << c.args << ": " << text;
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << c.args << ": " << text;
    EXPECT_NE(text.find(c.expected), std::string::npos) << c.args << ": " << text;
  }
}

TEST_F(Replay, ConfigFileTakesMultiLineArraysAndTheCommandLineOverridesIt) {
  ScanSpec s{"syn", "198.18.0.66", "198.18.0.1", {8001, 8002, 8003}, {}, kStart, 2'000'000};
  std::string path = write("slow.pcap", testing::scanTraffic(s));
  std::string config = (dir_ / "rules.toml").string();
  std::ofstream(config) << "rate-ports = 2\n"
                        << "rules = [\n  \"rate\",  # the rate rule only\n  \"anomaly\",\n]\n"
                        << "allow = [\"198.18.0.0/24\"]  # a watch key: replay leaves it\n"
                        << "[watch]\nmode = \"pcap\"\n";
  auto rules = [&](const Result& r) {
    std::set<std::string> out;
    for (const auto& a : alerts(r)) out.insert(a["rule"]);
    return out;
  };
  Result fromFile = replay(path + " --config " + config);
  ASSERT_EQ(fromFile.status, 0) << fromFile.stderrText;
  EXPECT_EQ(rules(fromFile), std::set<std::string>{"rate"});
  Result overridden = replay(path + " --config " + config + " --rate-ports 5");
  ASSERT_EQ(overridden.status, 0) << overridden.stderrText;
  EXPECT_TRUE(rules(overridden).empty()) << "three ports are not more than five";
}

TEST_F(Replay, ProfilesSetTheirToolsNumbersAndExplicitOptionsWin) {
  ScanSpec s{"syn", "198.18.0.78", "198.18.0.1", testing::portRange(1, 30), {}, kStart, 1000};
  std::string path = write("profile.pcap", testing::scanTraffic(s));
  auto rules = [&](const std::string& args) {
    Result r = replay(path + " " + args);
    EXPECT_EQ(r.status, 0) << args << ": " << r.stderrText;
    std::set<std::string> out;
    for (const auto& a : alerts(r)) out.insert(a["rule"]);
    return out;
  };
  // snort-low: negative answers counted by rate; no score rule. zeek: shapes, no rate rule.
  auto snort = rules("--profile snort-low");
  EXPECT_TRUE(snort.count("rate") && !snort.count("score")) << *snort.begin();
  auto zeek = rules("--profile zeek");
  EXPECT_TRUE(zeek.count("shape") && !zeek.count("rate"));
  // An option given on the command line or in the config file wins over the profile's.
  EXPECT_TRUE(rules("--profile snort-high").count("rate")) << "control";
  EXPECT_FALSE(rules("--profile snort-high --rate-ports 99").count("rate"));
  std::string config = (dir_ / "p.toml").string();
  std::ofstream(config) << "profile = \"snort-high\"\nrate-ports = 99\n";
  EXPECT_FALSE(rules("--config " + config).count("rate"));
  Result unknown = replay(path + " --profile nessus");
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.stderrText.find("--profile"), std::string::npos) << unknown.stderrText;
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

TEST_F(Replay, PcapngCapturesGiveTheSameAlertsAsPcap) {
  ScanSpec s{"syn", "198.18.0.66", "198.18.0.1", testing::portRange(1, 300), {80}, kStart};
  auto frames = testing::scanTraffic(s);
  std::string ng = (dir_ / "syn.pcapng").string();
  ASSERT_TRUE(testing::writePcapng(ng, frames));
  Result pcap = replay(write("syn.pcap", frames)), pcapng = replay(ng);
  ASSERT_EQ(pcapng.status, 0) << pcapng.stderrText;
  ASSERT_FALSE(alerts(pcap).empty());
  EXPECT_EQ(alerts(pcapng), alerts(pcap));
}

TEST_F(Replay, AlertsFileGetsEveryAlertAndLogFileTheSourceReport) {
  ScanSpec s{"syn", "198.18.0.66", "198.18.0.1", testing::portRange(1, 300), {80}, kStart};
  std::string path = write("syn.pcap", testing::scanTraffic(s));
  std::string alertsFile = (dir_ / "alerts.jsonl").string(), log = (dir_ / "report.json").string();
  Result r = replay(path + " --alerts " + alertsFile + " --log-file " + log);
  ASSERT_EQ(r.status, 0) << r.stderrText;
  auto incidentEvents = [](const std::vector<nlohmann::json>& events) {
    std::vector<nlohmann::json> out;
    for (const auto& e : events) {
      std::string type = e.is_object() ? e.value("event", "") : "";
      if (type == "alert" || type == "update" || type == "end") out.push_back(e);
    }
    return out;
  };
  std::vector<nlohmann::json> appended;
  std::ifstream in(alertsFile);
  for (std::string line; std::getline(in, line);) {
    appended.push_back(nlohmann::json::parse(line, nullptr, false));
  }
  ASSERT_FALSE(alerts(r).empty());
  EXPECT_EQ(incidentEvents(appended), incidentEvents(r.events));
  std::ifstream reportIn(log);
  auto report = nlohmann::json::parse(reportIn, nullptr, false);
  ASSERT_TRUE(report.is_object()) << "the log file is not one JSON document";
  ASSERT_TRUE(report.contains("sources"));
  bool named = false;
  for (const auto& src : report["sources"]) named |= src.value("src", "") == "198.18.0.66";
  EXPECT_TRUE(named) << report.dump();
  // A path that cannot be written is refused before any work: one line, status 2.
  Result bad = replay(path + " --log-file " + (dir_ / "missing-dir" / "r.json").string());
  EXPECT_EQ(bad.status, 2);
  EXPECT_EQ(std::count(bad.stderrText.begin(), bad.stderrText.end(), '\n'), 1) << bad.stderrText;
}

// Rewrites the probes of `src` (IPv4, no options): TTL, IP ID and TCP window as a tool sends them.
void markProbes(std::vector<TimedFrame>& frames, const std::string& src, uint8_t ttl, uint16_t ipId,
                uint16_t window) {
  for (TimedFrame& f : frames) {
    auto& b = f.bytes;
    std::string from = std::to_string(b[26]) + "." + std::to_string(b[27]) + "." +
                       std::to_string(b[28]) + "." + std::to_string(b[29]);
    if (from != src || b[23] != 6) continue;
    b[22] = ttl;
    b[18] = uint8_t(ipId >> 8);
    b[19] = uint8_t(ipId);
    b[14 + 20 + 14] = uint8_t(window >> 8);
    b[14 + 20 + 15] = uint8_t(window);
  }
}

// Suricata's eve.json alert shape, so the tools that read Suricata read portcullis: every
// incident alert and update is one EVE alert, and nothing else is.
TEST_F(Replay, EveFileCarriesSuricataAlertFields) {
  ScanSpec tcp{"syn", "198.18.0.66", "198.18.0.1", testing::portRange(1, 300), {80}, kStart};
  ScanSpec udp{"udp", "198.18.0.67", "198.18.0.5", testing::portRange(1, 100), {}, kStart + 17};
  std::string path =
      write("eve.pcap", testing::merge({testing::scanTraffic(tcp), testing::scanTraffic(udp)}));
  std::string eve = (dir_ / "eve.json").string();
  Result r = replay(path + " --eve " + eve);
  ASSERT_EQ(r.status, 0) << r.stderrText;
  size_t incidentEvents = 0;
  for (const auto& e : r.events) {
    std::string type = e.is_object() ? e.value("event", "") : "";
    incidentEvents += type == "alert" || type == "update";
  }
  std::ifstream in(eve);
  std::map<std::string, nlohmann::json> bySource;
  size_t lines = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    auto e = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(e.is_object()) << line;
    EXPECT_EQ(e.value("event_type", ""), "alert");
    EXPECT_EQ(e.value("timestamp", "").size(),
              std::string("2023-11-14T22:13:20.100000+0000").size())
        << line;
    ASSERT_TRUE(e.contains("alert")) << line;
    for (const char* key : {"signature", "signature_id", "category", "severity", "action"}) {
      EXPECT_TRUE(e["alert"].contains(key)) << key << ": " << line;
    }
    EXPECT_GE(e["alert"].value("signature_id", 0u), 9'100'000u);
    bySource[e.value("src_ip", "")] = e;
  }
  EXPECT_EQ(lines, incidentEvents) << "one EVE alert per incident alert or update";
  ASSERT_TRUE(bySource.count("198.18.0.66") && bySource.count("198.18.0.67")) << lines;
  EXPECT_EQ(bySource["198.18.0.66"]["dest_ip"], "198.18.0.1");
  EXPECT_EQ(bySource["198.18.0.66"]["proto"], "TCP");
  EXPECT_EQ(bySource["198.18.0.67"]["dest_ip"], "198.18.0.5");
  EXPECT_EQ(bySource["198.18.0.67"]["proto"], "UDP");
  EXPECT_EQ(bySource["198.18.0.66"]["alert"]["category"], "Attempted Information Leak");
  EXPECT_NE(bySource["198.18.0.66"]["alert"]["signature_id"],
            bySource["198.18.0.67"]["alert"]["signature_id"])
      << "a syn scan and a udp scan are different signatures";
}

TEST_F(Replay, MasscanAndZmapProbesTagTheirAlerts) {
  ScanSpec masscan{"syn", "198.18.0.70", "198.18.0.1", testing::portRange(1, 200), {}, kStart};
  ScanSpec zmap{"syn", "198.18.0.71", "198.18.0.1", testing::portRange(1, 200), {}, kStart + 7};
  ScanSpec plain{"syn", "198.18.0.72", "198.18.0.1", testing::portRange(1, 200), {}, kStart + 13};
  auto frames = testing::merge(
      {testing::scanTraffic(masscan), testing::scanTraffic(zmap), testing::scanTraffic(plain)});
  markProbes(frames, "198.18.0.70", 255, 1234, 1024);   // masscan: window 1024, TTL 255
  markProbes(frames, "198.18.0.71", 64, 54321, 65535);  // zmap: IP ID 54321
  markProbes(frames, "198.18.0.72", 64, 1234, 29200);   // the control: a stack's SYN
  Result r = replay(write("tools.pcap", frames));
  ASSERT_EQ(r.status, 0) << r.stderrText;
  std::map<std::string, std::set<std::string>> tags;
  for (const auto& a : alerts(r)) {
    for (const auto& t : a.value("tags", nlohmann::json::array())) tags[a["src"]].insert(t);
    tags[a["src"]];  // an alert without tags still names its source
  }
  ASSERT_EQ(tags.size(), 3u) << "each of the three sources alerts";
  EXPECT_TRUE(tags["198.18.0.70"].count("masscan"));
  EXPECT_TRUE(tags["198.18.0.71"].count("zmap"));
  EXPECT_FALSE(tags["198.18.0.72"].count("masscan") || tags["198.18.0.72"].count("zmap"));
  EXPECT_FALSE(tags["198.18.0.70"].count("zmap"));
  EXPECT_FALSE(tags["198.18.0.71"].count("masscan"));
}

TEST_F(Replay, SlowRuleCountsHalfOpenAndFinTargets) {
  // One probe every 5 s, under the score and rate rules: the slow rule's counters decide.
  // N_hc: SYNs to open ports whose SYN-ACKs the source never answers; the first two are seen in
  // the admission tier (the third target promotes), so the slot counts four. N_fin: FIN probes,
  // illegal, so the first one promotes and all six count.
  ScanSpec halfOpen{
      "syn",  "198.18.0.80", "198.18.0.1", {21, 22, 25, 80, 443, 8080}, {21, 22, 25, 80, 443, 8080},
      kStart, 5'000'000};
  halfOpen.reacts = false;
  ScanSpec fin{"fin", "198.18.0.81", "198.18.0.1", {1001, 1002, 1003, 1004, 1005, 1006},
               {},    kStart + 1000, 5'000'000};
  ScanSpec client{"connect", "198.18.0.82", "198.18.0.1", {80}, {80}, kStart + 2000, 5'000'000};
  Result r = replay(
      write("slow.pcap", testing::merge({testing::scanTraffic(halfOpen), testing::scanTraffic(fin),
                                         testing::scanTraffic(client)})));
  ASSERT_EQ(r.status, 0) << r.stderrText;
  std::map<std::string, nlohmann::json> slow;
  for (const auto& a : alerts(r)) {
    if (a["rule"] == "slow") slow[a["src"]] = a;
    EXPECT_NE(a["src"], "198.18.0.82") << "the client's one connection: " << a.dump();
  }
  ASSERT_TRUE(slow.count("198.18.0.80")) << r.events.size() << " events";
  EXPECT_EQ(slow["198.18.0.80"]["scan"], "syn");
  EXPECT_NE(slow["198.18.0.80"].value("detail", "").find("N_closed=0 N_hc=4"), std::string::npos)
      << slow["198.18.0.80"].dump();
  ASSERT_TRUE(slow.count("198.18.0.81"));
  EXPECT_EQ(slow["198.18.0.81"]["scan"], "fin");
  EXPECT_NE(slow["198.18.0.81"].value("detail", "").find("N_fin=6"), std::string::npos)
      << slow["198.18.0.81"].dump();
}

}  // namespace
}  // namespace portcullis
