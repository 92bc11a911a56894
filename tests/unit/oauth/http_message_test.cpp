// One HTTP/1.1 POST and its response, over bytes only: the request text
// exactly, and a reader fed the way a socket delivers (a byte at a time,
// interim responses, chunked bodies, a peer that hangs up, a peer that is
// not an HTTP server at all).
#include "oauth/http_message.hpp"

#include <gtest/gtest.h>

#include <string>

namespace imapprobe::oauth {
namespace {

using namespace std::string_literals;

std::string error_of(const std::string& response, std::size_t max = 64 * 1024) {
  try {
    HttpResponseReader r(max);
    if (!r.feed(response)) r.finish_at_eof();
  } catch (const HttpError& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted " << response;
  return {};
}

TEST(HttpPost, ExactRequestText) {
  const HttpUrl url = parse_http_url("http://[::1]:4444/oauth2/token?x=1");
  EXPECT_EQ(http_post(url, "application/x-www-form-urlencoded", "grant_type=client_credentials",
                      {{"Authorization", "Basic YTpi"}, {"X-Extra", "1"}}),
            "POST /oauth2/token?x=1 HTTP/1.1\r\n"
            "Host: [::1]:4444\r\n"
            "User-Agent: imapprobe\r\n"
            "Accept: application/json\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 29\r\n"
            "Connection: close\r\n"
            "Authorization: Basic YTpi\r\n"
            "X-Extra: 1\r\n"
            "\r\n"
            "grant_type=client_credentials");
  EXPECT_EQ(http_post(parse_http_url("https://h.test"), "text/plain", ""),
            "POST / HTTP/1.1\r\nHost: h.test\r\nUser-Agent: imapprobe\r\nAccept: "
            "application/json\r\nContent-Type: text/plain\r\nContent-Length: 0\r\nConnection: "
            "close\r\n\r\n");
}

TEST(HttpPost, HeaderInjectionIsRefusedWithoutShowingTheValue) {
  const HttpUrl url = parse_http_url("https://h.test/t");
  try {
    http_post(url, "text/plain", "", {{"Authorization", "Basic c2VjcmV0\r\nX-Evil: 1"}});
    FAIL() << "accepted";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("Authorization"), std::string::npos) << what;
    EXPECT_EQ(what.find("c2VjcmV0"), std::string::npos) << what;
  }
  EXPECT_THROW(http_post(url, "text/plain", "", {{"Bad Name", "v"}}), std::invalid_argument);
  EXPECT_THROW(http_post(url, "text/plain", "", {{"", "v"}}), std::invalid_argument);
  EXPECT_THROW(http_post(url, "text/plain\n", ""), std::invalid_argument);
}

const std::string kHydra =
    "HTTP/1.1 200 OK\r\n"
    "Cache-Control: no-store\r\n"
    "Content-Type: application/json;charset=UTF-8\r\n"
    "Pragma: no-cache\r\n"
    "Content-Length: 27\r\n"
    "\r\n"
    "{\"access_token\":\"ory_at_x\"}";

TEST(HttpResponseReader, ContentLengthFedOneByteAtATime) {
  HttpResponseReader r;
  for (std::size_t i = 0; i < kHydra.size(); ++i) {
    EXPECT_FALSE(r.complete()) << i;
    EXPECT_EQ(r.feed(kHydra.substr(i, 1)), i + 1 == kHydra.size()) << "after byte " << i;
  }
  EXPECT_TRUE(r.complete());
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.reason(), "OK");
  EXPECT_EQ(r.header("content-type"), "application/json;charset=UTF-8");
  EXPECT_EQ(r.header("CONTENT-LENGTH"), "27");
  EXPECT_FALSE(r.header("Content-Encoding"));
  EXPECT_EQ(r.body(), "{\"access_token\":\"ory_at_x\"}");
  EXPECT_TRUE(r.finish_at_eof());
}

TEST(HttpResponseReader, ContentLengthSplitAtEveryBoundary) {
  for (std::size_t cut = 0; cut <= kHydra.size(); ++cut) {
    HttpResponseReader r;
    const bool first = r.feed(kHydra.substr(0, cut));
    EXPECT_EQ(first, cut == kHydra.size()) << cut;
    EXPECT_TRUE(r.feed(kHydra.substr(cut))) << cut;
    EXPECT_EQ(r.body(), "{\"access_token\":\"ory_at_x\"}") << cut;
  }
}

TEST(HttpResponseReader, BytesAfterTheResponseAreIgnored) {
  HttpResponseReader r(kHydra.size());
  EXPECT_TRUE(r.feed(kHydra + "HTTP/1.1 500 Oops\r\n" + std::string(100000, 'x')));
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.body().size(), 27u);
  EXPECT_TRUE(r.feed("more"));
}

