// What the first bytes from a server are, and how a message shows them.
#include "imap/banner.hpp"

#include <gtest/gtest.h>

#include <string>

namespace imapprobe::imap {
namespace {

using namespace std::string_literals;

TEST(ClassifyBanner, TooFewBytesIsIncomplete) {
  for (const std::string& d : {""s, "*"s, "2"s, "22"s, "220"s, "\x16"s, "\x15"s, "+"s, "+O"s,
                               "-ER"s, "HTTP"s, "SSH"s, "abc"s, "*OK"s}) {
    EXPECT_EQ(classify_banner(d), Banner::Incomplete) << "\"" << d << "\"";
  }
}

TEST(ClassifyBanner, Imap) {
  for (const std::string& d : {"* "s, "* OK ready\r\n"s, "* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n"s,
                               "* BYE too many connections\r\n"s}) {
    EXPECT_EQ(classify_banner(d), Banner::Imap) << d;
  }
}

TEST(ClassifyBanner, ImapTextMayCarryEightBitAndControlBytes) {
  // RFC 3501 TEXT-CHAR allows controls other than CR and LF; RFC 9051
  // allows UTF-8. A greeting that starts "* " is IMAP whatever follows.
  EXPECT_EQ(classify_banner("* OK Gr\xC3\xBC\xC3\x9F"
                            "e\r\n"),
            Banner::Imap);
  EXPECT_EQ(classify_banner("* OK [ALERT] ding\x07\r\n"), Banner::Imap);
}

TEST(ClassifyBanner, TlsRecords) {
  // Handshake (ServerHello), alert, change_cipher_spec, application data.
  for (const std::string& d : {"\x16\x03\x03\x00\x5a\x02"s, "\x15\x03\x01\x00\x02\x02\x28"s,
                               "\x14\x03"s, "\x17\x03\x03"s}) {
    EXPECT_EQ(classify_banner(d), Banner::TlsRecord) << d.size();
  }
  // A record type without major version 3 is not TLS.
  EXPECT_EQ(classify_banner("\x16\x02\x00"s), Banner::Binary);
}

TEST(ClassifyBanner, SmtpGreetingsAndRefusals) {
  for (const std::string& d : {"220 mx.example.test ESMTP\r\n"s, "220-mx.example.test\r\n"s,
                               "554 5.7.1 no service for you\r\n"s, "421 "s, "220 "s}) {
    EXPECT_EQ(classify_banner(d), Banner::Smtp) << d;
  }
}

TEST(ClassifyBanner, OtherProtocols) {
  EXPECT_EQ(classify_banner("+OK Dovecot ready.\r\n"), Banner::Pop3);
  EXPECT_EQ(classify_banner("-ERR go away\r\n"), Banner::Pop3);
  EXPECT_EQ(classify_banner("HTTP/1.1 400 Bad Request\r\n"), Banner::Http);
  EXPECT_EQ(classify_banner("SSH-2.0-OpenSSH_9.2p1\r\n"), Banner::Ssh);
}

TEST(ClassifyBanner, Binary) {
  for (const std::string& d :
       {"\x00\x01\x02\x03"s, "\xff\xfd\x18"s, "hello \xc3\xa9"s, "ab\x01"s}) {
    EXPECT_EQ(classify_banner(d), Banner::Binary) << d.size();
  }
}

TEST(ClassifyBanner, OtherText) {
  for (const std::string& d : {"hello world\r\n"s, "ab\n"s, "abcd"s, "*OK ready\r\n"s, "HTTX/1.1"s,
                               "2201 x"s, "A0001 OK hi\r\n"s}) {
    EXPECT_EQ(classify_banner(d), Banner::OtherText) << d;
  }
}

TEST(DescribeBanner, EachKind) {
  EXPECT_EQ(describe(Banner::Incomplete), "too few bytes to tell");
  EXPECT_EQ(describe(Banner::Imap), "an IMAP greeting");
  EXPECT_EQ(describe(Banner::TlsRecord), "a TLS record");
  EXPECT_EQ(describe(Banner::Smtp), "an SMTP (or FTP) banner");
  EXPECT_EQ(describe(Banner::Pop3), "a POP3 greeting");
  EXPECT_EQ(describe(Banner::Http), "an HTTP response");
  EXPECT_EQ(describe(Banner::Ssh), "an SSH banner");
  EXPECT_EQ(describe(Banner::Binary), "binary data");
  EXPECT_EQ(describe(Banner::OtherText), "text that is not IMAP");
}

TEST(ExcerptBanner, TextIsQuotedAndCutAtTheLineEnd) {
  EXPECT_EQ(excerpt_banner("220 mx.example.test ESMTP\r\n250 more"),
            "\"220 mx.example.test ESMTP\"");
  EXPECT_EQ(excerpt_banner("+OK ready\nnext"), "\"+OK ready\"");
  EXPECT_EQ(excerpt_banner("no line end"), "\"no line end\"");
  EXPECT_EQ(excerpt_banner("a\\b\"c\r\n"), "\"a\\x5cb\"c\"");
  // Long lines are cut at 60 bytes.
  EXPECT_EQ(excerpt_banner(std::string(70, 'x') + "\r\n"), "\"" + std::string(60, 'x') + "...\"");
}

TEST(ExcerptBanner, BinaryIsHex) {
  EXPECT_EQ(excerpt_banner("\x16\x03\x01\x00\x05"s), "bytes 16 03 01 00 05");
  // At most 16 bytes, then "...".
  EXPECT_EQ(excerpt_banner("\x15\x03\x03\x00\x02\x02\x28"s + std::string(20, 'A')),
            "bytes 15 03 03 00 02 02 28 41 41 41 41 41 41 41 41 41 ...");
  // Only the first 16 bytes decide: later binary is shown escaped as text.
  EXPECT_EQ(excerpt_banner("0123456789abcdef\xff"s), "\"0123456789abcdef\\xff\"");
}

}  // namespace
}  // namespace imapprobe::imap
