#include "imap/response.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "imap/response_data.hpp"

namespace imapprobe::imap {
namespace {

using Kind = Response::Kind;
using namespace std::string_literals;

// Feeds `wire` in one piece and drains every complete response.
std::vector<Response> parse_all(std::string_view wire, Limits limits = {}) {
  ResponseReader reader(limits);
  reader.feed(wire);
  std::vector<Response> out;
  while (auto r = reader.next()) out.push_back(std::move(*r));
  EXPECT_EQ(reader.buffered(), 0u);
  return out;
}

Response parse_one(std::string_view wire) {
  auto all = parse_all(wire);
  EXPECT_EQ(all.size(), 1u) << wire;
  return all.empty() ? Response{} : all.front();
}

// Field-by-field equality with readable failure output.
void expect_same(const Response& a, const Response& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.tag, b.tag);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.number, b.number);
  EXPECT_EQ(a.keyword, b.keyword);
  EXPECT_EQ(a.code, b.code);
  EXPECT_EQ(a.code_args, b.code_args);
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.literals, b.literals);
  EXPECT_EQ(a.wire_bytes, b.wire_bytes);
}

// The BODY[HEADER] literal of RFC 3501 section 8.
const std::string kRfcHeader =
    "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
    "From: Terry Gray <gray@cac.washington.edu>\r\n"
    "Subject: IMAP4rev1 WG mtg summary and minutes\r\n"
    "To: imap@cac.washington.edu\r\n"
    "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n"
    "Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    "\r\n";

const std::string kRfcFull =
    "* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
    "RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
    "\"IMAP4rev1 WG mtg summary and minutes\" "
    "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
    "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
    "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
    "((NIL NIL \"imap\" \"cac.washington.edu\")) "
    "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")"
    "(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL "
    "\"<B27397-0100000@cac.washington.edu>\") "
    "BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92))\r\n";

// The server side of the RFC 3501 section 8 session, in wire form.
const std::string kRfcSession =
    "* OK IMAP4rev1 Service Ready\r\n"
    "a001 OK LOGIN completed\r\n"
    "* 18 EXISTS\r\n"
    "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
    "* 2 RECENT\r\n"
    "* OK [UNSEEN 17] Message 17 is the first unseen message\r\n"
    "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
    "a002 OK [READ-WRITE] SELECT completed\r\n" +
    kRfcFull +
    "a003 OK FETCH completed\r\n"
    "* 12 FETCH (BODY[HEADER] {342}\r\n" +
    kRfcHeader +
    ")\r\n"
    "a004 OK FETCH completed\r\n"
    "* 12 FETCH (FLAGS (\\Seen \\Deleted))\r\n"
    "a005 OK +FLAGS completed\r\n"
    "* BYE IMAP4rev1 server terminating connection\r\n"
    "a006 OK LOGOUT completed\r\n";

TEST(ResponseParser, RfcHeaderLiteralIs342Bytes) { EXPECT_EQ(kRfcHeader.size(), 342u); }

