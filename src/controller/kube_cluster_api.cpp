#include "controller/kube_cluster_api.hpp"

#include "controller/credentials.hpp"

namespace imapprobe::controller {

std::string probes_path(const std::string& ns) {
  std::string path = std::string("/apis/") + kGroup + "/" + kVersion;
  if (!ns.empty()) path += "/namespaces/" + ns;
  return path + "/" + kPlural;
}

KubeClusterApi::KubeClusterApi(kube::Client& client, kube::EventRecorder& events)
    : client_(client), events_(events) {}

std::optional<std::map<std::string, std::string>> KubeClusterApi::get_secret(
    const std::string& ns, const std::string& name) {
  nlohmann::json secret;
  try {
    secret = client_.get("/api/v1/namespaces/" + ns + "/secrets/" + name);
  } catch (const kube::ApiError& e) {
    if (e.not_found()) return std::nullopt;
    // Forbidden and friends: the message names the verb and resource, never data.
    throw ClusterApiError(e.status(), "cannot read Secret " + ns + "/" + name + ": " +
                                          (e.api_message().empty() ? e.what() : e.api_message()));
  }
  return decode_secret_data(ns, name, secret);
}

void KubeClusterApi::apply_status(const ProbeRef& probe, const nlohmann::json& status) {
  const nlohmann::json body = {
      {"apiVersion", kApiVersion},
      {"kind", kKind},
      // The uid is a precondition: a status meant for a deleted probe must
      // never land on a new one re-created under the same name (409).
      {"metadata", {{"name", probe.name}, {"namespace", probe.namespace_}, {"uid", probe.uid}}},
      {"status", status},
  };
  try {
    client_.patch(probes_path(probe.namespace_) + "/" + probe.name + "/status", body,
                  kube::PatchType::Apply, kFieldManager);
  } catch (const kube::ApiError& e) {
    throw ClusterApiError(e.status(), e.what());
  }
}

void KubeClusterApi::emit_event(const ProbeRef& probe, const Event& event) {
  events_.emit(kube::ObjectRef{kApiVersion, kKind, probe.namespace_, probe.name, probe.uid},
               event.type, event.reason, event.action, event.note);
}

}  // namespace imapprobe::controller
