#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "portcullis/admit.h"
#include "portcullis/control.h"
#include "portcullis/source.h"
#include "portcullis/stats.h"
#include "portcullis/update.h"

namespace portcullis {

static_assert(sizeof(pc_addr) == 16);
static_assert(sizeof(pc_src_state) == 784, "pc_src_state is part of the pinned map format");
static_assert(offsetof(pc_src_state, key) == 8);
static_assert(offsetof(pc_src_state, win_score) == 96);
static_assert(offsetof(pc_src_state, halfopen) == 688);
static_assert(sizeof(pc_admit) == 40, "pc_admit is part of the pinned map format");
static_assert(offsetof(pc_admit, key) == 8);
static_assert(offsetof(pc_admit, seq) == 24);
static_assert(sizeof(pc_sketch) == PC_HLL_REGS);
static_assert(sizeof(pc_first) == 8, "pc_first is one 8-byte word");
static_assert(sizeof(pc_admit_tags) == 4);
static_assert(sizeof(pc_slot_tags) == 8);
static_assert(sizeof(pc_tuning) == 56);
static_assert(sizeof(pc_stats) % 8 == 0, "pc_stats is summed as an array of __u64");
static_assert(sizeof(pc_block) == 32);
static_assert(offsetof(pc_control, nr_prefix_blocks) == 20);
static_assert(sizeof(pc_prefix_key) == 20);
static_assert(sizeof(pc_control) == 64);
static_assert(offsetof(pc_control, dst_lens) == 56);
static_assert(offsetof(pc_control, table_format) == 60, "the stamp sits where older builds left 0");
static_assert(offsetof(pc_control, dst_bloom) == 24);

/// The first slot at or after `from` whose tag is set (SourceTable::occupancy()), or `from`
/// itself past the tags (a table that keeps none: every slot is read). A busy server's table is
/// mostly empty pairs between polls, skipped 32 bytes at a time: slot by slot, this scan was
/// half of a busy replay's rule time.
inline size_t nextOccupied(std::span<const pc_slot_tags> tags, size_t from) {
  const size_t pairs = tags.size();
  if (from / 2 >= pairs) return from;
  if ((from & 1) && tags[from / 2].tag[1]) return from;
  size_t pair = (from + 1) / 2;
  for (; pair + 4 <= pairs; pair += 4) {
    uint64_t words[4];
    std::memcpy(words, &tags[pair], sizeof words);
    if (words[0] | words[1] | words[2] | words[3]) break;
  }
  for (; pair < pairs; ++pair) {
    if (tags[pair].tag[0]) return pair * 2;
    if (tags[pair].tag[1]) return pair * 2 + 1;
  }
  return pairs * 2;
}

/// Where the engine reads per-source evidence from: the XDP program's pinned maps, or the
/// in-memory tables the pcap backend fills with the same per-packet code. The rules only see
/// this interface, so they are tested without root (as Katran's KatranLb takes a
/// BaseBpfAdapter).
class SourceTable {
 public:
  virtual ~SourceTable() = default;

  /// Every slot of the fixed-size table; unused slots have PC_SRC_USED clear. The datapath
  /// writes them while they are read: act only on a copy made by copySlot().
  virtual std::span<const pc_src_state> slots() const = 0;

  /// The tags of the slot pairs (pc_slot_tags), where the table can show them: a zero tag is a
  /// slot that never held a source, which a poll then skips without reading it. Empty: read
  /// every slot.
  virtual std::span<const pc_slot_tags> occupancy() const { return {}; }

  /// The admission tier: sources that have not (yet) earned a slot.
  virtual std::span<const pc_admit> admission() const = 0;
  /// Asks the datapath to promote an admission entry's source on its next packet, evicting the
  /// weaker holder of its slot pair whatever its evidence.
  virtual void requestPromotion(size_t index) = 0;

  /// Datapath counters summed over CPUs.
  virtual pc_stats stats() const = 0;
  /// The untracked-sources HyperLogLog, merged over CPUs.
  virtual pc_sketch sketch() const = 0;
  /// The per-run constants the datapath runs with (slot hash, aggregation prefixes, …).
  virtual const pc_tuning& tuning() const = 0;

  /// The datapath's clock, in the ticks the slots' times use.
  virtual uint64_t now() const = 0;
  virtual uint64_t ticksPerSecond() const = 0;
  virtual int64_t ticksToUnixMicros(uint64_t ticks) const = 0;

  /// The slot holding src (any address of its aggregate), or nullptr.
  const pc_src_state* find(const pc_addr& src) const;

  /// The interface (or capture) the table watches, for reports.
  virtual const std::string& name() const = 0;
};

/// find() over a table laid out by pc_slot_index (both backends use the same layout).
inline const pc_src_state* findSlot(std::span<const pc_src_state> slots, const pc_tuning& tuning,
                                    const pc_addr& src) {
  alignas(8) pc_addr key;  // pc_slot_holds compares 8-byte aligned keys
  uint32_t idx = pc_pair_index(pc_source_key(&src, &key, &tuning), &tuning);
  for (uint32_t i : {idx, idx | 1}) {
    if (i < slots.size() && pc_slot_holds(&slots[i], &key)) return &slots[i];
  }
  return nullptr;
}

inline const pc_src_state* SourceTable::find(const pc_addr& src) const {
  return findSlot(slots(), tuning(), src);
}

/// Copies a slot the datapath may be writing: retries while an owner change is in progress
/// (odd sequence count) or happened during the copy. False when it never settled (the caller
/// skips the slot this poll). Counters inside may be mid-update; the key and owner are whole.
bool copySlot(const pc_src_state& live, pc_src_state& out);

/// Distinct sources counted in a HyperLogLog sketch (Flajolet et al. 2007, with the linear
/// counting correction for small numbers).
double sketchEstimate(const pc_sketch& sketch);

/// The sources the admission tier holds, and how many of them showed evidence.
struct AdmissionFill {
  size_t used = 0;
  size_t withEvidence = 0;  ///< two or more distinct targets
  size_t capacity = 0;
};
AdmissionFill admissionFill(std::span<const pc_admit> entries);

}  // namespace portcullis
