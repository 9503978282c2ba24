// Replay's own pcap reader (datapath/pcap_file.h) against libpcap on the same bytes: every frame
// (time, length, contents) and the way the file ends must agree, for each variant of the format
// the reader takes, and files it does not take must go to libpcap.
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "datapath/pcap_file.h"
#include "datapath/pcap_source.h"
#include "support/scratch_dir.h"

namespace portcullis {
namespace {

struct Record {
  uint32_t sec, frac, caplen, len;
  std::vector<uint8_t> bytes;
};

// A classic pcap file's bytes: `swapped` writes big-endian words on this little-endian host.
struct FileSpec {
  uint32_t magic = 0xa1b2c3d4u;
  bool swapped = false;
  uint16_t major = 2, minor = 4;
  uint32_t snaplen = 65535;
  uint32_t linktype = 1;
  std::vector<Record> records;
  size_t cut = 0;  // bytes removed from the end
};

std::vector<uint8_t> bytesOf(const FileSpec& f) {
  std::vector<uint8_t> out;
  auto put32 = [&](uint32_t v) {
    if (f.swapped) v = __builtin_bswap32(v);
    out.insert(out.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 4);
  };
  auto put16 = [&](uint16_t v) {
    if (f.swapped) v = __builtin_bswap16(v);
    out.insert(out.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 2);
  };
  put32(f.magic);
  put16(f.major);
  put16(f.minor);
  put32(0);
  put32(0);
  put32(f.snaplen);
  put32(f.linktype);
  for (const Record& r : f.records) {
    put32(r.sec);
    put32(r.frac);
    put32(r.caplen);
    put32(r.len);
    out.insert(out.end(), r.bytes.begin(), r.bytes.end());
  }
  out.resize(out.size() - std::min(f.cut, out.size()));
  return out;
}

Record frame(uint32_t sec, uint32_t frac, size_t n, uint8_t seed) {
  Record r{sec, frac, uint32_t(n), uint32_t(n), {}};
  for (size_t i = 0; i < n; ++i) r.bytes.push_back(uint8_t(seed + i * 7));
  return r;
}

struct Read {
  std::vector<CapturedFrame> frames;
  std::vector<std::vector<uint8_t>> contents;
  ReadResult end = ReadResult::End;
  std::string error;
};

template <typename Next>
Read readAll(Next next) {
  Read out;
  CapturedFrame f;
  ReadResult rc;
  while ((rc = next(f)) == ReadResult::Frame) {
    out.frames.push_back(f);
    out.contents.emplace_back(f.data, f.data + f.caplen);
  }
  out.end = rc;
  return out;
}

Read readWithLibpcap(const std::string& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* h =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, errbuf);
  EXPECT_NE(h, nullptr) << errbuf;
  if (!h) return {};
  Read r = readAll([&](CapturedFrame& f) {
    pcap_pkthdr* hdr;
    const u_char* data;
    int rc = pcap_next_ex(h, &hdr, &data);
    if (rc == PCAP_ERROR_BREAK) return ReadResult::End;
    if (rc != 1) return ReadResult::Error;
    f.tsMicros = uint64_t(hdr->ts.tv_sec) * 1'000'000 + uint64_t(hdr->ts.tv_usec);
    f.caplen = hdr->caplen;
    f.data = data;
    return ReadResult::Frame;
  });
  if (r.end == ReadResult::Error) r.error = pcap_geterr(h);
  pcap_close(h);
  return r;
}

class PcapFile : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::vector<uint8_t>& bytes) {
    std::string path = dir_.file(name);
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    return path;
  }

  testing::ScratchDir dir_{"pcap-file-test"};
};

