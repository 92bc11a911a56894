// RFC 7523 client assertions checked from the outside: keys and
// certificates made here with OpenSSL, the JWT taken apart, every header
// field and claim compared with an independent computation, and the
// signature verified with the certificate's public key.
#include "oauth/client_assertion.hpp"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "encoding/base64.hpp"

namespace imapprobe::oauth {
namespace {

using json = nlohmann::json;

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG_free>>;

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

struct TestCredential {
  PkeyPtr key;
  X509Ptr cert;
  std::string cert_pem;
  std::string key_pem;
};

PkeyPtr rsa_key(unsigned bits) {
  return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(bits)));
}
PkeyPtr ec_key(const char* curve) {
  return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
}

std::string key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  EXPECT_EQ(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  return bio_text(bio.get());
}

// A self-signed certificate for `key`, as `openssl req -x509` would make.
TestCredential make_credential(PkeyPtr key) {
  EXPECT_TRUE(key);
  TestCredential c;
  c.cert.reset(X509_new());
  X509* x = c.cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 4711);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
  X509_set_pubkey(x, key.get());
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("imapprobe test client"), -1,
                             -1, 0);
  X509_set_issuer_name(x, name);
  EXPECT_GT(X509_sign(x, key.get(), EVP_sha256()), 0);
  BioPtr bio(BIO_new(BIO_s_mem()));
  EXPECT_EQ(PEM_write_bio_X509(bio.get(), x), 1);
  c.cert_pem = bio_text(bio.get());
  c.key_pem = key_pem(key.get());
  c.key = std::move(key);
  return c;
}

// Keys are slow to make (RSA most of all, under ASan more so): once per run.
const TestCredential& rsa() {
  static const TestCredential c = make_credential(rsa_key(2048));
  return c;
}
const TestCredential& ec() {
  static const TestCredential c = make_credential(ec_key("P-256"));
  return c;
}

std::string digest_b64url(const X509* cert, const EVP_MD* md) {
  // Over i2d's DER, not X509_digest: an independent path to the same bytes.
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  EXPECT_GT(len, 0);
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int out_len = 0;
  EXPECT_EQ(EVP_Digest(der, static_cast<std::size_t>(len), out.data(), &out_len, md, nullptr), 1);
  OPENSSL_free(der);
  return encoding::base64url_encode(
      std::string_view(reinterpret_cast<const char*>(out.data()), out_len));
}

struct Jwt {
  std::string signing_input;
  json header;
  json claims;
  std::string signature;
};

Jwt split(const std::string& jwt) {
  const auto a = jwt.find('.');
  const auto b = jwt.find('.', a + 1);
  EXPECT_NE(a, std::string::npos);
  EXPECT_NE(b, std::string::npos);
  EXPECT_EQ(jwt.find('.', b + 1), std::string::npos) << "three segments";
  EXPECT_EQ(jwt.find_first_of("=+/ "), std::string::npos) << "base64url without padding";
  Jwt out;
  out.signing_input = jwt.substr(0, b);
  out.header = json::parse(encoding::base64url_decode(jwt.substr(0, a)));
  out.claims = json::parse(encoding::base64url_decode(jwt.substr(a + 1, b - a - 1)));
  out.signature = encoding::base64url_decode(jwt.substr(b + 1));
  return out;
}

bool verify(EVP_PKEY* pub, const std::string& input, const std::string& der_signature) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  return EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pub) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(der_signature.data()),
                          der_signature.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

