// Credential resolution: a probe's Secret references turned into what the
// engine needs, or the reason it cannot run. Runs on the API pool, or on the
// probe thread when nothing needs reading (resolve_credentials_in_memory).
//
// Three answers, because they call for three different reactions:
// - Resolved: run.
// - Stall: something the user must fix (Secret or key missing, access
//   forbidden, data that is not base64, a CA bundle that is not PEM):
//   Stalled=True with a precise reason, no run.
// - Unavailable: the API server did not answer usefully (no response, 429,
//   5xx). Not the probe's fault: no condition changes; the run goes ahead
//   with the credentials last read, or is skipped when there are none.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "controller/cluster_api.hpp"
#include "controller/probe_resource.hpp"
#include "probe/spec.hpp"

namespace imapprobe::controller {

struct ResolvedCredentials {
  probe::Credentials credentials;
  std::string ca_pem;
};

struct CredentialStall {
  std::string reason;   // a controller reason (reasons.hpp)
  std::string message;  // names the Secret and key, never their data
};

struct ApiUnavailable {
  std::string message;
};

using CredentialResolution = std::variant<ResolvedCredentials, CredentialStall, ApiUnavailable>;

// One GET per distinct Secret: username, password and CA bundle usually
// share one. Never throws.
// `ns`: the probe's namespace, where its Secrets are.
CredentialResolution resolve_credentials(const ProbeDefinition& def, const std::string& ns,
                                         ClusterApi& api);

// The same from memory only (ClusterApi::cached_secret): nullopt when a
// Secret the probe names would have to be read from the API server. A probe
// that names no Secret, or whose Secrets are all in the cache, is resolved
// on the probe thread rather than queued on the API pool behind status
// writes. Never throws.
std::optional<CredentialResolution> resolve_credentials_in_memory(const ProbeDefinition& def,
                                                                  const std::string& ns,
                                                                  ClusterApi& api);

// A Secret object's data, decoded. Throws InvalidSecretData naming the
// Secret and key (never the data) when a value is not base64.
std::map<std::string, std::string> decode_secret_data(const std::string& ns,
                                                      const std::string& name,
                                                      const nlohmann::json& secret);

// Whether an API status means "the API server is unwell" rather than "the
// request is wrong": no response (0), 429 and 5xx.
bool api_unavailable(int http_status);

}  // namespace imapprobe::controller
