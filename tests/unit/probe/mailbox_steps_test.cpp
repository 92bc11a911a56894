// The steps after login over a scripted server: opening the mailbox (and
// telling a missing one from a refused one), SEARCH, FETCH of the newest
// messages, and the round trip's APPEND, SEARCH, STORE and EXPUNGE.
#include "probe/mailbox_steps.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/probe/scripted_client.hpp"

namespace imapprobe::probe {
namespace {

using test::Greeted;
using test::step_failure;
using testing::run_awaitable;
using Writes = std::vector<std::string>;

void expect_played(const testing::ScriptedTransport& t) {
  EXPECT_EQ(t.mismatch(), "");
  EXPECT_TRUE(t.finished());
}

// ---- open_mailbox ----

TEST(OpenMailbox, ExamineReturnsExists) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 EXAMINE \"INBOX\"\r\n")
      .server(
          "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* 17 EXISTS\r\n"
          "* 2 RECENT\r\n* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
          "A0001 OK [READ-ONLY] EXAMINE completed\r\n");
  EXPECT_EQ(run_awaitable(open_mailbox(g.client, "INBOX", /*writable=*/false)), 17u);
  expect_played(g.t);
}

TEST(OpenMailbox, SelectWhenWritableAndTheNameQuoted) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 SELECT \"Sent \\\"Items\\\"\"\r\n")
      .server("* 4 EXISTS\r\n* 0 RECENT\r\nA0001 OK [READ-WRITE] SELECT completed\r\n");
  EXPECT_EQ(run_awaitable(open_mailbox(g.client, "Sent \"Items\"", /*writable=*/true)), 4u);
  expect_played(g.t);
}

TEST(OpenMailbox, NoExistsIsZero) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 EXAMINE \"Empty\"\r\n").server("A0001 OK done\r\n");
  EXPECT_EQ(run_awaitable(open_mailbox(g.client, "Empty", false)), 0u);
}

TEST(OpenMailbox, NonexistentIsMailboxNotFoundWithoutAList) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 EXAMINE \"Archive\"\r\n")
      .server("A0001 NO [NONEXISTENT] Mailbox doesn't exist: Archive\r\n");
  const StepFailure f = step_failure(open_mailbox(g.client, "Archive", false));
  EXPECT_EQ(f.reason, Reason::MailboxNotFound);
  EXPECT_EQ(f.message, "cannot open mailbox Archive: [NONEXISTENT] Mailbox doesn't exist: Archive");
  expect_played(g.t);
  EXPECT_EQ(g.t.sent(), "A0001 EXAMINE \"Archive\"\r\n");
}

TEST(OpenMailbox, ABareNoAsksListAndAnEmptyListIsMailboxNotFound) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 EXAMINE \"Archive\"\r\n")
      .server("A0001 NO Mailbox does not exist\r\n")
      .client("A0002 LIST \"\" \"Archive\"\r\n")
      .server("A0002 OK LIST completed\r\n");
  const StepFailure f = step_failure(open_mailbox(g.client, "Archive", false));
  EXPECT_EQ(f.reason, Reason::MailboxNotFound);
  EXPECT_EQ(f.message,
            "cannot open mailbox Archive: Mailbox does not exist (LIST does not show it)");
  expect_played(g.t);
}

TEST(OpenMailbox, AnotherCodeAlsoAsksList) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 SELECT \"Archive\"\r\n")
      .server("A0001 NO [CANNOT] Mailbox is locked\r\n")
      .client("A0002 LIST \"\" \"Archive\"\r\n")
      .server("* LIST (\\HasNoChildren) \"/\" Archive\r\nA0002 OK LIST completed\r\n");
  const StepFailure f = step_failure(open_mailbox(g.client, "Archive", true));
  EXPECT_EQ(f.reason, Reason::SelectFailed);
  EXPECT_EQ(f.message, "cannot open mailbox Archive: [CANNOT] Mailbox is locked");
  expect_played(g.t);
}

