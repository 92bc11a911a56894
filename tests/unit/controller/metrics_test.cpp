#include "controller/metrics.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "support/dovecot.hpp"  // run_command

namespace imapprobe::controller {
namespace {
using namespace std::chrono_literals;

OperatorMetrics sample() {
  OperatorMetrics m;
  m.version = "0.1.0";
  m.leader = true;
  m.stats.probes = 2;
  m.stats.status_writes = 7;
  for (double lag : {0.001, 0.002, 0.010}) m.stats.lag_next.observe(lag);
  m.stats.lag_first.observe(95.0);
  m.api_requests[{"GET", 200}] = 5;
  m.api_requests[{"PATCH", 409}] = 1;
  m.api_latency["GET"] = {0.05, 5};
  ProbeSnapshot ok;
  ok.namespace_ = "mail";
  ok.name = "corp";
  probe::ProbeResult r;
  r.outcome = probe::Outcome::Success;
  r.reason = probe::Reason::Succeeded;
  r.durations[probe::Step::Login] = 40ms;
  r.total = 60ms;
  probe::CertificateInfo c;
  c.not_after = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  r.certificate = c;
  r.families.push_back({"IPv4", "127.0.0.1:993", probe::Outcome::Success, probe::Reason::Succeeded,
                        "", std::nullopt, 60ms});
  r.families.push_back({"IPv6", "[::1]:993", probe::Outcome::Failure, probe::Reason::ConnectRefused,
                        "", probe::Step::Connect, 2ms});
  probe::DeliveryResult delivered;
  delivered.latency = 1200ms;
  probe::CertificateInfo smtp_cert;
  smtp_cert.not_after = std::chrono::system_clock::time_point(std::chrono::seconds(1'900'000'000));
  delivered.certificate = smtp_cert;
  r.delivery = delivered;
  probe::ContentFacts content;
  content.message_count = 12;
  content.newest_age = 90s;
  content.quota = probe::QuotaUsage{"User quota", "STORAGE", 850, 1000};
  r.content = content;
  ok.last_run = facts_of(r);
  ok.delivery.edit().observe(1.2);
  ok.delivery.edit().observe(0.3);
  ok.runs_by_reason["Succeeded"] = 3;
  ok.duration_buckets[4] = 3;  // <= 0.1 s
  ok.duration_sum = 0.18;
  ok.duration_count = 3;
  ProbeSnapshot failing;
  failing.namespace_ = "mail";
  failing.name = "we\"ird";
  probe::ProbeResult f;
  f.outcome = probe::Outcome::Failure;
  f.reason = probe::Reason::AuthFailed;
  f.total = 10ms;
  failing.last_run = facts_of(f);
  failing.consecutive_failures = 2;
  failing.runs_by_reason["AuthFailed"] = 2;
  ProbeSnapshot stalled;
  stalled.namespace_ = "mail";
  stalled.name = "nosecret";
  stalled.stalled_reason = "SecretNotFound";
  ProbeSnapshot paused;
  paused.namespace_ = "mail";
  paused.name = "paused";
  paused.suspended = true;
  m.probes = {ok, failing, stalled, paused};
  return m;
}

TEST(Metrics, RendersProbeAndOperatorSeries) {
  const std::string text = render_metrics(sample());
  // The delivery check's histogram, only for probes that have one.
  EXPECT_NE(text.find("imapprobe_probe_delivery_latency_seconds_bucket{namespace=\"mail\",name="
                      "\"corp\",le=\"0.5\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("imapprobe_probe_delivery_latency_seconds_bucket{namespace=\"mail\",name="
                      "\"corp\",le=\"2.5\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_probe_delivery_latency_seconds_count{namespace=\"mail\",name="
                      "\"corp\"} 2\n"),
            std::string::npos);
  EXPECT_EQ(text.find("imapprobe_probe_delivery_latency_seconds_count{namespace=\"mail\",name="
                      "\"we"),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_probe_mailbox_messages{namespace=\"mail\",name=\"corp\"} 12\n"),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_probe_newest_message_age_seconds{namespace=\"mail\",name="
                      "\"corp\"} 90\n"),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_probe_quota_usage_ratio{namespace=\"mail\",name=\"corp\","
                      "resource=\"STORAGE\"} 0.85\n"),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_probe_smtp_certificate_expiry_timestamp_seconds{namespace="
                      "\"mail\",name=\"corp\"} 1900000000\n"),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_probe_family_success{namespace=\"mail\",name=\"corp\",family="
                      "\"IPv6\"} 0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("imapprobe_probe_family_duration_seconds{namespace=\"mail\",name=\"corp\","
                      "family=\"IPv4\"} 0.06\n"),
            std::string::npos);
  // Probes without ipFamily Both have no family series.
  EXPECT_EQ(text.find("imapprobe_probe_family_success{namespace=\"mail\",name=\"we"),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_probe_success{namespace=\"mail\",name=\"corp\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("imapprobe_probe_success{namespace=\"mail\",name=\"we\\\"ird\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_probe_step_duration_seconds{namespace=\"mail\",name=\"corp\",step="
                      "\"login\"} 0.04\n"),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_probe_duration_seconds_bucket{namespace=\"mail\",name=\"corp\",le="
                      "\"0.1\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_probe_duration_seconds_bucket{namespace=\"mail\",name=\"corp\",le="
                      "\"0.05\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_probe_certificate_expiry_timestamp_seconds{namespace=\"mail\","
                      "name=\"corp\"} 1800000000\n"),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_probe_runs_total{namespace=\"mail\",name=\"we\\\"ird\",reason="
                      "\"AuthFailed\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_operator_api_requests_total{verb=\"PATCH\",code=\"409\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_operator_leader 1\n"), std::string::npos);
  // A probe that cannot run or is suspended exports its state, so an alert
  // can fire for it; a failed run names its reason.
  EXPECT_NE(text.find("imapprobe_probe_stalled{namespace=\"mail\",name=\"nosecret\",reason="
                      "\"SecretNotFound\"} 1\n"),
            std::string::npos);
  EXPECT_EQ(text.find("imapprobe_probe_stalled{namespace=\"mail\",name=\"corp\""),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_probe_suspended{namespace=\"mail\",name=\"paused\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_probe_suspended{namespace=\"mail\",name=\"corp\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_probe_failure_reason{namespace=\"mail\",name=\"we\\\"ird\","
                      "reason=\"AuthFailed\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_probe_slow{namespace=\"mail\",name=\"corp\"} 0\n"),
            std::string::npos);
  // Lag is a cumulative histogram per run kind: a start-up queue (first) is
  // apart from the steady rhythm (next).
  EXPECT_NE(
      text.find("imapprobe_operator_schedule_lag_seconds_bucket{run=\"next\",le=\"0.001\"} 1\n"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("imapprobe_operator_schedule_lag_seconds_bucket{run=\"next\",le=\"0.01\"} 3\n"),
      std::string::npos);
  EXPECT_NE(
      text.find("imapprobe_operator_schedule_lag_seconds_bucket{run=\"first\",le=\"60\"} 0\n"),
      std::string::npos);
  EXPECT_NE(
      text.find("imapprobe_operator_schedule_lag_seconds_bucket{run=\"first\",le=\"120\"} 1\n"),
      std::string::npos);
  EXPECT_NE(text.find("imapprobe_operator_schedule_lag_seconds_count{run=\"first\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("imapprobe_operator_schedule_lag_max_seconds{run=\"first\"} 95\n"),
            std::string::npos);
}

TEST(Metrics, ThePageWrittenPartByPartIsThePageAndEachPartIsBounded) {
  OperatorMetrics m = sample();
  // Enough probes that the page is many parts of a small budget.
  for (int i = 0; i < 50; ++i) {
    ProbeSnapshot extra = m.probes.front();
    extra.name = "extra-" + std::to_string(i);
    m.probes.push_back(extra);
  }
  const std::string whole = render_metrics(m);
  MetricsPage page(m);
  std::string joined;
  std::size_t parts = 0;
  bool more = true;
  while (more) {
    std::string part;
    more = page.next(part, 4096);
    ++parts;
    // A part ends with the probe whose lines crossed the budget; the
    // operator's own series are the last part, of their own.
    EXPECT_LT(part.size(), more ? 4096u + 2048u : 16384u) << "part " << parts;
    joined += part;
  }
  EXPECT_EQ(joined, whole);
  EXPECT_GT(parts, whole.size() / (4096 + 2048));
  EXPECT_FALSE(page.next(joined, 4096)) << "a finished page stays finished";
  EXPECT_EQ(joined, whole);
}

// Multi-location: one probe's series from several locations stay apart.
TEST(Metrics, AMultiLocationOperatorLabelsProbeSeriesWithItsLocation) {
  OperatorMetrics m = sample();
  m.location = "eu-west";
  auto success_line = [](const std::string& text) {
    const auto at = text.find("\nimapprobe_probe_success{");
    return at == std::string::npos ? std::string()
                                   : text.substr(at + 1, text.find('\n', at + 1) - at - 1);
  };
  const std::string plain = success_line(render_metrics(m));
  ASSERT_FALSE(plain.empty());
  EXPECT_EQ(plain.find("location="), std::string::npos) << plain;
  m.location_label = true;
  const std::string line = success_line(render_metrics(m));
  EXPECT_NE(line.find(",location=\"eu-west\"}"), std::string::npos) << line;
}

// Every probe holds its facts for life; the content checks' findings, the
// SMTP certificate and the delivery histogram are for the few that have them.
TEST(Metrics, AProbesFactsStaySmall) {
  // 360 with the extras inline; the step times are inline (80 bytes), where
  // a vector of (step, double) pairs was 24 bytes and about 180 on the heap;
  // 312 with the families' vector and the stalled reason inline; 280 with
  // the stalled reason in a two-pointer handle.
  EXPECT_LE(sizeof(ProbeFacts), 272u);
  RunMetrics m;
  m.probe_added("mail/p");
  probe::ProbeResult r;
  r.outcome = probe::Outcome::Failure;
  r.reason = probe::Reason::AuthFailed;
  m.run_finished("mail/p", r, 1, false, false);
  const auto snap = m.snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_FALSE(snap[0].last_run->extra.is_set());
  EXPECT_FALSE(snap[0].last_run->families.is_set());
  EXPECT_FALSE(snap[0].delivery.is_set());
  EXPECT_EQ(snap[0].last_run->failure_reason, "AuthFailed");
}

TEST(Metrics, StepTimesAreKeptToTheMicrosecondInStepOrder) {
  StepSeconds steps;
  EXPECT_TRUE(steps.empty());
  steps.set(probe::Step::Login, std::chrono::nanoseconds(12'345'678));
  steps.set(probe::Step::Connect, std::chrono::nanoseconds(499));
  steps.set(probe::Step::Logout, std::chrono::hours(2));  // beyond any run: saturates
  std::vector<std::pair<probe::Step, double>> seen;
  steps.for_each([&](probe::Step step, double seconds) { seen.emplace_back(step, seconds); });
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], std::make_pair(probe::Step::Connect, 0.0));
  EXPECT_EQ(seen[1], std::make_pair(probe::Step::Login, 0.012346));
  EXPECT_EQ(seen[2].first, probe::Step::Logout);
  EXPECT_NEAR(seen[2].second, 4294.967295, 1e-6);
}

TEST(Metrics, RunsByReasonCountInReasonOrder) {
  ReasonCounts counts;
  ++counts["TLSHandshakeFailed"];
  ++counts["AuthFailed"];
  ++counts["TLSHandshakeFailed"];
  ++counts["Succeeded"];
  std::vector<std::pair<std::string, std::uint64_t>> seen(counts.begin(), counts.end());
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::uint64_t>>{
                      {"AuthFailed", 1}, {"Succeeded", 1}, {"TLSHandshakeFailed", 2}}));
}

TEST(Metrics, PassesPromtoolCheck) {
  const std::string path = ::testing::TempDir() + "/metrics.txt";
  std::ofstream(path) << render_metrics(sample());
  std::string out;
  const int rc = testing::run_command("promtool check metrics < " + path, out);
  EXPECT_EQ(rc, 0) << "promtool (Debian package prometheus, installed by tests/setup.sh) said:\n"
                   << out;
}

}  // namespace
}  // namespace imapprobe::controller
