#pragma once

#include <cerrno>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "datapath/kernel_clock.h"
#include "respond/blocklist.h"

namespace portcullis {

/// Blocks held in memory, on wall-clock time: the backend of the blocking policy's tests and of
/// any run with no datapath to enforce them. Exact addresses and prefixes alike, keyed by text.
class MemoryBlocklist : public BlockBackend {
 public:
  /// `now` gives Unix microseconds; tests pass their own clock.
  explicit MemoryBlocklist(std::function<int64_t()> now = unixMicrosNow) : now_(std::move(now)) {}

  int block(const Prefix& p, uint64_t ttlSeconds, uint32_t reason) override {
    BlockEntry& e = entries_[formatPrefix(p)];
    e.prefix = p;
    e.reason = reason;
    e.expiresUnixMicros = ttlSeconds ? now_() + int64_t(ttlSeconds) * 1'000'000 : 0;
    return 0;
  }
  bool blocked(const pc_addr& a) const override {
    for (const auto& [text, e] : entries_) {
      if (prefixContains(e.prefix, a) && !expired(e)) return true;
    }
    return false;
  }
  int unblock(const Prefix& p) override { return entries_.erase(formatPrefix(p)) ? 0 : -ENOENT; }
  std::vector<BlockEntry> list() const override {
    std::vector<BlockEntry> out;
    for (const auto& [text, e] : entries_) out.push_back(e);
    return out;
  }
  std::vector<BlockEntry> sweep() override {
    std::vector<BlockEntry> gone;
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (expired(it->second)) {
        gone.push_back(it->second);
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    return gone;
  }

 private:
  bool expired(const BlockEntry& e) const {
    return e.expiresUnixMicros && e.expiresUnixMicros <= now_();
  }
  std::function<int64_t()> now_;
  std::map<std::string, BlockEntry> entries_;
};

}  // namespace portcullis
