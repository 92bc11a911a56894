#include "controller/status_policy.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "controller/reasons.hpp"
#include "encoding/time.hpp"
#include "probe/result_json.hpp"

namespace imapprobe::controller {
namespace {

using nlohmann::json;

std::string available_message(const probe::ProbeResult& r) {
  std::string msg = r.message;
  if (r.failed_step) msg += " (step " + std::string(probe::to_string(*r.failed_step)) + ")";
  return msg;
}

void update_baseline(Baseline& b, const probe::ProbeResult& r, const BaselinePolicy& policy) {
  auto fold = [&](std::string_view name, double x) {
    const bool fresh = !b.seconds.contains(name);
    float& estimate = b.seconds[name];
    if (fresh || estimate <= 0) {
      estimate = static_cast<float>(x);
      return;
    }
    const double clipped = std::min(x, 4.0 * estimate);
    estimate = static_cast<float>(estimate + policy.alpha * (clipped - estimate));
  };
  for (const auto& [step, d] : r.durations) {
    fold(probe::to_string(step), std::chrono::duration<double>(d).count());
  }
  fold("total", std::chrono::duration<double>(r.total).count());
  ++b.samples;
}

// The steps of `r` that are far above their baseline, as a message.
std::string over_baseline(const Baseline& b, const probe::ProbeResult& r,
                          const BaselinePolicy& policy) {
  if (b.samples < policy.min_samples) return {};
  std::string out;
  auto check = [&](std::string_view name, probe::Duration d) {
    if (!b.seconds.contains(name)) return;
    const double estimate = b.seconds.at(name);
    if (estimate <= 0) return;
    const double x = std::chrono::duration<double>(d).count();
    if (x > policy.factor * estimate && x - estimate > policy.min_excess_seconds) {
      if (!out.empty()) out += "; ";
      char buf[64];
      std::snprintf(buf, sizeof buf, " (%.1fx)", x / estimate);
      // Spelled like evaluate()'s threshold messages, which share the condition.
      out += std::string(name) + " took " + probe::format_measured(d) + " against a baseline of " +
             probe::format_measured(std::chrono::duration_cast<probe::Duration>(
                 std::chrono::duration<double>(estimate))) +
             buf;
    }
  };
  for (const auto& [step, d] : r.durations) check(probe::to_string(step), d);
  check("total", r.total);
  return out;
}

Condition cond(const char* type, const char* status, std::string reason, std::string message,
               std::int64_t generation) {
  return Condition{type, status, std::move(reason), std::move(message), generation, {}};
}

std::string status_of(const ProbeStatus& s, const char* type) {
  const Condition* c = find_condition(s.conditions, type);
  return c ? std::string(c->status.text()) : std::string();
}

}  // namespace

std::string rfc3339(std::chrono::system_clock::time_point t) { return encoding::format_rfc3339(t); }

Transition after_run(const ProbeStatus& previous, const ProbeDefinition& def,
                     const probe::ProbeResult& result, std::chrono::system_clock::time_point now,
                     const BaselinePolicy& policy) {
  Transition t{previous, {}};
  ProbeStatus& s = t.status;
  drop_condition(s.conditions, kReconciling);
  const encoding::Timestamp now_text(now);
  const std::int64_t gen = def.generation;
  s.observed_generation = gen;

  probe::ProbeResult r = result;
  const bool passed = r.outcome != probe::Outcome::Failure;
  std::string baseline_note;
  if (passed) {
    baseline_note = over_baseline(s.baseline, r, policy);
    if (!baseline_note.empty() && r.outcome == probe::Outcome::Success) {
      r.outcome = probe::Outcome::Degraded;
    }
    // Only healthy runs teach the baseline what normal looks like.
    if (r.outcome == probe::Outcome::Success) update_baseline(s.baseline, r, policy);
  }

  LastRun last;
  last.time = now_text;
  last.outcome = probe::to_string(r.outcome);
  const bool over = !baseline_note.empty() && result.outcome == probe::Outcome::Success;
  last.reason =
      over ? std::string(reasons::kOverBaseline) : std::string(probe::to_string(r.reason));
  last.message = over ? baseline_note : r.message;
  if (r.failed_step) last.failed_step = probe::to_string(*r.failed_step);
  for (const auto& [step, d] : r.durations) last.durations[probe::to_string(step)] = d;
  last.durations["total"] = r.total;
  last.messages = r.messages;
  last.remote_address = r.remote_address;
  for (const auto& f : r.families) {
    last.families.push_back(FamilyRun{f.family, std::string(probe::to_string(f.outcome)),
                                      std::string(probe::to_string(f.reason)), f.remote_address,
                                      f.total});
  }
  if (r.delivery) {
    last.delivery = DeliveryRun{r.delivery->latency, r.delivery->queue_id, r.delivery->found_in,
                                r.delivery->smtp_address};
  }
  if (r.content) {
    ContentRun content;
    content.message_count = r.content->message_count;
    if (r.content->newest_age) {
      content.newest_age = std::chrono::duration_cast<std::chrono::seconds>(*r.content->newest_age);
    }
    if (r.content->quota) {
      content.quota_resource = r.content->quota->resource;
      content.quota_usage = r.content->quota->usage;
      content.quota_limit = r.content->quota->limit;
    }
    last.content = std::move(content);
  }
  s.last_run = last;

  if (r.certificate) {
    const auto& c = *r.certificate;
    s.certificate = CertificateStatus{c.subject,
                                      c.issuer,
                                      rfc3339(c.not_before),
                                      rfc3339(c.not_after),
                                      static_cast<long>(std::floor(c.days_remaining)),
                                      c.verified,
                                      c.tls_version,
                                      c.cipher,
                                      c.dns_names};
  } else if (def.spec.tls == probe::TlsMode::None) {
    s.certificate.reset();
  }

  const std::string was_available = status_of(previous, kAvailable);
  const std::string was_degraded = status_of(previous, kDegraded);

  if (passed) {
    s.consecutive_failures = 0;
    ++s.consecutive_successes;
    s.last_success_time = now_text;
    set_condition(
        s.conditions,
        cond(kAvailable, "True", reasons::kSucceeded,
             r.outcome == probe::Outcome::Success ? r.message : "passed: " + result.message, gen),
        now_text);
    if (r.outcome == probe::Outcome::Degraded) {
      const std::string reason = last.reason;
      const std::string message = last.message;
      set_condition(s.conditions, cond(kDegraded, "True", reason, message, gen), now_text);
      if (was_degraded != "True") t.events.push_back({"Warning", reason, "Probe", message});
    } else {
      set_condition(
          s.conditions,
          cond(kDegraded, "False", reasons::kAsExpected, "every step within its thresholds", gen),
          now_text);
    }
    if (was_available == "False") {
      t.events.push_back(
          {"Normal", reasons::kRecovered, "Probe", "IMAP service passes again: " + r.message});
    }
  } else {
    ++s.consecutive_failures;
    s.consecutive_successes = 0;
    s.last_failure_time = now_text;
    const std::string reason(probe::to_string(r.reason));
    const std::string message = available_message(r);
    if (s.consecutive_failures >= def.failure_threshold) {
      set_condition(s.conditions, cond(kAvailable, "False", reason, message, gen), now_text);
      if (was_available != "False") t.events.push_back({"Warning", reason, "Probe", message});
    } else {
      const std::string note = message + " (" + std::to_string(s.consecutive_failures) + " of " +
                               std::to_string(def.failure_threshold) +
                               " consecutive failures before Available=False)";
      const Condition* prev = find_condition(previous.conditions, kAvailable);
      if (prev && prev->status != "Unknown") {
        Condition keep = *prev;
        keep.observed_generation = gen;
        set_condition(s.conditions, keep, now_text);
      } else {
        set_condition(s.conditions,
                      cond(kAvailable, "Unknown", reasons::kFailureBelowThreshold, note, gen),
                      now_text);
      }
    }
    set_condition(
        s.conditions,
        cond(kDegraded, "False", reasons::kProbeFailing, "the probe fails; see Available", gen),
        now_text);
  }
  set_condition(s.conditions,
                cond(kReady, "True", reasons::kReporting,
                     "probe ran for generation " + std::to_string(gen) +
                         "; the service state is in Available",
                     gen),
                now_text);
  set_condition(s.conditions,
                cond(kStalled, "False", reasons::kRunning, "spec valid and Secret readable", gen),
                now_text);
  return t;
}

Transition after_stall(const ProbeStatus& previous, std::int64_t generation,
                       const std::string& reason, const std::string& message,
                       std::chrono::system_clock::time_point now) {
  Transition t{previous, {}};
  ProbeStatus& s = t.status;
  drop_condition(s.conditions, kReconciling);
  const encoding::Timestamp now_text(now);
  s.observed_generation = generation;
  const std::string was_stalled = status_of(previous, kStalled);
  const Condition* stalled = find_condition(previous.conditions, kStalled);
  set_condition(s.conditions, cond(kStalled, "True", reason, message, generation), now_text);
  set_condition(s.conditions, cond(kReady, "False", reason, message, generation), now_text);
  if (const Condition* a = find_condition(previous.conditions, kAvailable)) {
    Condition keep = *a;
    set_condition(s.conditions, keep, now_text);
  } else {
    set_condition(s.conditions,
                  cond(kAvailable, "Unknown", reasons::kNotRun, "the probe cannot run: " + message,
                       generation),
                  now_text);
  }
  if (was_stalled != "True" || (stalled && stalled->reason != reason)) {
    t.events.push_back({"Warning", reason, "Reconcile", message});
  }
  return t;
}

Transition after_first_sight(const ProbeStatus& previous, std::int64_t generation,
                             std::chrono::system_clock::time_point now) {
  Transition t{previous, {}};
  ProbeStatus& s = t.status;
  const encoding::Timestamp now_text(now);
  const std::string message =
      "waiting for the first run of generation " + std::to_string(generation);
  s.observed_generation = generation;
  set_condition(s.conditions, cond(kReady, "Unknown", reasons::kPending, message, generation),
                now_text);
  set_condition(s.conditions, cond(kReconciling, "True", reasons::kPending, message, generation),
                now_text);
  set_condition(
      s.conditions,
      cond(kStalled, "False", reasons::kPending, "spec accepted; the run is due", generation),
      now_text);
  return t;
}

Transition after_suspend(const ProbeStatus& previous, std::int64_t generation,
                         std::chrono::system_clock::time_point now) {
  Transition t{previous, {}};
  ProbeStatus& s = t.status;
  drop_condition(s.conditions, kReconciling);
  const encoding::Timestamp now_text(now);
  s.observed_generation = generation;
  s.next_run_time = {};
  set_condition(s.conditions,
                cond(kReady, "True", reasons::kSuspended,
                     "spec.suspend is true; no runs are scheduled", generation),
                now_text);
  set_condition(s.conditions, cond(kStalled, "False", reasons::kSuspended, "suspended", generation),
                now_text);
  if (!find_condition(s.conditions, kAvailable)) {
    set_condition(
        s.conditions,
        cond(kAvailable, "Unknown", reasons::kSuspended, "the probe is suspended", generation),
        now_text);
  }
  return t;
}

}  // namespace imapprobe::controller
