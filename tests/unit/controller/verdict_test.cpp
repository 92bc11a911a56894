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
  s.conditions.push_back(a);
  const auto r = LocationReport::from_status(s, "eu-west");
  EXPECT_EQ(r.available, "False");
  EXPECT_EQ(r.failed_step, "connect");
  const json j = r.to_json();
  EXPECT_EQ(j["latency"], "5.000s");
  const auto back = LocationReport::from_json(j);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, r);
  const ProbeStatus carried = back->to_status();
  EXPECT_EQ(carried.consecutive_failures, 2);
  EXPECT_EQ(carried.observed_generation, 3);
  EXPECT_EQ(location_field_manager("eu-west"), "imapprobe-location-eu-west");
}

// The writer: nothing while standby; once active, one write per change,
// none when its own write comes back or a location repeats itself.
TEST(VerdictWriter, WritesTheAggregateOnlyWhenItChanges) {
  boost::asio::thread_pool pool{2};
  testing::FakeCluster cluster;
  RunMetrics metrics;
  StatusWriter status{pool, cluster, metrics, StatusWriterOptions{1ms, 20ms}};
  VerdictWriter verdict(status, VerdictWriter::Options{600s, 300ms});
  auto object = [](const std::vector<LocationReport>& reports, const json& aggregate) {
    json locations = json::array();
    for (const auto& r : reports) locations.push_back(r.to_json());
    json st = aggregate;
    st["locations"] = locations;
    return json{
        {"metadata", {{"namespace", "mail"}, {"name", "p"}, {"uid", "u1"}, {"generation", 1}}},
        {"spec", {{"interval", "60s"}, {"timeout", "10s"}}},
        {"status", st}};
  };
  const auto now = Clock::now();
  auto fresh = [&](LocationReport r) {
    r.time = encoding::Timestamp(now);
    return r;
  };
  const std::vector<LocationReport> reports{fresh(report("a", true)), fresh(report("b", false)),
                                            fresh(report("c", true))};
  verdict.upsert(object(reports, json::object()));
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
  verdict.upsert(object(reports, written));
  EXPECT_EQ(verdict.evaluate(now), 0u);
  // A second failing location: written at once.
  std::vector<LocationReport> worse = reports;
  worse[2] = fresh(report("c", false));
  verdict.upsert(object(worse, written));
  ASSERT_TRUE(cluster.wait([&] { return cluster.writes("mail/p") == 2; }));
  {
    std::lock_guard lock(cluster.mu);
    written = cluster.statuses["mail/p"].back();
  }
  verdict.upsert(object(worse, written));
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

}  // namespace
}  // namespace imapprobe::controller