TEST(HttpResponseReader, ChunkedWithExtensionsAndTrailer) {
  const std::string response =
      "HTTP/1.1 400 Bad Request\r\n"
      "Transfer-Encoding: Chunked\r\n"
      "Content-Type: application/json\r\n"
      "\r\n"
      "a;name=value\r\n"
      "{\"error\":\"\r\n"
      "0E ; ext=\"q\"\r\n"
      "invalid_grant\"\r\n"
      "1\r\n"
      "}\r\n"
      "0;last\r\n"
      "X-Trace: abc\r\n"
      "Server-Timing: t;dur=1\r\n"
      "\r\n";
  for (std::size_t step : {response.size(), std::size_t{1}, std::size_t{3}, std::size_t{7}}) {
    HttpResponseReader r;
    bool done = false;
    for (std::size_t i = 0; i < response.size(); i += step) {
      EXPECT_FALSE(done) << step << " " << i;
      done = r.feed(response.substr(i, step));
    }
    EXPECT_TRUE(done) << step;
    EXPECT_EQ(r.status(), 400);
    EXPECT_EQ(r.body(), "{\"error\":\"invalid_grant\"}") << step;
  }
}

TEST(HttpResponseReader, ChunkedNotFollowedByCrlfIsRefused) {
  const std::string what =
      error_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n");
  EXPECT_NE(what.find("chunk data not followed"), std::string::npos) << what;
  EXPECT_NE(error_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
                .find("malformed chunk size"),
            std::string::npos);
  EXPECT_NE(error_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
                .find("unsupported Transfer-Encoding"),
            std::string::npos);
}

TEST(HttpResponseReader, CloseDelimitedBodyEndsAtEof) {
  HttpResponseReader r;
  EXPECT_FALSE(r.feed("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\":"));
  EXPECT_FALSE(r.feed("1}"));
  EXPECT_FALSE(r.complete());
  EXPECT_TRUE(r.finish_at_eof());
  EXPECT_TRUE(r.complete());
  EXPECT_EQ(r.body(), "{\"a\":1}");
}

