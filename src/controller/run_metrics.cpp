#include "controller/run_metrics.hpp"

#include <algorithm>
#include <chrono>

namespace imapprobe::controller {

RunFacts facts_of(const probe::ProbeResult& result) {
  RunFacts f;
  f.passed = result.outcome != probe::Outcome::Failure;
  if (!f.passed) f.failure_reason = probe::to_string(result.reason);
  f.slow = result.over_threshold;
  for (const auto& [step, d] : result.durations) f.step_seconds.set(step, d);
  for (const auto& fam : result.families) {
    f.families.edit().push_back({fam.family, fam.outcome != probe::Outcome::Failure,
                                 std::chrono::duration<double>(fam.total).count()});
  }
  if (result.certificate) {
    f.certificate_not_after = std::chrono::duration_cast<std::chrono::seconds>(
                                  result.certificate->not_after.time_since_epoch())
                                  .count();
  }
  if (result.content) {
    auto& x = f.extra.edit();
    x.message_count = result.content->message_count;
    if (result.content->newest_age) {
      x.newest_age_seconds = std::chrono::duration<double>(*result.content->newest_age).count();
    }
    if (result.content->quota) {
      x.quota_ratio = result.content->quota->percent() / 100.0;
      x.quota_storage = result.content->quota->resource == "STORAGE";
    }
  }
  if (result.delivery && result.delivery->certificate) {
    auto& x = f.extra.edit();
    x.smtp_certificate_not_after = std::chrono::duration_cast<std::chrono::seconds>(
                                       result.delivery->certificate->not_after.time_since_epoch())
                                       .count();
  }
  return f;
}

void StepSeconds::set(probe::Step step, probe::Duration d) {
  const auto i = static_cast<std::size_t>(step);
  if (i >= kSize) return;
  times_[i] = d;
  present_ |= std::uint32_t{1} << i;
}

std::uint64_t& ReasonCounts::operator[](std::string_view reason) {
  auto it = std::lower_bound(counts_.begin(), counts_.end(), reason,
                             [](const auto& entry, std::string_view r) { return entry.first < r; });
  if (it == counts_.end() || it->first != reason) it = counts_.emplace(it, std::string(reason), 0);
  return it->second;
}

void DeliveryHistogram::observe(double seconds) {
  if (buckets.empty()) buckets.resize(std::size(kDeliveryBuckets));
  const auto* bound =
      std::lower_bound(std::begin(kDeliveryBuckets), std::end(kDeliveryBuckets), seconds);
  if (bound != std::end(kDeliveryBuckets)) ++buckets[bound - std::begin(kDeliveryBuckets)];
  sum += seconds;
  ++count;
}

void RunMetrics::probe_added(const std::string& key) {
  std::lock_guard lock(mu_);
  probes_.try_emplace(key);
  stats_.probes = probes_.size();
}

void RunMetrics::probe_reset(const std::string& key) {
  std::lock_guard lock(mu_);
  probes_[key] = ProbeFacts{};
  stats_.probes = probes_.size();
}

void RunMetrics::probe_removed(const std::string& key) {
  std::lock_guard lock(mu_);
  probes_.erase(key);
  stats_.probes = probes_.size();
}

void LagHistogram::observe(double seconds) {
  seconds = std::max(seconds, 0.0);
  const auto* bound = std::lower_bound(std::begin(kLagBuckets), std::end(kLagBuckets), seconds);
  if (bound != std::end(kLagBuckets)) ++buckets[bound - std::begin(kLagBuckets)];
  sum += seconds;
  ++count;
  max = std::max(max, seconds);
}

void RunMetrics::run_started(RunKind kind, double lag_seconds) {
  std::lock_guard lock(mu_);
  (kind == RunKind::Next ? stats_.lag_next : stats_.lag_first).observe(lag_seconds);
}

void RunMetrics::probe_stalled(const std::string& key, const std::string& reason) {
  std::lock_guard lock(mu_);
  if (auto it = probes_.find(key); it != probes_.end()) it->second.stalled_reason = reason;
}

void RunMetrics::probe_suspended(const std::string& key, bool suspended) {
  std::lock_guard lock(mu_);
  auto it = probes_.find(key);
  if (it == probes_.end()) return;
  it->second.suspended = suspended;
  if (suspended) it->second.stalled_reason = SharedText();
}

void RunMetrics::run_finished(const std::string& key, const probe::ProbeResult& result,
                              int consecutive_failures, bool degraded, bool slow) {
  std::lock_guard lock(mu_);
  const std::string reason(probe::to_string(result.reason));
  ++stats_.runs;
  ++stats_.runs_by_reason[reason];
  auto it = probes_.find(key);
  if (it == probes_.end()) return;  // removed while the run was in flight
  ProbeFacts& snap = it->second;
  // Copied into the facts already held (their step vector reused), not
  // moved: see Reconciler::submit on fragmentation.
  const RunFacts facts = facts_of(result);
  snap.last_run = facts;
  snap.last_run->slow = slow;
  snap.stalled_reason = SharedText();  // it ran
  snap.suspended = false;
  ++snap.runs_by_reason[reason];
  const double total = std::chrono::duration<double>(result.total).count();
  for (std::size_t i = 0; i < std::size(kDurationBuckets); ++i) {
    if (total <= kDurationBuckets[i]) {
      ++snap.duration_buckets[i];
      break;
    }
  }
  snap.duration_sum += total;
  ++snap.duration_count;
  if (result.delivery && result.delivery->latency) {
    snap.delivery.edit().observe(std::chrono::duration<double>(*result.delivery->latency).count());
  }
  snap.consecutive_failures = consecutive_failures;
  snap.degraded = degraded;
}

void RunMetrics::bump(std::uint64_t ReconcilerStats::*counter) {
  std::lock_guard lock(mu_);
  ++(stats_.*counter);
}

void RunMetrics::status_written() { bump(&ReconcilerStats::status_writes); }
void RunMetrics::status_write_skipped() { bump(&ReconcilerStats::status_writes_skipped); }
void RunMetrics::status_write_failed() { bump(&ReconcilerStats::status_write_errors); }
void RunMetrics::event_recorded() { bump(&ReconcilerStats::events); }
void RunMetrics::event_failed() { bump(&ReconcilerStats::event_errors); }
void RunMetrics::api_read_failed() { bump(&ReconcilerStats::api_read_errors); }
void RunMetrics::run_skipped_api_down() { bump(&ReconcilerStats::runs_skipped_api_down); }

void RunMetrics::set_in_flight(int n) {
  std::lock_guard lock(mu_);
  stats_.in_flight = n;
}

ReconcilerStats RunMetrics::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::vector<ProbeSnapshot> RunMetrics::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<ProbeSnapshot> out;
  out.reserve(probes_.size());
  for (const auto& [key, s] : probes_) {
    // The key is namespace/name (neither may hold a '/'): the labels are
    // cut from it here, not kept twice per probe.
    ProbeSnapshot& p = out.emplace_back(ProbeSnapshot{s, {}, {}});
    const auto slash = key.find('/');
    p.namespace_ = slash == std::string::npos ? std::string() : key.substr(0, slash);
    p.name = slash == std::string::npos ? key : key.substr(slash + 1);
  }
  return out;
}

}  // namespace imapprobe::controller
