#include "kube/events.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "encoding/time.hpp"
#include "kube/detail.hpp"
#include "telemetry/logging.hpp"

namespace imapprobe::kube {
namespace {

// events.k8s.io/v1 validation limits.
constexpr std::size_t kNoteLimit = 1024;
constexpr std::size_t kNameLimit = 253;
// Bounds memory if many distinct (object, reason) pairs occur within a window.
constexpr std::size_t kMaxKnown = 4096;

std::string events_path(const std::string& ns) {
  return "/apis/events.k8s.io/v1/namespaces/" + ns + "/events";
}

// client-go's scheme: "<object>.<unix nanoseconds in hex>", unique enough
// per object and readable in `kubectl get events`.
std::string event_name(const std::string& object_name, std::chrono::system_clock::time_point now) {
  const auto nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, ".%llx", static_cast<unsigned long long>(nanos));
  std::string base = object_name.empty() ? "imapprobe" : object_name;
  const std::size_t room = kNameLimit - std::char_traits<char>::length(suffix);
  if (base.size() > room) base.resize(room);
  return base + suffix;
}

}  // namespace

EventRecorder::EventRecorder(Client& client, std::string reporting_controller,
                             std::string reporting_instance)
    : client_(client),
      controller_(std::move(reporting_controller)),
      instance_(std::move(reporting_instance)) {}

void EventRecorder::emit(const ObjectRef& regarding, const std::string& type,
                         const std::string& reason, const std::string& action,
                         const std::string& note) {
  const auto now = std::chrono::system_clock::now();
  const std::string now_text = encoding::format_micro_time(now);
  // Events of cluster-scoped objects live in "default", as with client-go.
  const std::string ns = regarding.namespace_.empty() ? "default" : regarding.namespace_;
  const std::string key = regarding.uid + '\x1f' + regarding.api_version + '\x1f' + regarding.kind +
                          '\x1f' + ns + '\x1f' + regarding.name + '\x1f' + type + '\x1f' + reason +
                          '\x1f' + action;

  // Held across the API calls: two emits of the same key must not both
  // create an Event.
  std::lock_guard lock(mu_);
  for (auto it = known_.begin(); it != known_.end();) {
    it = now - it->second.last > series_window ? known_.erase(it) : std::next(it);
  }

  try {
    if (auto it = known_.find(key); it != known_.end()) {
      Known& k = it->second;
      const nlohmann::json patch = {
          {"series", {{"count", k.count + 1}, {"lastObservedTime", now_text}}}};
      try {
        client_.patch(events_path(ns) + "/" + k.event_name, patch, PatchType::Merge);
        ++k.count;
        k.last = now;
        telemetry::debug(
            {.namespace_ = regarding.namespace_, .name = regarding.name, .reason = reason},
            "{} event {}/{} repeated ({} times)", type, ns, k.event_name, k.count);
        return;
      } catch (const ApiError& e) {
        if (!e.not_found()) throw;
        // Expired by the server's event TTL: start a new Event.
        known_.erase(it);
      }
    }

    if (known_.size() >= kMaxKnown) {
      auto oldest = known_.begin();
      for (auto it = known_.begin(); it != known_.end(); ++it) {
        if (it->second.last < oldest->second.last) oldest = it;
      }
      known_.erase(oldest);
    }

    nlohmann::json ref = {{"kind", regarding.kind}, {"name", regarding.name}};
    if (!regarding.api_version.empty()) ref["apiVersion"] = regarding.api_version;
    if (!regarding.namespace_.empty()) ref["namespace"] = regarding.namespace_;
    if (!regarding.uid.empty()) ref["uid"] = regarding.uid;
    const std::string name = event_name(regarding.name, now);
    const nlohmann::json event = {
        {"apiVersion", "events.k8s.io/v1"},
        {"kind", "Event"},
        {"metadata", {{"name", name}, {"namespace", ns}}},
        {"regarding", ref},
        {"type", type},
        {"reason", reason},
        {"action", action},
        {"note", detail::truncate_utf8(note, kNoteLimit)},
        {"reportingController", controller_},
        {"reportingInstance", instance_},
        {"eventTime", now_text},
    };
    client_.create(events_path(ns), event);
    known_[key] = Known{name, 1, now};
    telemetry::debug({.namespace_ = regarding.namespace_, .name = regarding.name, .reason = reason},
                     "{} event {}/{} created", type, ns, name);
  } catch (const ApiError&) {
    throw;
  } catch (const std::exception& e) {
    // The contract: the caller only ever sees ApiError.
    throw ApiError(0, "", e.what(), std::string("emitting event: ") + e.what());
  }
}

}  // namespace imapprobe::kube
