#include "controller/probe_resource.hpp"

#include <algorithm>

namespace imapprobe::controller {
namespace {

using nlohmann::json;

const json& child(const json& j, const char* key) {
  static const json kEmpty = json::object();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? kEmpty : *it;
}

std::string string_field(const json& j, const char* key, const std::string& path,
                         std::string fallback = {}) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_string()) throw InvalidSpec(path + "." + key + ": must be a string");
  return j[key].get<std::string>();
}

probe::Duration duration_field(const json& j, const char* key, const std::string& path,
                               const char* fallback) {
  const std::string text = string_field(j, key, path, fallback);
  try {
    return probe::parse_duration(text);
  } catch (const std::invalid_argument& e) {
    throw InvalidSpec(path + "." + key + ": " + e.what());
  }
}

template <typename F>
auto enum_field(const json& j, const char* key, const std::string& path, const char* fallback,
                F parse) {
  try {
    return parse(string_field(j, key, path, fallback));
  } catch (const std::invalid_argument& e) {
    throw InvalidSpec(path + "." + key + ": " + e.what());
  }
}

bool one_line(const std::string& s) { return s.find_first_of("\r\n") == std::string::npos; }

// As the CRD spells the field (the fieldPath of its CEL rule).
std::string_view field_of(probe::Setting s) {
  switch (s) {
    case probe::Setting::Search:
      return "spec.search";
    case probe::Setting::Fetch:
      return "spec.fetch.latest";
    case probe::Setting::RoundTrip:
      return "spec.roundTrip.enabled";
    case probe::Setting::Delivery:
      return "spec.delivery";
    case probe::Setting::Checks:
      return "spec.contentChecks";
    case probe::Setting::OAuth2:
      return "spec.auth.oauth2";
  }
  return "spec";
}

void parse_delivery(const json& j, ProbeDefinition& def) {
  const std::string path = "spec.delivery";
  probe::DeliverySpec d;
  d.host = string_field(j, "host", path);
  if (d.host.empty()) throw InvalidSpec(path + ".host: required");
  if (j.contains("port") && !j["port"].is_null()) {
    if (!j["port"].is_number_integer() || j["port"].get<long>() < 1 ||
        j["port"].get<long>() > 65535) {
      throw InvalidSpec(path + ".port: must be an integer from 1 to 65535");
    }
    d.port = static_cast<std::uint16_t>(j["port"].get<long>());
  }
  d.tls = enum_field(j, "tls", path, "STARTTLS", probe::parse_tls_mode);
  d.server_name = string_field(j, "serverName", path);
  d.mechanism = enum_field(j, "mechanism", path, "Plain", probe::parse_mechanism);
  d.from = string_field(j, "from", path);
  d.to = string_field(j, "to", path);
  d.mailbox = string_field(j, "mailbox", path, "INBOX");
  for (const auto* field : {&d.host, &d.from, &d.to}) {
    if (field->find_first_of("\r\n <>") != std::string::npos) {
      throw InvalidSpec(path + ": host, from and to take a bare name or address");
    }
  }
  if (d.mailbox.empty() || !one_line(d.mailbox)) {
    throw InvalidSpec(path + ".mailbox: must be one non-empty line");
  }
  if (auto it = j.find("junkFolders"); it != j.end() && it->is_array()) {
    for (const auto& name : *it) {
      if (!name.is_string() || name.get<std::string>().empty() ||
          !one_line(name.get<std::string>())) {
        throw InvalidSpec(path + ".junkFolders: each must be one non-empty line");
      }
      d.junk_folders.push_back(name.get<std::string>());
    }
  }
  d.timeout = duration_field(j, "timeout", path, "20s");
  if (const json& ref = child(j, "secretRef"); !ref.empty()) {
    const std::string name = string_field(ref, "name", path + ".secretRef");
    if (name.empty()) throw InvalidSpec(path + ".secretRef.name: required");
    def.smtp_username =
        SecretKeyRef{name, string_field(ref, "usernameKey", path + ".secretRef", "username")};
    def.smtp_password =
        SecretKeyRef{name, string_field(ref, "passwordKey", path + ".secretRef", "password")};
  }
  def.spec.delivery = std::move(d);
}

