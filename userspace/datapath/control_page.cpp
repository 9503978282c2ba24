#include "datapath/control_page.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace portcullis {

std::unique_ptr<ControlPage> ControlPage::map(int fd, std::string& error) {
  MappedArray page(fd, /*writable=*/true);
  if (page.values<pc_control>().size() != 1) {
    error = std::string("cannot map pc_control: ") + std::strerror(errno) +
            " (maps pinned by an older version? remove the pins to start afresh)";
    return nullptr;
  }
  return std::unique_ptr<ControlPage>(new ControlPage(std::move(page)));
}

void ControlPage::initialise(uint32_t hashSeed) {
  __atomic_store_n(&ctl_->hash_seed, hashSeed, __ATOMIC_RELAXED);
  __atomic_store_n(&ctl_->table_format, uint32_t(PC_TABLE_FORMAT), __ATOMIC_RELAXED);
  uint32_t zero = 0;
  __atomic_compare_exchange_n(&ctl_->gen, &zero, 1u, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

namespace {

std::vector<uint8_t> lengthsOf(const std::vector<Prefix>& dsts) {
  std::vector<uint8_t> lens;
  for (const Prefix& d : dsts) {
    if (std::find(lens.begin(), lens.end(), uint8_t(d.length)) == lens.end()) {
      lens.push_back(uint8_t(d.length));
    }
  }
  std::sort(lens.rbegin(), lens.rend());  // addresses (128) first: most packets stop there
  return lens;
}

}  // namespace

bool destinationLengthsFit(const std::vector<Prefix>& dsts) {
  return lengthsOf(dsts).size() <= PC_DST_LENS;
}

void fillDestinationFilter(pc_control& ctl, const std::vector<Prefix>& dsts) {
  std::memset(ctl.dst_bloom, 0, sizeof(ctl.dst_bloom));
  std::memset(ctl.dst_lens, 0, sizeof(ctl.dst_lens));
  std::vector<uint8_t> lens = lengthsOf(dsts);
  for (size_t i = 0; i < lens.size() && i < PC_DST_LENS; ++i) ctl.dst_lens[i] = lens[i];
  for (const Prefix& d : dsts) {
    pc_addr masked = d.addr;
    pc_addr_mask(&masked, d.length);
    uint32_t bit = pc_dst_bloom_bit(&masked);
    ctl.dst_bloom[bit >> 6] |= 1ull << (bit & 63);
  }
  ctl.dst_filter = dsts.empty() ? 0 : 1;
}

void ControlPage::setWatchedDestinations(const std::vector<Prefix>& dsts) {
  pc_control next{};
  fillDestinationFilter(next, dsts);
  // Filter off while the words change, so no packet meets a half-written filter and is missed.
  __atomic_store_n(&ctl_->dst_filter, 0u, __ATOMIC_RELEASE);
  for (int i = 0; i < 4; ++i) {
    __atomic_store_n(&ctl_->dst_bloom[i], next.dst_bloom[i], __ATOMIC_RELAXED);
  }
  for (int i = 0; i < PC_DST_LENS; ++i) {
    __atomic_store_n(&ctl_->dst_lens[i], next.dst_lens[i], __ATOMIC_RELAXED);
  }
  if (next.dst_filter) __atomic_store_n(&ctl_->dst_filter, 1u, __ATOMIC_RELEASE);
}

}  // namespace portcullis
