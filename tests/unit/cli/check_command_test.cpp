#include "cli/check_command.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "probe/prober.hpp"

namespace imapprobe::cli {
namespace {
using namespace std::chrono_literals;

struct Captured {
  probe::ProbeSpec spec;
  probe::Credentials creds;
  int calls = 0;
};

probe::ProbeResult success_result() {
  probe::ProbeResult r;
  r.outcome = probe::Outcome::Success;
  r.reason = probe::Reason::Succeeded;
  r.message = "logged in, 10 messages in INBOX";
  r.durations[probe::Step::Connect] = 1ms;
  r.durations[probe::Step::Login] = 12ms;
  r.total = 20ms;
  probe::CertificateInfo c;
  c.days_remaining = 100.04;
  c.verified = true;
  r.certificate = c;
  return r;
}

int run(std::vector<std::string> args, Captured& cap, std::string& out, std::string& err,
        probe::ProbeResult result = success_result()) {
  args.insert(args.begin(), "check");
  std::ostringstream o, e;
  auto env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "IMAP_PASSWORD") return "from-env";
    return std::nullopt;
  };
  auto runner = [&](const probe::ProbeSpec& s, const probe::Credentials& c) {
    cap.spec = s;
    cap.creds = c;
    ++cap.calls;
    return result;
  };
  const int code = run_check(args, o, e, env, runner);
  out = o.str();
  err = e.str();
  return code;
}

TEST(CheckCommand, MapsFlagsToTheSpec) {
  Captured cap;
  std::string out, err;
  const int code = run({"-H",
                        "mail.example.org",
                        "--tls",
                        "starttls",
                        "-m",
                        "ScramSHA256",
                        "-u",
                        "monitor",
                        "--password-env",
                        "IMAP_PASSWORD",
                        "--mailbox",
                        "Archive",
                        "--search",
                        "UNSEEN",
                        "--fetch",
                        "3",
                        "-w",
                        "login=2s",
                        "-c",
                        "total=10s",
                        "--timeout",
                        "1m"},
                       cap, out, err);
  EXPECT_EQ(code, 0) << err;
  ASSERT_EQ(cap.calls, 1);
  EXPECT_EQ(cap.spec.host, "mail.example.org");
  EXPECT_EQ(cap.spec.tls, probe::TlsMode::StartTls);
  EXPECT_EQ(cap.spec.effective_port(), 143);
  EXPECT_EQ(cap.spec.mechanism, probe::Mechanism::ScramSHA256);
  EXPECT_EQ(cap.creds.username, "monitor");
  EXPECT_EQ(cap.creds.secret, "from-env");
  EXPECT_EQ(cap.spec.mailbox, "Archive");
  EXPECT_EQ(cap.spec.search, "UNSEEN");
  EXPECT_EQ(cap.spec.fetch_latest, 3u);
  EXPECT_EQ(cap.spec.thresholds->warning.at(probe::Step::Login), 2s);
  EXPECT_EQ(cap.spec.thresholds->total_critical, 10s);
  EXPECT_EQ(cap.spec.timeout, 60s);
}

TEST(CheckCommand, NagiosOutputHasOneStatusLineAndPerfdata) {
  Captured cap;
  std::string out, err;
  ASSERT_EQ(run({"-H", "h", "-u", "u", "--password", "p", "-w", "login=50ms", "-c", "login=1s"},
                cap, out, err),
            0);
  EXPECT_EQ(out,
            "IMAP OK - logged in, 10 messages in INBOX, total 0.020s, certificate 100.0 days left "
            "| connect=0.001s;;;0; login=0.012s;0.050;1.000;0; total=0.020s;;;0; "
            "cert_days=100.0;14.0:;3.0:;;\n");
}