TEST(OpenMailbox, ListShowingOtherMailboxesOnlyIsMailboxNotFound) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 EXAMINE \"archive\"\r\n")
      .server("A0001 NO Mailbox does not exist\r\n")
      .client("A0002 LIST \"\" \"archive\"\r\n")
      // A server that matches case-insensitively: names other than INBOX
      // are case-sensitive, so "Archive" is not "archive".
      .server(
          "* LIST (\\HasNoChildren) \"/\" Archive\r\n"
          "* LIST (\\HasNoChildren) \"/\" \"archive2\"\r\nA0002 OK done\r\n");
  const StepFailure f = step_failure(open_mailbox(g.client, "archive", false));
  EXPECT_EQ(f.reason, Reason::MailboxNotFound) << f.message;
  expect_played(g.t);
}

// A bare NO to EXAMINE `mailbox`, then LIST answered with `list_line`:
// the verdict when LIST shows the mailbox is SelectFailed.
StepFailure refused_but_listed(const std::string& mailbox, const std::string& quoted,
                               const std::string& list_line) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 EXAMINE " + quoted + "\r\n")
      .server("A0001 NO Permission denied\r\n")
      .client("A0002 LIST \"\" " + quoted + "\r\n")
      .server(list_line + "A0002 OK done\r\n");
  StepFailure f = step_failure(open_mailbox(g.client, mailbox, false));
  expect_played(g.t);
  return f;
}

TEST(OpenMailbox, ListShowingTheMailboxIsSelectFailed) {
  const StepFailure f =
      refused_but_listed("Archive", "\"Archive\"", "* LIST (\\HasNoChildren) \"/\" Archive\r\n");
  EXPECT_EQ(f.reason, Reason::SelectFailed);
  EXPECT_EQ(f.message, "cannot open mailbox Archive: Permission denied");
}

TEST(OpenMailbox, AQuotedListedNameWithASpaceIsMatched) {
  const StepFailure f = refused_but_listed("Sent Items", "\"Sent Items\"",
                                           "* LIST (\\HasNoChildren) \"/\" \"Sent Items\"\r\n");
  EXPECT_EQ(f.reason, Reason::SelectFailed) << f.message;
  EXPECT_EQ(f.message, "cannot open mailbox Sent Items: Permission denied");
}

TEST(OpenMailbox, AQuotedListedNameWithEscapesIsMatched) {
  const StepFailure f = refused_but_listed("My \"Box\" \\ 1", "\"My \\\"Box\\\" \\\\ 1\"",
                                           "* LIST () \".\" \"My \\\"Box\\\" \\\\ 1\"\r\n");
  EXPECT_EQ(f.reason, Reason::SelectFailed) << f.message;
}

TEST(OpenMailbox, AListedNameAsALiteralIsMatched) {
  const StepFailure f =
      refused_but_listed("Sent Items", "\"Sent Items\"", "* LIST () \"/\" {10}\r\nSent Items\r\n");
  EXPECT_EQ(f.reason, Reason::SelectFailed) << f.message;
}

TEST(OpenMailbox, ANilOrEscapedDelimiterIsSkipped) {
  EXPECT_EQ(
      refused_but_listed("Archive", "\"Archive\"", "* LIST (\\Noinferiors) NIL Archive\r\n").reason,
      Reason::SelectFailed);
  EXPECT_EQ(refused_but_listed("Archive", "\"Archive\"", "* LIST () \"\\\\\" Archive\r\n").reason,
            Reason::SelectFailed);
  EXPECT_EQ(
      refused_but_listed("Archive", "\"Archive\"", "* LIST () \"\\\"\" \"Archive\"\r\n").reason,
      Reason::SelectFailed);
}

TEST(OpenMailbox, InboxIsMatchedCaseInsensitively) {
  const StepFailure f =
      refused_but_listed("Inbox", "\"Inbox\"", "* LIST (\\HasNoChildren) \".\" INBOX\r\n");
  EXPECT_EQ(f.reason, Reason::SelectFailed) << f.message;
  EXPECT_EQ(f.message, "cannot open mailbox Inbox: Permission denied");
}

