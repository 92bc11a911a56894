// Owns the writing of status and Events to the API server.
//
// Per probe, one slot: the latest status not yet written (a newer one
// replaces it: latest wins), the Events still to record, and at most one
// write in flight. A failed write is retried with capped exponential backoff
// until it lands or is superseded; a change is never dropped while the probe
// exists. Events are recorded after the status that they describe has landed,
// in order. Nothing thrown by the API side escapes: every failure is counted,
// logged with the probe's key, and retried.
//
// A status waits in its slot as the probe keeps it (ProbeStatus) and is made
// JSON only when its write starts, on an API thread: the typed copy costs a
// few hundred bytes beyond what it shares with the probe, its JSON tree
// several kilobytes, and the writer may hold one per probe (10,000 first
// runs that need no API request finish long before their writes: held as
// JSON they took the high-water mark from 59 to 131 MiB).
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "controller/cluster_api.hpp"
#include "controller/probe_status.hpp"
#include "controller/run_metrics.hpp"
#include "controller/status_policy.hpp"

namespace imapprobe::controller {

struct StatusWriterOptions {
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{30'000};
};

// What is written: a typed status (rendered at write time) or a body that is
// JSON already (the verdict writer's, a location's removal).
using StatusBody = std::variant<nlohmann::json, ProbeStatus>;

class StatusWriter {
 public:
  // The body written for a typed status; empty: ProbeStatus::to_json.
  using Render = std::function<nlohmann::json(const ProbeStatus&)>;
  StatusWriter(boost::asio::thread_pool& pool, ClusterApi& api, RunMetrics& metrics,
               StatusWriterOptions options = {}, Render render = {});
  ~StatusWriter();
  StatusWriter(const StatusWriter&) = delete;
  StatusWriter& operator=(const StatusWriter&) = delete;

  // Thread-safe. A status for another uid than the slot's replaces the slot
  // whole: the earlier probe of that name is gone.
  void submit(const ProbeRef& probe, StatusBody status, std::vector<Event> events);
  // The probe was deleted: whatever was not written yet is dropped.
  void forget(const std::string& key);
  // One attempt, on the API threads, to remove a location's entry
  // (ClusterApi::remove_location_entry); a failure is logged and counted,
  // the caller asks again later if the entry is still there.
  void remove_location_entry(const ProbeRef& probe, std::size_t index, std::string location);

  // Shutdown: every pending write gets one more attempt now (no backoff),
  // failures are then given up (logged); `done` runs once nothing is in
  // flight. Later submits are ignored.
  void drain(std::function<void()> done);

  std::size_t pending() const;
  // Calls `wake` once (on an API thread), as soon as fewer than `limit`
  // statuses are pending: at once if they already are. Replaces an earlier
  // call's `wake` that has not run.
  void notify_below(std::size_t limit, std::function<void()> wake);
  // A status of `key` waits to be written or is being written.
  bool busy(const std::string& key) const;

 private:
  struct Slot;
  void start_locked(const std::string& key, Slot& slot);
  void attempt(const std::string& key, std::uint64_t serial);
  // After a slot or a removal has gone: the notify_below and drain callbacks.
  void released_locked();

  boost::asio::thread_pool& pool_;
  ClusterApi& api_;
  RunMetrics& metrics_;
  StatusWriterOptions options_;
  Render render_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Slot>> slots_;
  std::mt19937_64 rng_;
  std::uint64_t next_serial_ = 0;
  int removals_in_flight_ = 0;
  bool draining_ = false;
  std::function<void()> on_drained_;
  std::size_t notify_limit_ = 0;
  std::function<void()> on_below_;
};

}  // namespace imapprobe::controller
