#include "controller/status_policy.hpp"

#include <gtest/gtest.h>

namespace imapprobe::controller {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

ProbeDefinition def(std::int64_t generation = 1, int failure_threshold = 2) {
  ProbeDefinition d;
  d.generation = generation;
  d.failure_threshold = failure_threshold;
  d.spec.host = "imap.example.com";
  return d;
}

probe::ProbeResult ok(probe::Duration login = 40ms) {
  probe::ProbeResult r;
  r.outcome = probe::Outcome::Success;
  r.reason = probe::Reason::Succeeded;
  r.message = "logged in, 3 messages in INBOX";
  r.durations[probe::Step::Connect] = 1ms;
  r.durations[probe::Step::Login] = login;
  r.total = login + 10ms;
  return r;
}

probe::ProbeResult auth_failed() {
  probe::ProbeResult r;
  r.outcome = probe::Outcome::Failure;
  r.reason = probe::Reason::AuthFailed;
  r.message = "login as probe failed: [AUTHENTICATIONFAILED] Authentication failed.";
  r.failed_step = probe::Step::Login;
  r.durations[probe::Step::Login] = 5ms;
  r.total = 20ms;
  return r;
}

const Condition& get(const ProbeStatus& s, const char* type) {
  const Condition* c = find_condition(s.conditions, type);
  if (c == nullptr) throw std::runtime_error(std::string("no condition ") + type);
  return *c;
}

TEST(StatusPolicy, FirstSuccessMakesReadyAndAvailable) {
  const auto t = after_run({}, def(3), ok(), Clock::now());
  EXPECT_EQ(t.status.observed_generation, 3);
  EXPECT_EQ(get(t.status, kReady).status, "True");
  EXPECT_EQ(get(t.status, kAvailable).status, "True");
  EXPECT_EQ(get(t.status, kAvailable).observed_generation, 3);
  EXPECT_EQ(get(t.status, kDegraded).status, "False");
  EXPECT_EQ(get(t.status, kStalled).status, "False");
  ASSERT_TRUE(t.status.last_run);
  EXPECT_EQ(t.status.last_run->durations.at("login"), 40ms);
  EXPECT_EQ(t.status.to_json()["lastRun"]["durations"]["login"], "40.0ms");
  EXPECT_EQ(t.status.last_run->outcome, "Success");
  EXPECT_TRUE(t.events.empty());
}

TEST(StatusPolicy, AFirstSightIsPendingAndWhateverFollowsEndsReconciling) {
  const auto failing = after_run({}, def(1), auth_failed(), Clock::now()).status;
  const auto pending = after_first_sight(failing, 2, Clock::now());
  EXPECT_EQ(pending.status.observed_generation, 2);
  EXPECT_EQ(get(pending.status, kReady).status, "Unknown");
  EXPECT_EQ(get(pending.status, kReady).reason, "Pending");
  EXPECT_EQ(get(pending.status, kReconciling).status, "True");
  EXPECT_EQ(get(pending.status, kStalled).status, "False");
  EXPECT_EQ(get(pending.status, kAvailable).status, get(failing, kAvailable).status)
      << "the service was not judged again";
  EXPECT_TRUE(pending.events.empty());
  const auto ran = after_run(pending.status, def(2), ok(), Clock::now()).status;
  EXPECT_EQ(find_condition(ran.conditions, kReconciling), nullptr);
  const auto stalled = after_stall(pending.status, 2, "SecretNotFound", "no", Clock::now()).status;
  EXPECT_EQ(find_condition(stalled.conditions, kReconciling), nullptr);
  const auto suspended = after_suspend(pending.status, 2, Clock::now()).status;
  EXPECT_EQ(find_condition(suspended.conditions, kReconciling), nullptr);
}

TEST(StatusPolicy, FailuresTurnAvailableFalseOnlyAtTheThresholdWithOneWarning) {
  auto now = Clock::now();
  auto t = after_run({}, def(1, 2), ok(), now);
  auto t1 = after_run(t.status, def(1, 2), auth_failed(), now + 60s);
  EXPECT_EQ(get(t1.status, kAvailable).status, "True") << "below failureThreshold";
  EXPECT_EQ(get(t1.status, kReady).status, "True");
  EXPECT_TRUE(t1.events.empty());
  auto t2 = after_run(t1.status, def(1, 2), auth_failed(), now + 120s);
  EXPECT_EQ(get(t2.status, kAvailable).status, "False");
  EXPECT_EQ(get(t2.status, kAvailable).reason, "AuthFailed");
  EXPECT_EQ(get(t2.status, kReady).status, "True") << "a mail outage must not make Ready False";
  ASSERT_EQ(t2.events.size(), 1u);
  EXPECT_EQ(t2.events[0].type, "Warning");
  EXPECT_EQ(t2.events[0].reason, "AuthFailed");
  auto t3 = after_run(t2.status, def(1, 2), auth_failed(), now + 180s);
  EXPECT_TRUE(t3.events.empty()) << "no event storm while failing";
  EXPECT_EQ(t3.status.consecutive_failures, 3);
  auto t4 = after_run(t3.status, def(1, 2), ok(), now + 240s);
  EXPECT_EQ(get(t4.status, kAvailable).status, "True");
  ASSERT_EQ(t4.events.size(), 1u);
  EXPECT_EQ(t4.events[0].reason, "Recovered");
  EXPECT_EQ(t4.events[0].type, "Normal");
  EXPECT_EQ(t4.status.consecutive_failures, 0);
}

TEST(StatusPolicy, LastTransitionTimeMovesOnlyOnStatusChange) {
  auto now = Clock::now();
  auto t1 = after_run({}, def(1, 1), auth_failed(), now);
  const encoding::Timestamp first = get(t1.status, kAvailable).last_transition_time;
  auto other = auth_failed();
  other.reason = probe::Reason::Timeout;
  other.message = "different message";
  auto t2 = after_run(t1.status, def(1, 1), other, now + 3600s);
  EXPECT_EQ(get(t2.status, kAvailable).reason, "Timeout");
  EXPECT_EQ(get(t2.status, kAvailable).last_transition_time, first);
  auto t3 = after_run(t2.status, def(1, 1), ok(), now + 7200s);
  EXPECT_NE(get(t3.status, kAvailable).last_transition_time, first);
}

TEST(StatusPolicy, BaselineLearnsAndFlagsAFarSlowerRun) {
  ProbeStatus s;
  auto now = Clock::now();
  for (int i = 0; i < 12; ++i) s = after_run(s, def(), ok(40ms), now + i * 60s).status;
  EXPECT_EQ(s.baseline.samples, 12);
  EXPECT_NEAR(s.baseline.seconds.at("login"), 0.040, 0.001);
  auto slow = after_run(s, def(), ok(400ms), now + 20min);
  EXPECT_EQ(get(slow.status, kDegraded).status, "True");
  EXPECT_EQ(get(slow.status, kDegraded).reason, "OverBaseline");
  EXPECT_EQ(get(slow.status, kAvailable).status, "True");
  ASSERT_EQ(slow.events.size(), 1u);
  EXPECT_EQ(slow.events[0].reason, "OverBaseline");
  // Durations spelled as in the threshold messages (three significant digits).
  EXPECT_EQ(slow.events[0].note,
            "login took 400ms against a baseline of 40.0ms (10.0x); "
            "total took 410ms against a baseline of 50.0ms (8.2x)");
  EXPECT_EQ(slow.status.baseline.samples, 12) << "a degraded run does not teach the baseline";
}

TEST(StatusPolicy, StatusRoundTripsThroughJsonSoARestartLosesNothing) {
  ProbeStatus s;
  auto now = Clock::now();
  for (int i = 0; i < 3; ++i) s = after_run(s, def(), ok(), now + i * 60s).status;
  s = after_run(s, def(), auth_failed(), now + 5min).status;
  const ProbeStatus back = ProbeStatus::from_json(s.to_json());
  EXPECT_EQ(back.to_json(), s.to_json());
  EXPECT_EQ(back.baseline.samples, 3);
  EXPECT_EQ(back.consecutive_failures, 1);
}

TEST(StatusPolicy, StallIsStalledAndNotReadyWithOneEvent) {
  auto t =
      after_stall({}, 2, "SecretNotFound", "Secret mail/creds (username) not found", Clock::now());
  EXPECT_EQ(get(t.status, kStalled).status, "True");
  EXPECT_EQ(get(t.status, kReady).status, "False");
  EXPECT_EQ(get(t.status, kReady).reason, "SecretNotFound");
  EXPECT_EQ(get(t.status, kAvailable).status, "Unknown");
  ASSERT_EQ(t.events.size(), 1u);
  auto again = after_stall(t.status, 2, "SecretNotFound", "same", Clock::now());
  EXPECT_TRUE(again.events.empty());
  auto fixed = after_run(again.status, def(2), ok(), Clock::now());
  EXPECT_EQ(get(fixed.status, kStalled).status, "False");
  EXPECT_EQ(get(fixed.status, kReady).status, "True");
}

TEST(StatusPolicy, ExpiringCertificateIsDegradedWithAWarning) {
  auto r = ok();
  r.outcome = probe::Outcome::Degraded;
  r.reason = probe::Reason::CertificateExpiringSoon;
  r.message = "certificate expires in 5.0 days (warnBefore 336h0m0s)";
  probe::CertificateInfo c;
  c.days_remaining = 5.2;
  c.verified = true;
  r.certificate = c;
  auto t = after_run({}, def(), r, Clock::now());
  EXPECT_EQ(get(t.status, kDegraded).reason, "CertificateExpiringSoon");
  ASSERT_TRUE(t.status.certificate);
  EXPECT_EQ(t.status.certificate->days_remaining, 5);
  ASSERT_EQ(t.events.size(), 1u);
  EXPECT_EQ(t.events[0].reason, "CertificateExpiringSoon");
}

}  // namespace
}  // namespace imapprobe::controller
