#include "kube/watch_loop.hpp"

#include <spdlog/spdlog.h>

#include <random>

#include "kube/detail.hpp"
#include "telemetry/logging.hpp"

namespace imapprobe::kube {
namespace {

// The object a watch event is about, for the log fields.
struct ObjectKey {
  std::string namespace_;
  std::string name;
  telemetry::LogFields fields() const { return {.namespace_ = namespace_, .name = name}; }
};

ObjectKey object_key(const nlohmann::json& object) {
  const auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return {};
  return {meta->value("namespace", std::string{}), meta->value("name", std::string{})};
}

std::string resource_version(const nlohmann::json& object) {
  const auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return {};
  const auto rv = meta->find("resourceVersion");
  // Opaque: copied as the string the server gave, never interpreted.
  return rv != meta->end() && rv->is_string() ? rv->get<std::string>() : std::string{};
}

bool is_gone_status(const nlohmann::json& status) {
  const auto code = status.find("code");
  if (code != status.end() && code->is_number_integer() && code->get<int>() == 410) return true;
  const std::string reason = status.value("reason", std::string{});
  return reason == "Expired" || reason == "Gone";
}

// Handler exceptions are the caller's bugs: logged, and the stream goes on,
// since a throw from here would otherwise be taken for a broken watch.
// `about`: the object handled, when there is one.
template <typename F>
void call_handler(const std::string& collection, const char* what,
                  const telemetry::LogFields& about, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    telemetry::error(about, "watch {}: {} handler failed: {}", collection, what, e.what());
  }
}

struct ListResult {
  std::vector<nlohmann::json> items;  // empty when pages are streamed
  std::vector<std::string> keys;      // namespace/name of every item
  std::size_t count = 0;
  std::string resource_version;
};

std::string key_of(const nlohmann::json& item) {
  const auto meta = item.find("metadata");
  if (meta == item.end() || !meta->is_object()) return "/";
  return meta->value("namespace", std::string{}) + "/" + meta->value("name", std::string{});
}

}  // namespace

WatchLoop::WatchLoop(Client& client, std::string collection, Handlers handlers, Options options)
    : client_(client),
      collection_(std::move(collection)),
      handlers_(std::move(handlers)),
      options_(options) {}

