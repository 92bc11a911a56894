// The reconciler with a fake cluster and a fake engine, on a real io_context.
#include "controller/reconciler.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <functional>
#include <future>
#include <sstream>
#include <thread>

#include "controller/shard_assignment.hpp"
#include "encoding/time.hpp"
#include "unit/controller/fake_cluster.hpp"

namespace imapprobe::controller {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;
using nlohmann::json;

using testing::FakeCluster;

json probe_object(const std::string& name, std::int64_t generation,
                  json spec_extra = json::object()) {
  json spec = {{"server", {{"host", "imap.test"}}},
               {"auth", {{"secretRef", {{"name", "creds"}}}}},
               {"interval", "10s"},
               {"timeout", "5s"},
               {"failureThreshold", 1}};
  spec.merge_patch(spec_extra);
  return {
      {"apiVersion", "imapprobe.dev/v1alpha1"},
      {"kind", "ImapProbe"},
      {"metadata",
       {{"name", name}, {"namespace", "mail"}, {"generation", generation}, {"uid", name + "-uid"}}},
      {"spec", spec}};
}

std::string condition(const json& status, const std::string& type, const char* field = "status") {
  for (const auto& c : status["conditions"]) {
    if (c["type"] == type) return c[field];
  }
  return "";
}

class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster.secrets["mail/creds"] = {{"username", "probe"}, {"password", "pw"}};
    reconciler = make(options_with([](ReconcilerOptions&) {}));
    worker = std::thread([this] {
      auto guard = asio::make_work_guard(io);
      io.run();
    });
  }
  // The fixture's options with `change` applied.
  static ReconcilerOptions options_with(const std::function<void(ReconcilerOptions&)>& change) {
    ReconcilerOptions options;
    options.first_run_spread = 0ms;
    options.stalled_retry = 200ms;
    options.concurrency = 2;
    options.status_heartbeat = 1s;
    options.pending_after = 100ms;
    change(options);
    return options;
  }
  // Replaces the reconciler by one with other options (the old one drained).
  void restart(ReconcilerOptions options) {
    std::promise<void> drained;
    reconciler->shutdown([&] { drained.set_value(); });
    ASSERT_EQ(drained.get_future().wait_for(5s), std::future_status::ready);
    reconciler = make(options);
  }
  std::unique_ptr<Reconciler> make(ReconcilerOptions options) {
    return std::make_unique<Reconciler>(
        io, pool, cluster,
        [this](probe::ProbeSpec spec,
               probe::Credentials creds) -> asio::awaitable<probe::ProbeResult> {
          {
            std::lock_guard lock(cluster.mu);
            ++runs;
            ++running;
            max_running = std::max(max_running, running);
            seen_creds = creds;
            seen_hosts.push_back(spec.host);
          }
          asio::steady_timer t(co_await asio::this_coro::executor, run_time);
          co_await t.async_wait(asio::use_awaitable);
          if (throw_in_run) {
            std::lock_guard lock(cluster.mu);
            --running;
            throw std::logic_error("engine invariant broken");
          }
          probe::ProbeResult r;
          {
            std::lock_guard lock(cluster.mu);
            --running;
            r.outcome = fail ? probe::Outcome::Failure : probe::Outcome::Success;
            r.reason = fail ? probe::Reason::AuthFailed : probe::Reason::Succeeded;
          }
          r.message = "fake";
          r.total = 5ms;
          co_return r;
        },
        options);
  }
  void TearDown() override {
    std::promise<void> drained;
    reconciler->shutdown([&] { drained.set_value(); });
    EXPECT_EQ(drained.get_future().wait_for(5s), std::future_status::ready);
    io.stop();
    worker.join();
    pool.join();
  }

  asio::io_context io;
  asio::thread_pool pool{2};
  FakeCluster cluster;
  std::unique_ptr<Reconciler> reconciler;
  std::thread worker;
  int runs = 0, running = 0, max_running = 0;
  bool fail = false;
  bool throw_in_run = false;
  std::chrono::milliseconds run_time{10};
  probe::Credentials seen_creds;
  std::vector<std::string> seen_hosts;
  std::ostringstream log_text;
};

TEST_F(ReconcilerTest, NewProbeRunsAndWritesStatusWithSecretFromTheCluster) {
  reconciler->upsert(probe_object("a", 1));
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/a") >= 1; }));
  std::lock_guard lock(cluster.mu);
  const json& s = cluster.statuses["mail/a"].back();
  EXPECT_EQ(s["observedGeneration"], 1);
  EXPECT_EQ(condition(s, "Ready"), "True");
  EXPECT_EQ(condition(s, "Available"), "True");
  EXPECT_EQ(seen_creds.username, "probe");
  EXPECT_EQ(seen_creds.secret, "pw");
  EXPECT_EQ(cluster.secret_reads, 1) << "username and password share one Secret: one GET";
  EXPECT_EQ(s.dump().find("\"pw\""), std::string::npos) << "secret copied into status";
}

