#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <span>

#include <linux/types.h>

namespace portcullis {

/// Distinct items behind a bitmap where each item set one hashed bit (linear counting,
/// Whang et al. 1990): exact while bits are sparse, saturating at about m·ln(m).
inline uint64_t linearCount(std::span<const __u64> words) {
  const double m = double(words.size() * 64);
  uint64_t set = 0;
  for (__u64 w : words) set += uint64_t(std::popcount(w));
  if (set == 0) return 0;
  if (double(set) >= m) return uint64_t(m * std::log(m));
  return uint64_t(std::llround(-m * std::log((m - double(set)) / m)));
}

}  // namespace portcullis
