#include "controller/verdict.hpp"

#include <algorithm>
#include <map>

#include "controller/probe_resource.hpp"
#include "controller/reasons.hpp"

namespace imapprobe::controller {

using nlohmann::json;

namespace {

// `where` is the object's path for messages ("spec.").
std::chrono::seconds seconds_field(const json& object, const std::string& where, const char* key,
                                   const char* fallback) {
  std::string text = fallback;
  if (auto it = object.find(key); it != object.end() && !it->is_null()) {
    if (!it->is_string()) throw InvalidSpec(where + key + ": must be a string");
    text = it->get<std::string>();
  }
  try {
    return std::chrono::duration_cast<std::chrono::seconds>(probe::parse_duration(text));
  } catch (const std::invalid_argument& e) {
    throw InvalidSpec(where + key + ": " + e.what());
  }
}

bool is_run(const LocationReport& r) {
  return r.outcome == "Success" || r.outcome == "Degraded" || r.outcome == "Failure";
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

Condition condition(const char* type, const char* status, std::string reason, std::string message,
                    std::int64_t generation) {
  Condition c;
  c.type = type;
  c.status = ConditionStatus(status);
  c.reason = std::move(reason);
  c.message = std::move(message);
  c.observed_generation = generation;
  return c;
}

std::string status_of(const ProbeStatus& s, const char* type) {
  const Condition* c = find_condition(s.conditions, type);
  return c ? std::string(c->status.text()) : std::string();
}

std::string reason_of(const ProbeStatus& s, const char* type) {
  const Condition* c = find_condition(s.conditions, type);
  return c ? c->reason.str() : std::string();
}

}  // namespace

VerdictSpec verdict_spec_of(const json& object) {
  VerdictSpec v;
  const json& meta = object.contains("metadata") ? object["metadata"] : json::object();
  v.generation = meta.value("generation", std::int64_t{0});
  const json& spec =
      object.contains("spec") && object["spec"].is_object() ? object["spec"] : json::object();
  v.interval = seconds_field(spec, "spec.", "interval", "60s");
  v.timeout = seconds_field(spec, "spec.", "timeout", "30s");
  v.locations = locations_field(spec);
  if (auto it = spec.find("verdict"); it != spec.end() && it->is_object()) {
    if (auto m = it->find("minFailingLocations"); m != it->end() && !m->is_null()) {
      if (!m->is_number_integer() || m->get<int>() < 1) {
        throw InvalidSpec("spec.verdict.minFailingLocations: must be a whole number of at least 1");
      }
      v.min_failing = m->get<int>();
    }
    if (auto d = it->find("minFailureDuration"); d != it->end() && !d->is_null()) {
      v.min_failure_duration = seconds_field(*it, "spec.verdict.", "minFailureDuration", "0s");
    }
  }
  v.suspend = spec.value("suspend", false);
  return v;
}

std::vector<LocationView> classify_locations(const VerdictSpec& spec,
                                             const std::vector<LocationReport>& reports,
                                             const VerdictContext& context) {
  std::set<std::string> names;
  if (!spec.locations.empty()) {
    names.insert(spec.locations.begin(), spec.locations.end());
  } else {
    names = context.live_locations;
    for (const auto& r : reports) names.insert(r.name);
  }
  const auto window = 2 * spec.interval + spec.timeout + context.heartbeat;
  std::vector<LocationView> out;
  for (const auto& name : names) {
    LocationView v{name, LocationState::Pending, nullptr};
    for (const auto& r : reports) {
      if (r.name == name) v.report = &r;
    }
    if (!context.live_locations.contains(name)) {
      v.state = LocationState::Silent;
    } else if (v.report == nullptr) {
      v.state = LocationState::Pending;
    } else if (const auto t = v.report->time.time(); t && context.now - *t > window) {
      v.state = LocationState::Silent;
    } else if (v.report->outcome == "Stalled") {
      v.state = LocationState::Stalled;
    } else if (v.report->outcome == "Suspended") {
      v.state = LocationState::Suspended;
    } else if (v.report->outcome == "Pending" || v.report->outcome.empty()) {
      v.state = LocationState::Pending;
    } else if (v.report->available == "False") {
      v.state = LocationState::Failing;
    } else {
      v.state = LocationState::Passing;
    }
    out.push_back(v);
  }
  return out;
}

std::vector<std::string> gone_entries(const VerdictSpec& spec,
                                      const std::vector<LocationReport>& reports,
                                      const std::set<std::string>& live_locations,
                                      std::chrono::system_clock::time_point now,
                                      std::chrono::seconds retention) {
  std::vector<std::string> out;
  for (const auto& r : reports) {
    if (live_locations.contains(r.name)) continue;
    const bool unnamed =
        !spec.locations.empty() &&
        std::find(spec.locations.begin(), spec.locations.end(), r.name) == spec.locations.end();
    const auto t = r.time.time();
    const bool expired = retention > std::chrono::seconds(0) && (!t || now - *t > retention);
    if (unnamed || expired) out.push_back(r.name);
  }
  return out;
}

Transition form_verdict(const ProbeStatus& previous, const VerdictSpec& spec,
                        const std::vector<LocationReport>& reports, const VerdictContext& context) {
  const auto views = classify_locations(spec, reports, context);
  const auto generation = spec.generation;
  std::vector<const LocationView*> failing, passing, silent, stalled, suspended;
  for (const auto& v : views) {
    switch (v.state) {
      case LocationState::Failing:
        failing.push_back(&v);
        break;
      case LocationState::Passing:
        passing.push_back(&v);
        break;
      case LocationState::Silent:
        silent.push_back(&v);
        break;
      case LocationState::Stalled:
        stalled.push_back(&v);
        break;
      case LocationState::Suspended:
        suspended.push_back(&v);
        break;
      case LocationState::Pending:
        break;
    }
  }
  const int reporting = static_cast<int>(failing.size() + passing.size());
  const int considered = static_cast<int>(views.size());
  // One location keeps the single-location meaning; several need two
  // witnesses unless the spec says otherwise. With fewer reporting than
  // that, all of those failing is enough: silence must not hide an outage.
  const int wanted = spec.min_failing.value_or(considered <= 1 ? 1 : 2);
  const int required = std::max(1, std::min(wanted, reporting));
  const int nfailing = static_cast<int>(failing.size());

  auto listing = [](const std::vector<const LocationView*>& vs, bool with_reason) {
    std::vector<std::string> parts;
    for (const auto* v : vs) {
      parts.push_back(with_reason && v->report ? v->name + " " + v->report->reason : v->name);
    }
    return join(parts, ", ");
  };
  std::string tail;
  if (!silent.empty()) tail = "; silent: " + listing(silent, false);
  const std::string failing_text = "failing from " + std::to_string(nfailing) + " of " +
                                   std::to_string(reporting) +
                                   " locations: " + listing(failing, true);

  // The most common reason of the failing locations (ties: the first by name).
  std::string failing_reason;
  {
    std::map<std::string, int> count;
    int best = 0;
    for (const auto* v : failing) {
      const int n = ++count[v->report->reason];
      if (n > best) {
        best = n;
        failing_reason = v->report->reason;
      }
    }
  }

  // spec.verdict.minFailureDuration: an outage is declared once enough
  // locations have failed for that long, i.e. since the required-th of them
  // began failing (each location's own Available transition). Once declared
  // it stands while enough fail, whichever they are.
  bool pending = false;
  std::string pending_text;
  if (nfailing >= required && spec.min_failure_duration > std::chrono::seconds(0) &&
      status_of(previous, kAvailable) != "False") {
    std::vector<std::chrono::system_clock::time_point> since;
    for (const auto* v : failing) {
      auto t = v->report->failing_since.time();
      if (!t) t = v->report->time.time();
      since.push_back(std::min(t.value_or(context.now), context.now));
    }
    std::sort(since.begin(), since.end());
    const auto began = since[static_cast<std::size_t>(required - 1)];
    if (context.now - began < spec.min_failure_duration) {
      pending = true;
      // Times, not a count of seconds: the message must not change at every
      // evaluation (each change is a write).
      pending_text = "failing from " + std::to_string(nfailing) + " of " +
                     std::to_string(reporting) + " locations since " +
                     encoding::Timestamp(began).to_string() + ", unavailable from " +
                     encoding::Timestamp(began + spec.min_failure_duration).to_string() +
                     " (spec.verdict.minFailureDuration): " + listing(failing, true);
    }
  }

  Transition t;
  t.status = previous;
  ProbeStatus& s = t.status;
  const auto now = encoding::Timestamp(context.now);

  // For kubectl's columns: the newest run of any reporting location, and
  // the fewest certificate days any of them sees.
  {
    const LocationReport* newest = nullptr;
    std::optional<long> days;
    for (const auto& v : views) {
      if (v.report == nullptr || v.state == LocationState::Silent) continue;
      const LocationReport& r = *v.report;
      if (is_run(r) && !r.time.empty() &&
          (newest == nullptr || r.time.time() > newest->time.time())) {
        newest = &r;
      }
      if (r.certificate_days_remaining) {
        days =
            std::min(days.value_or(*r.certificate_days_remaining), *r.certificate_days_remaining);
      }
    }
    if (newest != nullptr) {
      LastRun run;
      run.time = newest->time;
      run.outcome = newest->outcome;
      run.reason = newest->reason;
      run.message = newest->message;
      run.failed_step = newest->failed_step;
      run.durations = newest->durations;
      run.location = newest->name;
      s.last_run = std::move(run);
    }
    if (days) {
      CertificateStatus c;
      c.days_remaining = *days;
      s.certificate = std::move(c);
    }
  }
  // The newest generation any location has run.
  std::int64_t observed = previous.observed_generation;
  for (const auto& v : views) {
    if (v.report && v.state != LocationState::Silent) {
      observed = std::max(observed, std::min(v.report->observed_generation, generation));
    }
  }
  s.observed_generation = observed;

  // Stalled: the spec or its Secrets, the same for every location.
  if (!stalled.empty()) {
    const LocationReport& r = *stalled.front()->report;
    set_condition(s.conditions,
                  condition(kStalled, "True", r.reason,
                            "at " + listing(stalled, false) + ": " + r.message, generation),
                  now);
  } else {
    set_condition(s.conditions,
                  condition(kStalled, "False", reasons::kRunning, "the probe runs", generation),
                  now);
  }

  // Available
  if (reporting == 0) {
    if (!silent.empty()) {
      set_condition(
          s.conditions,
          condition(kAvailable, "Unknown", reasons::kNoLocationReporting,
                    "no location reporting; silent: " + listing(silent, false), generation),
          now);
    } else if (!find_condition(s.conditions, kAvailable)) {
      set_condition(s.conditions,
                    condition(kAvailable, "Unknown", reasons::kNotRun,
                              "no location has run the probe yet", generation),
                    now);
    }
  } else if (pending) {
    set_condition(
        s.conditions,
        condition(kAvailable, "True", reasons::kOutagePending, pending_text + tail, generation),
        now);
  } else if (nfailing >= required) {
    set_condition(s.conditions,
                  condition(kAvailable, "False", failing_reason, failing_text + tail, generation),
                  now);
  } else {
    std::string message = "passing from " + std::to_string(passing.size()) + " of " +
                          std::to_string(reporting) + " locations";
    if (nfailing > 0) message += "; failing: " + listing(failing, true);
    set_condition(s.conditions,
                  condition(kAvailable, "True", reasons::kSucceeded, message + tail, generation),
                  now);
  }

  // Degraded
  const std::string available = status_of(s, kAvailable);
  const LocationView* slow = nullptr;
  for (const auto* v : passing) {
    if (v->report->outcome == "Degraded") {
      slow = v;
      break;
    }
  }
  if (available == "False") {
    set_condition(s.conditions,
                  condition(kDegraded, "False", reasons::kProbeFailing,
                            "the service's state is in Available", generation),
                  now);
  } else if (pending) {
    set_condition(
        s.conditions,
        condition(kDegraded, "True", reasons::kOutagePending, pending_text + tail, generation),
        now);
  } else if (nfailing > 0) {
    set_condition(
        s.conditions,
        condition(kDegraded, "True", reasons::kPartialOutage, failing_text + tail, generation),
        now);
  } else if (slow != nullptr) {
    set_condition(s.conditions,
                  condition(kDegraded, "True", slow->report->reason,
                            "at " + slow->name + ": " + slow->report->message, generation),
                  now);
  } else {
    set_condition(s.conditions,
                  condition(kDegraded, "False", reasons::kAsExpected,
                            "every reporting location within its thresholds", generation),
                  now);
  }

  // Ready
  if (!stalled.empty()) {
    const LocationReport& r = *stalled.front()->report;
    set_condition(s.conditions, condition(kReady, "False", r.reason, r.message, generation), now);
  } else if (spec.suspend && reporting == 0 && !suspended.empty()) {
    set_condition(
        s.conditions,
        condition(kReady, "True", reasons::kSuspended, "spec.suspend is true", generation), now);
  } else if (reporting > 0) {
    set_condition(s.conditions,
                  condition(kReady, "True", reasons::kReporting,
                            std::to_string(reporting) + " of " + std::to_string(considered) +
                                " locations reporting" + tail,
                            generation),
                  now);
  } else if (!silent.empty()) {
    set_condition(s.conditions,
                  condition(kReady, "Unknown", reasons::kNoLocationReporting,
                            "no location reporting; silent: " + listing(silent, false), generation),
                  now);
  } else {
    set_condition(s.conditions,
                  condition(kReady, "Unknown", reasons::kPending,
                            "waiting for a location's first run", generation),
                  now);
  }

  // Reconciling: no location has run this generation yet.
  if (observed < generation && stalled.empty() && !spec.suspend) {
    set_condition(
        s.conditions,
        condition(kReconciling, "True", reasons::kPending,
                  "waiting for a location to run generation " + std::to_string(generation),
                  generation),
        now);
  } else {
    drop_condition(s.conditions, kReconciling);
  }

  // Events: transitions of the aggregate only, never one per location run.
  const std::string was_available = status_of(previous, kAvailable);
  const std::string was_degraded_reason = reason_of(previous, kDegraded);
  const Condition* a = find_condition(s.conditions, kAvailable);
  const Condition* d = find_condition(s.conditions, kDegraded);
  if (available == "False" && was_available != "False") {
    t.events.push_back({"Warning", a->reason.str(), "Probe", a->message.str()});
  } else if (available == "True" && was_available == "False") {
    t.events.push_back({"Normal", reasons::kRecovered, "Probe", "recovered: " + a->message.str()});
  } else if (d->reason == reasons::kPartialOutage &&
             was_degraded_reason != reasons::kPartialOutage) {
    t.events.push_back({"Warning", reasons::kPartialOutage, "Probe", d->message.str()});
  } else if (available == "True" &&
             (was_degraded_reason == reasons::kPartialOutage ||
              was_degraded_reason == reasons::kOutagePending) &&
             d->reason != reasons::kPartialOutage && d->reason != reasons::kOutagePending) {
    t.events.push_back({"Normal", reasons::kRecovered, "Probe", "recovered: " + a->message.str()});
  }
  const std::string was_stalled = status_of(previous, kStalled);
  if (!stalled.empty() && was_stalled != "True") {
    const Condition* st = find_condition(s.conditions, kStalled);
    t.events.push_back({"Warning", st->reason.str(), "Reconcile", st->message.str()});
  }
  return t;
}

}  // namespace imapprobe::controller