TEST(ResponseParser, Rfc3501Section8Session) {
  const auto rs = parse_all(kRfcSession);
  ASSERT_EQ(rs.size(), 16u);

  EXPECT_EQ(rs[0].kind, Kind::Untagged);
  EXPECT_EQ(rs[0].status, Status::Ok);
  EXPECT_EQ(rs[0].keyword, "OK");
  EXPECT_EQ(rs[0].code, "");
  EXPECT_EQ(rs[0].text, "IMAP4rev1 Service Ready");

  EXPECT_EQ(rs[1].kind, Kind::Tagged);
  EXPECT_EQ(rs[1].tag, "a001");
  EXPECT_EQ(rs[1].status, Status::Ok);
  EXPECT_EQ(rs[1].text, "LOGIN completed");

  EXPECT_EQ(rs[2].number, 18u);
  EXPECT_EQ(rs[2].keyword, "EXISTS");
  EXPECT_EQ(rs[2].status, Status::None);
  EXPECT_EQ(rs[2].text, "");

  EXPECT_EQ(rs[3].keyword, "FLAGS");
  EXPECT_FALSE(rs[3].number.has_value());
  EXPECT_EQ(rs[3].text, "(\\Answered \\Flagged \\Deleted \\Seen \\Draft)");

  EXPECT_EQ(rs[4].number, 2u);
  EXPECT_EQ(rs[4].keyword, "RECENT");

  EXPECT_EQ(rs[5].status, Status::Ok);
  EXPECT_EQ(rs[5].code, "UNSEEN");
  EXPECT_EQ(rs[5].code_args, "17");
  EXPECT_EQ(rs[5].text, "Message 17 is the first unseen message");

  EXPECT_EQ(rs[6].code, "UIDVALIDITY");
  EXPECT_EQ(rs[6].code_args, "3857529045");
  EXPECT_EQ(rs[6].text, "UIDs valid");

  EXPECT_EQ(rs[7].tag, "a002");
  EXPECT_EQ(rs[7].code, "READ-WRITE");
  EXPECT_EQ(rs[7].code_args, "");
  EXPECT_EQ(rs[7].text, "SELECT completed");

  EXPECT_EQ(rs[8].number, 12u);
  EXPECT_EQ(rs[8].keyword, "FETCH");
  EXPECT_TRUE(rs[8].literals.empty());
  EXPECT_EQ(rs[8].text, kRfcFull.substr(11, kRfcFull.size() - 13));
  EXPECT_EQ(rs[8].wire_bytes, kRfcFull.size());

  EXPECT_EQ(rs[9].tag, "a003");

  EXPECT_EQ(rs[10].number, 12u);
  EXPECT_EQ(rs[10].keyword, "FETCH");
  ASSERT_EQ(rs[10].literals.size(), 1u);
  EXPECT_EQ(rs[10].literals[0], kRfcHeader);
  EXPECT_EQ(rs[10].text, "(BODY[HEADER] {342})");
  EXPECT_EQ(rs[10].wire_bytes, 32u + 342u + 3u);

  EXPECT_EQ(rs[11].tag, "a004");
  EXPECT_EQ(rs[12].text, "(FLAGS (\\Seen \\Deleted))");
  EXPECT_EQ(rs[13].text, "+FLAGS completed");

  EXPECT_EQ(rs[14].kind, Kind::Untagged);
  EXPECT_EQ(rs[14].status, Status::Bye);
  EXPECT_EQ(rs[14].keyword, "BYE");
  EXPECT_EQ(rs[14].text, "IMAP4rev1 server terminating connection");

  EXPECT_EQ(rs[15].kind, Kind::Tagged);
  EXPECT_EQ(rs[15].tag, "a006");
  EXPECT_EQ(rs[15].status, Status::Ok);
  EXPECT_EQ(rs[15].text, "LOGOUT completed");
}

TEST(ResponseParser, WireBytesAddUpToTheSession) {
  std::size_t total = 0;
  for (const auto& r : parse_all(kRfcSession)) total += r.wire_bytes;
  EXPECT_EQ(total, kRfcSession.size());
}

TEST(ResponseParser, ByteByByteEqualsWholeBuffer) {
  const auto whole = parse_all(kRfcSession);
  ResponseReader reader;
  std::vector<Response> pieces;
  for (char c : kRfcSession) {
    reader.feed(std::string_view(&c, 1));
    while (auto r = reader.next()) pieces.push_back(std::move(*r));
  }
  EXPECT_EQ(reader.buffered(), 0u);
  EXPECT_EQ(reader.total_bytes(), kRfcSession.size());
  ASSERT_EQ(pieces.size(), whole.size());
  for (std::size_t i = 0; i < whole.size(); ++i) {
    SCOPED_TRACE(i);
    expect_same(pieces[i], whole[i]);
  }
}

TEST(ResponseParser, RandomChunkingEqualsWholeBuffer) {
  const auto whole = parse_all(kRfcSession);
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    ResponseReader reader;
    std::vector<Response> pieces;
    std::size_t pos = 0;
    while (pos < kRfcSession.size()) {
      const std::size_t n = std::uniform_int_distribution<std::size_t>(1, 400)(rng);
      reader.feed(std::string_view(kRfcSession).substr(pos, n));
      pos += n;
      while (auto r = reader.next()) pieces.push_back(std::move(*r));
    }
    ASSERT_EQ(pieces.size(), whole.size());
    for (std::size_t i = 0; i < whole.size(); ++i) expect_same(pieces[i], whole[i]);
  }
}

TEST(ResponseParser, GreetingWithCapabilityCode) {
  const auto r = parse_one(
      "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
      "LITERAL+ STARTTLS AUTH=PLAIN] Dovecot ready.\r\n");
  EXPECT_EQ(r.status, Status::Ok);
  EXPECT_EQ(r.code, "CAPABILITY");
  EXPECT_EQ(r.text, "Dovecot ready.");
  const auto caps = parse_capabilities(r.code_args);
  EXPECT_EQ(caps.size(), 9u);
  EXPECT_TRUE(has_capability(caps, "literal+"));
  EXPECT_TRUE(has_capability(caps, "AUTH=PLAIN"));
  EXPECT_FALSE(has_capability(caps, "AUTH=CRAM-MD5"));
}

