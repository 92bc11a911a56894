// SMTP replies off the wire: single and multi-line, enhanced status codes,
// queue ids as Postfix, Exim and Exchange name them, EHLO keywords, DATA
// dot-stuffing, and the bounds that keep a hostile server's bytes finite.
#include "smtp/reply.hpp"

#include <gtest/gtest.h>

namespace imapprobe::smtp {
namespace {

TEST(SmtpReply, SingleLineWithEnhancedCode) {
  const Reply r = parse_reply("550 5.1.1 <nobody@imap.test>: Recipient address rejected\r\n");
  EXPECT_EQ(r.code, 550);
  EXPECT_EQ(r.enhanced, "5.1.1");
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0], "<nobody@imap.test>: Recipient address rejected");
  EXPECT_FALSE(r.positive());
  EXPECT_EQ(r.summary(), "550 5.1.1 <nobody@imap.test>: Recipient address rejected");
}

TEST(SmtpReply, EnhancedCodeMustMatchTheReplyClass) {
  // "2.0.0" after a 550 is text, not a status code.
  const Reply r = parse_reply("550 2.0.0 odd\r\n");
  EXPECT_EQ(r.enhanced, "");
  EXPECT_EQ(r.lines[0], "2.0.0 odd");
  EXPECT_EQ(parse_reply("250 Ok\r\n").enhanced, "");
  EXPECT_EQ(parse_reply("421 4.3.2 Service shutting down\r\n").enhanced, "4.3.2");
}

TEST(SmtpReply, MultiLineEhloAndItsKeywords) {
  ReplyReader reader;
  reader.feed("250-mail.imap.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n");
  EXPECT_FALSE(reader.next());  // not complete yet
  reader.feed("250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n");
  const auto r = reader.next();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 250);
  const auto exts = extensions(*r);
  EXPECT_EQ(exts.size(), 5u);
  EXPECT_EQ(extension(exts, "auth"), "PLAIN LOGIN");
  EXPECT_EQ(extension(exts, "STARTTLS"), "");
  EXPECT_EQ(extension(exts, "SIZE"), "10240000");
  EXPECT_FALSE(extension(exts, "SMTPUTF8"));
  EXPECT_FALSE(extension(exts, "AUTH=LOGIN").has_value());
}

TEST(SmtpReply, TwoRepliesInOneChunkComeOutOneByOne) {
  ReplyReader reader;
  reader.feed("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\n");
  EXPECT_EQ(reader.next()->enhanced, "2.1.0");
  EXPECT_EQ(reader.next()->enhanced, "2.1.5");
  EXPECT_EQ(reader.next()->code, 354);  // a bare LF is accepted
  EXPECT_FALSE(reader.next());
}

TEST(SmtpReply, GarbageIsAProtocolErrorQuotingIt) {
  ReplyReader reader;
  reader.feed("* OK IMAP4rev1 ready\r\n");
  try {
    reader.next();
    FAIL() << "accepted an IMAP greeting as an SMTP reply";
  } catch (const ProtocolError& e) {
    EXPECT_NE(std::string(e.what()).find("\"* OK IMAP4rev1 ready\""), std::string::npos)
        << e.what();
  }
  ReplyReader binary;
  binary.feed(std::string("25\x00\xff\r\n", 6));
  EXPECT_THROW(binary.next(), ProtocolError);
}

TEST(SmtpReply, ChangingCodeInsideAReplyIsRefused) {
  ReplyReader reader;
  reader.feed("250-first\r\n550 second\r\n");
  EXPECT_THROW(reader.next(), ProtocolError);
}

TEST(SmtpReply, BoundsHoldAgainstEndlessLinesAndReplies) {
  ReplyReader reader(ReplyLimits{64, 4});
  reader.feed(std::string(100, '2'));  // no line end in sight
  EXPECT_THROW(reader.next(), ProtocolError);
  ReplyReader many(ReplyLimits{64, 4});
  many.feed("250-a\r\n250-b\r\n250-c\r\n250-d\r\n250-e\r\n");
  EXPECT_THROW(many.next(), ProtocolError);
}

TEST(SmtpReply, QueueIdsAsServersNameThem) {
  EXPECT_EQ(queue_id(parse_reply("250 2.0.0 Ok: queued as 4C2B1E0A3F\r\n")), "4C2B1E0A3F");
  EXPECT_EQ(queue_id(parse_reply("250 OK id=1qAbCd-0001Xy-2Z\r\n")), "1qAbCd-0001Xy-2Z");
  EXPECT_EQ(queue_id(parse_reply("250 2.0.0 Queued as 9f3a; thanks\r\n")), "9f3a");
  EXPECT_EQ(queue_id(parse_reply("250 2.6.0 <x@y> [InternalId=123] Queued mail for delivery\r\n")),
            "");
}

TEST(SmtpReply, DataPayloadIsDotStuffedAndTerminated) {
  EXPECT_EQ(data_payload("a\r\n.b\r\n..c\r\n"), "a\r\n..b\r\n...c\r\n.\r\n");
  // Bare LF and a missing final line end become CRLF.
  EXPECT_EQ(data_payload(".x\ny"), "..x\r\ny\r\n.\r\n");
  EXPECT_EQ(data_payload("a\r\n.\r\nb\r\n"), "a\r\n..\r\nb\r\n.\r\n");
}

}  // namespace
}  // namespace imapprobe::smtp