TEST(OpenMailbox, AFailedListCannotTellSoItIsSelectFailed) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 EXAMINE \"Archive\"\r\n")
      .server("A0001 NO Mailbox does not exist\r\n")
      .client("A0002 LIST \"\" \"Archive\"\r\n")
      .server("A0002 BAD LIST disabled\r\n");
  const StepFailure f = step_failure(open_mailbox(g.client, "Archive", false));
  EXPECT_EQ(f.reason, Reason::SelectFailed);
  EXPECT_EQ(f.message, "cannot open mailbox Archive: Mailbox does not exist");
}

// ---- search ----

TEST(Search, CountsTheMatches) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 SEARCH UNSEEN SINCE 1-Jan-2024\r\n")
      .server("* SEARCH 2 5 9\r\nA0001 OK SEARCH completed\r\n");
  EXPECT_EQ(run_awaitable(search(g.client, "UNSEEN SINCE 1-Jan-2024")), 3u);
  expect_played(g.t);
}

TEST(Search, NoMatchesAndMatchesOverSeveralResponses) {
  {
    Greeted g("IMAP4rev1");
    g.t.client("A0001 SEARCH ALL\r\n").server("* SEARCH\r\nA0001 OK\r\n");
    EXPECT_EQ(run_awaitable(search(g.client, "ALL")), 0u);
  }
  {
    Greeted g("IMAP4rev1");
    g.t.client("A0001 SEARCH ALL\r\n").server("* SEARCH 1 2\r\n* SEARCH 3\r\nA0001 OK\r\n");
    EXPECT_EQ(run_awaitable(search(g.client, "ALL")), 3u);
  }
}

TEST(Search, ARefusalIsSearchFailed) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 SEARCH FROBNICATE\r\n").server("A0001 BAD Unknown search key\r\n");
  const StepFailure f = step_failure(search(g.client, "FROBNICATE"));
  EXPECT_EQ(f.reason, Reason::SearchFailed);
  EXPECT_EQ(f.message, "SEARCH FROBNICATE failed: Unknown search key");
}

// ---- fetch_latest ----

TEST(FetchLatest, FetchesTheNewestRange) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 FETCH 8:10 (UID RFC822.SIZE BODY.PEEK[HEADER])\r\n")
      .server(
          "* 8 FETCH (UID 18 RFC822.SIZE 100 BODY[HEADER] {12}\r\nSubject: x\r\n)\r\n"
          "* 9 FETCH (UID 19 RFC822.SIZE 100 BODY[HEADER] {12}\r\nSubject: y\r\n)\r\n"
          "* 10 FETCH (UID 20 RFC822.SIZE 100 BODY[HEADER] {12}\r\nSubject: z\r\n)\r\n"
          "A0001 OK FETCH completed\r\n");
  EXPECT_EQ(run_awaitable(fetch_latest(g.client, 10, 3, FetchWhat::Headers)), 3u);
  expect_played(g.t);
}

TEST(FetchLatest, FewerMessagesThanAskedFetchesFromOne) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 FETCH 1:2 (UID RFC822.SIZE ENVELOPE)\r\n")
      .server(
          "* 1 FETCH (UID 1 RFC822.SIZE 10 ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL "
          "NIL))\r\nA0001 OK\r\n");
  // The server sent one FETCH for two messages: the count is what came.
  EXPECT_EQ(run_awaitable(fetch_latest(g.client, 2, 5, FetchWhat::Envelope)), 1u);
  expect_played(g.t);
}

TEST(FetchLatest, FullBodies) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 FETCH 5:5 (UID RFC822.SIZE BODY.PEEK[])\r\n")
      .server("* 5 FETCH (UID 5 RFC822.SIZE 3 BODY[] {3}\r\nabc)\r\nA0001 OK\r\n");
  EXPECT_EQ(run_awaitable(fetch_latest(g.client, 5, 1, FetchWhat::Full)), 1u);
  expect_played(g.t);
}

TEST(FetchLatest, AnEmptyMailboxOrNothingAskedSendsNothing) {
  Greeted g("IMAP4rev1");
  EXPECT_EQ(run_awaitable(fetch_latest(g.client, 0, 3, FetchWhat::Headers)), 0u);
  EXPECT_EQ(run_awaitable(fetch_latest(g.client, 10, 0, FetchWhat::Headers)), 0u);
  EXPECT_EQ(g.t.sent(), "");
  EXPECT_EQ(g.t.operations(), 1u);  // the greeting only
}

