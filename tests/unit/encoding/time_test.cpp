#include "encoding/time.hpp"

#include <gtest/gtest.h>

namespace imapprobe::encoding {
namespace {
using namespace std::chrono;

TEST(Rfc3339, FormatsUtcWithSixFractionDigits) {
  // 2026-11-25T21:00:00Z
  const system_clock::time_point t{seconds(1795640400)};
  EXPECT_EQ(format_micro_time(t), "2026-11-25T21:00:00.000000Z");
  EXPECT_EQ(format_micro_time(t + microseconds(1234)), "2026-11-25T21:00:00.001234Z");
  // Sub-microsecond precision is cut, never rounded up into the next second.
  EXPECT_EQ(format_micro_time(t + nanoseconds(999'999'999)), "2026-11-25T21:00:00.999999Z");
  EXPECT_EQ(format_micro_time(system_clock::time_point{}), "1970-01-01T00:00:00.000000Z");
}

TEST(Rfc3339, ParsesRfc3339Forms) {
  const system_clock::time_point t{seconds(1795640400)};
  EXPECT_EQ(parse_rfc3339("2026-11-25T21:00:00Z"), t);
  EXPECT_EQ(parse_rfc3339("2026-11-25T21:00:00.000000Z"), t);
  EXPECT_EQ(parse_rfc3339("2026-11-25T21:00:00.5Z"), t + milliseconds(500));
  EXPECT_EQ(parse_rfc3339("2026-11-25T22:30:00+01:30"), t);
  EXPECT_EQ(parse_rfc3339("2026-11-25T19:00:00.000001-02:00"), t + microseconds(1));
  const auto now = floor<microseconds>(system_clock::now());
  EXPECT_EQ(parse_rfc3339(format_micro_time(now)), now);
  for (const char* bad :
       {"", "2026-11-25", "2026-11-25 21:00:00Z", "2026-11-25T21:00:00", "2026-13-25T21:00:00Z",
        "2026-11-25T21:00:00.Z", "2026-11-25T21:00:00Zx", "2026-11-25T21:00:00+0100"}) {
    EXPECT_FALSE(parse_rfc3339(bad).has_value()) << bad;
  }
}

TEST(Rfc3339, StatusTimesAreWholeSecondsUtc) {
  const system_clock::time_point t{seconds(1795640400)};
  EXPECT_EQ(format_rfc3339(t), "2026-11-25T21:00:00Z");
  EXPECT_EQ(format_rfc3339(t + milliseconds(999)), "2026-11-25T21:00:00Z") << "cut, not rounded";
  EXPECT_EQ(parse_rfc3339(format_rfc3339(t)), t);
}

TEST(Timestamp, HoldsWholeSecondsAndWritesStatusText) {
  const auto t = system_clock::time_point(seconds(1'764'105'600) + milliseconds(750));
  const encoding::Timestamp ts(t);
  EXPECT_FALSE(ts.empty());
  EXPECT_EQ(ts.to_string(), encoding::format_rfc3339(t));
  EXPECT_EQ(ts.time(), floor<seconds>(t));
  EXPECT_EQ(encoding::Timestamp::parse(ts.to_string()), ts);
  EXPECT_EQ(encoding::Timestamp::parse("2025-11-25T22:00:00+01:00"),
            encoding::Timestamp::parse("2025-11-25T21:00:00Z"));
}

TEST(Timestamp, TextThatIsNotATimeIsNoTime) {
  EXPECT_TRUE(encoding::Timestamp().empty());
  EXPECT_EQ(encoding::Timestamp().to_string(), "");
  EXPECT_EQ(encoding::Timestamp().time(), std::nullopt);
  EXPECT_TRUE(encoding::Timestamp::parse("").empty());
  EXPECT_TRUE(encoding::Timestamp::parse("later").empty());
  EXPECT_TRUE(encoding::Timestamp::parse("1970-01-01T00:00:00Z").time().has_value());
}

}  // namespace
}  // namespace imapprobe::encoding
