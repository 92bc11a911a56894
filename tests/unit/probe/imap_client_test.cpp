// The IMAP client over a scripted server: the greeting (and what answered
// when it is not IMAP), capabilities and alerts, collecting a reply,
// pipelining, and how each way the wire fails is named.
#include "probe/imap_client.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "unit/probe/scripted_client.hpp"

namespace imapprobe::probe {
namespace {

using test::Greeted;
using test::step_failure;
using testing::run_awaitable;
using testing::ScriptedTransport;
using Caps = std::vector<std::string>;

void expect_played(const ScriptedTransport& t) {
  EXPECT_EQ(t.mismatch(), "");
  EXPECT_TRUE(t.finished());
}

// ---- the greeting ----

TEST(ImapClientGreeting, CapabilitiesFromTheGreetingCode) {
  ScriptedTransport t;
  t.server("* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR AUTH=PLAIN] Dovecot ready.\r\n");
  ImapClient client(t, {});
  const imap::Response r = run_awaitable(client.greeting());
  EXPECT_EQ(r.status, imap::Status::Ok);
  EXPECT_EQ(r.text, "Dovecot ready.");
  EXPECT_EQ(client.capabilities(), (Caps{"IMAP4REV1", "LITERAL+", "SASL-IR", "AUTH=PLAIN"}));
  EXPECT_TRUE(client.has("literal+"));
  EXPECT_TRUE(client.has("auth=plain"));
  EXPECT_FALSE(client.has("UIDPLUS"));
  EXPECT_EQ(client.joined_capabilities(), "IMAP4REV1 LITERAL+ SASL-IR AUTH=PLAIN");
  EXPECT_EQ(t.sent(), "");
}

TEST(ImapClientGreeting, AnAlertIsCollected) {
  ScriptedTransport t;
  t.server("* OK [ALERT] System shutdown in 10 minutes\r\n");
  ImapClient client(t, {});
  run_awaitable(client.greeting());
  EXPECT_EQ(client.alerts(), (Caps{"System shutdown in 10 minutes"}));
  EXPECT_TRUE(client.capabilities().empty());
}

TEST(ImapClientGreeting, EightBitAndControlCharactersInTheTextAreStillIMAP) {
  // RFC 3501 TEXT-CHAR allows controls; RFC 9051 allows UTF-8 in text.
  ScriptedTransport t;
  t.server(
      "* OK [ALERT] Wartung um 22:00 \xE2\x80\x93 Gr\xC3\xBC\xC3\x9F"
      "e\x07\r\n");
  ImapClient client(t, {});
  EXPECT_EQ(run_awaitable(client.greeting()).status, imap::Status::Ok);
  // Made printable: a server cannot ring bells or forge lines through it.
  EXPECT_EQ(client.alerts(),
            (Caps{"Wartung um 22:00 \\xe2\\x80\\x93 Gr\\xc3\\xbc\\xc3\\x9fe\\x07"}));
}

TEST(ImapClientGreeting, PreauthIsAccepted) {
  ScriptedTransport t;
  t.server("* PREAUTH [CAPABILITY IMAP4rev1] logged in as probe\r\n");
  ImapClient client(t, {});
  EXPECT_EQ(run_awaitable(client.greeting()).status, imap::Status::PreAuth);
}

TEST(ImapClientGreeting, AGreetingInPiecesIsRead) {
  ScriptedTransport t;
  t.server("*").server(" O").server("K ready\r\n");
  ImapClient client(t, {});
  EXPECT_EQ(run_awaitable(client.greeting()).text, "ready");
  expect_played(t);
}

TEST(ImapClientGreeting, ByeIsServerBye) {
  ScriptedTransport t;
  t.server("* BYE [UNAVAILABLE] Too many connections\r\n");
  ImapClient client(t, {});
  const StepFailure f = step_failure(client.greeting());
  EXPECT_EQ(f.reason, Reason::ServerBye);
  EXPECT_EQ(f.message, "server refused the session: [UNAVAILABLE] Too many connections");
}

TEST(ImapClientGreeting, NoIsAProtocolError) {
  ScriptedTransport t;
  t.server("* NO go away\r\n");
  ImapClient client(t, {});
  const StepFailure f = step_failure(client.greeting());
  EXPECT_EQ(f.reason, Reason::ProtocolError);
  EXPECT_EQ(f.message, "greeting is not OK: go away");
}

TEST(ImapClientGreeting, ATlsRecordIsTLSModeMismatch) {
  ScriptedTransport t;
  // A TLS alert record (handshake_failure), as a TLS-only port answers bytes it cannot read;
  // its first byte alone is not enough to tell.
  t.server("\x15").server(std::string("\x03\x03\x00\x02\x02\x28", 6));
  ImapClient client(t, {});
  const StepFailure f = step_failure(client.greeting());
  EXPECT_EQ(f.reason, Reason::TLSModeMismatch);
  EXPECT_EQ(f.message,
            "the server sent a TLS record (bytes 15 03 03 00 02 02 28) instead of a greeting: it "
            "expects TLS from the first byte; set tls: Implicit (usually port 993)");
  expect_played(t);
}

TEST(ImapClientGreeting, AnSmtpBannerIsNotIMAP) {
  ScriptedTransport t;
  t.server("220 mx.example.test ESMTP Postfix\r\n");
  ImapClient client(t, {});
  const StepFailure f = step_failure(client.greeting());
  EXPECT_EQ(f.reason, Reason::NotIMAP);
  EXPECT_EQ(f.message,
            "the server sent an SMTP (or FTP) banner (\"220 mx.example.test ESMTP Postfix\"), not "
            "an IMAP greeting: check the port (IMAP is 993 with implicit TLS, 143 with STARTTLS "
            "or none)");
}

TEST(ImapClientGreeting, APop3GreetingIsNotIMAP) {
  ScriptedTransport t;
  t.server("+OK Dovecot ready.\r\n");
  ImapClient client(t, {});
  const StepFailure f = step_failure(client.greeting());
  EXPECT_EQ(f.reason, Reason::NotIMAP);
  EXPECT_EQ(f.message.rfind("the server sent a POP3 greeting (\"+OK Dovecot ready.\"), ", 0), 0u)
      << f.message;
}

TEST(ImapClientGreeting, SilenceIsGreetingTimeout) {
  ScriptedTransport t;
  t.fail_at(1, net::IoFailure::TimedOut);
  ImapClient client(t, {});
  const StepFailure f = step_failure(client.greeting());
  EXPECT_EQ(f.reason, Reason::GreetingTimeout);
  EXPECT_TRUE(std::regex_match(f.message, std::regex("no greeting within [0-9.]+(ns|us|ms|s)")))
      << f.message;
}

TEST(ImapClientGreeting, ClosedIsConnectionClosedNamingTheGreeting) {
  ScriptedTransport t;
  t.server("* O").fail_at(2, net::IoFailure::Closed);
  ImapClient client(t, {});
  const StepFailure f = step_failure(client.greeting());
  EXPECT_EQ(f.reason, Reason::ConnectionClosed);
  EXPECT_EQ(f.message, "server closed the connection while waiting for the greeting");
}

// ---- replies ----

TEST(ImapClientReply, CollectsTheUntaggedResponsesInOrder) {
  Greeted g("IMAP4rev1");
  const std::string tag = g.client.queue("SELECT \"INBOX\"", "SELECT \"INBOX\"");
  EXPECT_EQ(tag, "A0001");
  g.t.client("A0001 SELECT \"INBOX\"\r\n")
      .server(
          "* FLAGS (\\Seen)\r\n* 3 EXISTS\r\n* 1 RECENT\r\n* OK [UIDVALIDITY 42] ok\r\n"
          "A0001 OK [READ-WRITE] done\r\n");
  const Reply r = run_awaitable(g.client.reply(tag));
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.tagged.tag, "A0001");
  EXPECT_EQ(r.tagged.code, "READ-WRITE");
  ASSERT_EQ(r.untagged.size(), 4u);
  EXPECT_EQ(r.untagged[0].keyword, "FLAGS");
  EXPECT_EQ(r.untagged[1].keyword, "EXISTS");
  EXPECT_EQ(r.untagged[1].number, 3u);
  EXPECT_EQ(r.untagged[2].keyword, "RECENT");
  EXPECT_EQ(r.untagged[3].code, "UIDVALIDITY");
  expect_played(g.t);
}

TEST(ImapClientReply, CapabilitiesFromAnUntaggedCapabilityAndATaggedCode) {
  ScriptedTransport t;
  t.server("* OK ready\r\n")
      .client("A0001 CAPABILITY\r\n")
      .server("* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN\r\nA0001 OK done\r\n")
      .client("A0002 NOOP\r\n")
      .server("A0002 OK [CAPABILITY IMAP4rev1 UIDPLUS] done\r\n");
  ImapClient client(t, {});
  run_awaitable(client.greeting());
  EXPECT_TRUE(client.capabilities().empty());
  run_awaitable(client.reply(client.queue("CAPABILITY", "CAPABILITY")));
  EXPECT_EQ(client.capabilities(), (Caps{"IMAP4REV1", "STARTTLS", "AUTH=PLAIN"}));
  // A later list replaces the earlier one.
  run_awaitable(client.reply(client.queue("NOOP", "NOOP")));
  EXPECT_EQ(client.capabilities(), (Caps{"IMAP4REV1", "UIDPLUS"}));
  expect_played(t);
}

TEST(ImapClientReply, AlertsBeforeATaggedReplyAreCollected) {
  ScriptedTransport t;
  t.server("* OK [ALERT] first\r\n")
      .client("A0001 NOOP\r\n")
      .server("* OK [ALERT] Your password expires in 3 days\r\nA0001 OK done\r\n");
  ImapClient client(t, {});
  run_awaitable(client.greeting());
  run_awaitable(client.reply(client.queue("NOOP", "NOOP")));
  EXPECT_EQ(client.alerts(), (Caps{"first", "Your password expires in 3 days"}));
}

TEST(ImapClientReply, ByeBeforeTheTaggedReplyIsServerBye) {
  Greeted g("IMAP4rev1");
  const std::string tag = g.client.queue("SEARCH", "SEARCH ALL");
  g.t.client("A0001 SEARCH ALL\r\n").server("* BYE [UNAVAILABLE] Server shutting down\r\n");
  const StepFailure f = step_failure(g.client.reply(tag));
  EXPECT_EQ(f.reason, Reason::ServerBye);
  EXPECT_EQ(f.message, "server said BYE: [UNAVAILABLE] Server shutting down");
}

TEST(ImapClientReply, ByeIsExpectedForLogout) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 LOGOUT\r\n")
      .server("* BYE IMAP4rev1 Server logging out\r\nA0001 OK LOGOUT completed\r\n");
  const Reply r = run_awaitable(g.client.logout());
  EXPECT_TRUE(r.ok());
  ASSERT_EQ(r.untagged.size(), 1u);
  EXPECT_EQ(r.untagged[0].status, imap::Status::Bye);
  expect_played(g.t);
}

