// The flag classifier and the port weights, over their whole input space.
#include <gtest/gtest.h>

#include "portcullis/flags.h"

namespace {

constexpr uint8_t F = PC_TCP_FIN, S = PC_TCP_SYN, R = PC_TCP_RST, P = PC_TCP_PSH, A = PC_TCP_ACK,
                  U = PC_TCP_URG;

// The kind every one of the 64 combinations of the six classic flags must land in, written as
// the rules a reader would state them, independently of the classifier's own branch order.
uint8_t expectedKind(uint8_t f) {
  bool syn = f & S, fin = f & F, rst = f & R, ack = f & A;
  if (f == 0) return PC_KIND_NULL;
  if (syn && fin) return PC_KIND_SYNFIN;
  if (syn && rst) return PC_KIND_SYNRST;
  if (syn && ack) return PC_KIND_SYNACK;
  if (f == S) return PC_KIND_SYN;
  if (syn) return PC_KIND_OTHER;  // SYN with PSH/URG, no ACK
  if (rst && fin) return PC_KIND_OTHER;
  if (rst) return PC_KIND_RST;
  if (f == A) return PC_KIND_ACK;
  if (f == (F | A)) return PC_KIND_MAIMON;
  if (ack) return PC_KIND_ESTABLISHED;
  if (f == F) return PC_KIND_FIN;
  if (f == (F | P | U)) return PC_KIND_XMAS;
  return PC_KIND_OTHER;  // PSH, URG and FIN mixes without ACK
}

TEST(Classify, AllSixtyFourCombinationsLandInTheirKind) {
  for (unsigned f = 0; f < 64; ++f) {
    EXPECT_EQ(pc_classify_tcp(uint8_t(f)), expectedKind(uint8_t(f))) << "flags 0x" << std::hex << f;
  }
}

TEST(Classify, NamedScanProbes) {
  struct Case {
    const char* scan;
    uint8_t flags;
    uint8_t kind;
  } cases[] = {
      {"syn", S, PC_KIND_SYN},
      {"ack/window", A, PC_KIND_ACK},
      {"null", 0, PC_KIND_NULL},
      {"fin", F, PC_KIND_FIN},
      {"xmas", F | P | U, PC_KIND_XMAS},
      {"maimon", F | A, PC_KIND_MAIMON},
      {"syn+fin", S | F, PC_KIND_SYNFIN},
      {"syn+rst", S | R, PC_KIND_SYNRST},
      {"syn-ack", S | A, PC_KIND_SYNACK},
      {"rst", R, PC_KIND_RST},
      {"rst+ack", R | A, PC_KIND_RST},
      {"data", P | A, PC_KIND_ESTABLISHED},
  };
  for (const auto& c : cases) EXPECT_EQ(pc_classify_tcp(c.flags), c.kind) << c.scan;
}

TEST(Classify, EcnBitsDoNotChangeTheKind) {
  for (unsigned f = 0; f < 64; ++f) {
    EXPECT_EQ(pc_classify_tcp(uint8_t(f | 0xc0)), pc_classify_tcp(uint8_t(f)));
  }
}

TEST(Classify, IllegalKindsAreExactlyTheCrafted) {
  for (unsigned k = 0; k < PC_KIND_MAX; ++k) {
    bool illegal = k == PC_KIND_NULL || k == PC_KIND_FIN || k == PC_KIND_XMAS ||
                   k == PC_KIND_SYNFIN || k == PC_KIND_SYNRST || k == PC_KIND_OTHER;
    EXPECT_EQ(pc_kind_is_illegal(k) != 0, illegal) << "kind " << k;
  }
}

TEST(PortWeight, SeedWeightsAtTheBoundaries) {
  struct Case {
    uint16_t port;
    uint16_t weight;
  } cases[] = {{0, 3},    {10, 3},   {11, 10},  {12, 10},   {13, 10},  {14, 3},
               {1023, 3}, {1024, 1}, {1999, 1}, {2000, 10}, {2001, 1}, {65535, 1}};
  for (const auto& c : cases) EXPECT_EQ(pc_port_weight(c.port), c.weight) << "port " << c.port;
}

}  // namespace