std::optional<SecretKeyRef> key_ref(const json& parent, const char* field, const char* key_field,
                                    const char* default_key, const std::string& path) {
  const json& ref = child(parent, field);
  if (ref.empty()) return std::nullopt;
  const std::string where = path + "." + field;
  SecretKeyRef r{string_field(ref, "name", where),
                 string_field(ref, key_field, where, default_key)};
  if (r.name.empty()) throw InvalidSpec(where + ".name: required");
  return r;
}

// spec.auth.oauth2: the engine's token request settings, and the Secrets
// they read (resolved with the other credentials before each run).
// `identity`: namespace/name/uid of the probe.
void parse_oauth2(const json& j, ProbeDefinition& def, const std::string& identity) {
  const std::string path = "spec.auth.oauth2";
  auto o = std::make_shared<probe::OAuth2Spec>();
  o->token_url = string_field(j, "tokenURL", path);
  if (o->token_url.empty()) throw InvalidSpec(path + ".tokenURL: required");
  o->grant = enum_field(j, "grant", path, "ClientCredentials", oauth::parse_grant);
  o->client_auth = enum_field(j, "clientAuthentication", path, "Basic", oauth::parse_client_auth);
  o->client_id = string_field(j, "clientID", path);
  o->allow_insecure_http = j.value("allowInsecureHTTP", false);
  if (auto it = j.find("scopes"); it != j.end() && it->is_array()) {
    for (const auto& scope : *it) {
      if (!scope.is_string() || scope.get<std::string>().empty() ||
          scope.get<std::string>().find_first_of(" \"\\\r\n") != std::string::npos) {
        throw InvalidSpec(path + ".scopes: each must be a non-empty scope token");
      }
      o->scopes.push_back(scope.get<std::string>());
    }
  }
  auto refs = std::make_shared<OAuth2SecretRefs>();
  refs->client_secret = key_ref(j, "clientSecretRef", "key", "client-secret", path);
  refs->refresh_token = key_ref(j, "refreshTokenRef", "key", "refresh-token", path);
  refs->client_certificate = key_ref(j, "clientCertificateRef", "certificateKey", "tls.crt", path);
  if (refs->client_certificate) {
    refs->client_key = key_ref(j, "clientCertificateRef", "privateKeyKey", "tls.key", path);
  }
  const bool jwt = o->client_auth == oauth::ClientAuth::PrivateKeyJwt;
  if (jwt != refs->client_certificate.has_value()) {
    throw InvalidSpec(path +
                      ".clientCertificateRef: required with clientAuthentication "
                      "PrivateKeyJwt, and only then");
  }
  if (!jwt && o->grant == oauth::Grant::ClientCredentials && !refs->client_secret) {
    throw InvalidSpec(path + ".clientSecretRef: required for the ClientCredentials grant");
  }
  if ((o->grant == oauth::Grant::RefreshToken) != refs->refresh_token.has_value()) {
    throw InvalidSpec(path + ".refreshTokenRef: required with grant RefreshToken, and only then");
  }
  // Tokens are remembered per probe; a re-created probe (new uid) starts afresh.
  o->cache_key = identity;
  def.spec.oauth2 = std::move(o);
  def.oauth2 = std::move(refs);
}

std::optional<std::uint32_t> count_field(const json& j, const char* key, const std::string& path) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (!j[key].is_number_integer() || j[key].get<long long>() < 0 ||
      j[key].get<long long>() > 0xffffffffLL) {
    throw InvalidSpec(path + "." + key + ": must be a non-negative integer");
  }
  return static_cast<std::uint32_t>(j[key].get<long long>());
}

std::optional<double> percent_field(const json& j, const char* key, const std::string& path) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (!j[key].is_number()) throw InvalidSpec(path + "." + key + ": must be a number");
  return j[key].get<double>();
}

