#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "portcullis/control.h"
#include "portcullis/source.h"
#include "portcullis/stats.h"
#include "portcullis/update.h"

namespace portcullis {

static_assert(sizeof(pc_addr) == 16);
static_assert(sizeof(pc_src_state) == 584, "pc_src_state is part of the pinned map format");
static_assert(offsetof(pc_src_state, win_score) == 64);
static_assert(offsetof(pc_src_state, halfopen) == 512);
static_assert(sizeof(pc_stats) % 8 == 0, "pc_stats is summed as an array of __u64");
static_assert(sizeof(pc_block) == 32);
static_assert(offsetof(pc_control, nr_prefix_blocks) == 20);
static_assert(sizeof(pc_prefix_key) == 20);
static_assert(sizeof(pc_control) == 56);
static_assert(offsetof(pc_control, dst_bloom) == 24);

/// Where the engine reads per-source evidence from: the XDP program's pinned maps, or the
/// in-memory tables the pcap backend fills with the same per-packet code. The rules only see
/// this interface, so they are tested without root (as Katran's KatranLb takes a
/// BaseBpfAdapter).
class SourceTable {
 public:
  virtual ~SourceTable() = default;

  /// Every slot of the fixed-size table; unused slots have PC_SRC_USED clear. Reads may race
  /// with the datapath's writes: values are counters, a torn read is off by one packet.
  virtual std::span<const pc_src_state> slots() const = 0;

  /// Datapath counters summed over CPUs.
  virtual pc_stats stats() const = 0;

  /// The datapath's clock, in the ticks the slots' times use.
  virtual uint64_t now() const = 0;
  virtual uint64_t ticksPerSecond() const = 0;
  virtual int64_t ticksToUnixMicros(uint64_t ticks) const = 0;

  /// The slot holding src, or nullptr.
  virtual const pc_src_state* find(const pc_addr& src) const = 0;

  /// The interface (or capture) the table watches, for reports.
  virtual const std::string& name() const = 0;
};

/// find() over a table laid out by pc_slot_index (both backends use the same layout).
inline const pc_src_state* findSlot(std::span<const pc_src_state> slots, const pc_tuning& tuning,
                                    const pc_addr& src) {
  uint32_t idx = pc_slot_index(&src, &tuning);
  for (uint32_t i : {idx, idx | 1}) {
    if (i < slots.size() && (slots[i].flags & PC_SRC_USED) && pc_addr_eq(&slots[i].key, &src)) {
      return &slots[i];
    }
  }
  return nullptr;
}

}  // namespace portcullis