// At three decimals a 1.0004ms login over a 1ms threshold printed as
// login=0.001s;0.001, and a 250us threshold as 0.000: a value over its
// threshold must print over it, and a threshold as configured.
TEST(CheckCommand, PerfdataShowsAnExceededThresholdAsExceeded) {
  Captured cap;
  std::string out, err;
  probe::ProbeResult r = success_result();
  r.outcome = probe::Outcome::Degraded;
  r.reason = probe::Reason::SlowResponse;
  r.message = "login took 1.0004ms (threshold 1ms)";
  r.durations[probe::Step::Connect] = 300us;
  r.durations[probe::Step::Login] = 1'000'400ns;
  r.total = 2'000'300us;
  r.certificate.reset();
  ASSERT_EQ(run({"-H", "h", "-u", "u", "--password", "p", "-w", "login=1ms", "-c", "login=2ms",
                 "-c", "connect=250us", "-w", "total=2s"},
                cap, out, err, r),
            1)
      << err;
  EXPECT_EQ(out,
            "IMAP WARNING - SlowResponse: login took 1.0004ms (threshold 1ms), total 2.0003s "
            "| connect=0.0003s;;0.00025;0; login=0.0010004s;0.001;0.002;0; "
            "total=2.0003s;2.000;;0;\n");
  ASSERT_EQ(run({"-H", "h", "-u", "u", "--password", "p", "-w", "login=1ms", "-o", "text"}, cap,
                out, err, r),
            1);
  EXPECT_NE(out.find("login            0.0010004"), std::string::npos) << out;
}

TEST(CheckCommand, FailureIsCriticalAndNamesReasonAndStep) {
  Captured cap;
  std::string out, err;
  probe::ProbeResult failed = success_result();
  failed.outcome = probe::Outcome::Failure;
  failed.reason = probe::Reason::AuthFailed;
  failed.message = "login as u failed: [AUTHENTICATIONFAILED] Authentication failed.";
  failed.failed_step = probe::Step::Login;
  EXPECT_EQ(run({"-H", "h", "-u", "u", "--password", "p"}, cap, out, err, failed), 2);
  EXPECT_EQ(out.rfind("IMAP CRITICAL - AuthFailed: login as u failed", 0), 0u) << out;
  EXPECT_NE(out.find("(step login)"), std::string::npos);
}

TEST(CheckCommand, DegradedIsWarning) {
  Captured cap;
  std::string out, err;
  probe::ProbeResult degraded = success_result();
  degraded.outcome = probe::Outcome::Degraded;
  degraded.reason = probe::Reason::SlowResponse;
  EXPECT_EQ(run({"-H", "h", "-u", "u", "--password", "p"}, cap, out, err, degraded), 1);
}

TEST(CheckCommand, JsonOutputIsParseable) {
  Captured cap;
  std::string out, err;
  ASSERT_EQ(run({"-H", "h", "-u", "u", "--password", "p", "-o", "json"}, cap, out, err), 0);
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["outcome"], "Success");
  EXPECT_EQ(j["durations"]["login"], 0.012);
  EXPECT_EQ(j["exitCode"], 0);
  EXPECT_EQ(out.find("\"p\""), std::string::npos);
}

TEST(CheckCommand, TextOutputIsATable) {
  Captured cap;
  std::string out, err;
  ASSERT_EQ(run({"-H", "h", "-u", "u", "--password", "p", "-o", "text"}, cap, out, err), 0);
  EXPECT_NE(out.find("login                0.012"), std::string::npos) << out;
}

probe::ProbeResult two_family_result() {
  probe::ProbeResult r = success_result();
  r.outcome = probe::Outcome::Failure;
  r.reason = probe::Reason::ConnectRefused;
  r.failed_step = probe::Step::Connect;
  r.message = "IPv6 ([2001:db8::1]:993): connection to h:993 refused; IPv4 ok";
  r.families.push_back({"IPv4", "192.0.2.1:993", probe::Outcome::Success, probe::Reason::Succeeded,
                        "logged in", std::nullopt, 20ms});
  r.families.push_back({"IPv6", "[2001:db8::1]:993", probe::Outcome::Failure,
                        probe::Reason::ConnectRefused, "refused", probe::Step::Connect, 1ms});
  return r;
}

