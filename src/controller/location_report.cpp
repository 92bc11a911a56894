#include "controller/location_report.hpp"

#include "controller/reasons.hpp"
#include "controller/status_policy.hpp"

namespace imapprobe::controller {

using nlohmann::json;

namespace {

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The entry's message is bounded by the CRD (4 KiB); a server's reply
// quoted in a run message can be longer.
constexpr std::size_t kMaxMessage = 4096;

}  // namespace

std::string location_field_manager(const std::string& location) {
  return "imapprobe-location-" + location;
}

LocationReport LocationReport::from_status(const ProbeStatus& status, const std::string& location) {
  LocationReport r;
  r.name = location;
  r.observed_generation = status.observed_generation;
  r.consecutive_failures = status.consecutive_failures;
  const Condition* available = find_condition(status.conditions, kAvailable);
  r.available = available ? std::string(available->status.text()) : "Unknown";
  if (available && available->status == ConditionStatus("False")) {
    r.failing_since = available->last_transition_time;
  }
  if (status.certificate) r.certificate_days_remaining = status.certificate->days_remaining;
  const Condition* stalled = find_condition(status.conditions, kStalled);
  const Condition* ready = find_condition(status.conditions, kReady);
  if (stalled && stalled->status == ConditionStatus("True")) {
    r.outcome = "Stalled";
    r.reason = stalled->reason.str();
    r.message = stalled->message.str();
    r.time = stalled->last_transition_time;
  } else if (ready && ready->reason == reasons::kSuspended) {
    r.outcome = "Suspended";
    r.reason = reasons::kSuspended;
    r.time = ready->last_transition_time;
  } else if (status.last_run) {
    const LastRun& run = *status.last_run;
    r.outcome = run.outcome;
    r.reason = run.reason;
    r.message = run.message;
    r.failed_step = run.failed_step;
    r.time = run.time;
    r.durations = run.durations;
  } else {
    r.outcome = "Pending";
    r.reason = reasons::kPending;
  }
  if (r.message.size() > kMaxMessage) r.message.resize(kMaxMessage);
  // Stalled and Suspended keep the last run's figures: still what was seen.
  if (status.last_run && r.durations.empty()) r.durations = status.last_run->durations;
  return r;
}

std::optional<LocationReport> LocationReport::from_json(const json& entry) {
  if (!entry.is_object()) return std::nullopt;
  LocationReport r;
  r.name = str(entry, "name");
  if (r.name.empty()) return std::nullopt;
  r.available = str(entry, "available");
  if (r.available.empty()) r.available = "Unknown";
  r.outcome = str(entry, "outcome");
  r.reason = str(entry, "reason");
  r.message = str(entry, "message");
  r.failed_step = str(entry, "failedStep");
  r.time = encoding::Timestamp::parse(str(entry, "time"));
  r.failing_since = encoding::Timestamp::parse(str(entry, "failingSince"));
  if (auto g = entry.find("observedGeneration"); g != entry.end() && g->is_number_integer()) {
    r.observed_generation = g->get<std::int64_t>();
  }
  if (auto c = entry.find("consecutiveFailures"); c != entry.end() && c->is_number_integer()) {
    r.consecutive_failures = c->get<int>();
  }
  if (auto d = entry.find("durations"); d != entry.end() && d->is_object()) {
    for (const auto& [k, v] : d->items()) {
      if (!v.is_string()) continue;
      try {
        r.durations.set_if_step(k, probe::parse_duration(v.get<std::string>()));
      } catch (const std::invalid_argument&) {
        // edited by hand: dropped
      }
    }
  }
  if (auto c = entry.find("certificateDaysRemaining"); c != entry.end() && c->is_number_integer()) {
    r.certificate_days_remaining = c->get<long>();
  }
  return r;
}

json LocationReport::to_json() const {
  json j = {{"name", name},
            {"available", available},
            {"outcome", outcome},
            {"reason", reason},
            {"observedGeneration", observed_generation},
            {"consecutiveFailures", consecutive_failures}};
  if (!message.empty()) j["message"] = message;
  if (!failed_step.empty()) j["failedStep"] = failed_step;
  if (!time.empty()) j["time"] = time.to_string();
  if (!failing_since.empty()) j["failingSince"] = failing_since.to_string();
  if (durations.contains("total")) j["latency"] = format_latency(durations.at("total"));
  if (!durations.empty()) {
    json d = json::object();
    durations.for_each(
        [&](std::string_view k, probe::Duration v) { d[std::string(k)] = format_latency(v); });
    j["durations"] = std::move(d);
  }
  if (certificate_days_remaining) j["certificateDaysRemaining"] = *certificate_days_remaining;
  return j;
}

ProbeStatus LocationReport::to_status() const {
  ProbeStatus s;
  s.observed_generation = observed_generation;
  s.consecutive_failures = consecutive_failures;
  if (outcome == "Success" || outcome == "Degraded" || outcome == "Failure") {
    LastRun run;
    run.time = time;
    run.outcome = outcome;
    run.reason = reason;
    run.message = message;
    run.failed_step = failed_step;
    run.durations = durations;
    s.last_run = std::move(run);
    Condition a;
    a.type = kAvailable;
    a.status = ConditionStatus(available);
    a.reason = available == "False" ? reason : std::string(reasons::kSucceeded);
    a.observed_generation = observed_generation;
    a.last_transition_time = failing_since.empty() ? time : failing_since;
    s.conditions.push_back(std::move(a));
  }
  return s;
}

json location_status_body(const ProbeStatus& status, const std::string& location) {
  return {{"locations", json::array({LocationReport::from_status(status, location).to_json()})}};
}

json no_location_body() { return {{"locations", json::array()}}; }

std::vector<LocationReport> location_reports(const json& status,
                                             std::vector<std::size_t>* positions) {
  std::vector<LocationReport> out;
  if (!status.is_object()) return out;
  auto it = status.find("locations");
  if (it == status.end() || !it->is_array()) return out;
  for (std::size_t i = 0; i < it->size(); ++i) {
    if (auto r = LocationReport::from_json((*it)[i])) {
      out.push_back(std::move(*r));
      if (positions != nullptr) positions->push_back(i);
    }
  }
  return out;
}

std::optional<LocationReport> location_report_of(const json& object, const std::string& location) {
  auto status = object.find("status");
  if (status == object.end()) return std::nullopt;
  for (auto& r : location_reports(*status)) {
    if (r.name == location) return std::move(r);
  }
  return std::nullopt;
}

}  // namespace imapprobe::controller