TEST(FetchLatest, ARefusalIsFetchFailed) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 FETCH 1:1 (UID RFC822.SIZE BODY.PEEK[HEADER])\r\n")
      .server("A0001 NO [SERVERBUG] Internal error\r\n");
  const StepFailure f = step_failure(fetch_latest(g.client, 1, 1, FetchWhat::Headers));
  EXPECT_EQ(f.reason, Reason::FetchFailed);
  EXPECT_EQ(f.message, "FETCH failed: [SERVERBUG] Internal error");
}

// ---- the canary and the round trip ----

const std::string kToken = "0123456789abcdef0123456789abcdef";
const std::string kDate = "Mon, 02 Jan 2006 15:04:05 +0000";

TEST(CanaryMessage, ExactText) {
  const std::string m = canary_message(kToken, kDate);
  EXPECT_EQ(m,
            "From: imapprobe <imapprobe@probe.invalid>\r\n"
            "To: imapprobe <imapprobe@probe.invalid>\r\n"
            "Subject: imapprobe canary 0123456789abcdef0123456789abcdef\r\n"
            "Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n"
            "Message-ID: <0123456789abcdef0123456789abcdef@probe.invalid>\r\n"
            "X-Imapprobe-Canary: 0123456789abcdef0123456789abcdef\r\n"
            "\r\n"
            "Synthetic monitoring message; deleted by the probe that wrote it.\r\n");
  EXPECT_EQ(m.size(), 368u);
}

TEST(CanaryMessage, TokensTellWhenTheyWereMade) {
  const std::string t = canary_token();
  const auto made = canary_token_time(t);
  ASSERT_TRUE(made) << t;
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  EXPECT_LE(now - *made, 1);
  EXPECT_EQ(t.size(), std::to_string(*made).size() + 1 + 32);
  EXPECT_FALSE(canary_token_time(kToken));
  EXPECT_FALSE(canary_token_time("12x-ab"));
}

TEST(CanaryMessage, RandomTokensAreHexAndDiffer) {
  const std::string a = random_token();
  const std::string b = random_token();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos) << a;
  EXPECT_NE(a, b);
}

const std::string kCanary = canary_message(kToken, kDate);
const std::string kSearchMine = "UID SEARCH HEADER X-Imapprobe-Canary " + kToken;
const std::string kSearchAll = "UID SEARCH HEADER X-Imapprobe-Canary \"\"";

// The FETCH response of one canary's token header.
std::string canary_header(int seq, int uid, const std::string& token) {
  const std::string header = "X-Imapprobe-Canary: " + token + "\r\n\r\n";
  return "* " + std::to_string(seq) + " FETCH (UID " + std::to_string(uid) +
         " BODY[HEADER.FIELDS (X-IMAPPROBE-CANARY)] {" + std::to_string(header.size()) + "}\r\n" +
         header + ")\r\n";
}