TEST(ResponseParser, PreauthGreeting) {
  const auto r = parse_one("* PREAUTH IMAP4rev1 server logged in as Smith\r\n");
  EXPECT_EQ(r.status, Status::PreAuth);
  EXPECT_EQ(r.keyword, "PREAUTH");
  EXPECT_EQ(r.text, "IMAP4rev1 server logged in as Smith");
}

TEST(ResponseParser, CapabilityData) {
  const auto r = parse_one("* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n");
  EXPECT_EQ(r.kind, Kind::Untagged);
  EXPECT_EQ(r.status, Status::None);
  EXPECT_EQ(r.keyword, "CAPABILITY");
  const auto caps = parse_capabilities(r.text);
  EXPECT_EQ(caps,
            (std::vector<std::string>{"IMAP4REV1", "STARTTLS", "AUTH=GSSAPI", "LOGINDISABLED"}));
  EXPECT_TRUE(has_capability(caps, "imap4rev1"));
  EXPECT_TRUE(has_capability(caps, "LoginDisabled"));
}

TEST(ResponseParser, PermanentFlagsCode) {
  const auto r = parse_one("* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n");
  EXPECT_EQ(r.code, "PERMANENTFLAGS");
  EXPECT_EQ(r.code_args, "(\\Deleted \\Seen \\*)");
  EXPECT_EQ(r.text, "Limited");
}

TEST(ResponseParser, FailureCodes) {
  auto r = parse_one("a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
  EXPECT_EQ(r.status, Status::No);
  EXPECT_EQ(r.code, "AUTHENTICATIONFAILED");
  r = parse_one("a2 NO [NONEXISTENT] Unknown Mailbox: Foo\r\n");
  EXPECT_EQ(r.code, "NONEXISTENT");
  r = parse_one("A003 NO [TRYCREATE] Mailbox doesn't exist: Archive\r\n");
  EXPECT_EQ(r.code, "TRYCREATE");
  EXPECT_EQ(r.text, "Mailbox doesn't exist: Archive");
  r = parse_one("* NO [ALERT] Quota exceeded\r\n");
  EXPECT_EQ(r.kind, Kind::Untagged);
  EXPECT_EQ(r.status, Status::No);
  EXPECT_EQ(r.code, "ALERT");
  r = parse_one("a4 BAD Command unrecognized\r\n");
  EXPECT_EQ(r.status, Status::Bad);
  EXPECT_EQ(r.code, "");
}

TEST(ResponseParser, KeywordsAreCaseInsensitive) {
  auto r = parse_one("a1 ok [alert] hello\r\n");
  EXPECT_EQ(r.status, Status::Ok);
  EXPECT_EQ(r.keyword, "OK");
  EXPECT_EQ(r.code, "ALERT");
  r = parse_one("* bye bye\r\n");
  EXPECT_EQ(r.status, Status::Bye);
  r = parse_one("* 4 exists\r\n");
  EXPECT_EQ(r.keyword, "EXISTS");
  r = parse_one("* Search 1 2\r\n");
  EXPECT_EQ(r.keyword, "SEARCH");
}

TEST(ResponseParser, StatusWithoutText) {
  const auto r = parse_one("a1 OK\r\n");
  EXPECT_EQ(r.status, Status::Ok);
  EXPECT_EQ(r.text, "");
  const auto c = parse_one("a1 OK [READ-ONLY]\r\n");
  EXPECT_EQ(c.code, "READ-ONLY");
  EXPECT_EQ(c.text, "");
}

TEST(ResponseParser, Expunge) {
  const auto r = parse_one("* 3 EXPUNGE\r\n");
  EXPECT_EQ(r.number, 3u);
  EXPECT_EQ(r.keyword, "EXPUNGE");
}

TEST(ResponseParser, SearchResults) {
  const auto r = parse_one("* SEARCH 2 84 882\r\n");
  EXPECT_EQ(r.keyword, "SEARCH");
  EXPECT_EQ(parse_search(r.text), (std::vector<std::uint32_t>{2, 84, 882}));
  EXPECT_TRUE(parse_search(parse_one("* SEARCH\r\n").text).empty());
  EXPECT_EQ(parse_search("2 5 8 (MODSEQ 917162500)"), (std::vector<std::uint32_t>{2, 5, 8}));
  EXPECT_EQ(parse_search("SEARCH 4294967295"), (std::vector<std::uint32_t>{4294967295u}));
  EXPECT_THROW(parse_search("1 x 3"), ProtocolError);
  EXPECT_THROW(parse_search("1 4294967296"), ProtocolError);
  EXPECT_THROW(parse_search("12a"), ProtocolError);
}

TEST(ResponseParser, ListResponses) {
  auto r = parse_one("* LIST (\\Noselect) \"/\" ~/Mail/foo\r\n");
  EXPECT_EQ(r.keyword, "LIST");
  EXPECT_EQ(r.text, "(\\Noselect) \"/\" ~/Mail/foo");
  r = parse_one("* LIST (\\HasNoChildren) \".\" INBOX\r\n");
  EXPECT_EQ(r.text, "(\\HasNoChildren) \".\" INBOX");
}

TEST(ResponseParser, Continuations) {
  auto r = parse_one("+ Ready for additional command text\r\n");
  EXPECT_EQ(r.kind, Kind::Continuation);
  EXPECT_EQ(r.status, Status::None);
  EXPECT_EQ(r.text, "Ready for additional command text");
  r = parse_one("+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n");
  EXPECT_EQ(r.text, "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+");
  r = parse_one("+ \r\n");
  EXPECT_EQ(r.kind, Kind::Continuation);
  EXPECT_EQ(r.text, "");
  r = parse_one("+\r\n");
  EXPECT_EQ(r.kind, Kind::Continuation);
  EXPECT_EQ(r.text, "");
}

TEST(ResponseParser, ContinuationTextEndingInBraceIsNotALiteral) {
  const auto rs = parse_all("+ send {5}\r\nA1 OK done\r\n");
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].text, "send {5}");
  EXPECT_EQ(rs[1].tag, "A1");
}

