// The delivery check over two scripted servers, an SMTP one and the IMAP
// session it runs in: the dialogue on both sides, the steps it times, each
// refusal named with the server's own words, a canary filed as junk, a
// canary that never comes, and cleanup that leaves other probes' live
// canaries alone.
#include "probe/delivery.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>

#include "imap/sasl.hpp"
#include "support/scripted_connector.hpp"
#include "support/scripted_transport.hpp"
#include "unit/probe/scripted_client.hpp"

namespace imapprobe::probe {
namespace {

using test::Greeted;
using test::step_failure;
using testing::run_awaitable;
using testing::ScriptedConnector;
using testing::ScriptedTransport;
using namespace std::chrono_literals;

const std::string kToken = "0123456789abcdef0123456789abcdef";

class RecordedSteps final : public StepRunner {
 public:
  net::Clock::time_point begin(Step step, std::optional<Duration> limit) override {
    begun.push_back(step);
    return net::Clock::now() + limit.value_or(10s);
  }
  void end() override { ++ended; }
  std::vector<Step> begun;
  int ended = 0;
};

ProbeSpec delivery_spec() {
  ProbeSpec spec;
  spec.host = "imap.example.test";
  spec.timeout = 30s;
  DeliverySpec d;
  d.host = "smtp.example.test";
  d.tls = TlsMode::StartTls;
  d.from = "probe@example.test";
  d.to = "probe@example.test";
  d.timeout = 5s;
  d.origin = "eu-west";
  spec.delivery = d;
  return spec;
}

const Credentials kCreds{"probe@example.test", "pw"};

// IMAP before sending: find the junk folders by SPECIAL-USE, note Junk's
// UIDNEXT, select INBOX.
void imap_preparation(ScriptedTransport& t) {
  t.client("A0001 LIST \"\" \"*\" RETURN (SPECIAL-USE)\r\n")
      .server(
          "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
          "* LIST (\\HasNoChildren \\Junk) \"/\" Spam\r\n"
          "* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n"
          "A0001 OK List completed\r\n")
      .client("A0002 STATUS \"Spam\" (UIDNEXT)\r\n")
      .server("* STATUS Spam (UIDNEXT 7)\r\nA0002 OK done\r\n")
      .client("A0003 SELECT \"INBOX\"\r\n")
      .server("* 3 EXISTS\r\nA0003 OK [READ-WRITE] selected\r\n");
}

// SMTP up to the accepted message, over STARTTLS with AUTH PLAIN.
void smtp_until_accepted(ScriptedTransport& s) {
  s.server("220 smtp.example.test ESMTP\r\n")
      .client("EHLO imapprobe.invalid\r\n")
      .server("250-smtp.example.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
      .client("STARTTLS\r\n")
      .server("220 2.0.0 Ready to start TLS\r\n")
      .tls()
      .client("EHLO imapprobe.invalid\r\n")
      .server("250-smtp.example.test\r\n250-AUTH PLAIN LOGIN\r\n250 ENHANCEDSTATUSCODES\r\n")
      .client("AUTH PLAIN " + imap::base64_encode(imap::sasl_plain("probe@example.test", "pw")) +
              "\r\n")
      .server("235 2.7.0 Authentication successful\r\n")
      .client("MAIL FROM:<probe@example.test>\r\n")
      .server("250 2.1.0 Ok\r\n")
      .client("RCPT TO:<probe@example.test>\r\n")
      .server("250 2.1.5 Ok\r\n")
      .client("DATA\r\n")
      .server("354 End data with <CR><LF>.<CR><LF>\r\n")
      .client_until("\r\n.\r\n")
      .server("250 2.0.0 Ok: queued as 4C2B1E0A3F\r\n")
      .client("QUIT\r\n")
      .server("221 2.0.0 Bye\r\n");
}

// Greeting, EHLO, STARTTLS and EHLO again, offering AUTH `mechanisms`.
void smtp_until_auth(ScriptedTransport& s, const std::string& mechanisms) {
  s.server("220 smtp ESMTP\r\n")
      .client("EHLO imapprobe.invalid\r\n")
      .server("250-smtp\r\n250 STARTTLS\r\n")
      .client("STARTTLS\r\n")
      .server("220 go\r\n")
      .tls()
      .client("EHLO imapprobe.invalid\r\n")
      .server("250-smtp\r\n250 AUTH " + mechanisms + "\r\n");
}

struct Rig {
  Greeted imap{"IMAP4rev1 SPECIAL-USE UIDPLUS"};
  ScriptedTransport smtp;
  ScriptedConnector connector{smtp};
  RecordedSteps steps;
  DeliveryResult out;
  ProbeSpec spec = delivery_spec();

  boost::asio::awaitable<void> run() {
    return check_delivery(spec, kCreds, imap.client, connector, steps, out, kToken);
  }
};

void expect_played(const ScriptedTransport& t) {
  EXPECT_EQ(t.mismatch(), "");
  EXPECT_TRUE(t.finished());
}

TEST(Delivery, SubmitsFindsAndDeletesTheCanary) {
  Rig rig;
  imap_preparation(rig.imap.t);
  smtp_until_accepted(rig.smtp);
  rig.imap.t
      .client("A0004 NOOP\r\nA0005 UID SEARCH HEADER X-Imapprobe-Delivery " + kToken +
              "\r\nA0006 STATUS \"Spam\" (UIDNEXT)\r\n")
      .server(
          // Dovecot sends pipelined SEARCH data before NOOP completes, and
          // STATUS data may come anywhere: matched by mailbox name.
          "* 4 EXISTS\r\n* SEARCH 41\r\n* STATUS \"Spam\" (UIDNEXT 7)\r\nA0004 OK\r\nA0005 OK\r\n"
          "A0006 OK\r\n")
      .client("A0007 UID SEARCH HEADER X-Imapprobe-Delivery \"\"\r\n")
      .server("* SEARCH 41\r\nA0007 OK\r\n")
      .client("A0008 UID STORE 41 +FLAGS.SILENT (\\Deleted)\r\n")
      .server("A0008 OK\r\n")
      .client("A0009 UID EXPUNGE 41\r\n")
      .server("* 4 EXPUNGE\r\nA0009 OK\r\n");
  run_awaitable(rig.run());
  expect_played(rig.imap.t);
  expect_played(rig.smtp);
  EXPECT_EQ(rig.out.queue_id, "4C2B1E0A3F");
  EXPECT_EQ(rig.out.found_in, "INBOX");
  EXPECT_EQ(rig.out.smtp_address, "192.0.2.1:587");
  ASSERT_TRUE(rig.out.latency);
  EXPECT_EQ(rig.connector.resolved, std::vector<std::string>{"smtp.example.test"});
  EXPECT_EQ(rig.steps.begun,
            (std::vector<Step>{Step::Select, Step::SmtpConnect, Step::SmtpEhlo, Step::SmtpTls,
                               Step::SmtpEhlo, Step::SmtpAuth, Step::SmtpSend, Step::Delivery,
                               Step::DeliveryCleanup}));
  EXPECT_EQ(rig.steps.ended, 9);
  // The canary names its token and origin, and dot-stuffing kept it whole.
  const std::string& sent = rig.smtp.sent();
  EXPECT_NE(sent.find("X-Imapprobe-Delivery: " + kToken + " eu-west "), std::string::npos);
  EXPECT_NE(sent.find("Auto-Submitted: auto-generated\r\n"), std::string::npos);
  EXPECT_TRUE(rig.smtp.closed());
}

TEST(Delivery, RecipientRefusalQuotesTheServer) {
  Rig rig;
  imap_preparation(rig.imap.t);
  smtp_until_auth(rig.smtp, "PLAIN");
  rig.smtp.client_until("\r\n")
      .server("235 ok\r\n")
      .client("MAIL FROM:<probe@example.test>\r\n")
      .server("250 ok\r\n")
      .client("RCPT TO:<probe@example.test>\r\n")
      .server("550 5.1.1 <probe@example.test>: Recipient address rejected: User unknown\r\n");
  const StepFailure f = step_failure(rig.run());
  EXPECT_EQ(f.reason, Reason::RecipientRejected);
  EXPECT_EQ(f.message,
            "recipient probe@example.test refused: 550 5.1.1 <probe@example.test>: Recipient "
            "address rejected: User unknown");
  EXPECT_EQ(rig.steps.begun.back(), Step::SmtpSend);
  EXPECT_TRUE(rig.smtp.closed());
}

TEST(Delivery, AuthRefusalIsSmtpAuthFailedWithoutTheSecret) {
  Rig rig;
  imap_preparation(rig.imap.t);
  rig.spec.delivery->mechanism = Mechanism::Login;
  smtp_until_auth(rig.smtp, "PLAIN LOGIN");
  rig.smtp.client("AUTH LOGIN\r\n")
      .server("334 VXNlcm5hbWU6\r\n")
      .client(imap::base64_encode("probe@example.test") + "\r\n")
      .server("334 UGFzc3dvcmQ6\r\n")
      .client(imap::base64_encode("pw") + "\r\n")
      .server("535 5.7.8 Error: authentication failed: authentication failure\r\n");
  const StepFailure f = step_failure(rig.run());
  EXPECT_EQ(f.reason, Reason::SMTPAuthFailed);
  EXPECT_EQ(f.message,
            "SMTP AUTH LOGIN refused: 535 5.7.8 Error: authentication failed: authentication "
            "failure");
  EXPECT_EQ(f.message.find(imap::base64_encode("pw")), std::string::npos);
}

TEST(Delivery, OauthBearerRefusalIsAcknowledgedAndItsErrorNamed) {
  Rig rig;
  imap_preparation(rig.imap.t);
  rig.spec.delivery->mechanism = Mechanism::OAuthBearer;
  smtp_until_auth(rig.smtp, "PLAIN OAUTHBEARER");
  rig.smtp
      .client("AUTH OAUTHBEARER " +
              imap::base64_encode(imap::oauthbearer_initial("probe@example.test", "pw")) + "\r\n")
      .server("334 " + imap::base64_encode(R"({"status":"invalid_token","schemes":"bearer"})") +
              "\r\n")
      .client("AQ==\r\n")
      .server("535 5.7.8 Authentication failed\r\n");
  const StepFailure f = step_failure(rig.run());
  EXPECT_EQ(f.reason, Reason::SMTPAuthFailed);
  EXPECT_EQ(f.message,
            "SMTP AUTH OAUTHBEARER refused: 535 5.7.8 Authentication failed (token refused: "
            "status invalid_token, schemes bearer)");
}

TEST(Delivery, NoStartTlsOfferedIsStartTlsUnavailable) {
  Rig rig;
  imap_preparation(rig.imap.t);
  rig.smtp.server("220 smtp ESMTP\r\n")
      .client("EHLO imapprobe.invalid\r\n")
      .server("250-smtp\r\n250 AUTH PLAIN\r\n");
  const StepFailure f = step_failure(rig.run());
  EXPECT_EQ(f.reason, Reason::STARTTLSUnavailable);
  EXPECT_EQ(rig.steps.begun.back(), Step::SmtpTls);
}

TEST(Delivery, CredentialsNeverGoInClearUnlessAllowed) {
  Rig rig;
  imap_preparation(rig.imap.t);
  rig.spec.delivery->tls = TlsMode::None;
  rig.smtp.server("220 smtp ESMTP\r\n")
      .client("EHLO imapprobe.invalid\r\n")
      .server("250-smtp\r\n250 AUTH PLAIN\r\n");
  const StepFailure f = step_failure(rig.run());
  EXPECT_EQ(f.reason, Reason::PlaintextAuthRefused);
  EXPECT_EQ(rig.smtp.sent().find("AUTH"), std::string::npos);
}

TEST(Delivery, AnImapBannerOnTheSmtpPortIsNamed) {
  Rig rig;
  imap_preparation(rig.imap.t);
  rig.smtp.server("* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n");
  const StepFailure f = step_failure(rig.run());
  EXPECT_EQ(f.reason, Reason::ProtocolError);
  EXPECT_NE(f.message.find("not an SMTP greeting"), std::string::npos) << f.message;
  EXPECT_NE(f.message.find("an IMAP greeting"), std::string::npos) << f.message;
}

TEST(Delivery, RefusedGreetingIsSmtpUnavailable) {
  Rig rig;
  imap_preparation(rig.imap.t);
  rig.smtp.server("554 5.3.2 smtp.example.test no service here\r\n");
  const StepFailure f = step_failure(rig.run());
  EXPECT_EQ(f.reason, Reason::SMTPUnavailable);
  EXPECT_EQ(f.message,
            "SMTP server refused the session: 554 5.3.2 smtp.example.test no service here");
}

TEST(Delivery, NeverArrivingIsDeliveryTimeoutNamingTheQueueId) {
  Rig rig;
  rig.spec.delivery->timeout = Duration::zero();  // one poll, then the verdict
  imap_preparation(rig.imap.t);
  smtp_until_accepted(rig.smtp);
  rig.imap.t
      .client("A0004 NOOP\r\nA0005 UID SEARCH HEADER X-Imapprobe-Delivery " + kToken +
              "\r\nA0006 STATUS \"Spam\" (UIDNEXT)\r\n")
      .server("A0004 OK\r\n* SEARCH\r\nA0005 OK\r\n* STATUS Spam (UIDNEXT 7)\r\nA0006 OK\r\n");
  const StepFailure f = step_failure(rig.run());
  EXPECT_EQ(f.reason, Reason::DeliveryTimeout);
  EXPECT_EQ(f.message,
            "accepted by the SMTP server as queue id 4C2B1E0A3F, not in INBOX or Spam within 0s");
  EXPECT_EQ(rig.steps.begun.back(), Step::Delivery);
  expect_played(rig.imap.t);
}

TEST(Delivery, CanaryInTheJunkFolderIsDeletedThereAndNamed) {
  Rig rig;
  imap_preparation(rig.imap.t);
  smtp_until_accepted(rig.smtp);
  rig.imap.t
      .client("A0004 NOOP\r\nA0005 UID SEARCH HEADER X-Imapprobe-Delivery " + kToken +
              "\r\nA0006 STATUS \"Spam\" (UIDNEXT)\r\n")
      .server("A0004 OK\r\n* SEARCH\r\nA0005 OK\r\n* STATUS Spam (UIDNEXT 8)\r\nA0006 OK\r\n")
      .client("A0007 SELECT \"Spam\"\r\n")
      .server("* 1 EXISTS\r\nA0007 OK [READ-WRITE] selected\r\n")
      .client("A0008 UID SEARCH HEADER X-Imapprobe-Delivery " + kToken + "\r\n")
      .server("* SEARCH 7\r\nA0008 OK\r\n")
      .client("A0009 UID SEARCH HEADER X-Imapprobe-Delivery \"\"\r\n")
      .server("* SEARCH 7\r\nA0009 OK\r\n")
      .client("A0010 UID STORE 7 +FLAGS.SILENT (\\Deleted)\r\n")
      .server("A0010 OK\r\n")
      .client("A0011 UID EXPUNGE 7\r\n")
      .server("* 1 EXPUNGE\r\nA0011 OK\r\n");
  const StepFailure f = step_failure(rig.run());
  EXPECT_EQ(f.reason, Reason::DeliveredToJunk);
  EXPECT_EQ(f.message.rfind("the canary (queue id 4C2B1E0A3F) was delivered to the junk folder "
                            "Spam after ",
                            0),
            0u)
      << f.message;
  EXPECT_EQ(rig.out.found_in, "Spam");
  expect_played(rig.imap.t);
}

TEST(Delivery, CleanupSparesLiveCanariesOfOthersAndTakesAbandonedOnes) {
  Rig rig;
  imap_preparation(rig.imap.t);
  smtp_until_accepted(rig.smtp);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::string live = "X-Imapprobe-Delivery: " + std::string(32, 'a') + " us-east " +
                           std::to_string(now - 2) + "\r\n\r\n";
  const std::string old = "X-Imapprobe-Delivery: " + std::string(32, 'b') + " us-east " +
                          std::to_string(now - 3600) + "\r\n\r\n";
  rig.imap.t
      .client("A0004 NOOP\r\nA0005 UID SEARCH HEADER X-Imapprobe-Delivery " + kToken +
              "\r\nA0006 STATUS \"Spam\" (UIDNEXT)\r\n")
      .server("A0004 OK\r\n* SEARCH 41\r\nA0005 OK\r\n* STATUS Spam (UIDNEXT 7)\r\nA0006 OK\r\n")
      .client("A0007 UID SEARCH HEADER X-Imapprobe-Delivery \"\"\r\n")
      .server("* SEARCH 12 40 41\r\nA0007 OK\r\n")
      .client("A0008 UID FETCH 12,40 (UID BODY.PEEK[HEADER.FIELDS (X-Imapprobe-Delivery)])\r\n")
      .server("* 1 FETCH (UID 12 BODY[HEADER.FIELDS (X-Imapprobe-Delivery)] {" +
              std::to_string(old.size()) + "}\r\n" + old + ")\r\n" +
              "* 2 FETCH (UID 40 BODY[HEADER.FIELDS (X-Imapprobe-Delivery)] {" +
              std::to_string(live.size()) + "}\r\n" + live + ")\r\nA0008 OK\r\n")
      .client("A0009 UID STORE 41,12 +FLAGS.SILENT (\\Deleted)\r\n")
      .server("A0009 OK\r\n")
      .client("A0010 UID EXPUNGE 41,12\r\n")
      .server("A0010 OK\r\n");
  run_awaitable(rig.run());
  expect_played(rig.imap.t);
}

TEST(DeliveryCanary, StampRoundTripsAndForeignValuesAreNotOurs) {
  const std::string m = delivery_canary(kToken, "eu-west", 1767225600, "a@b", "c@d", "date");
  const auto at = m.find("X-Imapprobe-Delivery:");
  ASSERT_NE(at, std::string::npos);
  const auto end = m.find("\r\n", at);
  const auto stamp = parse_canary_stamp(m.substr(at + 21, end - at - 21));
  ASSERT_TRUE(stamp);
  EXPECT_EQ(stamp->token, kToken);
  EXPECT_EQ(stamp->origin, "eu-west");
  EXPECT_EQ(stamp->sent_unix, 1767225600);
  EXPECT_FALSE(parse_canary_stamp(" short eu-west 1"));
  EXPECT_FALSE(parse_canary_stamp(" " + kToken + " eu-west soon"));
  EXPECT_FALSE(parse_canary_stamp(" " + kToken));
  // Without an origin the canary still has three fields.
  EXPECT_NE(delivery_canary(kToken, "", 1, "a@b", "c@d", "x").find(kToken + " - 1\r\n"),
            std::string::npos);
}

TEST(DeliveryCanary, CommonJunkNames) {
  EXPECT_TRUE(common_junk_name("Junk"));
  EXPECT_TRUE(common_junk_name("SPAM"));
  EXPECT_TRUE(common_junk_name("[Gmail]/Spam"));
  EXPECT_TRUE(common_junk_name("Junk E-mail"));
  EXPECT_FALSE(common_junk_name("Archive"));
  EXPECT_FALSE(common_junk_name("Junkyard"));
}

}  // namespace
}  // namespace imapprobe::probe
