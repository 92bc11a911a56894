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
      by_time(kind), spare_times_,
      [&](auto& node) {
        node.value().first = when;
        node.value().second = key;
      },
      when, key);
}

void RunScheduler::cancel(const std::string& key) {
  auto it = plans_.find(key);
  if (it == plans_.end()) return;
  keep_spare(spare_times_, by_time(it->second.kind).extract({it->second.when, key}));
  keep_spare(spare_plans_, plans_.extract(it));
}

void RunScheduler::cancel_all() {
  plans_.clear();
  first_by_time_.clear();
  next_by_time_.clear();
}

RunScheduler::ByTime::const_iterator RunScheduler::idle_from(ByTime::const_iterator it,
                                                             const ByTime& times) const {
  while (it != times.end() && running_.contains(it->second)) ++it;
  return it;
}

std::vector<RunScheduler::Start> RunScheduler::take_due(TimePoint now, int max_first) {
  std::vector<Start> out;
  auto next = idle_from(next_by_time_.begin(), next_by_time_);
  auto first = idle_from(first_by_time_.begin(), first_by_time_);
  while (in_flight() < options_.concurrency) {
    // The earlier of the two due candidates; first runs only within max_first.
    const bool next_due = next != next_by_time_.end() && next->first <= now;
    const bool first_due = max_first > 0 && first != first_by_time_.end() && first->first <= now;
    if (!next_due && !first_due) break;
    const bool take_first = first_due && (!next_due || first->first <= next->first);
    ByTime& times = take_first ? first_by_time_ : next_by_time_;
    auto& cursor = take_first ? first : next;
    const auto it = cursor;
    cursor = idle_from(std::next(it), times);
    if (take_first) --max_first;
    auto plan = plans_.find(it->second);
    out.push_back({it->second, it->first, plan->second.kind});
    insert_reusing(
        running_, spare_running_, [&](auto& node) { node.value() = it->second; }, it->second);
    keep_spare(spare_plans_, plans_.extract(plan));
    keep_spare(spare_times_, times.extract(it));
  }
  return out;
}

void RunScheduler::finished(const std::string& key) {
  keep_spare(spare_running_, running_.extract(key));
}

std::optional<RunScheduler::TimePoint> RunScheduler::next_wakeup(TimePoint now,
                                                                 bool first_runs) const {
  if (in_flight() >= options_.concurrency) return std::nullopt;  // finished() wakes it
  // Plans of running probes are skipped: finished() wakes it.
  std::optional<TimePoint> earliest;
  if (auto it = idle_from(next_by_time_.begin(), next_by_time_); it != next_by_time_.end())
    earliest = it->first;
  if (first_runs) {
    if (auto it = idle_from(first_by_time_.begin(), first_by_time_); it != first_by_time_.end()) {
      earliest = earliest ? std::min(*earliest, it->first) : it->first;
    }
  }
  if (!earliest) return std::nullopt;
  return std::max(*earliest, now);
}

RunScheduler::Clock::duration RunScheduler::jitter(Clock::duration max) {
  if (max <= Clock::duration::zero()) return Clock::duration::zero();
  std::uniform_int_distribution<Clock::rep> d(0, max.count());
  return Clock::duration(d(rng_));
}

double RunScheduler::spread() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

}  // namespace imapprobe::controller
