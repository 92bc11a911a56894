// Form bodies and Basic credentials, byte for byte: a token endpoint that
// decodes differently from what we encode refuses the client.
#include "oauth/form.hpp"

#include <gtest/gtest.h>

namespace imapprobe::oauth {
namespace {

TEST(FormEncode, UnreservedKeptSpaceAsPlusRestPercentUpperCase) {
  EXPECT_EQ(form_encode("AZaz09*-._"), "AZaz09*-._");
  EXPECT_EQ(form_encode("a b&c=d/e?f#g+h~i*j-k.l_m%n"),
            "a+b%26c%3Dd%2Fe%3Ff%23g%2Bh%7Ei*j-k.l_m%25n")
      << "WHATWG encodes '~' (RFC 3986 would keep it)";
  EXPECT_EQ(form_encode(":@!$'(),;[]\"<>\\^`{|}"),
            "%3A%40%21%24%27%28%29%2C%3B%5B%5D%22%3C%3E%5C%5E%60%7B%7C%7D");
  EXPECT_EQ(form_encode(std::string_view("\0\r\n\x7f", 4)), "%00%0D%0A%7F");
  EXPECT_EQ(form_encode(""), "");
}

TEST(FormEncode, Utf8IsEncodedBytewise) {
  EXPECT_EQ(form_encode("Grüße €"), "Gr%C3%BC%C3%9Fe+%E2%82%AC");
}

TEST(FormBody, PairsInOrderBothSidesEncoded) {
  EXPECT_EQ(form_body({{"grant_type", "client_credentials"},
                       {"scope", "https://outlook.office365.com/.default offline_access"},
                       {"odd name", "a&b=c"}}),
            "grant_type=client_credentials&scope=https%3A%2F%2Foutlook.office365.com%2F.default+"
            "offline_access&odd+name=a%26b%3Dc");
  EXPECT_EQ(form_body({}), "");
  EXPECT_EQ(form_body({{"k", ""}}), "k=");
}

TEST(BasicAuthorization, Rfc6749Example) {
  // RFC 6749 2.3.1's client, the value computed by hand (base64 of
  // "s6BhdRkqt3:7Fjfp0ZBr1KtDRbnfVdmIw").
  EXPECT_EQ(basic_authorization("s6BhdRkqt3", "7Fjfp0ZBr1KtDRbnfVdmIw"),
            "Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3");
}

TEST(BasicAuthorization, ColonAndReservedCharactersAreFormEncodedFirst) {
  // base64("urn%3Aclient%3A1:p%40ss+word"): the ':' inside the id cannot
  // be mistaken for the separator.
  EXPECT_EQ(basic_authorization("urn:client:1", "p@ss word"),
            "Basic dXJuJTNBY2xpZW50JTNBMTpwJTQwc3Mrd29yZA==");
}

}  // namespace
}  // namespace imapprobe::oauth
