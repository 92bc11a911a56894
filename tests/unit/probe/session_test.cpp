// The session script over an in-memory transport: which commands go out in
// which order, how each step is timed, and that a failure at any operation
// becomes a verdict naming the step.
#include "probe/session.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>

#include "imap/sasl.hpp"
#include "support/scripted_connector.hpp"
#include "support/scripted_transport.hpp"

namespace imapprobe::probe {
namespace {

using testing::run_awaitable;
using testing::ScriptedConnector;
using testing::ScriptedTransport;
using namespace std::chrono_literals;

const Credentials kCreds{"probe", "pw"};
const std::string kPlainIr = imap::base64_encode(imap::sasl_plain("probe", "pw"));

ProbeSpec implicit_spec() {
  ProbeSpec spec;
  spec.host = "mail.example.test";
  spec.tls = TlsMode::Implicit;
  spec.mechanism = Mechanism::Plain;
  spec.search = "ALL";
  spec.fetch_latest = 2;
  spec.timeout = 30s;
  spec.step_timeout = 10s;
  return spec;
}

// A healthy implicit-TLS session with SEARCH and FETCH; LOGOUT rides behind FETCH.
void script_healthy(ScriptedTransport& t) {
  t.tls()
      .server("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n")
      .client("A0001 AUTHENTICATE PLAIN " + kPlainIr + "\r\n")
      .server("A0001 OK [CAPABILITY IMAP4rev1 UIDPLUS] logged in\r\n")
      .client("A0002 EXAMINE \"INBOX\"\r\n")
      .server("* 3 EXISTS\r\nA0002 OK [READ-ONLY] done\r\n")
      .client("A0003 SEARCH ALL\r\n")
      .server("* SEARCH 1 2 3\r\nA0003 OK done\r\n")
      .client("A0004 FETCH 2:3 (UID RFC822.SIZE BODY.PEEK[HEADER])\r\nA0005 LOGOUT\r\n")
      .server(
          "* 2 FETCH (UID 2 RFC822.SIZE 10)\r\n* 3 FETCH (UID 3 RFC822.SIZE 10)\r\n"
          "A0004 OK done\r\n* BYE bye\r\nA0005 OK done\r\n");
}

ProbeResult run(const ProbeSpec& spec, ScriptedConnector& connector) {
  return run_awaitable(run_session(spec, kCreds, connector, imap::Limits{}));
}

TEST(SessionScript, AHealthySessionSendsTheScriptedCommandsAndTimesEachStep) {
  ScriptedTransport t;
  script_healthy(t);
  ScriptedConnector connector(t);
  const ProbeResult r = run(implicit_spec(), connector);
  EXPECT_EQ(r.outcome, Outcome::Success) << r.message;
  EXPECT_EQ(t.mismatch(), "");
  EXPECT_TRUE(t.finished());
  EXPECT_TRUE(t.closed());
  EXPECT_EQ(t.tls_server_name(), "mail.example.test");
  EXPECT_EQ(connector.resolved.size(), 1);
  for (Step s : {Step::Dns, Step::Connect, Step::Tls, Step::Greeting, Step::Login, Step::Select,
                 Step::Search, Step::Fetch, Step::Logout}) {
    EXPECT_TRUE(r.durations.contains(s)) << to_string(s);
  }
  // The greeting carried the capabilities: no CAPABILITY round trip.
  EXPECT_FALSE(r.durations.contains(Step::Capability));
  EXPECT_EQ(r.messages, 3u);
  EXPECT_EQ(r.search_matches, 3u);
  EXPECT_EQ(r.fetched, 2u);
  EXPECT_EQ(r.remote_address, "192.0.2.1:993");
  // The capabilities the login reply advertised replace the greeting's.
  EXPECT_EQ(r.capabilities, (std::vector<std::string>{"IMAP4REV1", "UIDPLUS"}));
  // Each step set the transport's deadline.
  EXPECT_GE(t.deadlines_set(), 7u);
}

TEST(SessionScript, LogoutIsPipelinedBehindTheLastCommand) {
  ScriptedTransport t;
  script_healthy(t);
  ScriptedConnector connector(t);
  run(implicit_spec(), connector);
  ASSERT_FALSE(t.writes().empty());
  EXPECT_EQ(t.writes().back(),
            "A0004 FETCH 2:3 (UID RFC822.SIZE BODY.PEEK[HEADER])\r\nA0005 LOGOUT\r\n");
}

TEST(SessionScript, AFailureAtAnyOperationIsAVerdictWithAStep) {
  // Count the operations of the healthy session, then fail each in turn.
  std::size_t operations = 0;
  {
    ScriptedTransport t;
    script_healthy(t);
    ScriptedConnector connector(t);
    run(implicit_spec(), connector);
    operations = t.operations();
  }
  // TLS, then a write and a read per round trip: greeting, login, select,
  // search, fetch with the pipelined LOGOUT.
  ASSERT_EQ(operations, 10u);
  for (auto kind : {net::IoFailure::TimedOut, net::IoFailure::Closed, net::IoFailure::Reset,
                    net::IoFailure::Tls, net::IoFailure::Other}) {
    for (std::size_t op = 1; op <= operations; ++op) {
      ScriptedTransport t;
      script_healthy(t);
      t.fail_at(op, kind);
      ScriptedConnector connector(t);
      const ProbeResult r = run(implicit_spec(), connector);
      SCOPED_TRACE("operation " + std::to_string(op) + " kind " +
                   std::to_string(static_cast<int>(kind)));
      EXPECT_EQ(r.outcome, Outcome::Failure);
      EXPECT_TRUE(r.failed_step.has_value());
      EXPECT_FALSE(r.message.empty());
      EXPECT_EQ(r.message.find("pw"), std::string::npos) << r.message;
      EXPECT_TRUE(t.closed());
      if (kind == net::IoFailure::TimedOut) {
        const Reason expected = op == 1   ? Reason::Timeout  // the TLS handshake
                                : op == 2 ? Reason::GreetingTimeout
                                : op <= 4 ? Reason::LoginTimeout
                                          : Reason::CommandTimeout;
        EXPECT_EQ(r.reason, expected) << r.message;
      }
    }
  }
}

TEST(SessionScript, ATimeoutNamesTheCommandThatGotNoReply) {
  ScriptedTransport t;
  script_healthy(t);
  t.fail_at(4, net::IoFailure::TimedOut);  // tls, greeting, AUTHENTICATE sent, its reply
  ScriptedConnector connector(t);
  const ProbeResult r = run(implicit_spec(), connector);
  EXPECT_EQ(r.reason, Reason::LoginTimeout);
  EXPECT_EQ(r.failed_step, Step::Login);
  EXPECT_EQ(r.message.rfind("no reply to AUTHENTICATE PLAIN within ", 0), 0u) << r.message;
}

TEST(SessionScript, AnIpLiteralIsNotLookedUp) {
  ScriptedTransport t;
  script_healthy(t);
  ScriptedConnector connector(t);
  ProbeSpec spec = implicit_spec();
  spec.host = "192.0.2.7";
  const ProbeResult r = run(spec, connector);
  EXPECT_EQ(r.outcome, Outcome::Success) << r.message;
  EXPECT_EQ(connector.resolved.size(), 0);
  EXPECT_FALSE(r.durations.contains(Step::Dns));
  EXPECT_EQ(r.remote_address, "192.0.2.7:993");
}

TEST(SessionScript, StartTlsForgetsWhatWasSaidInClearAndAsksAgain) {
  ScriptedTransport t;
  t.server("* OK ready\r\n")
      .client("A0001 CAPABILITY\r\n")
      .server("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\nA0001 OK done\r\n")
      .client("A0002 STARTTLS\r\n")
      // A man in the middle appends a capability after the OK, in clear.
      .server("A0002 OK begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=INJECTED\r\n")
      .tls()
      .client("A0003 CAPABILITY\r\n")
      .server("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA0003 OK done\r\n")
      // No SASL-IR: the initial response waits for the server's "+".
      .client("A0004 AUTHENTICATE PLAIN\r\n")
      .server("+ \r\n")
      .client(kPlainIr + "\r\n")
      .server("A0004 OK logged in\r\n")
      .client("A0005 EXAMINE \"INBOX\"\r\n")
      .server("* 0 EXISTS\r\nA0005 OK done\r\n")
      // Not pipelined behind SELECT: a refusal there may need LIST.
      .client("A0006 LOGOUT\r\n")
      .server("* BYE\r\nA0006 OK done\r\n");
  ScriptedConnector connector(t);
  ProbeSpec spec = implicit_spec();
  spec.tls = TlsMode::StartTls;
  spec.search.clear();
  spec.fetch_latest = 0;
  const ProbeResult r = run(spec, connector);
  EXPECT_EQ(r.outcome, Outcome::Success) << r.message;
  EXPECT_EQ(t.mismatch(), "");
  EXPECT_TRUE(t.finished());
  EXPECT_EQ(r.capabilities, (std::vector<std::string>{"IMAP4REV1", "AUTH=PLAIN"}));
  EXPECT_TRUE(r.durations.contains(Step::Capability));
  EXPECT_TRUE(r.durations.contains(Step::Tls));
}

TEST(SessionScript, CredentialsAreNotSentInClearWithoutPermission) {
  ScriptedTransport t;
  t.server("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n");
  ScriptedConnector connector(t);
  ProbeSpec spec = implicit_spec();
  spec.tls = TlsMode::None;
  const ProbeResult r = run(spec, connector);
  EXPECT_EQ(r.reason, Reason::PlaintextAuthRefused);
  EXPECT_EQ(r.failed_step, Step::Login);
  EXPECT_EQ(t.sent(), "");
}

TEST(SessionScript, AnUntrustedCertificateEndsTheSessionBeforeAByteIsSent) {
  ScriptedTransport t;
  net::TlsFacts facts;
  facts.verify_error = X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT;
  t.tls(facts).server("* OK ready\r\n");
  ScriptedConnector connector(t);
  const ProbeResult r = run(implicit_spec(), connector);
  EXPECT_EQ(r.reason, Reason::CertificateUntrusted) << r.message;
  EXPECT_EQ(r.failed_step, Step::Tls);
  EXPECT_EQ(t.sent(), "");
  ASSERT_TRUE(r.certificate.has_value());
  EXPECT_FALSE(r.certificate->verified);
}

TEST(SessionScript, APlainGreetingToATlsHandshakeIsTLSModeMismatch) {
  ScriptedTransport t;
  t.fail_at(1, net::IoFailure::Tls, "* OK ");
  ScriptedConnector connector(t);
  ProbeSpec spec = implicit_spec();
  spec.port = 143;
  const ProbeResult r = run(spec, connector);
  EXPECT_EQ(r.reason, Reason::TLSModeMismatch) << r.message;
  EXPECT_NE(r.message.find("port 143"), std::string::npos) << r.message;
}

TEST(SessionScript, AnSmtpBannerToATlsHandshakeIsNotIMAP) {
  ScriptedTransport t;
  t.fail_at(1, net::IoFailure::Tls, "220 m");
  ScriptedConnector connector(t);
  const ProbeResult r = run(implicit_spec(), connector);
  EXPECT_EQ(r.reason, Reason::NotIMAP) << r.message;
  EXPECT_NE(r.message.find("SMTP"), std::string::npos) << r.message;
}

TEST(SessionScript, AGreetingTimeoutOnPort993WithoutTlsSuggestsImplicitTls) {
  ScriptedTransport t;  // the server says nothing
  ScriptedConnector connector(t);
  ProbeSpec spec = implicit_spec();
  spec.tls = TlsMode::StartTls;
  spec.port = 993;
  const ProbeResult r = run(spec, connector);
  EXPECT_EQ(r.reason, Reason::GreetingTimeout) << r.message;
  EXPECT_NE(r.message.find("set tls: Implicit"), std::string::npos) << r.message;
}

TEST(SessionScript, FetchingFromAnEmptyMailboxSendsNothingAndLogsOutOnce) {
  ScriptedTransport t;
  t.tls()
      .server("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n")
      .client("A0001 AUTHENTICATE PLAIN " + kPlainIr + "\r\n")
      .server("A0001 OK logged in\r\n")
      .client("A0002 EXAMINE \"INBOX\"\r\n")
      .server("* 0 EXISTS\r\nA0002 OK done\r\n")
      .client("A0003 LOGOUT\r\n")
      .server("* BYE\r\nA0003 OK done\r\n");
  ScriptedConnector connector(t);
  ProbeSpec spec = implicit_spec();
  spec.search.clear();
  const ProbeResult r = run(spec, connector);
  EXPECT_EQ(r.outcome, Outcome::Success) << r.message;
  EXPECT_EQ(t.mismatch(), "");
  EXPECT_TRUE(t.finished());
  EXPECT_EQ(r.fetched, 0u);
}

TEST(SessionScript, WithoutLoginTheSessionIsGreetingAndLogout) {
  ScriptedTransport t;
  t.tls()
      .server("* OK [CAPABILITY IMAP4rev1] ready\r\n")
      .client("A0001 LOGOUT\r\n")
      .server("* BYE\r\nA0001 OK done\r\n");
  ScriptedConnector connector(t);
  ProbeSpec spec = implicit_spec();
  spec.mechanism = Mechanism::None;
  spec.search.clear();
  spec.fetch_latest = 0;
  const ProbeResult r = run(spec, connector);
  EXPECT_EQ(r.outcome, Outcome::Success) << r.message;
  EXPECT_EQ(r.message, "connected");
  EXPECT_TRUE(t.finished());
}

}  // namespace
}  // namespace imapprobe::probe
