// The run scheduler over a fake clock: no sleeping, no timers.
#include "controller/run_scheduler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace imapprobe::controller {
namespace {
using namespace std::chrono_literals;
using TimePoint = RunScheduler::TimePoint;

std::vector<std::string> keys(const std::vector<RunScheduler::Start>& starts) {
  std::vector<std::string> out;
  for (const auto& s : starts) out.push_back(s.key);
  return out;
}

class RunSchedulerTest : public ::testing::Test {
 protected:
  RunScheduler scheduler{RunScheduler::Options{2, 42}};
  TimePoint t0{std::chrono::seconds(1000)};
};

TEST_F(RunSchedulerTest, StartsWhatIsDueEarliestFirst) {
  scheduler.plan("a", t0 + 2s);
  scheduler.plan("b", t0 + 1s);
  scheduler.plan("c", t0 + 5s);
  EXPECT_TRUE(scheduler.take_due(t0).empty());
  EXPECT_EQ(scheduler.next_wakeup(t0), t0 + 1s);
  EXPECT_EQ(keys(scheduler.take_due(t0 + 3s)), (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(scheduler.next_wakeup(t0 + 3s), std::nullopt) << "gate full: finished() wakes it";
  scheduler.finished("b");
  EXPECT_EQ(scheduler.next_wakeup(t0 + 3s), t0 + 5s);
}

TEST_F(RunSchedulerTest, ConcurrencyGateHoldsRunsUntilASlotFrees) {
  for (const char* k : {"a", "b", "c"}) scheduler.plan(k, t0);
  EXPECT_EQ(scheduler.take_due(t0).size(), 2u);
  EXPECT_EQ(scheduler.in_flight(), 2);
  EXPECT_TRUE(scheduler.take_due(t0 + 1s).empty());
  scheduler.finished("a");
  const auto next = scheduler.take_due(t0 + 1s);
  ASSERT_EQ(keys(next), std::vector<std::string>{"c"});
  EXPECT_EQ(next[0].planned, t0) << "lag is measured from the plan, not from the slot";
}

// Defect: a leadership flap (plans cancelled, then re-made) while a run is
// in flight started a second run of the same probe beside the first.
TEST_F(RunSchedulerTest, AProbePlannedWhileRunningStartsOnlyAfterItsRunFinished) {
  scheduler.plan("a", t0);
  ASSERT_EQ(keys(scheduler.take_due(t0)), std::vector<std::string>{"a"});
  scheduler.cancel_all();   // leadership lost
  scheduler.plan("a", t0);  // and regained
  scheduler.plan("a", t0);  // a spec change on top
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(scheduler.take_due(t0 + std::chrono::seconds(i)).empty()) << i;
  }
  EXPECT_TRUE(scheduler.planned("a"));
  scheduler.finished("a");
  EXPECT_EQ(keys(scheduler.take_due(t0 + 5s)), std::vector<std::string>{"a"});
}

TEST_F(RunSchedulerTest, ARunningProbeDoesNotBlockOthers) {
  scheduler.plan("a", t0);
  ASSERT_EQ(scheduler.take_due(t0).size(), 1u);
  scheduler.plan("a", t0 + 1s);
  scheduler.plan("b", t0 + 2s);
  EXPECT_EQ(scheduler.next_wakeup(t0), t0 + 2s) << "a waits for its run, b does not";
  EXPECT_EQ(keys(scheduler.take_due(t0 + 2s)), std::vector<std::string>{"b"});
}

TEST_F(RunSchedulerTest, PlanReplacesAndCancelDrops) {
  scheduler.plan("a", t0 + 10s);
  scheduler.plan("a", t0 + 1s);
  EXPECT_EQ(scheduler.next_wakeup(t0), t0 + 1s);
  scheduler.cancel("a");
  EXPECT_FALSE(scheduler.planned("a"));
  EXPECT_EQ(scheduler.next_wakeup(t0), std::nullopt);
  EXPECT_TRUE(scheduler.take_due(t0 + 1h).empty());
}

TEST_F(RunSchedulerTest, JitterStaysWithinItsBound) {
  for (int i = 0; i < 1000; ++i) {
    const auto j = scheduler.jitter(100ms);
    EXPECT_GE(j, RunScheduler::Clock::duration::zero());
    EXPECT_LE(j, 100ms);
  }
  EXPECT_EQ(scheduler.jitter(0ms), RunScheduler::Clock::duration::zero());
}

TEST(NextRunAfter, FixedRateFromThePlannedStart) {
  const TimePoint planned{std::chrono::seconds(1000)};
  // Started 300 ms late, finished 1 s later: the next run keeps the rhythm.
  const NextRun next = next_run_after(planned, planned + 300ms, planned + 1300ms, 60s, 1s, 0.7);
  EXPECT_EQ(next.when, planned + 60s);
  EXPECT_FALSE(next.rephased);
}

// A start-up queue: 10,000 first runs planned within 2 s but started over
// two minutes must not come back as one queue every interval: a late start
// lands between half and all of the interval after it started.
TEST(NextRunAfter, ALateStartRephasesWithinHalfToOneIntervalOfItsActualStart) {
  const TimePoint planned{std::chrono::seconds(1000)};
  const TimePoint started = planned + 90s;
  EXPECT_EQ(next_run_after(planned, started, started + 1s, 600s, 1s, 0.0).when, started + 300s);
  EXPECT_EQ(next_run_after(planned, started, started + 1s, 600s, 1s, 0.5).when, started + 450s);
  EXPECT_TRUE(next_run_after(planned, started, started + 1s, 600s, 1s, 0.5).rephased);
  EXPECT_LT(next_run_after(planned, started, started + 1s, 600s, 1s, 0.9999).when, started + 600s);
}

TEST(NextRunAfter, ARunThatOverranItsSlotMakesTheNextDueAtOnce) {
  const TimePoint planned{std::chrono::seconds(1000)};
  EXPECT_EQ(next_run_after(planned, planned, planned + 15s, 10s, 1s, 0.5).when, planned + 15s);
}

// The whole point of re-phasing: a queue of runs that drained at capacity
// (1,000 runs over 100 s, 10 per second) must come back spread wider than
// it came, so its second round does not queue again. Counted per 10 s slot.
TEST(NextRunAfter, AStartUpQueueComesBackSpreadOverHalfAnInterval) {
  RunScheduler s({.concurrency = 64, .seed = 42});
  const TimePoint t0{std::chrono::seconds(1000)};
  std::map<std::int64_t, int> per_slot;
  for (int i = 0; i < 1000; ++i) {
    const TimePoint started = t0 + std::chrono::milliseconds(100 * i);
    const NextRun next = next_run_after(t0, started, started + 20ms, 600s, 1s, s.spread());
    ++per_slot[std::chrono::duration_cast<std::chrono::seconds>(next.when - t0).count() / 10];
  }
  int busiest = 0;
  for (const auto& [slot, n] : per_slot) busiest = std::max(busiest, n);
  // Without the spread each 10 s slot would hold 100 runs again.
  EXPECT_LT(busiest, 45) << "slots used: " << per_slot.size();
}

TEST_F(RunSchedulerTest, TakeDueSaysWhetherARunIsFirstOrNext) {
  scheduler.plan("a", t0, RunKind::First);
  scheduler.plan("b", t0 + 1ms, RunKind::Next);
  auto due = scheduler.take_due(t0 + 1s);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].kind, RunKind::First);
  EXPECT_EQ(due[1].kind, RunKind::Next);
}

