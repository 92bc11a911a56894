#include "probe/duration.hpp"

#include <gtest/gtest.h>

#include <vector>

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

TEST(Duration, MeasuredHasThreeSignificantDigits) {
  EXPECT_EQ(format_measured(1600us), "1.60ms");
  EXPECT_EQ(format_measured(1'600'412ns), "1.60ms");
  EXPECT_EQ(format_measured(12'149us), "12.1ms");
  EXPECT_EQ(format_measured(3'031ms), "3.03s");
  EXPECT_EQ(format_measured(250us), "250us");
  EXPECT_EQ(format_measured(999ns), "999ns");
  EXPECT_EQ(format_measured(40ms), "40.0ms");
  EXPECT_EQ(format_measured(0s), "0s");
  EXPECT_EQ(format_measured(125'400ms), "125s");
  EXPECT_EQ(format_measured(1h), "3600s");
  // Rounds to nearest, and carries into the next unit.
  EXPECT_EQ(format_measured(1'605us), "1.61ms");
  EXPECT_EQ(format_measured(999'600ns), "1.00ms");
  EXPECT_EQ(format_measured(999'960us), "1.00s");
}

// The bug this replaces: a 1.6ms login over a 1ms threshold read
// "login took 1ms (threshold 1ms)".
TEST(Duration, MeasuredAgainstALimitReadsAsExceeded) {
  EXPECT_EQ(format_measured(1600us, 1ms), "1.60ms");
  EXPECT_EQ(format_measured(1'000'400ns, 1ms), "1.0004ms");
  EXPECT_EQ(format_measured(1'000'001ns, 1ms), "1.000001ms");
  EXPECT_EQ(format_measured(2'004ms, 2s), "2.004s");
  // A limit finer than three digits: 1.0006ms against 1.0005ms must not
  // print as 1.00ms, below the limit.
  EXPECT_EQ(format_measured(1'000'600ns, 1'000'500ns), "1.001ms");
  // Within the limit, or far over it: just three digits.
  EXPECT_EQ(format_measured(1'000'400ns, 2ms), "1.00ms");
  EXPECT_EQ(format_measured(1ms, 1ms), "1.00ms");
  EXPECT_EQ(format_measured(3'031ms, 2s), "3.03s");
  // Whatever the values, an exceeded limit reads as exceeded.
  for (const Duration limit : std::initializer_list<Duration>{1ms, 1500us, 2s, 90s, 250us}) {
    for (const Duration extra : std::initializer_list<Duration>{1ns, 7ns, 400ns, 4us, 40us}) {
      const Duration took = limit + extra;
      EXPECT_GT(parse_duration(format_measured(took, limit)), limit)
          << format_measured(took, limit) << " against " << format_duration(limit);
    }
  }
}

TEST(Duration, SecondsAndLimitsForPerfdata) {
  EXPECT_EQ(format_seconds(1'000'400ns), "0.001");
  EXPECT_EQ(format_seconds(12'500us), "0.013");
  EXPECT_EQ(format_limit_seconds(1s), "1.000");
  EXPECT_EQ(format_limit_seconds(50ms), "0.050");
  EXPECT_EQ(format_limit_seconds(250us), "0.00025");
  EXPECT_EQ(format_limit_seconds(1'500'000'001ns), "1.500000001");
  const std::vector<Duration> limits{1ms, 2ms};
  EXPECT_EQ(format_seconds(12ms, limits), "0.012");
  EXPECT_EQ(format_seconds(500us, limits), "0.001") << "below both, and printed so";
  EXPECT_EQ(format_seconds(1'000'400ns, limits), "0.0010004") << "over 1ms, printed over 0.001";
  // Just under a limit must not round up over it.
  EXPECT_EQ(format_seconds(999'600ns, std::vector<Duration>{999'700ns}), "0.0009996");
  EXPECT_EQ(format_seconds(1'000'400ns, {}), "0.001");
}

}  // namespace
}  // namespace imapprobe::probe
