// ipFamily Both: one session per address family, one verdict that names
// the family that failed.
#include "probe/families.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>

#include "imap/sasl.hpp"
#include "support/scripted_transport.hpp"

namespace imapprobe::probe {
namespace {

using testing::BorrowedTransport;
using testing::run_awaitable;
using testing::ScriptedTransport;
using namespace std::chrono_literals;

net::Endpoint endpoint(const char* address, std::uint16_t port = 993) {
  return net::Endpoint(boost::asio::ip::make_address(address), port);
}

// Resolves to fixed addresses; each family gets its own scripted server,
// or a refused connection when it has none.
class TwoStackConnector final : public Connector {
 public:
  TwoStackConnector(std::vector<net::Endpoint> addresses, ScriptedTransport* v4,
                    ScriptedTransport* v6)
      : addresses_(std::move(addresses)), v4_(v4), v6_(v6) {}

  boost::asio::awaitable<std::vector<net::Endpoint>> resolve(std::string, std::uint16_t,
                                                             IpFamily family,
                                                             net::Clock::time_point) override {
    asked_family = family;
    co_return addresses_;
  }
  boost::asio::awaitable<Connection> connect(std::vector<net::Endpoint> endpoints,
                                             net::Clock::time_point) override {
    for (const auto& e : endpoints) {
      if (e.address().is_v4() != endpoints.front().address().is_v4()) {
        throw std::logic_error("a family's session was given both families");
      }
    }
    ScriptedTransport* t = endpoints.front().address().is_v4() ? v4_ : v6_;
    if (t == nullptr) throw net::IoError(net::IoFailure::Refused, "refused");
    Connection c;
    c.transport = std::make_unique<BorrowedTransport>(*t);
    c.remote = endpoints.front();
    co_return c;
  }

  std::optional<IpFamily> asked_family;

