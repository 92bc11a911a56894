#include "controller/run_scheduler.hpp"

#include <algorithm>

namespace imapprobe::controller {

NextRun next_run_after(RunSchedulerClock::time_point planned, RunSchedulerClock::time_point started,
                       RunSchedulerClock::time_point now, RunSchedulerClock::duration interval,
                       RunSchedulerClock::duration rephase, double spread) {
  if (started - planned > rephase) {
    const auto half = interval / 2;
    const auto offset = half + std::chrono::duration_cast<RunSchedulerClock::duration>(
                                   (interval - half) * std::clamp(spread, 0.0, 1.0));
    return {std::max(started + offset, now), true};
  }
  return {std::max(planned + interval, now), false};
}

RunScheduler::RunScheduler(Options options) : options_(options), rng_(options.seed) {}

void RunScheduler::plan(const std::string& key, TimePoint when, RunKind kind) {
  cancel(key);
  plans_.emplace(key, Plan{when, kind});
  by_time_.emplace(when, key);
}

void RunScheduler::cancel(const std::string& key) {
  auto it = plans_.find(key);
  if (it == plans_.end()) return;
  by_time_.erase({it->second.when, key});
  plans_.erase(it);
}

void RunScheduler::cancel_all() {
  plans_.clear();
  by_time_.clear();
}

std::vector<RunScheduler::Start> RunScheduler::take_due(TimePoint now) {
  std::vector<Start> out;
  for (auto it = by_time_.begin();
       it != by_time_.end() && it->first <= now && in_flight() < options_.concurrency;) {
    if (running_.contains(it->second)) {
      ++it;  // stays planned: starts once its current run has finished
      continue;
    }
    auto plan = plans_.find(it->second);
    out.push_back({it->second, it->first, plan->second.kind});
    running_.insert(it->second);
    plans_.erase(plan);
    it = by_time_.erase(it);
  }
  return out;
}

void RunScheduler::finished(const std::string& key) { running_.erase(key); }

std::optional<RunScheduler::TimePoint> RunScheduler::next_wakeup(TimePoint now) const {
  if (in_flight() >= options_.concurrency) return std::nullopt;  // finished() wakes it
  for (const auto& [when, key] : by_time_) {
    if (running_.contains(key)) continue;  // finished() wakes it
    return std::max(when, now);
  }
  return std::nullopt;
}

RunScheduler::Clock::duration RunScheduler::jitter(Clock::duration max) {
  if (max <= Clock::duration::zero()) return Clock::duration::zero();
  std::uniform_int_distribution<Clock::rep> d(0, max.count());
  return Clock::duration(d(rng_));
}

double RunScheduler::spread() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

}  // namespace imapprobe::controller
