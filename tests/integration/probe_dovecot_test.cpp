// The probe engine against a real Dovecot started by the test.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "probe/families.hpp"
#include "probe/prober.hpp"
#include "probe/tcp_connector.hpp"
#include "probe/verify_cache.hpp"
#include "support/dovecot.hpp"
#include "support/fake_server.hpp"
#include "support/scripted_transport.hpp"

namespace imapprobe::probe {
namespace {

using testing::Dovecot;
using namespace std::chrono_literals;

class ProbeDovecotTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dovecot_ = std::make_unique<Dovecot>(); }
  static void TearDownTestSuite() { dovecot_.reset(); }

  static ProbeSpec spec_for(const std::string& port_key, TlsMode tls) {
    ProbeSpec spec;
    spec.host = dovecot_->host_for(port_key);
    spec.port = dovecot_->port(port_key);
    spec.tls = tls;
    spec.server_name = "localhost";
    spec.ca_pem = dovecot_->ca_pem();
    spec.use_system_trust = false;
    spec.timeout = 20s;
    spec.step_timeout = 10s;
    return spec;
  }
  static Credentials probe_user() {
    return {dovecot_->get("PROBE_USER"), dovecot_->get("PROBE_PASSWORD")};
  }

  static std::unique_ptr<Dovecot> dovecot_;
};
std::unique_ptr<Dovecot> ProbeDovecotTest::dovecot_;

void expect_success(const ProbeResult& r) {
  EXPECT_EQ(r.outcome, Outcome::Success) << to_string(r.reason) << ": " << r.message;
  EXPECT_EQ(r.reason, Reason::Succeeded) << r.message;
  EXPECT_FALSE(r.failed_step.has_value());
}

TEST_F(ProbeDovecotTest, ImplicitTlsTimesEveryStepAndTheyAddUpToTheTotal) {
  ProbeSpec spec = spec_for("IMAPS_PORT", TlsMode::Implicit);
  spec.search = "ALL";
  spec.fetch_latest = 5;
  const ProbeResult r = run_probe(spec, probe_user());
  expect_success(r);
  for (Step s : {Step::Connect, Step::Tls, Step::Greeting, Step::Login, Step::Select, Step::Search,
                 Step::Fetch, Step::Logout}) {
    ASSERT_TRUE(r.durations.contains(s)) << "missing step " << to_string(s);
    EXPECT_GT(r.durations.at(s).count(), 0) << to_string(s);
  }
  // The host is an IP literal: no lookup, so no dns step.
  EXPECT_FALSE(r.durations.contains(Step::Dns));
  Duration sum{};
  for (const auto& [step, d] : r.durations) sum += d;
  EXPECT_LE(sum, r.total);
  EXPECT_LT(r.total - sum, 50ms) << "time unaccounted for between steps";
  ASSERT_TRUE(r.messages.has_value());
  EXPECT_EQ(*r.messages, 10u);
  EXPECT_EQ(r.search_matches.value_or(0), 10u);
  EXPECT_EQ(r.fetched.value_or(0), 5u);
  ASSERT_TRUE(r.certificate.has_value());
  EXPECT_TRUE(r.certificate->verified) << r.certificate->verify_error;
  EXPECT_GT(r.certificate->days_remaining, 300);
  EXPECT_FALSE(r.certificate->tls_version.empty());
  EXPECT_FALSE(r.certificate->cipher.empty());
}

TEST_F(ProbeDovecotTest, AHostNameIsLookedUpInTheDnsStep) {
  ProbeSpec spec = spec_for("IMAPS_PORT", TlsMode::Implicit);
  spec.host = "localhost";
  const ProbeResult r = run_probe(spec, probe_user());
  expect_success(r);
  ASSERT_TRUE(r.durations.contains(Step::Dns));
  EXPECT_GT(r.durations.at(Step::Dns).count(), 0);
}