TEST(ResponseParser, StatusTextEndingInBraceIsNotALiteral) {
  const auto rs = parse_all("* OK note {3}\r\nA1 NO oops {2}\r\n* 1 EXISTS\r\n");
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].text, "note {3}");
  EXPECT_EQ(rs[1].text, "oops {2}");
  EXPECT_TRUE(rs[1].literals.empty());
  EXPECT_EQ(rs[2].keyword, "EXISTS");
}

TEST(ResponseParser, NonSynchronizingLiteral) {
  const auto r = parse_one("* 1 FETCH (BODY[TEXT] {5+}\r\nhello)\r\n");
  ASSERT_EQ(r.literals.size(), 1u);
  EXPECT_EQ(r.literals[0], "hello");
  EXPECT_EQ(r.text, "(BODY[TEXT] {5})");
}

TEST(ResponseParser, Literal8) {
  const auto r = parse_one("* 1 FETCH (BINARY[] ~{3}\r\na\0b)\r\n"s);
  ASSERT_EQ(r.literals.size(), 1u);
  EXPECT_EQ(r.literals[0], "a\0b"s);
  EXPECT_EQ(r.text, "(BINARY[] ~{3})");
}

TEST(ResponseParser, SeveralLiteralsAndEmptyLiteral) {
  const auto r =
      parse_one("* 7 FETCH (BODY[HEADER] {4}\r\nab\r\n BODY[TEXT] {0}\r\n UID 9 X {3}\r\n{1})\r\n");
  EXPECT_EQ(r.literals, (std::vector<std::string>{"ab\r\n", "", "{1}"}));
  EXPECT_EQ(r.text, "(BODY[HEADER] {4} BODY[TEXT] {0} UID 9 X {3})");
}

TEST(ResponseParser, LiteralPayloadIsNotScanned) {
  // The payload holds CRLF, a NUL and something that looks like a literal.
  const std::string payload = "x\r\n{9}\r\n\0* BYE\r\n"s;
  const std::string wire = "* 1 FETCH (RFC822 {16}\r\n" + payload + ")\r\n* 2 EXISTS\r\n";
  const auto rs = parse_all(wire);
  ASSERT_EQ(rs.size(), 2u);
  ASSERT_EQ(rs[0].literals.size(), 1u);
  EXPECT_EQ(rs[0].literals[0], payload);
  EXPECT_EQ(rs[1].number, 2u);
}

