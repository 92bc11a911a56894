// When a status is worth writing. A reader of `kubectl get` or a GitOps tool
// needs the verdict to be current, not a fresh timestamp every run: writing
// every run of 10,000 probes a minute costs the API server about two cores.
// So a status is written at once when anything a reader acts on changed,
// and otherwise at most once per heartbeat (never less often than the
// probe's interval), so lastRun and the printer columns never get older
// than that. Per-run truth stays in the Prometheus metrics. Pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "controller/probe_status.hpp"

namespace imapprobe::controller {

// A digest of what a reader acts on: observedGeneration; each condition's
// type, status and reason; the last run's outcome, reason and failed step;
// the certificate's identity (subject, issuer, notAfter) and its whole days
// remaining. Equal digests: nothing a reader acts on changed.
std::uint64_t significance(const ProbeStatus& status);

struct WriteDecision {
  bool write = false;
  const char* why = "";  // "change", "heartbeat", "events", or "" when skipped
};

// `written_*`: the digest and time of the status last written (none: never).
WriteDecision decide_write(std::optional<std::uint64_t> written_digest,
                           std::optional<std::chrono::system_clock::time_point> written_at,
                           const ProbeStatus& next, bool has_events,
                           std::chrono::system_clock::time_point now,
                           std::chrono::system_clock::duration heartbeat);

// The heartbeat a probe's unchanged status is written at: the operator's
// `--status-heartbeat`, or the probe's interval when that is longer (a
// heartbeat shorter than the interval would be every run). Zero stays zero:
// a write after every run, as before the write policy (bench part b's
// reference).
std::chrono::system_clock::duration effective_heartbeat(std::chrono::seconds heartbeat,
                                                        std::chrono::nanoseconds interval);

}  // namespace imapprobe::controller
