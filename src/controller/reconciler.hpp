// The ImapProbe reconciler: the short wiring between the probe table (what
// exists), the run scheduler (when it runs), credential resolution (with
// what), the engine (the run), the status policy (what the status becomes)
// and the status writer (getting it to the API server).
//
// Threading: the table and the scheduler live on one io_context thread (the
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
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "controller/cluster_api.hpp"
#include "controller/credentials.hpp"
#include "controller/probe_table.hpp"
#include "controller/run_metrics.hpp"
#include "controller/run_scheduler.hpp"
#include "controller/shard_assignment.hpp"
#include "controller/status_writer.hpp"
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
  // A run that starts later than this against its plan re-phases the probe
  // from its actual start (run_scheduler.hpp, next_run_after).
  std::chrono::milliseconds rephase_after{1000};
  // A status that changes nothing a reader acts on is written at most once
  // per heartbeat (or per interval, when that is longer): write_policy.hpp.
  // Zero writes after every run.
  std::chrono::seconds status_heartbeat{600};
  // A new generation whose first run started this long ago without a result
  // gets its Pending status (status_policy.hpp, after_first_sight). Most
  // first runs take less, so they cost one write, not two; kstatus reads a
  // stale or defaulted observedGeneration as in progress meanwhile. 0: at
  // the run's start.
  std::chrono::milliseconds pending_after{2000};
  // First runs (start-up, new or changed probes, retries) start only while
  // fewer statuses than this wait for the status writer, so a queue of
  // first runs that need no API request cannot outrun the writes it causes;
  // runs of probes already running are never held back. 0: no bound.
  std::size_t write_backlog = 256;
  StatusWriterOptions writer;
  // Sharding (shard_assignment.hpp): this replica's member name; empty: not
  // sharded, every probe is this replica's. Sharded, it owns none until the
  // first set_shard_members.
  std::string shard_identity;
  std::chrono::milliseconds handover_write_wait{30'000};
  // Multi-location (docs/multi-location.md): this location's name; its
  // status is then its entry of status.locations alone, it runs only the
  // probes spec.locations gives it, and it records no Events (the verdict
  // writer does, for the aggregate). Empty: the whole status, as one
  // location.
  std::string report_location;
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
  // The same, streamed (kube::WatchLoop's on_page/on_listed): a page of a
  // (re)list as it arrives, then the keys of the complete set within `ns`.
  void upsert_page(std::vector<nlohmann::json> page);
  void sync_keys(const std::string& ns, std::vector<std::string> keys);

  // Runs happen only while active (the leader); tracking goes on regardless.
  void set_active(bool active);

  // Sharding (shard_assignment.hpp), thread-safe, from the membership loop:
  // the live members of this replica's location, and that every member
  // publishes `view` and is settled (gained probes may start).
  void set_shard_members(std::string self, std::vector<std::string> members);
  void agree_shard_view(std::uint64_t view);
  struct ShardProgress {
    std::uint64_t view = 0;  // the view this replica acts on
    // No run in flight or status write pending for a probe it gave up.
    bool settled = true;
    bool agreed = true;
    std::size_t members = 0;
  };
  // What this replica publishes in its Lease. Thread-safe; also refreshes
  // itself on the probe thread, so each call sees a state at most one call old.
  ShardProgress shard_progress();

  // Stops scheduling; calls `done` once in-flight runs and their status
  // writes have finished.
  void shutdown(std::function<void()> done);

  ReconcilerStats stats() const;
  std::vector<ProbeSnapshot> snapshot() const;

 private:
  using Clock = RunScheduler::Clock;
  // What a run was started for: its result counts only if both still hold.
  struct RunToken {
    std::string key;
    std::string uid;
    std::uint64_t epoch = 0;
    Clock::time_point planned;
    Clock::time_point started;  // when the session began (after the Secret read)
    RunKind kind = RunKind::First;
    std::string run_request;  // the run-request annotation's value when the run started
  };

  void on_upsert(const nlohmann::json& object);
  // Ready=Unknown/Pending (status_policy.hpp) for a generation whose first
  // run started pending_after ago and has not reported yet.
  void announce_pending(ProbeEntry& e);
  // A run-request annotation value no run has been made for yet.
  static bool run_requested(const std::string& request, const ProbeStatus& status);
  void request_run(ProbeEntry& e);
  void on_remove(const std::string& key);
  void plan_first_run(ProbeEntry& e, bool fresh);
  void wake();
  void rearm();
  // How many first runs may start now (ReconcilerOptions::write_backlog).
  int first_run_budget() const;
  void start_run(const RunScheduler::Start& start);
  void on_credentials(const RunToken& token, CredentialResolution resolution);
  void run(const RunToken& token, const ProbeEntry::KnownCredentials& known);
  std::shared_ptr<const std::string> intern_ca(std::string pem);
  void finish_run(const RunToken& token, const probe::ProbeResult& result);
  void release(const std::string& key);
  bool current(const RunToken& token);
  void stall(ProbeEntry& e, const std::string& reason, const std::string& message,
             const std::string& handled_request = {});
  void submit(ProbeEntry& e, Transition t);
  // Hands a status to the writer (Events only when this replica records them).
  void write(const ProbeEntry& e, std::vector<Event> events);
  void share_texts(ProbeStatus& status);
  void flush_unwritten();
  void check_drained();
  // A probe this replica may now run: its status, stall or first run.
  void take_up(ProbeEntry& e, bool fresh);
  // Gives up a probe another replica owns now: no plan, results in flight
  // dropped, a status kept in memory written first.
  void give_up(ProbeEntry& e);
  void apply_shard_view();
  void update_shard_progress();
  // A probe this replica holds as identity only, read whole from the API
  // server (on the API pool), then taken up.
  using ProbeRead = std::variant<std::optional<nlohmann::json>, std::string>;  // object or error
  void read_and_take_up(ProbeEntry& e);
  void on_probe_read(const ProbeRef& ref, const ProbeRead& read);

  boost::asio::io_context& io_;
  boost::asio::thread_pool& api_pool_;
  ClusterApi& api_;
  ProbeRunner runner_;
  ReconcilerOptions options_;
  RunMetrics metrics_;
  ProbeTable table_;
  // One copy of each certificate many probes see (a server's, typically).
  SharingPool<CertificateStatus> certificates_;
  // One copy of each condition type and reason, and of each message many
  // probes share (apart, so that messages varying per probe do not push
  // the few names out of a bounded pool).
  SharingPool<std::string> names_;
  SharingPool<std::string> messages_;
  RunScheduler scheduler_;
  StatusWriter writer_;
  boost::asio::steady_timer wake_timer_;
  // The instant wake_timer_ has a wait armed for; empty once it fired or was
  // cancelled (a cancelled timer keeps its expiry, so the expiry alone
  // cannot tell whether a wait is armed).
  std::optional<Clock::time_point> armed_for_;
  // Pending statuses to announce (announce_pending), oldest first: every
  // entry waits the same pending_after, so the queue stays in due order.
  struct PendingNotice {
    Clock::time_point due;
    std::string key;
    std::uint64_t epoch = 0;
  };
  std::deque<PendingNotice> pending_notices_;
  void announce_due_pending(Clock::time_point now);
  // CA bundles by content, shared by the probes that use them.
  std::map<std::string, std::weak_ptr<const std::string>> ca_bundles_;
  bool active_ = true;
  ShardAssignment shard_;
  // Probes given up whose run or status write may still be in flight, with
  // when: a write the API server keeps refusing holds the handover back at
  // most options_.handover_write_wait.
  std::map<std::string, Clock::time_point> giving_up_;
  std::set<std::string> reading_;  // probes being read to be taken up
  mutable std::mutex progress_mu_;
  ShardProgress progress_;
  bool stopping_ = false;
  std::function<void()> on_drained_;
};

}  // namespace imapprobe::controller
