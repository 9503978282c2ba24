#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "datapath/net_util.h"
#include "portcullis/addr.h"

// libpcap's header clashes with libbpf's (both define struct bpf_insn), so it stays in the .cpp.
struct pcap;

namespace portcullis {

class PcapFileReader;

struct CapturedFrame {
  uint64_t tsMicros = 0;
  uint32_t caplen = 0;
  const uint8_t* data = nullptr;
};

enum class ReadResult { Frame, Timeout, End, Error };

/// A capture file or a live interface: a classic pcap file through our own reader
/// (datapath/pcap_file.h), anything else through a libpcap handle, closed on destruction.
class PcapSource {
 public:
  /// A pcap or pcapng file. nullptr and a one-line `error` when it is missing or not a capture.
  static std::unique_ptr<PcapSource> openFile(const std::string& path, std::string& error);

  /// A live capture (TPACKET_V3 ring through libpcap) of packets to and from `dsts` (all when
  /// empty).
  static std::unique_ptr<PcapSource> openLive(const std::string& iface,
                                              const std::vector<Prefix>& dsts, std::string& error);

  ~PcapSource();
  PcapSource(const PcapSource&) = delete;
  PcapSource& operator=(const PcapSource&) = delete;

  /// The next frame; Timeout when a live capture has nothing now; End at the end of a file.
  ReadResult next(CapturedFrame& frame);
  /// Replaces the live capture filter (destinations changed).
  /// A capture file's bytes read so far and its size (0, 0 for a live capture): progress.
  std::pair<uint64_t, uint64_t> fileProgress() const;
  bool setDestinations(const std::vector<Prefix>& dsts, std::string& error);

  int linkType() const { return linkType_; }
  int selectableFd() const;
  std::string lastError() const;

 private:
  explicit PcapSource(pcap* handle);
  explicit PcapSource(std::unique_ptr<PcapFileReader> reader);
  pcap* handle_ = nullptr;
  std::unique_ptr<PcapFileReader> reader_;  // instead of handle_
  int linkType_;
  std::unique_ptr<char[]> fileBuffer_;  // a capture file's stdio buffer (openFile)
  uint64_t fileBytes_ = 0;              // a capture file's size (openFile)
};

/// "host A or host B": the probes to the host and its answers (empty: every packet).
std::string destinationFilter(const std::vector<Prefix>& dsts);

}  // namespace portcullis