// The verify cache against the harness's real CA and certificates: a clean
// success is remembered for the same leaf and name, failures never are.
TEST_F(ProbeDovecotTest, AVerifiedChainIsRememberedAndAFailureIsNot) {
  auto load = [](const std::string& path) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), &BIO_free);
    return std::unique_ptr<X509, decltype(&X509_free)>(
        bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr, &X509_free);
  };
  auto ca = load(dovecot_->get("CA_FILE"));
  auto server = load(dovecot_->get("SERVER_CERT_FILE"));
  auto expired = load(dovecot_->get("EXPIRED_CERT_FILE"));
  ASSERT_TRUE(ca && server && expired);
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), &X509_STORE_free);
  X509_STORE_add_cert(store.get(), ca.get());
  VerifyCache cache;
  auto verify = [&](X509* leaf, const char* host) {
    std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                        &X509_STORE_CTX_free);
    X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
    X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx.get()), host, 0);
    const int ok = cache.verify(ctx.get());
    return std::make_pair(ok, X509_STORE_CTX_get_error(ctx.get()));
  };
  EXPECT_EQ(verify(server.get(), "localhost"), std::make_pair(1, X509_V_OK));
  EXPECT_EQ(cache.hits(), 0u);
  EXPECT_EQ(verify(server.get(), "localhost"), std::make_pair(1, X509_V_OK));
  EXPECT_EQ(cache.hits(), 1u);
  // Another name is another question.
  EXPECT_EQ(verify(server.get(), "wrong.example").first, 0);
  EXPECT_EQ(verify(expired.get(), "localhost").second, X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_EQ(verify(expired.get(), "localhost").second, X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.size(), 1u);
}

TEST_F(ProbeDovecotTest, ARepeatedProbeStillChecksTheCertificateEachRun) {
  boost::asio::io_context io;
  Prober prober(io.get_executor());
  std::vector<ProbeResult> results;
  auto twice = [&]() -> boost::asio::awaitable<void> {
    for (const char* port :
         {"IMAPS_PORT", "IMAPS_PORT", "IMAPS_EXPIRED_PORT", "IMAPS_EXPIRED_PORT"}) {
      ProbeSpec spec = spec_for(port, TlsMode::Implicit);
      results.push_back(co_await prober.run(spec, probe_user()));
    }
  };
  boost::asio::co_spawn(io, twice(), boost::asio::detached);
  io.run();
  ASSERT_EQ(results.size(), 4u);
  for (int i : {0, 1}) {
    expect_success(results[i]);
    ASSERT_TRUE(results[i].certificate);
    EXPECT_TRUE(results[i].certificate->verified);
    EXPECT_GT(results[i].certificate->days_remaining, 300);
  }
  for (int i : {2, 3}) {
    EXPECT_EQ(results[i].reason, Reason::CertificateExpired) << results[i].message;
    ASSERT_TRUE(results[i].certificate);
    EXPECT_FALSE(results[i].certificate->verified);
  }
}

// A name that resolves to both loopback addresses (the machine's hosts file
// maps localhost to 127.0.0.1 only); connections and TLS are real.
class DualStackLoopback final : public TcpConnector {
 public:
  DualStackLoopback(boost::asio::any_io_executor ex, std::shared_ptr<boost::asio::ssl::context> tls,
                    std::uint16_t v4_port, std::uint16_t v6_port)
      : TcpConnector(std::move(ex), std::move(tls)), v4_port_(v4_port), v6_port_(v6_port) {}
  boost::asio::awaitable<std::vector<net::Endpoint>> resolve(std::string, std::uint16_t, IpFamily,
                                                             net::Clock::time_point) override {
    co_return std::vector<net::Endpoint>{
        net::Endpoint(boost::asio::ip::make_address("::1"), v6_port_),
        net::Endpoint(boost::asio::ip::make_address("127.0.0.1"), v4_port_)};
  }

 private:
  std::uint16_t v4_port_, v6_port_;
};

