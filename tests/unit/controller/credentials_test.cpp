// Credential resolution: which answers stall a probe, which only mean the
// API server is unwell, and that no Secret bytes reach a message.
#include "controller/credentials.hpp"

#include <gtest/gtest.h>

#include "controller/reasons.hpp"
#include "encoding/base64.hpp"
#include "unit/controller/fake_cluster.hpp"

namespace imapprobe::controller {
namespace {
using testing::FakeCluster;

// A real self-signed CA certificate (P-256, CN=test-ca).
constexpr const char* kCaPem = R"(-----BEGIN CERTIFICATE-----
MIIBeTCCAR+gAwIBAgIUQmqaRJvIYHDGpryWSw8+DeeCoJkwCgYIKoZIzj0EAwIw
EjEQMA4GA1UEAwwHdGVzdC1jYTAeFw0yNjEyMDExNTA0NDdaFw0zNjExMjgxNTA0
NDdaMBIxEDAOBgNVBAMMB3Rlc3QtY2EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AATKJXtmPfhpBsB+gf1KCI7t5xxkAphXICXua4TbllxIAE3TCz+SSV23aKEatvsO
GyPqanjbVmhoyFUgBD8m5gN4o1MwUTAdBgNVHQ4EFgQUHSqjxfeIVVjNEkXH9EyZ
hzBtMnEwHwYDVR0jBBgwFoAUHSqjxfeIVVjNEkXH9EyZhzBtMnEwDwYDVR0TAQH/
BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEAiqTachW05s4aeJfV7G59SURb0GRw
iCIgLeMZ/bJP6roCIAtMEVgDVd9Widt3ifwubwc8bUjmIab7inSljl+xlmDo
-----END CERTIFICATE-----
)";

ProbeDefinition definition(bool with_ca = false) {
  ProbeDefinition d;
  d.username = SecretKeyRef{"creds", "username"};
  d.password = SecretKeyRef{"creds", "password"};
  if (with_ca) d.ca_bundle = SecretKeyRef{"ca", "ca.crt"};
  return d;
}

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster.secrets["mail/creds"] = {{"username", "probe"}, {"password", "hunter2"}};
    cluster.secrets["mail/ca"] = {{"ca.crt", kCaPem}};
  }
  FakeCluster cluster;
};

TEST_F(CredentialsTest, ResolvesWithOneReadPerSecret) {
  auto r = resolve_credentials(definition(true), "mail", cluster);
  ASSERT_TRUE(std::holds_alternative<ResolvedCredentials>(r));
  const auto& c = std::get<ResolvedCredentials>(r);
  EXPECT_EQ(c.credentials.username, "probe");
  EXPECT_EQ(c.credentials.secret, "hunter2");
  EXPECT_EQ(c.ca_pem, kCaPem);
  EXPECT_EQ(cluster.secret_reads, 2);
  // Kept per probe for API outages: no room for SMTP or OAuth secrets it has not.
  EXPECT_FALSE(c.credentials.extra.is_set());
}

TEST_F(CredentialsTest, InMemoryResolvesOnlyWhatNeedsNoRequest) {
  // Nothing cached: a request is needed, and none is made.
  EXPECT_FALSE(resolve_credentials_in_memory(definition(true), "mail", cluster).has_value());
  EXPECT_EQ(cluster.secret_reads, 0);
  // One of two Secrets cached: still a request.
  cluster.cached["mail/creds"] = cluster.secrets["mail/creds"];
  EXPECT_FALSE(resolve_credentials_in_memory(definition(true), "mail", cluster).has_value());
  // Both: resolved, as resolve_credentials would.
  cluster.cached["mail/ca"] = cluster.secrets["mail/ca"];
  auto r = resolve_credentials_in_memory(definition(true), "mail", cluster);
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(std::holds_alternative<ResolvedCredentials>(*r));
  EXPECT_EQ(std::get<ResolvedCredentials>(*r).credentials.secret, "hunter2");
  EXPECT_EQ(std::get<ResolvedCredentials>(*r).ca_pem, kCaPem);
  // A key the cached Secret lacks is the same Stall.
  cluster.cached["mail/creds"].erase("password");
  r = resolve_credentials_in_memory(definition(true), "mail", cluster);
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(std::holds_alternative<CredentialStall>(*r));
  EXPECT_STREQ(std::get<CredentialStall>(*r).reason.c_str(), reasons::kSecretKeyMissing);
  // A probe that names no Secret needs nothing.
  ProbeDefinition none;
  r = resolve_credentials_in_memory(none, "mail", cluster);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(std::holds_alternative<ResolvedCredentials>(*r));
  EXPECT_EQ(cluster.secret_reads, 0) << "no GET from the in-memory path";
}

