// `portcullis replay`'s packet rate against a bare libpcap read loop over the same file, in the
// same run. Prints a Markdown table; never asserts on time.
#include <pcap/pcap.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

#include "detect/engine.h"
#include "datapath/memory_table.h"
#include "datapath/pcap_source.h"
#include "datapath/replayer.h"
#include "support/scan_traffic.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// A capture mixing benign connections from many clients with scans: what a busy server sees.
std::vector<portcullis::testing::TimedFrame> traffic(size_t target) {
  using namespace portcullis::testing;
  std::vector<TimedFrame> frames;
  uint64_t t = 1'700'000'000'000'000ull;
  int round = 0;
  while (frames.size() < target) {
    std::string client =
        "198.18." + std::to_string(1 + round % 200) + "." + std::to_string(1 + (round / 200) % 250);
    auto conns = benignConnections(client, "198.18.0.1", 20, t, 300);
    frames.insert(frames.end(), conns.begin(), conns.end());
    if (round % 10 == 0) {
      ScanSpec s{"syn",
                 "198.19.0." + std::to_string(1 + round % 250),
                 "198.18.0.1",
                 portRange(1, 100),
                 {80},
                 t + 7000,
                 50};
      auto scan = scanTraffic(s);
      frames.insert(frames.end(), scan.begin(), scan.end());
    }
    t += 20'000;
    ++round;
  }
  std::stable_sort(frames.begin(), frames.end(), [](const TimedFrame& a, const TimedFrame& b) {
    return a.tsMicros < b.tsMicros;
  });
  return frames;
}

}  // namespace

// replay_bench PACKETS [PORTCULLIS] [CAPTURE]: with CAPTURE (e.g. busy_gen's busy server), that
// file is measured instead of the generated scan mix.
int main(int argc, char** argv) {
  size_t target = argc > 1 ? size_t(std::atol(argv[1])) : 1'000'000;
  const char* bin = argc > 2 ? argv[2] : nullptr;
  const char* given = argc > 3 ? argv[3] : nullptr;
  std::string path = "/tmp/portcullis-replay-bench-" + std::to_string(getpid()) + ".pcap";
  double n = 0;
  if (given) {
    path = given;
  } else {
    auto frames = traffic(target);
    if (!portcullis::testing::writePcap(path, frames)) {
      std::fprintf(stderr, "replay_bench: cannot write %s\n", path.c_str());
      return 1;
    }
  }

  // Bare libpcap: read every packet, touch its first byte; with libpcap's own file opening, and
  // with the 1 MiB stdio buffer replay reads through (datapath/pcap_source.cpp), the baseline
  // the ratios use. Each measurement is the faster of two runs: these machines are noisy.
  unsigned sink = 0;
  auto bareLoop = [&](bool bigBuffer) {
    char errbuf[PCAP_ERRBUF_SIZE];
    std::vector<char> buffer(size_t(1) << 20);
    auto t0 = Clock::now();
    pcap_t* h;
    if (bigBuffer) {
      FILE* f = std::fopen(path.c_str(), "rb");
      std::setvbuf(f, buffer.data(), _IOFBF, buffer.size());
      h = pcap_fopen_offline(f, errbuf);
    } else {
      h = pcap_open_offline(path.c_str(), errbuf);
    }
    pcap_pkthdr* hdr;
    const u_char* data;
    n = 0;
    while (pcap_next_ex(h, &hdr, &data) == 1) {
      sink += data[0];
      n += 1;
    }
    pcap_close(h);
    return seconds(t0, Clock::now());
  };
  auto best = [](auto run) { return std::min(run(), run()); };
  double bareDefault = best([&] { return bareLoop(false); });
  double bare = best([&] { return bareLoop(true); });

  // The replay pipeline in process: parser, per-source update, engine polls on capture time.
  portcullis::RuleConfig rules;
  std::vector<portcullis::Alert> events;
  auto pipelineRun = [&](bool readerThread) {
    events.clear();
    portcullis::AlertSink alerts(true, nullptr, nullptr, &events);
    auto t1 = Clock::now();
    std::string error;
    auto src = portcullis::PcapSource::openFile(path, error);
    portcullis::MemoryTable table("replay", PC_SOURCES_DEFAULT, rules, false);
    portcullis::Engine engine(rules, alerts, false);
    engine.addTable(&table);
    portcullis::CaptureReplayer replayer(table, engine, 0, rules.pollMs * 1000ull);
    if (readerThread) {
      if (replayer.replay(*src, 0, error) != portcullis::ReadResult::End) return 1e9;
    } else {
      portcullis::CapturedFrame f;
      while (src->next(f) == portcullis::ReadResult::Frame) {
        replayer.frame(f.data, f.caplen, src->linkType(), f.tsMicros);
      }
    }
    replayer.finish();
    return seconds(t1, Clock::now());
  };
  double pipeline = best([&] { return pipelineRun(true); });
  double oneThread = best([&] { return pipelineRun(false); });

  // The `portcullis replay` command end to end, output to /dev/null.
  double command = 0;
  if (bin) {
    std::string cmd = std::string(bin) + " replay --json " + path + " >/dev/null";
    command = best([&] {
      auto t2 = Clock::now();
      int rc = std::system(cmd.c_str());
      return rc == 0 ? seconds(t2, Clock::now()) : 1e9;
    });
  }
  if (!given && !std::getenv("KEEP_CAPTURE")) std::remove(path.c_str());

  FILE* out = stdout;
  std::fprintf(out,
               "| replay of %s, %.0f packets (%zu alerts, checksum %u) | Mpps | vs bare loop |\n",
               given ? "a busy-server capture" : "a scan mix", n, events.size(), sink & 1);
  std::fprintf(out, "|---|---:|---:|\n");
  std::fprintf(out,
               "| bare libpcap read loop, libpcap's file opening (4 KiB reads) | %.2f | %.2f |\n",
               n / bareDefault / 1e6, bare / bareDefault);
  std::fprintf(out, "| bare libpcap read loop, 1 MiB stdio buffer (the baseline) | %.2f | 1.00 |\n",
               n / bare / 1e6);
  std::fprintf(out,
               "| replay pipeline on one thread (read, parse, update, rules) | %.2f | %.2f |\n",
               n / oneThread / 1e6, bare / oneThread);
  std::fprintf(out,
               "| replay pipeline, reading and parsing on a second thread (as `replay` runs) | "
               "%.2f | %.2f |\n",
               n / pipeline / 1e6, bare / pipeline);
  if (bin) {
    std::fprintf(out, "| `portcullis replay --json` command | %.2f | %.2f |\n", n / command / 1e6,
                 bare / command);
  }
  return 0;
}
