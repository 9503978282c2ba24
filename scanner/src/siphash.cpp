#include "siphash.h"

#include <sys/random.h>

#include <cstring>

namespace portcullis::scan {
namespace {

constexpr uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct SipState {
  uint64_t v0, v1, v2, v3;
  void round() {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  }
};

uint64_t load64le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = (v << 8) | p[i];
  }
  return v;
}

}  // namespace

uint64_t sipHash24(const SipKey& key, const uint8_t* data, size_t len) {
  const uint64_t k0 = load64le(key.data());
  const uint64_t k1 = load64le(key.data() + 8);
  SipState s{k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull, k0 ^ 0x6c7967656e657261ull,
             k1 ^ 0x7465646279746573ull};
  const size_t full = len & ~size_t{7};
  for (size_t i = 0; i < full; i += 8) {
    const uint64_t m = load64le(data + i);
    s.v3 ^= m;
    s.round();
    s.round();
    s.v0 ^= m;
  }
  uint64_t last = static_cast<uint64_t>(len & 0xff) << 56;
  for (size_t i = 0; i < (len & 7); ++i) {
    last |= static_cast<uint64_t>(data[full + i]) << (8 * i);
  }
  s.v3 ^= last;
  s.round();
  s.round();
  s.v0 ^= last;
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) {
    s.round();
  }
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

CookieJar::CookieJar() {
  size_t got = 0;
  while (got < key_.size()) {
    const ssize_t n = getrandom(key_.data() + got, key_.size() - got, 0);
    if (n <= 0) {
      break;  // getrandom only fails before the pool is seeded; a weak key still works
    }
    got += static_cast<size_t>(n);
  }
}

CookieJar::Probe CookieJar::probe(const std::array<uint8_t, 16>& src,
                                  const std::array<uint8_t, 16>& dst, uint16_t dstPort,
                                  uint8_t protocol) const {
  uint8_t buf[36];
  std::memcpy(buf, src.data(), 16);
  std::memcpy(buf + 16, dst.data(), 16);
  buf[32] = static_cast<uint8_t>(dstPort >> 8);
  buf[33] = static_cast<uint8_t>(dstPort);
  buf[34] = protocol;
  buf[35] = 0x5a;  // domain separation from cookie()
  const uint64_t h = sipHash24(key_, buf, sizeof(buf));
  return {static_cast<uint16_t>(kSourcePortBase + (h & 0xffffffffu) % kSourcePortSpan),
          static_cast<uint32_t>(h >> 32)};
}

uint32_t CookieJar::cookie(const CookieTuple& t) const {
  uint8_t buf[37];
  std::memcpy(buf, t.src.data(), 16);
  std::memcpy(buf + 16, t.dst.data(), 16);
  buf[32] = static_cast<uint8_t>(t.srcPort >> 8);
  buf[33] = static_cast<uint8_t>(t.srcPort);
  buf[34] = static_cast<uint8_t>(t.dstPort >> 8);
  buf[35] = static_cast<uint8_t>(t.dstPort);
  buf[36] = t.protocol;
  return static_cast<uint32_t>(sipHash24(key_, buf, sizeof(buf)));
}

std::array<uint8_t, 16> mapIpv4(uint32_t hostOrder) {
  std::array<uint8_t, 16> a{};
  a[10] = 0xff;
  a[11] = 0xff;
  a[12] = static_cast<uint8_t>(hostOrder >> 24);
  a[13] = static_cast<uint8_t>(hostOrder >> 16);
  a[14] = static_cast<uint8_t>(hostOrder >> 8);
  a[15] = static_cast<uint8_t>(hostOrder);
  return a;
}

}  // namespace portcullis::scan