TEST_F(ReconcilerTest, MissingSecretIsStalledThenRecoversWhenItAppears) {
  {
    std::lock_guard lock(cluster.mu);
    cluster.secrets.clear();
  }
  reconciler->upsert(probe_object("b", 1));
  // Events follow their status write.
  ASSERT_TRUE(cluster.wait(
      [&] { return cluster.settled_writes("mail/b") >= 1 && !cluster.events["mail/b"].empty(); }));
  {
    std::lock_guard lock(cluster.mu);
    const json& s = cluster.statuses["mail/b"].back();
    EXPECT_EQ(condition(s, "Stalled"), "True");
    EXPECT_EQ(condition(s, "Stalled", "reason"), "SecretNotFound");
    EXPECT_EQ(condition(s, "Ready"), "False");
    ASSERT_EQ(cluster.events["mail/b"].size(), 1u);
    EXPECT_EQ(runs, 0);
  }
  // A probe that cannot run still exports its state, for an alert.
  auto stalled_reason = [&] {
    for (const auto& p : reconciler->snapshot())
      if (p.name == "b") return p.stalled_reason.str();
    return std::string("(not exported)");
  };
  EXPECT_EQ(stalled_reason(), "SecretNotFound");
  {
    std::lock_guard lock(cluster.mu);
    cluster.secrets["mail/creds"] = {{"username", "probe"}, {"password", "pw"}};
  }
  ASSERT_TRUE(cluster.wait([&] {
    return !cluster.statuses["mail/b"].empty() &&
           condition(cluster.statuses["mail/b"].back(), "Ready") == "True";
  }));
  EXPECT_EQ(stalled_reason(), "");
}

TEST_F(ReconcilerTest, InvalidSpecIsStalledWithoutRunning) {
  reconciler->upsert(probe_object("c", 1, {{"interval", "5s"}, {"timeout", "30s"}}));
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/c") >= 1; }));
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(condition(cluster.statuses["mail/c"].back(), "Stalled", "reason"), "InvalidSpec");
  EXPECT_EQ(runs, 0);
}

TEST_F(ReconcilerTest, FailureThenRecoveryEmitsOneWarningAndOneRecovered) {
  fail = true;
  reconciler->upsert(probe_object("d", 1));
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/d") >= 1; }));
  {
    std::lock_guard lock(cluster.mu);
    EXPECT_EQ(condition(cluster.statuses["mail/d"].back(), "Available"), "False");
    EXPECT_EQ(condition(cluster.statuses["mail/d"].back(), "Ready"), "True");
    fail = false;
  }
  // A spec change runs again promptly.
  reconciler->upsert(probe_object("d", 2, {{"server", {{"host", "imap2.test"}}}}));
  ASSERT_TRUE(cluster.wait([&] {
    return !cluster.statuses["mail/d"].empty() &&
           cluster.statuses["mail/d"].back()["observedGeneration"] == 2;
  }));
  ASSERT_TRUE(cluster.wait([&] { return cluster.events["mail/d"].size() >= 2; }));
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(condition(cluster.statuses["mail/d"].back(), "Available"), "True");
  EXPECT_EQ(seen_hosts.back(), "imap2.test");
  ASSERT_EQ(cluster.events["mail/d"].size(), 2u);
  EXPECT_EQ(cluster.events["mail/d"][0].reason, "AuthFailed");
  EXPECT_EQ(cluster.events["mail/d"][1].reason, "Recovered");
}

TEST_F(ReconcilerTest, OwnStatusUpdatesDoNotTriggerRuns) {
  reconciler->upsert(probe_object("e", 1));
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/e") >= 1; }));
  json with_status = probe_object("e", 1);
  with_status["status"] = cluster.statuses["mail/e"].back();
  for (int i = 0; i < 5; ++i) reconciler->upsert(with_status);
  std::this_thread::sleep_for(300ms);
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(runs, 1);
}

TEST_F(ReconcilerTest, DeleteStopsTheSchedule) {
  reconciler->upsert(probe_object("f", 1, {{"interval", "10s"}, {"timeout", "1s"}}));
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/f") >= 1; }));
  reconciler->remove("mail", "f");
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(reconciler->stats().probes, 0u);
}

TEST_F(ReconcilerTest, SyncDropsProbesDeletedWhileUnobserved) {
  reconciler->upsert(probe_object("g", 1));
  reconciler->upsert(probe_object("h", 1));
  ASSERT_TRUE(cluster.wait([&] {
    return cluster.settled_writes("mail/g") >= 1 && cluster.settled_writes("mail/h") >= 1;
  }));
  reconciler->sync("", {probe_object("g", 1)});
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(reconciler->stats().probes, 1u);
}

TEST_F(ReconcilerTest, ConcurrencyIsBounded) {
  run_time = 100ms;
  for (int i = 0; i < 6; ++i) reconciler->upsert(probe_object("p" + std::to_string(i), 1));
  ASSERT_TRUE(cluster.wait([&] {
    int done = 0;
    for (int i = 0; i < 6; ++i) done += cluster.settled_writes("mail/p" + std::to_string(i)) > 0;
    return done == 6;
  }));
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(max_running, 2);
}

