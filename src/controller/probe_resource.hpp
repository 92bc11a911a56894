// Reads an ImapProbe object (JSON from the API) into the engine's spec.
// What the CRD schema cannot check is checked here and reported as
// Stalled=True/InvalidSpec by the caller.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "probe/spec.hpp"

namespace imapprobe::controller {

class InvalidSpec : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// A new value of this annotation asks for a run now (like Flux's
// reconcile.fluxcd.io/requestedAt); the status echoes it in
// lastHandledRunRequest once that run has been made.
inline constexpr const char* kRunRequestAnnotation = "imapprobe.dev/run-requested-at";
// The annotation's value on an ImapProbe object ("" when absent).
std::string run_request_of(const nlohmann::json& object);

struct SecretKeyRef {
  std::string name;
  std::string key;
  bool operator==(const SecretKeyRef&) const = default;
};

struct OAuth2SecretRefs {
  std::optional<SecretKeyRef> client_secret;
  std::optional<SecretKeyRef> refresh_token;
  std::optional<SecretKeyRef> client_certificate;
  std::optional<SecretKeyRef> client_key;
};

struct ProbeDefinition {
  // Namespace, name and uid are the table entry's (ProbeRef): a copy here
  // cost every probe about 140 bytes.
  std::int64_t generation = 0;
  probe::ProbeSpec spec;  // never holds secrets
  std::optional<SecretKeyRef> username;
  std::optional<SecretKeyRef> password;  // password, or token for XOAuth2
  std::optional<SecretKeyRef> ca_bundle;
  // The delivery check's SMTP AUTH, when it has a Secret of its own
  // (spec.delivery.secretRef); else it logs in as the probe.
  probe::OptionalBox<SecretKeyRef> smtp_username;
  probe::OptionalBox<SecretKeyRef> smtp_password;
  // spec.auth.oauth2's Secrets; null without it (most probes: one pointer).
  std::shared_ptr<const OAuth2SecretRefs> oauth2;
  probe::Duration interval = std::chrono::seconds(60);
  int failure_threshold = 2;
  bool suspend = false;
  // spec.locations (multi-location); null: every location runs the probe.
  std::shared_ptr<const std::vector<std::string>> locations;
  bool runs_in(const std::string& location) const;
};

// spec.locations of a spec object (empty when absent). Throws InvalidSpec.
std::vector<std::string> locations_field(const nlohmann::json& spec);

// Throws InvalidSpec naming the field ("spec.interval: invalid duration ...").
ProbeDefinition parse_probe(const nlohmann::json& object);

}  // namespace imapprobe::controller
