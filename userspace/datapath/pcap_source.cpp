#include "datapath/pcap_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "datapath/net_util.h"
#include "datapath/pcap_file.h"

namespace portcullis {

PcapSource::PcapSource(pcap_t* handle) : handle_(handle), linkType_(pcap_datalink(handle)) {}

PcapSource::PcapSource(std::unique_ptr<PcapFileReader> reader)
    : reader_(std::move(reader)), linkType_(reader_->linkType()) {}

PcapSource::~PcapSource() {
  if (handle_) pcap_close(handle_);
}

// Captures are read through a 1 MiB stdio buffer: with the default (the file system's 4 KiB
// block) a busy capture's replay spent a fifth of its time in read(2).
constexpr size_t kFileBuffer = size_t(1) << 20;

std::unique_ptr<PcapSource> PcapSource::openFile(const std::string& path, std::string& error) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  int fd = path == "-" ? -1 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (path != "-" && fd < 0) {
    error = path + ": " + std::strerror(errno);
    return nullptr;
  }
  struct stat st {};
  if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    if (auto reader = PcapFileReader::open(fd)) {
      auto source = std::unique_ptr<PcapSource>(new PcapSource(std::move(reader)));
      source->fileBytes_ = uint64_t(st.st_size);
      return source;
    }
  }
  FILE* f = fd < 0 ? stdin : fdopen(fd, "rb");
  if (!f) {
    error = path + ": " + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  auto buffer = std::make_unique<char[]>(kFileBuffer);
  std::setvbuf(f, buffer.get(), _IOFBF, kFileBuffer);
  pcap_t* h = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
  if (!h) {
    std::fclose(f);
    error = path + ": " + errbuf;
    return nullptr;
  }
  auto source = std::unique_ptr<PcapSource>(new PcapSource(h));
  source->fileBuffer_ = std::move(buffer);  // freed after pcap_close() closes the file
  if (S_ISREG(st.st_mode)) source->fileBytes_ = uint64_t(st.st_size);
  return source;
}

std::pair<uint64_t, uint64_t> PcapSource::fileProgress() const {
  if (reader_) return {reader_->bytesRead(), fileBytes_};
  FILE* f = fileBytes_ ? pcap_file(handle_) : nullptr;
  long at = f ? std::ftell(f) : -1;
  return {at < 0 ? 0 : uint64_t(at), fileBytes_};
}

std::string destinationFilter(const std::vector<Prefix>& dsts) {
  std::string f;
  for (const Prefix& d : dsts) {
    if (!f.empty()) f += " or ";
    // Both ways: probes to the host (or the networks behind a gateway) and their answers.
    f += (d.length == 128 ? "host " : "net ") + formatPrefix(d);
  }
  return f;
}

bool PcapSource::setDestinations(const std::vector<Prefix>& dsts, std::string& error) {
  if (!handle_) {
    error = "a capture file has no capture filter";
    return false;
  }
  bpf_program prog{};
  std::string filter = destinationFilter(dsts);
  if (pcap_compile(handle_, &prog, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    error = "cannot compile capture filter '" + filter + "': " + pcap_geterr(handle_);
    return false;
  }
  int rc = pcap_setfilter(handle_, &prog);
  pcap_freecode(&prog);
  if (rc != 0) {
    error = std::string("cannot set capture filter: ") + pcap_geterr(handle_);
    return false;
  }
  return true;
}

std::unique_ptr<PcapSource> PcapSource::openLive(const std::string& iface,
                                                 const std::vector<Prefix>& dsts,
                                                 std::string& error) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* h = pcap_create(iface.c_str(), errbuf);
  if (!h) {
    error = iface + ": " + errbuf;
    return nullptr;
  }
  std::unique_ptr<PcapSource> src(new PcapSource(h));
  // Headers are all the rules need; libpcap maps a TPACKET_V3 ring on Linux and hands over
  // blocks at most every 100 ms (the engine's poll interval).
  pcap_set_snaplen(h, 256);
  pcap_set_promisc(h, 0);
  pcap_set_timeout(h, 100);
  pcap_set_buffer_size(h, 8 << 20);
  int rc = pcap_activate(h);
  if (rc < 0) {
    error = iface + ": " + pcap_statustostr(rc) +
            (rc == PCAP_ERROR ? std::string(": ") + pcap_geterr(h) : "");
    return nullptr;
  }
  src->linkType_ = pcap_datalink(h);
  if (!dsts.empty() && !src->setDestinations(dsts, error)) return nullptr;
  if (pcap_setnonblock(h, 1, errbuf) != 0) {
    error = iface + ": " + errbuf;
    return nullptr;
  }
  return src;
}

ReadResult PcapSource::next(CapturedFrame& frame) {
  if (reader_) return reader_->next(frame);
  pcap_pkthdr* h = nullptr;
  const u_char* d = nullptr;
  int rc = pcap_next_ex(handle_, &h, &d);
  if (rc == 1) {
    frame.tsMicros = uint64_t(h->ts.tv_sec) * 1'000'000 + uint64_t(h->ts.tv_usec);
    frame.caplen = h->caplen;
    frame.data = d;
    return ReadResult::Frame;
  }
  if (rc == 0) return ReadResult::Timeout;
  if (rc == PCAP_ERROR_BREAK) return ReadResult::End;
  return ReadResult::Error;
}

int PcapSource::selectableFd() const { return handle_ ? pcap_get_selectable_fd(handle_) : -1; }

std::string PcapSource::lastError() const {
  return reader_ ? reader_->lastError() : std::string(pcap_geterr(handle_));
}

}  // namespace portcullis
