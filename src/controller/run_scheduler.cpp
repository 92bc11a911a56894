#include "controller/run_scheduler.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

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

namespace {

// Inserts into `c` through a spare node, filled by `fill`, when there is one;
// else emplaces `args` in a new node.
template <typename Container, typename Fill, typename... Args>
void insert_reusing(Container& c, std::vector<typename Container::node_type>& spares, Fill fill,
                    Args&&... args) {
  if (spares.empty()) {
    c.emplace(std::forward<Args>(args)...);
    return;
  }
  auto node = std::move(spares.back());
  spares.pop_back();
  fill(node);
  c.insert(std::move(node));
}

}  // namespace

template <typename Node>
void RunScheduler::keep_spare(std::vector<Node>& spares, Node node) {
  if (node && spares.size() < static_cast<std::size_t>(std::max(options_.concurrency, 1))) {
    spares.push_back(std::move(node));
  }
}

void RunScheduler::plan(const std::string& key, TimePoint when, RunKind kind) {
  cancel(key);
  insert_reusing(
      plans_, spare_plans_,
      [&](auto& node) {
        node.key() = key;
        node.mapped() = Plan{when, kind};
      },
      key, Plan{when, kind});
  // Member by member: assigning a pair made of `key` would copy it into a
  // new string first.
  insert_reusing(
      by_time_, spare_times_,
      [&](auto& node) {
        node.value().first = when;
        node.value().second = key;
      },
      when, key);
}

void RunScheduler::cancel(const std::string& key) {
  auto it = plans_.find(key);
  if (it == plans_.end()) return;
  keep_spare(spare_times_, by_time_.extract({it->second.when, key}));
  keep_spare(spare_plans_, plans_.extract(it));
}

void RunScheduler::cancel_all() {
  plans_.clear();
  by_time_.clear();
}

std::vector<RunScheduler::Start> RunScheduler::take_due(TimePoint now, int max_first) {
  std::vector<Start> out;
  for (auto it = by_time_.begin();
       it != by_time_.end() && it->first <= now && in_flight() < options_.concurrency;) {
    if (running_.contains(it->second)) {
      ++it;  // stays planned: starts once its current run has finished
      continue;
    }
    auto plan = plans_.find(it->second);
    if (plan->second.kind == RunKind::First) {
      if (max_first <= 0) {
        ++it;  // held back; runs of kind Next behind it still start
        continue;
      }
      --max_first;
    }
    out.push_back({it->second, it->first, plan->second.kind});
    insert_reusing(
        running_, spare_running_, [&](auto& node) { node.value() = it->second; }, it->second);
    keep_spare(spare_plans_, plans_.extract(plan));
    auto next = std::next(it);
    keep_spare(spare_times_, by_time_.extract(it));
    it = next;
  }
  return out;
}

void RunScheduler::finished(const std::string& key) {
  keep_spare(spare_running_, running_.extract(key));
}

std::optional<RunScheduler::TimePoint> RunScheduler::next_wakeup(TimePoint now,
                                                                 bool first_runs) const {
  if (in_flight() >= options_.concurrency) return std::nullopt;  // finished() wakes it
  for (const auto& [when, key] : by_time_) {
    if (running_.contains(key)) continue;  // finished() wakes it
    if (!first_runs && plans_.find(key)->second.kind == RunKind::First) continue;
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