TEST(ImapClientReply, AReplyWithAnotherTagIsAProtocolError) {
  Greeted g("IMAP4rev1");
  const std::string tag = g.client.queue("NOOP", "NOOP");
  g.t.client("A0001 NOOP\r\n").server("A0007 OK done\r\n");
  const StepFailure f = step_failure(g.client.reply(tag));
  EXPECT_EQ(f.reason, Reason::ProtocolError);
  EXPECT_EQ(f.message, "server answered tag A0007 while A0001 was pending");
}

TEST(ImapClientReply, AnUnexpectedContinuationIsAProtocolError) {
  Greeted g("IMAP4rev1");
  const std::string tag = g.client.queue("NOOP", "NOOP");
  g.t.client("A0001 NOOP\r\n").server("+ go ahead\r\n");
  const StepFailure f = step_failure(g.client.reply(tag));
  EXPECT_EQ(f.reason, Reason::ProtocolError);
  EXPECT_EQ(f.message, "unexpected continuation request: go ahead");
}

TEST(ImapClientReply, ContinuationIgnoresUntaggedDataButNotBye) {
  {
    Greeted g("IMAP4rev1");
    g.client.queue("APPEND", "APPEND \"INBOX\" {3}");
    g.t.client("A0001 APPEND \"INBOX\" {3}\r\n").server("* 4 EXISTS\r\n+ Ready\r\n");
    const imap::Response go = run_awaitable(g.client.continuation());
    EXPECT_EQ(go.kind, imap::Response::Kind::Continuation);
    EXPECT_EQ(go.text, "Ready");
    expect_played(g.t);
  }
  {
    Greeted g("IMAP4rev1");
    g.client.queue("APPEND", "APPEND \"INBOX\" {3}");
    g.t.client("A0001 APPEND \"INBOX\" {3}\r\n").server("* BYE Autologout\r\n");
    const StepFailure f = step_failure(g.client.continuation());
    EXPECT_EQ(f.reason, Reason::ServerBye);
    EXPECT_EQ(f.message, "server said BYE: Autologout");
  }
}

