// Kubernetes Events (events.k8s.io/v1) for an object, with repeats folded
// into the existing Event's series instead of a new Event each time.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "kube/client.hpp"

namespace imapprobe::kube {

struct ObjectRef {
  std::string api_version;  // "imapprobe.dev/v1alpha1"
  std::string kind;         // "ImapProbe"
  std::string namespace_;
  std::string name;
  std::string uid;
};

class EventRecorder {
 public:
  EventRecorder(Client& client, std::string reporting_controller, std::string reporting_instance);

  // type: "Normal" or "Warning". The same (object, type, reason, action) seen
  // again within `series_window` updates that Event's series (count and
  // lastObservedTime) rather than creating another one. Failures to write are
  // returned as ApiError to the caller (who logs them); they never throw
  // anything else.
  void emit(const ObjectRef& regarding, const std::string& type, const std::string& reason,
            const std::string& action, const std::string& note);

  std::chrono::minutes series_window{30};

 private:
  struct Known {
    std::string event_name;
    int count = 1;
    std::chrono::system_clock::time_point last;
  };
  Client& client_;
  std::string controller_;
  std::string instance_;
  std::mutex mu_;
  std::map<std::string, Known> known_;
};

}  // namespace imapprobe::kube
