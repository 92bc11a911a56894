// When a status is worth writing: changes at once, sameness at the heartbeat.
#include "controller/write_policy.hpp"

#include <gtest/gtest.h>

namespace imapprobe::controller {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

ProbeStatus healthy() {
  ProbeStatus s;
  s.observed_generation = 2;
  const auto t = encoding::Timestamp::parse("2026-12-01T10:00:00Z");
  s.conditions = {{"Ready", "True", "Reporting", "ran", 2, t},
                  {"Available", "True", "Succeeded", "logged in, 3 messages", 2, t}};
  s.last_run = LastRun{t,  "Success", "Succeeded", "logged in", "", {}, 3, "", {},  // families
                       {},                                                          // delivery
                       {},                                                          // content
                       {}};                                                         // location
  s.last_run->durations["total"] = 12ms;
  s.certificate =
      CertificateStatus{"CN=a", "CN=ca", "b", "2027-01-01T00:00:00Z", 30, true, "", "", {}};
  return s;
}

class WritePolicyTest : public ::testing::Test {
 protected:
  const Clock::time_point t0 = Clock::now();
  const ProbeStatus written = healthy();
  const std::uint64_t digest = significance(written);
  WriteDecision decide(const ProbeStatus& next, Clock::duration since_write, bool events = false) {
    return decide_write(digest, t0, next, events, t0 + since_write, 10min);
  }
};

TEST_F(WritePolicyTest, TheFirstStatusIsAlwaysWritten) {
  EXPECT_TRUE(decide_write(std::nullopt, std::nullopt, healthy(), false, t0, 10min).write);
}

TEST_F(WritePolicyTest, ASameVerdictWaitsForTheHeartbeat) {
  ProbeStatus next = healthy();
  next.last_run->time = encoding::Timestamp::parse("2026-12-01T10:01:00Z");
  next.last_run->durations["total"] = 19ms;
  next.last_run->messages = 4;
  next.conditions[1].message = "logged in, 4 messages";
  next.consecutive_successes = 9;
  next.next_run_time = encoding::Timestamp::parse("2026-12-01T10:02:00Z");
  EXPECT_FALSE(decide(next, 1min).write);
  EXPECT_FALSE(decide(next, 9min + 59s).write);
  const auto at_heartbeat = decide(next, 10min);
  EXPECT_TRUE(at_heartbeat.write);
  EXPECT_STREQ(at_heartbeat.why, "heartbeat");
}

TEST(WritePolicy, TheHeartbeatIsNeverShorterThanTheIntervalExceptZero) {
  EXPECT_EQ(effective_heartbeat(600s, 60s), 10min);
  EXPECT_EQ(effective_heartbeat(600s, 1h), 1h) << "at least the interval";
  // Zero is every run: floored to the interval, a run a little early
  // against the last write (jitter, re-phasing) would be skipped.
  EXPECT_EQ(effective_heartbeat(0s, 10min), Clock::duration::zero());
}

TEST_F(WritePolicyTest, WhatAReaderActsOnIsWrittenAtOnce) {
  std::vector<ProbeStatus> changes(7, healthy());
  changes[0].observed_generation = 3;
  changes[1].conditions[1].status = "False";
  changes[2].conditions[1].reason = "OverBaseline";
  changes[3].last_run->outcome = "Degraded";
  changes[4].last_run->failed_step = "login";
  changes[5].certificate->days_remaining = 29;                 // a day boundary
  changes[6].certificate->not_after = "2028-01-01T00:00:00Z";  // a renewed certificate
  for (std::size_t i = 0; i < changes.size(); ++i) {
    const auto d = decide(changes[i], 1s);
    EXPECT_TRUE(d.write) << i;
    EXPECT_STREQ(d.why, "change") << i;
  }
  ProbeStatus no_cert = healthy();
  no_cert.certificate.reset();
  EXPECT_TRUE(decide(no_cert, 1s).write);
}

TEST_F(WritePolicyTest, AnEventAlwaysComesWithItsStatus) {
  EXPECT_TRUE(decide(healthy(), 1s, true).write);
}

}  // namespace
}  // namespace imapprobe::controller
