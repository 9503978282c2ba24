#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "detect/estimate.h"
#include "portcullis/flags.h"
#include "portcullis/source.h"

namespace portcullis {

/// Readings of a slot that several rules share.

/// The source as alerts name it: its address, or the prefix an aggregated source stands for
/// (engine.cpp).
std::string sourceName(const pc_src_state& slot);

inline uint64_t portCount(const pc_src_state& s) { return linearCount(s.ports); }

inline uint64_t dstCount(const pc_src_state& s) {
  return std::max<uint64_t>(1, linearCount(s.dsts));
}

/// Probes the host answered as closed: RSTs, port unreachables, and the rejects counted while
/// the source was in the admission tier.
inline uint32_t closedAnswers(const pc_src_state& s) {
  return s.rst_out + s.unreach_out + s.admitted_rejects;
}

inline uint32_t probeCount(const pc_src_state& s) {
  uint32_t n = 0;
  for (uint8_t k = 0; k < PC_KIND_MAX; ++k) {
    if (pc_kind_is_probe(k)) n += s.count[k];
  }
  return n;
}

/// The probe kind with the most packets: what a rate alert calls the scan.
inline uint8_t dominantProbeKind(const pc_src_state& s) {
  uint8_t best = PC_KIND_SYN;
  uint32_t most = 0;
  for (uint8_t k = 0; k < PC_KIND_MAX; ++k) {
    if ((pc_kind_is_probe(k) || k == PC_KIND_FRAGMENT ||
         (k == PC_KIND_IPPROTO && s.proto_targets > 1)) &&
        k != PC_KIND_ICMP_ECHO && s.count[k] > most) {
      most = s.count[k];
      best = k;
    }
  }
  return best;
}

}  // namespace portcullis
