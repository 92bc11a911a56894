#include "probe/evaluate.hpp"

#include <gtest/gtest.h>

namespace imapprobe::probe {
namespace {
using namespace std::chrono_literals;

ProbeResult passing(double cert_days = 300) {
  ProbeResult r;
  r.outcome = Outcome::Success;
  r.reason = Reason::Succeeded;
  r.message = "logged in";
  r.durations[Step::Connect] = 2ms;
  r.durations[Step::Login] = 40ms;
  r.total = 60ms;
  CertificateInfo c;
  c.days_remaining = cert_days;
  c.verified = true;
  r.certificate = c;
  return r;
}

TEST(Evaluate, PassingRunWithinThresholdsStaysSuccess) {
  ProbeSpec spec;
  spec.thresholds.edit().warning[Step::Login] = 100ms;
  ProbeResult r = passing();
  evaluate(spec, r);
  EXPECT_EQ(r.outcome, Outcome::Success);
  EXPECT_EQ(r.reason, Reason::Succeeded);
}

TEST(Evaluate, WarningThresholdDegrades) {
  ProbeSpec spec;
  spec.thresholds.edit().warning[Step::Login] = 10ms;
  ProbeResult r = passing();
  evaluate(spec, r);
  EXPECT_EQ(r.outcome, Outcome::Degraded);
  EXPECT_EQ(r.reason, Reason::SlowResponse);
  EXPECT_EQ(r.message, "login took 40.0ms (threshold 10ms)");
}

// Truncated to milliseconds this read "login took 1ms (threshold 1ms)".
TEST(Evaluate, AnExceededThresholdReadsAsExceeded) {
  ProbeSpec spec;
  spec.thresholds.edit().warning[Step::Login] = 1ms;
  spec.thresholds.edit().warning[Step::Connect] = 1ms;
  ProbeResult r = passing();
  r.durations[Step::Login] = 1600us;
  r.durations[Step::Connect] = 1'000'400ns;
  evaluate(spec, r);
  EXPECT_EQ(r.outcome, Outcome::Degraded);
  EXPECT_EQ(r.message, "connect took 1.0004ms (threshold 1ms); login took 1.60ms (threshold 1ms)");
}

TEST(Evaluate, SlowTotalNamesTheStepsThatTookTheTime) {
  ProbeSpec spec;
  spec.thresholds.edit().total_critical = 2s;
  ProbeResult r = passing();
  r.durations = {{Step::Connect, 2ms}, {Step::Login, 3s}, {Step::Select, 12'100us}};
  r.total = 3'030ms;
  evaluate(spec, r);
  EXPECT_EQ(r.outcome, Outcome::Failure);
  EXPECT_EQ(r.reason, Reason::SlowResponse);
  // login alone is over 80% of the total.
  EXPECT_EQ(r.message, "total took 3.03s (threshold 2s): login 3.00s");
}

TEST(Evaluate, SlowTotalListsTheLargestStepsUpTo80PercentAtMostThree) {
  ProbeSpec spec;
  spec.thresholds.edit().total_warning = 1s;
  ProbeResult spread = passing();
  spread.durations = {{Step::Connect, 4ms},
                      {Step::Tls, 300ms},
                      {Step::Login, 700ms},
                      {Step::Select, 400ms},
                      {Step::Fetch, 100ms}};
  spread.total = 1'504ms;
  evaluate(spec, spread);
  EXPECT_EQ(spread.outcome, Outcome::Degraded);
  // 700 + 400 = 1100ms is 73%: tls makes it 93%.
  EXPECT_EQ(spread.message,
            "total took 1.50s (threshold 1s): login 700ms, select 400ms, tls 300ms");

  ProbeResult even = passing();
  even.durations = {{Step::Connect, 300ms},
                    {Step::Tls, 300ms},
                    {Step::Login, 300ms},
                    {Step::Select, 300ms},
                    {Step::Logout, 300ms}};
  even.total = 1'500ms;
  evaluate(spec, even);
  // Never more than three, equal ones in session order.
  EXPECT_EQ(even.message, "total took 1.50s (threshold 1s): connect 300ms, tls 300ms, login 300ms");

  ProbeResult two = passing();
  two.durations = {{Step::Connect, 10ms}, {Step::Login, 600ms}, {Step::Fetch, 600ms}};
  two.total = 1'300ms;
  evaluate(spec, two);
  EXPECT_EQ(two.message, "total took 1.30s (threshold 1s): login 600ms, fetch 600ms");
}

TEST(Evaluate, CriticalThresholdFails) {
  ProbeSpec spec;
  spec.thresholds.edit().total_critical = 50ms;
  ProbeResult r = passing();
  evaluate(spec, r);
  EXPECT_EQ(r.outcome, Outcome::Failure);
  EXPECT_EQ(r.reason, Reason::SlowResponse);
}

TEST(Evaluate, CertificateWindows) {
  ProbeSpec spec;  // warn 14 days, fail 3 days
  ProbeResult soon = passing(10);
  evaluate(spec, soon);
  EXPECT_EQ(soon.outcome, Outcome::Degraded);
  EXPECT_EQ(soon.reason, Reason::CertificateExpiringSoon);
  ProbeResult very_soon = passing(1);
  evaluate(spec, very_soon);
  EXPECT_EQ(very_soon.outcome, Outcome::Failure);
  EXPECT_EQ(very_soon.reason, Reason::CertificateExpiringSoon);
}

// The slow-probe alert reads over_threshold: an expiring certificate that
// names the run must neither hide slowness nor pass for it.
TEST(Evaluate, OverThresholdIsSetBySlownessOnlyWhateverNamesTheRun) {
  ProbeSpec spec;  // warn 14 days, fail 3 days
  ProbeResult cert_only = passing(10);
  evaluate(spec, cert_only);
  EXPECT_EQ(cert_only.reason, Reason::CertificateExpiringSoon);
  EXPECT_FALSE(cert_only.over_threshold);
  spec.thresholds.edit().warning[Step::Login] = 10ms;
  ProbeResult cert_and_slow = passing(10);
  evaluate(spec, cert_and_slow);
  EXPECT_EQ(cert_and_slow.reason, Reason::CertificateExpiringSoon);
  EXPECT_TRUE(cert_and_slow.over_threshold);
  ProbeResult slow = passing();
  evaluate(spec, slow);
  EXPECT_TRUE(slow.over_threshold);
}

TEST(Evaluate, FailedRunKeepsItsReason) {
  ProbeSpec spec;
  spec.thresholds.edit().warning[Step::Login] = 1ms;
  ProbeResult r = passing(1);
  r.outcome = Outcome::Failure;
  r.reason = Reason::AuthFailed;
  evaluate(spec, r);
  EXPECT_EQ(r.reason, Reason::AuthFailed);
}

TEST(Reasons, NamesAreStable) {
  EXPECT_EQ(to_string(Reason::CertificateHostnameMismatch), "CertificateHostnameMismatch");
  EXPECT_EQ(to_string(Reason::STARTTLSUnavailable), "STARTTLSUnavailable");
  EXPECT_EQ(to_string(Step::RoundTrip), "roundTrip");
  EXPECT_EQ(step_from_string("roundTrip"), Step::RoundTrip);
  EXPECT_FALSE(step_from_string("nope").has_value());
}

}  // namespace
}  // namespace imapprobe::probe

namespace imapprobe::probe {
namespace {
using namespace std::chrono_literals;

ProbeResult with_content(ContentFacts facts) {
  ProbeResult r;
  r.outcome = Outcome::Success;
  r.reason = Reason::Succeeded;
  r.total = 20ms;
  r.content = std::move(facts);
  return r;
}

TEST(EvaluateContent, MessageCountOutsideItsBoundsFails) {
  ProbeSpec spec;
  spec.checks.edit().min_messages = 1;
  spec.checks.edit().max_messages = 100;
  ContentFacts few;
  few.message_count = 0;
  ProbeResult r = with_content(few);
  evaluate(spec, r);
  EXPECT_EQ(r.outcome, Outcome::Failure);
  EXPECT_EQ(r.reason, Reason::MessageCountOutOfRange);
  EXPECT_EQ(r.message, "0 messages in INBOX (min 1)");

  spec.checks.edit().count_search = "UNSEEN";
  ContentFacts many;
  many.message_count = 250;
  r = with_content(many);
  evaluate(spec, r);
  EXPECT_EQ(r.reason, Reason::MessageCountOutOfRange);
  EXPECT_EQ(r.message, "250 messages matching UNSEEN (max 100)");

  ContentFacts fine;
  fine.message_count = 100;  // bounds are inclusive
  r = with_content(fine);
  evaluate(spec, r);
  EXPECT_EQ(r.outcome, Outcome::Success);
}

TEST(EvaluateContent, NewestMessageTooOldOrMissing) {
  ProbeSpec spec;
  spec.checks.edit().newest_max_age = 26h;
  spec.checks.edit().newest_search = "SUBJECT \"backup report\"";
  ContentFacts old;
  old.newest_checked = true;
  old.newest_age = 30h;
  ProbeResult r = with_content(old);
  evaluate(spec, r);
  EXPECT_EQ(r.reason, Reason::NewestMessageTooOld);
  EXPECT_EQ(r.message,
            "newest message matching SUBJECT \"backup report\" is 30h0m0s old (maxAge 26h0m0s)");

  ContentFacts none;
  none.newest_checked = true;
  r = with_content(none);
  evaluate(spec, r);
  EXPECT_EQ(r.reason, Reason::NewestMessageTooOld);
  EXPECT_EQ(r.message, "no message matches SUBJECT \"backup report\" in INBOX (maxAge 26h0m0s)");

  ContentFacts fresh;
  fresh.newest_checked = true;
  fresh.newest_age = 2h;
  r = with_content(fresh);
  evaluate(spec, r);
  EXPECT_EQ(r.outcome, Outcome::Success);
}

TEST(EvaluateContent, QuotaWarnsThenFails) {
  ProbeSpec spec;
  spec.checks.edit().quota_warn_percent = 80;
  spec.checks.edit().quota_fail_percent = 95;
  ContentFacts facts;
  facts.quota = QuotaUsage{"User quota", "STORAGE", 85, 100};
  ProbeResult r = with_content(facts);
  evaluate(spec, r);
  EXPECT_EQ(r.outcome, Outcome::Degraded);
  EXPECT_EQ(r.reason, Reason::QuotaNearlyFull);
  EXPECT_EQ(r.message, "STORAGE at 85.0% of quota \"User quota\" (85 of 100 KiB), warnPercent 80%");

  facts.quota = QuotaUsage{"User quota", "MESSAGE", 19, 20};
  r = with_content(facts);
  evaluate(spec, r);
  EXPECT_EQ(r.outcome, Outcome::Failure);
  EXPECT_EQ(r.reason, Reason::QuotaExceeded);
  EXPECT_EQ(r.message, "MESSAGE at 95.0% of quota \"User quota\" (19 of 20), failPercent 95%");
}

TEST(EvaluateContent, AFailedBoundOutranksSlownessAndACertificate) {
  ProbeSpec spec;
  spec.checks.edit().min_messages = 5;
  spec.thresholds.edit().critical[Step::Login] = 1ms;
  ContentFacts facts;
  facts.message_count = 1;
  ProbeResult r = with_content(facts);
  r.durations[Step::Login] = 40ms;
  CertificateInfo c;
  c.days_remaining = 1;
  r.certificate = c;
  evaluate(spec, r);
  EXPECT_EQ(r.reason, Reason::MessageCountOutOfRange);
  EXPECT_NE(r.message.find("login took"), std::string::npos) << r.message;
}

TEST(ContentSpec, ProblemsAreRefusedUpFront) {
  ProbeSpec spec;
  spec.checks.edit().min_messages = 10;
  spec.checks.edit().max_messages = 5;
  spec.checks.edit().quota_warn_percent = 90;
  spec.checks.edit().quota_fail_percent = 80;
  const auto problems = spec_problems(spec);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].what, "the minimum message count (10) is above the maximum (5)");
  EXPECT_EQ(problems[1].what, "the quota warning percentage is above the failure one");
  spec = ProbeSpec{};
  spec.mechanism = Mechanism::None;
  spec.checks.edit().quota_fail_percent = 150;
  const auto more = spec_problems(spec);
  ASSERT_EQ(more.size(), 2u);
  EXPECT_EQ(more[0].setting, Setting::Checks);
  EXPECT_EQ(more[1].what, "quota percentages must be more than 0 and at most 100");
}

}  // namespace
}  // namespace imapprobe::probe
