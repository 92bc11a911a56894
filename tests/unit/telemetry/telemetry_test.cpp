#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

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
