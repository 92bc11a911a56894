// ClusterApi over the real Kubernetes API: Secrets by GET, status by
// server-side apply on the status subresource, Events through the recorder.
#pragma once

#include <string>

#include "controller/cluster_api.hpp"
#include "kube/client.hpp"
#include "kube/events.hpp"

namespace imapprobe::controller {

inline constexpr const char* kGroup = "imapprobe.dev";
inline constexpr const char* kVersion = "v1alpha1";
inline constexpr const char* kApiVersion = "imapprobe.dev/v1alpha1";
inline constexpr const char* kKind = "ImapProbe";
inline constexpr const char* kPlural = "imapprobes";
inline constexpr const char* kFieldManager = "imapprobe-operator";

class KubeClusterApi : public ClusterApi {
 public:
  KubeClusterApi(kube::Client& client, kube::EventRecorder& events);
  std::optional<std::map<std::string, std::string>> get_secret(const std::string& ns,
                                                               const std::string& name) override;
  void apply_status(const ProbeRef& probe, const nlohmann::json& status) override;
  void emit_event(const ProbeRef& probe, const Event& event) override;

 private:
  kube::Client& client_;
  kube::EventRecorder& events_;
};

// "/apis/imapprobe.dev/v1alpha1[/namespaces/NS]/imapprobes"
std::string probes_path(const std::string& ns = {});

}  // namespace imapprobe::controller