TEST_F(ReconcilerTest, SuspendedProbeDoesNotRun) {
  reconciler->upsert(probe_object("s", 1, {{"suspend", true}}));
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/s") >= 1; }));
  std::this_thread::sleep_for(100ms);
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(runs, 0);
  EXPECT_EQ(condition(cluster.statuses["mail/s"].back(), "Ready", "reason"), "Suspended");
  const auto probes = reconciler->snapshot();
  ASSERT_EQ(probes.size(), 1u);
  EXPECT_TRUE(probes[0].suspended) << "a suspended probe must be visible in /metrics";
}

TEST_F(ReconcilerTest, StandbyReplicaRunsNothingUntilItLeads) {
  reconciler->set_active(false);
  reconciler->upsert(probe_object("l", 1));
  std::this_thread::sleep_for(200ms);
  {
    std::lock_guard lock(cluster.mu);
    EXPECT_EQ(runs, 0);
  }
  reconciler->set_active(true);
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/l") >= 1; }));
}

json with_uid(json object, const std::string& uid) {
  object["metadata"]["uid"] = uid;
  return object;
}

// Defect: losing and regaining leadership while a run was in flight started a
// second run of the same probe beside the first.
TEST_F(ReconcilerTest, ALeadershipFlapDuringARunNeverDoublesIt) {
  run_time = 300ms;
  reconciler->upsert(probe_object("flap", 1));
  auto locked = [&](auto pred) {
    return FakeCluster::eventually([&] {
      std::lock_guard lock(cluster.mu);
      return pred();
    });
  };
  ASSERT_TRUE(locked([&] { return running == 1; }));
  reconciler->set_active(false);
  reconciler->set_active(true);
  reconciler->set_active(false);
  reconciler->set_active(true);
  ASSERT_TRUE(locked([&] { return runs >= 2; }));
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(max_running, 1);
}

// Defect: a probe deleted and re-created under the same name while the watch
// was away (seen at a relist) kept the old spec, status and baseline.
TEST_F(ReconcilerTest, ReCreatedUnderTheSameNameIsANewProbe) {
  json old = probe_object("re", 1);
  old["status"] = {{"observedGeneration", 1},
                   {"consecutiveFailures", 7},
                   {"baseline", {{"total", "10.0ms"}, {"samples", 30}}},
                   {"lastRun", {{"time", "2099-01-01T00:00:00Z"}, {"reason", "Succeeded"}}}};
  reconciler->upsert(old);  // status current for generation 1: keeps its rhythm, no run now
  std::this_thread::sleep_for(100ms);
  ASSERT_EQ(runs, 0);
  reconciler->sync(
      "", {with_uid(probe_object("re", 1, {{"server", {{"host", "new.test"}}}}), "re-uid-2")});
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/re") >= 1; }));
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(seen_hosts.back(), "new.test");
  EXPECT_EQ(cluster.write_uids["mail/re"].back(), "re-uid-2");
  const json& s = cluster.statuses["mail/re"].back();
  EXPECT_EQ(s["consecutiveFailures"], 0);
  EXPECT_EQ(s["baseline"]["samples"], 1) << "no baseline carried over: " << s.dump();
}

// Defect: an exception out of the engine was blamed on the server (ProtocolError).
TEST_F(ReconcilerTest, AnEngineExceptionIsAnInternalErrorNotTheServers) {
  throw_in_run = true;
  reconciler->upsert(probe_object("bug", 1));
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/bug") >= 1; }));
  std::lock_guard lock(cluster.mu);
  const json& s = cluster.statuses["mail/bug"].back();
  EXPECT_EQ(s["lastRun"]["reason"], "InternalError");
  EXPECT_NE(s["lastRun"]["message"].get<std::string>().find("engine invariant broken"),
            std::string::npos);
}

// Defect: a CA bundle that is not PEM was reported as a TLS outage.
TEST_F(ReconcilerTest, AMalformedCaBundleStallsWithoutARun) {
  {
    std::lock_guard lock(cluster.mu);
    cluster.secrets["mail/ca"] = {{"ca.crt", "-----BEGIN NONSENSE-----"}};
  }
  reconciler->upsert(
      probe_object("ca", 1, {{"server", {{"caBundleSecretRef", {{"name", "ca"}}}}}}));
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/ca") >= 1; }));
  std::lock_guard lock(cluster.mu);
  const json& s = cluster.statuses["mail/ca"].back();
  EXPECT_EQ(condition(s, "Stalled"), "True");
  EXPECT_EQ(condition(s, "Stalled", "reason"), "InvalidCABundle");
  EXPECT_EQ(condition(s, "Available"), "Unknown");
  EXPECT_EQ(runs, 0);
}