void parse_content_checks(const json& j, probe::ContentChecks& c) {
  const std::string path = "spec.contentChecks";
  const json& count = child(j, "messageCount");
  c.min_messages = count_field(count, "min", path + ".messageCount");
  c.max_messages = count_field(count, "max", path + ".messageCount");
  c.count_search = string_field(count, "search", path + ".messageCount");
  const json& newest = child(j, "newestMessage");
  if (!newest.empty()) {
    c.newest_max_age = duration_field(newest, "maxAge", path + ".newestMessage", "0s");
    c.newest_search = string_field(newest, "search", path + ".newestMessage", "ALL");
  }
  const json& quota = child(j, "quota");
  c.quota_warn_percent = percent_field(quota, "warnPercent", path + ".quota");
  c.quota_fail_percent = percent_field(quota, "failPercent", path + ".quota");
  if (!one_line(c.count_search) || !one_line(c.newest_search)) {
    throw InvalidSpec(path + ": search criteria must be one line");
  }
}

}  // namespace

std::string run_request_of(const json& object) {
  const auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return {};
  const auto annotations = meta->find("annotations");
  if (annotations == meta->end() || !annotations->is_object()) return {};
  const auto value = annotations->find(kRunRequestAnnotation);
  return value != annotations->end() && value->is_string() ? value->get<std::string>() : "";
}

