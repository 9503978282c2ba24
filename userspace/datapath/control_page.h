#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datapath/mapped_array.h"
#include "datapath/net_util.h"
#include "portcullis/addr.h"
#include "portcullis/control.h"

namespace portcullis {

/// The `pc_control` entry, mapped into this process (BPF_F_MMAPABLE) so each field is written on
/// its own with an atomic store: a running watch (destination filter, lists) and the operator's
/// `portcullis block` (lists) both write it, and neither may replace the other's fields with a
/// stale copy, as a whole-entry read-modify-write through bpf_map_update_elem would.
class ControlPage {
 public:
  /// Maps the entry of the map behind `fd`; nullptr with one line in `error` on failure.
  static std::unique_ptr<ControlPage> map(int fd, std::string& error);
  ControlPage(const ControlPage&) = delete;
  ControlPage& operator=(const ControlPage&) = delete;

  /// Sets the source-table seed and opens the lists' generation at 1 (0 is "never checked").
  void initialise(uint32_t hashSeed);

  /// Publishes the lists' sizes after a change, then moves the generation on, so every source
  /// checks the lists again. `count` gives {exact, prefixes, allow} as the maps hold them now.
  /// Lock-free among writers: a writer whose generation moved while it counted counts again,
  /// so the last sizes published are never older than the last change made.
  template <typename CountFn>
  void publishLists(CountFn count) {
    for (;;) {
      uint32_t gen = __atomic_load_n(&ctl_->gen, __ATOMIC_ACQUIRE);
      auto [exact, prefixes, allow] = count();
      __atomic_store_n(&ctl_->nr_blocks, exact, __ATOMIC_RELAXED);
      __atomic_store_n(&ctl_->nr_prefix_blocks, prefixes, __ATOMIC_RELAXED);
      __atomic_store_n(&ctl_->nr_allow, allow, __ATOMIC_RELAXED);
      uint32_t next = gen + 1 ? gen + 1 : 1;
      if (__atomic_compare_exchange_n(&ctl_->gen, &gen, next, false, __ATOMIC_ACQ_REL,
                                      __ATOMIC_ACQUIRE)) {
        return;
      }
    }
  }

  /// The destinations the program watches (addresses and prefixes, in a 256-bit Bloom filter);
  /// empty watches all.
  void setWatchedDestinations(const std::vector<Prefix>& dsts);

 private:
  explicit ControlPage(MappedArray page)
      : page_(std::move(page)), ctl_(page_.values<pc_control>().data()) {}
  MappedArray page_;
  pc_control* ctl_;
};

/// The destination filter of `dsts` (dst_filter, dst_bloom, dst_lens) into `ctl`. At most
/// PC_DST_LENS distinct lengths (destinationLengthsFit); further ones are not watched.
void fillDestinationFilter(pc_control& ctl, const std::vector<Prefix>& dsts);

/// Whether `dsts` uses at most PC_DST_LENS distinct prefix lengths.
bool destinationLengthsFit(const std::vector<Prefix>& dsts);

}  // namespace portcullis