ProbeResult run_both(const ProbeSpec& spec, const Credentials& creds, std::uint16_t v4_port,
                     std::uint16_t v6_port) {
  TlsContextCache contexts;
  auto both = [&]() -> boost::asio::awaitable<ProbeResult> {
    DualStackLoopback connector(co_await boost::asio::this_coro::executor,
                                contexts.get(spec.ca_pem, false, "TLSv1.2"), v4_port, v6_port);
    co_return co_await run_each_family(spec, creds, connector, imap::Limits{});
  };
  return testing::run_awaitable(both());
}

TEST_F(ProbeDovecotTest, BothFamiliesAreCheckedInOneRunAndEachIsReported) {
  ProbeSpec spec = spec_for("IMAPS_PORT", TlsMode::Implicit);
  spec.host = "imap.test";
  spec.ip_family = IpFamily::Both;
  const ProbeResult r = run_both(spec, probe_user(), spec.port, spec.port);
  expect_success(r);
  ASSERT_EQ(r.families.size(), 2u);
  EXPECT_EQ(r.families[0].family, "IPv4");
  EXPECT_EQ(r.families[0].outcome, Outcome::Success) << r.families[0].message;
  EXPECT_EQ(r.families[0].remote_address, "127.0.0.1:" + std::to_string(spec.port));
  EXPECT_EQ(r.families[1].family, "IPv6");
  EXPECT_EQ(r.families[1].outcome, Outcome::Success) << r.families[1].message;
  EXPECT_EQ(r.families[1].remote_address, "[::1]:" + std::to_string(spec.port));
}

TEST_F(ProbeDovecotTest, AFamilyThatIsDownFailsTheRunNamingIt) {
  ProbeSpec spec = spec_for("IMAPS_PORT", TlsMode::Implicit);
  spec.host = "imap.test";
  spec.ip_family = IpFamily::Both;
  // Nothing listens on this port over IPv6.
  const std::uint16_t dead = testing::unused_loopback_port();
  const ProbeResult r = run_both(spec, probe_user(), spec.port, dead);
  EXPECT_EQ(r.outcome, Outcome::Failure);
  EXPECT_EQ(r.reason, Reason::ConnectRefused) << r.message;
  EXPECT_EQ(r.message.rfind("IPv6 ([::1]:" + std::to_string(dead) + "): ", 0), 0u) << r.message;
  ASSERT_EQ(r.families.size(), 2u);
  EXPECT_EQ(r.families[0].outcome, Outcome::Success) << r.families[0].message;
  EXPECT_EQ(r.families[1].reason, Reason::ConnectRefused);
}

struct MechanismCase {
  Mechanism mechanism;
  TlsMode tls;
  const char* port_key;
};

class ProbeMechanismTest : public ProbeDovecotTest,
                           public ::testing::WithParamInterface<MechanismCase> {};

TEST_P(ProbeMechanismTest, LogsInAndReadsTheMailbox) {
  const auto& c = GetParam();
  ProbeSpec spec = spec_for(c.port_key, c.tls);
  spec.mechanism = c.mechanism;
  Credentials creds = probe_user();
  if (c.mechanism == Mechanism::ScramSHA256) {
    creds = {dovecot_->get("SCRAM_USER"), dovecot_->get("SCRAM_PASSWORD")};
  } else if (c.mechanism == Mechanism::CramMD5) {
    creds = {dovecot_->get("CRAM_USER"), dovecot_->get("CRAM_PASSWORD")};
  } else if (c.mechanism == Mechanism::XOAuth2 || c.mechanism == Mechanism::OAuthBearer) {
    creds = {dovecot_->get("OAUTH_USER"), dovecot_->mint_token(dovecot_->get("OAUTH_USER"))};
  }
  const ProbeResult r = run_probe(spec, creds);
  expect_success(r);
  EXPECT_TRUE(r.durations.contains(Step::Tls));
  EXPECT_TRUE(r.durations.contains(Step::Login));
  EXPECT_EQ(r.messages.value_or(0), 10u);
}

