// ClusterApi over the real Kubernetes API: Secrets by GET, status by
// server-side apply on the status subresource, Events through the recorder.
#pragma once

#include <string>

#include "controller/cluster_api.hpp"
#include "controller/secret_cache.hpp"
#include "kube/client.hpp"
#include "kube/events.hpp"
#include "kube/watch_loop.hpp"

namespace imapprobe::controller {

inline constexpr const char* kGroup = "imapprobe.dev";
inline constexpr const char* kVersion = "v1alpha1";
inline constexpr const char* kApiVersion = "imapprobe.dev/v1alpha1";
inline constexpr const char* kKind = "ImapProbe";
inline constexpr const char* kPlural = "imapprobes";
inline constexpr const char* kFieldManager = "imapprobe-operator";

// Who writes status: the operator's one field manager, forced (it owns the
// whole status); a location applies its entry unforced under a manager of
// its own, so the API server refuses it any field another location owns.
struct StatusApplier {
  std::string field_manager = kFieldManager;
  bool force = true;
};

class KubeClusterApi : public ClusterApi {
 public:
  // With a cache, a Secret the cache knows to be current costs no request.
  KubeClusterApi(kube::Client& client, kube::EventRecorder& events, SecretCache* secrets = nullptr,
                 StatusApplier applier = {});
  std::optional<std::map<std::string, std::string>> cached_secret(const std::string& ns,
                                                                  const std::string& name) override;
  std::optional<std::map<std::string, std::string>> get_secret(const std::string& ns,
                                                               const std::string& name) override;
  void apply_status(const ProbeRef& probe, const nlohmann::json& status) override;
  void emit_event(const ProbeRef& probe, const Event& event) override;
  void remove_location_entry(const ProbeRef& probe, std::size_t index,
                             const std::string& location) override;
  std::optional<nlohmann::json> get_probe(const std::string& ns, const std::string& name) override;

 private:
  kube::Client& client_;
  kube::EventRecorder& events_;
  SecretCache* secrets_;
  StatusApplier applier_;
};

// "/apis/imapprobe.dev/v1alpha1[/namespaces/NS]/imapprobes"
std::string probes_path(const std::string& ns = {});

// "/api/v1[/namespaces/NS]/secrets"
std::string secrets_path(const std::string& ns = {});

// The handlers that keep `cache` current from a metadata-only watch of
// Secrets over `ns` ("" for all namespaces).
kube::WatchLoop::Handlers secret_cache_handlers(SecretCache& cache, const std::string& ns);

}  // namespace imapprobe::controller