TEST(ResponseParser, QuotedStringHidesBraces) {
  auto rs = parse_all("* LIST () \"/\" \"foo{3}\"\r\n* 1 EXISTS\r\n");
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_TRUE(rs[0].literals.empty());
  EXPECT_EQ(rs[0].text, "() \"/\" \"foo{3}\"");

  // The announcement sits inside an unterminated quote: still not a literal.
  rs = parse_all("* LIST () \"/\" \"a {3}\r\n* 2 EXISTS\r\n");
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_TRUE(rs[0].literals.empty());

  // An escaped quote keeps the string open.
  rs = parse_all("* 1 FETCH (X \"a\\\" {3}\r\n* 3 EXISTS\r\n");
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_TRUE(rs[0].literals.empty());

  // An escaped backslash does not: the quote closes and {3} is a literal.
  rs = parse_all("* 1 FETCH (X \"a\\\\\" {3}\r\nabc)\r\n");
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].literals, (std::vector<std::string>{"abc"}));
  EXPECT_EQ(rs[0].text, "(X \"a\\\\\" {3})");
}

TEST(ResponseParser, BraceNotAtEndOfLineIsText) {
  const auto r = parse_one("* 1 FETCH (X {3} Y)\r\n");
  EXPECT_TRUE(r.literals.empty());
  EXPECT_EQ(r.text, "(X {3} Y)");
}

TEST(ResponseParser, LoneLfEndsALine) {
  const auto rs = parse_all("* OK hi\nA1 OK done\n* 1 FETCH (B {2}\nxy)\n");
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].text, "hi");
  EXPECT_EQ(rs[0].wire_bytes, 8u);
  EXPECT_EQ(rs[1].tag, "A1");
  EXPECT_EQ(rs[2].literals, (std::vector<std::string>{"xy"}));
}

TEST(ResponseParser, IncompleteInputNeedsMore) {
  const Limits limits;
  for (std::string_view partial :
       {"", "*", "* OK", "* OK hi\r", "* 1 FETCH (B {5}\r\n", "* 1 FETCH (B {5}\r\nabc",
        "* 1 FETCH (B {5}\r\nabcde)", "* 1 FETCH (B {5}\r\nabcde)\r"}) {
    const auto step = parse_response(partial, limits);
    EXPECT_FALSE(step.response.has_value()) << partial;
    EXPECT_EQ(step.consumed, 0u);
  }
}

TEST(ResponseParser, ParseResponseReportsConsumed) {
  const auto step = parse_response("A7 OK done\r\n* 1 EXISTS\r\n", Limits{});
  ASSERT_TRUE(step.response.has_value());
  EXPECT_EQ(step.consumed, 12u);
  EXPECT_EQ(step.response->tag, "A7");
  EXPECT_EQ(step.response->wire_bytes, 12u);
}

TEST(ResponseReader, DiscardBuffered) {
  ResponseReader reader;
  reader.feed("* OK hi\r\n* CAPAB");
  reader.discard_buffered();
  EXPECT_EQ(reader.buffered(), 0u);
  EXPECT_FALSE(reader.next().has_value());
  reader.feed("A1 OK fresh\r\n");
  const auto r = reader.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->tag, "A1");
  EXPECT_EQ(reader.total_bytes(), 16u + 13u);
}

// ---- Bounds ----

TEST(ResponseBounds, LineAtMaxLineIsAccepted) {
  Limits limits;
  limits.max_line = 64;
  const std::string line = "* OK " + std::string(64 - 5, 'x');
  ASSERT_EQ(line.size(), 64u);
  EXPECT_EQ(parse_all(line + "\r\n", limits).size(), 1u);
  EXPECT_THROW(parse_all(line + "y\r\n", limits), ProtocolError);
}

TEST(ResponseBounds, EndlessLineThrowsBeforeGrowing) {
  Limits limits;
  limits.max_line = 1000;
  ResponseReader reader(limits);
  const std::string chunk(100, 'a');
  reader.feed("* OK ");
  std::size_t fed = 5;
  bool thrown = false;
  for (int i = 0; i < 1000 && !thrown; ++i) {
    try {
      reader.feed(chunk);
      fed += chunk.size();
      EXPECT_FALSE(reader.next().has_value());
    } catch (const ProtocolError& e) {
      thrown = true;
      EXPECT_NE(std::string(e.what()).find("line exceeds"), std::string::npos) << e.what();
    }
  }
  ASSERT_TRUE(thrown);
  // Thrown on the first chunk that crossed the bound.
  EXPECT_LE(fed, limits.max_line);
  EXPECT_LE(reader.buffered(), limits.max_line + chunk.size());
}