// Several locations share the mailbox: a canary an earlier run left behind
// (abandoned: older than the run's timeout, or without a time) is deleted
// with this run's, another run's canary in flight is not.
TEST(RoundTrip, WithLiteralPlusAndUidplusAbandonedCanariesGoOneInFlightStays) {
  Greeted g("IMAP4rev1 LITERAL+ UIDPLUS");
  const std::string append = "A0001 APPEND \"INBOX\" (\\Seen) {368+}\r\n" + kCanary + "\r\n";
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  g.t.client(append)
      .server("A0001 OK [APPENDUID 38505 3955] APPEND completed\r\n")
      .client("A0002 " + kSearchMine + "\r\n")
      .server("* SEARCH 3955\r\nA0002 OK\r\n")
      .client("A0003 " + kSearchAll + "\r\n")
      .server("* SEARCH 3948 3950 3951 3955\r\nA0003 OK\r\n")
      .client(
          "A0004 UID FETCH 3948,3950,3951 (UID BODY.PEEK[HEADER.FIELDS (X-Imapprobe-Canary)])\r\n")
      .server(canary_header(1, 3948, kToken) +
              canary_header(2, 3950, std::to_string(now - 400) + "-aa") +
              canary_header(3, 3951, std::to_string(now - 2) + "-bb") + "A0004 OK\r\n")
      .client("A0005 UID STORE 3955,3948,3950 +FLAGS.SILENT (\\Deleted)\r\n")
      .server("A0005 OK\r\n")
      .client("A0006 UID EXPUNGE 3955,3948,3950\r\n")
      .server("* 3 EXPUNGE\r\n* 2 EXPUNGE\r\n* 1 EXPUNGE\r\nA0006 OK\r\n");
  run_awaitable(round_trip(g.client, "INBOX", kToken, kDate, std::chrono::seconds(90)));
  expect_played(g.t);
  ASSERT_EQ(g.t.writes().size(), 6u);
  // The literal went with its command, without waiting for "+".
  EXPECT_EQ(g.t.writes()[0], append);
}

TEST(RoundTrip, WithoutLiteralPlusOrUidplus) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 APPEND \"Sent Items\" (\\Seen) {368}\r\n")
      .server("+ Ready for literal data\r\n")
      .client(kCanary + "\r\n")
      .server("A0001 OK APPEND completed\r\n")
      .client("A0002 " + kSearchMine + "\r\n")
      .server("* SEARCH 7\r\nA0002 OK\r\n")
      .client("A0003 " + kSearchAll + "\r\n")
      .server("* SEARCH 7\r\nA0003 OK\r\n")
      .client("A0004 UID STORE 7 +FLAGS.SILENT (\\Deleted)\r\n")
      .server("A0004 OK\r\n")
      .client("A0005 EXPUNGE\r\n")
      .server("* 1 EXPUNGE\r\nA0005 OK\r\n");
  run_awaitable(round_trip(g.client, "Sent Items", kToken, kDate));
  expect_played(g.t);
  ASSERT_EQ(g.t.writes().size(), 6u);
  EXPECT_EQ(g.t.writes()[0], "A0001 APPEND \"Sent Items\" (\\Seen) {368}\r\n");
  EXPECT_EQ(g.t.writes()[1], kCanary + "\r\n");
}

TEST(RoundTrip, WhenTheSecondSearchFindsNothingTheCanaryItselfIsDeleted) {
  Greeted g("IMAP4rev1 LITERAL+ UIDPLUS");
  g.t.client("A0001 APPEND \"INBOX\" (\\Seen) {368+}\r\n" + kCanary + "\r\n")
      .server("A0001 OK\r\n")
      .client("A0002 " + kSearchMine + "\r\n")
      .server("* SEARCH 12\r\nA0002 OK\r\n")
      .client("A0003 " + kSearchAll + "\r\n")
      .server("* SEARCH\r\nA0003 OK\r\n")
      .client("A0004 UID STORE 12 +FLAGS.SILENT (\\Deleted)\r\n")
      .server("A0004 OK\r\n")
      .client("A0005 UID EXPUNGE 12\r\n")
      .server("A0005 OK\r\n");
  run_awaitable(round_trip(g.client, "INBOX", kToken, kDate));
  expect_played(g.t);
}

TEST(RoundTrip, ACanaryNotFoundIsRoundTripFailed) {
  Greeted g("IMAP4rev1 LITERAL+ UIDPLUS");
  g.t.client("A0001 APPEND \"INBOX\" (\\Seen) {368+}\r\n" + kCanary + "\r\n")
      .server("A0001 OK\r\n")
      .client("A0002 " + kSearchMine + "\r\n")
      .server("* SEARCH\r\nA0002 OK\r\n");
  const StepFailure f = step_failure(round_trip(g.client, "INBOX", kToken, kDate));
  EXPECT_EQ(f.reason, Reason::RoundTripFailed);
  EXPECT_EQ(f.message, "the appended canary was not found by SEARCH");
  expect_played(g.t);  // and nothing was deleted
}