void WatchLoop::run(std::stop_token stop) {
  std::mt19937_64 rng{std::random_device{}()};
  std::string rv;  // empty: the next step is a (re)list
  int failures = 0;

  // Collects every page of one consistent list; a continue token that
  // expired (410) means the snapshot is gone and the list starts over.
  auto list_all = [&]() -> ListResult {
    for (;;) {
      ListResult result;
      std::string cont;
      bool restart = false;
      do {
        std::string query = "limit=" + std::to_string(options_.page_size);
        if (!cont.empty()) query += "&continue=" + detail::url_encode(cont);
        nlohmann::json page;
        try {
          const std::string list_path = detail::append_query(collection_, query);
          page = options_.metadata_only ? client_.get(list_path, kMetadataListAccept)
                                        : client_.get(list_path);
        } catch (const ApiError& e) {
          if (!cont.empty() && e.gone()) {
            spdlog::info("watch {}: list continue token expired; listing again", collection_);
            restart = true;
            break;
          }
          throw;
        }
        if (auto items = page.find("items"); items != page.end() && items->is_array()) {
          result.count += items->size();
          if (handlers_.on_page) {
            std::vector<nlohmann::json> batch;
            batch.reserve(items->size());
            for (auto& item : *items) {
              result.keys.push_back(key_of(item));
              batch.push_back(std::move(item));
            }
            call_handler(collection_, "page", {}, [&] { handlers_.on_page(std::move(batch)); });
          } else {
            for (auto& item : *items) result.items.push_back(std::move(item));
          }
        }
        const auto meta = page.find("metadata");
        cont.clear();
        if (meta != page.end() && meta->is_object()) {
          result.resource_version = meta->value("resourceVersion", std::string{});
          cont = meta->value("continue", std::string{});
        }
      } while (!cont.empty() && !stop.stop_requested());
      if (!restart) return result;
      if (stop.stop_requested()) return result;
    }
  };

  while (!stop.stop_requested()) {
    try {
      if (rv.empty()) {
        ListResult listed = list_all();
        if (stop.stop_requested()) break;
        if (listed.resource_version.empty()) {
          throw ApiError(200, "", "list returned no resourceVersion",
                         "LIST " + collection_ + ": no resourceVersion in the list");
        }
        rv = listed.resource_version;
        spdlog::info("watch {}: listed {} objects at resourceVersion {}", collection_, listed.count,
                     rv);
        if (handlers_.on_page) {
          if (handlers_.on_listed)
            call_handler(collection_, "listed", {}, [&] { handlers_.on_listed(listed.keys); });
        } else if (handlers_.on_sync) {
          call_handler(collection_, "sync", {}, [&] { handlers_.on_sync(listed.items); });
        }
        synced_ = true;
        failures = 0;
      }

      const std::string path = detail::append_query(
          collection_,
          "watch=1&allowWatchBookmarks=true&resourceVersion=" + detail::url_encode(rv) +
              "&timeoutSeconds=" + std::to_string(options_.watch_timeout_seconds));
      bool gone = false;
      std::string error_text;
      std::size_t events = 0;
      const auto opened = std::chrono::steady_clock::now();
      client_.watch(
          path,
          [&](const std::string& type, const nlohmann::json& object) {
            ++events;
            if (type == "ERROR") {
              gone = is_gone_status(object);
              error_text = object.value("message", std::string{"(no message)"});
              return false;
            }
            const std::string new_rv = resource_version(object);
            if (!new_rv.empty()) rv = new_rv;
            if (type == "BOOKMARK") {
              spdlog::debug("watch {}: BOOKMARK resourceVersion {}", collection_, rv);
              return !stop.stop_requested();
            }
            const ObjectKey key = object_key(object);
            telemetry::debug(key.fields(), "watch {}: {} resourceVersion {}", collection_, type,
                             new_rv);
            if (type == "ADDED" || type == "MODIFIED") {
              if (handlers_.on_upsert)
                call_handler(collection_, "upsert", key.fields(),
                             [&] { handlers_.on_upsert(object); });
            } else if (type == "DELETED") {
              if (handlers_.on_delete)
                call_handler(collection_, "delete", key.fields(),
                             [&] { handlers_.on_delete(object); });
            } else {
              spdlog::warn("watch {}: ignoring event of unknown type {}", collection_, type);
            }
            return !stop.stop_requested();
          },
          stop, options_.metadata_only ? kMetadataWatchAccept : "application/json");
      if (stop.stop_requested()) break;
      if (gone) {
        ++relists_;
        spdlog::info("watch {}: resourceVersion {} expired ({}); relisting", collection_, rv,
                     error_text);
        rv.clear();
        continue;
      }
      if (!error_text.empty()) {
        throw ApiError(0, "", error_text, "WATCH " + collection_ + ": ERROR event: " + error_text);
      }
      // A stream that the server closes at once, with nothing on it, is a
      // failure in disguise (e.g. a server shutting down): back off.
      if (events == 0 && std::chrono::steady_clock::now() - opened < std::chrono::seconds(1)) {
        throw ApiError(200, "", "watch ended immediately",
                       "WATCH " + collection_ + ": ended immediately without events");
      }
      failures = 0;
      spdlog::debug("watch {}: stream ended; watching again from resourceVersion {}", collection_,
                    rv);
    } catch (const std::exception& e) {
      if (stop.stop_requested()) break;
      const auto* api = dynamic_cast<const ApiError*>(&e);
      if (api != nullptr && api->gone()) {
        ++relists_;
        spdlog::info("watch {}: {}; relisting", collection_, e.what());
        rv.clear();
        continue;
      }
      ++failures;
      ++watch_restarts_;
      const auto delay =
          detail::backoff_delay(failures, options_.initial_backoff, options_.max_backoff, rng);
      // e.what() already names the failed request (and so the collection).
      spdlog::warn("watch: {}; retrying in {} ms {}", e.what(), delay.count(),
                   rv.empty() ? "with a fresh list" : "from resourceVersion " + rv);
      if (!detail::sleep_for(stop, delay)) break;
    }
  }
  spdlog::debug("watch {}: stopped", collection_);
}

}  // namespace imapprobe::kube