// First runs are held back while the status writer is behind
// (Reconciler, write_backlog); the runs of probes already running go on.
TEST_F(RunSchedulerTest, FirstRunsAreRationedAndNextRunsAreNot) {
  RunScheduler wide{RunScheduler::Options{8, 42}};
  wide.plan("new-1", t0, RunKind::First);
  wide.plan("new-2", t0 + 1s, RunKind::First);
  wide.plan("steady", t0 + 2s, RunKind::Next);
  wide.plan("new-3", t0 + 3s, RunKind::First);
  EXPECT_EQ(keys(wide.take_due(t0 + 5s, 1)), (std::vector<std::string>{"new-1", "steady"}));
  EXPECT_EQ(wide.next_wakeup(t0 + 5s, false), std::nullopt) << "only held first runs are left";
  EXPECT_EQ(wide.next_wakeup(t0 + 5s), t0 + 5s);
  EXPECT_TRUE(wide.take_due(t0 + 5s, 0).empty());
  wide.finished("steady");
  wide.plan("steady", t0 + 9s, RunKind::Next);
  EXPECT_EQ(wide.next_wakeup(t0 + 5s, false), t0 + 9s) << "a held first run hides no next run";
  EXPECT_EQ(keys(wide.take_due(t0 + 5s)), (std::vector<std::string>{"new-2", "new-3"}));
}

}  // namespace
}  // namespace imapprobe::controller
