#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "respond/blocklist.h"

struct nft_ctx;

namespace portcullis {

/// Blocks as elements of nftables sets, for operators who manage their firewall with nftables
/// and for the pcap backend, which cannot drop: table `inet portcullis`, sets `block4` and
/// `block6` (intervals, so prefixes too, with per-element timeouts: the kernel ends a block on
/// time by itself), and a chain on the prerouting hook at raw priority that drops their
/// sources before conntrack, for this host and for the networks behind it. Talks to the kernel
/// through libnftables (no `nft` process); needs CAP_NET_ADMIN.
class NftBlocklist : public BlockBackend {
 public:
  /// Creates (or adopts) the table; nullptr with one line in `error` on failure.
  static std::unique_ptr<NftBlocklist> open(std::string& error,
                                            std::function<int64_t()> now = unixMicrosNow);
  /// The table a watch made, if there is one (for `portcullis block|unblock`); else nullptr.
  static std::unique_ptr<NftBlocklist> attach(std::function<int64_t()> now = unixMicrosNow);
  ~NftBlocklist() override;
  NftBlocklist(const NftBlocklist&) = delete;
  NftBlocklist& operator=(const NftBlocklist&) = delete;

  int block(const Prefix& p, uint64_t ttlSeconds, uint32_t reason) override;
  bool blocked(const pc_addr& a) const override;
  int unblock(const Prefix& p) override;
  std::vector<BlockEntry> list() const override;
  std::vector<BlockEntry> sweep() override;

  /// Deletes the table and every block in it (a clean stop without --persist).
  void remove();

  static constexpr const char* kTable = "portcullis";

 private:
  NftBlocklist(nft_ctx* ctx, std::function<int64_t()> now) : ctx_(ctx), now_(std::move(now)) {}
  /// Runs nft commands; "" on success, else nftables' first error line.
  std::string run(const std::string& commands);

  nft_ctx* ctx_;
  std::function<int64_t()> now_;
  std::map<std::string, BlockEntry> entries_;  ///< what we put there, by prefix text
};

/// Several backends as one (--block-backend both): a block goes to each, and is in force while
/// any holds it.
class BlockFanout : public BlockBackend {
 public:
  explicit BlockFanout(std::vector<BlockBackend*> backends) : backends_(std::move(backends)) {}
  int block(const Prefix& p, uint64_t ttlSeconds, uint32_t reason) override;
  bool blocked(const pc_addr& a) const override;
  int unblock(const Prefix& p) override;
  std::vector<BlockEntry> list() const override { return backends_.front()->list(); }
  std::vector<BlockEntry> sweep() override;

 private:
  std::vector<BlockBackend*> backends_;
};

}  // namespace portcullis
