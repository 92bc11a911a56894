#include "imap/command.hpp"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <string>

namespace imapprobe::imap {
namespace {

using namespace std::string_literals;

TEST(Quote, PlainAndEscaped) {
  EXPECT_EQ(quote(""), "\"\"");
  EXPECT_EQ(quote("INBOX"), "\"INBOX\"");
  EXPECT_EQ(quote("a b"), "\"a b\"");
  EXPECT_EQ(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(quote("C:\\dir\\"), "\"C:\\\\dir\\\\\"");
  EXPECT_EQ(quote("{5}"), "\"{5}\"");
}

TEST(Quote, RejectsCrLfNul) {
  EXPECT_THROW(quote("a\rb"), std::invalid_argument);
  EXPECT_THROW(quote("a\nb"), std::invalid_argument);
  EXPECT_THROW(quote("a\0b"s), std::invalid_argument);
  EXPECT_THROW(quote("\r\n"), std::invalid_argument);
}

TEST(EncodeString, PrintableAsciiIsQuoted) {
  const auto arg = encode_string("p@ss w\"rd\\", false);
  EXPECT_EQ(arg.head, "\"p@ss w\\\"rd\\\\\"");
  EXPECT_TRUE(arg.literal.empty());
  EXPECT_FALSE(arg.needs_continuation);

  const auto empty = encode_string("", true);
  EXPECT_EQ(empty.head, "\"\"");
  EXPECT_FALSE(empty.needs_continuation);
}

TEST(EncodeString, SynchronizingLiteral) {
  const auto arg = encode_string("line1\r\nline2", false);
  EXPECT_EQ(arg.head, "{12}\r\n");
  EXPECT_EQ(arg.literal, "line1\r\nline2");
  EXPECT_TRUE(arg.needs_continuation);
}

TEST(EncodeString, NonSynchronizingLiteral) {
  const auto arg = encode_string("p\xc3\xa4ss", true);  // UTF-8 "päss"
  EXPECT_EQ(arg.head, "{5+}\r\n");
  EXPECT_EQ(arg.literal, "p\xc3\xa4ss");
  EXPECT_FALSE(arg.needs_continuation);
}

TEST(EncodeString, ControlCharactersAndNulUseLiterals) {
  EXPECT_EQ(encode_string("a\tb", false).head, "{3}\r\n");
  const auto nul = encode_string("a\0b"s, true);
  EXPECT_EQ(nul.head, "{3+}\r\n");
  EXPECT_EQ(nul.literal, "a\0b"s);
  EXPECT_EQ(encode_string("\x7f", false).head, "{1}\r\n");
}

TEST(TagGenerator, Sequence) {
  TagGenerator tags;
  EXPECT_EQ(tags.next(), "A0001");
  EXPECT_EQ(tags.next(), "A0002");
  for (int i = 3; i < 9999; ++i) tags.next();
  EXPECT_EQ(tags.next(), "A9999");
  EXPECT_EQ(tags.next(), "A10000");
}

TEST(TagGenerator, UniqueAndIndependentPerSession) {
  TagGenerator a;
  TagGenerator b;
  std::set<std::string> seen;
  for (int i = 0; i < 500; ++i) EXPECT_TRUE(seen.insert(a.next()).second);
  EXPECT_EQ(b.next(), "A0001");
}

}  // namespace
}  // namespace imapprobe::imap