TEST(CheckCommand, IpFamilyBothReportsEachFamilyInEveryFormat) {
  Captured cap;
  std::string out, err;
  const std::vector<std::string> base{"-H",         "h", "-u",          "u",
                                      "--password", "p", "--ip-family", "Both"};
  auto with = [&](std::string format) {
    auto args = base;
    args.push_back("-o");
    args.push_back(std::move(format));
    return args;
  };
  EXPECT_EQ(run(with("nagios"), cap, out, err, two_family_result()), 2);
  EXPECT_EQ(cap.spec.ip_family, probe::IpFamily::Both);
  EXPECT_NE(out.find("CRITICAL - ConnectRefused: IPv6 ([2001:db8::1]:993): "), std::string::npos)
      << out;
  EXPECT_NE(out.find(" ipv4_total=0.020s;;;0; ipv6_total=0.001s;;;0;"), std::string::npos) << out;

  run(with("text"), cap, out, err, two_family_result());
  EXPECT_NE(out.find("IPv6    [2001:db8::1]:993"), std::string::npos) << out;
  EXPECT_NE(out.find("Failure (ConnectRefused)"), std::string::npos) << out;

  run(with("json"), cap, out, err, two_family_result());
  const auto j = nlohmann::json::parse(out);
  ASSERT_EQ(j["families"].size(), 2u);
  EXPECT_EQ(j["families"][1]["family"], "IPv6");
  EXPECT_EQ(j["families"][1]["reason"], "ConnectRefused");
  EXPECT_EQ(j["families"][1]["failedStep"], "connect");
  EXPECT_EQ(j["families"][0]["remoteAddress"], "192.0.2.1:993");
}

TEST(CheckCommand, UsageErrorsAreUnknownWithAClearMessage) {
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const Case cases[] = {
      {{"-u", "u", "--password", "p"}, "--host"},
      {{"-H", "h", "--tls", "SSL", "-u", "u", "--password", "p"}, "invalid tls mode \"SSL\""},
      {{"-H", "h", "-u", "u", "--password", "p", "--timeout", "30"}, "invalid duration \"30\""},
      {{"-H", "h", "-u", "u"}, "a password or token is required"},
      {{"-H", "h", "-u", "u", "--password-env", "NOPE"}, "NOPE is not set"},
      {{"-H", "h", "-u", "u", "--password", "p", "-w", "lgin=1s"}, "unknown step \"lgin\""},
      {{"-H", "h", "-u", "u", "--password", "p", "-p", "70000"}, "port"},
      {{"-H", "h", "-u", "u", "--password", "p", "-o", "xml"}, "output"},
      {{"-H", "h", "-u", "u", "--password", "p", "--mailbox", "a\r\nb"}, "mailbox"},
      {{"-H", "h", "-u", "u", "--password-file", "/nonexistent/pw"}, "cannot read password file"},
  };
  for (const auto& c : cases) {
    Captured cap;
    std::string out, err;
    EXPECT_EQ(run(c.args, cap, out, err), 3) << c.expect;
    EXPECT_NE(err.find(c.expect), std::string::npos)
        << "expected \"" << c.expect << "\" in: " << err;
    EXPECT_EQ(cap.calls, 0);
  }
}

TEST(CheckCommand, NoCredentialsNeededForMechanismNone) {
  Captured cap;
  std::string out, err;
  EXPECT_EQ(run({"-H", "h", "-m", "None"}, cap, out, err), 0) << err;
}

// Without a login the engine skips the mailbox steps: an OK would vouch for
// a search, fetch or round trip that never ran.
TEST(CheckCommand, MailboxStepsWithMechanismNoneAreAUsageError) {
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"-H", "h", "-m", "None", "--round-trip"},
       "imapprobe check: --round-trip needs a logged-in session (auth mechanism is None)\n"},
      {{"-H", "h", "-m", "None", "--search", "ALL"},
       "imapprobe check: --search needs a logged-in session (auth mechanism is None)\n"},
      {{"-H", "h", "-m", "None", "--fetch", "3"},
       "imapprobe check: --fetch needs a logged-in session (auth mechanism is None)\n"},
      {{"-H", "h", "-m", "none", "--search", "ALL", "--round-trip"},
       "imapprobe check: --search needs a logged-in session (auth mechanism is None)\n"
       "imapprobe check: --round-trip needs a logged-in session (auth mechanism is None)\n"},
  };
  for (const auto& [args, expect] : cases) {
    Captured cap;
    std::string out, err;
    EXPECT_EQ(run(args, cap, out, err), 3) << expect;
    EXPECT_EQ(err, expect);
    EXPECT_EQ(out, "");
    EXPECT_EQ(cap.calls, 0);
  }
  // With a login they run; without them None is fine (see above).
  Captured cap;
  std::string out, err;
  EXPECT_EQ(run({"-H", "h", "-u", "u", "--password", "p", "--round-trip", "--search", "ALL",
                 "--fetch", "3"},
                cap, out, err),
            0)
      << err;
  EXPECT_EQ(run({"-H", "h", "-m", "None", "--fetch", "0", "--search", ""}, cap, out, err), 0)
      << err;
}

