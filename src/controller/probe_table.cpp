#include "controller/probe_table.hpp"

#include "controller/location_report.hpp"
#include "controller/write_policy.hpp"
#include "encoding/time.hpp"

namespace imapprobe::controller {

using nlohmann::json;

void ProbeTable::adopt_status(ProbeEntry& e, const json& object) const {
  if (!status_location_.empty()) {
    const auto entry = location_report_of(object, status_location_);
    if (!entry) return;
    e.status = entry->to_status();
  } else {
    const auto status = object.find("status");
    if (status == object.end() || !status->is_object()) return;
    e.status = ProbeStatus::from_json(*status);
  }
  // What the API server already shows counts as written: an unchanged
  // first run after a restart waits for the heartbeat like any other.
  e.written_digest = significance(e.status);
  e.written_at.reset();
  if (e.status.last_run) e.written_at = e.status.last_run->time.time();
  e.unwritten = false;
}

namespace {

// Only the parsed definition is kept: thousands of probes must not hold
// thousands of JSON documents. An invalid spec leaves no definition and
// says why.
void parse_definition(ProbeEntry& e, const json& object) {
  try {
    e.def = parse_probe(object);
    e.invalid_reason = SharedText();
  } catch (const std::exception& ex) {
    e.def.reset();
    e.invalid_reason = ex.what();
  }
}

}  // namespace

std::string key_of(const json& object) {
  const json& m = object.contains("metadata") ? object["metadata"] : json::object();
  return m.value("namespace", "") + "/" + m.value("name", "");
}

ProbeTable::Upserted ProbeTable::upsert(const json& object, bool hold) {
  const json& meta = object["metadata"];
  ProbeRef ref{meta.value("namespace", ""), meta.value("name", ""), meta.value("uid", "")};
  const std::int64_t generation = meta.value("generation", std::int64_t{0});
  auto [it, fresh] = entries_.try_emplace(ref.key());
  Change change = Change::Unchanged;
  if (fresh) {
    change = Change::Added;
  } else if (it->second.ref.uid != ref.uid) {
    change = Change::Recreated;
  } else if (it->second.generation != generation) {
    change = Change::SpecChanged;
  }
  if (change == Change::Added || change == Change::Recreated) {
    if (change == Change::Recreated) it->second = ProbeEntry{};
    // Status survives restarts: the baseline and counters come back from the
    // object's own status (which, for a re-created object, is its own).
    ProbeEntry& fresh_entry = it->second;
    if (hold) {
      adopt_status(fresh_entry, object);
    } else {
      fresh_entry.held = false;
    }
  }
  ProbeEntry& e = it->second;
  // Otherwise the same key and uid: not assigned again, since every watch
  // event (each status write comes back as one) would give the entry a
  // freshly allocated uid among the event's freed memory (fragmentation).
  if (change == Change::Added || change == Change::Recreated) e.ref = std::move(ref);
  std::string run_request = run_request_of(object);
  if (change == Change::Unchanged && run_request != e.run_request) change = Change::RunRequested;
  e.run_request = std::move(run_request);
  if (change == Change::Unchanged || change == Change::RunRequested) return {e, change};

  e.generation = generation;
  e.epoch = ++next_epoch_;
  if (!e.held) return {e, change};  // read again when taken up
  parse_definition(e, object);
  return {e, change};
}

void ProbeTable::lighten(ProbeEntry& e) {
  e.held = false;
  e.def.reset();
  e.invalid_reason = std::string();
  e.status = ProbeStatus{};
  e.last_credentials.reset();
  e.written_digest.reset();
  e.written_at.reset();
  e.unwritten = false;
  e.run_request = std::string();
}

void ProbeTable::reload(ProbeEntry& e, const json& object) {
  e.held = true;
  e.generation = object["metadata"].value("generation", std::int64_t{0});
  e.epoch = ++next_epoch_;
  e.run_request = run_request_of(object);
  e.status = ProbeStatus{};
  e.written_digest.reset();
  e.written_at.reset();
  adopt_status(e, object);
  parse_definition(e, object);
}

ProbeEntry* ProbeTable::find(const std::string& key) {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

void ProbeTable::erase(const std::string& key) { entries_.erase(key); }

std::vector<std::string> ProbeTable::keys_with_prefix(const std::string& prefix) const {
  std::vector<std::string> out;
  for (const auto& [key, e] : entries_) {
    if (key.starts_with(prefix)) out.push_back(key);
  }
  return out;
}

void ProbeTable::bump_all_epochs() {
  for (auto& [key, e] : entries_) e.epoch = ++next_epoch_;
}

}  // namespace imapprobe::controller
