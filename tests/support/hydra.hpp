// A private, real ORY Hydra (OAuth 2.0 authorization server) for the tests,
// started by tests/servers/hydra/hydra-harness.sh on loopback ports (memory
// database: every instance starts empty). Pair it with
// Dovecot(DovecotOptions{hydra.introspection_url()}) so Dovecot checks the
// tokens Hydra issues; the Dovecot user is the token's subject, so a
// client_credentials client's id must be a Dovecot user (OAUTH_USER "oauth").
#pragma once

#include <map>
#include <string>

namespace imapprobe::testing {

struct HydraOptions {
  // Lifetime of every access token, as a Go duration ("5s", "2m"); empty =
  // Hydra's default of 1h. Per client: Hydra::create_client / set_ttl.
  std::string access_token_ttl;
  // How long a used refresh token stays valid ("10s", at most "5m"); empty =
  // none: Hydra refuses a refresh token used twice and then revokes the
  // tokens issued from it.
  std::string refresh_grace;
  // Both set: the public port (token, revoke, auth endpoints) serves HTTPS
  // with this certificate; the admin port stays plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  // What the harness's own flows trust on the public port (default: the
  // certificate itself).
  std::string tls_ca_file;
};

class Hydra {
 public:
  // Starts a fresh instance in a new temporary directory; throws with the
  // harness's output when it cannot (also when Hydra is not built: bash tests/tools.sh).
  explicit Hydra(HydraOptions options = {});
  ~Hydra();
  Hydra(const Hydra&) = delete;
  Hydra& operator=(const Hydra&) = delete;

  // Values of the harness's env file (HYDRA_TOKEN_URL, HYDRA_PID, ...).
  const std::string& get(const std::string& key) const;
  const std::string& public_url() const { return get("HYDRA_PUBLIC_URL"); }
  const std::string& token_url() const { return get("HYDRA_TOKEN_URL"); }
  const std::string& revoke_url() const { return get("HYDRA_REVOKE_URL"); }
  const std::string& admin_url() const { return get("HYDRA_ADMIN_URL"); }
  const std::string& introspection_url() const { return get("HYDRA_INTROSPECT_URL"); }

  // Registers a client through the admin API. auth: "basic" (client_secret_basic),
  // "post" (client_secret_post) or "private_key_jwt" (jwks_file: a JWK or JWKS
  // with the public key; RS256). grant_types: comma-separated; with
  // authorization_code the client also gets the harness's dummy redirect URI.
  // Throws with Hydra's HTTP status and body on failure (e.g. 409 for a taken id).
  void create_client(const std::string& id, const std::string& secret,
                     const std::string& auth = "basic", const std::string& scope = "mail offline",
                     const std::string& grant_types = "client_credentials,refresh_token",
                     const std::string& jwks_file = "") const;
  // Access-token lifetime of one client's client_credentials, refresh_token and
  // authorization_code grants ("30s").
  void set_ttl(const std::string& client_id, const std::string& duration) const;
  // An access token by client_credentials (basic or post clients).
  std::string client_token(const std::string& client_id, const std::string& client_secret,
                           const std::string& scope = "mail") const;
  // A refresh token for `subject`, by the authorization-code flow (login and
  // consent accepted through the admin API). The client needs the grant types
  // authorization_code and refresh_token, and scope must contain "offline".
  // Costs one token request (the code exchange).
  std::string refresh_token(const std::string& client_id, const std::string& client_secret,
                            const std::string& subject,
                            const std::string& scope = "mail offline") const;
  void revoke(const std::string& client_id, const std::string& client_secret,
              const std::string& token) const;
  // Removes a client (nothing happens when there is none).
  void delete_client(const std::string& client_id) const;
  // Revokes every access token issued to a client (admin API), so the next
  // login with one of them is refused.
  void revoke_client_tokens(const std::string& client_id) const;
  // POST /oauth2/token requests Hydra has answered so far, whatever their outcome.
  int token_requests() const;
  // Hydra's log so far (every HTTP request at level info).
  std::string log() const;
  const std::string& workdir() const { return workdir_; }

 private:
  std::string harness(const std::string& command, const std::string& what) const;

  std::string workdir_;
  std::map<std::string, std::string> env_;
};

}  // namespace imapprobe::testing
