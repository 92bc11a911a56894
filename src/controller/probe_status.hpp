// The ImapProbe status as plain structs, with its one JSON reader and one
// JSON writer next to them (the CRD's status schema is the contract). The
// controller keeps this per probe and serializes it only to write it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "controller/conditions.hpp"
#include "probe/duration.hpp"

namespace imapprobe::controller {

// status.lastRun: the run the status shows.
struct LastRun {
  std::string time;     // RFC 3339: when the run happened
  std::string outcome;  // Success | Degraded | Failure
  std::string reason;
  std::string message;
  std::string failed_step;                           // empty when none failed
  std::map<std::string, probe::Duration> durations;  // step name (and "total")
  std::optional<std::uint32_t> messages;             // EXISTS of the mailbox
  std::string remote_address;
  bool operator==(const LastRun&) const = default;
};

// status.certificate: the server certificate seen in the last TLS run.
struct CertificateStatus {
  std::string subject;
  std::string issuer;
  std::string not_before;  // RFC 3339
  std::string not_after;   // RFC 3339
  long days_remaining = 0;
  bool verified = false;
  std::string tls_version;
  std::string cipher;
  std::vector<std::string> dns_names;
  bool operator==(const CertificateStatus&) const = default;
};

// A robust running estimate per step (and total) of a healthy run's time:
// an exponentially weighted mean over passing runs, each sample clipped to
// 4x the current estimate so one outlier cannot drag it.
struct Baseline {
  std::map<std::string, double> seconds;  // step name (or "total") -> seconds
  int samples = 0;
  bool operator==(const Baseline&) const = default;
};

struct ProbeStatus {
  std::int64_t observed_generation = 0;
  std::vector<Condition> conditions;
  std::optional<LastRun> last_run;
  std::optional<CertificateStatus> certificate;
  int consecutive_failures = 0;
  int consecutive_successes = 0;
  std::string last_success_time;
  std::string last_failure_time;
  std::string next_run_time;
  // The value of the run-request annotation (probe_resource.hpp) the last
  // requested run was started for: "handled", as Flux's lastHandledReconcileAt.
  std::string last_handled_run_request;
  Baseline baseline;
  bool operator==(const ProbeStatus&) const = default;

  // Tolerant: a field of the wrong type reads as absent, so a status edited
  // by hand cannot stop the operator.
  static ProbeStatus from_json(const nlohmann::json& status);
  nlohmann::json to_json() const;
};

// "12.3ms", "1.204s": a valid Go duration, short enough for kubectl columns.
std::string format_latency(probe::Duration d);

}  // namespace imapprobe::controller