// ---- pipelining ----

TEST(ImapClientPipeline, LogoutRidesInTheSameWriteAsTheNextCommand) {
  Greeted g("IMAP4rev1");
  g.client.pipeline_logout();
  const std::string tag = g.client.queue("SEARCH", "SEARCH ALL");
  g.t.client("A0001 SEARCH ALL\r\nA0002 LOGOUT\r\n")
      .server("* SEARCH 1 2\r\nA0001 OK done\r\n* BYE bye\r\nA0002 OK done\r\n");
  EXPECT_TRUE(run_awaitable(g.client.reply(tag)).ok());
  // logout() only collects the reply: no second write.
  EXPECT_TRUE(run_awaitable(g.client.logout()).ok());
  expect_played(g.t);
  EXPECT_EQ(g.t.writes(), (std::vector<std::string>{"A0001 SEARCH ALL\r\nA0002 LOGOUT\r\n"}));
}

TEST(ImapClientPipeline, APipelinedLogoutWithNothingToRideBehindGoesAlone) {
  Greeted g("IMAP4rev1");
  g.client.pipeline_logout();  // e.g. FETCH of an empty mailbox sends nothing
  g.t.client("A0001 LOGOUT\r\n").server("* BYE bye\r\nA0001 OK done\r\n");
  EXPECT_TRUE(run_awaitable(g.client.logout()).ok());
  expect_played(g.t);
  EXPECT_EQ(g.t.writes(), (std::vector<std::string>{"A0001 LOGOUT\r\n"}));
}