// Defect: while the API server was away every run became SecretUnreadable
// and every probe's Ready and Stalled conditions flipped.
TEST_F(ReconcilerTest, AnApiServerOutageMovesNoConditionAndRunsGoOn) {
  reconciler->upsert(probe_object("out", 1, {{"interval", "300ms"}, {"timeout", "100ms"}}));
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/out") >= 1; }));
  {
    std::lock_guard lock(cluster.mu);
    cluster.on_get_secret = [] { throw ClusterApiError(503, "the server is currently unable"); };
  }
  const int before = runs;
  ASSERT_TRUE(cluster.wait([&] { return runs >= before + 3; }));
  // A probe first seen during the outage has no credentials: it waits, silently.
  reconciler->upsert(probe_object("new", 1));
  std::this_thread::sleep_for(300ms);
  {
    std::lock_guard lock(cluster.mu);
    for (const json& s : cluster.statuses["mail/out"]) {
      if (FakeCluster::is_pending(s)) continue;  // before its first run
      EXPECT_EQ(condition(s, "Ready"), "True") << s.dump();
      EXPECT_EQ(condition(s, "Stalled"), "False") << s.dump();
    }
    EXPECT_TRUE(cluster.events["mail/out"].empty());
    EXPECT_EQ(cluster.settled_writes("mail/new"), 0u);
    EXPECT_EQ(seen_creds.secret, "pw");
    cluster.on_get_secret = nullptr;
  }
  EXPECT_GE(reconciler->stats().runs_skipped_api_down, 1u);
  // Back: the waiting probe runs within its retry period.
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/new") >= 1; }));
}

// Defect: a run whose credentials needed no request (no Secret, or all of
// them in the Secret cache) still queued on the API pool behind status
// writes; at 10,000 probes a minute a heartbeat burst delayed runs by up
// to a minute.
TEST_F(ReconcilerTest, ARunNeedingNoSecretReadDoesNotWaitBehindStatusWrites) {
  std::promise<void> release_writes;
  std::shared_future<void> released = release_writes.get_future().share();
  // Released on every way out, or the fixture's drain would wait forever.
  struct Release {
    std::promise<void>& p;
    bool done = false;
    void operator()() {
      if (!done) p.set_value();
      done = true;
    }
    ~Release() { (*this)(); }
  } release{release_writes};
  {
    std::lock_guard lock(cluster.mu);
    cluster.cached["mail/cached"] = {{"username", "cache-user"}, {"password", "cache-pw"}};
    // Every write holds an API pool thread until released.
    cluster.on_apply = [released](const ProbeRef&, const json&) { released.wait(); };
  }
  // Two probes fill the pool (2 threads) with their first writes.
  reconciler->upsert(probe_object("w1", 1));
  reconciler->upsert(probe_object("w2", 1));
  ASSERT_TRUE(cluster.wait([&] {
    return cluster.writes_in_flight["mail/w1"] + cluster.writes_in_flight["mail/w2"] >= 2;
  }));
  int secret_reads = 0;
  {
    std::lock_guard lock(cluster.mu);
    secret_reads = cluster.secret_reads;
  }
  // No Secret at all, and Secrets all in the cache: both run meanwhile.
  reconciler->upsert(
      probe_object("none", 1, {{"auth", {{"mechanism", "None"}, {"secretRef", nullptr}}}}));
  reconciler->upsert(probe_object("c", 1, {{"auth", {{"secretRef", {{"name", "cached"}}}}}}));
  EXPECT_TRUE(FakeCluster::eventually([&] {
    std::lock_guard lock(cluster.mu);
    return runs >= 4;
  })) << "runs waited for the API pool";
  {
    std::lock_guard lock(cluster.mu);
    EXPECT_EQ(cluster.secret_reads, secret_reads) << "a cached Secret was read again";
  }
  release();
  ASSERT_TRUE(cluster.wait([&] {
    return cluster.settled_writes("mail/none") >= 1 && cluster.settled_writes("mail/c") >= 1;
  }));
}

// Defect: with runs that need no API request, 10,000 first runs finished
// long before the writes they caused, and the writer held them all.
TEST_F(ReconcilerTest, FirstRunsWaitWhileTheWriterIsBehindAndStartOnceItCatchesUp) {
  restart(options_with([](ReconcilerOptions& o) { o.write_backlog = 3; }));
  std::promise<void> release_writes;
  std::shared_future<void> released = release_writes.get_future().share();
  {
    std::lock_guard lock(cluster.mu);
    cluster.cached["mail/creds"] = cluster.secrets["mail/creds"];
    cluster.on_apply = [released](const ProbeRef&, const json&) { released.wait(); };
  }
  for (int i = 0; i < 8; ++i) reconciler->upsert(probe_object("p" + std::to_string(i), 1));
  ASSERT_TRUE(FakeCluster::eventually([&] {
    std::lock_guard lock(cluster.mu);
    return runs >= 3;
  }));
  std::this_thread::sleep_for(300ms);
  {
    std::lock_guard lock(cluster.mu);
    // Three statuses waiting, plus the runs already in flight (concurrency 2).
    EXPECT_LE(runs, 5) << "first runs went on while the writer was behind";
  }
  release_writes.set_value();
  ASSERT_TRUE(cluster.wait([&] {
    for (int i = 0; i < 8; ++i) {
      if (cluster.settled_writes("mail/p" + std::to_string(i)) < 1) return false;
    }
    return true;
  })) << "held first runs never started";
}

