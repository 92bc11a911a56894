#include "oauth/client_assertion.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <array>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "encoding/base64.hpp"

namespace imapprobe::oauth {
namespace {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG_free>>;

constexpr int kMinRsaBits = 2048;  // Entra ID's minimum, and NIST's
constexpr std::chrono::seconds kLifetime{300};

enum class Alg { RS256, ES256 };

struct Credential {
  X509Ptr cert;
  PkeyPtr key;  // null when only the certificate was loaded
  Alg alg = Alg::RS256;
};

// OpenSSL reports failures on a per-thread queue; one left behind would be
// read by the next unrelated call (an SSL_get_error in the TLS code).
struct ClearErrors {
  ~ClearErrors() { ERR_clear_error(); }
};

// No prompt on a terminal for an encrypted key: the operator has none.
int no_passphrase(char*, int, int, void*) { return -1; }

[[noreturn]] void fail(const std::string& what) { throw ClientCertificateError(what); }

BioPtr memory_bio(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) fail("out of memory reading PEM");
  return bio;
}

// The label of the first PEM block ("CERTIFICATE", "PRIVATE KEY"), empty
// when there is none. A label is not key material.
std::string pem_label(std::string_view pem) {
  constexpr std::string_view kBegin = "-----BEGIN ";
  const auto at = pem.find(kBegin);
  if (at == std::string_view::npos) return {};
  const auto start = at + kBegin.size();
  const auto end = pem.find("-----", start);
  if (end == std::string_view::npos || end - start > 40) return {};
  std::string label(pem.substr(start, end - start));
  for (const char c : label) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ')) return {};
  }
  return label;
}

X509Ptr load_certificate(std::string_view pem) {
  if (pem.empty()) fail("certificate is empty");
  const std::string label = pem_label(pem);
  if (label.empty()) fail("certificate is not PEM");
  if (label != "CERTIFICATE" && label != "TRUSTED CERTIFICATE" && label != "X509 CERTIFICATE") {
    fail("certificate is not PEM: expected a CERTIFICATE block, found " + label);
  }
  auto bio = memory_bio(pem);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
  if (!cert) fail("certificate PEM does not parse as an X.509 certificate");
  return cert;
}

PkeyPtr load_private_key(std::string_view pem) {
  if (pem.empty()) fail("private key is empty");
  const std::string label = pem_label(pem);
  if (label.empty()) fail("private key is not PEM");
  if (label == "ENCRYPTED PRIVATE KEY" ||
      pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos) {
    fail("private key is encrypted (give it without a passphrase)");
  }
  if (label.find("PRIVATE KEY") == std::string::npos) {
    fail("private key is not PEM: expected a PRIVATE KEY block, found " + label);
  }
  auto bio = memory_bio(pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) fail("private key PEM does not parse");
  return key;
}

// Which JWS algorithm the key can sign with, or the reason it cannot.
Alg algorithm_for(const EVP_PKEY* key, std::string_view whose) {
  if (EVP_PKEY_is_a(key, "RSA")) {
    const int bits = EVP_PKEY_get_bits(key);
    if (bits < kMinRsaBits) {
      fail(std::string(whose) + " is an RSA key of " + std::to_string(bits) + " bits; at least " +
           std::to_string(kMinRsaBits) + " are needed");
    }
    return Alg::RS256;
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    std::array<char, 64> group{};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(),
                                       &len) != 1) {
      fail(std::string(whose) + " is an EC key on an unnamed curve (P-256 only)");
    }
    const std::string name(group.data(), len);
    if (name != "prime256v1" && name != "P-256" && name != "secp256r1") {
      fail(std::string(whose) + " is an EC key on curve " + name + " (P-256 only, for ES256)");
    }
    return Alg::ES256;
  }
  const char* type = EVP_PKEY_get0_type_name(key);
  fail(std::string(whose) + " has an unsupported key type " + (type ? type : "(unknown)") +
       " (RSA of at least 2048 bits, or EC P-256)");
}

Credential load(std::string_view certificate_pem, std::string_view private_key_pem) {
  ClearErrors clear;
  Credential c;
  c.cert = load_certificate(certificate_pem);
  c.key = load_private_key(private_key_pem);
  const EVP_PKEY* pub = X509_get0_pubkey(c.cert.get());
  if (pub == nullptr) fail("certificate has no public key OpenSSL can read");
  c.alg = algorithm_for(pub, "the certificate's key");
  algorithm_for(c.key.get(), "the private key");
  if (EVP_PKEY_eq(pub, c.key.get()) != 1) fail("private key does not match the certificate");
  return c;
}