TEST(ImapClientPipeline, QueuedCommandsLeaveInOneWrite) {
  Greeted g("IMAP4rev1");
  const std::string a = g.client.queue("NOOP", "NOOP");
  const std::string b = g.client.queue("CHECK", "CHECK");
  EXPECT_EQ(b, "A0002");
  g.t.client("A0001 NOOP\r\nA0002 CHECK\r\n").server("A0001 OK\r\nA0002 OK\r\n");
  EXPECT_TRUE(run_awaitable(g.client.reply(a)).ok());
  EXPECT_TRUE(run_awaitable(g.client.reply(b)).ok());
  EXPECT_EQ(g.t.writes().size(), 1u);
  expect_played(g.t);
}

// ---- the wire failing ----

TEST(ImapClientFailure, ATimeoutNamesTheCommandAndUsesItsReason) {
  for (const Reason reason : {Reason::CommandTimeout, Reason::LoginTimeout}) {
    Greeted g("IMAP4rev1");
    const std::string tag = g.client.queue("SELECT \"INBOX\"", "SELECT \"INBOX\"", reason);
    // Operations: the greeting, the SELECT written, the read for its reply.
    g.t.client("A0001 SELECT \"INBOX\"\r\n")
        .server("A0001 OK\r\n")
        .fail_at(3, net::IoFailure::TimedOut);
    const StepFailure f = step_failure(g.client.reply(tag));
    EXPECT_EQ(f.reason, reason);
    EXPECT_TRUE(std::regex_match(
        f.message, std::regex("no reply to SELECT \"INBOX\" within [0-9.]+(ns|us|ms|s)")))
        << f.message;
  }
}

