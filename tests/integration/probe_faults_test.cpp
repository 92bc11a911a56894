// The probe engine against small misbehaving servers: every fault ends in a
// precise reason, promptly, with bounded memory.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "probe/prober.hpp"
#include "support/fake_server.hpp"

namespace imapprobe::probe {
namespace {

using testing::FakeServer;
using testing::Peer;
using namespace std::chrono_literals;

ProbeSpec plain_spec(std::uint16_t port) {
  ProbeSpec spec;
  spec.host = "127.0.0.1";
  spec.port = port;
  spec.tls = TlsMode::None;
  spec.mechanism = Mechanism::Login;
  spec.allow_plaintext = true;
  spec.timeout = 10s;
  spec.step_timeout = 5s;
  return spec;
}

const Credentials kCreds{"probe", "s3cret-never-on-the-wire"};
constexpr const char* kGreeting = "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] fake ready\r\n";

TEST(ProbeFaults, SilentServerIsGreetingTimeoutWithinTheStepTimeout) {
  FakeServer server([](Peer& peer) {
    std::string line;
    peer.read_line(line, 3000);  // never speaks; returns when the client leaves
  });
  ProbeSpec spec = plain_spec(server.port());
  spec.step_timeout = 500ms;
  const auto start = std::chrono::steady_clock::now();
  const ProbeResult r = run_probe(spec, kCreds);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.reason, Reason::GreetingTimeout) << r.message;
  EXPECT_EQ(r.failed_step, Step::Greeting);
  EXPECT_GE(took, 500ms);
  EXPECT_LT(took, 800ms) << "the greeting timeout was not honoured promptly";
}

TEST(ProbeFaults, ServerHangingAfterLoginIsTimeoutAtThatStep) {
  FakeServer server([](Peer& peer) {
    peer.send(kGreeting);
    std::string line;
    if (!peer.read_line(line)) return;
    peer.send(line.substr(0, line.find(' ')) + " OK logged in\r\n");
    if (!peer.read_line(line)) return;  // the EXAMINE, never answered
    peer.read_line(line, 3000);
  });
  ProbeSpec spec = plain_spec(server.port());
  spec.step_timeout = 400ms;
  const ProbeResult r = run_probe(spec, kCreds);
  EXPECT_EQ(r.reason, Reason::CommandTimeout) << r.message;
  EXPECT_EQ(r.failed_step, Step::Select);
  EXPECT_NE(r.message.find("no reply to EXAMINE \"INBOX\" within"), std::string::npos) << r.message;
}

TEST(ProbeFaults, ServerSilentAfterLoginCommandIsLoginTimeoutNamingLogin) {
  FakeServer server([](Peer& peer) {
    peer.send(kGreeting);
    std::string line;
    if (!peer.read_line(line)) return;  // the LOGIN, never answered
    peer.read_line(line, 3000);
  });
  ProbeSpec spec = plain_spec(server.port());
  spec.step_timeout = 300ms;
  const ProbeResult r = run_probe(spec, kCreds);
  EXPECT_EQ(r.reason, Reason::LoginTimeout) << r.message;
  EXPECT_EQ(r.failed_step, Step::Login);
  EXPECT_NE(r.message.find("no reply to LOGIN within"), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find(kCreds.secret), std::string::npos);
}

TEST(ProbeFaults, OverallDeadlineCutsASlowSession) {
  FakeServer server([](Peer& peer) {
    std::this_thread::sleep_for(300ms);
    peer.send(kGreeting);
    std::string line;
    peer.read_line(line, 3000);
  });
  ProbeSpec spec = plain_spec(server.port());
  spec.timeout = 200ms;
  spec.step_timeout = 5s;
  const auto start = std::chrono::steady_clock::now();
  const ProbeResult r = run_probe(spec, kCreds);
  EXPECT_EQ(r.reason, Reason::GreetingTimeout) << r.message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
}

TEST(ProbeFaults, DropDuringLoginIsConnectionClosed) {
  FakeServer server([](Peer& peer) {
    peer.send(kGreeting);
    std::string line;
    peer.read_line(line);
  });
  const ProbeResult r = run_probe(plain_spec(server.port()), kCreds);
  EXPECT_EQ(r.reason, Reason::ConnectionClosed) << r.message;
  EXPECT_EQ(r.failed_step, Step::Login);
}

TEST(ProbeFaults, GarbageAfterTheGreetingIsProtocolError) {
  FakeServer server([](Peer& peer) {
    peer.send(kGreeting);
    std::string line;
    if (!peer.read_line(line)) return;
    peer.send(std::string("\x01garbage\x00\xff\r\n", 12));
    peer.read_line(line, 2000);
  });
  const ProbeResult r = run_probe(plain_spec(server.port()), kCreds);
  EXPECT_EQ(r.reason, Reason::ProtocolError) << r.message;
  EXPECT_EQ(r.failed_step, Step::Login);
}

// What answers on a wrong port or with the wrong TLS mode is named, with the fix.
struct ForeignCase {
  const char* name;
  std::string first_bytes;
  Reason reason;
  const char* says;
};

class ProbeForeignGreeting : public ::testing::TestWithParam<ForeignCase> {};

TEST_P(ProbeForeignGreeting, SaysWhatAnsweredInsteadOfAGreeting) {
  const ForeignCase& c = GetParam();
  FakeServer server([&c](Peer& peer) {
    peer.send(c.first_bytes);
    std::string line;
    peer.read_line(line, 2000);
  });
  const ProbeResult r = run_probe(plain_spec(server.port()), kCreds);
  EXPECT_EQ(r.reason, c.reason) << r.message;
  EXPECT_EQ(r.failed_step, Step::Greeting);
  EXPECT_NE(r.message.find(c.says), std::string::npos) << r.message;
}

INSTANTIATE_TEST_SUITE_P(
    Banners, ProbeForeignGreeting,
    ::testing::Values(
        ForeignCase{"TlsAlert", std::string("\x15\x03\x01\x00\x02\x02\x46", 7),
                    Reason::TLSModeMismatch, "set tls: Implicit"},
        ForeignCase{"Smtp", "220 mx.example.com ESMTP Postfix\r\n", Reason::NotIMAP,
                    "an SMTP (or FTP) banner (\"220 mx.example.com ESMTP Postfix\")"},
        ForeignCase{"Pop3", "+OK Dovecot ready.\r\n", Reason::NotIMAP, "a POP3 greeting"},
        ForeignCase{"Ssh", "SSH-2.0-OpenSSH_9.2\r\n", Reason::NotIMAP, "an SSH banner"},
        ForeignCase{"Binary", std::string("\x00\x01\x02\xfe garbage\r\n", 14), Reason::NotIMAP,
                    "binary data (bytes 00 01 02 fe"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ProbeFaults, PlainGreetingOnAnImplicitTlsProbeIsTLSModeMismatch) {
  FakeServer server([](Peer& peer) {
    peer.send(kGreeting);
    std::string line;
    peer.read_line(line, 2000);
  });
  ProbeSpec spec = plain_spec(server.port());
  spec.tls = TlsMode::Implicit;
  const ProbeResult r = run_probe(spec, kCreds);
  EXPECT_EQ(r.reason, Reason::TLSModeMismatch) << r.message;
  EXPECT_EQ(r.failed_step, Step::Tls);
  EXPECT_NE(r.message.find("plain-text IMAP greeting (\"* OK \")"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("set tls: STARTTLS"), std::string::npos) << r.message;
}

// A server that sends no RFC 5530 response codes (bare NO with free text):
// the causes still get their own reasons, established another way.
void serve_without_codes(Peer& peer, bool mailbox_listed) {
  peer.send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] codeless server ready\r\n");
  std::string line;
  while (peer.read_line(line)) {
    const std::string tag = line.substr(0, line.find(' '));
    const std::string rest = line.substr(line.find(' ') + 1);
    if (rest.starts_with("LOGIN \"probe\" \"wrong\"")) {
      peer.send(tag + " NO Login failed.\r\n");
    } else if (rest.starts_with("LOGIN")) {
      peer.send(tag + " OK logged in\r\n");
    } else if (rest.starts_with("EXAMINE")) {
      peer.send(tag + " NO Cannot open that folder.\r\n");
    } else if (rest.starts_with("LIST")) {
      if (mailbox_listed) peer.send("* LIST (\\HasNoChildren) \"/\" \"Archive 2026\"\r\n");
      peer.send(tag + " OK LIST done\r\n");
    } else if (rest.starts_with("LOGOUT")) {
      peer.send("* BYE\r\n" + tag + " OK bye\r\n");
      return;
    } else {
      peer.send(tag + " BAD unknown\r\n");
    }
  }
}

TEST(ProbeFaults, AMissingMailboxWithoutACodeIsStillMailboxNotFound) {
  FakeServer server([](Peer& peer) { serve_without_codes(peer, /*mailbox_listed=*/false); });
  ProbeSpec spec = plain_spec(server.port());
  spec.mailbox = "Archive 2026";
  const ProbeResult r = run_probe(spec, kCreds);
  EXPECT_EQ(r.reason, Reason::MailboxNotFound) << r.message;
  EXPECT_EQ(r.failed_step, Step::Select);
  EXPECT_NE(r.message.find("LIST does not show it"), std::string::npos) << r.message;
}

TEST(ProbeFaults, AnExistingMailboxRefusedWithoutACodeIsSelectFailed) {
  FakeServer server([](Peer& peer) { serve_without_codes(peer, /*mailbox_listed=*/true); });
  ProbeSpec spec = plain_spec(server.port());
  spec.mailbox = "Archive 2026";
  const ProbeResult r = run_probe(spec, kCreds);
  EXPECT_EQ(r.reason, Reason::SelectFailed) << r.message;
  EXPECT_NE(r.message.find("Cannot open that folder."), std::string::npos) << r.message;
}

TEST(ProbeFaults, ARefusedLoginWithoutACodeIsAuthFailed) {
  FakeServer server([](Peer& peer) { serve_without_codes(peer, false); });
  const ProbeResult r = run_probe(plain_spec(server.port()), Credentials{"probe", "wrong"});
  EXPECT_EQ(r.reason, Reason::AuthFailed) << r.message;
  EXPECT_EQ(r.failed_step, Step::Login);
  EXPECT_EQ(r.message, "login as probe failed: Login failed.");
}

TEST(ProbeFaults, EndlessLineIsProtocolErrorNotUnboundedMemory) {
  std::atomic<std::size_t> sent{0};
  FakeServer server([&sent](Peer& peer) {
    const std::string chunk(64 * 1024, 'x');
    peer.send("* OK ");
    // Bounded: 256 MiB at most, or until the client hangs up.
    for (int i = 0; i < 4096 && peer.send(chunk); ++i) sent += chunk.size();
  });
  const ProbeResult r = run_probe(plain_spec(server.port()), kCreds);
  EXPECT_EQ(r.reason, Reason::ProtocolError) << r.message;
  // The client gave up long before the server ran out: it did not wait for
  // the end of the line (kernel socket buffers account for the slack).
  EXPECT_LT(sent.load(), 64u * 1024 * 1024);
}

TEST(ProbeFaults, HugeLiteralIsProtocolError) {
  FakeServer server([](Peer& peer) {
    peer.send(kGreeting);
    std::string line;
    if (!peer.read_line(line)) return;
    const std::string tag = line.substr(0, line.find(' '));
    peer.send(tag + " OK logged in\r\n");
    if (!peer.read_line(line)) return;
    peer.send("* 1 FETCH (BODY[] {4000000000}\r\nxxxx");
    peer.read_line(line, 2000);
  });
  const ProbeResult r = run_probe(plain_spec(server.port()), kCreds);
  EXPECT_EQ(r.reason, Reason::ProtocolError) << r.message;
  EXPECT_EQ(r.failed_step, Step::Select);
}

TEST(ProbeFaults, ByeGreetingIsServerBye) {
  FakeServer server([](Peer& peer) { peer.send("* BYE too many connections\r\n"); });
  const ProbeResult r = run_probe(plain_spec(server.port()), kCreds);
  EXPECT_EQ(r.reason, Reason::ServerBye) << r.message;
  EXPECT_NE(r.message.find("too many connections"), std::string::npos);
}

TEST(ProbeFaults, MissingStartTlsIsSTARTTLSUnavailableAndNothingIsSent) {
  FakeServer server([](Peer& peer) {
    peer.send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] no tls here\r\n");
    std::string line;
    peer.read_line(line, 2000);
  });
  ProbeSpec spec = plain_spec(server.port());
  spec.tls = TlsMode::StartTls;
  spec.allow_plaintext = false;
  const ProbeResult r = run_probe(spec, kCreds);
  EXPECT_EQ(r.reason, Reason::STARTTLSUnavailable) << r.message;
  EXPECT_EQ(server.all_received().find(kCreds.secret), std::string::npos);
}

TEST(ProbeFaults, CredentialsAreNeverSentInClearWithoutPermission) {
  for (Mechanism m : {Mechanism::Login, Mechanism::Plain, Mechanism::CramMD5,
                      Mechanism::ScramSHA256, Mechanism::XOAuth2}) {
    FakeServer server([](Peer& peer) {
      peer.send(
          "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=CRAM-MD5 AUTH=SCRAM-SHA-256 AUTH=XOAUTH2 "
          "SASL-IR] hi\r\n");
      std::string line;
      while (peer.read_line(line, 1000)) {
        peer.send(line.substr(0, line.find(' ')) + " OK whatever\r\n");
      }
    });
    ProbeSpec spec = plain_spec(server.port());
    spec.mechanism = m;
    spec.allow_plaintext = false;
    const ProbeResult r = run_probe(spec, kCreds);
    EXPECT_EQ(r.reason, Reason::PlaintextAuthRefused) << to_string(m) << ": " << r.message;
    // Read everything the server got before judging.
    const std::string wire = server.all_received();
    EXPECT_EQ(wire.find(kCreds.username), std::string::npos) << to_string(m) << ": " << wire;
  }
}

TEST(ProbeFaults, UnofferedMechanismIsAuthMechanismUnavailable) {
  FakeServer server([](Peer& peer) {
    peer.send(kGreeting);
    std::string line;
    peer.read_line(line, 2000);
  });
  ProbeSpec spec = plain_spec(server.port());
  spec.mechanism = Mechanism::ScramSHA256;
  const ProbeResult r = run_probe(spec, kCreds);
  EXPECT_EQ(r.reason, Reason::AuthMechanismUnavailable) << r.message;
  EXPECT_NE(r.message.find("SCRAM-SHA-256"), std::string::npos);
}

TEST(ProbeFaults, ByeInTheMiddleOfASessionIsServerBye) {
  FakeServer server([](Peer& peer) {
    peer.send(kGreeting);
    std::string line;
    if (!peer.read_line(line)) return;
    peer.send("* BYE server shutting down\r\n");
  });
  const ProbeResult r = run_probe(plain_spec(server.port()), kCreds);
  EXPECT_EQ(r.reason, Reason::ServerBye) << r.message;
  EXPECT_EQ(r.failed_step, Step::Login);
}

}  // namespace
}  // namespace imapprobe::probe
