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

// The XDP program peeks at the source before parsing (a blocked source is dropped on it): over
// every case and every prefix of it, a peek that reads a source reads the one the parser reads,
// and a peek that refuses the header refuses it the way the parser does.
TEST(Parse, APeekAtTheSourceAgreesWithTheWholeParse) {
  size_t peeked = 0, refused = 0;
  for (const auto& c : testing::packetCases()) {
    for (size_t len = 0; len <= c.frame.size(); ++len) {
      std::vector<uint8_t> copy(c.frame.begin(), c.frame.begin() + long(len));
      const uint8_t* end = copy.data() + copy.size();
      SCOPED_TRACE(c.name + ", first " + std::to_string(len) + " bytes");
      pc_packet p{};
      const int rc = pc_parse_frame(copy.data(), end, &p);
      pc_cursor cur{copy.data(), end};
      const int proto = pc_parse_eth(&cur);
      pc_addr src{};
      const int peek = proto < 0 ? PC_PARSE_MALFORMED : pc_peek_source(cur.pos, end, proto, &src);
      if (peek == PC_PARSE_OK) {
        ++peeked;
        if (rc == PC_PARSE_OK || rc == PC_PARSE_FRAGMENT) {
          EXPECT_EQ(formatAddr(src), formatAddr(p.src));
        }
      } else {
        ++refused;
        EXPECT_EQ(peek, rc);
      }
    }
  }
  EXPECT_GT(peeked, 0u);
  EXPECT_GT(refused, 0u);
}

TEST(Parse, APrefixOfAFrameIsMalformedOrReadsTheSameHeaders) {
  // Every prefix of every case frame, copied so ASan sees an overread: a prefix that cuts a header
  // is malformed; one that keeps the headers (only payload is cut) reads what the whole frame
  // reads. A frame that is not judged whole is not judged from a prefix either.
  size_t truncationsSeen = 0;
  for (const auto& c : testing::packetCases()) {
    pc_packet whole{};
    const int wholeRc = pc_parse_frame(c.frame.data(), c.frame.data() + c.frame.size(), &whole);
    for (size_t len = 0; len < c.frame.size(); ++len) {
      std::vector<uint8_t> copy(c.frame.begin(), c.frame.begin() + long(len));
      pc_packet p{};
      const int rc = pc_parse_frame(copy.data(), copy.data() + copy.size(), &p);
      SCOPED_TRACE(c.name + ", first " + std::to_string(len) + " bytes");
      if (len < 14) {
        EXPECT_EQ(rc, PC_PARSE_MALFORMED) << "no whole Ethernet header";
      }
      if (rc == PC_PARSE_MALFORMED) {
        ++truncationsSeen;
        continue;
      }
      // A first fragment cut inside its L4 header reads as a tiny fragment: addresses only.
      const bool fragment = c.name.find("fragment") != std::string::npos;
      if (fragment && rc == PC_PARSE_FRAGMENT) {
        EXPECT_EQ(p.kind, PC_KIND_FRAGMENT);
        EXPECT_EQ(formatAddr(p.src), formatAddr(whole.src));
        continue;
      }
      EXPECT_EQ(rc, wholeRc);
      if (rc == PC_PARSE_OK || rc == PC_PARSE_FRAGMENT) {
        EXPECT_EQ(p.kind, whole.kind);
        EXPECT_EQ(formatAddr(p.src), formatAddr(whole.src));
        EXPECT_EQ(p.dport, whole.dport);
      }
    }
  }
  EXPECT_GT(truncationsSeen, testing::packetCases().size()) << "no prefix was found truncated";
}

}  // namespace
}  // namespace portcullis
