// When each probe runs: a plan per probe, the global concurrency gate, and
// the rule that one probe never has two runs in flight. Pure bookkeeping over
// a time the caller passes in, so its tests drive a fake clock; the
// reconciler owns the one timer that wakes it (next_wakeup).
//
// Like client-go's work queue, it is "stingy": a probe planned while its run
// is in flight stays planned and starts only once that run has finished,
// whatever leadership changes, spec edits and relists did meanwhile.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace imapprobe::controller {

using RunSchedulerClock = std::chrono::steady_clock;

// When the run after one that was planned at `planned` and started at
// `started` is due, before jitter. Fixed rate from the planned start, so runs
// do not drift later and later. A run that started more than `rephase` late
// was part of a queue (start-up, a relist, a leadership change, an overloaded
// moment): its probe gets a new phase, `started` plus between half and all of
// the interval (`spread` in [0, 1) picks where), so 10,000 first runs that
// drained at capacity over two minutes come back spread over half an
// interval and more, instead of queueing at capacity again every interval. A
// run that overran its slot makes the next one due at once.
struct NextRun {
  RunSchedulerClock::time_point when;
  bool rephased = false;  // no jitter on top: the spread is the jitter
};
NextRun next_run_after(RunSchedulerClock::time_point planned, RunSchedulerClock::time_point started,
                       RunSchedulerClock::time_point now, RunSchedulerClock::duration interval,
                       RunSchedulerClock::duration rephase, double spread);

// Why a run was planned, for the schedule-lag histogram: a queue of first
// runs after start-up says nothing about steady state.
enum class RunKind {
  First,  // added, changed, re-created, resumed, taken over, or retried after a stall
  Next,   // planned by the run before it
};

class RunScheduler {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  struct Options {
    int concurrency = 64;  // runs in flight at once, across all probes
    std::uint64_t seed = std::random_device{}();
  };

  explicit RunScheduler(Options options);

  // Plans the next run of `key` at `when`, replacing any earlier plan.
  void plan(const std::string& key, TimePoint when, RunKind kind = RunKind::First);
  // Drops the plan of `key` (a run in flight goes on).
  void cancel(const std::string& key);
  void cancel_all();

  struct Start {
    std::string key;
    TimePoint planned;  // for the schedule-lag metric and fixed-rate planning
    RunKind kind = RunKind::First;
  };
  // The runs to start now, earliest first: due, not already running, within
  // the concurrency gate, and at most `max_first` of kind First (the others
  // stay planned; runs of kind Next are never held back by it). Each is
  // marked running until finished(key).
  std::vector<Start> take_due(TimePoint now, int max_first = kNoLimit);
  void finished(const std::string& key);

  // When take_due next has something to return, if anything is planned;
  // runs of kind First are left out when `first_runs` is false (whoever
  // holds them back wakes the caller).
  std::optional<TimePoint> next_wakeup(TimePoint now, bool first_runs = true) const;
  static constexpr int kNoLimit = std::numeric_limits<int>::max();

  bool running(const std::string& key) const { return running_.contains(key); }
  bool planned(const std::string& key) const { return plans_.contains(key); }
  int in_flight() const { return static_cast<int>(running_.size()); }

  // Uniform in [0, max]: spreads first runs and jitters the interval.
  Clock::duration jitter(Clock::duration max);
  // Uniform in [0, 1): where a re-phased probe lands (next_run_after).
  double spread();

 private:
  Options options_;
  std::mt19937_64 rng_;
  struct Plan {
    TimePoint when;
    RunKind kind;
  };
  std::map<std::string, Plan> plans_;
  // Plans by time, first runs apart from next runs: while first runs are
  // held back (take_due's max_first), finding the due next runs must not
  // walk past thousands of held first runs at every wake (measured at
  // 10,000 probes: 9.5 ms of operator CPU per first run instead of 3).
  using ByTime = std::set<std::pair<TimePoint, std::string>>;
  ByTime first_by_time_;
  ByTime next_by_time_;
  ByTime& by_time(RunKind kind) { return kind == RunKind::First ? first_by_time_ : next_by_time_; }
  // The first entry of `times` from `it` on whose probe is not running
  // (those stay planned until finished(); at most `concurrency` of them).
  ByTime::const_iterator idle_from(ByTime::const_iterator it, const ByTime& times) const;
  std::set<std::string> running_;
  // Nodes of plans taken and runs finished, reused by the next plan() and
  // take_due(): at steady state every run plans its probe's next one, and
  // fresh nodes allocated among a run's short-lived memory would pin it
  // (heap fragmentation). At most `concurrency` of each are kept.
  std::vector<decltype(plans_)::node_type> spare_plans_;
  std::vector<ByTime::node_type> spare_times_;
  std::vector<decltype(running_)::node_type> spare_running_;
  template <typename Node>
  void keep_spare(std::vector<Node>& spares, Node node);
};

}  // namespace imapprobe::controller
