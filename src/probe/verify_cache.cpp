#include "probe/verify_cache.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

namespace imapprobe::probe {
namespace {

struct OpensslFree {
  void operator()(char* p) const { OPENSSL_free(p); }
};

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// DER of a certificate into the digest: i2d on a parsed certificate copies
// its cached encoding.
bool add_certificate(EVP_MD_CTX* md, X509* cert) {
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  if (len <= 0) return false;
  const bool ok = EVP_DigestUpdate(md, der, static_cast<std::size_t>(len)) == 1;
  OPENSSL_free(der);
  return ok;
}

std::optional<VerifyCache::Clock::time_point> not_after(X509* cert) {
  std::tm tm{};
  const ASN1_TIME* t = X509_get0_notAfter(cert);
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return VerifyCache::Clock::from_time_t(timegm(&tm));
}

}  // namespace

void VerifyCache::install(SSL_CTX* ctx) {
  SSL_CTX_set_cert_verify_callback(
      ctx,
      [](X509_STORE_CTX* store_ctx, void* arg) {
        return static_cast<VerifyCache*>(arg)->verify(store_ctx);
      },
      this);
}

int VerifyCache::verify(X509_STORE_CTX* store_ctx) {
  X509* leaf = X509_STORE_CTX_get0_cert(store_ctx);
  STACK_OF(X509)* sent = X509_STORE_CTX_get0_untrusted(store_ctx);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(store_ctx);
  const char* host = param != nullptr ? X509_VERIFY_PARAM_get0_host(param, 0) : nullptr;
  const std::unique_ptr<char, OpensslFree> ip(
      param != nullptr ? X509_VERIFY_PARAM_get1_ip_asc(param) : nullptr);

  Key key{};
  bool keyed = false;
  auto until = Clock::now() + kLifetime;
  if (leaf != nullptr) {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
    keyed = md && EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr) == 1 &&
            add_certificate(md.get(), leaf);
    if (auto t = not_after(leaf)) until = std::min(until, *t);
    for (int i = 0; keyed && sent != nullptr && i < sk_X509_num(sent); ++i) {
      X509* c = sk_X509_value(sent, i);
      keyed = add_certificate(md.get(), c);
      if (auto t = not_after(c)) until = std::min(until, *t);
    }
    // The name is part of what was verified; a separator keeps host and
    // address apart.
    const std::string name = std::string(host ? host : "") + '\0' + (ip ? ip.get() : "");
    unsigned int len = 0;
    keyed = keyed && EVP_DigestUpdate(md.get(), name.data(), name.size()) == 1 &&
            EVP_DigestFinal_ex(md.get(), key.data(), &len) == 1 && len == key.size();
  }

  if (keyed) {
    std::lock_guard lock(mu_);
    if (auto it = verified_until_.find(key); it != verified_until_.end()) {
      if (Clock::now() < it->second) {
        ++hits_;
        return 1;
      }
      verified_until_.erase(it);
    }
  }

  const int ok = X509_verify_cert(store_ctx);
  // The probe's verify callback lets every error through (to describe the
  // certificate); the context's error is then the last one it saw.
  if (keyed && ok == 1 && X509_STORE_CTX_get_error(store_ctx) == X509_V_OK &&
      Clock::now() < until) {
    std::lock_guard lock(mu_);
    if (verified_until_.size() >= kMaxEntries) verified_until_.clear();
    verified_until_[key] = until;
  }
  return ok;
}

std::size_t VerifyCache::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}

std::size_t VerifyCache::size() const {
  std::lock_guard lock(mu_);
  return verified_until_.size();
}

}  // namespace imapprobe::probe
