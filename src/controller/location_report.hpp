// Multi-location (docs/multi-location.md): a location's entry in
// status.locations, the one part of the status a location writes. Made
// from the location's own ProbeStatus (kept in memory as in the single
// location operator), read back by the verdict writer and, after a restart
// or a handover, by the location itself.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "controller/probe_status.hpp"

namespace imapprobe::controller {

// The field manager a location applies its entry with: server-side apply
// then refuses (409) any other manager's change to that entry.
std::string location_field_manager(const std::string& location);

struct LocationReport {
  std::string name;
  std::string available;  // the location's own Available: True | False | Unknown
  std::string outcome;    // Success | Degraded | Failure | Stalled | Suspended | Pending
  std::string reason;
  std::string message;
  std::string failed_step;
  encoding::Timestamp time;  // the run shown (or when the stall began)
  // While available is False: since when (the location's own Available
  // transition), so the verdict can tell how long an outage has lasted.
  encoding::Timestamp failing_since;
  std::int64_t observed_generation = 0;
  int consecutive_failures = 0;
  StepValues<StepDuration> durations;
  std::optional<long> certificate_days_remaining;
  bool operator==(const LocationReport&) const = default;

  static LocationReport from_status(const ProbeStatus& status, const std::string& location);
  // nullopt for an entry without a name; other fields tolerant as ProbeStatus.
  static std::optional<LocationReport> from_json(const nlohmann::json& entry);
  nlohmann::json to_json() const;
  // The status a location carries on from (counters, last run, conditions
  // as far as the entry tells them).
  ProbeStatus to_status() const;
};

// The body a location applies: {"locations": [its entry]}.
nlohmann::json location_status_body(const ProbeStatus& status, const std::string& location);
// Applied by a location that does not run the probe (spec.locations): its
// manager then owns no entry, so the server removes the one it had.
nlohmann::json no_location_body();
// Every well-formed entry of status.locations; with `positions`, each
// one's index in that list.
std::vector<LocationReport> location_reports(const nlohmann::json& status,
                                             std::vector<std::size_t>* positions = nullptr);
// The entry of `location` in an object's status, if any.
std::optional<LocationReport> location_report_of(const nlohmann::json& object,
                                                 const std::string& location);

}  // namespace imapprobe::controller
