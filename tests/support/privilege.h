#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace portcullis::testing {

/// Privileged tests may skip outside CI with a printed reason; with CI=true a missing
/// capability is a failure, so CI can never pass by skipping.
inline bool inCi() {
  const char* ci = std::getenv("CI");
  return ci && std::strcmp(ci, "true") == 0;
}

}  // namespace portcullis::testing

#define PC_REQUIRE_PRIVILEGE(ok, reason)                                       \
  do {                                                                         \
    if (!(ok)) {                                                               \
      if (::portcullis::testing::inCi()) FAIL() << "CI=true and " << (reason); \
      GTEST_SKIP() << (reason);                                                \
    }                                                                          \
  } while (0)