TEST(ResponseBounds, EndlessLineAfterLiteralThrows) {
  Limits limits;
  limits.max_line = 100;
  ResponseReader reader(limits);
  reader.feed("* 1 FETCH (B {2}\r\nab");
  EXPECT_THROW(reader.feed(std::string(200, 'z')), ProtocolError);
}

TEST(ResponseBounds, HugeLiteralAnnouncementThrowsImmediately) {
  Limits limits;
  limits.max_literal = 1024;
  ResponseReader reader(limits);
  EXPECT_THROW(reader.feed("* 1 FETCH (BODY[] {1025}\r\n"), ProtocolError);

  ResponseReader overflow(limits);
  EXPECT_THROW(overflow.feed("* 1 FETCH (BODY[] {99999999999999999999999999}\r\n"), ProtocolError);

  ResponseReader ok(limits);
  ok.feed("* 1 FETCH (BODY[] {1024}\r\n");
  ok.feed(std::string(1024, 'q') + ")\r\n");
  const auto r = ok.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->literals.at(0).size(), 1024u);
}

TEST(ResponseBounds, LiteralThatCannotFitTheResponseThrowsImmediately) {
  Limits limits;
  limits.max_literal = 1000;
  limits.max_response = 1000;
  ResponseReader reader(limits);
  // 1000 is a legal literal size, but with the line before it the response
  // would exceed max_response; no payload is needed to know that.
  EXPECT_THROW(reader.feed("* 1 FETCH (BODY[] {1000}\r\n"), ProtocolError);
}

TEST(ResponseBounds, ResponseOfManyLiteralsThrows) {
  Limits limits;
  limits.max_response = 200;
  ResponseReader reader(limits);
  reader.feed("* 1 FETCH (");
  EXPECT_THROW(
      {
        for (int i = 0; i < 100; ++i) reader.feed("X {3}\r\nabc ");
      },
      ProtocolError);
  EXPECT_LE(reader.buffered(), limits.max_response + 16);
}

TEST(ResponseBounds, SessionTotal) {
  Limits limits;
  limits.max_total = 100;
  ResponseReader reader(limits);
  const std::string line = "* 1 EXISTS\r\n";  // 12 bytes
  for (int i = 0; i < 8; ++i) {
    reader.feed(line);
    while (reader.next()) {
    }
  }
  EXPECT_EQ(reader.total_bytes(), 96u);
  EXPECT_THROW(reader.feed(line), ProtocolError);
  EXPECT_EQ(reader.buffered(), 0u);  // nothing appended past the bound
}

TEST(ResponseBounds, SessionTotalSurvivesDiscard) {
  Limits limits;
  limits.max_total = 20;
  ResponseReader reader(limits);
  reader.feed("* OK 0123456789");
  reader.discard_buffered();
  EXPECT_THROW(reader.feed("* OK 0123456789"), ProtocolError);
}

// ---- Work ----
//
// A hostile server controls how a response is split into reads and how many
// responses arrive at once; the reader's work must stay linear in the bytes
// received whatever it does. scanned_bytes() counts the bytes examined or
// moved, so the bound does not depend on the machine's speed; the times are
// printed only as a sanity check.

struct Fed {
  std::vector<Response> responses;
  std::size_t scanned = 0;
  double millis = 0;
};

// Feeds `wire` in `chunk`-sized reads (0: all at once), draining after each.
Fed feed_in_chunks(std::string_view wire, std::size_t chunk, Limits limits = {}) {
  Fed out;
  ResponseReader reader(limits);
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t step = chunk == 0 ? wire.size() : chunk;
  for (std::size_t pos = 0; pos < wire.size(); pos += step) {
    reader.feed(wire.substr(pos, step));
    while (auto r = reader.next()) out.responses.push_back(std::move(*r));
  }
  out.millis =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  out.scanned = reader.scanned_bytes();
  EXPECT_EQ(reader.buffered(), 0u);
  return out;
}

void report(const char* what, std::size_t fed, const Fed& run) {
  std::printf("[   work   ] %s: %zu bytes fed, %zu scanned (%.2fx), %.1f ms\n", what, fed,
              run.scanned, static_cast<double>(run.scanned) / static_cast<double>(fed), run.millis);
}

