// A small, typed-by-path Kubernetes API client on cpprestsdk. Calls are
// synchronous (callers run them off the probe thread) and each has a timeout;
// a watch is read as a stream, line by line, with no idle cut-off.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <stop_token>
#include <string>

#include "kube/config.hpp"

namespace imapprobe::kube {

// Every failed call: HTTP status (0 when no response arrived), the API's
// Status reason ("NotFound", "Conflict", "Expired", "Forbidden"...) and its
// message, plus what was being done.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string reason, std::string api_message, const std::string& what);
  int status() const { return status_; }
  const std::string& reason() const { return reason_; }
  const std::string& api_message() const { return api_message_; }
  bool not_found() const { return status_ == 404; }
  bool conflict() const { return status_ == 409; }
  bool gone() const { return status_ == 410 || reason_ == "Expired" || reason_ == "Gone"; }

 private:
  int status_;
  std::string reason_;
  std::string api_message_;
};

enum class PatchType { Merge, StrategicMerge, Json, Apply };

// Accept headers that ask the API server for objects' metadata only
// (PartialObjectMetadata): a watch of Secrets that never carries their data.
inline constexpr const char* kMetadataListAccept =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
inline constexpr const char* kMetadataWatchAccept =
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

struct RequestCounters;  // metrics hook, see metrics below

class Client {
 public:
  explicit Client(ClusterConfig config,
                  std::chrono::milliseconds request_timeout = std::chrono::seconds(30));
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // `path` is the API path with query, e.g.
  // "/apis/imapprobe.dev/v1alpha1/namespaces/ns/imapprobes?limit=500".
  nlohmann::json get(const std::string& path);
  // The same with another Accept header, e.g. kMetadataListAccept.
  nlohmann::json get(const std::string& path, const std::string& accept);
  nlohmann::json create(const std::string& path, const nlohmann::json& body);
  nlohmann::json replace(const std::string& path, const nlohmann::json& body);
  // Apply: server-side apply, body sent as application/apply-patch+yaml
  // (JSON is YAML) with fieldManager, and force=true unless `force` is
  // false (then a field another manager owns is refused with 409).
  nlohmann::json patch(const std::string& path, const nlohmann::json& body, PatchType type,
                       const std::string& field_manager = {}, bool force = true);
  void remove(const std::string& path);

  // Streams a watch: calls on_event(type, object) for each line
  // ({"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}) until
  // the server ends the stream, `stop` is requested, or on_event returns
  // false. ERROR events are passed through (the caller checks for 410).
  // Throws ApiError when the request itself fails.
  void watch(
      const std::string& path,
      const std::function<bool(const std::string& type, const nlohmann::json& object)>& on_event,
      std::stop_token stop, const std::string& accept = "application/json");

  const ClusterConfig& config() const { return config_; }

  // Requests made so far by verb ("GET", "PATCH", "WATCH"...) and status
  // code, for the operator's own metrics.
  std::map<std::pair<std::string, int>, std::uint64_t> request_counts() const;
  // Seconds spent in completed requests (responses of any status) by verb,
  // as (sum, count); watches are not included.
  std::map<std::string, std::pair<double, std::uint64_t>> request_latency() const;

 private:
  struct Impl;
  ClusterConfig config_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace imapprobe::kube
