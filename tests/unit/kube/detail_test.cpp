#include "kube/detail.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace imapprobe::kube {
namespace {
using namespace std::chrono;

TEST(KubeApiError, ParsesStatusBody) {
  const std::string body = R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
    "message":"Operation cannot be fulfilled on imapprobes.imapprobe.dev \"p\": the object has been modified",
    "reason":"Conflict","details":{"name":"p","group":"imapprobe.dev","kind":"imapprobes"},"code":409})";
  const ApiError e = detail::api_error_from_response(
      "PATCH", "/apis/imapprobe.dev/v1alpha1/namespaces/ns/imapprobes/p/status?fieldManager=x", 409,
      "Conflict", body);
  EXPECT_EQ(e.status(), 409);
  EXPECT_TRUE(e.conflict());
  EXPECT_FALSE(e.not_found());
  EXPECT_EQ(e.reason(), "Conflict");
  EXPECT_EQ(e.api_message(),
            "Operation cannot be fulfilled on imapprobes.imapprobe.dev \"p\": the object has been "
            "modified");
  EXPECT_EQ(std::string(e.what()),
            "PATCH /apis/imapprobe.dev/v1alpha1/namespaces/ns/imapprobes/p/status: 409 Conflict: "
            "Operation cannot be fulfilled on imapprobes.imapprobe.dev \"p\": the object has been "
            "modified");
}

TEST(KubeApiError, GoneAndExpired) {
  const ApiError expired = detail::api_error_from_response(
      "GET", "/api/v1/pods?continue=x", 410, "Gone",
      R"j({"kind":"Status","reason":"Expired","message":"too old resource version: 1 (2)","code":410})j");
  EXPECT_TRUE(expired.gone());
  EXPECT_EQ(expired.reason(), "Expired");
  EXPECT_EQ(std::string(expired.what()),
            "GET /api/v1/pods: 410 Expired: too old resource version: 1 (2)");
}

TEST(KubeApiError, NonStatusBodyKeepsAShortSingleLineExcerpt) {
  const ApiError e = detail::api_error_from_response(
      "GET", "/version", 502, "Bad Gateway",
      "<html>\n<body>upstream down</body>\n</html>\n" + std::string(2000, 'x'));
  EXPECT_EQ(e.status(), 502);
  EXPECT_EQ(e.reason(), "");
  EXPECT_LE(e.api_message().size(), 512u);
  EXPECT_EQ(e.api_message().find('\n'), std::string::npos);
  EXPECT_EQ(std::string(e.what()).rfind("GET /version: 502 Bad Gateway: <html> <body>upstream", 0),
            0u)
      << e.what();
}

TEST(KubeApiError, TransportErrorHasStatusZero) {
  const ApiError e = detail::transport_error("GET", "/api?x=1", "Connection refused");
  EXPECT_EQ(e.status(), 0);
  EXPECT_EQ(e.api_message(), "Connection refused");
  EXPECT_EQ(std::string(e.what()), "GET /api: no response: Connection refused");
}

TEST(KubeDetail, QueryBuilding) {
  EXPECT_EQ(detail::append_query("/a/b", "x=1"), "/a/b?x=1");
  EXPECT_EQ(detail::append_query("/a/b?y=2", "x=1"), "/a/b?y=2&x=1");
  EXPECT_EQ(detail::append_query("/a/b?", "x=1"), "/a/b?x=1");
  EXPECT_EQ(detail::append_query("/a/b", ""), "/a/b");
  EXPECT_EQ(detail::url_encode("eyJ2Ijoi+/=&?x y~._-"), "eyJ2Ijoi%2B%2F%3D%26%3Fx%20y~._-");
}

TEST(KubeDetail, TruncateUtf8KeepsWholeCharacters) {
  EXPECT_EQ(detail::truncate_utf8("abc", 10), "abc");
  EXPECT_EQ(detail::truncate_utf8("abcdef", 3), "abc");
  // "é" is two bytes: cutting in its middle drops it entirely.
  EXPECT_EQ(detail::truncate_utf8("ab\xC3\xA9", 3), "ab");
  EXPECT_EQ(detail::truncate_utf8("ab\xC3\xA9", 4), "ab\xC3\xA9");
  EXPECT_EQ(detail::truncate_utf8("\xE2\x82\xAC\xE2\x82\xAC", 5), "\xE2\x82\xAC");
}

