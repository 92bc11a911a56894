// The delivery check against real servers started by the test: Postfix for
// submission (587 with STARTTLS, 465 with implicit TLS, SASL through
// Dovecot), delivering by LMTP to Dovecot, whose Sieve files junk. Each case
// ends with the mailbox as it started.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "probe/prober.hpp"
#include "support/dovecot.hpp"
#include "support/postfix.hpp"

namespace imapprobe::probe {
namespace {

using testing::Dovecot;
using testing::Postfix;
using namespace std::chrono_literals;

class DeliveryPostfixTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dovecot_ = std::make_unique<Dovecot>();
    postfix_ = std::make_unique<Postfix>(*dovecot_);
  }
  static void TearDownTestSuite() {
    postfix_.reset();
    dovecot_.reset();
  }

  void SetUp() override {
    inbox_before_ = dovecot_->count_messages("probe");
    junk_before_ = junk_count();
  }
  void TearDown() override {
    EXPECT_EQ(dovecot_->count_messages("probe"), inbox_before_) << "INBOX changed";
    EXPECT_EQ(junk_count(), junk_before_) << "Junk changed";
  }

  static int junk_count() {
    try {
      return dovecot_->count_messages("probe", "Junk");
    } catch (const std::exception&) {
      return 0;  // not created until Sieve files something there
    }
  }

  static ProbeSpec spec() {
    ProbeSpec s;
    s.host = dovecot_->host_for("IMAPS_PORT");
    s.port = dovecot_->port("IMAPS_PORT");
    s.tls = TlsMode::Implicit;
    s.server_name = "localhost";
    s.ca_pem = dovecot_->ca_pem();
    s.use_system_trust = false;
    s.timeout = 30s;
    s.step_timeout = 10s;
    DeliverySpec d;
    d.host = "127.0.0.1";
    d.port = postfix_->port("SUBMISSION_PORT");
    d.tls = TlsMode::StartTls;
    d.server_name = "localhost";
    d.from = "probe@imap.test";
    d.to = "probe@imap.test";
    d.timeout = 10s;
    d.origin = "test";
    s.delivery = d;
    return s;
  }
  static Credentials probe_user() {
    return {dovecot_->get("PROBE_USER"), dovecot_->get("PROBE_PASSWORD")};
  }

  static std::unique_ptr<Dovecot> dovecot_;
  static std::unique_ptr<Postfix> postfix_;
  int inbox_before_ = 0;
  int junk_before_ = 0;
};
std::unique_ptr<Dovecot> DeliveryPostfixTest::dovecot_;
std::unique_ptr<Postfix> DeliveryPostfixTest::postfix_;

TEST_F(DeliveryPostfixTest, StartTlsSubmissionIsDeliveredTimedAndCleanedUp) {
  const ProbeResult r = run_probe(spec(), probe_user());
  ASSERT_EQ(r.outcome, Outcome::Success) << to_string(r.reason) << ": " << r.message;
  for (Step s : {Step::SmtpConnect, Step::SmtpTls, Step::SmtpEhlo, Step::SmtpAuth, Step::SmtpSend,
                 Step::Delivery, Step::DeliveryCleanup}) {
    ASSERT_TRUE(r.durations.contains(s)) << "missing step " << to_string(s);
  }
  ASSERT_TRUE(r.delivery);
  ASSERT_TRUE(r.delivery->latency);
  // The delivery step starts when SMTP accepts the canary: the two agree.
  const auto gap = *r.delivery->latency - r.durations.at(Step::Delivery);
  EXPECT_LT(std::chrono::abs(gap), 5ms);
  EXPECT_EQ(r.delivery->found_in, "INBOX");
  ASSERT_FALSE(r.delivery->queue_id.empty());
  // The queue id is Postfix's own: its log names it.
  EXPECT_NE(postfix_->log().find(r.delivery->queue_id), std::string::npos)
      << "queue id " << r.delivery->queue_id << " not in the Postfix log";
  ASSERT_TRUE(r.delivery->certificate);
  EXPECT_TRUE(r.delivery->certificate->verified);
  EXPECT_NE(r.message.find("delivered in "), std::string::npos) << r.message;
}

TEST_F(DeliveryPostfixTest, ImplicitTlsWithAuthLogin) {
  ProbeSpec s = spec();
  s.delivery->port = postfix_->port("SMTPS_PORT");
  s.delivery->tls = TlsMode::Implicit;
  s.delivery->mechanism = Mechanism::Login;
  const ProbeResult r = run_probe(s, probe_user());
  ASSERT_EQ(r.outcome, Outcome::Success) << to_string(r.reason) << ": " << r.message;
  EXPECT_TRUE(r.durations.contains(Step::SmtpTls));
}

