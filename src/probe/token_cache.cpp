#include "probe/token_cache.hpp"

#include <openssl/evp.h>

#include <array>
#include <stdexcept>

namespace imapprobe::probe {

std::string token_fingerprint(const OAuth2Spec& spec, const Credentials& creds) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("token fingerprint: cannot start SHA-256");
  }
  // Length-prefixed, so no two different field lists digest alike.
  const auto add = [&](std::string_view field) {
    const std::string length = std::to_string(field.size()) + ":";
    EVP_DigestUpdate(ctx.get(), length.data(), length.size());
    EVP_DigestUpdate(ctx.get(), field.data(), field.size());
  };
  add(spec.token_url);
  add(oauth::to_string(spec.grant));
  add(oauth::to_string(spec.client_auth));
  add(spec.client_id);
  for (const auto& scope : spec.scopes) add(scope);
  add(creds.username);
  add(creds.extra->oauth_client_secret);
  add(creds.extra->oauth_refresh_token);
  add(creds.extra->oauth_client_certificate_pem);
  add(creds.extra->oauth_client_key_pem);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest.data(), &length) != 1) {
    throw std::runtime_error("token fingerprint: SHA-256 failed");
  }
  return std::string(reinterpret_cast<const char*>(digest.data()), length);
}

TokenCache::Entry* TokenCache::find(const OAuth2Spec& spec, const Credentials& creds) {
  if (spec.cache_key.empty()) return nullptr;
  auto it = entries_.find(spec.cache_key);
  if (it == entries_.end() || it->second.fingerprint != token_fingerprint(spec, creds)) {
    return nullptr;
  }
  return &it->second;
}

std::optional<std::string> TokenCache::access_token(const OAuth2Spec& spec,
                                                    const Credentials& creds,
                                                    net::Clock::time_point now) {
  std::lock_guard lock(mutex_);
  sweep(now);
  Entry* e = find(spec, creds);
  if (e == nullptr) return std::nullopt;
  e->last_used = now;
  if (e->access_token.empty() || now >= e->reuse_until) return std::nullopt;
  return e->access_token;
}

std::string TokenCache::refresh_token(const OAuth2Spec& spec, const Credentials& creds) {
  std::lock_guard lock(mutex_);
  if (const Entry* e = find(spec, creds); e != nullptr && !e->refresh_token.empty()) {
    return e->refresh_token;
  }
  return creds.extra->oauth_refresh_token;
}

void TokenCache::store(const OAuth2Spec& spec, const Credentials& creds,
                       const oauth::IssuedToken& token, net::Clock::time_point issued_at) {
  if (spec.cache_key.empty()) return;
  std::lock_guard lock(mutex_);
  Entry& e = entries_[spec.cache_key];
  std::string fingerprint = token_fingerprint(spec, creds);
  if (e.fingerprint != fingerprint) {
    e = Entry{};
    e.fingerprint = std::move(fingerprint);
  }
  e.access_token = token.access_token;
  e.last_used = issued_at;
  if (token.expires_in) {
    const auto lifetime = std::chrono::duration_cast<net::Clock::duration>(*token.expires_in);
    const auto margin =
        lifetime >= 10 * kExpiryMargin ? net::Clock::duration(kExpiryMargin) : lifetime / 10;
    e.reuse_until = issued_at + lifetime - margin;
  } else {
    // No lifetime stated: reuse until the server refuses it (one retry).
    e.reuse_until = net::Clock::time_point::max();
  }
  if (!token.refresh_token.empty()) e.refresh_token = token.refresh_token;
}

void TokenCache::discard_access_token(const OAuth2Spec& spec, const Credentials& creds) {
  std::lock_guard lock(mutex_);
  if (Entry* e = find(spec, creds)) {
    e->access_token.clear();
    e->reuse_until = {};
  }
}

std::size_t TokenCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void TokenCache::sweep(net::Clock::time_point now) {
  if (now - last_sweep_ < std::chrono::minutes(10)) return;
  last_sweep_ = now;
  std::erase_if(entries_, [&](const auto& kv) { return now - kv.second.last_used > kIdleLimit; });
}

}  // namespace imapprobe::probe
