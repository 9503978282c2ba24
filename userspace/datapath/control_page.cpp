#include "datapath/control_page.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace portcullis {

std::unique_ptr<ControlPage> ControlPage::map(int fd, std::string& error) {
  const size_t bytes = size_t(sysconf(_SC_PAGESIZE));
  void* page = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (page == MAP_FAILED) {
    error = std::string("cannot map pc_control: ") + std::strerror(errno) +
            " (maps pinned by an older version? remove the pins to start afresh)";
    return nullptr;
  }
  return std::unique_ptr<ControlPage>(new ControlPage(static_cast<pc_control*>(page), bytes));
}

ControlPage::~ControlPage() { munmap(ctl_, bytes_); }

void ControlPage::initialise(uint32_t hashSeed) {
  __atomic_store_n(&ctl_->hash_seed, hashSeed, __ATOMIC_RELAXED);
  uint32_t zero = 0;
  __atomic_compare_exchange_n(&ctl_->gen, &zero, 1u, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

void ControlPage::setWatchedDestinations(const std::vector<pc_addr>& dsts) {
  uint64_t bloom[4] = {};
  for (const pc_addr& d : dsts) {
    uint32_t bit = pc_dst_bloom_bit(&d);
    bloom[bit >> 6] |= 1ull << (bit & 63);
  }
  // Filter off while the words change, so no packet meets a half-written filter and is missed.
  __atomic_store_n(&ctl_->dst_filter, 0u, __ATOMIC_RELEASE);
  for (int i = 0; i < 4; ++i) __atomic_store_n(&ctl_->dst_bloom[i], bloom[i], __ATOMIC_RELAXED);
  if (!dsts.empty()) __atomic_store_n(&ctl_->dst_filter, 1u, __ATOMIC_RELEASE);
}

}  // namespace portcullis
