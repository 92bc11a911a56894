#include "probe/duration.hpp"

#include <gtest/gtest.h>

namespace imapprobe::probe {
namespace {
using namespace std::chrono_literals;

TEST(Duration, ParsesTheGoGrammar) {
  EXPECT_EQ(parse_duration("300ms"), 300ms);
  EXPECT_EQ(parse_duration("1m30s"), 90s);
  EXPECT_EQ(parse_duration("2h"), 2h);
  EXPECT_EQ(parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(parse_duration("0"), 0s);
  EXPECT_EQ(parse_duration("336h"), std::chrono::hours(336));
  EXPECT_EQ(parse_duration("10us"), 10us);
  EXPECT_EQ(parse_duration("1h2m3s4ms"), 1h + 2min + 3s + 4ms);
}

TEST(Duration, RejectsWhatGoRejects) {
  for (const char* bad : {"", "5", "s", "1x", "-1s", "1.s.", "1 s", "1m30", "ms"}) {
    EXPECT_THROW(parse_duration(bad), std::invalid_argument) << bad;
  }
}

TEST(Duration, FormatsShortestForm) {
  EXPECT_EQ(format_duration(90s), "1m30s");
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(0s), "0s");
  EXPECT_EQ(format_duration(2h), "2h0m0s");
  EXPECT_EQ(format_duration(1500ms), "1.5s");
  EXPECT_EQ(format_seconds(412ms), "0.412");
}

}  // namespace
}  // namespace imapprobe::probe
