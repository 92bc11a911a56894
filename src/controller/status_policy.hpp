// What the status of an ImapProbe becomes after a run, a stall or a
// suspension, and which Events that change deserves. Pure functions: the
// reconciler feeds them, the status writer and event emitter act on them.
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/conditions.hpp"
#include "controller/probe_resource.hpp"
#include "controller/probe_status.hpp"
#include "probe/result.hpp"

namespace imapprobe::controller {

struct Event {
  std::string type;  // Normal | Warning
  std::string reason;
  std::string action;
  std::string note;
  bool operator==(const Event&) const = default;
};

struct Transition {
  ProbeStatus status;
  std::vector<Event> events;
};

// Condition types and the reasons the controller itself gives.
inline constexpr const char* kReady = "Ready";
inline constexpr const char* kAvailable = "Available";
inline constexpr const char* kDegraded = "Degraded";
inline constexpr const char* kStalled = "Stalled";
// True only between seeing a generation and finishing its first run (or
// stalling, or suspending): kstatus, Helm 4 and Flux read it as InProgress.
inline constexpr const char* kReconciling = "Reconciling";

// Baseline comparison: a step over `factor` x its baseline and at least
// `min_excess` slower makes a passing run Degraded (reason OverBaseline),
// once `min_samples` runs have built the baseline.
struct BaselinePolicy {
  double factor = 3.0;
  double min_excess_seconds = 0.05;
  int min_samples = 10;
  double alpha = 0.1;
};

Transition after_run(const ProbeStatus& previous, const ProbeDefinition& probe,
                     const probe::ProbeResult& result, std::chrono::system_clock::time_point now,
                     const BaselinePolicy& policy = {});

// The probe cannot run (invalid spec, missing Secret or key): Stalled=True,
// Ready=False; Available keeps its last value (the service was not judged).
Transition after_stall(const ProbeStatus& previous, std::int64_t generation,
                       const std::string& reason, const std::string& message,
                       std::chrono::system_clock::time_point now);

// A generation seen for the first time, before its first run: Ready=Unknown
// and Reconciling=True (reason Pending), Stalled=False; Available keeps its
// last value. Without it a new probe has no conditions until its first run
// ends, which kstatus calls Current.
Transition after_first_sight(const ProbeStatus& previous, std::int64_t generation,
                             std::chrono::system_clock::time_point now);

// spec.suspend: Ready=True/Suspended, nothing else changes.
Transition after_suspend(const ProbeStatus& previous, std::int64_t generation,
                         std::chrono::system_clock::time_point now);

std::string rfc3339(std::chrono::system_clock::time_point t);

}  // namespace imapprobe::controller