 private:
  std::vector<net::Endpoint> addresses_;
  ScriptedTransport* v4_;
  ScriptedTransport* v6_;
};

void script_ok(ScriptedTransport& t) {
  t.tls()
      .server("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n")
      .client("A0001 AUTHENTICATE PLAIN " + imap::base64_encode(imap::sasl_plain("probe", "pw")) +
              "\r\n")
      .server("A0001 OK logged in\r\n")
      .client("A0002 EXAMINE \"INBOX\"\r\n")
      .server("* 1 EXISTS\r\nA0002 OK done\r\n")
      .client("A0003 LOGOUT\r\n")
      .server("* BYE\r\nA0003 OK done\r\n");
}

ProbeSpec both_spec() {
  ProbeSpec spec;
  spec.host = "mail.example.test";
  spec.ip_family = IpFamily::Both;
  spec.timeout = 30s;
  spec.step_timeout = 10s;
  // The scripted handshake shows no certificate: no expiry window to judge.
  spec.cert_warn_before = Duration::zero();
  spec.cert_fail_before = Duration::zero();
  return spec;
}

const Credentials kCreds{"probe", "pw"};

TEST(Families, EachFamilyGetsItsOwnSessionAndBothAreReported) {
  ScriptedTransport v4, v6;
  script_ok(v4);
  script_ok(v6);
  TwoStackConnector connector({endpoint("2001:db8::1"), endpoint("192.0.2.1")}, &v4, &v6);
  const ProbeResult r =
      run_awaitable(run_each_family(both_spec(), kCreds, connector, imap::Limits{}));
  EXPECT_EQ(r.outcome, Outcome::Success) << r.message;
  EXPECT_EQ(connector.asked_family, IpFamily::Any);
  EXPECT_TRUE(v4.finished());
  EXPECT_TRUE(v6.finished());
  ASSERT_EQ(r.families.size(), 2u);
  // IPv4 first, whatever the resolver's order.
  EXPECT_EQ(r.families[0].family, "IPv4");
  EXPECT_EQ(r.families[0].remote_address, "192.0.2.1:993");
  EXPECT_EQ(r.families[1].family, "IPv6");
  EXPECT_EQ(r.families[1].remote_address, "[2001:db8::1]:993");
  EXPECT_EQ(r.message, "logged in, 1 messages in INBOX (IPv4 and IPv6)");
  EXPECT_TRUE(r.durations.contains(Step::Dns));
}

TEST(Families, ABrokenFamilyFailsTheRunNamingIt) {
  ScriptedTransport v4;
  script_ok(v4);
  TwoStackConnector connector({endpoint("192.0.2.1"), endpoint("2001:db8::1")}, &v4, nullptr);
  const ProbeResult r =
      run_awaitable(run_each_family(both_spec(), kCreds, connector, imap::Limits{}));
  EXPECT_EQ(r.outcome, Outcome::Failure);
  EXPECT_EQ(r.reason, Reason::ConnectRefused);
  EXPECT_EQ(r.failed_step, Step::Connect);
  EXPECT_EQ(r.message.rfind("IPv6 ([2001:db8::1]:993): connection to ", 0), 0u) << r.message;
  EXPECT_NE(r.message.find("; IPv4 ok"), std::string::npos) << r.message;
  ASSERT_EQ(r.families.size(), 2u);
  EXPECT_EQ(r.families[0].outcome, Outcome::Success);
  EXPECT_EQ(r.families[1].outcome, Outcome::Failure);
  EXPECT_EQ(r.families[1].reason, Reason::ConnectRefused);
  // The failed family's steps are the ones shown, with the one lookup.
  EXPECT_TRUE(r.durations.contains(Step::Dns));
  EXPECT_FALSE(r.durations.contains(Step::Login));
}

TEST(Families, ANameWithOneFamilyIsOneSessionWithoutAPrefix) {
  ScriptedTransport v4;
  script_ok(v4);
  TwoStackConnector connector({endpoint("192.0.2.1")}, &v4, nullptr);
  const ProbeResult r =
      run_awaitable(run_each_family(both_spec(), kCreds, connector, imap::Limits{}));
  EXPECT_EQ(r.outcome, Outcome::Success) << r.message;
  ASSERT_EQ(r.families.size(), 1u);
  EXPECT_EQ(r.message, "logged in, 1 messages in INBOX");
}

TEST(Families, ThresholdsApplyToEachFamily) {
  ScriptedTransport v4, v6;
  script_ok(v4);
  script_ok(v6);
  TwoStackConnector connector({endpoint("192.0.2.1"), endpoint("2001:db8::1")}, &v4, &v6);
  ProbeSpec spec = both_spec();
  spec.thresholds.edit().warning[Step::Login] = Duration::zero();  // any login is over it
  const ProbeResult r = run_awaitable(run_each_family(spec, kCreds, connector, imap::Limits{}));
  EXPECT_EQ(r.outcome, Outcome::Degraded) << r.message;
  EXPECT_EQ(r.reason, Reason::SlowResponse);
  ASSERT_EQ(r.families.size(), 2u);
  EXPECT_EQ(r.families[0].outcome, Outcome::Degraded);
  EXPECT_EQ(r.families[1].outcome, Outcome::Degraded);
}

TEST(Families, AFailedLookupIsDNSFailed) {
  class Failing final : public Connector {
    boost::asio::awaitable<std::vector<net::Endpoint>> resolve(std::string, std::uint16_t, IpFamily,
                                                               net::Clock::time_point) override {
      throw net::IoError(net::IoFailure::Other, "Host not found");
      co_return std::vector<net::Endpoint>{};
    }
    boost::asio::awaitable<Connection> connect(std::vector<net::Endpoint>,
                                               net::Clock::time_point) override {
      throw std::logic_error("not reached");
      co_return Connection{};
    }
  } connector;
  const ProbeResult r =
      run_awaitable(run_each_family(both_spec(), kCreds, connector, imap::Limits{}));
  EXPECT_EQ(r.reason, Reason::DNSFailed);
  EXPECT_EQ(r.failed_step, Step::Dns);
  EXPECT_EQ(r.message, "cannot resolve mail.example.test: Host not found");
}

}  // namespace
}  // namespace imapprobe::probe
