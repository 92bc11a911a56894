// The probes the controller knows, by namespace/name, each with the identity
// (uid) of the object it describes, its parsed definition and its status.
// A new uid under a known name is a new probe: fresh status, fresh schedule,
// no baseline carried over (a delete and re-create seen only at a relist).
// Lives on the probe thread; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "controller/cluster_api.hpp"
#include "controller/credentials.hpp"
#include "controller/probe_resource.hpp"
#include "controller/status_policy.hpp"

namespace imapprobe::controller {

struct ProbeEntry {
  ProbeRef ref;
  std::int64_t generation = -1;
  // Boxed: a probe another replica runs keeps none (identity only), and
  // inline it cost every such entry 700 bytes.
  probe::OptionalBox<ProbeDefinition> def;  // empty while the spec is invalid
  SharedText invalid_reason;                // rare: 8 bytes unset, not 32
  ProbeStatus status;
  // Changes whenever a result in flight would no longer describe this entry
  // (spec change, re-creation, leadership change): such a result is dropped.
  std::uint64_t epoch = 0;
  // The credentials last read: used when the API server is unreachable at
  // run time, so an API outage does not stop the probes. The CA bundle is
  // shared by every probe that uses the same one (10,000 copies of one
  // bundle were 15 MiB).
  struct KnownCredentials {
    probe::Credentials credentials;
    std::shared_ptr<const std::string> ca_pem;  // null: none
  };
  std::optional<KnownCredentials> last_credentials;
  // What the API server holds (write_policy.hpp): the significance digest
  // and time of the status last submitted, and whether a newer one was kept
  // in memory only (written at the heartbeat, or at shutdown).
  std::optional<std::uint64_t> written_digest;
  std::optional<std::chrono::system_clock::time_point> written_at;
  bool unwritten = false;
  // This replica runs the probe (always, unless sharded: shard_assignment.hpp).
  bool owned = false;
  // The definition and status are held. A probe another replica runs is
  // kept as its identity only (at 10,000 probes over 3 replicas, two thirds
  // of the table), and read from the API server when taken over.
  bool held = true;
  // The run-request annotation's current value (probe_resource.hpp).
  SharedText run_request;
};

class ProbeTable {
 public:
  enum class Change {
    Added,         // first seen
    Recreated,     // same name, new uid
    SpecChanged,   // same object, new generation
    RunRequested,  // same generation, a new value of the run-request annotation
    Unchanged,     // status or metadata only (our own writes come back this way)
  };
  struct Upserted {
    ProbeEntry& entry;
    Change change;
  };

  // Multi-location: a location's status is its entry of status.locations
  // (location_report.hpp), so that is what it carries on from.
  explicit ProbeTable(std::string status_location = {})
      : status_location_(std::move(status_location)) {}

  // Parses the object when it is new or its generation changed; with
  // `hold` false, a new or changed entry keeps its identity only (held
  // false), and a known light one stays light.
  Upserted upsert(const nlohmann::json& object, bool hold = true);
  ProbeEntry* find(const std::string& key);
  void erase(const std::string& key);
  std::vector<std::string> keys_with_prefix(const std::string& prefix) const;
  std::size_t size() const { return entries_.size(); }
  // Every entry gets a new epoch: results in flight are dropped.
  void bump_all_epochs();
  void bump_epoch(ProbeEntry& e) { e.epoch = ++next_epoch_; }
  // The status the object carries, counted as written (a status another
  // replica wrote, for a probe this one is about to take over).
  void adopt_status(ProbeEntry& e, const nlohmann::json& object) const;
  // Drops what only the replica running a probe needs (sharding): the
  // definition, status, credentials and write bookkeeping.
  static void lighten(ProbeEntry& e);
  // The object as read from the API server, into an entry of the same uid:
  // generation, definition and status (counted as written), held again.
  void reload(ProbeEntry& e, const nlohmann::json& object);

  template <typename F>
  void for_each(F f) {
    for (auto& [key, e] : entries_) f(e);
  }

 private:
  // By value: a map's nodes never move, and a separate block per entry cost
  // a pointer and a heap block's overhead per probe.
  std::map<std::string, ProbeEntry> entries_;
  std::uint64_t next_epoch_ = 0;
  std::string status_location_;
};

std::string key_of(const nlohmann::json& object);

}  // namespace imapprobe::controller