TEST(HttpResponseReader, InterimResponsesAreSkipped) {
  HttpResponseReader r;
  EXPECT_FALSE(r.feed("HTTP/1.1 100 Continue\r\n\r\n"));
  EXPECT_FALSE(r.feed("HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(r.feed("Content-Length: 2\r\n\r\n{}"));
  EXPECT_EQ(r.status(), 200);
  EXPECT_FALSE(r.header("Link")) << "the interim response's headers are dropped";
  EXPECT_EQ(r.body(), "{}");
  EXPECT_NE(error_of("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n").find("101"),
            std::string::npos);
}

TEST(HttpResponseReader, BareLineFeedsAndFoldedHeadersAreTolerated) {
  HttpResponseReader r;
  EXPECT_TRUE(
      r.feed("HTTP/1.1 401\nWWW-Authenticate: Basic\n  realm=\"x\"\ncontent-length:  3 \n\nabc"));
  EXPECT_EQ(r.status(), 401);
  EXPECT_EQ(r.reason(), "");
  EXPECT_EQ(r.header("www-authenticate"), "Basic realm=\"x\"");
  EXPECT_EQ(r.body(), "abc");
}

TEST(HttpResponseReader, NoBodyFor204AndZeroLength) {
  HttpResponseReader a;
  EXPECT_TRUE(a.feed("HTTP/1.1 204 No Content\r\n\r\n"));
  HttpResponseReader b;
  EXPECT_TRUE(b.feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_EQ(b.body(), "");
}

TEST(HttpResponseReader, ContentLengthRepeatedIdenticallyIsOneConflictingIsRefused) {
  HttpResponseReader r;
  EXPECT_TRUE(r.feed("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 02\r\n\r\nok"));
  EXPECT_EQ(r.body(), "ok");
  const std::string what =
      error_of("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_NE(what.find("conflicting Content-Length"), std::string::npos) << what;
  EXPECT_NE(error_of("HTTP/1.1 200 OK\r\nContent-Length: 2, 5\r\n\r\nabcde").find("conflicting"),
            std::string::npos);
  EXPECT_NE(
      error_of("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").find("invalid Content-Length"),
      std::string::npos);
  EXPECT_NE(error_of("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n")
                .find("invalid Content-Length"),
            std::string::npos);
}

TEST(HttpResponseReader, MoreThanMaxBytesIsRefused) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
  // Exactly at the limit is fine, one byte more is not.
  HttpResponseReader fits(head.size() + 100);
  EXPECT_TRUE(fits.feed(head + std::string(100, 'a')));
  EXPECT_NE(error_of(head + std::string(100, 'a'), head.size() + 99).find("larger than"),
            std::string::npos);
  // Declared too large: refused before the body arrives.
  HttpResponseReader early(1000);
  EXPECT_THROW(early.feed("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"), HttpError);
  // Close-delimited and chunked bodies, and a header that never ends.
  HttpResponseReader close(100);
  close.feed("HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_THROW(
      {
        for (int i = 0; i < 100; ++i) close.feed("0123456789");
      },
      HttpError);
  EXPECT_NE(error_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                         std::string(30, '4') + "\r\n",
                     200)
                .find("chunk size too large"),
            std::string::npos);
  EXPECT_NE(error_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n", 200)
                .find("larger than the limit of 200 bytes"),
            std::string::npos);
  HttpResponseReader endless(1000);
  EXPECT_THROW(
      {
        endless.feed("HTTP/1.1 200 OK\r\nX-A: ");
        for (int i = 0; i < 200; ++i) endless.feed("aaaaaaaaaa");
      },
      HttpError);
}

TEST(HttpResponseReader, NotHttp1IsRefusedOnTheFirstBytes) {
  // An SMTP banner, a TLS alert, HTTP/2, a bare status without version.
  EXPECT_NE(error_of("220 mail.test ESMTP\r\n").find("not an HTTP/1.x response: \"220 mail"),
            std::string::npos);
  HttpResponseReader tls;
  EXPECT_THROW(tls.feed("\x15\x03\x03\x00\x02\x02\x46"s), HttpError);
  EXPECT_NE(error_of("HTTP/2 200\r\n\r\n").find("not an HTTP/1.x"), std::string::npos);
  EXPECT_NE(error_of("HTTP/1.1 20 OK\r\n\r\n").find("not an HTTP/1.x status line"),
            std::string::npos);
  EXPECT_NE(error_of("HTTP/1.1 200OK\r\n\r\n").find("status line"), std::string::npos);
  EXPECT_NE(error_of("HTTP/1.1 700 Odd\r\n\r\n").find("status line"), std::string::npos);
  EXPECT_NE(error_of("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n").find("malformed header line"),
            std::string::npos);
  EXPECT_NE(error_of("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n").find("malformed header line"),
            std::string::npos);
}

TEST(HttpResponseReader, TruncatedResponsesAtEofSayWhere) {
  EXPECT_NE(error_of("").find("no response received"), std::string::npos);
  EXPECT_NE(error_of("HTTP/1.1 200 OK\r\nContent-Len").find("in the headers"), std::string::npos);
  const std::string what = error_of("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_NE(what.find("connection closed before the response was complete"), std::string::npos)
      << what;
  EXPECT_NE(what.find("after 3 of 10 body bytes"), std::string::npos) << what;
  EXPECT_NE(error_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
                .find("in the chunked body"),
            std::string::npos);
  EXPECT_NE(
      error_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n").find("in the trailer"),
      std::string::npos);
}

TEST(HttpResponseReader, ExcerptIsShortAndEscaped) {
  const std::string what = error_of("\x16\x03\x01\\ \x1b[31mred\r\n" + std::string(500, 'A'));
  EXPECT_NE(what.find("\"\\x16\\x03\\x01\\x5c \\x1b[31mred AAAA"), std::string::npos) << what;
  EXPECT_NE(what.find("...\""), std::string::npos) << what;
  EXPECT_LT(what.size(), 150u) << what;
  for (const char c : what) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << what;
  }
}

}  // namespace
}  // namespace imapprobe::oauth