INSTANTIATE_TEST_SUITE_P(
    AllMechanisms, ProbeMechanismTest,
    ::testing::Values(MechanismCase{Mechanism::Login, TlsMode::Implicit, "IMAPS_PORT"},
                      MechanismCase{Mechanism::Plain, TlsMode::Implicit, "IMAPS_PORT"},
                      MechanismCase{Mechanism::CramMD5, TlsMode::Implicit, "IMAPS_PORT"},
                      MechanismCase{Mechanism::ScramSHA256, TlsMode::Implicit, "IMAPS_PORT"},
                      MechanismCase{Mechanism::XOAuth2, TlsMode::Implicit, "IMAPS_PORT"},
                      MechanismCase{Mechanism::OAuthBearer, TlsMode::Implicit, "IMAPS_PORT"},
                      MechanismCase{Mechanism::Login, TlsMode::StartTls, "IMAP_PORT"},
                      MechanismCase{Mechanism::Plain, TlsMode::StartTls, "IMAP_PORT"},
                      MechanismCase{Mechanism::CramMD5, TlsMode::StartTls, "IMAP_PORT"},
                      MechanismCase{Mechanism::ScramSHA256, TlsMode::StartTls, "IMAP_PORT"},
                      MechanismCase{Mechanism::XOAuth2, TlsMode::StartTls, "IMAP_PORT"},
                      MechanismCase{Mechanism::OAuthBearer, TlsMode::StartTls, "IMAP_PORT"}),
    [](const auto& info) {
      return std::string(to_string(info.param.mechanism)) +
             (info.param.tls == TlsMode::Implicit ? "Implicit" : "StartTls");
    });

TEST_F(ProbeDovecotTest, WrongPasswordIsAuthFailed) {
  ProbeSpec spec = spec_for("IMAPS_PORT", TlsMode::Implicit);
  const ProbeResult r = run_probe(spec, {dovecot_->get("PROBE_USER"), "not-the-password"});
  EXPECT_EQ(r.outcome, Outcome::Failure);
  EXPECT_EQ(r.reason, Reason::AuthFailed) << r.message;
  EXPECT_EQ(r.failed_step, Step::Login);
  EXPECT_EQ(r.message.find("not-the-password"), std::string::npos) << "secret leaked into message";
}

TEST_F(ProbeDovecotTest, ExpiredOAuthTokenIsAuthFailed) {
  ProbeSpec spec = spec_for("IMAPS_PORT", TlsMode::Implicit);
  spec.mechanism = Mechanism::XOAuth2;
  const std::string user = dovecot_->get("OAUTH_USER");
  const std::string token = dovecot_->mint_token(user, -60);
  ProbeResult r = run_probe(spec, {user, token});
  EXPECT_EQ(r.reason, Reason::AuthFailed) << r.message;
  // Dovecot's error JSON, decoded; never the token.
  EXPECT_NE(r.message.find("(token refused: status 401, schemes bearer, scope mail)"),
            std::string::npos)
      << r.message;
  EXPECT_EQ(r.message.find(token), std::string::npos);
  spec.mechanism = Mechanism::OAuthBearer;
  r = run_probe(spec, {user, token});
  EXPECT_EQ(r.reason, Reason::AuthFailed) << r.message;
  EXPECT_NE(r.message.find("(token refused: status invalid_token)"), std::string::npos)
      << r.message;
  EXPECT_EQ(r.message.find(token), std::string::npos);
}

TEST_F(ProbeDovecotTest, MissingMailboxIsMailboxNotFound) {
  ProbeSpec spec = spec_for("IMAPS_PORT", TlsMode::Implicit);
  spec.mailbox = "No/Such/Folder";
  const ProbeResult r = run_probe(spec, probe_user());
  EXPECT_EQ(r.reason, Reason::MailboxNotFound) << r.message;
  EXPECT_EQ(r.failed_step, Step::Select);
}

