#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/dovecot.hpp"  // run_command
#include "telemetry/http_server.hpp"
#include "telemetry/logging.hpp"

namespace imapprobe::telemetry {
namespace {

TEST(Logging, JsonLinesStayValidWhateverTheMessageHolds) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  auto logger = setup_logging("json", "info", sink);
  spdlog::warn("cannot read Secret mail/creds: secrets \"creds\" is forbidden\\ \x01 end");
  spdlog::debug("not shown at info");
  logger->flush();
  std::istringstream lines(out.str());
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["level"], "warning");
    EXPECT_EQ(j["msg"], "cannot read Secret mail/creds: secrets \"creds\" is forbidden\\ \x01 end");
    EXPECT_TRUE(j.contains("time"));
    ++n;
  }
  EXPECT_EQ(n, 1);
}

// Every line the sink received, in order.
std::vector<std::string> lines_of(const std::ostringstream& out) {
  std::istringstream in(out.str());
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class StructuredLogging : public ::testing::Test {
 protected:
  // A logger for `format` writing into out_; spdlog's default logger is
  // restored afterwards so other tests keep theirs.
  void use(const std::string& format, const std::string& level = "debug") {
    logger_ = setup_logging(format, level, std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
  }
  std::vector<std::string> lines() {
    logger_->flush();
    return lines_of(out_);
  }
  void TearDown() override { spdlog::set_default_logger(previous_); }

  std::shared_ptr<spdlog::logger> previous_ = spdlog::default_logger();
  std::shared_ptr<spdlog::logger> logger_;
  std::ostringstream out_;
};

TEST_F(StructuredLogging, JsonLineCarriesEachFieldSeparately) {
  use("json");
  info({.namespace_ = "mail",
        .name = "corp",
        .reason = "LoginFailed",
        .step = "login",
        .server = "imap.example.com:993",
        .location = "eu-west"},
       "{} {} in {}", "Failure", "LoginFailed", "12.0ms");
  const auto out = lines();
  ASSERT_EQ(out.size(), 1u);
  const auto j = nlohmann::json::parse(out[0]);
  EXPECT_EQ(j["level"], "info");
  EXPECT_TRUE(j.contains("time"));
  EXPECT_EQ(j["msg"], "Failure LoginFailed in 12.0ms");
  EXPECT_EQ(j["namespace"], "mail");
  EXPECT_EQ(j["name"], "corp");
  EXPECT_EQ(j["reason"], "LoginFailed");
  EXPECT_EQ(j["step"], "login");
  EXPECT_EQ(j["server"], "imap.example.com:993");
  EXPECT_EQ(j["location"], "eu-west");
  EXPECT_EQ(j.size(), 9u) << out[0];
}

TEST_F(StructuredLogging, EmptyFieldsAreLeftOut) {
  use("json");
  warn({.namespace_ = "mail", .name = "corp"}, "deleted, schedule stopped");
  const auto j = nlohmann::json::parse(lines().at(0));
  EXPECT_EQ(j["level"], "warning");
  EXPECT_EQ(j["msg"], "deleted, schedule stopped");
  EXPECT_EQ(j["namespace"], "mail");
  EXPECT_EQ(j["name"], "corp");
  EXPECT_FALSE(j.contains("reason"));
  EXPECT_FALSE(j.contains("step"));
  EXPECT_FALSE(j.contains("server"));
  EXPECT_FALSE(j.contains("location"));
}

TEST_F(StructuredLogging, EachLevelAndTheLevelThreshold) {
  use("json", "info");
  const LogFields f{.namespace_ = "mail", .name = "corp"};
  debug(f, "hidden {}", 1);
  info(f, "i");
  warn(f, "w");
  error(f, "e {}", 2);
  log(spdlog::level::critical, f, std::string("c"));
  const auto out = lines();
  ASSERT_EQ(out.size(), 4u);
  const char* levels[] = {"info", "warning", "error", "critical"};
  const char* msgs[] = {"i", "w", "e 2", "c"};
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto j = nlohmann::json::parse(out[i]);
    EXPECT_EQ(j["level"], levels[i]);
    EXPECT_EQ(j["msg"], msgs[i]);
    EXPECT_EQ(j["name"], "corp");
  }
}

TEST_F(StructuredLogging, JsonStaysValidWhateverMessageAndFieldsHold) {
  use("json");
  // Quotes, backslashes, newlines, control characters and the bytes the
  // payload encoding itself uses, in the message and in every field.
  const std::string nasty = std::string("a \"q\" \\ b\nc\td\re\x01f") + '\x1e' + "g" + '\x1f' +
                            "h" + '\x1d' + "12" + '\x1f' + "i" + '\0' + "j";
  const LogFields f{.namespace_ = nasty,
                    .name = nasty,
                    .reason = nasty,
                    .step = nasty,
                    .server = nasty,
                    .location = nasty};
  error(f, "{}", nasty);
  log(spdlog::level::info, {.name = "x"}, nasty);
  const auto out = lines();
  ASSERT_EQ(out.size(), 2u);
  const auto j = nlohmann::json::parse(out[0]);
  EXPECT_EQ(j["msg"], nasty);
  for (const char* key : {"namespace", "name", "reason", "step", "server", "location"}) {
    EXPECT_EQ(j[key], nasty) << key;
  }
  const auto k = nlohmann::json::parse(out[1]);
  EXPECT_EQ(k["msg"], nasty);
  EXPECT_EQ(k["name"], "x");
}

TEST_F(StructuredLogging, PlainSpdlogCallsStayValidJson) {
  use("json");
  spdlog::info("plain {} \"quoted\" \\ \x02", 1);
  // A plain message that happens to start like a structured payload.
  spdlog::info(
      "\x1e"
      "3\x1f"
      "abc");
  spdlog::info(
      "\x1e"
      "99\x1f"
      "short");
  const auto out = lines();
  ASSERT_EQ(out.size(), 3u);
  const auto j = nlohmann::json::parse(out[0]);
  EXPECT_EQ(j["msg"], "plain 1 \"quoted\" \\ \x02");
  EXPECT_FALSE(j.contains("namespace"));
  EXPECT_FALSE(j.contains("name"));
  EXPECT_EQ(j.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(out[1])["msg"],
            "\x1e"
            "3\x1f"
            "abc");
  EXPECT_EQ(nlohmann::json::parse(out[2])["msg"],
            "\x1e"
            "99\x1f"
            "short");
}

TEST_F(StructuredLogging, TextShowsFieldsReadablyWithoutMarkerBytes) {
  use("text");
  info({.namespace_ = "mail", .name = "corp", .reason = "LoginFailed", .step = "login"},
       "Failure LoginFailed in {}", "12.0ms");
  warn({.namespace_ = "mail", .name = "corp", .server = "imap.example.com:993"}, "cannot run: {}",
       "secret \"creds\" not found");
  info({.reason = "two words"}, "no probe");
  info({.namespace_ = "mail"}, "namespace only");
  spdlog::info("plain line");
  const auto out = lines();
  ASSERT_EQ(out.size(), 5u);
  for (const auto& line : out) {
    EXPECT_EQ(line.find_first_of("\x1d\x1e\x1f"), std::string::npos) << line;
    EXPECT_TRUE(line.size() > 25 && line[4] == '-' && line[23] == 'Z') << line;
  }
  EXPECT_EQ(out[0].substr(25),
            "info  probe mail/corp: Failure LoginFailed in 12.0ms reason=LoginFailed step=login");
  EXPECT_EQ(out[1].substr(25),
            "warning probe mail/corp: cannot run: secret \"creds\" not found "
            "server=imap.example.com:993");
  EXPECT_EQ(out[2].substr(25), "info  no probe reason=\"two words\"");
  EXPECT_EQ(out[3].substr(25), "info  namespace only namespace=mail");
  EXPECT_EQ(out[4].substr(25), "info  plain line");
}

TEST(HttpServer, ServesRoutesAnd404) {
  boost::asio::io_context io;
  HttpServer server(io, "127.0.0.1:0",
                    {{"/healthz",
                      [] {
                        return HttpResponse{200, "text/plain", "ok\n"};
                      }},
                     {"/readyz", [] {
                        return HttpResponse{503, "text/plain", "not yet\n"};
                      }}});
  std::thread t([&] { io.run(); });
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  std::string out;
  EXPECT_EQ(
      testing::run_command("curl -s -o /dev/null -w '%{http_code}' " + base + "/healthz", out), 0);
  EXPECT_EQ(out, "200");
  testing::run_command("curl -s -o /dev/null -w '%{http_code}' " + base + "/readyz", out);
  EXPECT_EQ(out, "503");
  testing::run_command("curl -s -o /dev/null -w '%{http_code}' " + base + "/nope", out);
  EXPECT_EQ(out, "404");
  testing::run_command("curl -s -o /dev/null -w '%{http_code}' -X POST " + base + "/healthz", out);
  EXPECT_EQ(out, "405");
  server.stop();
  io.stop();
  t.join();
}

TEST(HttpServer, ABodyWrittenPartByPartArrivesWholeAndACutOneIsSeenAsCut) {
  boost::asio::io_context io;
  auto parts = [](int fail_at) {
    return [fail_at] {
      HttpResponse r{200, "text/plain", ""};
      auto n = std::make_shared<int>(0);
      r.next_part = [n, fail_at](std::string& out) {
        if (++*n == fail_at) throw std::runtime_error("render failed");
        out += "part " + std::to_string(*n) + "\n";
        if (*n == 2) out.clear();  // an empty part in the middle ends nothing
        return *n < 4;
      };
      return r;
    };
  };
  HttpServer server(io, "127.0.0.1:0", {{"/whole", parts(0)}, {"/cut", parts(3)}});
  std::thread t([&] { io.run(); });
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  std::string out;
  EXPECT_EQ(testing::run_command("curl -sS " + base + "/whole", out), 0);
  EXPECT_EQ(out, "part 1\npart 3\npart 4\n");
  testing::run_command("curl -sS -D - -o /dev/null " + base + "/whole", out);
  EXPECT_NE(out.find("Transfer-Encoding: chunked"), std::string::npos) << out;
  // HEAD: the head only, nothing rendered or sent after it (read raw: a
  // client would skip a stray chunk after a HEAD's head).
  EXPECT_EQ(
      testing::run_command("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(server.port()) +
                               "; printf \"HEAD /whole HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n\" >&3; "
                               "timeout 5 cat <&3'",
                           out),
      0)
      << out;
  EXPECT_EQ(out.find("\r\n\r\n"), out.size() - 4) << out;
  // A render that fails half way is an incomplete transfer, never a short page.
  EXPECT_NE(testing::run_command("curl -sS " + base + "/cut 2>&1", out), 0) << out;
  server.stop();
  io.stop();
  t.join();
}

TEST(HttpServer, BadAddressIsAClearError) {
  boost::asio::io_context io;
  try {
    HttpServer server(io, "localhost:8080", {});
    FAIL() << "accepted a host name";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not an IP address"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace imapprobe::telemetry
