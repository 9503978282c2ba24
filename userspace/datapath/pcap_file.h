#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datapath/pcap_source.h"

namespace portcullis {

/// A classic pcap file (version 2.4, either byte order, micro- or nanosecond stamps) read with
/// read(2) into one large buffer and walked in place: no per-frame copy and no stdio call, which
/// is most of what libpcap spends on a file. Anything else (pcapng, other versions or link-type
/// flags, a pipe) is left to libpcap: open() returns nullptr with no error.
class PcapFileReader {
 public:
  /// The reader for `fd` (which it then owns), or nullptr when the file is not one it reads; the
  /// file is then rewound for libpcap.
  static std::unique_ptr<PcapFileReader> open(int fd);
  ~PcapFileReader();
  PcapFileReader(const PcapFileReader&) = delete;
  PcapFileReader& operator=(const PcapFileReader&) = delete;

  /// The next frame (valid until the next call), End, or Error with lastError() set. A file
  /// cut inside a record is an error after its whole records, as with libpcap.
  ReadResult next(CapturedFrame& frame);
  /// A pcap DLT_* value (the file's LINKTYPE_* mapped as libpcap maps it).
  int linkType() const { return linkType_; }
  uint64_t bytesRead() const { return consumed_; }
  const std::string& lastError() const { return error_; }

 private:
  PcapFileReader(int fd, const uint8_t* header);
  /// Makes `want` bytes from pos_ available; false at the end of the file (or on an error).
  bool fill(size_t want) { return end_ - pos_ >= want || refill(want); }
  bool refill(size_t want);
  uint32_t word(const uint8_t* p) const;

  int fd_;
  bool ours_ = false;  // a file this reader reads (else libpcap's)
  bool swapped_ = false;
  bool nanos_ = false;
  int linkType_ = 0;
  uint32_t snaplen_ = 0;
  std::vector<uint8_t> buffer_;
  size_t pos_ = 0, end_ = 0;  // unread bytes are buffer_[pos_, end_)
  bool eof_ = false;
  uint64_t consumed_ = 24;  // file offset of pos_
  std::string error_;
};

}  // namespace portcullis