// The wake-up timer is cancelled while first runs are held; armed again for
// the same instant, it must really be armed again (comparing the expiry alone
// left a cancelled timer, and a planned run never started).
TEST_F(ReconcilerTest, APlanHeldBehindTheWriterStillRunsOnTime) {
  restart(options_with([](ReconcilerOptions& o) { o.write_backlog = 1; }));
  // A restart with current status: the next run is planned in a second or two.
  json current = probe_object("later", 1);
  current["status"] = {{"observedGeneration", 1},
                       {"lastRun",
                        {{"time", encoding::format_rfc3339(std::chrono::system_clock::now() - 8s)},
                         {"reason", "Succeeded"}}}};
  reconciler->upsert(current);
  // An invalid probe's Stalled status fills the writer's backlog for a moment.
  reconciler->upsert(probe_object("invalid", 1, {{"interval", "5s"}, {"timeout", "30s"}}));
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/invalid") >= 1; }));
  EXPECT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/later") >= 1; }))
      << "the planned run never started";
}

// Defect: the base64 decoder quoted Secret bytes, which reached the status.
TEST_F(ReconcilerTest, MalformedSecretDataNeverReachesStatusEventsOrLogs) {
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text);
  auto logger = std::make_shared<spdlog::logger>("capture", sink);
  logger->set_level(spdlog::level::trace);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  {
    std::lock_guard lock(cluster.mu);
    cluster.on_get_secret = [] {
      decode_secret_data("mail", "creds",
                         {{"data", {{"username", "cHJvYmU="}, {"password", "hunter2:s3cr3t!"}}}});
    };
  }
  reconciler->upsert(probe_object("bytes", 1));
  ASSERT_TRUE(cluster.wait([&] { return !cluster.events["mail/bytes"].empty(); }));
  spdlog::set_default_logger(previous);
  std::lock_guard lock(cluster.mu);
  const json& s = cluster.statuses["mail/bytes"].back();
  EXPECT_EQ(condition(s, "Stalled", "reason"), "InvalidSecretData");
  std::string everything = log_text.str();
  for (const auto& st : cluster.statuses["mail/bytes"]) everything += st.dump();
  for (const auto& e : cluster.events["mail/bytes"]) everything += e.note + e.reason;
  EXPECT_EQ(everything.find("hunter2"), std::string::npos) << everything;
  EXPECT_EQ(everything.find("s3cr3t"), std::string::npos) << everything;
  EXPECT_NE(everything.find("key \"password\""), std::string::npos) << everything;
}

// Status writes that tell something: a healthy probe writes once, then only
// at the heartbeat; a change is written by the run that saw it.
TEST_F(ReconcilerTest, AHealthyProbeWritesAtTheHeartbeatAndAChangeAtOnce) {
  reconciler->upsert(probe_object("hb", 1, {{"interval", "200ms"}, {"timeout", "100ms"}}));
  auto locked = [&](auto pred) {
    return FakeCluster::eventually([&] {
      std::lock_guard lock(cluster.mu);
      return pred();
    });
  };
  ASSERT_TRUE(locked([&] { return runs >= 4; }));  // about 600 ms: within the 1 s heartbeat
  {
    std::lock_guard lock(cluster.mu);
    EXPECT_EQ(cluster.settled_writes("mail/hb"), 1u);
  }
  EXPECT_GE(reconciler->stats().status_writes_skipped, 2u);
  ASSERT_TRUE(locked([&] { return cluster.settled_writes("mail/hb") >= 2; }));  // the heartbeat
  int runs_at_change = 0;
  {
    std::lock_guard lock(cluster.mu);
    fail = true;
    runs_at_change = runs;
  }
  ASSERT_TRUE(locked(
      [&] { return condition(cluster.statuses["mail/hb"].back(), "Available") == "False"; }));
  std::lock_guard lock(cluster.mu);
  EXPECT_LE(runs, runs_at_change + 2) << "written by the run that saw the change";
}

// GitOps tools judge a probe by its conditions: before its first run ends a
// new generation must already say Ready=Unknown and Reconciling=True, or
// kstatus calls a probe with no conditions Current.
TEST_F(ReconcilerTest, ANewGenerationIsPendingUntilItsFirstRunEnds) {
  run_time = 300ms;
  reconciler->upsert(probe_object("pend", 1));
  ASSERT_TRUE(cluster.wait([&] { return cluster.writes("mail/pend") >= 1; }));
  {
    std::lock_guard lock(cluster.mu);
    const json& s = cluster.statuses["mail/pend"].front();
    EXPECT_EQ(s["observedGeneration"], 1);
    EXPECT_EQ(condition(s, "Ready"), "Unknown");
    EXPECT_EQ(condition(s, "Ready", "reason"), "Pending");
    EXPECT_EQ(condition(s, "Reconciling"), "True");
    EXPECT_EQ(condition(s, "Stalled"), "False");
    EXPECT_FALSE(s.contains("lastRun"));
  }
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/pend") >= 1; }));
  {
    std::lock_guard lock(cluster.mu);
    const json& s = cluster.statuses["mail/pend"].back();
    EXPECT_EQ(condition(s, "Ready"), "True");
    EXPECT_EQ(condition(s, "Reconciling"), "") << "gone once the run reported: " << s.dump();
  }
  // A spec change is pending again until its run ends.
  reconciler->upsert(probe_object("pend", 2, {{"mailbox", "Archive"}}));
  ASSERT_TRUE(cluster.wait([&] {
    return cluster.statuses["mail/pend"].back()["observedGeneration"] == 2 &&
           FakeCluster::is_pending(cluster.statuses["mail/pend"].back());
  }));
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/pend") >= 2; }));
}

