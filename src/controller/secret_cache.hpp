// The Secrets probes reference, kept in memory so that a run costs no GET.
//
// Freshness comes from a metadata-only watch of Secrets (the API server
// sends names and resourceVersions, never data): an entry is served only
// while the watch has seen exactly the resourceVersion that was read, so a
// rotated password is read again at the next run after the change reaches
// the watch (milliseconds). Until the watch has listed, and for a Secret the
// watch reports changed, reads go to the API server. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace imapprobe::controller {

class SecretCache {
 public:
  using Data = std::map<std::string, std::string>;

  // The cached data of namespace/name, if it is known to be current.
  std::optional<Data> find(const std::string& key) const;
  // A Secret read from the API server at `resource_version`: kept only when
  // the watch has seen that very version (else the next run reads again).
  void store(const std::string& key, const std::string& resource_version, Data data);

  // From the metadata watch.
  void observe(const std::string& key, const std::string& resource_version);
  void forget(const std::string& key);
  // After a (re)list of `prefix` ("ns/" or "" for all): what it did not list
  // is gone; the watch now covers that scope.
  void listed(const std::string& prefix, const std::vector<std::string>& keys);
  std::size_t size() const;

 private:
  bool covered_locked(const std::string& key) const;

  mutable std::mutex mu_;
  std::map<std::string, std::string> seen_;  // key -> resourceVersion the watch reported
  std::set<std::string> synced_prefixes_;
  struct Entry {
    std::string resource_version;
    Data data;
  };
  std::map<std::string, Entry> entries_;
};

}  // namespace imapprobe::controller
