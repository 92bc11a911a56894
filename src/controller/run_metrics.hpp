// What /metrics needs to know about probe runs and the controller's own
// work, recorded by the reconciler and the status writer, read by the
// metrics page from another thread. Kept apart from the reconciler so the
// page's renderer depends on facts, not on the controller's machinery.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "controller/run_scheduler.hpp"
#include "controller/shared_value.hpp"
#include "controller/step_duration.hpp"
#include "probe/optional_box.hpp"
#include "probe/result.hpp"

namespace imapprobe::controller {

// Upper bounds (seconds) of the schedule-lag histogram buckets: from a
// healthy steady state (milliseconds) to a start-up queue (minutes).
inline constexpr double kLagBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                         1,     2.5,    5,     10,   30,    60,   120, 300};

// How late runs started against their plan, cumulative since start (so a
// rate over any window works, unlike a bounded sample of recent runs).
struct LagHistogram {
  std::array<std::uint64_t, std::size(kLagBuckets)> buckets{};  // non-cumulative
  double sum = 0;
  std::uint64_t count = 0;
  double max = 0;
  void observe(double seconds);
};

// Counters for the operator's own metrics.
struct ReconcilerStats {
  std::uint64_t runs = 0;
  std::uint64_t status_writes = 0;
  std::uint64_t status_writes_skipped = 0;  // nothing a reader acts on changed (write_policy.hpp)
  std::uint64_t status_write_errors = 0;    // failed attempts (each retried)
  std::uint64_t api_read_errors = 0;        // Secret reads without a usable answer
  std::uint64_t runs_skipped_api_down = 0;  // no credentials could be read, none known
  std::uint64_t events = 0;
  std::uint64_t event_errors = 0;
  int in_flight = 0;
  std::size_t probes = 0;
  LagHistogram lag_first;  // RunKind::First: start-up, changes, take-overs, retries
  LagHistogram lag_next;   // RunKind::Next: the steady rhythm
  std::map<std::string, std::uint64_t> runs_by_reason;
};

// Runs counted by reason, in reason order, for one probe: most probes see one
// or two reasons, and a std::map cost a 48-byte head and a node per reason.
class ReasonCounts {
 public:
  std::uint64_t& operator[](std::string_view reason);
  auto begin() const { return counts_.begin(); }
  auto end() const { return counts_.end(); }
  std::size_t size() const { return counts_.size(); }

 private:
  std::vector<std::pair<std::string, std::uint64_t>> counts_;
};

// Upper bounds (seconds) of the total-duration histogram buckets.
inline constexpr double kDurationBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                              0.5,   1,    2.5,   5,    10,  30};

// Upper bounds (seconds) of the delivery-latency histogram: mail takes
// from milliseconds (local LMTP) to minutes (a deferred queue).
inline constexpr double kDeliveryBuckets[] = {0.05, 0.1, 0.25, 0.5, 1,   2.5,
                                              5,    10,  30,   60,  120, 300};

// A histogram kept only by probes that have the delivery check: empty
// (no buckets allocated) for the others, which are most.
struct DeliveryHistogram {
  std::vector<std::uint64_t> buckets;  // non-cumulative, kDeliveryBuckets
  double sum = 0;
  std::uint64_t count = 0;
  void observe(double seconds);
};

// Each step's time in a run (StepDuration), by step: inline and
// fixed-size (a vector of (step, double) pairs cost a probe about 180 bytes).
class StepSeconds {
 public:
  void set(probe::Step step, probe::Duration d);
  bool empty() const { return present_ == 0; }
  // f(step, seconds) for each step with a time, in probe::kAllSteps order.
  template <typename F>
  void for_each(F f) const {
    for (probe::Step step : probe::kAllSteps) {
      const auto i = static_cast<std::size_t>(step);
      if ((present_ & (std::uint32_t{1} << i)) != 0) {
        f(step, std::chrono::duration<double>(probe::Duration(times_[i])).count());
      }
    }
  }