// JOSE r||s back to the DER OpenSSL verifies.
std::string raw_to_der(const std::string& raw) {
  EXPECT_EQ(raw.size(), 64u);
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  EcdsaSigPtr sig(ECDSA_SIG_new());
  ECDSA_SIG_set0(sig.get(), BN_bin2bn(p, 32, nullptr), BN_bin2bn(p + 32, 32, nullptr));
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string bn_b64url(const EVP_PKEY* key, const char* param, int pad = 0) {
  BIGNUM* raw = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, param, &raw), 1);
  BnPtr bn(raw);
  std::vector<unsigned char> bytes(static_cast<std::size_t>(pad > 0 ? pad : BN_num_bytes(raw)));
  BN_bn2binpad(raw, bytes.data(), static_cast<int>(bytes.size()));
  return encoding::base64url_encode(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1'715'678'400));
constexpr std::string_view kTokenUrl = "https://login.microsoftonline.com/tenant/oauth2/v2.0/token";
constexpr std::string_view kClientId = "11111111-2222-3333-4444-555555555555";

void expect_claims(const json& claims) {
  EXPECT_EQ(claims.size(), 7u) << claims.dump();
  EXPECT_EQ(claims.at("aud"), kTokenUrl);
  EXPECT_EQ(claims.at("iss"), kClientId);
  EXPECT_EQ(claims.at("sub"), kClientId);
  EXPECT_EQ(claims.at("iat"), 1'715'678'400);
  EXPECT_EQ(claims.at("nbf"), 1'715'678'400);
  EXPECT_EQ(claims.at("exp"), 1'715'678'700);
  const std::string jti = claims.at("jti").get<std::string>();
  EXPECT_EQ(jti.size(), 32u) << jti;
  EXPECT_EQ(jti.find_first_not_of("0123456789abcdef"), std::string::npos) << jti;
}

TEST(ClientAssertion, Rs256HeaderClaimsAndSignature) {
  const auto& c = rsa();
  const Jwt jwt = split(client_assertion(kClientId, kTokenUrl, c.cert_pem, c.key_pem, kNow));
  const std::string s256 = digest_b64url(c.cert.get(), EVP_sha256());
  EXPECT_EQ(jwt.header, json({{"alg", "RS256"},
                              {"typ", "JWT"},
                              {"x5t", digest_b64url(c.cert.get(), EVP_sha1())},
                              {"x5t#S256", s256},
                              {"kid", s256}}));
  EXPECT_EQ(jwt.header.at("x5t").get<std::string>().size(), 27u) << "20 bytes";
  EXPECT_EQ(s256.size(), 43u) << "32 bytes";
  expect_claims(jwt.claims);
  EXPECT_EQ(jwt.signature.size(), 256u);
  EXPECT_TRUE(verify(X509_get0_pubkey(c.cert.get()), jwt.signing_input, jwt.signature));
  EXPECT_FALSE(verify(X509_get0_pubkey(c.cert.get()), jwt.signing_input + "x", jwt.signature));
}

TEST(ClientAssertion, Es256SignatureIsRawRAndS) {
  const auto& c = ec();
  const Jwt jwt =
      split(client_assertion(kClientId, kTokenUrl, c.cert_pem, c.key_pem, kNow, "my-key-1"));
  EXPECT_EQ(jwt.header.at("alg"), "ES256");
  EXPECT_EQ(jwt.header.at("kid"), "my-key-1");
  EXPECT_EQ(jwt.header.at("x5t#S256"), digest_b64url(c.cert.get(), EVP_sha256()));
  EXPECT_EQ(jwt.header.at("x5t"), digest_b64url(c.cert.get(), EVP_sha1()));
  expect_claims(jwt.claims);
  ASSERT_EQ(jwt.signature.size(), 64u) << "JOSE r||s, not DER";
  EXPECT_TRUE(verify(X509_get0_pubkey(c.cert.get()), jwt.signing_input, raw_to_der(jwt.signature)));
  EXPECT_FALSE(
      verify(X509_get0_pubkey(c.cert.get()), jwt.signing_input + "x", raw_to_der(jwt.signature)));
}

TEST(ClientAssertion, EachAssertionHasItsOwnJti) {
  const auto& c = ec();
  const auto a = split(client_assertion(kClientId, kTokenUrl, c.cert_pem, c.key_pem, kNow));
  const auto b = split(client_assertion(kClientId, kTokenUrl, c.cert_pem, c.key_pem, kNow));
  EXPECT_NE(a.claims.at("jti"), b.claims.at("jti"));
}

TEST(ClientAssertion, MismatchedKeyIsRefused) {
  const auto& c = rsa();
  const auto& other = ec();
  EXPECT_EQ(check_client_certificate(c.cert_pem, c.key_pem), std::nullopt);
  EXPECT_EQ(check_client_certificate(ec().cert_pem, ec().key_pem), std::nullopt);
  const std::string other_rsa = key_pem(rsa_key(2048).get());
  EXPECT_EQ(check_client_certificate(c.cert_pem, other_rsa),
            "private key does not match the certificate");
  EXPECT_EQ(check_client_certificate(c.cert_pem, other.key_pem),
            "private key does not match the certificate");
  try {
    client_assertion(kClientId, kTokenUrl, c.cert_pem, other_rsa, kNow);
    FAIL() << "signed with the wrong key";
  } catch (const ClientCertificateError& e) {
    EXPECT_STREQ(e.what(), "private key does not match the certificate");
  }
}

TEST(ClientAssertion, ProblemsAreNamedWithoutKeyMaterial) {
  const auto& c = rsa();
  const std::string key_body = c.key_pem.substr(40, 40);  // from the base64 inside
  const auto problem = [&](std::string_view cert, std::string_view key) {
    const auto m = check_client_certificate(cert, key);
    EXPECT_TRUE(m);
    if (!m) return std::string{};
    EXPECT_EQ(m->find(key_body), std::string::npos) << *m;
    EXPECT_EQ(m->find("MII"), std::string::npos) << *m;
    return *m;
  };
  EXPECT_EQ(problem("", c.key_pem), "certificate is empty");
  EXPECT_EQ(problem("not a certificate", c.key_pem), "certificate is not PEM");
  EXPECT_EQ(problem(c.key_pem, c.key_pem),
            "certificate is not PEM: expected a CERTIFICATE block, found PRIVATE KEY");
  EXPECT_EQ(problem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", c.key_pem),
            "certificate PEM does not parse as an X.509 certificate");
  EXPECT_EQ(problem(c.cert_pem, ""), "private key is empty");
  EXPECT_EQ(problem(c.cert_pem, c.cert_pem),
            "private key is not PEM: expected a PRIVATE KEY block, found CERTIFICATE");
  std::string corrupt = c.key_pem;
  corrupt[100] = corrupt[100] == 'A' ? 'B' : 'A';
  corrupt.erase(200, 100);
  EXPECT_EQ(problem(c.cert_pem, corrupt), "private key PEM does not parse");

  // An encrypted key (PKCS #8) cannot be used: there is no one to ask.
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), c.key.get(), EVP_aes_256_cbc(), nullptr, 0,
                                          nullptr, const_cast<char*>("pass")),
            1);
  EXPECT_EQ(problem(c.cert_pem, bio_text(bio.get())),
            "private key is encrypted (give it without a passphrase)");
}

TEST(ClientAssertion, UnsupportedKeysAreRefused) {
  const auto short_rsa = make_credential(rsa_key(1024));
  EXPECT_EQ(check_client_certificate(short_rsa.cert_pem, short_rsa.key_pem),
            "the certificate's key is an RSA key of 1024 bits; at least 2048 are needed");
  const auto p384 = make_credential(ec_key("P-384"));
  EXPECT_EQ(check_client_certificate(p384.cert_pem, p384.key_pem),
            "the certificate's key is an EC key on curve secp384r1 (P-256 only, for ES256)");
  EXPECT_THROW(public_jwk(p384.cert_pem, "k"), ClientCertificateError);
  EXPECT_THROW(client_assertion(kClientId, kTokenUrl, p384.cert_pem, p384.key_pem, kNow),
               ClientCertificateError);
  EXPECT_THROW(client_assertion("", kTokenUrl, rsa().cert_pem, rsa().key_pem, kNow),
               std::invalid_argument);
  EXPECT_THROW(client_assertion(kClientId, "", rsa().cert_pem, rsa().key_pem, kNow),
               std::invalid_argument);
}

TEST(PublicJwk, RsaRoundTrip) {
  const auto& c = rsa();
  const json jwk = json::parse(public_jwk(c.cert_pem, "probe-2024"));
  EXPECT_EQ(jwk.at("kty"), "RSA");
  EXPECT_EQ(jwk.at("alg"), "RS256");
  EXPECT_EQ(jwk.at("use"), "sig");
  EXPECT_EQ(jwk.at("kid"), "probe-2024");
  EXPECT_EQ(jwk.at("n"), bn_b64url(c.key.get(), OSSL_PKEY_PARAM_RSA_N));
  EXPECT_EQ(jwk.at("e"), "AQAB") << "65537";
  EXPECT_EQ(encoding::base64url_decode(jwk.at("n").get<std::string>()).size(), 256u);
  EXPECT_EQ(jwk.size(), 6u) << jwk.dump();
  // Default kid: the same as the assertion's.
  EXPECT_EQ(json::parse(public_jwk(c.cert_pem)).at("kid"),
            digest_b64url(c.cert.get(), EVP_sha256()));

  // The JWK is enough to verify an assertion: rebuild the key from n and e.
  const std::string n = encoding::base64url_decode(jwk.at("n").get<std::string>());
  const std::string e = encoding::base64url_decode(jwk.at("e").get<std::string>());
  BnPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()),
                       nullptr));
  BnPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()),
                       nullptr));
  std::vector<unsigned char> n_le(n.size()), e_le(e.size());
  BN_bn2lebinpad(bn_n.get(), n_le.data(), static_cast<int>(n_le.size()));
  BN_bn2lebinpad(bn_e.get(), e_le.data(), static_cast<int>(e_le.size()));
  OSSL_PARAM params[] = {OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_N, n_le.data(), n_le.size()),
                         OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_E, e_le.data(), e_le.size()),
                         OSSL_PARAM_construct_end()};
  std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  ASSERT_EQ(EVP_PKEY_fromdata_init(ctx.get()), 1);
  ASSERT_EQ(EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params), 1);
  PkeyPtr rebuilt(raw);
  EXPECT_EQ(EVP_PKEY_eq(rebuilt.get(), c.key.get()), 1);
  const Jwt jwt = split(client_assertion(kClientId, kTokenUrl, c.cert_pem, c.key_pem, kNow));
  EXPECT_TRUE(verify(rebuilt.get(), jwt.signing_input, jwt.signature));
}

