// Multi-location (docs/multi-location.md): one verdict per probe from its
// locations' entries in status.locations. A pure function of the entries,
// the live locations and the time, so the verdict does not depend on the
// order in which locations report, and the verdict writer writes only
// when its outcome changes.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controller/location_report.hpp"
#include "controller/status_policy.hpp"

namespace imapprobe::controller {

// What the verdict needs of a probe's spec.
struct VerdictSpec {
  std::int64_t generation = 0;
  std::vector<std::string> locations;            // spec.locations; empty: every live location
  std::optional<int> min_failing;                // spec.verdict.minFailingLocations
  std::chrono::seconds min_failure_duration{0};  // spec.verdict.minFailureDuration
  std::chrono::seconds interval{60};
  std::chrono::seconds timeout{30};
  bool suspend = false;
  bool operator==(const VerdictSpec&) const = default;
};

// Throws InvalidSpec (probe_resource.hpp) as parse_probe does.
VerdictSpec verdict_spec_of(const nlohmann::json& object);

struct VerdictContext {
  std::set<std::string> live_locations;  // locations with a live Lease
  std::chrono::system_clock::time_point now;
  // A location's entry older than 2 intervals + the timeout + this is
  // silent even while the location lives (its status heartbeat: an
  // unchanged entry is rewritten that often).
  std::chrono::seconds heartbeat{600};
};

enum class LocationState { Passing, Failing, Silent, Pending, Stalled, Suspended };

struct LocationView {
  std::string name;
  LocationState state = LocationState::Pending;
  const LocationReport* report = nullptr;  // null when it has not reported
};

// Each location the verdict considers, by name: spec.locations, or every
// live location and every location with an entry.
std::vector<LocationView> classify_locations(const VerdictSpec& spec,
                                             const std::vector<LocationReport>& reports,
                                             const VerdictContext& context);

// The aggregate status the reports make, from the aggregate written
// before, with the Events its transitions deserve (none for a change of
// message only): observedGeneration, the conditions Ready, Available,
// Degraded, Stalled, Reconciling, and for kubectl's columns the newest
// run of any location as lastRun (with its location) and the fewest
// certificate days any location sees as certificate.daysRemaining.
Transition form_verdict(const ProbeStatus& previous, const VerdictSpec& spec,
                        const std::vector<LocationReport>& reports, const VerdictContext& context);

// The entries the verdict writer removes: of a location with no live Lease
// whose entry is older than `retention` (0: never) or has no time, or that
// spec.locations no longer names. A live location removes its own entry
// when spec.locations leaves it out; a dead one cannot.
std::vector<std::string> gone_entries(const VerdictSpec& spec,
                                      const std::vector<LocationReport>& reports,
                                      const std::set<std::string>& live_locations,
                                      std::chrono::system_clock::time_point now,
                                      std::chrono::seconds retention);

}  // namespace imapprobe::controller
