#include "controller/probe_resource.hpp"

#include <gtest/gtest.h>

namespace imapprobe::controller {
namespace {
using namespace std::chrono_literals;
using nlohmann::json;

json probe(json spec) {
  return {
      {"apiVersion", "imapprobe.dev/v1alpha1"},
      {"kind", "ImapProbe"},
      {"metadata", {{"name", "corp"}, {"namespace", "mail"}, {"generation", 4}, {"uid", "u-1"}}},
      {"spec", spec}};
}

TEST(ProbeResource, ReadsEveryField) {
  const auto d = parse_probe(probe(json::parse(R"({
    "server": {"host": "imap.example.com", "port": 10993, "tls": "STARTTLS", "ipFamily": "IPv6",
               "serverName": "mail.example.com", "insecureSkipVerify": true, "minTLSVersion": "TLSv1.3",
               "caBundleSecretRef": {"name": "ca", "key": "bundle.pem"}},
    "auth": {"mechanism": "ScramSHA256", "secretRef": {"name": "creds", "passwordKey": "pw"},
             "allowPlaintext": true},
    "mailbox": "Archive", "search": "UNSEEN", "fetch": {"latest": 5, "what": "Envelope"},
    "roundTrip": {"enabled": true}, "interval": "2m", "timeout": "45s",
    "thresholds": {"login": "2s", "total": "10s"},
    "certificate": {"warnBefore": "240h", "failBefore": "48h"},
    "failureThreshold": 3, "suspend": true})")));
  EXPECT_EQ(d.generation, 4);
  EXPECT_EQ(d.spec.port, 10993);
  EXPECT_EQ(d.spec.tls, probe::TlsMode::StartTls);
  EXPECT_EQ(d.spec.ip_family, probe::IpFamily::IPv6);
  EXPECT_EQ(d.spec.server_name, "mail.example.com");
  EXPECT_TRUE(d.spec.insecure_skip_verify);
  EXPECT_EQ(d.spec.min_tls_version, "TLSv1.3");
  ASSERT_TRUE(d.ca_bundle);
  EXPECT_EQ(d.ca_bundle->key, "bundle.pem");
  EXPECT_EQ(d.spec.mechanism, probe::Mechanism::ScramSHA256);
  EXPECT_EQ(d.username, (SecretKeyRef{"creds", "username"}));
  EXPECT_EQ(d.password, (SecretKeyRef{"creds", "pw"}));
  EXPECT_TRUE(d.spec.allow_plaintext);
  EXPECT_EQ(d.spec.mailbox, "Archive");
  EXPECT_EQ(d.spec.search, "UNSEEN");
  EXPECT_EQ(d.spec.fetch_latest, 5u);
  EXPECT_EQ(d.spec.fetch_what, probe::FetchWhat::Envelope);
  EXPECT_TRUE(d.spec.round_trip);
  EXPECT_EQ(d.interval, 2min);
  EXPECT_EQ(d.spec.timeout, 45s);
  EXPECT_EQ(d.spec.thresholds->warning.at(probe::Step::Login), 2s);
  EXPECT_EQ(d.spec.thresholds->total_warning, 10s);
  EXPECT_EQ(d.spec.cert_warn_before, 240h);
  EXPECT_EQ(d.failure_threshold, 3);
  EXPECT_TRUE(d.suspend);
}

TEST(ProbeResource, ReadsOAuth2AndDoesNotReadAPassword) {
  const auto d = parse_probe(probe(json::parse(R"({
    "server": {"host": "outlook.office365.com"},
    "auth": {"mechanism": "XOAuth2", "secretRef": {"name": "creds"},
             "oauth2": {"tokenURL": "https://login.example.test/t/oauth2/v2.0/token",
                        "clientID": "app-1", "scopes": ["https://outlook.office365.com/.default"],
                        "clientAuthentication": "PrivateKeyJwt",
                        "clientCertificateRef": {"name": "cert"}}}})")));
  ASSERT_TRUE(d.spec.oauth2);
  EXPECT_EQ(d.spec.oauth2->token_url, "https://login.example.test/t/oauth2/v2.0/token");
  EXPECT_EQ(d.spec.oauth2->grant, oauth::Grant::ClientCredentials);
  EXPECT_EQ(d.spec.oauth2->client_auth, oauth::ClientAuth::PrivateKeyJwt);
  EXPECT_EQ(d.spec.oauth2->scopes,
            std::vector<std::string>{"https://outlook.office365.com/.default"});
  EXPECT_EQ(d.spec.oauth2->cache_key, "mail/corp/u-1");
  EXPECT_EQ(d.username, (SecretKeyRef{"creds", "username"}));
  EXPECT_FALSE(d.password);
  ASSERT_TRUE(d.oauth2);
  EXPECT_EQ(d.oauth2->client_certificate, (SecretKeyRef{"cert", "tls.crt"}));
  EXPECT_EQ(d.oauth2->client_key, (SecretKeyRef{"cert", "tls.key"}));
  EXPECT_FALSE(d.oauth2->client_secret);

  const auto google = parse_probe(probe(json::parse(R"({
    "server": {"host": "imap.gmail.com"},
    "auth": {"mechanism": "OAuthBearer", "secretRef": {"name": "creds"},
             "oauth2": {"tokenURL": "https://oauth2.googleapis.com/token", "clientID": "c",
                        "grant": "RefreshToken", "clientAuthentication": "Post",
                        "clientSecretRef": {"name": "g"}, "refreshTokenRef": {"name": "g"}}}})")));
  EXPECT_EQ(google.spec.oauth2->grant, oauth::Grant::RefreshToken);
  EXPECT_EQ(google.oauth2->refresh_token, (SecretKeyRef{"g", "refresh-token"}));
  EXPECT_EQ(google.oauth2->client_secret, (SecretKeyRef{"g", "client-secret"}));
}

TEST(ProbeResource, OAuth2ProblemsNameTheField) {
  const auto message = [](const std::string& oauth2, const std::string& mechanism = "XOAuth2") {
    try {
      parse_probe(
          probe(json::parse(R"({"server": {"host": "h"}, "auth": {"mechanism": ")" + mechanism +
                            R"(", "secretRef": {"name": "c"}, "oauth2": )" + oauth2 + "}}")));
    } catch (const InvalidSpec& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  const std::string ok = R"("tokenURL": "https://t.example/token", "clientID": "a")";
  EXPECT_NE(message("{" + ok + "}").find("clientSecretRef: required"), std::string::npos);
  EXPECT_NE(message("{" + ok + R"(, "grant": "RefreshToken"})").find("refreshTokenRef"),
            std::string::npos);
  EXPECT_NE(message(R"({"tokenURL": "http://t.example/token", "clientID": "a",
                        "clientSecretRef": {"name": "s"}})")
                .find("not https"),
            std::string::npos);
  EXPECT_EQ(message(R"({"tokenURL": "http://127.0.0.1:4444/token", "clientID": "a",
                        "clientSecretRef": {"name": "s"}, "allowInsecureHTTP": true})"),
            "accepted");
  EXPECT_NE(message("{" + ok + R"(, "clientSecretRef": {"name": "s"}})", "Plain")
                .find("spec.auth.oauth2: needs auth mechanism XOAuth2 or OAuthBearer"),
            std::string::npos);
  EXPECT_NE(message("{" + ok + R"(, "clientAuthentication": "PrivateKeyJwt",
                        "clientSecretRef": {"name": "s"}})")
                .find("clientCertificateRef"),
            std::string::npos);
}

TEST(ProbeResource, ReadsTheDeliveryCheck) {
  const auto d = parse_probe(probe(json::parse(R"({
    "server": {"host": "imap.example.com"},
    "auth": {"secretRef": {"name": "creds"}},
    "timeout": "50s",
    "delivery": {"host": "smtp.example.com", "port": 2587, "tls": "Implicit", "serverName": "mx",
                 "mechanism": "Login", "secretRef": {"name": "smtp", "passwordKey": "pw"},
                 "from": "probe@example.com", "to": "probe+check@example.com",
                 "mailbox": "Checks", "junkFolders": ["Spam", "Quarantine"], "timeout": "40s"}})")));
  ASSERT_TRUE(d.spec.delivery);
  const auto& dl = *d.spec.delivery;
  EXPECT_EQ(dl.host, "smtp.example.com");
  EXPECT_EQ(dl.port, 2587);
  EXPECT_EQ(dl.tls, probe::TlsMode::Implicit);
  EXPECT_EQ(dl.server_name, "mx");
  EXPECT_EQ(dl.mechanism, probe::Mechanism::Login);
  EXPECT_EQ(dl.from, "probe@example.com");
  EXPECT_EQ(dl.to, "probe+check@example.com");
  EXPECT_EQ(dl.mailbox, "Checks");
  EXPECT_EQ(dl.junk_folders, (std::vector<std::string>{"Spam", "Quarantine"}));
  EXPECT_EQ(dl.timeout, 40s);
  EXPECT_EQ(d.smtp_username, (SecretKeyRef{"smtp", "username"}));
  EXPECT_EQ(d.smtp_password, (SecretKeyRef{"smtp", "pw"}));

  // Defaults: STARTTLS on 587, the probe's own credentials, 20s.
  const auto plain = parse_probe(probe(json::parse(R"({
    "server": {"host": "h"}, "auth": {"secretRef": {"name": "c"}},
    "delivery": {"host": "smtp"}})")));
  ASSERT_TRUE(plain.spec.delivery);
  EXPECT_EQ(plain.spec.delivery->effective_port(), 587);
  EXPECT_EQ(plain.spec.delivery->tls, probe::TlsMode::StartTls);
  EXPECT_EQ(plain.spec.delivery->timeout, 20s);
  EXPECT_FALSE(plain.smtp_username);
}

TEST(ProbeResource, DeliveryProblemsNameTheField) {
  auto message = [](const std::string& spec) {
    try {
      parse_probe(probe(json::parse(spec)));
    } catch (const InvalidSpec& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(message(R"({"server": {"host": "h"}, "auth": {"secretRef": {"name": "c"}},
                        "delivery": {"host": "smtp", "timeout": "30s"}})"),
            "spec.delivery: delivery timeout (30s) must be more than 0 and less than the run's "
            "timeout (30s)");
  EXPECT_EQ(message(R"({"server": {"host": "h"}, "auth": {"mechanism": "None"},
                        "delivery": {"host": "smtp"}})"),
            "spec.delivery: needs a logged-in session (auth mechanism is None)");
  EXPECT_EQ(message(R"({"server": {"host": "h"}, "auth": {"secretRef": {"name": "c"}},
                        "delivery": {"host": "smtp", "mechanism": "CramMD5"}})"),
            "spec.delivery: SMTP AUTH supports Plain, Login, XOAuth2, OAuthBearer or None, not "
            "CramMD5");
  EXPECT_EQ(message(R"({"server": {"host": "h"}, "auth": {"secretRef": {"name": "c"}},
                        "delivery": {"host": "smtp", "to": "a@b>\r\nRCPT TO:<x@y"}})"),
            "spec.delivery: host, from and to take a bare name or address");
}

TEST(ProbeResource, DefaultsMatchTheCrd) {
  const auto d =
      parse_probe(probe({{"server", {{"host", "h"}}}, {"auth", {{"secretRef", {{"name", "c"}}}}}}));
  EXPECT_EQ(d.spec.tls, probe::TlsMode::Implicit);
  EXPECT_EQ(d.spec.effective_port(), 993);
  EXPECT_EQ(d.spec.mechanism, probe::Mechanism::Plain);
  EXPECT_EQ(d.spec.mailbox, "INBOX");
  EXPECT_EQ(d.interval, 60s);
  EXPECT_EQ(d.spec.timeout, 30s);
  EXPECT_EQ(d.failure_threshold, 2);
  EXPECT_FALSE(d.spec.allow_plaintext);
}

TEST(ProbeResource, InvalidSpecsNameTheField) {
  const std::pair<json, std::string> cases[] = {
      {json::object(), "spec.server.host"},
      {{{"server", {{"host", "h"}}}}, "spec.auth.secretRef"},
      {{{"server", {{"host", "h"}, {"tls", "SSL"}}}, {"auth", {{"mechanism", "None"}}}},
       "spec.server.tls"},
      {{{"server", {{"host", "h"}}}, {"auth", {{"mechanism", "None"}}}, {"interval", "1 minute"}},
       "spec.interval"},
      {{{"server", {{"host", "h"}}},
        {"auth", {{"mechanism", "None"}}},
        {"interval", "10s"},
        {"timeout", "30s"}},
       "spec.timeout: must be shorter"},
      {{{"server", {{"host", "h"}}}, {"auth", {{"mechanism", "None"}}}, {"mailbox", "a\r\nb"}},
       "spec.mailbox"},
      {{{"server", {{"host", "h"}}},
        {"auth", {{"mechanism", "None"}}},
        {"thresholds", {{"lgin", "1s"}}}},
       "spec.thresholds.lgin"},
      {{{"server", {{"host", "h"}}},
        {"auth", {{"mechanism", "None"}}},
        {"roundTrip", {{"enabled", true}}}},
       "spec.roundTrip.enabled: needs a logged-in session (auth mechanism is None)"},
      {{{"server", {{"host", "h"}}}, {"auth", {{"mechanism", "None"}}}, {"search", "ALL"}},
       "spec.search: needs a logged-in session (auth mechanism is None)"},
      {{{"server", {{"host", "h"}}}, {"auth", {{"mechanism", "None"}}}, {"fetch", {{"latest", 1}}}},
       "spec.fetch.latest: needs a logged-in session (auth mechanism is None)"},
  };
  for (const auto& [spec, expect] : cases) {
    try {
      parse_probe(probe(spec));
      ADD_FAILURE() << "accepted: " << spec.dump();
    } catch (const InvalidSpec& e) {
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
    }
  }
}

// The CLI and the operator share probe::spec_problems; the operator names
// every problem at once, in the CRD's field names.
TEST(ProbeResource, LoginlessMailboxStepsAreAllNamed) {
  try {
    parse_probe(probe({{"server", {{"host", "h"}}},
                       {"auth", {{"mechanism", "None"}}},
                       {"search", "UNSEEN"},
                       {"fetch", {{"latest", 5}}},
                       {"roundTrip", {{"enabled", true}}}}));
    ADD_FAILURE() << "accepted";
  } catch (const InvalidSpec& e) {
    EXPECT_STREQ(e.what(),
                 "spec.search: needs a logged-in session (auth mechanism is None); "
                 "spec.fetch.latest: needs a logged-in session (auth mechanism is None); "
                 "spec.roundTrip.enabled: needs a logged-in session (auth mechanism is None)");
  }
  // What the CRD defaults leave (empty search, latest 0) is fine without a login.
  const auto d = parse_probe(probe({{"server", {{"host", "h"}}},
                                    {"auth", {{"mechanism", "None"}}},
                                    {"search", ""},
                                    {"fetch", {{"latest", 0}}},
                                    {"roundTrip", {{"enabled", false}}}}));
  EXPECT_EQ(d.spec.mechanism, probe::Mechanism::None);
}

}  // namespace
}  // namespace imapprobe::controller
