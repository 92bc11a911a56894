// Multi-location: the entries a location writes, the verdict they make, and
// the verdict writer that writes it only when it changes.
#include "controller/verdict.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <thread>

#include "controller/reasons.hpp"
#include "controller/verdict_writer.hpp"
#include "unit/controller/fake_cluster.hpp"

namespace imapprobe::controller {
namespace {
using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::system_clock;

const Clock::time_point kNow = Clock::from_time_t(1'800'000'000);

LocationReport report(const std::string& name, bool passing, const std::string& reason = {}) {
  LocationReport r;
  r.name = name;
  r.available = passing ? "True" : "False";
  r.outcome = passing ? "Success" : "Failure";
  r.reason = reason.empty() ? (passing ? "Succeeded" : "ConnectRefused") : reason;
  r.time = encoding::Timestamp(kNow - 5s);
  r.observed_generation = 1;
  return r;
}

VerdictSpec spec() {
  VerdictSpec s;
  s.generation = 1;
  s.interval = 60s;
  s.timeout = 10s;
  return s;
}

VerdictContext live(std::set<std::string> locations) {
  return VerdictContext{std::move(locations), kNow, 600s};
}

const Condition& cond(const ProbeStatus& s, const char* type) {
  const Condition* c = find_condition(s.conditions, type);
  if (c == nullptr) throw std::runtime_error(std::string("no condition ") + type);
  return *c;
}

std::string status_of(const ProbeStatus& s, const char* type) {
  return std::string(cond(s, type).status.text());
}

const std::set<std::string> kThree{"ap-south", "eu-west", "us-east"};

TEST(Verdict, OneLocationKeepsTheSingleLocationMeaning) {
  const auto up = form_verdict({}, spec(), {report("eu-west", true)}, live({"eu-west"}));
  EXPECT_EQ(status_of(up.status, kAvailable), "True");
  EXPECT_EQ(status_of(up.status, kReady), "True");
  EXPECT_EQ(up.status.observed_generation, 1);
  EXPECT_EQ(find_condition(up.status.conditions, kReconciling), nullptr);
  const auto down = form_verdict(up.status, spec(), {report("eu-west", false)}, live({"eu-west"}));
  EXPECT_EQ(status_of(down.status, kAvailable), "False");
  EXPECT_EQ(cond(down.status, kAvailable).reason, "ConnectRefused");
  ASSERT_EQ(down.events.size(), 1u);
  EXPECT_EQ(down.events[0].type, "Warning");
}

TEST(Verdict, OneOfThreeFailingIsAPartialOutageNotAnOutage) {
  const std::vector<LocationReport> all_up{report("ap-south", true), report("eu-west", true),
                                           report("us-east", true)};
  const auto up = form_verdict({}, spec(), all_up, live(kThree));
  EXPECT_EQ(cond(up.status, kAvailable).message.str(), "passing from 3 of 3 locations");
  EXPECT_EQ(status_of(up.status, kDegraded), "False");

  std::vector<LocationReport> one{report("ap-south", true),
                                  report("eu-west", false, "TLSHandshakeFailed"),
                                  report("us-east", true)};
  const auto partial = form_verdict(up.status, spec(), one, live(kThree));
  EXPECT_EQ(status_of(partial.status, kAvailable), "True");
  EXPECT_EQ(status_of(partial.status, kDegraded), "True");
  EXPECT_EQ(cond(partial.status, kDegraded).reason, reasons::kPartialOutage);
  EXPECT_EQ(cond(partial.status, kDegraded).message.str(),
            "failing from 1 of 3 locations: eu-west TLSHandshakeFailed");
  ASSERT_EQ(partial.events.size(), 1u);
  EXPECT_EQ(partial.events[0].reason, reasons::kPartialOutage);

  // Again, and in another order: the same aggregate, no Event.
  std::reverse(one.begin(), one.end());
  const auto again = form_verdict(partial.status, spec(), one, live(kThree));
  EXPECT_EQ(again.status, partial.status);
  EXPECT_TRUE(again.events.empty());

  // Two of three: unavailable, one Warning naming both.
  std::vector<LocationReport> two{report("ap-south", true), report("eu-west", false),
                                  report("us-east", false)};
  const auto outage = form_verdict(again.status, spec(), two, live(kThree));
  EXPECT_EQ(status_of(outage.status, kAvailable), "False");
  EXPECT_EQ(cond(outage.status, kAvailable).message.str(),
            "failing from 2 of 3 locations: eu-west ConnectRefused, us-east ConnectRefused");
  ASSERT_EQ(outage.events.size(), 1u);
  EXPECT_EQ(outage.events[0].type, "Warning");
  EXPECT_EQ(outage.events[0].reason, "ConnectRefused");

  // Healed: Recovered.
  const auto healed = form_verdict(outage.status, spec(), all_up, live(kThree));
  EXPECT_EQ(status_of(healed.status, kAvailable), "True");
  EXPECT_EQ(status_of(healed.status, kDegraded), "False");
  ASSERT_EQ(healed.events.size(), 1u);
  EXPECT_EQ(healed.events[0].reason, reasons::kRecovered);
}

TEST(Verdict, TheOrderOfReportsNeverChangesTheVerdict) {
  std::vector<LocationReport> reports{report("a", false, "AuthFailed"), report("b", true),
                                      report("c", false, "ConnectTimeout"),
                                      report("d", false, "ConnectTimeout")};
  const std::set<std::string> names{"a", "b", "c", "d"};
  std::sort(reports.begin(), reports.end(),
            [](const auto& x, const auto& y) { return x.name < y.name; });
  const auto first = form_verdict({}, spec(), reports, live(names));
  do {
    const auto other = form_verdict({}, spec(), reports, live(names));
    ASSERT_EQ(other.status, first.status);
  } while (std::next_permutation(reports.begin(), reports.end(),
                                 [](const auto& x, const auto& y) { return x.name < y.name; }));
  EXPECT_EQ(cond(first.status, kAvailable).reason, "ConnectTimeout") << "the most common reason";
}

TEST(Verdict, ASilentLocationCountsNeitherUpNorDown) {
  std::vector<LocationReport> reports{report("ap-south", false), report("eu-west", true),
                                      report("us-east", true)};
  // ap-south's Lease expired: its failing entry is ignored.
  const auto v = form_verdict({}, spec(), reports, live({"eu-west", "us-east"}));
  EXPECT_EQ(status_of(v.status, kAvailable), "True");
  EXPECT_EQ(status_of(v.status, kDegraded), "False");
  EXPECT_EQ(cond(v.status, kAvailable).message.str(),
            "passing from 2 of 2 locations; silent: ap-south");
  // A live location whose entry is older than 2 intervals + timeout +
  // heartbeat is silent too.
  reports[1].time = encoding::Timestamp(kNow - 2 * 60s - 10s - 600s - 1s);
  const auto views = classify_locations(spec(), reports, live(kThree));
  ASSERT_EQ(views.size(), 3u);
  EXPECT_EQ(views[1].name, "eu-west");
  EXPECT_EQ(views[1].state, LocationState::Silent);
  // Every location silent: Unknown.
  const auto none = form_verdict(v.status, spec(), reports, live({}));
  EXPECT_EQ(status_of(none.status, kAvailable), "Unknown");
  EXPECT_EQ(cond(none.status, kAvailable).reason, reasons::kNoLocationReporting);
}

TEST(Verdict, FewerReportingThanTheMinimumAllFailingIsAnOutage) {
  // Two silent of three, the one left fails: silence must not hide it.
  const auto v = form_verdict({}, spec(), {report("eu-west", false)}, live({"eu-west"}));
  EXPECT_EQ(status_of(v.status, kAvailable), "False");
}

TEST(Verdict, MinFailingLocationsAndSpecLocationsAreHonoured) {
  VerdictSpec one = spec();
  one.min_failing = 1;
  std::vector<LocationReport> reports{report("ap-south", true), report("eu-west", false),
                                      report("us-east", true)};
  EXPECT_EQ(status_of(form_verdict({}, one, reports, live(kThree)).status, kAvailable), "False");
  VerdictSpec listed = spec();
  listed.locations = {"ap-south", "us-east"};
  const auto v = form_verdict({}, listed, reports, live(kThree));
  EXPECT_EQ(status_of(v.status, kAvailable), "True");
  EXPECT_EQ(status_of(v.status, kDegraded), "False") << "eu-west is not the probe's location";
}

TEST(Verdict, ANewGenerationIsReconcilingUntilALocationRunsIt) {
  VerdictSpec two = spec();
  two.generation = 2;
  const auto v = form_verdict({}, two, {report("eu-west", true)}, live({"eu-west"}));
  EXPECT_EQ(status_of(v.status, kReconciling), "True");
  EXPECT_EQ(v.status.observed_generation, 1);
  auto r = report("eu-west", true);
  r.observed_generation = 2;
  const auto done = form_verdict(v.status, two, {r}, live({"eu-west"}));
  EXPECT_EQ(find_condition(done.status.conditions, kReconciling), nullptr);
  EXPECT_EQ(done.status.observed_generation, 2);
}

TEST(Verdict, AStalledLocationStallsTheProbe) {
  LocationReport r = report("eu-west", true);
  r.outcome = "Stalled";
  r.reason = reasons::kSecretNotFound;
  r.message = "Secret mail/creds not found";
  const auto v = form_verdict({}, spec(), {r}, live({"eu-west"}));
  EXPECT_EQ(status_of(v.status, kStalled), "True");
  EXPECT_EQ(cond(v.status, kReady).reason, reasons::kSecretNotFound);
}

LocationReport failing_since(const std::string& name, Clock::duration ago,
                             const std::string& reason = "ConnectTimeout") {
  LocationReport r = report(name, false, reason);
  r.failing_since = encoding::Timestamp(kNow - ago);
  return r;
}

VerdictContext live_at(std::set<std::string> locations, Clock::time_point now) {
  return VerdictContext{std::move(locations), now, 600s};
}

// spec.verdict.minFailureDuration: enough failing locations make an outage
// only once the required-th of them has failed that long.
TEST(Verdict, AnOutageMustLastMinFailureDuration) {
  VerdictSpec d = spec();
  d.min_failure_duration = 120s;
  const std::vector<LocationReport> all_up{report("ap-south", true), report("eu-west", true),
                                           report("us-east", true)};
  const auto up = form_verdict({}, d, all_up, live(kThree));
  // eu-west failing for 100 s, us-east for 30 s: two failing (the default
  // minimum of three locations) since 30 s ago.
  const std::vector<LocationReport> two{report("ap-south", true), failing_since("eu-west", 100s),
                                        failing_since("us-east", 30s)};
  const auto pending = form_verdict(up.status, d, two, live(kThree));
  EXPECT_EQ(status_of(pending.status, kAvailable), "True");
  EXPECT_EQ(cond(pending.status, kAvailable).reason, reasons::kOutagePending);
  EXPECT_EQ(status_of(pending.status, kDegraded), "True");
  EXPECT_EQ(cond(pending.status, kDegraded).reason, reasons::kOutagePending);
  EXPECT_EQ(cond(pending.status, kDegraded).message.str(),
            "failing from 2 of 3 locations since " + encoding::Timestamp(kNow - 30s).to_string() +
                ", unavailable from " + encoding::Timestamp(kNow + 90s).to_string() +
                " (spec.verdict.minFailureDuration): eu-west ConnectTimeout, us-east "
                "ConnectTimeout");
  EXPECT_TRUE(pending.events.empty()) << "no Event while pending";
  // Ten seconds on: the same status (no ticking count to write).
  const auto later = form_verdict(pending.status, d, two, live_at(kThree, kNow + 10s));
  EXPECT_EQ(later.status, pending.status);
  // 90 s on: the outage has lasted 120 s. One Warning.
  const auto outage = form_verdict(later.status, d, two, live_at(kThree, kNow + 90s));
  EXPECT_EQ(status_of(outage.status, kAvailable), "False");
  EXPECT_EQ(cond(outage.status, kAvailable).reason, "ConnectTimeout");
  ASSERT_EQ(outage.events.size(), 1u);
  EXPECT_EQ(outage.events[0].type, "Warning");
  // us-east recovers as ap-south starts failing: still two, still an outage
  // (no fall back to pending although ap-south has just begun).
  std::vector<LocationReport> swapped{failing_since("ap-south", 0s), failing_since("eu-west", 100s),
                                      report("us-east", true)};
  const auto still = form_verdict(outage.status, d, swapped, live_at(kThree, kNow + 91s));
  EXPECT_EQ(status_of(still.status, kAvailable), "False");
  EXPECT_TRUE(still.events.empty());
  const auto healed = form_verdict(still.status, d, all_up, live_at(kThree, kNow + 92s));
  EXPECT_EQ(status_of(healed.status, kAvailable), "True");
  ASSERT_EQ(healed.events.size(), 1u);
  EXPECT_EQ(healed.events[0].reason, reasons::kRecovered);
}

TEST(Verdict, APartialOutageTurningPendingIsNotARecovery) {
  VerdictSpec d = spec();
  d.min_failure_duration = 120s;
  const std::vector<LocationReport> one{report("ap-south", true), failing_since("eu-west", 100s),
                                        report("us-east", true)};
  const auto partial = form_verdict({}, d, one, live(kThree));
  EXPECT_EQ(cond(partial.status, kDegraded).reason, reasons::kPartialOutage);
  const std::vector<LocationReport> two{report("ap-south", true), failing_since("eu-west", 100s),
                                        failing_since("us-east", 10s)};
  const auto pending = form_verdict(partial.status, d, two, live(kThree));
  EXPECT_EQ(cond(pending.status, kDegraded).reason, reasons::kOutagePending);
  EXPECT_TRUE(pending.events.empty());
  // Without a duration the same reports are an outage at once.
  EXPECT_EQ(status_of(form_verdict(partial.status, spec(), two, live(kThree)).status, kAvailable),
            "False");
  // It clears before the duration: Recovered (the PartialOutage Warning
  // was recorded).
  const std::vector<LocationReport> all_up{report("ap-south", true), report("eu-west", true),
                                           report("us-east", true)};
  const auto healed = form_verdict(pending.status, d, all_up, live(kThree));
  ASSERT_EQ(healed.events.size(), 1u);
  EXPECT_EQ(healed.events[0].reason, reasons::kRecovered);
}

TEST(Verdict, ShowsTheNewestRunAndTheFewestCertificateDaysForKubectl) {
  auto at = [](LocationReport r, Clock::duration ago, std::optional<long> days) {
    r.time = encoding::Timestamp(kNow - ago);
    r.durations["total"] = 41ms;
    r.certificate_days_remaining = days;
    return r;
  };
  std::vector<LocationReport> reports{at(report("ap-south", true), 20s, 60),
                                      at(report("eu-west", false), 5s, 59),
                                      at(report("us-east", true), 40s, std::nullopt)};
  auto v = form_verdict({}, spec(), reports, live(kThree));
  ASSERT_TRUE(v.status.last_run);
  EXPECT_EQ(v.status.last_run->location, "eu-west");
  EXPECT_EQ(v.status.last_run->outcome, "Failure");
  EXPECT_EQ(v.status.last_run->time, encoding::Timestamp(kNow - 5s));
  EXPECT_EQ(v.status.last_run->durations.at("total"), 41ms);
  ASSERT_TRUE(v.status.certificate);
  EXPECT_EQ(v.status.certificate->days_remaining, 59);
  // A silent location's run and days are not shown.
  v = form_verdict({}, spec(), reports, live({"ap-south", "us-east"}));
  EXPECT_EQ(v.status.last_run->location, "ap-south");
  EXPECT_EQ(v.status.certificate->days_remaining, 60);
  const json body = VerdictWriter::aggregate_body(v.status);
  EXPECT_EQ(body["lastRun"]["location"], "ap-south");
  EXPECT_EQ(body["lastRun"]["durations"]["total"], "41.0ms");
  EXPECT_EQ(body["certificate"], (json{{"daysRemaining", 60}})) << "days only: no empty dates";
  EXPECT_FALSE(body.contains("locations"));
}

TEST(Verdict, ReadsMinFailureDurationFromTheSpec) {
  json object = {{"metadata", {{"generation", 3}}},
                 {"spec", {{"verdict", {{"minFailureDuration", "2m30s"}}}}}};
  EXPECT_EQ(verdict_spec_of(object).min_failure_duration, 150s);
  object["spec"]["verdict"]["minFailureDuration"] = "soon";
  try {
    verdict_spec_of(object);
    FAIL() << "accepted";
  } catch (const InvalidSpec& e) {
    EXPECT_NE(std::string(e.what()).find("spec.verdict.minFailureDuration"), std::string::npos)
        << e.what();
  }
}

TEST(Verdict, GoneEntriesAreOfDeadLocationsPastRetentionOrNoLongerNamed) {
  std::vector<LocationReport> reports{report("ap-south", true), report("eu-west", true),
                                      report("us-east", true)};
  reports[0].time = encoding::Timestamp(kNow - 25h);  // dead a day
  reports[1].time = encoding::Timestamp(kNow - 2h);   // dead two hours
  const std::set<std::string> only_us{"us-east"};
  EXPECT_EQ(gone_entries(spec(), reports, only_us, kNow, 24h),
            std::vector<std::string>{"ap-south"});
  EXPECT_TRUE(gone_entries(spec(), reports, only_us, kNow, 0s).empty()) << "0: kept";
  EXPECT_TRUE(gone_entries(spec(), reports, kThree, kNow, 24h).empty())
      << "a live location's entry is its own to remove";
  VerdictSpec named = spec();
  named.locations = {"us-east", "ap-south"};
  EXPECT_EQ(gone_entries(named, reports, only_us, kNow, 24h),
            (std::vector<std::string>{"ap-south", "eu-west"}))
      << "eu-west is no longer named and cannot remove its entry itself";
  reports[1].time = {};
  EXPECT_EQ(gone_entries(spec(), reports, only_us, kNow, 24h),
            (std::vector<std::string>{"ap-south", "eu-west"}))
      << "an entry without a time and no Lease";
}

TEST(LocationReport, SurvivesJsonAndCarriesTheLocationsCounters) {
  ProbeStatus s;
  s.observed_generation = 3;
  s.consecutive_failures = 2;
  LastRun run;
  run.time = encoding::Timestamp(kNow);
  run.outcome = "Failure";
  run.reason = "ConnectTimeout";
  run.message = "no connection within 5s";
  run.failed_step = "connect";
  run.durations["total"] = 5s;
  s.last_run = run;
  Condition a;
  a.type = kAvailable;
  a.status = ConditionStatus("False");
  a.reason = "ConnectTimeout";
  a.last_transition_time = encoding::Timestamp(kNow - 90s);
  s.conditions.push_back(a);
  const auto r = LocationReport::from_status(s, "eu-west");
  EXPECT_EQ(r.available, "False");
  EXPECT_EQ(r.failing_since, encoding::Timestamp(kNow - 90s));
  EXPECT_EQ(r.failed_step, "connect");
  const json j = r.to_json();
  EXPECT_EQ(j["latency"], "5.000s");
  const auto back = LocationReport::from_json(j);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, r);
  const ProbeStatus carried = back->to_status();
  EXPECT_EQ(carried.consecutive_failures, 2);
  EXPECT_EQ(carried.observed_generation, 3);
  EXPECT_EQ(find_condition(carried.conditions, kAvailable)->last_transition_time,
            encoding::Timestamp(kNow - 90s))
      << "a location carries on from when it began failing";
  EXPECT_EQ(location_field_manager("eu-west"), "imapprobe-location-eu-west");
}

// ImapProbe mail/p as the watch shows it: these entries and that aggregate.
json probe_object(const std::vector<LocationReport>& reports, const json& aggregate) {
  json locations = json::array();
  for (const auto& r : reports) locations.push_back(r.to_json());
  json st = aggregate;
  st["locations"] = locations;
  return json{
      {"metadata", {{"namespace", "mail"}, {"name", "p"}, {"uid", "u1"}, {"generation", 1}}},
      {"spec", {{"interval", "60s"}, {"timeout", "10s"}}},
      {"status", st}};
}

// The writer: nothing while standby; once active, one write per change,
// none when its own write comes back or a location repeats itself.
TEST(VerdictWriter, WritesTheAggregateOnlyWhenItChanges) {
  boost::asio::thread_pool pool{2};
  testing::FakeCluster cluster;
  RunMetrics metrics;
  StatusWriter status{pool, cluster, metrics, StatusWriterOptions{1ms, 20ms}};
  VerdictWriter verdict(status, VerdictWriter::Options{600s, 300ms});
  const auto now = Clock::now();
  auto fresh = [&](LocationReport r) {
    r.time = encoding::Timestamp(now);
    return r;
  };
  const std::vector<LocationReport> reports{fresh(report("a", true)), fresh(report("b", false)),
                                            fresh(report("c", true))};
  verdict.upsert(probe_object(reports, json::object()));
  verdict.set_live_locations({"a", "b", "c"});
  EXPECT_EQ(verdict.evaluate(now), 0u) << "standby writes nothing";
  verdict.set_active(true);
  EXPECT_EQ(verdict.evaluate(now), 1u);
  EXPECT_EQ(verdict.evaluate(now), 0u) << "submitted, not yet seen back: not again";
  ASSERT_TRUE(cluster.wait(
      [&] { return cluster.writes("mail/p") == 1 && !cluster.events["mail/p"].empty(); }));
  json written;
  {
    std::lock_guard lock(cluster.mu);
    written = cluster.statuses["mail/p"].back();
    EXPECT_EQ(cluster.events["mail/p"].size(), 1u);
    EXPECT_EQ(cluster.events["mail/p"][0].reason, reasons::kPartialOutage);
  }
  EXPECT_FALSE(written.contains("locations")) << "the aggregate never touches an entry";
  // The write comes back through the watch, then a location rewrites its
  // entry with the same outcome: nothing to write.
  verdict.upsert(probe_object(reports, written));
  EXPECT_EQ(verdict.evaluate(now), 0u);
  // A second failing location: written at once.
  std::vector<LocationReport> worse = reports;
  worse[2] = fresh(report("c", false));
  verdict.upsert(probe_object(worse, written));
  ASSERT_TRUE(cluster.wait([&] { return cluster.writes("mail/p") == 2; }));
  {
    std::lock_guard lock(cluster.mu);
    written = cluster.statuses["mail/p"].back();
  }
  verdict.upsert(probe_object(worse, written));
  // a goes silent: the verdict stands (b and c fail), only its message
  // changes, which waits for the hold after the last write.
  verdict.set_live_locations({"b", "c"});
  EXPECT_EQ(verdict.evaluate(now), 0u) << "a message alone waits";
  std::this_thread::sleep_for(350ms);
  EXPECT_EQ(verdict.evaluate(now), 1u);
  ASSERT_TRUE(cluster.wait([&] { return cluster.writes("mail/p") == 3; }));
  std::promise<void> drained;
  status.drain([&] { drained.set_value(); });
  ASSERT_EQ(drained.get_future().wait_for(5s), std::future_status::ready);
  pool.join();
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(cluster.events["mail/p"].back().type, "Warning");
  EXPECT_EQ(cluster.events["mail/p"].size(), 2u) << "no Event for a message";
  EXPECT_NE(cluster.statuses["mail/p"].back().dump().find("silent: a"), std::string::npos);
}

// A location gone for good: the active writer asks once for its entry's
// removal, at the entry's place in the list as the API server holds it.
TEST(VerdictWriter, RemovesTheEntryOfALocationGoneForGood) {
  boost::asio::thread_pool pool{2};
  testing::FakeCluster cluster;
  RunMetrics metrics;
  StatusWriter status{pool, cluster, metrics, StatusWriterOptions{1ms, 20ms}};
  VerdictWriter::Options options{600s, 0ms};
  options.entry_retention = 3600s;
  options.removal_retry = 200ms;
  VerdictWriter verdict(status, options);
  const auto now = Clock::now();
  LocationReport old = report("ap-south", true);
  old.time = encoding::Timestamp(now - 2h);
  LocationReport fresh = report("eu-west", true);
  fresh.time = encoding::Timestamp(now);
  // A malformed entry first: positions are those of the server's list.
  const json object = {
      {"metadata", {{"namespace", "mail"}, {"name", "p"}, {"uid", "u1"}, {"generation", 1}}},
      {"spec", {{"interval", "60s"}, {"timeout", "10s"}}},
      {"status",
       {{"locations",
         json::array({json{{"outcome", "Success"}}, fresh.to_json(), old.to_json()})}}}};
  verdict.upsert(object);
  verdict.set_live_locations({"eu-west"});
  verdict.evaluate(now);
  {
    std::lock_guard lock(cluster.mu);
    EXPECT_TRUE(cluster.removals["mail/p"].empty()) << "standby removes nothing";
  }
  verdict.set_active(true);
  verdict.evaluate(now);
  verdict.evaluate(now);
  ASSERT_TRUE(cluster.wait([&] { return cluster.removals["mail/p"].size() == 1; }));
  {
    std::lock_guard lock(cluster.mu);
    EXPECT_EQ(cluster.removals["mail/p"][0], "ap-south@2");
  }
  // Still there after the retry delay (the removal was refused): asked again.
  std::this_thread::sleep_for(250ms);
  verdict.evaluate(now);
  ASSERT_TRUE(cluster.wait([&] { return cluster.removals["mail/p"].size() == 2; }));
  // Gone from the watch's object: not asked again.
  json without = object;
  without["status"]["locations"].erase(2);
  verdict.upsert(without);
  std::this_thread::sleep_for(250ms);
  verdict.evaluate(now);
  std::promise<void> drained;
  status.drain([&] { drained.set_value(); });
  ASSERT_EQ(drained.get_future().wait_for(5s), std::future_status::ready);
  pool.join();
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(cluster.removals["mail/p"].size(), 2u);
}

// The printer columns' lastRun: a newer run alone waits for the heartbeat;
// a change of certificate days is written at once.
TEST(VerdictWriter, RefreshesTheShownRunOncePerHeartbeat) {
  boost::asio::thread_pool pool{2};
  testing::FakeCluster cluster;
  RunMetrics metrics;
  StatusWriter status{pool, cluster, metrics, StatusWriterOptions{1ms, 20ms}};
  VerdictWriter verdict(status, VerdictWriter::Options{600s, 0ms});
  const auto t0 = Clock::now();
  auto ran = [](const std::string& name, Clock::time_point t, long days) {
    LocationReport r = report(name, true);
    r.time = encoding::Timestamp(t);
    r.certificate_days_remaining = days;
    return r;
  };
  auto last_written = [&] {
    std::lock_guard lock(cluster.mu);
    return cluster.statuses["mail/p"].back();
  };
  verdict.set_live_locations({"a", "b"});
  verdict.set_active(true);
  verdict.upsert(probe_object({ran("a", t0, 60), ran("b", t0 - 10s, 60)}, json::object()));
  ASSERT_TRUE(cluster.wait([&] { return cluster.writes("mail/p") == 1; }));
  json written = last_written();
  EXPECT_EQ(written["lastRun"]["location"], "a");
  EXPECT_EQ(written["lastRun"]["time"], encoding::Timestamp(t0).to_string());
  verdict.upsert(probe_object({ran("a", t0, 60), ran("b", t0 - 10s, 60)}, written));
  // b runs again 50 s later: the verdict stands, the shown run is fresh.
  verdict.upsert(probe_object({ran("a", t0, 60), ran("b", t0 + 50s, 60)}, written));
  EXPECT_EQ(verdict.evaluate(t0 + 50s), 0u);
  // A heartbeat after the shown run: written, with b's newer run.
  std::vector<LocationReport> later{ran("a", t0 + 590s, 60), ran("b", t0 + 560s, 60)};
  verdict.upsert(probe_object(later, written));
  EXPECT_EQ(verdict.evaluate(t0 + 599s), 0u);
  EXPECT_EQ(verdict.evaluate(t0 + 600s), 1u);
  ASSERT_TRUE(cluster.wait([&] { return cluster.writes("mail/p") == 2; }));
  written = last_written();
  EXPECT_EQ(written["lastRun"]["location"], "a");
  EXPECT_EQ(written["lastRun"]["time"], encoding::Timestamp(t0 + 590s).to_string());
  verdict.upsert(probe_object(later, written));
  EXPECT_EQ(verdict.evaluate(t0 + 601s), 0u) << "its own write came back";
  // b sees one day fewer: written at once.
  later[1].certificate_days_remaining = 59;
  verdict.upsert(probe_object(later, written));
  ASSERT_TRUE(cluster.wait([&] { return cluster.writes("mail/p") == 3; }));
  EXPECT_EQ(last_written()["certificate"]["daysRemaining"], 59);
  std::promise<void> drained;
  status.drain([&] { drained.set_value(); });
  ASSERT_EQ(drained.get_future().wait_for(5s), std::future_status::ready);
  pool.join();
}

}  // namespace
}  // namespace imapprobe::controller