TEST(RoundTrip, AFailedSearchIsRoundTripFailed) {
  Greeted g("IMAP4rev1 LITERAL+");
  g.t.client("A0001 APPEND \"INBOX\" (\\Seen) {368+}\r\n" + kCanary + "\r\n")
      .server("A0001 OK\r\n")
      .client("A0002 " + kSearchMine + "\r\n")
      .server("* SEARCH 4\r\nA0002 NO search aborted\r\n");
  const StepFailure f = step_failure(round_trip(g.client, "INBOX", kToken, kDate));
  EXPECT_EQ(f.reason, Reason::RoundTripFailed);
  EXPECT_EQ(f.message, "the appended canary was not found by SEARCH");
  expect_played(g.t);
}

TEST(RoundTrip, AnAppendRefusalIsRoundTripFailed) {
  Greeted g("IMAP4rev1 LITERAL+");
  g.t.client("A0001 APPEND \"INBOX\" (\\Seen) {368+}\r\n" + kCanary + "\r\n")
      .server("A0001 NO [OVERQUOTA] Quota exceeded\r\n");
  const StepFailure f = step_failure(round_trip(g.client, "INBOX", kToken, kDate));
  EXPECT_EQ(f.reason, Reason::RoundTripFailed);
  EXPECT_EQ(f.message, "APPEND failed: [OVERQUOTA] Quota exceeded");
  expect_played(g.t);
}

TEST(RoundTrip, AnAppendRefusedBeforeThePlusSendsNoMessage) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 APPEND \"INBOX\" (\\Seen) {368}\r\n")
      .server("A0001 NO [TRYCREATE] No such mailbox\r\n");
  const StepFailure f = step_failure(round_trip(g.client, "INBOX", kToken, kDate));
  EXPECT_EQ(f.reason, Reason::RoundTripFailed);
  EXPECT_EQ(f.message, "APPEND failed: [TRYCREATE] No such mailbox");
  expect_played(g.t);
  EXPECT_EQ(g.t.sent(), "A0001 APPEND \"INBOX\" (\\Seen) {368}\r\n");
}

TEST(RoundTrip, StoreAndExpungeRefusalsAreRoundTripFailed) {
  {
    Greeted g("IMAP4rev1 LITERAL+ UIDPLUS");
    g.t.client("A0001 APPEND \"INBOX\" (\\Seen) {368+}\r\n" + kCanary + "\r\n")
        .server("A0001 OK\r\n")
        .client("A0002 " + kSearchMine + "\r\n")
        .server("* SEARCH 3\r\nA0002 OK\r\n")
        .client("A0003 " + kSearchAll + "\r\n")
        .server("* SEARCH 3\r\nA0003 OK\r\n")
        .client("A0004 UID STORE 3 +FLAGS.SILENT (\\Deleted)\r\n")
        .server("A0004 NO [READ-ONLY] Mailbox is read-only\r\n");
    const StepFailure f = step_failure(round_trip(g.client, "INBOX", kToken, kDate));
    EXPECT_EQ(f.reason, Reason::RoundTripFailed);
    EXPECT_EQ(f.message, "cannot flag the canary deleted: [READ-ONLY] Mailbox is read-only");
    expect_played(g.t);
  }
  {
    Greeted g("IMAP4rev1 LITERAL+ UIDPLUS");
    g.t.client("A0001 APPEND \"INBOX\" (\\Seen) {368+}\r\n" + kCanary + "\r\n")
        .server("A0001 OK\r\n")
        .client("A0002 " + kSearchMine + "\r\n")
        .server("* SEARCH 3\r\nA0002 OK\r\n")
        .client("A0003 " + kSearchAll + "\r\n")
        .server("* SEARCH 3\r\nA0003 OK\r\n")
        .client("A0004 UID STORE 3 +FLAGS.SILENT (\\Deleted)\r\n")
        .server("A0004 OK\r\n")
        .client("A0005 UID EXPUNGE 3\r\n")
        .server("A0005 NO expunge failed\r\n");
    const StepFailure f = step_failure(round_trip(g.client, "INBOX", kToken, kDate));
    EXPECT_EQ(f.reason, Reason::RoundTripFailed);
    EXPECT_EQ(f.message, "cannot expunge the canary: expunge failed");
    expect_played(g.t);
  }
}

}  // namespace
}  // namespace imapprobe::probe