// The Pending status costs no write when the first run is quick: its result
// is the first status written.
TEST_F(ReconcilerTest, AQuickFirstRunWritesOnceWithoutPending) {
  reconciler->upsert(probe_object("quick", 1, {{"interval", "1h"}}));
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/quick") >= 1; }));
  std::this_thread::sleep_for(300ms);  // past pending_after
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(cluster.writes("mail/quick"), 1u);
  EXPECT_FALSE(FakeCluster::is_pending(cluster.statuses["mail/quick"].front()));
}

// A restarted operator (or a new leader) finds status current for the
// generation: no Pending write, the probe keeps its rhythm.
TEST_F(ReconcilerTest, AProbeWithCurrentStatusIsNotAnnouncedAgain) {
  json seen = probe_object("cur", 3);
  seen["status"] = {{"observedGeneration", 3},
                    {"lastRun", {{"time", "2099-01-01T00:00:00Z"}, {"reason", "Succeeded"}}}};
  reconciler->upsert(seen);
  reconciler->set_active(false);
  reconciler->set_active(true);
  std::this_thread::sleep_for(100ms);
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(cluster.writes("mail/cur") - cluster.settled_writes("mail/cur"), 0u)
      << "a Pending status for a generation that already has one";
}

TEST_F(ReconcilerTest, AStandbyReplicaWritesNoPendingStatus) {
  reconciler->set_active(false);
  reconciler->upsert(probe_object("sb", 1));
  std::this_thread::sleep_for(100ms);
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(cluster.writes("mail/sb"), 0u);
}

json with_run_request(json object, const std::string& value) {
  object["metadata"]["annotations"]["imapprobe.dev/run-requested-at"] = value;
  return object;
}

// `kubectl annotate imapprobe corp imapprobe.dev/run-requested-at=...`: a run
// now, whatever the interval, echoed in status once made; the same value
// again asks for nothing.
TEST_F(ReconcilerTest, ARunRequestRunsAtOnceAndIsEchoedOnce) {
  reconciler->upsert(probe_object("req", 1, {{"interval", "1h"}}));
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/req") >= 1; }));
  reconciler->upsert(with_run_request(probe_object("req", 1, {{"interval", "1h"}}), "t1"));
  ASSERT_TRUE(cluster.wait([&] {
    return runs >= 2 &&
           cluster.statuses["mail/req"].back().value("lastHandledRunRequest", "") == "t1";
  })) << "the requested run did not happen or was not echoed";
  json echoed = with_run_request(probe_object("req", 1, {{"interval", "1h"}}), "t1");
  {
    std::lock_guard lock(cluster.mu);
    echoed["status"] = cluster.statuses["mail/req"].back();
  }
  reconciler->upsert(echoed);  // our own write coming back through the watch
  std::this_thread::sleep_for(200ms);
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(runs, 2);
}

// A request made while the probe is running is not lost: it runs right after.
TEST_F(ReconcilerTest, ARunRequestDuringARunRunsRightAfterIt) {
  run_time = 300ms;
  reconciler->upsert(probe_object("busy", 1, {{"interval", "1h"}}));
  ASSERT_TRUE(FakeCluster::eventually([&] {
    std::lock_guard lock(cluster.mu);
    return running == 1;
  }));
  reconciler->upsert(with_run_request(probe_object("busy", 1, {{"interval", "1h"}}), "t2"));
  ASSERT_TRUE(cluster.wait([&] {
    return runs >= 2 &&
           cluster.statuses["mail/busy"].back().value("lastHandledRunRequest", "") == "t2";
  }));
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(max_running, 1);
}

TEST_F(ReconcilerTest, ASuspendedProbeIgnoresRunRequests) {
  reconciler->upsert(with_run_request(probe_object("zz", 1, {{"suspend", true}}), "t3"));
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/zz") >= 1; }));
  reconciler->upsert(with_run_request(probe_object("zz", 1, {{"suspend", true}}), "t4"));
  std::this_thread::sleep_for(200ms);
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(runs, 0);
  EXPECT_EQ(cluster.statuses["mail/zz"].back().value("lastHandledRunRequest", ""), "");
}

// The schedule-lag histogram keeps a probe's first run (a start-up queue)
// apart from the runs its rhythm planned, so steady-state lag is visible.
TEST_F(ReconcilerTest, ScheduleLagCountsFirstAndNextRunsApart) {
  reconciler->upsert(probe_object("lag", 1, {{"interval", "100ms"}, {"timeout", "50ms"}}));
  ASSERT_TRUE(FakeCluster::eventually([&] {
    std::lock_guard lock(cluster.mu);
    return runs >= 3;
  }));
  const ReconcilerStats stats = reconciler->stats();
  EXPECT_EQ(stats.lag_first.count, 1u);
  EXPECT_GE(stats.lag_next.count, 2u);
}

