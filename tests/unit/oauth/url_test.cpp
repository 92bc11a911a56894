// Token endpoint URLs: what a request line and a Host header are built
// from, and the mistakes refused when a spec is read.
#include "oauth/url.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace imapprobe::oauth {
namespace {

std::string refusal(std::string_view url) {
  try {
    parse_http_url(url);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted " << url;
  return {};
}

TEST(HttpUrl, DefaultsByScheme) {
  const HttpUrl a = parse_http_url("https://login.microsoftonline.com");
  EXPECT_TRUE(a.https);
  EXPECT_EQ(a.host, "login.microsoftonline.com");
  EXPECT_EQ(a.port, 443);
  EXPECT_EQ(a.target, "/");
  EXPECT_EQ(a.authority(), "login.microsoftonline.com");
  EXPECT_EQ(a.to_string(), "https://login.microsoftonline.com/");

  const HttpUrl b = parse_http_url("HTTP://Hydra.Test/oauth2/token");
  EXPECT_FALSE(b.https);
  EXPECT_EQ(b.port, 80);
  EXPECT_EQ(b.host, "hydra.test") << "host names compare case-insensitively";
  EXPECT_EQ(b.target, "/oauth2/token");
  EXPECT_EQ(b.to_string(), "http://hydra.test/oauth2/token");
}

TEST(HttpUrl, ExplicitPortsAppearInTheAuthorityOnlyWhenNotTheDefault) {
  const HttpUrl a = parse_http_url("http://127.0.0.1:4444/oauth2/token");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 4444);
  EXPECT_EQ(a.authority(), "127.0.0.1:4444");
  EXPECT_EQ(parse_http_url("https://h.test:443/t").authority(), "h.test");
  EXPECT_EQ(parse_http_url("http://h.test:80/t").authority(), "h.test");
  EXPECT_EQ(parse_http_url("http://h.test:443/t").authority(), "h.test:443");
  EXPECT_EQ(parse_http_url("https://h.test:65535").port, 65535);
}

TEST(HttpUrl, Ipv6LiteralIsStoredWithoutBracketsAndSentWithThem) {
  const HttpUrl a = parse_http_url("https://[::1]:8443/token");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 8443);
  EXPECT_EQ(a.authority(), "[::1]:8443");
  EXPECT_EQ(a.to_string(), "https://[::1]:8443/token");
  const HttpUrl b = parse_http_url("http://[2001:DB8::a]/t");
  EXPECT_EQ(b.host, "2001:db8::a");
  EXPECT_EQ(b.authority(), "[2001:db8::a]");
}

TEST(HttpUrl, QueryIsKeptInTheTarget) {
  EXPECT_EQ(parse_http_url("https://h.test/realms/x/token?api-version=2.0&a=%20b").target,
            "/realms/x/token?api-version=2.0&a=%20b");
  EXPECT_EQ(parse_http_url("https://h.test?x=1").target, "/?x=1");
  EXPECT_EQ(parse_http_url("https://h.test:8443?x=1").port, 8443);
}

TEST(HttpUrl, RefusalsNameTheProblem) {
  EXPECT_NE(refusal("").find("empty"), std::string::npos);
  EXPECT_NE(refusal("ftp://h.test/").find("not http or https"), std::string::npos);
  EXPECT_NE(refusal("h.test/token").find("absolute"), std::string::npos);
  EXPECT_NE(refusal("https:///token").find("no host"), std::string::npos);
  EXPECT_NE(refusal("https://:443/token").find("no host"), std::string::npos);
  EXPECT_NE(refusal("https://h.test/token#frag").find("fragment"), std::string::npos);
  EXPECT_NE(refusal("https://h.test:0/").find("outside"), std::string::npos);
  EXPECT_NE(refusal("https://h.test:65536/").find("outside"), std::string::npos);
  EXPECT_NE(refusal("https://h.test:44x/").find("not a number"), std::string::npos);
  EXPECT_NE(refusal("https://h.test:/").find("not a number"), std::string::npos);
  EXPECT_NE(refusal("https://h.test:123456/").find("not a number"), std::string::npos);
  EXPECT_NE(refusal("https://h .test/").find("whitespace"), std::string::npos);
  EXPECT_NE(refusal("https://h.test/a\r\nHost: evil").find("control"), std::string::npos);
  EXPECT_NE(refusal("https://h.test/\t").find("control"), std::string::npos);
  EXPECT_NE(refusal("https://h\xc3\xa9.test/").find("non-ASCII"), std::string::npos);
  EXPECT_NE(refusal("https://[::1/").find("']'"), std::string::npos);
  EXPECT_NE(refusal("https://[zz]/").find("IPv6"), std::string::npos);
  EXPECT_NE(refusal("https://[::1]x/").find("after the IPv6"), std::string::npos);
  EXPECT_NE(refusal("https://h%2e.test/").find("host"), std::string::npos);
}

// A password pasted into the URL must not come back in the error.
TEST(HttpUrl, UserinfoIsRefusedWithoutRepeatingIt) {
  const std::string what = refusal("https://client:s3cr3t@h.test/token");
  EXPECT_NE(what.find("user:password@"), std::string::npos) << what;
  EXPECT_EQ(what.find("s3cr3t"), std::string::npos) << what;
  EXPECT_NE(refusal("https://@h.test/").find("user:password@"), std::string::npos);
  // An '@' in the path or query is not userinfo.
  EXPECT_EQ(parse_http_url("https://h.test/u@x?a=b@c").host, "h.test");
}

}  // namespace
}  // namespace imapprobe::oauth