 private:
  static constexpr std::size_t kSize = std::size(probe::kAllSteps);
  static_assert(kSize <= 32, "one bit per step in a std::uint32_t");
  std::uint32_t present_ = 0;
  std::array<StepDuration, kSize> times_{};
};

// What the metrics page needs of a run, and no more: thousands of probes
// must not each keep a whole ProbeResult (capabilities, messages, SANs).
struct RunFacts {
  bool passed = false;
  bool slow = false;  // over a threshold or far over its baseline
  // The reason of a failed run, probe::to_string's static text; empty when
  // it passed.
  std::string_view failure_reason;
  StepSeconds step_seconds;
  std::optional<std::int64_t> certificate_not_after;  // Unix seconds
  // What the content checks found, and the delivery check's SMTP
  // certificate: most probes have neither, so one pointer (was 72 bytes
  // inline in every probe's facts); unset, it reads as empty.
  struct Extra {
    std::optional<std::int64_t> smtp_certificate_not_after;  // Unix seconds
    std::optional<std::uint32_t> message_count;
    std::optional<double> newest_age_seconds;
    std::optional<double> quota_ratio;  // usage / limit of the fullest resource
    bool quota_storage = false;         // that resource is STORAGE (else MESSAGE)
  };
  probe::DefaultedBox<Extra> extra;
  // ipFamily Both: each family's verdict and total, IPv4 first. Most probes
  // have none: one pointer, not an empty vector's 24 bytes.
  struct Family {
    std::string family;
    bool passed = false;
    double seconds = 0;
  };
  probe::DefaultedBox<std::vector<Family>> families;
};
RunFacts facts_of(const probe::ProbeResult& result);

// Per-probe facts for the metrics endpoint, as held per probe.
struct ProbeFacts {
  std::optional<RunFacts> last_run;
  int consecutive_failures = 0;
  bool degraded = false;  // as in the Degraded condition (thresholds, certificate, baseline)
  // Why the probe cannot run (Stalled=True), empty otherwise; and whether
  // spec.suspend holds it: a probe that does not run must still be alertable.
  SharedText stalled_reason;  // 8 bytes, nothing on the heap while it runs
  bool suspended = false;
  ReasonCounts runs_by_reason;
  // Non-cumulative; 32 bits last 8,000 years of a run a minute.
  std::array<std::uint32_t, std::size(kDurationBuckets)> duration_buckets{};
  double duration_sum = 0;
  std::uint64_t duration_count = 0;
  // Only probes with the delivery check have one (one pointer for the
  // others); unset, it reads as empty.
  probe::DefaultedBox<DeliveryHistogram> delivery;
};

// A probe's facts with its labels, cut from its namespace/name key when the
// page is built rather than kept twice per probe.
struct ProbeSnapshot : ProbeFacts {
  std::string namespace_;
  std::string name;
};

// Thread-safe: written from the probe thread and the API pool, read by the
// metrics server.
class RunMetrics {
 public:
  // `key` is namespace/name: the metrics' labels come from it.
  void probe_added(const std::string& key);
  // A new identity under the same key (deleted and re-created) starts afresh.
  void probe_reset(const std::string& key);
  void probe_removed(const std::string& key);
  void run_started(RunKind kind, double lag_seconds);
  // `slow`: the run was over a threshold or far over its baseline.
  void run_finished(const std::string& key, const probe::ProbeResult& result,
                    int consecutive_failures, bool degraded, bool slow);
  void probe_stalled(const std::string& key, const std::string& reason);
  void probe_suspended(const std::string& key, bool suspended);
  void status_written();
  void status_write_skipped();
  void status_write_failed();
  void event_recorded();
  void event_failed();
  void api_read_failed();
  void run_skipped_api_down();
  void set_in_flight(int n);

  ReconcilerStats stats() const;
  std::vector<ProbeSnapshot> snapshot() const;

 private:
  void bump(std::uint64_t ReconcilerStats::*counter);

  mutable std::mutex mu_;
  ReconcilerStats stats_;
  std::map<std::string, ProbeFacts> probes_;
};

}  // namespace imapprobe::controller
