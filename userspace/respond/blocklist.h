#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "datapath/control_page.h"
#include "datapath/kernel_clock.h"
#include "datapath/net_util.h"
#include "portcullis/control.h"

namespace portcullis {

/// One blocklist entry as the operator sees it.
struct BlockEntry {
  Prefix prefix;
  int64_t expiresUnixMicros = 0;  ///< 0: permanent
  uint64_t drops = 0;
  uint32_t reason = 0;
  uint32_t flags = 0;  ///< enum pc_block_flags
  int64_t createdUnixMicros = 0;
  bool expired = false;
};

/// Where blocks go: the seam between the blocking policy (AutoBlocker) and what enforces a block
/// (the XDP program's maps here; an nftables set or a test's memory elsewhere).
class BlockBackend {
 public:
  virtual ~BlockBackend() = default;
  /// Adds or refreshes a block; ttlSeconds 0 makes it permanent. Negative errno on failure.
  virtual int block(const Prefix& p, uint64_t ttlSeconds, uint32_t reason) = 0;
  /// Whether an exact entry for `a` is in force now.
  virtual bool blocked(const pc_addr& a) const = 0;
  /// Removes a block; -ENOENT when there was none.
  virtual int unblock(const Prefix& p) = 0;
  virtual std::vector<BlockEntry> list() const = 0;
  /// Deletes expired entries and returns them (the "unblock" events).
  virtual std::vector<BlockEntry> sweep() = 0;
};

/// The kernel blocklist (exact addresses in `pc_blocklist`, CIDR prefixes in `pc_blockprefix`)
/// and allowlist (`pc_allowlist`), through map fds: those of a running XdpDatapath, or of its
/// pinned maps. Expiries are stored in jiffies so the XDP program checks them itself.
class Blocklist : public BlockBackend {
 public:
  Blocklist(int exactFd, int prefixFd, int allowFd, int controlFd, const KernelClock& clock);

  int block(const Prefix& p, uint64_t ttlSeconds, uint32_t reason) override;
  /// The same, with flags (enum pc_block_flags) on the entry.
  int block(const Prefix& p, uint64_t ttlSeconds, uint32_t reason, uint32_t flags);
  bool blocked(const pc_addr& a) const override;
  int unblock(const Prefix& p) override;
  std::vector<BlockEntry> list() const override;
  /// The kernel stops dropping at expiry by itself; this is housekeeping and the events.
  std::vector<BlockEntry> sweep() override;

  /// Replaces the allowlist (never scored, never dropped).
  int setAllowlist(const std::vector<Prefix>& allow);

  size_t size() const;
  /// The lists' generation (pc_control.gen): it moves on every change of any list.
  uint32_t generation() const;

 private:
  int bumpControl();
  BlockEntry toEntry(const Prefix& p, const pc_block& b) const;

  int exactFd_, prefixFd_, allowFd_, controlFd_;
  KernelClock clock_;
  std::unique_ptr<ControlPage> control_;  ///< mapped on the first change
};

/// Maps of a watch, opened from their pins (for `portcullis block|unblock|blocklist|status`).
struct PinnedMaps {
  std::string iface;
  int sources = -1, stats = -1, blocklist = -1, blockprefix = -1, allowlist = -1, control = -1;
  int admit = -1, sketch = -1;
  ~PinnedMaps();
  PinnedMaps() = default;
  PinnedMaps(const PinnedMaps&) = delete;
  PinnedMaps& operator=(const PinnedMaps&) = delete;
};

/// Opens the pins of this network namespace's watches (namespacedPinRoot(pinRoot)/<iface>/);
/// empty `iface` opens every interface found there.
/// Returns one line in `error` when none can be opened.
std::vector<std::unique_ptr<PinnedMaps>> openPinnedMaps(const std::string& pinRoot,
                                                        const std::string& iface,
                                                        std::string& error);

}  // namespace portcullis