TEST_F(DeliveryPostfixTest, WrongSmtpPasswordIsSmtpAuthFailed) {
  Credentials c = probe_user();
  c.extra.edit().smtp_username = c.username;
  c.extra.edit().smtp_secret = "not-the-password";
  const ProbeResult r = run_probe(spec(), c);
  EXPECT_EQ(r.reason, Reason::SMTPAuthFailed) << r.message;
  EXPECT_EQ(r.failed_step, Step::SmtpAuth);
  EXPECT_NE(r.message.find("535"), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("not-the-password"), std::string::npos);
}

TEST_F(DeliveryPostfixTest, UnknownRecipientIsRejectedWithTheEnhancedCode) {
  ProbeSpec s = spec();
  s.delivery->to = "nobody@imap.test";
  const ProbeResult r = run_probe(s, probe_user());
  EXPECT_EQ(r.reason, Reason::RecipientRejected) << r.message;
  EXPECT_EQ(r.failed_step, Step::SmtpSend);
  EXPECT_NE(r.message.find("550 5.1.1"), std::string::npos) << r.message;
}

TEST_F(DeliveryPostfixTest, AcceptedThenDiscardedIsDeliveryTimeoutWithinTheTimeout) {
  ProbeSpec s = spec();
  s.delivery->to = "probe+discard@imap.test";
  s.delivery->timeout = 3s;
  const auto started = std::chrono::steady_clock::now();
  const ProbeResult r = run_probe(s, probe_user());
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.reason, Reason::DeliveryTimeout) << r.message;
  EXPECT_EQ(r.failed_step, Step::Delivery);
  ASSERT_TRUE(r.delivery);
  EXPECT_FALSE(r.delivery->queue_id.empty());
  EXPECT_NE(r.message.find("queue id " + r.delivery->queue_id), std::string::npos) << r.message;
  EXPECT_GE(r.durations.at(Step::Delivery), 2500ms);
  EXPECT_LT(took, 10s);
}

TEST_F(DeliveryPostfixTest, HeldThenReleasedIsASlowDeliveryNamingTheStep) {
  ProbeSpec s = spec();
  s.delivery->to = "probe+hold@imap.test";
  s.delivery->timeout = 15s;
  s.thresholds.edit().warning[Step::Delivery] = 1s;
  std::thread release([] {
    std::this_thread::sleep_for(2500ms);
    postfix_->release();
  });
  const ProbeResult r = run_probe(s, probe_user());
  release.join();
  EXPECT_EQ(r.outcome, Outcome::Degraded) << to_string(r.reason) << ": " << r.message;
  EXPECT_EQ(r.reason, Reason::SlowResponse) << r.message;
  EXPECT_NE(r.message.find("delivery took"), std::string::npos) << r.message;
  ASSERT_TRUE(r.delivery && r.delivery->latency);
  EXPECT_GE(*r.delivery->latency, 2s);
}

TEST_F(DeliveryPostfixTest, SieveFilingIntoJunkIsDeliveredToJunk) {
  ProbeSpec s = spec();
  s.delivery->to = "probe+junk@imap.test";
  const ProbeResult r = run_probe(s, probe_user());
  EXPECT_EQ(r.reason, Reason::DeliveredToJunk) << r.message;
  EXPECT_EQ(r.failed_step, Step::Delivery);
  ASSERT_TRUE(r.delivery);
  EXPECT_EQ(r.delivery->found_in, "Junk");
  EXPECT_NE(r.message.find("junk folder Junk"), std::string::npos) << r.message;
}

TEST_F(DeliveryPostfixTest, NothingListeningIsConnectRefusedInTheSmtpStep) {
  ProbeSpec s = spec();
  s.delivery->port = 1;  // privileged and unused on loopback
  const ProbeResult r = run_probe(s, probe_user());
  EXPECT_EQ(r.reason, Reason::ConnectRefused) << r.message;
  EXPECT_EQ(r.failed_step, Step::SmtpConnect);
  EXPECT_NE(r.message.find("SMTP server"), std::string::npos) << r.message;
}

TEST_F(DeliveryPostfixTest, StartTlsOnTheImplicitPortIsATlsModeMismatch) {
  ProbeSpec s = spec();
  s.delivery->port = postfix_->port("SMTPS_PORT");  // speaks TLS first, spec says STARTTLS
  s.step_timeout = 3s;
  const ProbeResult r = run_probe(s, probe_user());
  EXPECT_EQ(r.failed_step, Step::SmtpEhlo) << r.message;
  EXPECT_EQ(r.reason, Reason::GreetingTimeout) << r.message;
  EXPECT_NE(r.message.find("no SMTP greeting within"), std::string::npos) << r.message;
}

}  // namespace
}  // namespace imapprobe::probe
