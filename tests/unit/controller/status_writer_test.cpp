// The status writer against a fake cluster that blocks, fails and throws.
#include "controller/status_writer.hpp"

#include <gtest/gtest.h>

#include <future>
#include <stdexcept>

#include "unit/controller/fake_cluster.hpp"

namespace imapprobe::controller {
namespace {
using namespace std::chrono_literals;
using nlohmann::json;
using testing::FakeCluster;

class StatusWriterTest : public ::testing::Test {
 protected:
  void TearDown() override {
    std::promise<void> drained;
    writer.drain([&] { drained.set_value(); });
    EXPECT_EQ(drained.get_future().wait_for(5s), std::future_status::ready);
    pool.join();
  }
  json status(int n) { return {{"n", n}}; }
  // The write of status `n` blocks until the returned promise is set.
  std::promise<void> hold_write_of(int n) {
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    cluster.on_apply = [n, released](const ProbeRef&, const json& s) {
      if (s["n"] == n) released.wait();
    };
    return release;
  }
  std::vector<int> written(const std::string& key) {
    std::vector<int> out;
    for (const auto& s : cluster.statuses[key]) out.push_back(s["n"].get<int>());
    return out;
  }

  boost::asio::thread_pool pool{4};
  FakeCluster cluster;
  RunMetrics metrics;
  StatusWriter writer{pool, cluster, metrics, StatusWriterOptions{1ms, 20ms}};
  ProbeRef a{"mail", "a", "uid-a"};
};

// Defect: writes of one probe ran in parallel on the pool, so an older status
// could land after a newer one.
TEST_F(StatusWriterTest, OneWriteInFlightPerProbeAndTheLatestWins) {
  std::promise<void> release = hold_write_of(1);
  writer.submit(a, status(1), {});
  ASSERT_TRUE(cluster.wait([&] { return cluster.writes_in_flight["mail/a"] == 1; }));
  for (int n = 2; n <= 5; ++n) writer.submit(a, status(n), {});
  std::this_thread::sleep_for(50ms);
  release.set_value();
  ASSERT_TRUE(cluster.wait([&] { return cluster.writes("mail/a") == 2; }));
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(written("mail/a"), (std::vector<int>{1, 5})) << "2..4 were superseded by 5";
  EXPECT_EQ(cluster.max_writes_in_flight, 1);
}

// Defect: an exception other than ClusterApiError escaped a pool thread
// (std::terminate); and a write was given up after four attempts.
TEST_F(StatusWriterTest, AnyFailureIsCountedAndRetriedUntilTheWriteLands) {
  int calls = 0;
  cluster.on_apply = [&](const ProbeRef&, const json&) {
    ++calls;
    if (calls <= 3) throw std::logic_error("unexpected");
    if (calls <= 12) throw ClusterApiError(503, "service unavailable");
  };
  writer.submit(a, status(1), {{"Warning", "AuthFailed", "Probe", "x"}});
  ASSERT_TRUE(cluster.wait([&] { return cluster.writes("mail/a") == 1; }));
  ASSERT_TRUE(cluster.wait([&] { return cluster.events["mail/a"].size() == 1; }));
  EXPECT_EQ(calls, 13);
  EXPECT_EQ(metrics.stats().status_write_errors, 12u);
  EXPECT_EQ(metrics.stats().status_writes, 1u);
}

TEST_F(StatusWriterTest, EventsAreRecordedAfterTheStatusTheyDescribeInOrder) {
  int calls = 0;
  cluster.on_apply = [&](const ProbeRef&, const json&) {
    if (++calls == 1) throw ClusterApiError(0, "no response");
  };
  writer.submit(a, status(1), {{"Warning", "AuthFailed", "Probe", "down"}});
  writer.submit(a, status(2), {{"Normal", "Recovered", "Probe", "up"}});
  ASSERT_TRUE(cluster.wait([&] { return cluster.events["mail/a"].size() == 2; }));
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(cluster.log, (std::vector<std::string>{"status mail/a", "event mail/a AuthFailed",
                                                   "event mail/a Recovered"}));
  EXPECT_EQ(written("mail/a"), std::vector<int>{2});
}

TEST_F(StatusWriterTest, ADeletedProbeIsNotRetried) {
  int calls = 0;
  cluster.on_apply = [&](const ProbeRef&, const json&) {
    ++calls;
    throw ClusterApiError(404, "not found");
  };
  writer.submit(a, status(1), {{"Warning", "AuthFailed", "Probe", "x"}});
  ASSERT_TRUE(FakeCluster::eventually([&] { return writer.pending() == 0; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(cluster.events["mail/a"].empty());
}

TEST_F(StatusWriterTest, AStatusForANewUidReplacesWhatWasQueuedForTheOldOne) {
  std::promise<void> release = hold_write_of(1);
  writer.submit(a, status(1), {});
  ASSERT_TRUE(cluster.wait([&] { return cluster.writes_in_flight["mail/a"] == 1; }));
  writer.submit(a, status(2), {{"Warning", "Old", "Probe", "old"}});
  writer.submit(ProbeRef{"mail", "a", "uid-b"}, status(3), {});
  release.set_value();
  ASSERT_TRUE(cluster.wait([&] { return cluster.writes("mail/a") == 2; }));
  std::lock_guard lock(cluster.mu);
  EXPECT_EQ(written("mail/a"), (std::vector<int>{1, 3}));
  EXPECT_EQ(cluster.write_uids["mail/a"].back(), "uid-b");
  EXPECT_TRUE(cluster.events["mail/a"].empty()) << "the old object's Event is moot";
}

TEST_F(StatusWriterTest, DrainTriesPendingWritesOnceMoreThenGivesUp) {
  cluster.on_apply = [&](const ProbeRef&, const json&) {
    throw ClusterApiError(503, "service unavailable");
  };
  writer.submit(a, status(1), {});
  ASSERT_TRUE(FakeCluster::eventually([&] { return metrics.stats().status_write_errors >= 2; }));
  // TearDown drains: it must finish although the API never recovers.
}

}  // namespace
}  // namespace imapprobe::controller