// A bug in imapprobe says nothing about the server: UNKNOWN, never CRITICAL.
TEST(CheckCommand, InternalErrorIsUnknownNotCritical) {
  Captured cap;
  std::string out, err;
  const probe::ProbeResult r = probe::internal_error_result(
      std::make_exception_ptr(std::logic_error("session state corrupt")));
  EXPECT_EQ(r.reason, probe::Reason::InternalError);
  const int code = run({"-H", "mail.example.org", "-u", "probe", "--password-env", "IMAP_PASSWORD"},
                       cap, out, err, r);
  EXPECT_EQ(code, 3) << out;
  EXPECT_NE(out.find("UNKNOWN"), std::string::npos) << out;
  EXPECT_NE(out.find("InternalError"), std::string::npos) << out;
  EXPECT_NE(out.find("session state corrupt"), std::string::npos) << out;
}

}  // namespace
}  // namespace imapprobe::cli

namespace imapprobe::cli {
namespace {

TEST(CheckCommandOAuth2, TokenFlagsBecomeTheOAuth2SpecAndCredentials) {
  Captured cap;
  std::string out, err;
  const int code = run(
      {"-H", "outlook.office365.com", "-m", "XOAuth2", "-u", "monitor@example.org",
       "--oauth2-token-url", "https://login.example.org/t/oauth2/v2.0/token", "--oauth2-client-id",
       "app-1", "--oauth2-scope", "https://outlook.office365.com/.default",
       "--oauth2-client-secret-env", "IMAP_PASSWORD", "--oauth2-client-auth", "Post"},
      cap, out, err);
  ASSERT_EQ(code, 0) << err;
  ASSERT_TRUE(cap.spec.oauth2);
  EXPECT_EQ(cap.spec.oauth2->token_url, "https://login.example.org/t/oauth2/v2.0/token");
  EXPECT_EQ(cap.spec.oauth2->client_id, "app-1");
  EXPECT_EQ(cap.spec.oauth2->client_auth, oauth::ClientAuth::Post);
  EXPECT_EQ(cap.spec.oauth2->grant, oauth::Grant::ClientCredentials);
  EXPECT_EQ(cap.spec.oauth2->scopes,
            std::vector<std::string>{"https://outlook.office365.com/.default"});
  EXPECT_EQ(cap.creds.extra->oauth_client_secret, "from-env");
  EXPECT_EQ(cap.creds.secret, "");
}

TEST(CheckCommandOAuth2, RefusesWhatCannotWorkBeforeRunning) {
  const std::vector<std::string> base = {"-H", "imap.example.org",   "-m", "XOAuth2", "-u",
                                         "u",  "--oauth2-client-id", "c"};
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--oauth2-token-url", "http://login.example.org/token", "--oauth2-client-secret-env",
        "IMAP_PASSWORD"},
       "not https"},
      {{"--oauth2-token-url", "https://login.example.org/token"}, "needs --oauth2-client-secret"},
      {{"--oauth2-token-url", "https://login.example.org/token", "--oauth2-grant", "RefreshToken"},
       "needs --oauth2-refresh-token"},
      {{"--oauth2-token-url", "https://login.example.org/token", "--oauth2-client-auth",
        "PrivateKeyJwt"},
       "--oauth2-client-cert"},
      {{"--oauth2-token-url", "https://login.example.org/token", "--oauth2-client-secret-env",
        "IMAP_PASSWORD", "--password-env", "IMAP_PASSWORD"},
       "give no --password"},
  };
  for (const auto& [extra, want] : cases) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    Captured cap;
    std::string out, err;
    EXPECT_EQ(run(args, cap, out, err), 3) << want;
    EXPECT_NE(err.find(want), std::string::npos) << err;
    EXPECT_EQ(cap.calls, 0);
  }
  // OAuth 2.0 settings with a mechanism that sends no token.
  Captured cap;
  std::string out, err;
  EXPECT_EQ(run({"-H", "imap.example.org", "-m", "Plain", "-u", "u", "--oauth2-client-id", "c",
                 "--oauth2-token-url", "https://login.example.org/token",
                 "--oauth2-client-secret-env", "IMAP_PASSWORD"},
                cap, out, err),
            3);
  EXPECT_NE(err.find("--oauth2-token-url needs auth mechanism XOAuth2 or OAuthBearer"),
            std::string::npos)
      << err;
}

}  // namespace
}  // namespace imapprobe::cli