std::string certificate_digest(const X509* cert, const EVP_MD* md) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  if (X509_digest(cert, md, out.data(), &len) != 1) fail("certificate digest failed");
  return encoding::base64url_encode(
      std::string_view(reinterpret_cast<const char*>(out.data()), len));
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    fail("no random bytes for the assertion's jti");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char b : raw) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string sign(const Credential& c, std::string_view input) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t len = 0;
  // RSA keys sign with PKCS #1 v1.5 by default: RS256 (RFC 7518 3.3).
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, c.key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    fail("signing the client assertion failed");
  }
  std::vector<unsigned char> sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    fail("signing the client assertion failed");
  }
  sig.resize(len);
  if (c.alg == Alg::RS256) return std::string(sig.begin(), sig.end());

  // OpenSSL writes ECDSA-Sig-Value DER; JWS wants r and s as two 32-byte
  // big-endian integers (RFC 7518 3.4).
  const unsigned char* p = sig.data();
  EcdsaSigPtr ecdsa(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
  if (!ecdsa) fail("signing the client assertion failed (ECDSA signature does not parse)");
  std::array<unsigned char, 64> raw{};
  if (BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa.get()), raw.data(), 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa.get()), raw.data() + 32, 32) != 32) {
    fail("signing the client assertion failed (ECDSA value out of range)");
  }
  return std::string(raw.begin(), raw.end());
}

std::string bn_param(const EVP_PKEY* key, const char* name, int pad_to = 0) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) fail(std::string("public key has no ") + name);
  BnPtr bn(raw);
  // JWK integers are unsigned big-endian without leading zeros (RFC 7518
  // 6.3.1.1), except EC coordinates, which have the curve's full size.
  const int len = pad_to > 0 ? pad_to : BN_num_bytes(bn.get());
  std::string out(static_cast<std::size_t>(len), '\0');
  if (BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), len) != len) {
    fail(std::string("public key ") + name + " does not fit");
  }
  return encoding::base64url_encode(out);
}

std::string b64url_json(const nlohmann::ordered_json& j) {
  return encoding::base64url_encode(j.dump());
}

}  // namespace

std::string client_assertion(std::string_view client_id, std::string_view token_url,
                             std::string_view certificate_pem, std::string_view private_key_pem,
                             std::chrono::system_clock::time_point now, std::string_view kid) {
  if (client_id.empty()) throw std::invalid_argument("client assertion: client_id is empty");
  if (token_url.empty()) throw std::invalid_argument("client assertion: token URL is empty");
  ClearErrors clear;
  const Credential c = load(certificate_pem, private_key_pem);

  const std::string s256 = certificate_digest(c.cert.get(), EVP_sha256());
  nlohmann::ordered_json header;
  header["alg"] = c.alg == Alg::RS256 ? "RS256" : "ES256";
  header["typ"] = "JWT";
  header["x5t"] = certificate_digest(c.cert.get(), EVP_sha1());
  header["x5t#S256"] = s256;
  header["kid"] = kid.empty() ? s256 : std::string(kid);

  const auto iat = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  nlohmann::ordered_json claims;
  claims["aud"] = std::string(token_url);
  claims["iss"] = std::string(client_id);
  claims["sub"] = std::string(client_id);
  claims["jti"] = random_hex(16);
  claims["iat"] = iat;
  claims["nbf"] = iat;
  claims["exp"] = iat + kLifetime.count();

  const std::string input = b64url_json(header) + "." + b64url_json(claims);
  return input + "." + encoding::base64url_encode(sign(c, input));
}

std::optional<std::string> check_client_certificate(std::string_view certificate_pem,
                                                    std::string_view private_key_pem) {
  try {
    load(certificate_pem, private_key_pem);
    return std::nullopt;
  } catch (const ClientCertificateError& e) {
    return std::string(e.what());
  }
}

std::string public_jwk(std::string_view certificate_pem, std::string_view kid) {
  ClearErrors clear;
  const X509Ptr cert = load_certificate(certificate_pem);
  const EVP_PKEY* pub = X509_get0_pubkey(cert.get());
  if (pub == nullptr) fail("certificate has no public key OpenSSL can read");
  const Alg alg = algorithm_for(pub, "the certificate's key");
  nlohmann::ordered_json jwk;
  if (alg == Alg::RS256) {
    jwk["kty"] = "RSA";
    jwk["n"] = bn_param(pub, OSSL_PKEY_PARAM_RSA_N);
    jwk["e"] = bn_param(pub, OSSL_PKEY_PARAM_RSA_E);
  } else {
    jwk["kty"] = "EC";
    jwk["crv"] = "P-256";
    jwk["x"] = bn_param(pub, OSSL_PKEY_PARAM_EC_PUB_X, 32);
    jwk["y"] = bn_param(pub, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
  }
  jwk["kid"] = kid.empty() ? certificate_digest(cert.get(), EVP_sha256()) : std::string(kid);
  jwk["alg"] = alg == Alg::RS256 ? "RS256" : "ES256";
  jwk["use"] = "sig";
  return jwk.dump();
}

}  // namespace imapprobe::oauth
