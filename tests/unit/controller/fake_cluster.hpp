// An in-memory ClusterApi for the controller's unit tests: Secrets to read,
// and a record of every status write and Event in the order they happened.
// Hooks inject failures (throw), delays (block) or API outages.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "controller/cluster_api.hpp"

namespace imapprobe::controller::testing {

class FakeCluster : public ClusterApi {
 public:
  std::optional<std::map<std::string, std::string>> get_secret(const std::string& ns,
                                                               const std::string& name) override {
    std::function<void()> hook;
    {
      std::lock_guard lock(mu);
      ++secret_reads;
      hook = on_get_secret;
    }
    if (hook) hook();  // may throw
    std::lock_guard lock(mu);
    auto it = secrets.find(ns + "/" + name);
    if (it == secrets.end()) return std::nullopt;
    return it->second;
  }
  // Served from `cached` (the Secret cache's part), counted apart.
  std::optional<std::map<std::string, std::string>> cached_secret(
      const std::string& ns, const std::string& name) override {
    std::lock_guard lock(mu);
    ++cached_secret_reads;
    auto it = cached.find(ns + "/" + name);
    if (it == cached.end()) return std::nullopt;
    return it->second;
  }
  std::optional<nlohmann::json> get_probe(const std::string& ns, const std::string& name) override {
    std::lock_guard lock(mu);
    ++probe_reads;
    auto it = probes.find(ns + "/" + name);
    if (it == probes.end()) return std::nullopt;
    return it->second;
  }
  void apply_status(const ProbeRef& p, const nlohmann::json& status) override {
    std::function<void(const ProbeRef&, const nlohmann::json&)> hook;
    {
      std::lock_guard lock(mu);
      ++writes_in_flight[p.key()];
      max_writes_in_flight = std::max(max_writes_in_flight, writes_in_flight[p.key()]);
      hook = on_apply;
      cv.notify_all();
    }
    struct Done {
      FakeCluster& c;
      const std::string key;
      ~Done() {
        std::lock_guard lock(c.mu);
        --c.writes_in_flight[key];
      }
    } done{*this, p.key()};
    if (hook) hook(p, status);  // may block or throw
    std::lock_guard lock(mu);
    statuses[p.key()].push_back(status);
    write_uids[p.key()].push_back(p.uid);
    log.push_back("status " + p.key());
    cv.notify_all();
  }
  void remove_location_entry(const ProbeRef& p, std::size_t index,
                             const std::string& location) override {
    std::lock_guard lock(mu);
    removals[p.key()].push_back(location + "@" + std::to_string(index));
    log.push_back("remove " + p.key() + " " + location);
    cv.notify_all();
  }
  void emit_event(const ProbeRef& p, const Event& e) override {
    std::lock_guard lock(mu);
    events[p.key()].push_back(e);
    log.push_back("event " + p.key() + " " + e.reason);
    cv.notify_all();
  }

  // Waits until `pred` holds (bounded); `pred` runs under the lock.
  template <typename P>
  bool wait(P pred, std::chrono::milliseconds max = std::chrono::seconds(5)) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, max, [&] { return pred(); });
  }
  // Polls `pred` (not under the lock) until it holds (bounded): for state
  // that does not notify, such as metrics.
  template <typename P>
  static bool eventually(P pred, std::chrono::milliseconds max = std::chrono::seconds(5)) {
    const auto end = std::chrono::steady_clock::now() + max;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > end) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }
  std::size_t writes(const std::string& key) {
    auto it = statuses.find(key);
    return it == statuses.end() ? 0 : it->second.size();
  }
  // Statuses written other than the Pending one a new generation gets
  // before its first run (Ready=Unknown, reason Pending).
  std::size_t settled_writes(const std::string& key) {
    std::size_t n = 0;
    for (const auto& s : statuses[key]) n += !is_pending(s);
    return n;
  }
  static bool is_pending(const nlohmann::json& status) {
    for (const auto& c : status.value("conditions", nlohmann::json::array())) {
      if (c.value("type", "") == "Ready") return c.value("reason", "") == "Pending";
    }
    return false;
  }
  void notify() {
    std::lock_guard lock(mu);
    cv.notify_all();
  }

  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::map<std::string, std::string>> secrets;
  // What cached_secret answers (nothing by default: every read is a GET).
  std::map<std::string, std::map<std::string, std::string>> cached;
  int cached_secret_reads = 0;
  std::map<std::string, std::vector<nlohmann::json>> statuses;
  // ImapProbe objects get_probe returns, by namespace/name.
  std::map<std::string, nlohmann::json> probes;
  int probe_reads = 0;
  std::map<std::string, std::vector<std::string>> write_uids;
  std::map<std::string, std::vector<Event>> events;
  std::map<std::string, std::vector<std::string>> removals;  // "location@index"
  std::vector<std::string> log;
  std::map<std::string, int> writes_in_flight;
  int max_writes_in_flight = 0;
  int secret_reads = 0;
  std::function<void()> on_get_secret;
  std::function<void(const ProbeRef&, const nlohmann::json&)> on_apply;
};

}  // namespace imapprobe::controller::testing
