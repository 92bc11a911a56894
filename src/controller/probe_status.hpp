// The ImapProbe status as plain structs, with its one JSON reader and one
// JSON writer next to them (the CRD's status schema is the contract). The
// controller keeps this per probe and serializes it only to write it.
#pragma once

#include <array>
#include <bit>
#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "controller/conditions.hpp"
#include "controller/shared_value.hpp"
#include "controller/step_duration.hpp"
#include "encoding/time.hpp"
#include "probe/duration.hpp"
#include "probe/optional_box.hpp"

namespace imapprobe::controller {

// The step names of lastRun.durations and baseline (the CRD's keys): the
// engine's steps, then "total".
inline constexpr std::string_view kStatusSteps[] = {
    "dns",      "connect",  "tls",       "greeting", "capability",      "token",       "login",
    "select",   "search",   "roundTrip", "fetch",    "checks",          "smtpConnect", "smtpTls",
    "smtpEhlo", "smtpAuth", "smtpSend",  "delivery", "deliveryCleanup", "logout",      "total"};

// A value per status step name, held inline: a std::map<std::string, T> per
// probe cost about 720 bytes for each of lastRun.durations and the baseline,
// a third of a probe's memory at 10,000 probes. A bit per step says which
// are set (an array of std::optional<T> took twice the bytes). Reads like a
// small map; a name that is not a status step is never stored (from_json
// skips it, the CRD schema refuses it).
template <typename T>
class StepValues {
 public:
  static constexpr std::size_t kSize = std::size(kStatusSteps);
  static_assert(kSize <= 32, "one bit per step in a std::uint32_t");

  bool contains(std::string_view name) const {
    const auto i = index(name);
    return i < kSize && has(i);
  }
  const T& at(std::string_view name) const {
    const auto i = index(name);
    if (i >= kSize || !has(i)) throw std::out_of_range("no step value " + std::string(name));
    return values_[i];
  }
  // Throws std::out_of_range for a name that is not a status step.
  T& operator[](std::string_view name) {
    const auto i = index(name);
    if (i >= kSize) throw std::out_of_range("not a status step: " + std::string(name));
    if (!has(i)) {
      values_[i] = T{};
      present_ |= bit(i);
    }
    return values_[i];
  }
  bool set_if_step(std::string_view name, T value) {
    const auto i = index(name);
    if (i >= kSize) return false;
    values_[i] = std::move(value);
    present_ |= bit(i);
    return true;
  }
  std::size_t size() const { return static_cast<std::size_t>(std::popcount(present_)); }
  bool empty() const { return present_ == 0; }
  // f(name, value) for each step with a value, in kStatusSteps order.
  template <typename F>
  void for_each(F f) const {
    for (std::size_t i = 0; i < kSize; ++i) {
      if (has(i)) f(kStatusSteps[i], values_[i]);
    }
  }
  bool operator==(const StepValues& other) const {
    if (present_ != other.present_) return false;
    for (std::size_t i = 0; i < kSize; ++i) {
      if (has(i) && !(values_[i] == other.values_[i])) return false;
    }
    return true;
  }

 private:
  static constexpr std::uint32_t bit(std::size_t i) { return std::uint32_t{1} << i; }
  bool has(std::size_t i) const { return (present_ & bit(i)) != 0; }
  static std::size_t index(std::string_view name) {
    for (std::size_t i = 0; i < kSize; ++i) {
      if (kStatusSteps[i] == name) return i;
    }
    return kSize;
  }
  std::uint32_t present_ = 0;
  std::array<T, kSize> values_{};
};

// status.lastRun.families[]: one address family of an ipFamily Both run.
struct FamilyRun {
  std::string family;  // IPv4 | IPv6
  std::string outcome;
  std::string reason;
  std::string remote_address;
  probe::Duration total{};
  bool operator==(const FamilyRun&) const = default;
};

// status.lastRun.delivery: the delivery check's part of the run.
struct DeliveryRun {
  std::optional<probe::Duration> latency;  // accepted by SMTP until in the mailbox
  std::string queue_id;
  std::string found_in;
  std::string smtp_address;
  bool operator==(const DeliveryRun&) const = default;
};

// status.lastRun.content: what the content checks found.
struct ContentRun {
  std::optional<std::uint32_t> message_count;
  std::optional<probe::Duration> newest_age;  // rounded to seconds
  std::string quota_resource;
  std::optional<std::uint64_t> quota_usage;
  std::optional<std::uint64_t> quota_limit;
  bool operator==(const ContentRun&) const = default;
};

// status.lastRun: the run the status shows.
struct LastRun {
  encoding::Timestamp time;  // when the run happened
  // Outcome, reason, failed step and location are words of a small
  // vocabulary, shared through the reconciler's pool (8 bytes, not 32).
  SharedText outcome;  // Success | Degraded | Failure
  SharedText reason;
  std::string message;
  SharedText failed_step;                 // empty when none failed
  StepValues<StepDuration> durations;     // step name (and "total")
  std::optional<std::uint32_t> messages;  // EXISTS of the mailbox
  std::string remote_address;
  std::vector<FamilyRun> families;  // ipFamily Both only
  // Most probes have neither: on the heap, not inline in every probe.
  probe::OptionalBox<DeliveryRun> delivery;
  probe::OptionalBox<ContentRun> content;
  // Multi-location: the location that made the run (the verdict shows the
  // newest of its locations' runs); empty otherwise.
  SharedText location;
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
  // Step name (or "total") -> seconds. A float's 7 digits are more than the
  // written "12.3ms" keeps, and half a double's 168 bytes per probe.
  StepValues<float> seconds;
  int samples = 0;
  bool operator==(const Baseline&) const = default;
};

struct ProbeStatus {
  std::int64_t observed_generation = 0;
  std::vector<Condition> conditions;
  // Boxed: inline it cost every identity-only entry of a sharded replica
  // 430 bytes.
  probe::OptionalBox<LastRun> last_run;
  // Shared between probes that see the same certificate (SharingPool).
  SharedValue<CertificateStatus> certificate;
  int consecutive_failures = 0;
  int consecutive_successes = 0;
  encoding::Timestamp last_success_time;
  encoding::Timestamp last_failure_time;
  encoding::Timestamp next_run_time;
  // The value of the run-request annotation (probe_resource.hpp) the last
  // requested run was started for: "handled", as Flux's lastHandledReconcileAt.
  SharedText last_handled_run_request;  // rare: 8 bytes unset, not 32
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