std::vector<std::string> locations_field(const json& spec) {
  std::vector<std::string> out;
  auto it = spec.find("locations");
  if (it == spec.end() || it->is_null()) return out;
  if (!it->is_array()) throw InvalidSpec("spec.locations: must be a list of location names");
  for (const auto& v : *it) {
    if (!v.is_string() || v.get<std::string>().empty()) {
      throw InvalidSpec("spec.locations: must be a list of location names");
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

bool ProbeDefinition::runs_in(const std::string& location) const {
  return !locations ||
         std::find(locations->begin(), locations->end(), location) != locations->end();
}

ProbeDefinition parse_probe(const json& object) {
  ProbeDefinition d;
  const json& meta = child(object, "metadata");
  const std::string ns = meta.value("namespace", "");
  d.generation = meta.value("generation", std::int64_t{0});

  const json& spec = child(object, "spec");
  const json& server = child(spec, "server");
  probe::ProbeSpec& s = d.spec;
  s.host = string_field(server, "host", "spec.server");
  if (s.host.empty()) throw InvalidSpec("spec.server.host: required");
  if (!one_line(s.host)) throw InvalidSpec("spec.server.host: must be one line");
  if (server.contains("port") && !server["port"].is_null()) {
    if (!server["port"].is_number_integer() || server["port"].get<long>() < 1 ||
        server["port"].get<long>() > 65535) {
      throw InvalidSpec("spec.server.port: must be an integer from 1 to 65535");
    }
    s.port = static_cast<std::uint16_t>(server["port"].get<long>());
  }
  s.tls = enum_field(server, "tls", "spec.server", "Implicit", probe::parse_tls_mode);
  s.ip_family = enum_field(server, "ipFamily", "spec.server", "Any", probe::parse_ip_family);
  s.server_name = string_field(server, "serverName", "spec.server");
  s.insecure_skip_verify = server.value("insecureSkipVerify", false);
  s.min_tls_version = string_field(server, "minTLSVersion", "spec.server", "TLSv1.2");
  if (s.min_tls_version != "TLSv1.2" && s.min_tls_version != "TLSv1.3") {
    throw InvalidSpec("spec.server.minTLSVersion: must be TLSv1.2 or TLSv1.3");
  }
  if (const json& ca = child(server, "caBundleSecretRef"); !ca.empty()) {
    d.ca_bundle = SecretKeyRef{string_field(ca, "name", "spec.server.caBundleSecretRef"),
                               string_field(ca, "key", "spec.server.caBundleSecretRef", "ca.crt")};
    if (d.ca_bundle->name.empty())
      throw InvalidSpec("spec.server.caBundleSecretRef.name: required");
  }

  const json& auth = child(spec, "auth");
  s.mechanism = enum_field(auth, "mechanism", "spec.auth", "Plain", probe::parse_mechanism);
  s.allow_plaintext = auth.value("allowPlaintext", false);
  if (const json& ref = child(auth, "secretRef"); !ref.empty()) {
    const std::string name = string_field(ref, "name", "spec.auth.secretRef");
    if (name.empty()) throw InvalidSpec("spec.auth.secretRef.name: required");
    d.username =
        SecretKeyRef{name, string_field(ref, "usernameKey", "spec.auth.secretRef", "username")};
    d.password =
        SecretKeyRef{name, string_field(ref, "passwordKey", "spec.auth.secretRef", "password")};
    if (const json& oauth2 = child(auth, "oauth2"); !oauth2.empty()) {
      parse_oauth2(oauth2, d, ns + "/" + meta.value("name", "") + "/" + meta.value("uid", ""));
      d.password.reset();  // the engine obtains the token
    }
  } else if (s.mechanism != probe::Mechanism::None) {
    throw InvalidSpec("spec.auth.secretRef: required unless spec.auth.mechanism is None");
  }

  s.mailbox = string_field(spec, "mailbox", "spec", "INBOX");
  if (s.mailbox.empty() || !one_line(s.mailbox))
    throw InvalidSpec("spec.mailbox: must be one non-empty line");
  s.search = string_field(spec, "search", "spec");
  if (!one_line(s.search)) throw InvalidSpec("spec.search: must be one line");
  const json& fetch = child(spec, "fetch");
  const long latest = fetch.value("latest", 0L);
  if (latest < 0 || latest > 100) throw InvalidSpec("spec.fetch.latest: must be from 0 to 100");
  s.fetch_latest = static_cast<std::uint32_t>(latest);
  s.fetch_what = enum_field(fetch, "what", "spec.fetch", "Headers", probe::parse_fetch_what);
  s.round_trip = child(spec, "roundTrip").value("enabled", false);

  if (const json& checks = child(spec, "contentChecks"); !checks.empty()) {
    parse_content_checks(checks, s.checks.edit());
  }
  if (const json& delivery = child(spec, "delivery"); !delivery.empty()) {
    parse_delivery(delivery, d);
  }

  d.interval = duration_field(spec, "interval", "spec", "60s");
  s.timeout = duration_field(spec, "timeout", "spec", "30s");
  if (s.timeout <= probe::Duration::zero()) throw InvalidSpec("spec.timeout: must be positive");
  if (s.timeout >= d.interval)
    throw InvalidSpec("spec.timeout: must be shorter than spec.interval");
  s.step_timeout = s.timeout;

  const json& thresholds = child(spec, "thresholds");
  if (thresholds.is_object()) {
    for (const auto& [key, value] : thresholds.items()) {
      const probe::Duration limit = duration_field(thresholds, key.c_str(), "spec.thresholds", "0");
      if (key == "total") {
        s.thresholds.edit().total_warning = limit;
      } else if (auto step = probe::step_from_string(key)) {
        s.thresholds.edit().warning[*step] = limit;
      } else {
        throw InvalidSpec("spec.thresholds." + key + ": not a step");
      }
      (void)value;
    }
  }
  const json& cert = child(spec, "certificate");
  s.cert_warn_before = duration_field(cert, "warnBefore", "spec.certificate", "336h");
  s.cert_fail_before = duration_field(cert, "failBefore", "spec.certificate", "72h");
  if (s.cert_fail_before > s.cert_warn_before) {
    throw InvalidSpec("spec.certificate.failBefore: must not exceed warnBefore");
  }
  d.failure_threshold = spec.value("failureThreshold", 2);
  if (d.failure_threshold < 1) throw InvalidSpec("spec.failureThreshold: must be at least 1");
  d.suspend = spec.value("suspend", false);
  if (auto locations = locations_field(spec); !locations.empty()) {
    d.locations = std::make_shared<const std::vector<std::string>>(std::move(locations));
  }
  // The same rules as the CRD's CEL and the CLI, for objects stored before
  // the CRD had them (or applied with validation off).
  if (const auto problems = probe::spec_problems(s); !problems.empty()) {
    std::string message;
    for (const auto& p : problems) {
      if (!message.empty()) message += "; ";
      message += std::string(field_of(p.setting)) + ": " + p.what;
    }
    throw InvalidSpec(message);
  }
  return d;
}

}  // namespace imapprobe::controller
