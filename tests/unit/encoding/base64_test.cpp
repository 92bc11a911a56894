#include "encoding/base64.hpp"

#include <gtest/gtest.h>

#include <string>

namespace imapprobe::encoding {
namespace {
using namespace std::string_literals;

TEST(Base64, Rfc4648TestVectors) {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded), plain) << encoded;
    EXPECT_EQ(base64_decode(encoded, Base64Syntax::Lenient), plain) << encoded;
  }
}

TEST(Base64, EveryByteValueRoundTrips) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (std::size_t n = 0; n <= bytes.size(); n += 37) {
    EXPECT_EQ(base64_decode(base64_encode(bytes.substr(0, n))), bytes.substr(0, n)) << n;
  }
}

TEST(Base64, LenientSkipsWhitespaceAndTakesMissingPadding) {
  EXPECT_EQ(base64_decode("aGVs\nbG8g\r\nd29y bGQ=", Base64Syntax::Lenient), "hello world");
  EXPECT_EQ(base64_decode("aGVsbG8", Base64Syntax::Lenient), "hello");
  EXPECT_THROW(base64_decode("aGVsbG8"), Base64Error) << "strict needs padding";
  EXPECT_THROW(base64_decode("aGVs bG8="), Base64Error) << "strict takes no whitespace";
}

TEST(Base64, MalformedInputIsRefused) {
  for (const auto syntax : {Base64Syntax::Strict, Base64Syntax::Lenient}) {
    for (const std::string& bad :
         {"a"s, "a$bc"s, "aG=Vs"s, "A==="s, "Zm9v\0\0\0\0"s, "Zg==Zg=="s}) {
      EXPECT_THROW(base64_decode(bad, syntax), Base64Error) << bad;
    }
  }
}

// The decoder reads Secret data: its error must never carry the input.
TEST(Base64, ErrorsNameThePositionNeverTheData) {
  const std::string secret = "hunter2-very-secret!";
  try {
    base64_decode(secret, Base64Syntax::Lenient);
    FAIL() << "accepted";
  } catch (const Base64Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find("hunter"), std::string::npos) << what;
    EXPECT_EQ(what.find("secret"), std::string::npos) << what;
    EXPECT_NE(what.find("at byte 7"), std::string::npos) << what;
  }
}

// RFC 4648 section 10 vectors without padding, and the bytes that tell the
// two alphabets apart (0xfb 0xff is "+/8=" in the standard one).
TEST(Base64Url, UnpaddedUrlSafeAlphabet) {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg"},
                                                         {"fo", "Zm8"},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg"},
                                                         {"fooba", "Zm9vYmE"},
                                                         {"foobar", "Zm9vYmFy"},
                                                         {"\xfb\xff"s, "-_8"},
                                                         {"\xff\xfe\xfd\xfc"s, "__79_A"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64url_encode(plain), encoded);
    EXPECT_EQ(base64url_decode(encoded), plain) << encoded;
  }
  EXPECT_EQ(base64_encode("\xfb\xff"s), "+/8=");
  EXPECT_EQ(base64url_decode("-_8="), "\xfb\xff"s) << "padding is tolerated";
  // RFC 7515 appendix C's example.
  EXPECT_EQ(base64url_encode("\x03\xec\xff\xf0"s), "A-z_8A");
}

TEST(Base64Url, EveryByteValueRoundTrips) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (std::size_t n = 0; n <= bytes.size(); ++n) {
    const std::string encoded = base64url_encode(bytes.substr(0, n));
    EXPECT_EQ(encoded.find_first_of("+/="), std::string::npos) << encoded;
    EXPECT_EQ(base64url_decode(encoded), bytes.substr(0, n)) << n;
  }
}

TEST(Base64Url, StandardAlphabetWhitespaceAndTruncationAreRefused) {
  EXPECT_THROW(base64url_decode("+/8"), Base64Error);
  EXPECT_THROW(base64url_decode("Zm9v Yg"), Base64Error);
  EXPECT_THROW(base64url_decode("Zm9vY"), Base64Error) << "one symbol cannot end the input";
  EXPECT_THROW(base64url_decode("Zg="), Base64Error) << "partial padding";
  try {
    base64url_decode("secret+value");
    FAIL() << "accepted";
  } catch (const Base64Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find("secret"), std::string::npos) << what;
    EXPECT_NE(what.find("at byte 6"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace imapprobe::encoding
