// auth.oauth2 against real servers started by the test: ORY Hydra issues
// the tokens (client credentials, refresh tokens from a real authorization
// code flow, private_key_jwt), and Dovecot checks each login's token by
// introspection at Hydra. One Prober runs the cases that need a token kept
// between runs, as the operator does.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <thread>

#include "oauth/client_assertion.hpp"
#include "probe/prober.hpp"
#include "support/dovecot.hpp"
#include "support/hydra.hpp"

namespace imapprobe::probe {
namespace {

using testing::Dovecot;
using testing::Hydra;
using namespace std::chrono_literals;

constexpr const char* kClient = "oauth";  // the Dovecot user the tokens log in as
constexpr const char* kSecret = "hydra-client-secret-1";

// Runs probes one after another on one Prober, so tokens persist between runs.
class Runner {
 public:
  ProbeResult run(const ProbeSpec& spec, const Credentials& creds) {
    std::optional<ProbeResult> out;
    std::exception_ptr error;
    boost::asio::co_spawn(io_, prober_.run(spec, creds), [&](std::exception_ptr e, ProbeResult r) {
      error = e;
      if (!e) out = std::move(r);
    });
    io_.restart();
    io_.run();
    if (error) std::rethrow_exception(error);
    return std::move(*out);
  }

 private:
  boost::asio::io_context io_;
  Prober prober_{io_.get_executor()};
};

class OAuthHydraTest : public ::testing::Test {
 protected:
  // The token endpoint speaks HTTPS with a certificate of its own (for
  // 127.0.0.1), trusted through the probe's CA bundle as a private CA would
  // be; Dovecot introspects over Hydra's plain-HTTP admin port.
  static void SetUpTestSuite() {
    tls_dir_ = std::filesystem::temp_directory_path() /
               ("imapprobe-hydra-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(tls_dir_);
    std::string out;
    ASSERT_EQ(testing::run_command(
                  "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
                  "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
                      (tls_dir_ / "key.pem").string() + " -out " +
                      (tls_dir_ / "cert.pem").string() + " 2>&1",
                  out),
              0)
        << out;
    testing::HydraOptions hydra_options;
    hydra_options.tls_cert_file = (tls_dir_ / "cert.pem").string();
    hydra_options.tls_key_file = (tls_dir_ / "key.pem").string();
    hydra_ = std::make_unique<Hydra>(hydra_options);
    testing::DovecotOptions options;
    options.oauth2_introspection_url = hydra_->introspection_url();
    dovecot_ = std::make_unique<Dovecot>(options);
    std::ifstream in(tls_dir_ / "cert.pem");
    hydra_cert_ = std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void TearDownTestSuite() {
    dovecot_.reset();
    hydra_.reset();
    std::filesystem::remove_all(tls_dir_);
  }
  void SetUp() override {
    hydra_->delete_client(kClient);
    hydra_->create_client(kClient, kSecret);
  }

  static ProbeSpec spec(Mechanism mechanism = Mechanism::XOAuth2) {
    ProbeSpec s;
    s.host = dovecot_->host_for("IMAPS_PORT");
    s.port = dovecot_->port("IMAPS_PORT");
    s.tls = TlsMode::Implicit;
    s.server_name = "localhost";
    s.ca_pem = dovecot_->ca_pem() + hydra_cert_;
    s.use_system_trust = false;
    s.mechanism = mechanism;
    s.timeout = 20s;
    s.step_timeout = 10s;
    auto o = std::make_shared<OAuth2Spec>();
    o->token_url = hydra_->token_url();
    o->allow_insecure_http = o->token_url.starts_with("http:");
    o->client_id = kClient;
    o->scopes = {"mail"};
    o->cache_key =
        "test/" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name());
    s.oauth2 = std::move(o);
    return s;
  }
  static ProbeSpec with(ProbeSpec s, const std::function<void(OAuth2Spec&)>& change) {
    auto o = std::make_shared<OAuth2Spec>(*s.oauth2);
    change(*o);
    s.oauth2 = std::move(o);
    return s;
  }
  static Credentials creds(const std::string& secret = kSecret) {
    Credentials c;
    c.username = kClient;
    c.extra.edit().oauth_client_secret = secret;
    return c;
  }
  static void expect_ok(const ProbeResult& r) {
    ASSERT_EQ(r.outcome, Outcome::Success) << to_string(r.reason) << ": " << r.message;
  }

  static std::unique_ptr<Hydra> hydra_;
  static std::unique_ptr<Dovecot> dovecot_;
  static std::filesystem::path tls_dir_;
  static std::string hydra_cert_;
};
std::unique_ptr<Hydra> OAuthHydraTest::hydra_;
std::unique_ptr<Dovecot> OAuthHydraTest::dovecot_;
std::filesystem::path OAuthHydraTest::tls_dir_;
std::string OAuthHydraTest::hydra_cert_;

TEST_F(OAuthHydraTest, ClientCredentialsTokenLogsInAndIsReusedAcrossRuns) {
  Runner runner;
  const int before = hydra_->token_requests();
  const ProbeResult first = runner.run(spec(), creds());
  expect_ok(first);
  EXPECT_TRUE(first.durations.contains(Step::Token));
  const ProbeResult second = runner.run(spec(), creds());
  expect_ok(second);
  EXPECT_FALSE(second.durations.contains(Step::Token)) << "the token should have been reused";
  EXPECT_EQ(hydra_->token_requests() - before, 1);
}

TEST_F(OAuthHydraTest, TheTokenEndpointIsHttpsAndItsCertificateIsVerified) {
  ASSERT_TRUE(hydra_->token_url().starts_with("https://127.0.0.1:")) << hydra_->token_url();
  ProbeSpec s = spec();
  s.ca_pem = dovecot_->ca_pem();  // the IMAP server's CA only
  const int before = hydra_->token_requests();
  const ProbeResult r = run_probe(s, creds());
  EXPECT_EQ(r.reason, Reason::TokenEndpointUnavailable) << r.message;
  EXPECT_EQ(r.failed_step, Step::Token);
  EXPECT_NE(r.message.find("certificate of token endpoint"), std::string::npos) << r.message;
  EXPECT_EQ(hydra_->token_requests(), before) << "the secret went to an unverified server";
}

TEST_F(OAuthHydraTest, OAuthBearerWithAFreshToken) {
  const ProbeResult r = run_probe(spec(Mechanism::OAuthBearer), creds());
  expect_ok(r);
  EXPECT_TRUE(r.durations.contains(Step::Token));
}

TEST_F(OAuthHydraTest, ATokenThatExpiresBetweenRunsIsReplaced) {
  hydra_->delete_client(kClient);
  hydra_->create_client(kClient, kSecret, "basic", "mail offline", "client_credentials");
  hydra_->set_ttl(kClient, "3s");
  Runner runner;
  const int before = hydra_->token_requests();
  expect_ok(runner.run(spec(), creds()));
  // Reused until 90 % of its 2-3 s lifetime, then requested again.
  std::this_thread::sleep_for(3500ms);
  const ProbeResult r = runner.run(spec(), creds());
  expect_ok(r);
  EXPECT_TRUE(r.durations.contains(Step::Token));
  EXPECT_EQ(hydra_->token_requests() - before, 2);
}

TEST_F(OAuthHydraTest, ARevokedTokenIsRefusedByDovecotThenReplacedOnce) {
  Runner runner;
  expect_ok(runner.run(spec(), creds()));
  // The token lives only in the Prober: Hydra's admin API deletes every
  // access token of the client, so the next login presents a dead one.
  hydra_->revoke_client_tokens(kClient);
  const int before = hydra_->token_requests();
  const ProbeResult r = runner.run(spec(), creds());
  expect_ok(r);
  EXPECT_TRUE(r.durations.contains(Step::Token)) << "a refused token must be replaced";
  EXPECT_EQ(hydra_->token_requests() - before, 1);
}

TEST_F(OAuthHydraTest, AWrongClientSecretIsTheEndpointsInvalidClient) {
  const ProbeResult r = run_probe(spec(), creds("not-the-secret"));
  EXPECT_EQ(r.reason, Reason::TokenClientRejected) << r.message;
  EXPECT_EQ(r.failed_step, Step::Token);
  EXPECT_NE(r.message.find("invalid_client"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("HTTP 401"), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("not-the-secret"), std::string::npos) << r.message;
}

TEST_F(OAuthHydraTest, AScopeTheClientMayNotHaveIsTokenRequestRejected) {
  const ProbeResult r =
      run_probe(with(spec(), [](OAuth2Spec& o) { o.scopes = {"admin"}; }), creds());
  EXPECT_EQ(r.reason, Reason::TokenRequestRejected) << r.message;
  EXPECT_NE(r.message.find("invalid_scope"), std::string::npos) << r.message;
}

TEST_F(OAuthHydraTest, AnUnreachableTokenEndpointIsATokenStepFailure) {
  const ProbeResult r = run_probe(
      with(spec(), [](OAuth2Spec& o) { o.token_url = "http://127.0.0.1:9/oauth2/token"; }),
      creds());
  EXPECT_EQ(r.reason, Reason::TokenEndpointUnavailable) << r.message;
  EXPECT_EQ(r.failed_step, Step::Token);
  EXPECT_NE(r.message.find("refused"), std::string::npos) << r.message;
}

TEST_F(OAuthHydraTest, RefreshTokenGrantFollowsRotatedRefreshTokens) {
  hydra_->delete_client(kClient);
  hydra_->create_client(kClient, kSecret, "basic", "mail offline",
                        "authorization_code,refresh_token");
  hydra_->set_ttl(kClient, "3s");
  Credentials c = creds();
  c.extra.edit().oauth_refresh_token =
      hydra_->refresh_token(kClient, kSecret, kClient, "mail offline");
  const ProbeSpec s = with(spec(), [](OAuth2Spec& o) {
    o.grant = oauth::Grant::RefreshToken;
    o.scopes.clear();
  });
  Runner runner;
  expect_ok(runner.run(s, c));
  // Hydra rotates refresh tokens and refuses the one from the "Secret" once
  // used: the second refresh must use the rotated one.
  std::this_thread::sleep_for(3500ms);
  const ProbeResult r = runner.run(s, c);
  expect_ok(r);
  EXPECT_TRUE(r.durations.contains(Step::Token));
}

TEST_F(OAuthHydraTest, AnUnknownRefreshTokenIsTokenGrantRejected) {
  hydra_->delete_client(kClient);
  hydra_->create_client(kClient, kSecret, "post", "mail offline",
                        "authorization_code,refresh_token");
  Credentials c = creds();
  c.extra.edit().oauth_refresh_token = "ory_rt_not-a-refresh-token";
  const ProbeResult r = run_probe(with(spec(),
                                       [](OAuth2Spec& o) {
                                         o.grant = oauth::Grant::RefreshToken;
                                         o.client_auth = oauth::ClientAuth::Post;
                                       }),
                                  c);
  EXPECT_EQ(r.reason, Reason::TokenGrantRejected) << r.message;
  EXPECT_NE(r.message.find("invalid_grant"), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("ory_rt_"), std::string::npos) << r.message;
}

TEST_F(OAuthHydraTest, PrivateKeyJwtClientAssertionWithACertificate) {
  // A client certificate made for this test, its public key registered
  // with Hydra as the client's JWK.
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "imapprobe-jwt";
  std::filesystem::create_directories(dir);
  std::string out;
  ASSERT_EQ(testing::run_command("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=app "
                                 "-keyout " +
                                     (dir / "key.pem").string() + " -out " +
                                     (dir / "cert.pem").string() + " 2>&1",
                                 out),
            0)
      << out;
  const auto slurp = [](const std::filesystem::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  Credentials c;
  c.username = kClient;
  c.extra.edit().oauth_client_certificate_pem = slurp(dir / "cert.pem");
  c.extra.edit().oauth_client_key_pem = slurp(dir / "key.pem");
  {
    std::ofstream jwks(dir / "jwks.json");
    jwks << R"({"keys":[)" << oauth::public_jwk(c.extra->oauth_client_certificate_pem) << "]}";
  }
  hydra_->delete_client(kClient);
  hydra_->create_client(kClient, "", "private_key_jwt", "mail", "client_credentials",
                        (dir / "jwks.json").string());
  const ProbeResult r = run_probe(
      with(spec(), [](OAuth2Spec& o) { o.client_auth = oauth::ClientAuth::PrivateKeyJwt; }), c);
  std::filesystem::remove_all(dir);
  expect_ok(r);
  EXPECT_TRUE(r.durations.contains(Step::Token));
}

}  // namespace
}  // namespace imapprobe::probe
