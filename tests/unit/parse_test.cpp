// The shared parser, compiled as C++, over the same table the BPF tests feed the XDP program.
#include <gtest/gtest.h>

#include "datapath/net_util.h"
#include "portcullis/parse.h"
#include "support/packet_cases.h"

namespace portcullis {
namespace {

class ParseTable : public ::testing::TestWithParam<testing::PacketCase> {};

TEST_P(ParseTable, FrameParsesToItsKindAndSource) {
  const auto& c = GetParam();
  pc_packet p{};
  const uint8_t* data = c.frame.data();
  int rc = pc_parse_frame(data, data + c.frame.size(), &p);
  ASSERT_EQ(rc, c.parse);
  if (c.kind >= 0) {
    EXPECT_EQ(p.kind, c.kind);
  }
  if (!c.src.empty()) {
    EXPECT_EQ(formatAddr(p.src), c.src);
  }
  if (c.dport) {
    EXPECT_EQ(p.dport, c.dport);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, ParseTable, ::testing::ValuesIn(testing::packetCases()),
                         [](const auto& param) {
                           std::string n = param.param.name;
                           for (char& ch : n) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

TEST(Parse, NeverReadsPastAnyPrefixOfAnyFrame) {
  // Every prefix of every case frame: the parser must return, and say malformed, not-IP or
  // a result consistent with the bytes it had (ASan/valgrind catch an overread).
  for (const auto& c : testing::packetCases()) {
    for (size_t len = 0; len <= c.frame.size(); ++len) {
      std::vector<uint8_t> copy(c.frame.begin(), c.frame.begin() + long(len));
      pc_packet p{};
      int rc = pc_parse_frame(copy.data(), copy.data() + copy.size(), &p);
      EXPECT_GE(rc, PC_PARSE_OK);
      EXPECT_LE(rc, PC_PARSE_MALFORMED);
    }
  }
}

}  // namespace
}  // namespace portcullis