TEST(PublicJwk, EcRoundTrip) {
  const auto& c = ec();
  const json jwk = json::parse(public_jwk(c.cert_pem, "ec-1"));
  EXPECT_EQ(jwk.at("kty"), "EC");
  EXPECT_EQ(jwk.at("crv"), "P-256");
  EXPECT_EQ(jwk.at("alg"), "ES256");
  EXPECT_EQ(jwk.at("use"), "sig");
  EXPECT_EQ(jwk.at("kid"), "ec-1");
  EXPECT_EQ(jwk.at("x"), bn_b64url(c.key.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32));
  EXPECT_EQ(jwk.at("y"), bn_b64url(c.key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32));
  EXPECT_EQ(encoding::base64url_decode(jwk.at("x").get<std::string>()).size(), 32u);
  EXPECT_EQ(jwk.size(), 7u) << jwk.dump();
  // x and y are the uncompressed point 04||x||y the key encodes.
  std::array<unsigned char, 65> point{};
  std::size_t len = 0;
  ASSERT_EQ(EVP_PKEY_get_octet_string_param(c.key.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                            point.size(), &len),
            1);
  ASSERT_EQ(len, 65u);
  EXPECT_EQ(point[0], 0x04);
  EXPECT_EQ(encoding::base64url_decode(jwk.at("x").get<std::string>()),
            std::string(reinterpret_cast<const char*>(point.data() + 1), 32));
  EXPECT_EQ(encoding::base64url_decode(jwk.at("y").get<std::string>()),
            std::string(reinterpret_cast<const char*>(point.data() + 33), 32));
}

}  // namespace
}  // namespace imapprobe::oauth
