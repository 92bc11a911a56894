#include "controller/credentials.hpp"

#include <map>
#include <optional>

#include "controller/reasons.hpp"
#include "encoding/base64.hpp"
#include "oauth/client_assertion.hpp"
#include "probe/tls.hpp"

namespace imapprobe::controller {

std::map<std::string, std::string> decode_secret_data(const std::string& ns,
                                                      const std::string& name,
                                                      const nlohmann::json& secret) {
  std::map<std::string, std::string> out;
  if (secret.contains("data") && secret["data"].is_object()) {
    for (const auto& [k, v] : secret["data"].items()) {
      if (!v.is_string()) continue;
      try {
        out[k] = encoding::base64_decode(v.get<std::string>(), encoding::Base64Syntax::Lenient);
      } catch (const encoding::Base64Error& e) {
        throw InvalidSecretData("Secret " + ns + "/" + name + " key \"" + k +
                                "\": data is not valid base64 (" + e.what() + ")");
      }
    }
  }
  if (secret.contains("stringData") && secret["stringData"].is_object()) {
    for (const auto& [k, v] : secret["stringData"].items()) {
      if (v.is_string()) out[k] = v.get<std::string>();
    }
  }
  return out;
}

bool api_unavailable(int http_status) {
  return http_status == 0 || http_status == 429 || http_status >= 500;
}

namespace {

// Thrown by resolve_in_memory's reader when a Secret is not in memory. Not
// a std::exception, so resolve_with's handlers let it through.
struct NotInMemory {};

// `read_secret(ns, name)`: ClusterApi::get_secret's contract.
template <typename ReadSecret>
CredentialResolution resolve_with(const ProbeDefinition& def, const std::string& ns,
                                  ReadSecret read_secret) {
  std::map<std::string, std::optional<std::map<std::string, std::string>>> fetched;
  std::optional<CredentialResolution> failure;
  auto read = [&](const SecretKeyRef& ref, std::string& out, const char* what) {
    const std::string secret = "Secret " + ns + "/" + ref.name;
    auto it = fetched.find(ref.name);
    if (it == fetched.end()) {
      try {
        it = fetched.emplace(ref.name, read_secret(ns, ref.name)).first;
      } catch (const InvalidSecretData& e) {
        failure = CredentialStall{reasons::kInvalidSecretData, e.what()};
        return false;
      } catch (const ClusterApiError& e) {
        if (api_unavailable(e.status())) {
          failure = ApiUnavailable{e.what()};
        } else {
          failure = CredentialStall{reasons::kSecretUnreadable, e.what()};
        }
        return false;
      } catch (const std::exception& e) {
        // An unexpected failure of our own client: not the user's to fix.
        failure = ApiUnavailable{"cannot read " + secret + ": " + e.what()};
        return false;
      }
    }
    if (!it->second) {
      failure = CredentialStall{reasons::kSecretNotFound, secret + " (" + what + ") not found"};
      return false;
    }
    auto v = it->second->find(ref.key);
    if (v == it->second->end()) {
      failure = CredentialStall{reasons::kSecretKeyMissing,
                                secret + " has no key \"" + ref.key + "\" (" + what + ")"};
      return false;
    }
    out = v->second;
    return true;
  };

  ResolvedCredentials r;
  if (def.username && !read(*def.username, r.credentials.username, "username")) return *failure;
  if (def.password && !read(*def.password, r.credentials.secret, "password or token"))
    return *failure;
  if (def.smtp_username &&
      !read(*def.smtp_username, r.credentials.extra.edit().smtp_username, "SMTP user name"))
    return *failure;
  if (def.smtp_password &&
      !read(*def.smtp_password, r.credentials.extra.edit().smtp_secret, "SMTP password"))
    return *failure;
  if (const auto& o = def.oauth2) {
    probe::Credentials& c = r.credentials;
    if (o->client_secret &&
        !read(*o->client_secret, c.extra.edit().oauth_client_secret, "OAuth 2.0 client secret"))
      return *failure;
    if (o->refresh_token &&
        !read(*o->refresh_token, c.extra.edit().oauth_refresh_token, "OAuth 2.0 refresh token"))
      return *failure;
    if (o->client_certificate &&
        !read(*o->client_certificate, c.extra.edit().oauth_client_certificate_pem,
              "OAuth 2.0 client certificate"))
      return *failure;
    if (o->client_key &&
        !read(*o->client_key, c.extra.edit().oauth_client_key_pem, "OAuth 2.0 client key"))
      return *failure;
    if (o->client_certificate) {
      if (auto problem = oauth::check_client_certificate(c.extra->oauth_client_certificate_pem,
                                                         c.extra->oauth_client_key_pem)) {
        return CredentialStall{reasons::kInvalidClientCertificate,
                               "Secret " + ns + "/" + o->client_certificate->name + " keys \"" +
                                   o->client_certificate->key + "\" and \"" + o->client_key->key +
                                   "\": " + *problem};
      }
    }
  }
  if (def.ca_bundle) {
    if (!read(*def.ca_bundle, r.ca_pem, "CA bundle")) return *failure;
    if (auto problem = probe::check_ca_bundle(r.ca_pem)) {
      return CredentialStall{reasons::kInvalidCABundle, "Secret " + ns + "/" + def.ca_bundle->name +
                                                            " key \"" + def.ca_bundle->key +
                                                            "\": " + *problem};
    }
  }
  return r;
}

}  // namespace

CredentialResolution resolve_credentials(const ProbeDefinition& def, const std::string& ns,
                                         ClusterApi& api) {
  return resolve_with(def, ns, [&api](const std::string& ns, const std::string& name) {
    return api.get_secret(ns, name);
  });
}

std::optional<CredentialResolution> resolve_credentials_in_memory(const ProbeDefinition& def,
                                                                  const std::string& ns,
                                                                  ClusterApi& api) {
  try {
    return resolve_with(def, ns, [&api](const std::string& ns, const std::string& name) {
      auto data = api.cached_secret(ns, name);
      if (!data) throw NotInMemory{};
      return data;
    });
  } catch (const NotInMemory&) {
    return std::nullopt;
  }
}

}  // namespace imapprobe::controller