namespace imapprobe::probe {
namespace {
using test::Greeted;
using test::step_failure;
using testing::run_awaitable;

TEST(ContentChecks, InternalDatesParseWithTheirZone) {
  using namespace std::chrono;
  const auto t = parse_internal_date("\"17-Jul-1996 02:44:25 -0700\"");
  ASSERT_TRUE(t);
  EXPECT_EQ(duration_cast<seconds>(t->time_since_epoch()).count(), 837596665);
  const auto padded = parse_internal_date(" 1-Jan-2024 00:00:00 +0000");
  ASSERT_TRUE(padded);
  EXPECT_EQ(duration_cast<seconds>(padded->time_since_epoch()).count(), 1704067200);
  EXPECT_FALSE(parse_internal_date("31-Feb-2024 00:00:00 +0000"));
  EXPECT_FALSE(parse_internal_date("17-Jux-1996 02:44:25 -0700"));
  EXPECT_FALSE(parse_internal_date("yesterday"));
}

TEST(ContentChecks, NewestAgeComesFromTheLatestInternalDate) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 UID SEARCH FROM \"backup\"\r\n")
      .server("* SEARCH 3 9 12\r\nA0001 OK\r\n")
      .client("A0002 UID FETCH 3,9,12 (INTERNALDATE)\r\n")
      .server(
          "* 1 FETCH (UID 3 INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")\r\n"
          "* 2 FETCH (UID 9 INTERNALDATE \"03-Jan-2024 00:00:00 +0000\")\r\n"
          "* 3 FETCH (INTERNALDATE \"02-Jan-2024 00:00:00 +0000\" UID 12)\r\nA0002 OK\r\n");
  const auto age = run_awaitable(newest_message_age(g.client, "FROM \"backup\""));
  ASSERT_TRUE(age);
  const auto expected = std::chrono::system_clock::now() -
                        std::chrono::system_clock::time_point(std::chrono::seconds(1704240000));
  EXPECT_LT(std::chrono::abs(*age - expected), std::chrono::seconds(5));
}

TEST(ContentChecks, NoMatchIsNoAge) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 UID SEARCH ALL\r\n").server("* SEARCH\r\nA0001 OK\r\n");
  EXPECT_FALSE(run_awaitable(newest_message_age(g.client, "ALL")));
}

TEST(ContentChecks, QuotaPicksTheFullestResource) {
  Greeted g("IMAP4rev1 QUOTA");
  g.t.client("A0001 GETQUOTAROOT \"INBOX\"\r\n")
      .server(
          "* QUOTAROOT INBOX \"User quota\"\r\n"
          "* QUOTA \"User quota\" (STORAGE 4 100 MESSAGE 10 20)\r\nA0001 OK\r\n");
  const QuotaUsage q = run_awaitable(quota_usage(g.client, "INBOX"));
  EXPECT_EQ(q.root, "User quota");
  EXPECT_EQ(q.resource, "MESSAGE");
  EXPECT_DOUBLE_EQ(q.percent(), 50.0);
}

TEST(ContentChecks, QuotaWithoutTheExtensionOrALimitIsUnavailable) {
  Greeted none("IMAP4rev1");
  EXPECT_EQ(step_failure(quota_usage(none.client, "INBOX")).reason, Reason::QuotaUnavailable);
  Greeted unlimited("IMAP4rev1 QUOTA");
  unlimited.t.client("A0001 GETQUOTAROOT \"INBOX\"\r\n")
      .server("* QUOTAROOT INBOX \"User quota\"\r\nA0001 OK Getquotaroot completed\r\n");
  const StepFailure f = step_failure(quota_usage(unlimited.client, "INBOX"));
  EXPECT_EQ(f.reason, Reason::QuotaUnavailable);
  EXPECT_EQ(f.message, "no quota limit is set for INBOX");
}

}  // namespace
}  // namespace imapprobe::probe
