// Multi-location (docs/multi-location.md): keeps every probe's locations'
// entries and the aggregate the API server shows, forms the verdict
// (verdict.hpp) and writes it, with the Events of its transitions, only
// when it changes. One verdict writer is active in the whole fleet (the
// holder of the hub-wide verdict Lease); the others keep the same state so
// that a successor starts from it.
//
// Thread-safe: the watch calls upsert/remove/sync_keys, the location loop
// set_live_locations/evaluate, the leader election set_active.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controller/cluster_api.hpp"
#include "controller/status_writer.hpp"
#include "controller/verdict.hpp"

namespace imapprobe::controller {

// The field manager of the aggregate (top-level conditions and
// observedGeneration).
inline constexpr const char* kVerdictFieldManager = "imapprobe-verdict";

class VerdictWriter {
 public:
  struct Options {
    // The locations' status heartbeat, and how old the summary's lastRun
    // may get before a newer run alone is written.
    std::chrono::seconds heartbeat{600};
    // A change of messages alone (a count of locations, a location turning
    // silent while the verdict stands) waits this long after the probe's
    // last write: at start-up each location's first entry would otherwise
    // cost every probe a write (measured: 3 writes per probe with 3
    // locations, starving the writer's own location of API threads).
    std::chrono::milliseconds message_hold{10'000};
    // An entry of a location with no live Lease this old is removed (a
    // location gone for good); 0: never.
    std::chrono::seconds entry_retention{std::chrono::hours(24)};
    // A removal asked for is not asked again before this (it is in flight,
    // or it was refused because the list changed).
    std::chrono::milliseconds removal_retry{30'000};
  };
  VerdictWriter(StatusWriter& writer, Options options);

  void upsert(const nlohmann::json& object);
  void remove(const std::string& key);
  // The complete set within `ns` ("" for all) after a (re)list.
  void sync_keys(const std::string& ns, const std::vector<std::string>& keys);

  void set_live_locations(std::set<std::string> live);
  void set_active(bool active);
  bool active() const;

  // Forms every probe's verdict and writes those that changed. Returns how
  // many were written.
  std::size_t evaluate(std::chrono::system_clock::time_point now);

  // The body written for an aggregate status.
  static nlohmann::json aggregate_body(const ProbeStatus& status);

 private:
  struct Probe {
    ProbeRef ref;
    std::optional<VerdictSpec> spec;  // nullopt: invalid (its locations report it)
    std::vector<LocationReport> reports;
    std::vector<std::size_t> positions;  // of each report in status.locations
    // Entries whose removal was asked for, and when.
    std::map<std::string, std::chrono::steady_clock::time_point> removals;
    ProbeStatus shown;                   // the aggregate the API server holds
    std::optional<ProbeStatus> written;  // submitted, not yet seen back
    std::optional<std::chrono::steady_clock::time_point> last_write;
  };
  bool evaluate_locked(Probe& p, std::chrono::system_clock::time_point now);
  void remove_gone_entries_locked(Probe& p, std::chrono::system_clock::time_point now);

  StatusWriter& writer_;
  Options options_;
  mutable std::mutex mu_;
  std::map<std::string, Probe> probes_;
  std::set<std::string> live_;
  bool live_known_ = false;
  bool active_ = false;
};

}  // namespace imapprobe::controller