TEST_F(ProbeDovecotTest, OpensAnotherFolder) {
  ProbeSpec spec = spec_for("IMAPS_PORT", TlsMode::Implicit);
  spec.mailbox = "Archive";
  spec.fetch_latest = 5;  // empty folder: nothing to fetch, still a success
  const ProbeResult r = run_probe(spec, probe_user());
  expect_success(r);
  EXPECT_EQ(r.messages.value_or(99), 0u);
  EXPECT_EQ(r.fetched.value_or(99), 0u);
}

struct CertCase {
  const char* port_key;
  Reason reason;
};
class ProbeCertificateTest : public ProbeDovecotTest,
                             public ::testing::WithParamInterface<CertCase> {};

TEST_P(ProbeCertificateTest, BadCertificateFailsBeforeLoginAndIsDescribed) {
  ProbeSpec spec = spec_for(GetParam().port_key, TlsMode::Implicit);
  const ProbeResult r = run_probe(spec, probe_user());
  EXPECT_EQ(r.outcome, Outcome::Failure);
  EXPECT_EQ(r.reason, GetParam().reason) << r.message;
  EXPECT_EQ(r.failed_step, Step::Tls);
  EXPECT_FALSE(r.durations.contains(Step::Login));
  ASSERT_TRUE(r.certificate.has_value());
  EXPECT_FALSE(r.certificate->verified);
  EXPECT_FALSE(r.certificate->subject.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Certificates, ProbeCertificateTest,
    ::testing::Values(CertCase{"IMAPS_EXPIRED_PORT", Reason::CertificateExpired},
                      CertCase{"IMAPS_WRONGHOST_PORT", Reason::CertificateHostnameMismatch},
                      CertCase{"IMAPS_SELFSIGNED_PORT", Reason::CertificateUntrusted}),
    [](const auto& info) { return std::string(to_string(info.param.reason)); });

TEST_F(ProbeDovecotTest, ExpiredCertificateIsReportedWithNegativeDays) {
  ProbeSpec spec = spec_for("IMAPS_EXPIRED_PORT", TlsMode::Implicit);
  const ProbeResult r = run_probe(spec, probe_user());
  ASSERT_TRUE(r.certificate.has_value());
  EXPECT_LT(r.certificate->days_remaining, 0);
}

TEST_F(ProbeDovecotTest, InsecureSkipVerifyStillReportsTheUnverifiedCertificate) {
  ProbeSpec spec = spec_for("IMAPS_SELFSIGNED_PORT", TlsMode::Implicit);
  spec.insecure_skip_verify = true;
  const ProbeResult r = run_probe(spec, probe_user());
  expect_success(r);
  ASSERT_TRUE(r.certificate.has_value());
  EXPECT_FALSE(r.certificate->verified);
}

TEST_F(ProbeDovecotTest, CertificateExpiringSoonDegradesAPassingRun) {
  ProbeSpec spec = spec_for("IMAPS_EXPIRING_PORT", TlsMode::Implicit);
  const ProbeResult r = run_probe(spec, probe_user());
  EXPECT_EQ(r.outcome, Outcome::Degraded) << r.message;
  EXPECT_EQ(r.reason, Reason::CertificateExpiringSoon);
  ASSERT_TRUE(r.certificate.has_value());
  EXPECT_TRUE(r.certificate->verified);
  EXPECT_LT(r.certificate->days_remaining, 6);

  spec.cert_fail_before = std::chrono::hours(24 * 7);
  const ProbeResult critical = run_probe(spec, probe_user());
  EXPECT_EQ(critical.outcome, Outcome::Failure);
  EXPECT_EQ(critical.reason, Reason::CertificateExpiringSoon);
}

TEST_F(ProbeDovecotTest, SlowStepAgainstThresholdIsSlowResponse) {
  ProbeSpec spec = spec_for("IMAPS_PORT", TlsMode::Implicit);
  spec.thresholds.edit().warning[Step::Login] = 1ns;
  const ProbeResult r = run_probe(spec, probe_user());
  EXPECT_EQ(r.outcome, Outcome::Degraded);
  EXPECT_EQ(r.reason, Reason::SlowResponse);
  EXPECT_NE(r.message.find("login"), std::string::npos) << r.message;
  spec.thresholds.edit().total_critical = 1ns;
  EXPECT_EQ(run_probe(spec, probe_user()).outcome, Outcome::Failure);
}

TEST_F(ProbeDovecotTest, PlaintextLoginWithoutPermissionIsRefused) {
  ProbeSpec spec = spec_for("IMAP_NOSTARTTLS_PORT", TlsMode::None);
  spec.mechanism = Mechanism::Login;
  const ProbeResult r = run_probe(spec, probe_user());
  EXPECT_EQ(r.reason, Reason::PlaintextAuthRefused) << r.message;
  EXPECT_EQ(r.failed_step, Step::Login);
}

TEST_F(ProbeDovecotTest, PlaintextLoginWhenExplicitlyAllowed) {
  ProbeSpec spec = spec_for("IMAP_NOSTARTTLS_PORT", TlsMode::None);
  spec.mechanism = Mechanism::Login;
  spec.allow_plaintext = true;
  const ProbeResult r = run_probe(spec, probe_user());
  expect_success(r);
  EXPECT_FALSE(r.certificate.has_value());
}

TEST_F(ProbeDovecotTest, StartTlsNotOfferedIsSTARTTLSUnavailable) {
  ProbeSpec spec = spec_for("IMAP_NOSTARTTLS_PORT", TlsMode::StartTls);
  const ProbeResult r = run_probe(spec, probe_user());
  EXPECT_EQ(r.reason, Reason::STARTTLSUnavailable) << r.message;
  EXPECT_EQ(r.failed_step, Step::Tls);
}

TEST_F(ProbeDovecotTest, LoginDisabledBeforeStartTlsIsHonoured) {
  // The main plain port advertises LOGINDISABLED until STARTTLS.
  ProbeSpec spec = spec_for("IMAP_PORT", TlsMode::None);
  spec.mechanism = Mechanism::Login;
  spec.allow_plaintext = true;
  const ProbeResult r = run_probe(spec, probe_user());
  EXPECT_EQ(r.reason, Reason::AuthMechanismUnavailable) << r.message;
}

TEST_F(ProbeDovecotTest, RoundTripLeavesTheMailboxAsItWas) {
  const std::string user = dovecot_->get("PROBE_USER");
  const int before = dovecot_->count_messages(user);
  ASSERT_EQ(before, 10) << "the seeded INBOX is not where the test looks";
  ProbeSpec spec = spec_for("IMAPS_PORT", TlsMode::Implicit);
  spec.round_trip = true;
  const ProbeResult r = run_probe(spec, probe_user());
  expect_success(r);
  EXPECT_TRUE(r.durations.contains(Step::RoundTrip));
  EXPECT_EQ(dovecot_->count_messages(user), before);
}

TEST_F(ProbeDovecotTest, RefusedPortIsConnectRefused) {
  ProbeSpec spec = spec_for("IMAPS_PORT", TlsMode::Implicit);
  // Stopped instances are not needed: port 1 on loopback is closed here.
  spec.port = 1;
  const ProbeResult r = run_probe(spec, probe_user());
  EXPECT_EQ(r.reason, Reason::ConnectRefused) << r.message;
  EXPECT_EQ(r.failed_step, Step::Connect);
}

TEST_F(ProbeDovecotTest, UnresolvableHostIsDNSFailed) {
  ProbeSpec spec = spec_for("IMAPS_PORT", TlsMode::Implicit);
  spec.host = "no-such-host.invalid";
  spec.step_timeout = 3s;
  const ProbeResult r = run_probe(spec, probe_user());
  EXPECT_EQ(r.reason, Reason::DNSFailed) << r.message;
  EXPECT_EQ(r.failed_step, Step::Dns);
}

TEST_F(ProbeDovecotTest, ManyConcurrentProbesOnOneThread) {
  boost::asio::io_context io;
  Prober prober(io.get_executor());
  std::vector<ProbeResult> results;
  ProbeSpec spec = spec_for("IMAPS_PORT", TlsMode::Implicit);
  for (int i = 0; i < 20; ++i) {
    boost::asio::co_spawn(io, prober.run(spec, probe_user()),
                          [&](std::exception_ptr e, ProbeResult r) {
                            ASSERT_FALSE(e);
                            results.push_back(std::move(r));
                          });
  }
  io.run();
  ASSERT_EQ(results.size(), 20u);
  for (const auto& r : results) expect_success(r);
}

// The content checks against the seeded mailboxes: 10 messages in probe's
// INBOX (3 unseen), and the user `quota` at 10 of 20 messages.
TEST_F(ProbeDovecotTest, MessageCountBoundsOnTheMailboxAndASearch) {
  ProbeSpec spec = spec_for("IMAPS_PORT", TlsMode::Implicit);
  spec.checks.edit().min_messages = 1;
  spec.checks.edit().max_messages = 10;
  ProbeResult r = run_probe(spec, probe_user());
  expect_success(r);
  ASSERT_TRUE(r.content && r.content->message_count);
  EXPECT_EQ(*r.content->message_count, 10u);
  EXPECT_TRUE(r.durations.contains(Step::Checks));

  spec.checks.edit().min_messages = 11;
  r = run_probe(spec, probe_user());
  EXPECT_EQ(r.reason, Reason::MessageCountOutOfRange) << r.message;
  EXPECT_EQ(r.message, "10 messages in INBOX (min 11)");

  spec.checks.edit().min_messages.reset();
  spec.checks.edit().max_messages = 2;
  spec.checks.edit().count_search = "UNSEEN";
  r = run_probe(spec, probe_user());
  EXPECT_EQ(r.reason, Reason::MessageCountOutOfRange) << r.message;
  EXPECT_EQ(r.message, "3 messages matching UNSEEN (max 2)");
}

TEST_F(ProbeDovecotTest, NewestMessageAgeAndQuota) {
  // INTERNALDATE of a maildir message is its file's mtime: make the quota
  // user's mail three days old before Dovecot first indexes it.
  std::string out;
  ASSERT_EQ(testing::run_command("touch -d '3 days ago' " + dovecot_->workdir() + "/mail/" +
                                     dovecot_->get("QUOTA_USER") + "/cur/*",
                                 out),
            0)
      << out;
  const Credentials quota_user{dovecot_->get("QUOTA_USER"), dovecot_->get("QUOTA_PASSWORD")};
  ProbeSpec spec = spec_for("IMAPS_PORT", TlsMode::Implicit);
  spec.checks.edit().newest_max_age = std::chrono::hours(26);
  ProbeResult r = run_probe(spec, quota_user);
  EXPECT_EQ(r.reason, Reason::NewestMessageTooOld) << r.message;
  ASSERT_TRUE(r.content && r.content->newest_age);
  EXPECT_GT(*r.content->newest_age, std::chrono::hours(71));
  EXPECT_LT(*r.content->newest_age, std::chrono::hours(73));
  spec.checks.edit().newest_max_age = std::chrono::hours(80);
  r = run_probe(spec, quota_user);
  expect_success(r);
  spec.checks.edit().newest_search = "SUBJECT \"no such report\"";
  r = run_probe(spec, quota_user);
  EXPECT_EQ(r.reason, Reason::NewestMessageTooOld) << r.message;
  EXPECT_NE(r.message.find("no message matches"), std::string::npos) << r.message;

  // GETQUOTAROOT: MESSAGE 10 of 20 is the fullest resource.
  spec = spec_for("IMAPS_PORT", TlsMode::Implicit);
  spec.checks.edit().quota_warn_percent = 40;
  spec.checks.edit().quota_fail_percent = 90;
  r = run_probe(spec, quota_user);
  EXPECT_EQ(r.outcome, Outcome::Degraded) << r.message;
  EXPECT_EQ(r.reason, Reason::QuotaNearlyFull) << r.message;
  ASSERT_TRUE(r.content && r.content->quota);
  EXPECT_EQ(r.content->quota->resource, "MESSAGE");
  EXPECT_EQ(r.content->quota->usage, 10u);
  EXPECT_EQ(r.content->quota->limit, 20u);
  spec.checks.edit().quota_fail_percent = 50;
  r = run_probe(spec, quota_user);
  EXPECT_EQ(r.reason, Reason::QuotaExceeded) << r.message;
  EXPECT_EQ(r.message, "MESSAGE at 50.0% of quota \"User quota\" (10 of 20), failPercent 50%");
  // The probe user has a quota root without limits.
  r = run_probe(spec, probe_user());
  EXPECT_EQ(r.reason, Reason::QuotaUnavailable) << r.message;
  EXPECT_EQ(r.failed_step, Step::Checks);
}

}  // namespace
}  // namespace imapprobe::probe

