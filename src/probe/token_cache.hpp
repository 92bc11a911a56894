// OAuth 2.0 access tokens kept in memory between runs of the same probe,
// so a probe asks the authorization server once per token lifetime, not
// once per run. Tokens never leave this object except into the bytes of
// a login.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "net/transport.hpp"
#include "oauth/token_response.hpp"
#include "probe/spec.hpp"

namespace imapprobe::probe {

class TokenCache {
 public:
  // A token is reused until this long before it expires, or until 90 % of
  // its lifetime for tokens shorter than ten times this: a login must not
  // race the token's expiry, nor the server's clock against ours.
  static constexpr auto kExpiryMargin = std::chrono::seconds(60);
  // Entries of probes that have not run for this long are dropped (deleted
  // probes), bounding the map by the probes that run.
  static constexpr auto kIdleLimit = std::chrono::hours(24);

  // The cached access token for this probe and these settings, if any is
  // still good at `now`.
  std::optional<std::string> access_token(const OAuth2Spec& spec, const Credentials& creds,
                                          net::Clock::time_point now);
  // The refresh token to use: the newest one the server issued to this
  // probe (servers that rotate refresh tokens refuse the older ones), else
  // the one from the credentials.
  std::string refresh_token(const OAuth2Spec& spec, const Credentials& creds);
  // Remembers a token issued at `issued_at` (when its request was sent).
  void store(const OAuth2Spec& spec, const Credentials& creds, const oauth::IssuedToken& token,
             net::Clock::time_point issued_at);
  // The server refused the cached access token: never offer it again.
  void discard_access_token(const OAuth2Spec& spec, const Credentials& creds);

  std::size_t size() const;

 private:
  struct Entry {
    std::string fingerprint;  // of the settings and secrets the token was issued for
    std::string access_token;
    net::Clock::time_point reuse_until{};
    std::string refresh_token;  // a rotated one, when the server issued one
    net::Clock::time_point last_used{};
  };
  // The entry for this probe when it was issued for the same settings and
  // secrets; a changed Secret or spec starts afresh.
  Entry* find(const OAuth2Spec& spec, const Credentials& creds);
  void sweep(net::Clock::time_point now);

  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;  // by OAuth2Spec::cache_key
  net::Clock::time_point last_sweep_{};
};

// A digest of everything a token depends on (never stored in clear).
std::string token_fingerprint(const OAuth2Spec& spec, const Credentials& creds);

}  // namespace imapprobe::probe
