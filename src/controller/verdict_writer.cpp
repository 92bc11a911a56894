#include "controller/verdict_writer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "controller/probe_resource.hpp"
#include "controller/probe_table.hpp"  // key_of

namespace imapprobe::controller {

using nlohmann::json;

namespace {

// What a reader of the aggregate acts on: a lastTransitionTime alone is
// never a reason to write.
bool same_aggregate(const ProbeStatus& a, const ProbeStatus& b) {
  if (a.observed_generation != b.observed_generation) return false;
  if (a.conditions.size() != b.conditions.size()) return false;
  for (const auto& c : a.conditions) {
    const Condition* o = find_condition(b.conditions, c.type.str());
    if (o == nullptr || !(o->status == c.status) || o->reason.str() != c.reason.str() ||
        o->message.str() != c.message.str()) {
      return false;
    }
  }
  return true;
}

// The same conditions (type, status, reason) and generation: only a
// message differs.
bool same_but_messages(const ProbeStatus& a, const ProbeStatus& b) {
  if (a.observed_generation != b.observed_generation) return false;
  if (a.conditions.size() != b.conditions.size()) return false;
  for (const auto& c : a.conditions) {
    const Condition* o = find_condition(b.conditions, c.type.str());
    if (o == nullptr || !(o->status == c.status) || o->reason.str() != c.reason.str()) return false;
  }
  return true;
}

std::optional<long> days_of(const ProbeStatus& s) {
  if (!s.certificate) return std::nullopt;
  return s.certificate->days_remaining;
}

// The run the summary shows, as far as a reader tells it apart.
std::optional<std::pair<encoding::Timestamp, std::string>> run_of(const ProbeStatus& s) {
  if (!s.last_run) return std::nullopt;
  return std::pair{s.last_run->time, s.last_run->location};
}

// What the verdict writer owns of a status: observedGeneration, the
// conditions, lastRun and certificate.
ProbeStatus aggregate_of(const json& object) {
  auto status = object.find("status");
  if (status == object.end() || !status->is_object()) return {};
  ProbeStatus full = ProbeStatus::from_json(*status);
  ProbeStatus s;
  s.observed_generation = full.observed_generation;
  s.conditions = std::move(full.conditions);
  s.last_run = std::move(full.last_run);
  s.certificate = full.certificate;
  return s;
}

}  // namespace

VerdictWriter::VerdictWriter(StatusWriter& writer, Options options)
    : writer_(writer), options_(options) {}

json VerdictWriter::aggregate_body(const ProbeStatus& status) {
  json conditions = json::array();
  for (const auto& c : status.conditions) conditions.push_back(to_json(c));
  json body = {{"observedGeneration", status.observed_generation}, {"conditions", conditions}};
  if (status.last_run) {
    ProbeStatus run_only;
    run_only.last_run = status.last_run;
    body["lastRun"] = run_only.to_json()["lastRun"];
  }
  // Only the days: the locations' entries carry no certificate details.
  if (auto days = days_of(status)) body["certificate"] = {{"daysRemaining", *days}};
  return body;
}

void VerdictWriter::upsert(const json& object) {
  const json& meta = object.contains("metadata") ? object["metadata"] : json::object();
  ProbeRef ref{meta.value("namespace", ""), meta.value("name", ""), meta.value("uid", "")};
  std::lock_guard lock(mu_);
  Probe& p = probes_[ref.key()];
  if (p.ref.uid != ref.uid) p = Probe{};  // new, or re-created under the name
  p.ref = ref;
  try {
    p.spec = verdict_spec_of(object);
  } catch (const InvalidSpec&) {
    p.spec.reset();
  }
  const auto status = object.find("status");
  p.positions.clear();
  p.reports = status != object.end() ? location_reports(*status, &p.positions)
                                     : std::vector<LocationReport>{};
  std::erase_if(p.removals, [&](const auto& r) {
    return std::none_of(p.reports.begin(), p.reports.end(),
                        [&](const LocationReport& e) { return e.name == r.first; });
  });
  p.shown = aggregate_of(object);
  // Our write came back: the server holds it now.
  if (p.written && same_aggregate(*p.written, p.shown) && run_of(*p.written) == run_of(p.shown) &&
      days_of(*p.written) == days_of(p.shown)) {
    p.written.reset();
  }
  evaluate_locked(p, std::chrono::system_clock::now());
}

void VerdictWriter::remove(const std::string& key) {
  std::lock_guard lock(mu_);
  probes_.erase(key);
}

void VerdictWriter::sync_keys(const std::string& ns, const std::vector<std::string>& keys) {
  const std::set<std::string> listed(keys.begin(), keys.end());
  const std::string prefix = ns.empty() ? std::string() : ns + "/";
  std::lock_guard lock(mu_);
  for (auto it = probes_.begin(); it != probes_.end();) {
    if (it->first.starts_with(prefix) && !listed.contains(it->first)) {
      it = probes_.erase(it);
    } else {
      ++it;
    }
  }
}

void VerdictWriter::set_live_locations(std::set<std::string> live) {
  std::lock_guard lock(mu_);
  live_ = std::move(live);
  live_known_ = true;
}

void VerdictWriter::set_active(bool active) {
  std::lock_guard lock(mu_);
  active_ = active;
  // A new term starts from what the server shows.
  for (auto& [key, p] : probes_) p.written.reset();
}

bool VerdictWriter::active() const {
  std::lock_guard lock(mu_);
  return active_;
}

std::size_t VerdictWriter::evaluate(std::chrono::system_clock::time_point now) {
  std::lock_guard lock(mu_);
  std::size_t written = 0;
  for (auto& [key, p] : probes_) written += evaluate_locked(p, now) ? 1 : 0;
  return written;
}

void VerdictWriter::remove_gone_entries_locked(Probe& p,
                                               std::chrono::system_clock::time_point now) {
  const auto steady_now = std::chrono::steady_clock::now();
  const auto gone = gone_entries(*p.spec, p.reports, live_, now, options_.entry_retention);
  for (const auto& name : gone) {
    auto asked = p.removals.find(name);
    if (asked != p.removals.end() && steady_now - asked->second < options_.removal_retry) continue;
    for (std::size_t i = 0; i < p.reports.size(); ++i) {
      if (p.reports[i].name != name) continue;
      p.removals[name] = steady_now;
      writer_.remove_location_entry(p.ref, p.positions[i], name);
    }
  }
}

bool VerdictWriter::evaluate_locked(Probe& p, std::chrono::system_clock::time_point now) {
  // Until the live locations are known, every location would look silent.
  if (!active_ || !live_known_ || !p.spec) return false;
  remove_gone_entries_locked(p, now);
  const ProbeStatus& base = p.written ? *p.written : p.shown;
  Transition t =
      form_verdict(base, *p.spec, p.reports, VerdictContext{live_, now, options_.heartbeat});
  const bool aggregate_changed = !same_aggregate(t.status, base);
  const bool days_changed = days_of(t.status) != days_of(base);
  // The summary's newer run alone is written once the shown one is a
  // heartbeat old, as a single location's lastRun.
  bool run_due = false;
  if (run_of(t.status) != run_of(base)) {
    const auto shown = base.last_run ? base.last_run->time.time() : std::nullopt;
    run_due = !shown || now - *shown >= options_.heartbeat;
  }
  if (!aggregate_changed && !days_changed && !run_due) return false;
  const auto steady_now = std::chrono::steady_clock::now();
  if (!days_changed && !run_due && p.last_write &&
      steady_now - *p.last_write < options_.message_hold && same_but_messages(t.status, base)) {
    return false;  // written by a later evaluate, unless superseded
  }
  p.last_write = steady_now;
  spdlog::debug("verdict: {} changes", p.ref.key());
  writer_.submit(p.ref, aggregate_body(t.status), std::move(t.events));
  p.written = std::move(t.status);
  return true;
}

}  // namespace imapprobe::controller
