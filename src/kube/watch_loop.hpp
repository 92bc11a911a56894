// List, then watch, a collection for as long as the process runs:
// resourceVersion kept opaque, bookmarks requested, a relist on 410 Gone,
// and reconnects with exponential backoff and jitter.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <vector>

#include "kube/client.hpp"

namespace imapprobe::kube {

class WatchLoop {
 public:
  struct Handlers {
    // After every (re)list: the complete current set. The caller drops what
    // it knew and is not in `items` (deletions missed while disconnected).
    std::function<void(const std::vector<nlohmann::json>& items)> on_sync;
    std::function<void(const nlohmann::json& object)> on_upsert;
    std::function<void(const nlohmann::json& object)> on_delete;
    // Streaming alternative to on_sync, for large collections: each page of a
    // (re)list as it arrives, then the keys ("namespace/name") of the
    // complete set. The whole list is never held at once. When on_page is
    // set, on_sync is not called.
    std::function<void(std::vector<nlohmann::json> page)> on_page;
    std::function<void(const std::vector<std::string>& keys)> on_listed;
  };
  struct Options {
    std::chrono::milliseconds initial_backoff{500};
    std::chrono::milliseconds max_backoff{30'000};
    int watch_timeout_seconds = 300;  // server-side timeoutSeconds; then re-watch from the last RV
    int page_size = 500;
    // Objects' metadata only (PartialObjectMetadata): for a watch that needs
    // to know *that* an object changed, never its content (Secrets).
    bool metadata_only = false;
  };

  // `collection` is a list path without query, e.g.
  // "/apis/imapprobe.dev/v1alpha1/imapprobes" or ".../namespaces/ns/imapprobes".
  WatchLoop(Client& client, std::string collection, Handlers handlers, Options options);
  WatchLoop(Client& client, std::string collection, Handlers handlers)
      : WatchLoop(client, std::move(collection), std::move(handlers), Options{}) {}

  // Blocks until `stop` is requested. Errors are logged and retried, never thrown.
  void run(std::stop_token stop);

  std::uint64_t relists() const { return relists_; }
  std::uint64_t watch_restarts() const { return watch_restarts_; }
  bool synced() const { return synced_; }  // a list has completed at least once

 private:
  Client& client_;
  std::string collection_;
  Handlers handlers_;
  Options options_;
  std::atomic<std::uint64_t> relists_{0};
  std::atomic<std::uint64_t> watch_restarts_{0};
  std::atomic<bool> synced_{false};
};

}  // namespace imapprobe::kube
