#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <span>

#include <linux/types.h>

namespace portcullis {

/// Distinct items behind `set` of a bitmap's `bits` bits, each item having set one hashed bit
/// (linear counting, Whang et al. 1990): exact while bits are sparse, saturating at about
/// m·ln(m). The fleet counts the union of its nodes' bits this way.
inline uint64_t linearCount(uint64_t set, uint64_t bits) {
  const double m = double(bits);
  if (set == 0) return 0;
  if (double(set) >= m) return uint64_t(m * std::log(m));
  return uint64_t(std::llround(-m * std::log((m - double(set)) / m)));
}

/// The same over the bitmap itself.
inline uint64_t linearCount(std::span<const __u64> words) {
  uint64_t set = 0;
  for (__u64 w : words) set += uint64_t(std::popcount(w));
  return linearCount(set, words.size() * 64);
}

}  // namespace portcullis