TEST(ResponseWork, ManyTinyLiteralsInSmallReadsAreScannedOnce) {
  // One FETCH of 2 MiB made of 1-byte literals, in 16 KiB reads: a reader
  // that rescans the pending response on every feed does ~128 x 1 MiB.
  std::string wire = "* 1 FETCH (BODY[] ";
  const std::size_t n = 2 * 1024 * 1024 / 6;
  for (std::size_t i = 0; i < n; ++i) wire += "{1}\r\nx";
  wire += ")\r\n";
  ASSERT_LE(wire.size(), Limits{}.max_response);

  const Fed run = feed_in_chunks(wire, 16 * 1024);
  report("2 MiB of tiny literals in 16 KiB reads", wire.size(), run);
  ASSERT_EQ(run.responses.size(), 1u);
  EXPECT_EQ(run.responses[0].literals.size(), n);
  EXPECT_EQ(run.responses[0].wire_bytes, wire.size());
  EXPECT_LE(run.scanned, 4 * wire.size());
  // Resuming changes nothing: same as the pure parser on the whole buffer.
  const auto whole = parse_response(wire, Limits{});
  ASSERT_TRUE(whole.response.has_value());
  expect_same(run.responses[0], *whole.response);
}

TEST(ResponseWork, ManySmallResponsesInOneFeedAreNotShifted) {
  // 1 MiB of small untagged responses in one read: erasing each parsed
  // response from the front of the buffer moves ~n^2/2 bytes.
  std::string wire;
  for (std::uint32_t i = 1; wire.size() < 1024 * 1024; ++i) {
    wire += "* " + std::to_string(i) + " FETCH (FLAGS (\\Seen))\r\n";
  }
  const Fed run = feed_in_chunks(wire, 0);
  report("1 MiB of small responses in one read", wire.size(), run);
  ASSERT_FALSE(run.responses.empty());
  EXPECT_EQ(run.responses.back().number, run.responses.size());
  EXPECT_EQ(run.responses.back().text, "(FLAGS (\\Seen))");
  EXPECT_LE(run.scanned, 4 * wire.size());
}

TEST(ResponseWork, LongLineInTinyReadsIsScannedOnce) {
  // A line of max_line bytes one byte at a time: rescanning the line on
  // every feed would be quadratic in max_line.
  const Limits limits;
  const std::string wire = "* OK " + std::string(limits.max_line - 5, 'x') + "\r\n";
  const Fed run = feed_in_chunks(wire, 1, limits);
  report("max_line line in 1-byte reads", wire.size(), run);
  ASSERT_EQ(run.responses.size(), 1u);
  EXPECT_EQ(run.responses[0].text.size(), limits.max_line - 5);
  EXPECT_LE(run.scanned, 4 * wire.size());
}

TEST(ResponseWork, PartialDrainingKeepsResponsesInOrder) {
  // next() called at most once per feed: the buffer keeps returned bytes in
  // front of unreturned ones, and compaction must not lose or reorder any.
  const auto expected = parse_all(kRfcSession + kRfcSession);
  const std::string wire = kRfcSession + kRfcSession;
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    ResponseReader reader;
    std::vector<Response> got;
    std::size_t pos = 0;
    while (pos < wire.size()) {
      const std::size_t n = std::uniform_int_distribution<std::size_t>(1, 64)(rng);
      reader.feed(std::string_view(wire).substr(pos, n));
      pos += n;
      if (auto r = reader.next()) got.push_back(std::move(*r));
      std::size_t returned = 0;
      for (const auto& r : got) returned += r.wire_bytes;
      ASSERT_EQ(reader.buffered(), std::min(pos, wire.size()) - returned);
    }
    while (auto r = reader.next()) got.push_back(std::move(*r));
    EXPECT_EQ(reader.buffered(), 0u);
    ASSERT_EQ(got.size(), expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) expect_same(got[i], expected[i]);
  }
}

TEST(ResponseWork, ErrorAfterCompleteResponsesIsReportedAgainByNext) {
  // A feed that throws keeps the responses completed before the bad one;
  // next() returns them, then throws the same error, as before resuming.
  Limits limits;
  limits.max_line = 32;
  ResponseReader reader(limits);
  std::string first_error;
  try {
    reader.feed("* 1 EXISTS\r\nA1 OK done\r\n* OK " + std::string(40, 'x'));
    FAIL() << "no ProtocolError";
  } catch (const ProtocolError& e) {
    first_error = e.what();
  }
  ASSERT_TRUE(reader.next().has_value());
  ASSERT_TRUE(reader.next().has_value());
  try {
    reader.next();
    FAIL() << "no ProtocolError";
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.what(), first_error);
  }
}

// ---- Garbage ----