TEST(KubeDetail, BackoffIsExponentialWithFullJitterAndCapped) {
  std::mt19937_64 rng(42);
  const milliseconds initial(100), max(1000);
  for (int attempt = 1; attempt <= 10; ++attempt) {
    const long long cap = std::min(1000LL, 100LL << (attempt - 1));
    milliseconds biggest(0);
    for (int i = 0; i < 200; ++i) {
      const auto d = detail::backoff_delay(attempt, initial, max, rng);
      EXPECT_GE(d.count(), 0);
      EXPECT_LE(d.count(), cap);
      biggest = std::max(biggest, d);
    }
    // Jitter spans the range: over 200 draws something lands in the top half.
    EXPECT_GT(biggest.count(), cap / 2) << "attempt " << attempt;
  }
}

TEST(KubeDetail, SleepForWakesOnStop) {
  std::stop_source source;
  EXPECT_TRUE(detail::sleep_for(source.get_token(), milliseconds(1)));
  std::jthread stopper([&] {
    std::this_thread::sleep_for(milliseconds(50));
    source.request_stop();
  });
  const auto start = steady_clock::now();
  EXPECT_FALSE(detail::sleep_for(source.get_token(), seconds(30)));
  EXPECT_LT(steady_clock::now() - start, seconds(5));
}

TEST(KubeDetail, LeaseExpiry) {
  const system_clock::time_point now{seconds(1795640400)};
  nlohmann::json spec = {{"holderIdentity", "a"},
                         {"leaseDurationSeconds", 15},
                         {"renewTime", "2026-11-25T20:59:50.000000Z"}};
  EXPECT_FALSE(detail::lease_expired(spec, now));              // 10 s old
  EXPECT_TRUE(detail::lease_expired(spec, now + seconds(6)));  // 16 s old
  spec["holderIdentity"] = "";
  EXPECT_TRUE(detail::lease_expired(spec, now));  // released
  spec = {{"holderIdentity", "a"}, {"leaseDurationSeconds", 15}};
  EXPECT_TRUE(detail::lease_expired(spec, now));  // never renewed
}

TEST(KubeDetail, LineSplitterHandlesArbitraryCuts) {
  const std::string stream =
      "{\"type\":\"ADDED\"}\n{\"type\":\"MODIFIED\"}\r\n\n{\"type\":\"DELETED\"}\n{\"partial";
  for (std::size_t cut = 1; cut <= stream.size(); ++cut) {
    detail::LineSplitter splitter;
    std::vector<std::string> lines;
    for (std::size_t off = 0; off < stream.size(); off += cut) {
      ASSERT_TRUE(splitter.feed(std::string_view(stream).substr(off, cut), [&](std::string_view l) {
        lines.emplace_back(l);
        return true;
      }));
    }
    ASSERT_EQ(lines.size(), 3u) << "cut " << cut;
    EXPECT_EQ(lines[0], "{\"type\":\"ADDED\"}");
    EXPECT_EQ(lines[1], "{\"type\":\"MODIFIED\"}");
    EXPECT_EQ(lines[2], "{\"type\":\"DELETED\"}");
    EXPECT_EQ(splitter.pending(), "{\"partial");
  }
}

TEST(KubeDetail, LineSplitterStopsAndBoundsLines) {
  detail::LineSplitter splitter(8);
  int seen = 0;
  EXPECT_FALSE(splitter.feed("a\nb\nc\n", [&](std::string_view) { return ++seen < 2; }));
  EXPECT_EQ(seen, 2);
  detail::LineSplitter small(8);
  EXPECT_THROW(small.feed("0123456789", [](std::string_view) { return true; }), std::length_error);
}

}  // namespace
}  // namespace imapprobe::kube