namespace imapprobe::probe {
namespace {

// The one-shot command as a user runs it, in each output format.
class CheckCommandDovecotTest : public ProbeDovecotTest {
 protected:
  std::string run(const std::string& extra, int& code) {
    const std::string pw = dovecot_->workdir() + "/cli-password";
    std::ofstream(pw) << dovecot_->get("PROBE_PASSWORD") << "\n";
    std::string out;
    code = testing::run_command(
        std::string(IMAPPROBE_BINARY) + " check -H localhost -p " + dovecot_->get("IMAPS_PORT") +
            " --ca-file " + dovecot_->get("CA_FILE") + " -u " + dovecot_->get("PROBE_USER") +
            " --password-file " + pw + " --search ALL --fetch 3 " + extra,
        out);
    return out;
  }
};

TEST_F(CheckCommandDovecotTest, NagiosOutputWithPerfdataForEveryStep) {
  int code = -1;
  const std::string out = run("-w login=5s", code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out.rfind("IMAP OK - logged in, 10 messages in INBOX, 10 matched search, fetched 3", 0),
            0u)
      << out;
  for (const char* step : {" dns=", " connect=", " tls=", " greeting=", " login=", " select=",
                           " search=", " fetch=", " logout=", " total=", " cert_days="}) {
    EXPECT_NE(out.find(step), std::string::npos) << step << " missing: " << out;
  }
  EXPECT_NE(out.find(";5.000;"), std::string::npos)
      << "login warning threshold in perfdata: " << out;
}

TEST_F(CheckCommandDovecotTest, ContentChecksInPerfdataAndJson) {
  int code = -1;
  std::string out = run("--min-messages 1 --max-messages 50 --newest-max-age 100h", code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find(" messages=10;;1:50;0;"), std::string::npos) << out;
  EXPECT_NE(out.find(" newest_age="), std::string::npos) << out;
  out = run("--min-messages 20 -o json", code);
  EXPECT_EQ(code, 2) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["reason"], "MessageCountOutOfRange");
  EXPECT_EQ(j["content"]["messageCount"], 10);
}

TEST_F(CheckCommandDovecotTest, JsonOutput) {
  int code = -1;
  const std::string out = run("-o json", code);
  EXPECT_EQ(code, 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["outcome"], "Success");
  EXPECT_GT(j["durations"]["login"].get<double>(), 0);
  EXPECT_EQ(j["certificate"]["verified"], true);
  EXPECT_EQ(out.find(dovecot_->get("PROBE_PASSWORD")), std::string::npos);
}

TEST_F(CheckCommandDovecotTest, TextOutputAndCriticalExitCode) {
  int code = -1;
  std::string out = run("-o text", code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("login"), std::string::npos);
  EXPECT_NE(out.find("certificate:"), std::string::npos);
  out = run("--mailbox Nope", code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("IMAP CRITICAL - MailboxNotFound"), std::string::npos) << out;
}

}  // namespace
}  // namespace imapprobe::probe
