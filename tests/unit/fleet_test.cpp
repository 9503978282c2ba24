// The fleet's wire format and its --fleet URL: bad input is refused, a block survives the trip.
#include <gtest/gtest.h>

#include "fleet/fleet_link.h"

namespace portcullis {
namespace {

TEST(FleetUrl, TakesHostPortDbAndCredentials) {
  struct Case {
    const char* text;
    const char* host;
    int port, db;
    const char* user;
    const char* password;
  };
  for (const Case& c : {Case{"redis://10.0.0.5", "10.0.0.5", 6379, 0, "", ""},
                        Case{"redis://cache.example:6390/2", "cache.example", 6390, 2, "", ""},
                        Case{"redis://:s3cret@10.0.0.5:7000", "10.0.0.5", 7000, 0, "", "s3cret"},
                        Case{"redis://ops:pw@10.0.0.5:7000/1", "10.0.0.5", 7000, 1, "ops", "pw"}}) {
    SCOPED_TRACE(c.text);
    std::string error;
    auto url = parseFleetUrl(c.text, error);
    ASSERT_TRUE(url) << error;
    EXPECT_EQ(url->host, c.host);
    EXPECT_EQ(url->port, c.port);
    EXPECT_EQ(url->db, c.db);
    EXPECT_EQ(url->user, c.user);
    EXPECT_EQ(url->password, c.password);
  }
}

TEST(FleetUrl, RefusesWhatIsNotARedisUrl) {
  for (const char* text : {"", "10.0.0.5:6379", "http://10.0.0.5", "redis://", "redis://h:0",
                           "redis://h:99999", "redis://h:port", "redis://h/x"}) {
    std::string error;
    EXPECT_FALSE(parseFleetUrl(text, error)) << text;
    EXPECT_NE(error.find("--fleet"), std::string::npos) << text;
  }
}

TEST(FleetBlock, SurvivesTheTripAndHostileJsonIsDropped) {
  FleetBlock b;
  b.prefix = *parsePrefix("2001:db8:1:2::/64");
  b.expiresUnixMs = 1'800'000'000'123;
  b.createdUnixMs = 1'800'000'000'000;
  b.node = "web-7";
  b.offense = 3;
  auto back = parseFleetBlock(fleetBlockJson(b));
  ASSERT_TRUE(back);
  EXPECT_EQ(formatPrefix(back->prefix), "2001:db8:1:2::/64");
  EXPECT_EQ(back->expiresUnixMs, b.expiresUnixMs);
  EXPECT_EQ(back->createdUnixMs, b.createdUnixMs);
  EXPECT_EQ(back->node, "web-7");
  EXPECT_EQ(back->offense, 3u);
  EXPECT_FALSE(back->unblock);
  for (const char* bad : {"", "{", "[]", R"({"op":"block"})", R"({"op":"drop","prefix":"1.2.3.4"})",
                          R"({"op":"block","prefix":"1.2.3.400"})",
                          R"({"op":"block","prefix":"1.2.3.4","expires_ms":"soon"})"}) {
    EXPECT_FALSE(parseFleetBlock(bad)) << bad;
  }
}

}  // namespace
}  // namespace portcullis
