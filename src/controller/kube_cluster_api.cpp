#include "controller/kube_cluster_api.hpp"

#include "controller/credentials.hpp"
#include "controller/probe_table.hpp"  // key_of

namespace imapprobe::controller {

std::string probes_path(const std::string& ns) {
  std::string path = std::string("/apis/") + kGroup + "/" + kVersion;
  if (!ns.empty()) path += "/namespaces/" + ns;
  return path + "/" + kPlural;
}

std::string secrets_path(const std::string& ns) {
  return ns.empty() ? std::string("/api/v1/secrets") : "/api/v1/namespaces/" + ns + "/secrets";
}

namespace {

std::string resource_version_of(const nlohmann::json& object) {
  const auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return {};
  return meta->value("resourceVersion", std::string{});
}

}  // namespace

kube::WatchLoop::Handlers secret_cache_handlers(SecretCache& cache, const std::string& ns) {
  kube::WatchLoop::Handlers h;
  auto observe = [&cache](const nlohmann::json& o) {
    cache.observe(key_of(o), resource_version_of(o));
  };
  h.on_upsert = observe;
  h.on_delete = [&cache](const nlohmann::json& o) { cache.forget(key_of(o)); };
  h.on_page = [observe](std::vector<nlohmann::json> page) {
    for (const auto& o : page) observe(o);
  };
  h.on_listed = [&cache, prefix = ns.empty() ? std::string() : ns + "/"](
                    const std::vector<std::string>& keys) { cache.listed(prefix, keys); };
  return h;
}

KubeClusterApi::KubeClusterApi(kube::Client& client, kube::EventRecorder& events,
                               SecretCache* secrets, StatusApplier applier)
    : client_(client), events_(events), secrets_(secrets), applier_(std::move(applier)) {}

std::optional<std::map<std::string, std::string>> KubeClusterApi::cached_secret(
    const std::string& ns, const std::string& name) {
  if (secrets_ == nullptr) return std::nullopt;
  return secrets_->find(ns + "/" + name);
}

std::optional<std::map<std::string, std::string>> KubeClusterApi::get_secret(
    const std::string& ns, const std::string& name) {
  const std::string key = ns + "/" + name;
  if (secrets_ != nullptr) {
    if (auto cached = secrets_->find(key)) return cached;
  }
  nlohmann::json secret;
  try {
    secret = client_.get("/api/v1/namespaces/" + ns + "/secrets/" + name);
  } catch (const kube::ApiError& e) {
    if (e.not_found()) return std::nullopt;
    // Forbidden and friends: the message names the verb and resource, never data.
    throw ClusterApiError(e.status(), "cannot read Secret " + ns + "/" + name + ": " +
                                          (e.api_message().empty() ? e.what() : e.api_message()));
  }
  auto data = decode_secret_data(ns, name, secret);
  if (secrets_ != nullptr) secrets_->store(key, resource_version_of(secret), data);
  return data;
}

std::optional<nlohmann::json> KubeClusterApi::get_probe(const std::string& ns,
                                                        const std::string& name) {
  try {
    return client_.get(probes_path(ns) + "/" + name);
  } catch (const kube::ApiError& e) {
    if (e.not_found()) return std::nullopt;
    throw ClusterApiError(e.status(), "cannot read ImapProbe " + ns + "/" + name + ": " +
                                          (e.api_message().empty() ? e.what() : e.api_message()));
  }
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
    // fieldValidation=Ignore: the API server's default (Warn) parses every
    // apply body a second time, strictly, to find duplicate or unknown
    // fields, about 6 % of its CPU per status write (docs/benchmarks.md).
    // The body is ours, not a user's, and a field the schema lacks still
    // fails the apply (the typed merge refuses it), so nothing goes unseen.
    client_.patch(
        probes_path(probe.namespace_) + "/" + probe.name + "/status?fieldValidation=Ignore", body,
        kube::PatchType::Apply, applier_.field_manager, applier_.force);
  } catch (const kube::ApiError& e) {
    throw ClusterApiError(e.status(), e.what());
  }
}

void KubeClusterApi::remove_location_entry(const ProbeRef& probe, std::size_t index,
                                           const std::string& location) {
  // A JSON patch, not an apply: an entry belongs to its location's field
  // manager, and an apply can only drop what its own manager owns. The tests
  // make it safe against a list that changed since it was read and against
  // a probe re-created under the name.
  const std::string at = "/status/locations/" + std::to_string(index);
  const nlohmann::json patch = nlohmann::json::array({
      {{"op", "test"}, {"path", "/metadata/uid"}, {"value", probe.uid}},
      {{"op", "test"}, {"path", at + "/name"}, {"value", location}},
      {{"op", "remove"}, {"path", at}},
  });
  try {
    client_.patch(probes_path(probe.namespace_) + "/" + probe.name + "/status", patch,
                  kube::PatchType::Json, applier_.field_manager, false);
  } catch (const kube::ApiError& e) {
    throw ClusterApiError(e.status(), e.what());
  }
}

void KubeClusterApi::emit_event(const ProbeRef& probe, const Event& event) {
  events_.emit(kube::ObjectRef{kApiVersion, kKind, probe.namespace_, probe.name, probe.uid},
               event.type, event.reason, event.action, event.note);
}

}  // namespace imapprobe::controller
