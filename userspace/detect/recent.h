#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace portcullis {

/// Distinct items first seen over time, summed over a sliding window (the rate and shape rules).
struct Recent {
  // A vector, not a deque: an empty deque allocates, and a flood creates many tracks.
  std::vector<std::pair<uint64_t, uint32_t>> entries;  ///< (ticks, new items), oldest first

  void add(uint64_t now, uint32_t n) {
    if (n) entries.emplace_back(now, n);
  }
  /// Forgets entries older than `span` and sums the rest.
  uint64_t sum(uint64_t now, uint64_t span) {
    size_t expired = 0;
    while (expired < entries.size() && now - entries[expired].first >= span) ++expired;
    entries.erase(entries.begin(), entries.begin() + long(expired));
    uint64_t total = 0;
    for (const auto& [ticks, n] : entries) total += n;
    return total;
  }
};

}  // namespace portcullis
