#include "controller/kube_cluster_api.hpp"

#include "imap/sasl.hpp"

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
  std::map<std::string, std::string> out;
  if (secret.contains("data") && secret["data"].is_object()) {
    for (const auto& [k, v] : secret["data"].items()) {
      if (v.is_string()) out[k] = imap::base64_decode(v.get<std::string>());
    }
  }
  if (secret.contains("stringData") && secret["stringData"].is_object()) {
    for (const auto& [k, v] : secret["stringData"].items()) {
      if (v.is_string()) out[k] = v.get<std::string>();
    }
  }
  return out;
}

void KubeClusterApi::apply_status(const ProbeRef& probe, const nlohmann::json& status) {
  const nlohmann::json body = {
      {"apiVersion", kApiVersion},
      {"kind", kKind},
      {"metadata", {{"name", probe.name}, {"namespace", probe.namespace_}}},
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