TEST(ImapClientFailure, TheDefaultTimeoutReasonIsCommandTimeout) {
  Greeted g("IMAP4rev1");
  const std::string tag = g.client.queue("NOOP", "NOOP");
  g.t.client("A0001 NOOP\r\n");  // and the server says nothing
  const StepFailure f = step_failure(g.client.reply(tag));
  EXPECT_EQ(f.reason, Reason::CommandTimeout);
  EXPECT_EQ(f.message.rfind("no reply to NOOP within ", 0), 0u) << f.message;
}

TEST(ImapClientFailure, ClosedDuringAReadIsConnectionClosedNamingWhatWasAwaited) {
  Greeted g("IMAP4rev1");
  const std::string tag = g.client.queue("SELECT \"INBOX\"", "SELECT \"INBOX\"");
  g.t.client("A0001 SELECT \"INBOX\"\r\n").fail_at(3, net::IoFailure::Closed);
  const StepFailure f = step_failure(g.client.reply(tag));
  EXPECT_EQ(f.reason, Reason::ConnectionClosed);
  EXPECT_EQ(f.message,
            "server closed the connection while waiting for the reply to SELECT \"INBOX\"");
}

TEST(ImapClientFailure, AResetWhileSendingNamesTheCommandSent) {
  Greeted g("IMAP4rev1");
  const std::string tag = g.client.queue("SEARCH", "SEARCH ALL");
  g.t.client("A0001 SEARCH ALL\r\n").fail_at(2, net::IoFailure::Reset);
  const StepFailure f = step_failure(g.client.reply(tag));
  EXPECT_EQ(f.reason, Reason::ConnectionClosed);
  EXPECT_EQ(f.message, "connection reset while sending SEARCH");
}

TEST(ImapClientFailure, ATlsErrorIsTLSHandshakeFailedWithTheDetail) {
  Greeted g("IMAP4rev1");
  const std::string tag = g.client.queue("NOOP", "NOOP");
  g.t.client("A0001 NOOP\r\n").fail_at(3, net::IoFailure::Tls);
  const StepFailure f = step_failure(g.client.reply(tag));
  EXPECT_EQ(f.reason, Reason::TLSHandshakeFailed);
  EXPECT_EQ(f.message,
            "TLS error while waiting for the reply to NOOP: script: failure injected at "
            "operation 3");
}

}  // namespace
}  // namespace imapprobe::probe

namespace imapprobe::probe {
namespace {

TEST(ImapClientIdle, NewMailEndsIdleWithDone) {
  test::Greeted g("IMAP4rev1 IDLE");
  g.t.client("A0001 IDLE\r\n")
      .server("+ idling\r\n* OK Still here\r\n* 4 EXISTS\r\n* 1 RECENT\r\n")
      .client("DONE\r\n")
      .server("A0001 OK Idle completed\r\n");
  const auto end =
      testing::run_awaitable(g.client.idle(net::Clock::now() + std::chrono::seconds(30)));
  EXPECT_EQ(end, ImapClient::IdleEnd::Changed);
  EXPECT_EQ(g.t.mismatch(), "");
  EXPECT_TRUE(g.t.finished());
}

TEST(ImapClientIdle, ARefusedIdleSaysSo) {
  test::Greeted g("IMAP4rev1");
  g.t.client("A0001 IDLE\r\n").server("A0001 BAD Unknown command\r\n");
  EXPECT_EQ(testing::run_awaitable(g.client.idle(net::Clock::now())), ImapClient::IdleEnd::Refused);
  EXPECT_TRUE(g.t.finished());
}

TEST(ImapClientIdle, AByeDuringIdleIsServerBye) {
  test::Greeted g("IMAP4rev1 IDLE");
  g.t.client("A0001 IDLE\r\n").server("+ idling\r\n* BYE shutting down\r\n");
  const StepFailure f =
      test::step_failure(g.client.idle(net::Clock::now() + std::chrono::seconds(30)));
  EXPECT_EQ(f.reason, Reason::ServerBye);
}

}  // namespace
}  // namespace imapprobe::probe