// A relist streamed page by page, then the keys of the complete set: probes
// missing from it were deleted while unobserved.
TEST_F(ReconcilerTest, AStreamedRelistAddsPagesAndDropsWhatIsGone) {
  reconciler->upsert(probe_object("old", 1));
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/old") >= 1; }));
  reconciler->upsert_page({probe_object("p1", 1), probe_object("p2", 1)});
  reconciler->upsert_page({probe_object("p3", 1)});
  reconciler->sync_keys("", {"mail/p1", "mail/p2", "mail/p3"});
  ASSERT_TRUE(cluster.wait([&] {
    return cluster.settled_writes("mail/p1") >= 1 && cluster.settled_writes("mail/p2") >= 1 &&
           cluster.settled_writes("mail/p3") >= 1;
  }));
  ASSERT_TRUE(FakeCluster::eventually([&] { return reconciler->stats().probes == 3u; }));
}

// Sharding: a probe whose host names it, so the fake engine's record of
// hosts says which probes ran.
json shard_probe(const std::string& name) {
  return probe_object(name, 1, {{"server", {{"host", name + ".test"}}}});
}

// Sharded, a replica runs only the probes rendezvous hashing gives it, and
// none before every member has agreed on the membership.
TEST_F(ReconcilerTest, AShardRunsOnlyItsOwnProbesAndOnlyOnceTheMembersAgree) {
  const std::vector<std::string> members{"op-a", "op-b"};
  reconciler->set_shard_members("op-a", members);
  std::vector<std::string> mine, theirs;
  for (int i = 0; i < 12; ++i) {
    const std::string name = "s" + std::to_string(i);
    reconciler->upsert(shard_probe(name));
    (rendezvous_owner("mail/" + name, members) == "op-a" ? mine : theirs).push_back(name);
  }
  ASSERT_FALSE(mine.empty());
  ASSERT_FALSE(theirs.empty());
  std::this_thread::sleep_for(300ms);
  {
    std::lock_guard lock(cluster.mu);
    EXPECT_EQ(runs, 0) << "a gained probe waits for the members to agree";
    EXPECT_TRUE(cluster.statuses.empty());
  }
  reconciler->agree_shard_view(view_fingerprint(members));
  ASSERT_TRUE(cluster.wait([&] {
    for (const auto& n : mine) {
      if (cluster.settled_writes("mail/" + n) == 0) return false;
    }
    return true;
  }));
  std::this_thread::sleep_for(200ms);
  std::lock_guard lock(cluster.mu);
  for (const auto& n : theirs) {
    EXPECT_EQ(cluster.writes("mail/" + n), 0u) << n << " belongs to op-b";
    EXPECT_EQ(std::count(seen_hosts.begin(), seen_hosts.end(), n + ".test"), 0) << n;
  }
  EXPECT_EQ(reconciler->stats().probes, mine.size()) << "/metrics shows this replica's probes";
  EXPECT_EQ(cluster.probe_reads, 0) << "probes seen on the watch as its own are not read again";
}

// Giving a probe up while its run is in flight: the replica is not settled
// (its peers do not start the probe) until that run has ended, and the
// run's result is dropped rather than written over the new owner's.
TEST_F(ReconcilerTest, AProbeGivenUpMidRunHoldsTheHandoverUntilTheRunEnds) {
  run_time = 400ms;
  reconciler->set_shard_members("op-a", {"op-a"});
  reconciler->agree_shard_view(view_fingerprint({"op-a"}));
  // A probe op-b would own once it joins.
  std::string name;
  for (int i = 0; name.empty(); ++i) {
    const std::string candidate = "g" + std::to_string(i);
    if (rendezvous_owner("mail/" + candidate, {"op-a", "op-b"}) == "op-b") name = candidate;
  }
  reconciler->upsert(shard_probe(name));
  ASSERT_TRUE(FakeCluster::eventually([&] {
    std::lock_guard lock(cluster.mu);
    return running == 1;
  }));
  reconciler->set_shard_members("op-a", {"op-a", "op-b"});
  ASSERT_TRUE(FakeCluster::eventually([&] {
    const auto p = reconciler->shard_progress();
    return p.view == view_fingerprint({"op-a", "op-b"});
  }));
  EXPECT_FALSE(reconciler->shard_progress().settled) << "its run is still in flight";
  ASSERT_TRUE(FakeCluster::eventually([&] {
    std::lock_guard lock(cluster.mu);
    return running == 0;
  }));
  ASSERT_TRUE(FakeCluster::eventually([&] { return reconciler->shard_progress().settled; }));
  std::this_thread::sleep_for(300ms);
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(cluster.writes("mail/" + name), 0u) << "the result of a given-up run was written";
  EXPECT_EQ(runs, 1) << "given up, it is not run again here";
}