TEST_F(CredentialsTest, WhatTheUserMustFixStalls) {
  cluster.secrets["mail/creds"].erase("password");
  auto r = resolve_credentials(definition(), "mail", cluster);
  ASSERT_TRUE(std::holds_alternative<CredentialStall>(r));
  EXPECT_STREQ(std::get<CredentialStall>(r).reason.c_str(), reasons::kSecretKeyMissing);

  cluster.secrets.erase("mail/creds");
  r = resolve_credentials(definition(), "mail", cluster);
  ASSERT_TRUE(std::holds_alternative<CredentialStall>(r));
  EXPECT_STREQ(std::get<CredentialStall>(r).reason.c_str(), reasons::kSecretNotFound);

  cluster.on_get_secret = [] { throw ClusterApiError(403, "secrets \"creds\" is forbidden"); };
  r = resolve_credentials(definition(), "mail", cluster);
  ASSERT_TRUE(std::holds_alternative<CredentialStall>(r));
  EXPECT_STREQ(std::get<CredentialStall>(r).reason.c_str(), reasons::kSecretUnreadable);
}

// Defect: an API server outage was reported as SecretUnreadable (Stalled).
TEST_F(CredentialsTest, AnUnwellApiServerIsNotAStall) {
  for (int status : {0, 429, 500, 503, 504}) {
    cluster.on_get_secret = [status] { throw ClusterApiError(status, "unwell"); };
    auto r = resolve_credentials(definition(), "mail", cluster);
    EXPECT_TRUE(std::holds_alternative<ApiUnavailable>(r)) << status;
  }
  cluster.on_get_secret = [] { throw std::runtime_error("client bug"); };
  EXPECT_TRUE(
      std::holds_alternative<ApiUnavailable>(resolve_credentials(definition(), "mail", cluster)));
}

// Defect: a CA bundle that is not PEM was a TLS outage at run time.
TEST_F(CredentialsTest, ACaBundleThatIsNotPemStallsAsInvalidCABundle) {
  cluster.secrets["mail/ca"] = {{"ca.crt", "not a certificate at all"}};
  auto r = resolve_credentials(definition(true), "mail", cluster);
  ASSERT_TRUE(std::holds_alternative<CredentialStall>(r));
  const auto& s = std::get<CredentialStall>(r);
  EXPECT_STREQ(s.reason.c_str(), reasons::kInvalidCABundle);
  EXPECT_NE(s.message.find("Secret mail/ca key \"ca.crt\""), std::string::npos) << s.message;
  EXPECT_EQ(s.message.find("not a certificate"), std::string::npos) << s.message;
}

// Defect: the decoder quoted Secret bytes in its error, which reached status.
TEST_F(CredentialsTest, MalformedSecretDataIsNamedNeverQuoted) {
  const nlohmann::json secret = {
      {"data", {{"username", encoding::base64_encode("probe")}, {"password", "hunter2%%secret"}}}};
  try {
    decode_secret_data("mail", "creds", secret);
    FAIL() << "accepted";
  } catch (const InvalidSecretData& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("Secret mail/creds key \"password\""), std::string::npos) << what;
    EXPECT_EQ(what.find("hunter2"), std::string::npos) << what;
  }
  cluster.on_get_secret = [&] { decode_secret_data("mail", "creds", secret); };
  auto r = resolve_credentials(definition(), "mail", cluster);
  ASSERT_TRUE(std::holds_alternative<CredentialStall>(r));
  EXPECT_STREQ(std::get<CredentialStall>(r).reason.c_str(), reasons::kInvalidSecretData);
  EXPECT_EQ(std::get<CredentialStall>(r).message.find("hunter2"), std::string::npos);
}

