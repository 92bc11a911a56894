// The controller's seam to the cluster: the few calls it makes, so the
// reconciler is unit-tested with a fake and run against the real API server
// through KubeClusterApi.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "controller/status_policy.hpp"

namespace imapprobe::controller {

struct ProbeRef {
  std::string namespace_;
  std::string name;
  std::string uid;
  std::string key() const { return namespace_ + "/" + name; }
};

// Raised by implementations; the message is safe to show (no secret data).
class ClusterApiError : public std::runtime_error {
 public:
  ClusterApiError(int status, const std::string& what)
      : std::runtime_error(what), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// A Secret's data that is not valid base64. The message names the Secret
// and key only, never the data.
class InvalidSecretData : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ClusterApi {
 public:
  virtual ~ClusterApi() = default;
  // Decoded Secret data; nullopt when the Secret does not exist. Throws
  // ClusterApiError (status 0 when there was no response) or InvalidSecretData.
  virtual std::optional<std::map<std::string, std::string>> get_secret(const std::string& ns,
                                                                       const std::string& name) = 0;
  // The Secret's data when it is in memory and known to be current (the
  // Secret cache), nullopt when only a request can tell. Never waits on the
  // network, so the probe thread may call it.
  virtual std::optional<std::map<std::string, std::string>> cached_secret(
      const std::string& /*ns*/, const std::string& /*name*/) {
    return std::nullopt;
  }
  // Writes status through the status subresource (server-side apply, one
  // field manager). Throws ClusterApiError (404 when the probe is gone).
  virtual void apply_status(const ProbeRef& probe, const nlohmann::json& status) = 0;
  virtual void emit_event(const ProbeRef& probe, const Event& event) = 0;
  // Multi-location: removes `location`'s entry of status.locations, found
  // at `index` when last seen; refused (ClusterApiError 422) when the list
  // changed meanwhile or the probe is another uid. The verdict writer's
  // clean-up of entries of locations gone for good.
  virtual void remove_location_entry(const ProbeRef& probe, std::size_t index,
                                     const std::string& location) = 0;
  // The ImapProbe object as the API server holds it now; nullopt when it
  // does not exist. Throws ClusterApiError. Read when a sharded replica
  // takes a probe over (it holds no copy of probes other replicas run).
  virtual std::optional<nlohmann::json> get_probe(const std::string& ns,
                                                  const std::string& name) = 0;
};

}  // namespace imapprobe::controller
