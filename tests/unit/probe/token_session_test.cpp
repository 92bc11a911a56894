// auth.oauth2 in the session: the token step before login, the token kept
// for later runs, one retry when the server refuses a remembered token,
// and the token endpoint's failures as token-step verdicts. The IMAP
// server and the token endpoint are scripted transports.
#include <gtest/gtest.h>

#include "imap/sasl.hpp"
#include "oauth/form.hpp"
#include "oauth/http_message.hpp"
#include "oauth/token_request.hpp"
#include "oauth/url.hpp"
#include "probe/session.hpp"
#include "probe/token_cache.hpp"
#include "probe/token_step.hpp"
#include "support/scripted_connector.hpp"

namespace imapprobe::probe {
namespace {

using testing::run_awaitable;
using testing::ScriptedConnector;
using testing::ScriptedTransport;
using namespace std::chrono_literals;

constexpr const char* kClientSecret = "client-s3cret-value";
constexpr const char* kTokenUrl = "https://login.example.test/tenant/oauth2/v2.0/token";

ProbeSpec oauth_spec() {
  ProbeSpec spec;
  spec.host = "imap.example.test";
  spec.tls = TlsMode::Implicit;
  spec.mechanism = Mechanism::XOAuth2;
  spec.timeout = 30s;
  spec.step_timeout = 10s;
  auto o = std::make_shared<OAuth2Spec>();
  o->token_url = kTokenUrl;
  o->client_id = "app-1";
  o->scopes = {"https://outlook.office365.com/.default"};
  o->cache_key = "ns/probe/uid-1";
  spec.oauth2 = std::move(o);
  return spec;
}

Credentials oauth_creds() {
  Credentials c;
  c.username = "monitor@example.test";
  c.extra.edit().oauth_client_secret = kClientSecret;
  return c;
}

// The request the engine must send for oauth_spec() and oauth_creds().
std::string expected_request() {
  oauth::TokenRequestParams p;
  p.client_id = "app-1";
  p.client_secret = kClientSecret;
  p.scopes = {"https://outlook.office365.com/.default"};
  const oauth::FormRequest form = oauth::token_request(p);
  return oauth::http_post(oauth::parse_http_url(kTokenUrl), "application/x-www-form-urlencoded",
                          form.body, form.headers);
}

std::string token_response(const std::string& token, int expires_in = 3599) {
  const std::string body = R"({"token_type":"Bearer","expires_in":)" + std::to_string(expires_in) +
                           R"(,"access_token":")" + token + R"("})";
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string xoauth2(const std::string& token) {
  return imap::base64_encode(imap::xoauth2_initial("monitor@example.test", token));
}

void script_token_endpoint(ScriptedTransport& t, const std::string& token) {
  t.tls().client(expected_request()).server(token_response(token));
}

// Greeting, then (after the token step) AUTHENTICATE with `token` accepted.
void script_imap_login(ScriptedTransport& t, const std::string& token) {
  t.tls()
      .server("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n")
      .client("A0001 AUTHENTICATE XOAUTH2 " + xoauth2(token) + "\r\n")
      .server("A0001 OK logged in\r\n")
      .client("A0002 EXAMINE \"INBOX\"\r\n")
      .server("* 1 EXISTS\r\nA0002 OK [READ-ONLY] done\r\n")
      .client("A0003 LOGOUT\r\n")
      .server("* BYE bye\r\nA0003 OK done\r\n");
}

const std::string kRefusal =
    "+ " + imap::base64_encode(R"({"status":"401","schemes":"bearer"})") + "\r\n";

ProbeResult run(const ProbeSpec& spec, ScriptedConnector& connector, TokenCache* cache,
                const Credentials& creds = oauth_creds()) {
  return run_awaitable(run_session(spec, creds, connector, imap::Limits{}, {}, cache));
}

void expect_played(const ScriptedTransport& t) {
  EXPECT_EQ(t.mismatch(), "");
  EXPECT_TRUE(t.finished());
}

void expect_no_secret(const ProbeResult& r, const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) EXPECT_EQ(r.message.find(s), std::string::npos) << r.message;
}

// A successful run that obtained `token` into `cache`.
void first_run_obtains(TokenCache& cache, const std::string& token) {
  ScriptedTransport imap, endpoint;
  script_imap_login(imap, token);
  script_token_endpoint(endpoint, token);
  ScriptedConnector connector;
  connector.serve("imap.example.test", imap).serve("login.example.test", endpoint);
  ASSERT_EQ(run(oauth_spec(), connector, &cache).reason, Reason::Succeeded);
  expect_played(endpoint);
}

TEST(TokenSession, ATokenIsRequestedBeforeLoginAndTimedAsTheTokenStep) {
  ScriptedTransport imap, token;
  script_imap_login(imap, "at-1");
  script_token_endpoint(token, "at-1");
  ScriptedConnector connector;
  connector.serve("imap.example.test", imap).serve("login.example.test", token);
  TokenCache cache;
  const ProbeResult r = run(oauth_spec(), connector, &cache);
  EXPECT_EQ(r.reason, Reason::Succeeded) << r.message;
  expect_played(imap);
  expect_played(token);
  EXPECT_TRUE(token.closed());
  EXPECT_EQ(token.tls_server_name(), "login.example.test");
  ASSERT_TRUE(r.durations.contains(Step::Token));
  ASSERT_TRUE(r.durations.contains(Step::Login));
  EXPECT_EQ(token.sent().find("client_secret"), std::string::npos) << "Basic: not in the body";
  EXPECT_NE(token.sent().find("Authorization: Basic "), std::string::npos);
}

TEST(TokenSession, ALaterRunReusesTheTokenWithoutATokenStep) {
  TokenCache cache;
  ASSERT_NO_FATAL_FAILURE(first_run_obtains(cache, "at-1"));
  ScriptedTransport imap;
  script_imap_login(imap, "at-1");
  ScriptedConnector connector;
  connector.serve("imap.example.test", imap).refuse("login.example.test", net::IoFailure::Refused);
  const ProbeResult r = run(oauth_spec(), connector, &cache);
  EXPECT_EQ(r.reason, Reason::Succeeded) << r.message;
  expect_played(imap);
  EXPECT_FALSE(r.durations.contains(Step::Token));
  EXPECT_EQ(connector.connects, 1);
}

TEST(TokenSession, AChangedSecretStartsAfresh) {
  TokenCache cache;
  ASSERT_NO_FATAL_FAILURE(first_run_obtains(cache, "at-1"));
  Credentials rotated = oauth_creds();
  rotated.extra.edit().oauth_client_secret = "another-secret";
  ScriptedTransport imap, token;
  script_imap_login(imap, "at-2");
  token.tls().client_until("\r\n\r\n").client_until("default").server(token_response("at-2"));
  ScriptedConnector connector;
  connector.serve("imap.example.test", imap).serve("login.example.test", token);
  const ProbeResult r = run(oauth_spec(), connector, &cache, rotated);
  EXPECT_EQ(r.reason, Reason::Succeeded) << r.message;
  expect_played(token);
  EXPECT_TRUE(r.durations.contains(Step::Token));
}

TEST(TokenSession, ARefusedRememberedTokenIsReplacedOnceOnTheSameConnection) {
  TokenCache cache;
  ASSERT_NO_FATAL_FAILURE(first_run_obtains(cache, "at-1"));
  ScriptedTransport imap, token;
  imap.tls()
      .server("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n")
      .client("A0001 AUTHENTICATE XOAUTH2 " + xoauth2("at-1") + "\r\n")
      .server(kRefusal)
      .client("\r\n")
      .server("A0001 NO [AUTHENTICATIONFAILED] Authentication failed\r\n")
      .client("A0002 AUTHENTICATE XOAUTH2 " + xoauth2("at-2") + "\r\n")
      .server("A0002 OK logged in\r\n")
      .client("A0003 EXAMINE \"INBOX\"\r\n")
      .server("* 1 EXISTS\r\nA0003 OK [READ-ONLY] done\r\n")
      .client("A0004 LOGOUT\r\n")
      .server("* BYE bye\r\nA0004 OK done\r\n");
  script_token_endpoint(token, "at-2");
  ScriptedConnector connector;
  connector.serve("imap.example.test", imap).serve("login.example.test", token);
  const ProbeResult r = run(oauth_spec(), connector, &cache);
  EXPECT_EQ(r.reason, Reason::Succeeded) << r.message;
  expect_played(imap);
  expect_played(token);
  EXPECT_TRUE(r.durations.contains(Step::Token));
  // The new token is remembered in place of the refused one.
  EXPECT_EQ(cache.access_token(*oauth_spec().oauth2, oauth_creds(), net::Clock::now()), "at-2");
}

TEST(TokenSession, AFreshTokenRefusedIsAuthFailedSayingSoWithoutARetry) {
  ScriptedTransport imap, token;
  imap.tls()
      .server("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n")
      .client("A0001 AUTHENTICATE XOAUTH2 " + xoauth2("at-1") + "\r\n")
      .server(kRefusal)
      .client("\r\n")
      .server("A0001 NO [AUTHENTICATIONFAILED] Authentication failed\r\n");
  script_token_endpoint(token, "at-1");
  ScriptedConnector connector;
  connector.serve("imap.example.test", imap).serve("login.example.test", token);
  TokenCache cache;
  const ProbeResult r = run(oauth_spec(), connector, &cache);
  EXPECT_EQ(r.reason, Reason::AuthFailed);
  EXPECT_EQ(r.failed_step, Step::Login);
  EXPECT_NE(r.message.find(std::string("refused a token just issued by ") + kTokenUrl),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("status 401"), std::string::npos) << r.message;
  expect_no_secret(r, {"at-1", kClientSecret});
  expect_played(imap);
}

std::string http(const std::string& status, const std::string& type, const std::string& body) {
  return "HTTP/1.1 " + status + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct EndpointCase {
  std::string answer;
  Reason reason;
  std::string in_message;
};

TEST(TokenSession, TheTokenEndpointsAnswersBecomeTokenStepVerdicts) {
  const std::vector<EndpointCase> cases = {
      {http("401 Unauthorized", "application/json",
            R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid secret"})"),
       Reason::TokenClientRejected, "invalid_client (AADSTS7000215: Invalid secret), HTTP 401"},
      {http(
           "400 Bad Request", "application/json",
           R"({"error":"invalid_grant","error_description":"Token has been expired or revoked."})"),
       Reason::TokenGrantRejected, "refused the client_credentials grant: invalid_grant"},
      {http("400 Bad Request", "application/json", R"({"error":"invalid_scope"})"),
       Reason::TokenRequestRejected, "invalid_scope"},
      {http("503 Service Unavailable", "text/html", "<html>down</html>"),
       Reason::TokenEndpointUnavailable, "503"},
      {"SSH-2.0-OpenSSH_9.2\r\n", Reason::TokenEndpointUnavailable, "did not answer with HTTP"},
  };

  for (const auto& c : cases) {
    ScriptedTransport imap, token;
    imap.tls().server("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n");
    token.tls().client(expected_request()).server(c.answer);
    ScriptedConnector connector;
    connector.serve("imap.example.test", imap).serve("login.example.test", token);
    TokenCache cache;
    const ProbeResult r = run(oauth_spec(), connector, &cache);
    EXPECT_EQ(r.reason, c.reason) << c.answer << "\n" << r.message;
    EXPECT_EQ(r.failed_step, Step::Token) << r.message;
    EXPECT_NE(r.message.find(c.in_message), std::string::npos) << r.message;
    EXPECT_NE(r.message.find(kTokenUrl), std::string::npos) << r.message;
    expect_no_secret(r, {kClientSecret});
    EXPECT_TRUE(token.closed());
    EXPECT_EQ(cache.size(), 0u);
  }
}

TEST(TokenSession, AnUnreachableTokenEndpointIsATokenStepFailureNotAnImapOne) {
  for (const auto kind : {net::IoFailure::Refused, net::IoFailure::TimedOut}) {
    ScriptedTransport imap;
    imap.tls().server("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n");
    ScriptedConnector connector;
    connector.serve("imap.example.test", imap).refuse("login.example.test", kind);
    const ProbeResult r = run(oauth_spec(), connector, nullptr);
    EXPECT_EQ(r.reason, Reason::TokenEndpointUnavailable) << r.message;
    EXPECT_EQ(r.failed_step, Step::Token);
    EXPECT_NE(r.message.find("login.example.test"), std::string::npos) << r.message;
  }
}

TEST(TokenSession, AnUntrustedTokenEndpointCertificateIsRefusedBeforeTheSecretIsSent) {
  ScriptedTransport imap, token;
  imap.tls().server("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n");
  net::TlsFacts untrusted;
  untrusted.verify_error = X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT;
  token.tls(untrusted);
  ScriptedConnector connector;
  connector.serve("imap.example.test", imap).serve("login.example.test", token);
  const ProbeResult r = run(oauth_spec(), connector, nullptr);
  EXPECT_EQ(r.reason, Reason::TokenEndpointUnavailable);
  EXPECT_NE(r.message.find("self-signed"), std::string::npos) << r.message;
  EXPECT_EQ(token.sent(), "");
}

TEST(TokenSession, ARotatedRefreshTokenIsUsedForTheNextRefresh) {
  ProbeSpec spec = oauth_spec();
  auto o = std::make_shared<OAuth2Spec>(*spec.oauth2);
  o->grant = oauth::Grant::RefreshToken;
  o->client_auth = oauth::ClientAuth::Post;
  spec.oauth2 = o;
  Credentials creds = oauth_creds();
  creds.extra.edit().oauth_refresh_token = "rt-from-secret";
  TokenCache cache;
  oauth::IssuedToken issued;
  issued.access_token = "at-1";
  issued.expires_in = 3600s;
  issued.refresh_token = "rt-rotated";
  cache.store(*spec.oauth2, creds, issued, net::Clock::now());
  EXPECT_EQ(cache.refresh_token(*spec.oauth2, creds), "rt-rotated");
  cache.discard_access_token(*spec.oauth2, creds);

  ScriptedTransport imap, token;
  script_imap_login(imap, "at-2");
  token.tls()
      .client_until("\r\n\r\n")
      .client_until("client_secret=" + std::string(kClientSecret))
      .server(token_response("at-2"));
  ScriptedConnector connector;
  connector.serve("imap.example.test", imap).serve("login.example.test", token);
  const ProbeResult r = run(spec, connector, &cache, creds);
  EXPECT_EQ(r.reason, Reason::Succeeded) << r.message;
  EXPECT_NE(token.sent().find("refresh_token=rt-rotated"), std::string::npos) << token.sent();
  EXPECT_NE(token.sent().find("grant_type=refresh_token"), std::string::npos);
}

TEST(TokenCache, ShortLivedTokensAreReusedForNinetyPercentOfTheirLifetime) {
  TokenCache cache;
  const ProbeSpec spec = oauth_spec();
  oauth::IssuedToken issued;
  issued.access_token = "at-1";
  issued.expires_in = 100s;
  const auto t0 = net::Clock::now();
  cache.store(*spec.oauth2, oauth_creds(), issued, t0);
  EXPECT_EQ(cache.access_token(*spec.oauth2, oauth_creds(), t0 + 89s), "at-1");
  EXPECT_EQ(cache.access_token(*spec.oauth2, oauth_creds(), t0 + 91s), std::nullopt);
  issued.expires_in = 3600s;
  cache.store(*spec.oauth2, oauth_creds(), issued, t0);
  EXPECT_EQ(cache.access_token(*spec.oauth2, oauth_creds(), t0 + 3539s), "at-1");
  EXPECT_EQ(cache.access_token(*spec.oauth2, oauth_creds(), t0 + 3541s), std::nullopt);
}

TEST(TokenCache, ProbesWithoutACacheKeyShareNothing) {
  TokenCache cache;
  ProbeSpec spec = oauth_spec();
  auto o = std::make_shared<OAuth2Spec>(*spec.oauth2);
  o->cache_key.clear();
  oauth::IssuedToken issued;
  issued.access_token = "at-1";
  cache.store(*o, oauth_creds(), issued, net::Clock::now());
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.access_token(*o, oauth_creds(), net::Clock::now()), std::nullopt);
}

TEST(TokenErrors, CodesMapToReasons) {
  EXPECT_EQ(reason_for_token_error("invalid_client", 401), Reason::TokenClientRejected);
  EXPECT_EQ(reason_for_token_error("unauthorized_client", 400), Reason::TokenClientRejected);
  EXPECT_EQ(reason_for_token_error("invalid_grant", 400), Reason::TokenGrantRejected);
  EXPECT_EQ(reason_for_token_error("invalid_scope", 400), Reason::TokenRequestRejected);
  EXPECT_EQ(reason_for_token_error("temporarily_unavailable", 400),
            Reason::TokenEndpointUnavailable);
  EXPECT_EQ(reason_for_token_error("whatever", 502), Reason::TokenEndpointUnavailable);
}

}  // namespace
}  // namespace imapprobe::probe