TEST(SecretData, DecodesDataAndStringData) {
  const nlohmann::json secret = {{"data", {{"a", encoding::base64_encode("x\ny")}}},
                                 {"stringData", {{"b", "plain"}}}};
  const auto d = decode_secret_data("ns", "s", secret);
  EXPECT_EQ(d.at("a"), "x\ny");
  EXPECT_EQ(d.at("b"), "plain");
}

}  // namespace
}  // namespace imapprobe::controller

namespace imapprobe::controller {
namespace {

ProbeDefinition oauth_definition() {
  ProbeDefinition d;
  d.username = SecretKeyRef{"creds", "username"};
  auto refs = std::make_shared<OAuth2SecretRefs>();
  refs->client_secret = SecretKeyRef{"app", "client-secret"};
  refs->refresh_token = SecretKeyRef{"app", "refresh-token"};
  d.oauth2 = refs;
  return d;
}

TEST(OAuth2Credentials, TheClientSecretAndRefreshTokenAreReadNotAPassword) {
  testing::FakeCluster cluster;
  cluster.secrets["mail/creds"] = {{"username", "monitor@example.test"}};
  cluster.secrets["mail/app"] = {{"client-secret", "cs-1"}, {"refresh-token", "rt-1"}};
  auto r = resolve_credentials(oauth_definition(), "mail", cluster);
  ASSERT_TRUE(std::holds_alternative<ResolvedCredentials>(r));
  const auto& c = std::get<ResolvedCredentials>(r).credentials;
  EXPECT_EQ(c.username, "monitor@example.test");
  EXPECT_EQ(c.secret, "");
  EXPECT_EQ(c.extra->oauth_client_secret, "cs-1");
  EXPECT_EQ(c.extra->oauth_refresh_token, "rt-1");

  cluster.secrets["mail/app"].erase("refresh-token");
  r = resolve_credentials(oauth_definition(), "mail", cluster);
  ASSERT_TRUE(std::holds_alternative<CredentialStall>(r));
  EXPECT_STREQ(std::get<CredentialStall>(r).reason.c_str(), reasons::kSecretKeyMissing);
  EXPECT_NE(std::get<CredentialStall>(r).message.find("refresh token"), std::string::npos);
}

TEST(OAuth2Credentials, AClientCertificateThatIsNotPemStallsWithoutQuotingTheKey) {
  testing::FakeCluster cluster;
  cluster.secrets["mail/creds"] = {{"username", "monitor@example.test"}};
  cluster.secrets["mail/cert"] = {{"tls.crt", kCaPem}, {"tls.key", "not-a-key-but-a-s3cret-value"}};
  ProbeDefinition d = oauth_definition();
  auto refs = std::make_shared<OAuth2SecretRefs>();
  refs->client_certificate = SecretKeyRef{"cert", "tls.crt"};
  refs->client_key = SecretKeyRef{"cert", "tls.key"};
  d.oauth2 = refs;
  auto r = resolve_credentials(d, "mail", cluster);
  ASSERT_TRUE(std::holds_alternative<CredentialStall>(r));
  const auto& stall = std::get<CredentialStall>(r);
  EXPECT_STREQ(stall.reason.c_str(), reasons::kInvalidClientCertificate);
  EXPECT_NE(stall.message.find("Secret mail/cert"), std::string::npos) << stall.message;
  EXPECT_EQ(stall.message.find("s3cret"), std::string::npos) << stall.message;
}

}  // namespace
}  // namespace imapprobe::controller
