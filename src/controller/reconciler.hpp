// The ImapProbe reconciler: spec -> schedule -> run -> status and events.
//
// Threading: every piece of probe state lives on one io_context thread (the
// probe thread), which also runs the probes themselves; blocking API calls
// (reading Secrets, writing status and events) run on a small thread pool
// and post their outcome back. The watch calls upsert/remove/sync from its
// own thread; they post too.
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
// clang-format off
#include <boost/asio/awaitable.hpp>
// clang-format on
#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "controller/cluster_api.hpp"
#include "controller/probe_resource.hpp"
#include "controller/status_policy.hpp"
#include "probe/result.hpp"
#include "probe/spec.hpp"

namespace imapprobe::controller {

using ProbeRunner =
    std::function<boost::asio::awaitable<probe::ProbeResult>(probe::ProbeSpec, probe::Credentials)>;

struct ReconcilerOptions {
  int concurrency = 64;  // probe runs in flight at once, across all probes
  double jitter = 0.1;   // fraction of the interval a run may be shifted by
  std::chrono::milliseconds first_run_spread{2000};  // spread of runs at start-up/spec change
  std::chrono::milliseconds stalled_retry{30'000};   // retry of a probe that cannot run
  int status_write_attempts = 4;
};

// Counters for the operator's own metrics.
struct ReconcilerStats {
  std::uint64_t runs = 0;
  std::uint64_t status_writes = 0;
  std::uint64_t status_write_errors = 0;
  std::uint64_t events = 0;
  int in_flight = 0;
  std::size_t probes = 0;
  std::vector<double> recent_lag_seconds;  // schedule lag of recent runs (bounded)
  std::map<std::string, std::uint64_t> runs_by_reason;
};

// Upper bounds (seconds) of the total-duration histogram buckets.
inline constexpr double kDurationBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                              0.5,   1,    2.5,   5,    10,  30};

// What the metrics page needs of a run, and no more: thousands of probes
// must not each keep a whole ProbeResult (capabilities, messages, SANs).
struct RunFacts {
  bool passed = false;
  std::vector<std::pair<probe::Step, double>> step_seconds;
  std::optional<std::int64_t> certificate_not_after;  // Unix seconds
};
RunFacts facts_of(const probe::ProbeResult& result);

// Per-probe facts for the metrics endpoint.
struct ProbeSnapshot {
  std::string namespace_;
  std::string name;
  std::optional<RunFacts> last_run;
  int consecutive_failures = 0;
  bool degraded = false;  // as in the Degraded condition (thresholds, certificate, baseline)
  std::map<std::string, std::uint64_t> runs_by_reason;
  std::array<std::uint64_t, std::size(kDurationBuckets)> duration_buckets{};  // non-cumulative
  double duration_sum = 0;
  std::uint64_t duration_count = 0;
};

class Reconciler {
 public:
  Reconciler(boost::asio::io_context& io, boost::asio::thread_pool& api_pool, ClusterApi& api,
             ProbeRunner runner, ReconcilerOptions options = {});
  ~Reconciler();

  // Thread-safe: from the watch.
  void upsert(nlohmann::json object);
  void remove(const std::string& ns, const std::string& name);
  // The complete set within `ns` ("" for all namespaces) after a (re)list:
  // probes of that scope missing from it were deleted while unobserved.
  void sync(const std::string& ns, std::vector<nlohmann::json> objects);

  // Runs happen only while active (the leader); tracking goes on regardless.
  void set_active(bool active);

  // Stops scheduling; calls `done` on the probe thread once in-flight runs
  // and their status writes have finished.
  void shutdown(std::function<void()> done);

  ReconcilerStats stats() const;
  std::vector<ProbeSnapshot> snapshot() const;

 private:
  struct Entry;
  using Clock = std::chrono::steady_clock;

  void on_upsert(nlohmann::json object);
  void on_remove(const std::string& key);
  void schedule(Entry& e, Clock::time_point when);
  void due(const std::string& key, std::uint64_t epoch);
  void start_run(const std::string& key);
  void run_with_credentials(const std::string& key, std::uint64_t epoch, probe::Credentials creds,
                            std::string ca_pem);
  void finish_run(const std::string& key, std::uint64_t epoch, const probe::ProbeResult& result);
  void stall(Entry& e, const std::string& reason, const std::string& message);
  void write(Entry& e, const Transition& t);
  void release_slot();
  Clock::duration jittered(Clock::duration base);

  boost::asio::io_context& io_;
  boost::asio::thread_pool& api_pool_;
  ClusterApi& api_;
  ProbeRunner runner_;
  ReconcilerOptions options_;
  std::map<std::string, std::unique_ptr<Entry>> entries_;
  std::deque<std::pair<std::string, std::uint64_t>> waiting_;  // runs over the concurrency bound
  std::mt19937_64 rng_;
  bool active_ = true;
  bool stopping_ = false;
  std::atomic<int> in_flight_{0};
  std::atomic<int> pending_writes_{0};
  std::function<void()> on_drained_;

  mutable std::mutex stats_mu_;  // stats are read from the metrics thread
  ReconcilerStats stats_;
  std::map<std::string, ProbeSnapshot> snapshots_;
};

}  // namespace imapprobe::controller