// A probe another replica runs is kept as its identity only; taking it over
// reads it from the API server, so the run uses the spec and carries on from
// the status the peer last wrote (counters and baseline are not reset).
TEST_F(ReconcilerTest, ATakenOverProbeIsReadAndCarriesOnFromThePeersStatus) {
  fail = true;
  reconciler->set_shard_members("op-a", {"op-b"});  // op-a is not a member yet
  json object = shard_probe("t");
  reconciler->upsert(object);
  // A spec change while op-b runs it, then op-b's status write.
  object["metadata"]["generation"] = 2;
  object["spec"]["server"]["host"] = "t2.test";
  reconciler->upsert(object);
  object["status"] = {{"observedGeneration", 2},
                      {"consecutiveFailures", 3},
                      {"lastRun", {{"time", "2000-01-01T00:00:00Z"}, {"reason", "AuthFailed"}}}};
  {
    std::lock_guard lock(cluster.mu);
    cluster.probes["mail/t"] = object;  // what the API server holds
  }
  std::this_thread::sleep_for(100ms);
  {
    std::lock_guard lock(cluster.mu);
    EXPECT_EQ(cluster.probe_reads, 0) << "a probe another replica runs is not read";
  }
  reconciler->set_shard_members("op-a", {"op-a"});
  reconciler->agree_shard_view(view_fingerprint({"op-a"}));
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/t") >= 1; }));
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(cluster.statuses["mail/t"].back()["consecutiveFailures"], 4);
  EXPECT_EQ(cluster.statuses["mail/t"].back()["observedGeneration"], 2);
  EXPECT_EQ(cluster.probe_reads, 1);
  ASSERT_FALSE(seen_hosts.empty());
  EXPECT_EQ(seen_hosts.back(), "t2.test");
}

// Multi-location: a location writes its entry of status.locations alone and
// records no Events (the verdict writer does, for the aggregate).
TEST_F(ReconcilerTest, ALocationWritesOnlyItsEntryAndNoEvents) {
  restart(options_with([](ReconcilerOptions& o) { o.report_location = "eu-west"; }));
  fail = true;
  reconciler->upsert(probe_object("loc", 1));
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/loc") >= 1; }));
  std::this_thread::sleep_for(100ms);
  std::lock_guard lock(cluster.mu);
  const json& s = cluster.statuses["mail/loc"].back();
  ASSERT_EQ(s.size(), 1u) << s.dump();
  ASSERT_EQ(s["locations"].size(), 1u) << s.dump();
  const json& entry = s["locations"][0];
  EXPECT_EQ(entry["name"], "eu-west");
  EXPECT_EQ(entry["outcome"], "Failure");
  EXPECT_EQ(entry["reason"], "AuthFailed");
  EXPECT_EQ(entry["available"], "False");  // failureThreshold 1
  EXPECT_EQ(entry["consecutiveFailures"], 1);
  EXPECT_EQ(entry["observedGeneration"], 1);
  EXPECT_TRUE(cluster.events["mail/loc"].empty()) << cluster.events["mail/loc"].front().reason;
}

// spec.locations without this location: no run, and an empty entry list
// applied (the API server then drops the entry this location wrote before).
TEST_F(ReconcilerTest, ALocationRunsOnlyTheProbesSpecLocationsGivesIt) {
  restart(options_with([](ReconcilerOptions& o) { o.report_location = "eu-west"; }));
  reconciler->upsert(probe_object("elsewhere", 1, {{"locations", {"us-east"}}}));
  reconciler->upsert(probe_object("here", 1, {{"locations", {"us-east", "eu-west"}}}));
  ASSERT_TRUE(cluster.wait([&] {
    return cluster.settled_writes("mail/here") >= 1 && cluster.writes("mail/elsewhere") >= 1;
  }));
  std::this_thread::sleep_for(200ms);
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(cluster.statuses["mail/elsewhere"].back(), json({{"locations", json::array()}}));
  EXPECT_EQ(cluster.statuses["mail/here"].back()["locations"][0]["name"], "eu-west");
}

// After a restart a location carries on from its own entry, not another's.
TEST_F(ReconcilerTest, ALocationCarriesOnFromItsOwnEntry) {
  restart(options_with([](ReconcilerOptions& o) { o.report_location = "eu-west"; }));
  fail = true;
  json object = probe_object("again", 1);
  object["status"] = {{"locations",
                       {{{"name", "us-east"}, {"outcome", "Failure"}, {"consecutiveFailures", 9}},
                        {{"name", "eu-west"},
                         {"outcome", "Failure"},
                         {"available", "False"},
                         {"reason", "AuthFailed"},
                         {"consecutiveFailures", 3},
                         {"observedGeneration", 1},
                         {"time", "2000-01-01T00:00:00Z"}}}}};
  reconciler->upsert(object);
  ASSERT_TRUE(cluster.wait([&] { return cluster.settled_writes("mail/again") >= 1; }));
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(cluster.statuses["mail/again"].back()["locations"][0]["consecutiveFailures"], 4);
}

}  // namespace
}  // namespace imapprobe::controller
