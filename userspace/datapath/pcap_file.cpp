#include "datapath/pcap_file.h"
#include "datapath/memory_table.h"

#include <pcap/dlt.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace portcullis {

namespace {

// libpcap's ceiling on a record's captured length: a larger one is a corrupt file.
constexpr uint32_t kMaxCaplen = 262144;
// 1 MiB: with 4 KiB reads a busy capture's replay spent a fifth of its time in read(2).
constexpr size_t kBuffer = size_t(1) << 20;
constexpr size_t kRecordHeader = 16;

// A file's LINKTYPE_* as libpcap maps it to a DLT_* (the same number, but for LINKTYPE_RAW).
int dltOf(uint32_t linktype) { return linktype == 101 ? DLT_RAW : int(linktype); }

uint32_t le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

std::unique_ptr<PcapFileReader> PcapFileReader::open(int fd) {
  uint8_t header[24];
  ssize_t n = pread(fd, header, sizeof header, 0);
  if (n != ssize_t(sizeof header)) return nullptr;
  std::unique_ptr<PcapFileReader> r(new PcapFileReader(fd, header));
  if (!r->ours_ || lseek(fd, 24, SEEK_SET) != 24) {
    r->fd_ = -1;  // not ours: the caller keeps the descriptor for libpcap
    return nullptr;
  }
  return r;
}

PcapFileReader::PcapFileReader(int fd, const uint8_t* header) : fd_(fd) {
  uint32_t magic = le32(header);
  switch (magic) {
    case 0xa1b2c3d4u:
      break;
    case 0xd4c3b2a1u:
      swapped_ = true;
      break;
    case 0xa1b23c4du:
      nanos_ = true;
      break;
    case 0x4d3cb2a1u:
      swapped_ = nanos_ = true;
      break;
    default:
      return;
  }
  uint16_t major, minor;
  std::memcpy(&major, header + 4, 2);
  std::memcpy(&minor, header + 6, 2);
  if (swapped_) {
    major = __builtin_bswap16(major);
    minor = __builtin_bswap16(minor);
  }
  uint32_t snaplen = word(header + 16);
  // FCS or other flag bits make it a type replay does not read, and libpcap's to report.
  int dlt = dltOf(word(header + 20));
  if (major != 2 || minor != 4 || snaplen == 0 || snaplen > kMaxCaplen ||
      !MemoryTable::supportsLinkType(dlt)) {
    return;
  }
  snaplen_ = snaplen;
  linkType_ = dlt;
  buffer_.resize(kBuffer);
  ours_ = true;
}

PcapFileReader::~PcapFileReader() {
  if (fd_ >= 0) ::close(fd_);
}

uint32_t PcapFileReader::word(const uint8_t* p) const {
  uint32_t v = le32(p);
  return swapped_ ? __builtin_bswap32(v) : v;
}

bool PcapFileReader::refill(size_t want) {
  while (end_ - pos_ < want) {
    if (eof_) return false;
    if (pos_ + want > buffer_.size()) {
      std::memmove(buffer_.data(), buffer_.data() + pos_, end_ - pos_);
      end_ -= pos_;
      pos_ = 0;
    }
    ssize_t n = ::read(fd_, buffer_.data() + end_, buffer_.size() - end_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error_ = std::string("read error: ") + std::strerror(errno);
      eof_ = true;
      return false;
    }
    if (n == 0) eof_ = true;
    end_ += size_t(n);
  }
  return true;
}

ReadResult PcapFileReader::next(CapturedFrame& frame) {
  if (!fill(kRecordHeader)) {
    if (!error_.empty()) return ReadResult::Error;
    if (end_ == pos_) return ReadResult::End;
    error_ = "truncated dump file; tried to read 16 header bytes, only got " +
             std::to_string(end_ - pos_);
    return ReadResult::Error;
  }
  const uint8_t* h = buffer_.data() + pos_;
  uint32_t sec = word(h), frac = word(h + 4), caplen = word(h + 8);
  if (caplen > kMaxCaplen) {
    error_ = "invalid packet capture length " + std::to_string(caplen) +
             ", bigger than maximum of " + std::to_string(kMaxCaplen);
    return ReadResult::Error;
  }
  if (!fill(kRecordHeader + caplen)) {
    if (error_.empty()) {
      error_ = "truncated dump file; tried to read " + std::to_string(caplen) +
               " captured bytes, only got " + std::to_string(end_ - pos_ - kRecordHeader);
    }
    return ReadResult::Error;
  }
  // A record longer than the file's snapshot length is cut to it, as libpcap does.
  frame.data = buffer_.data() + pos_ + kRecordHeader;
  frame.caplen = caplen < snaplen_ ? caplen : snaplen_;
  frame.tsMicros = uint64_t(sec) * 1'000'000 + (nanos_ ? frac / 1000 : frac);
  pos_ += kRecordHeader + caplen;
  consumed_ += kRecordHeader + caplen;
  return ReadResult::Frame;
}

}  // namespace portcullis