void expect_protocol_error(std::string_view wire) {
  SCOPED_TRACE(::testing::PrintToString(std::string(wire)));
  try {
    ResponseReader reader;
    reader.feed(wire);
    while (reader.next()) {
    }
    ADD_FAILURE() << "no ProtocolError";
  } catch (const ProtocolError& e) {
    const std::string what = e.what();
    EXPECT_LT(what.size(), 160u) << what;
    for (char c : what) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "non-printable in message: " << what;
    }
  }
}

TEST(ResponseGarbage, Rejected) {
  expect_protocol_error("HTTP/1.1 400 Bad Request\r\n");
  expect_protocol_error("(foo)\r\n");
  expect_protocol_error("\r\n");
  expect_protocol_error("\n");
  expect_protocol_error(" * OK\r\n");
  expect_protocol_error("*\r\n");
  expect_protocol_error("*OK\r\n");
  expect_protocol_error("* \r\n");
  expect_protocol_error("*  OK\r\n");
  expect_protocol_error("a1\r\n");
  expect_protocol_error("a1 \r\n");
  expect_protocol_error("a1 FETCH 1\r\n");
  expect_protocol_error("a1 DONE ok\r\n");
  expect_protocol_error("a+1 OK\r\n");
  expect_protocol_error("a\"1 OK\r\n");
  expect_protocol_error("* 12\r\n");
  expect_protocol_error("* 12 \r\n");
  expect_protocol_error("* 99999999999 EXISTS\r\n");
  expect_protocol_error("* OK [ALERT unterminated\r\n");
  expect_protocol_error("* OK [] empty code\r\n");
  expect_protocol_error("* OK(x)\r\n");
  expect_protocol_error("* OK bare\rCR\r\n");
  expect_protocol_error("* OK nul\0byte\r\n"s);
  expect_protocol_error("\0"s);
  expect_protocol_error("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s);  // a TLS ClientHello
  expect_protocol_error("* OK fine\r\n\x01\x02garbage\r\n");
}

TEST(ResponseGarbage, NulIsRejectedBeforeTheLineEnds) {
  ResponseReader reader;
  EXPECT_THROW(reader.feed("* OK \0"s), ProtocolError);
}

TEST(ResponseGarbage, ErrorExcerptIsEscapedAndCapped) {
  std::string wire = "\x1b[31m";
  wire += std::string(200, 'x');
  wire += "\r\n";
  try {
    parse_all(wire);
    FAIL() << "no ProtocolError";
  } catch (const ProtocolError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("\\x1b"), std::string::npos) << what;
    EXPECT_EQ(what.find('\x1b'), std::string::npos);
    EXPECT_LT(what.size(), 120u) << what;
  }
}

TEST(ResponseGarbage, RandomBytesNeverCrash) {
  std::mt19937 rng(12345);
  Limits limits;
  limits.max_line = 512;
  limits.max_literal = 512;
  limits.max_response = 2048;
  limits.max_total = 8192;
  // Mixes plausible IMAP fragments with random bytes so that both the
  // grammar and the bounds get exercised, not only the first-byte check.
  const std::vector<std::string> fragments = {
      "* ", "A1 ",  "+ ", "OK ", "FETCH ", "{5}\r\n", "{3+}\r\n", "\"", "\\",          "[",
      "]",  "\r\n", "\n", "\r",  " ",      "12 ",     "(",        ")",  "{99999}\r\n", "BYE"};
  int parsed = 0;
  int errors = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string wire;
    const int parts = std::uniform_int_distribution<int>(1, 30)(rng);
    for (int p = 0; p < parts; ++p) {
      if (std::uniform_int_distribution<int>(0, 2)(rng) == 0) {
        const int n = std::uniform_int_distribution<int>(1, 8)(rng);
        for (int k = 0; k < n; ++k) {
          wire.push_back(static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng)));
        }
      } else {
        wire += fragments[std::uniform_int_distribution<std::size_t>(0, fragments.size() - 1)(rng)];
      }
    }
    ResponseReader reader(limits);
    try {
      std::size_t pos = 0;
      while (pos < wire.size()) {
        const std::size_t n = std::uniform_int_distribution<std::size_t>(1, 16)(rng);
        reader.feed(std::string_view(wire).substr(pos, n));
        pos += n;
        while (auto r = reader.next()) {
          ++parsed;
          EXPECT_LE(r->wire_bytes, limits.max_response);
        }
      }
    } catch (const ProtocolError&) {
      ++errors;
    }
  }
  // Both outcomes must actually occur, or the generator tests nothing.
  EXPECT_GT(parsed, 0);
  EXPECT_GT(errors, 0);
}

}  // namespace
}  // namespace imapprobe::imap