std::vector<Record> someFrames() {
  return {frame(1'700'000'000, 5, 60, 1), frame(1'700'000'001, 999'999, 1514, 2),
          frame(1'700'000'002, 0, 14, 3), frame(1'700'000'002, 1, 0, 4)};
}

TEST_F(PcapFile, ReadsEveryVariantOfTheClassicFormatAsLibpcapDoes) {
  std::vector<Record> nanos = someFrames();
  for (Record& r : nanos) r.frac = r.frac * 1000 + 999;  // rounds down to the same microsecond
  Record longer = frame(1'700'000'003, 7, 200, 5);
  longer.caplen = 200;
  Record huge = frame(1'700'000'004, 8, 262144, 6);
  std::vector<Record> many;
  for (int i = 0; i < 3000; ++i) many.push_back(frame(1'700'000'000 + i, i, 60 + i % 1400, i));
  struct Case {
    std::string name;
    FileSpec spec;
  };
  const std::vector<Case> cases = {
      {"microseconds, little-endian", {.records = someFrames()}},
      {"microseconds, big-endian", {.swapped = true, .records = someFrames()}},
      {"nanoseconds, little-endian", {.magic = 0xa1b23c4du, .records = nanos}},
      {"nanoseconds, big-endian", {.magic = 0xa1b23c4du, .swapped = true, .records = nanos}},
      {"a record longer than the snapshot length is cut to it",
       {.snaplen = 100, .records = {frame(1, 2, 60, 1), longer, frame(3, 4, 60, 2)}}},
      {"the largest record libpcap takes", {.snaplen = 262144, .records = {huge}}},
      {"raw IP (LINKTYPE_RAW)", {.linktype = 101, .records = someFrames()}},
      {"Linux cooked v2", {.linktype = 276, .records = someFrames()}},
      {"empty", {}},
      {"several MiB: records across buffer refills", {.records = many}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string path = write("f.pcap", bytesOf(c.spec));
    int fd = ::open(path.c_str(), O_RDONLY);
    EXPECT_NE(PcapFileReader::open(fd), nullptr) << "the reader's, not libpcap's";
    Read want = readWithLibpcap(path);
    std::string error;
    auto src = PcapSource::openFile(path, error);
    ASSERT_NE(src, nullptr) << error;
    Read got = readAll([&](CapturedFrame& f) { return src->next(f); });
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* h = pcap_open_offline(path.c_str(), errbuf);
    ASSERT_NE(h, nullptr);
    EXPECT_EQ(src->linkType(), pcap_datalink(h));
    pcap_close(h);
    EXPECT_EQ(got.end, ReadResult::End);
    EXPECT_EQ(want.end, ReadResult::End);
    ASSERT_EQ(got.frames.size(), want.frames.size());
    EXPECT_EQ(got.frames.size(), c.spec.records.size());
    for (size_t i = 0; i < got.frames.size(); ++i) {
      EXPECT_EQ(got.frames[i].tsMicros, want.frames[i].tsMicros) << i;
      EXPECT_EQ(got.frames[i].caplen, want.frames[i].caplen) << i;
      EXPECT_EQ(got.contents[i], want.contents[i]) << i;
    }
    auto [at, size] = src->fileProgress();
    EXPECT_EQ(at, size) << "progress ends at the file's size";
  }
}

TEST_F(PcapFile, ACutOrCorruptFileIsAnErrorAfterItsWholeRecords) {
  Record huge = frame(1, 2, 10, 9);
  huge.caplen = 262145;  // libpcap's limit plus one: corrupt
  struct Case {
    std::string name;
    FileSpec spec;
    size_t whole;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"cut inside a record header", {.records = someFrames(), .cut = 10}, 3, "header bytes"},
      {"cut inside a record's data", {.records = someFrames(), .cut = 30}, 2, "captured bytes"},
      {"a captured length past libpcap's limit",
       {.snaplen = 262144, .records = {frame(1, 1, 60, 1), huge}},
       1,
       "invalid packet capture length"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string path = write("cut.pcap", bytesOf(c.spec));
    Read want = readWithLibpcap(path);
    std::string error;
    auto src = PcapSource::openFile(path, error);
    ASSERT_NE(src, nullptr) << error;
    Read got = readAll([&](CapturedFrame& f) { return src->next(f); });
    EXPECT_EQ(want.end, ReadResult::Error);
    EXPECT_EQ(got.end, ReadResult::Error);
    EXPECT_EQ(want.frames.size(), c.whole);
    EXPECT_EQ(got.frames.size(), c.whole);
    std::string said = src->lastError();
    EXPECT_NE(said.find(c.message), std::string::npos) << said;
    EXPECT_NE(want.error.find(c.message), std::string::npos) << want.error;
    EXPECT_EQ(std::count(said.begin(), said.end(), '\n'), 0);
  }
}

// What the reader does not take goes to libpcap, which reads it (or says why not): the reader
// is an optimisation, never a narrower format.
TEST_F(PcapFile, OtherFormatsGoToLibpcap) {
  const std::vector<std::pair<std::string, FileSpec>> cases = {
      {"version 2.3", {.minor = 3, .records = someFrames()}},
      {"snapshot length 0", {.snaplen = 0, .records = someFrames()}},
      {"a link type replay does not read (802.11)", {.linktype = 105, .records = someFrames()}},
      {"FCS bits in the link type", {.linktype = 1 | 0x10000000u, .records = someFrames()}},
  };
  for (const auto& [name, spec] : cases) {
    SCOPED_TRACE(name);
    std::string path = write("other.pcap", bytesOf(spec));
    int fd = ::open(path.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(PcapFileReader::open(fd), nullptr);
    ::close(fd);
    Read want = readWithLibpcap(path);
    std::string error;
    auto src = PcapSource::openFile(path, error);
    ASSERT_NE(src, nullptr) << error;
    Read got = readAll([&](CapturedFrame& f) { return src->next(f); });
    EXPECT_EQ(got.frames.size(), want.frames.size());
    EXPECT_EQ(got.end, want.end);
  }
  // And the positive control: a plain file is the reader's.
  std::string path = write("plain.pcap", bytesOf({.records = someFrames()}));
  int fd = ::open(path.c_str(), O_RDONLY);
  auto reader = PcapFileReader::open(fd);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->linkType(), DLT_EN10MB);
}

}  // namespace
}  // namespace portcullis
