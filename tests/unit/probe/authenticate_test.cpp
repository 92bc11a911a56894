// Logging in over a scripted server: the exact bytes of every dialogue,
// where the client waits for the server's "+", and the verdict and message
// of each refusal, none of which may carry the secret.
#include "probe/authenticate.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "imap/sasl.hpp"
#include "unit/probe/scripted_client.hpp"

namespace imapprobe::probe {
namespace {

using test::Greeted;
using test::step_failure;
using testing::run_awaitable;
using Writes = std::vector<std::string>;

const Credentials kCreds{"probe", "s3cret-pw"};
// base64("\0probe\0s3cret-pw")
constexpr const char* kPlainB64 = "AHByb2JlAHMzY3JldC1wdw==";

void expect_played(const testing::ScriptedTransport& t) {
  EXPECT_EQ(t.mismatch(), "");
  EXPECT_TRUE(t.finished());
}

void expect_no_secret(const std::string& message, const Credentials& creds) {
  EXPECT_EQ(message.find(creds.secret), std::string::npos) << message;
}

// ---- LOGIN ----

TEST(AuthenticateLogin, QuotedStringsEscapeQuoteAndBackslash) {
  Greeted g("IMAP4rev1");
  const Credentials creds{"probe", "pa\"ss\\word"};
  g.t.client("A0001 LOGIN \"probe\" \"pa\\\"ss\\\\word\"\r\n").server("A0001 OK logged in\r\n");
  run_awaitable(authenticate(g.client, Mechanism::Login, creds));
  expect_played(g.t);
  EXPECT_EQ(g.t.writes().size(), 1u);
}

TEST(AuthenticateLogin, AnEightBitPasswordIsASynchronizingLiteralSentAfterThePlus) {
  Greeted g("IMAP4rev1");
  const Credentials creds{"probe",
                          "p\xE4"
                          "ss"};
  // The script has the server's "+" between the two writes: a client that
  // sent the literal without waiting would leave the script.
  g.t.client("A0001 LOGIN \"probe\" {4}\r\n")
      .server("+ Ready for literal data\r\n")
      .client(
          "p\xE4"
          "ss\r\n")
      .server("A0001 OK logged in\r\n");
  run_awaitable(authenticate(g.client, Mechanism::Login, creds));
  expect_played(g.t);
  EXPECT_EQ(g.t.writes(), (Writes{"A0001 LOGIN \"probe\" {4}\r\n",
                                  "p\xE4"
                                  "ss\r\n"}));
}

TEST(AuthenticateLogin, BothArgumentsAsLiteralsEachWaitForAPlus) {
  Greeted g("IMAP4rev1");
  const Credentials creds{"us\xC3\xA9r",
                          "p\xE4"
                          "ss"};
  g.t.client("A0001 LOGIN {5}\r\n")
      .server("+ \r\n")
      .client("us\xC3\xA9r {4}\r\n")
      .server("+\r\n")
      .client(
          "p\xE4"
          "ss\r\n")
      .server("A0001 OK\r\n");
  run_awaitable(authenticate(g.client, Mechanism::Login, creds));
  expect_played(g.t);
  EXPECT_EQ(g.t.writes().size(), 3u);
}

TEST(AuthenticateLogin, APasswordWithCrLfUsesANonSynchronizingLiteralWithLiteralPlus) {
  Greeted g("IMAP4rev1 LITERAL+");
  const Credentials creds{"probe", "a\r\nb"};
  g.t.client("A0001 LOGIN \"probe\" {4+}\r\na\r\nb\r\n").server("A0001 OK\r\n");
  run_awaitable(authenticate(g.client, Mechanism::Login, creds));
  expect_played(g.t);
  // No round trip for the literal: the whole command in one write.
  EXPECT_EQ(g.t.writes(), (Writes{"A0001 LOGIN \"probe\" {4+}\r\na\r\nb\r\n"}));
}

TEST(AuthenticateLogin, ALiteralRefusedInsteadOfThePlusIsAuthFailed) {
  Greeted g("IMAP4rev1");
  const Credentials creds{"probe",
                          "p\xE4"
                          "ss"};
  g.t.client("A0001 LOGIN \"probe\" {4}\r\n").server("A0001 BAD literal refused\r\n");
  const StepFailure f = step_failure(authenticate(g.client, Mechanism::Login, creds));
  EXPECT_EQ(f.reason, Reason::AuthFailed);
  EXPECT_EQ(f.message, "login as probe failed: literal refused");
  expect_played(g.t);
  // The literal itself was never sent.
  EXPECT_EQ(g.t.sent(), "A0001 LOGIN \"probe\" {4}\r\n");
}

TEST(AuthenticateLogin, LoginDisabledSendsNothing) {
  Greeted g("IMAP4rev1 STARTTLS LOGINDISABLED");
  const StepFailure f = step_failure(authenticate(g.client, Mechanism::Login, kCreds));
  EXPECT_EQ(f.reason, Reason::AuthMechanismUnavailable);
  EXPECT_EQ(f.message, "server advertises LOGINDISABLED");
  EXPECT_EQ(g.t.sent(), "");
  EXPECT_EQ(g.t.operations(), 1u);  // the greeting only
}

TEST(AuthenticateLogin, ATaggedNoWithoutACodeIsAuthFailed) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 LOGIN \"probe\" \"s3cret-pw\"\r\n").server("A0001 NO Login failed.\r\n");
  const StepFailure f = step_failure(authenticate(g.client, Mechanism::Login, kCreds));
  EXPECT_EQ(f.reason, Reason::AuthFailed);
  EXPECT_EQ(f.message, "login as probe failed: Login failed.");
  expect_no_secret(f.message, kCreds);
  expect_played(g.t);
}

TEST(AuthenticateLogin, ATaggedNoWithAuthenticationFailedIsAuthFailed) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 LOGIN \"probe\" \"s3cret-pw\"\r\n")
      .server("A0001 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
  const StepFailure f = step_failure(authenticate(g.client, Mechanism::Login, kCreds));
  EXPECT_EQ(f.reason, Reason::AuthFailed);
  EXPECT_EQ(f.message, "login as probe failed: [AUTHENTICATIONFAILED] Authentication failed.");
  expect_no_secret(f.message, kCreds);
}

TEST(AuthenticateLogin, NoReplyIsLoginTimeoutNamingLogin) {
  Greeted g("IMAP4rev1");
  g.t.client("A0001 LOGIN \"probe\" \"s3cret-pw\"\r\n")
      .server("A0001 OK\r\n")
      .fail_at(3, net::IoFailure::TimedOut);  // greeting, LOGIN sent, its reply
  const StepFailure f = step_failure(authenticate(g.client, Mechanism::Login, kCreds));
  EXPECT_EQ(f.reason, Reason::LoginTimeout);
  EXPECT_TRUE(
      std::regex_match(f.message, std::regex("no reply to LOGIN within [0-9.]+(ns|us|ms|s)")))
      << f.message;
  expect_no_secret(f.message, kCreds);
}

// ---- PLAIN ----

TEST(AuthenticatePlain, WithSaslIrTheInitialResponseIsOnTheCommandLine) {
  Greeted g("IMAP4rev1 SASL-IR AUTH=PLAIN");
  g.t.client("A0001 AUTHENTICATE PLAIN " + std::string(kPlainB64) + "\r\n")
      .server("A0001 OK logged in\r\n");
  run_awaitable(authenticate(g.client, Mechanism::Plain, kCreds));
  expect_played(g.t);
  EXPECT_EQ(g.t.writes().size(), 1u);
  EXPECT_EQ(imap::base64_decode(kPlainB64), std::string("\0probe\0s3cret-pw", 16));
}

TEST(AuthenticatePlain, WithoutSaslIrTheInitialResponseWaitsForThePlus) {
  Greeted g("IMAP4rev1 AUTH=PLAIN");
  g.t.client("A0001 AUTHENTICATE PLAIN\r\n")
      .server("+ \r\n")
      .client(std::string(kPlainB64) + "\r\n")
      .server("A0001 OK logged in\r\n");
  run_awaitable(authenticate(g.client, Mechanism::Plain, kCreds));
  expect_played(g.t);
  EXPECT_EQ(g.t.writes(),
            (Writes{"A0001 AUTHENTICATE PLAIN\r\n", std::string(kPlainB64) + "\r\n"}));
}

TEST(AuthenticatePlain, ARefusalBeforeThePlusIsAuthFailedAndSendsNoCredentials) {
  Greeted g("IMAP4rev1 AUTH=PLAIN");
  g.t.client("A0001 AUTHENTICATE PLAIN\r\n").server("A0001 NO [UNAVAILABLE] try later\r\n");
  const StepFailure f = step_failure(authenticate(g.client, Mechanism::Plain, kCreds));
  EXPECT_EQ(f.reason, Reason::AuthFailed);
  EXPECT_EQ(f.message, "login as probe failed: [UNAVAILABLE] try later");
  EXPECT_EQ(g.t.sent(), "A0001 AUTHENTICATE PLAIN\r\n");
}

TEST(AuthenticatePlain, ATaggedNoWithAndWithoutCodeIsAuthFailed) {
  for (const std::string& no :
       {std::string("A0001 NO Authentication failed.\r\n"),
        std::string("A0001 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")}) {
    Greeted g("IMAP4rev1 SASL-IR AUTH=PLAIN");
    g.t.client("A0001 AUTHENTICATE PLAIN " + std::string(kPlainB64) + "\r\n").server(no);
    const StepFailure f = step_failure(authenticate(g.client, Mechanism::Plain, kCreds));
    EXPECT_EQ(f.reason, Reason::AuthFailed) << no;
    EXPECT_EQ(f.message, "login as probe failed: " + no.substr(9, no.size() - 11));
    expect_no_secret(f.message, kCreds);
    EXPECT_EQ(f.message.find(kPlainB64), std::string::npos) << f.message;
    expect_played(g.t);
  }
}

TEST(AuthenticatePlain, NoReplyIsLoginTimeoutNamingTheMechanism) {
  Greeted g("IMAP4rev1 SASL-IR AUTH=PLAIN");
  g.t.client("A0001 AUTHENTICATE PLAIN " + std::string(kPlainB64) + "\r\n")
      .fail_at(3, net::IoFailure::TimedOut);
  const StepFailure f = step_failure(authenticate(g.client, Mechanism::Plain, kCreds));
  EXPECT_EQ(f.reason, Reason::LoginTimeout);
  EXPECT_TRUE(std::regex_match(
      f.message, std::regex("no reply to AUTHENTICATE PLAIN within [0-9.]+(ns|us|ms|s)")))
      << f.message;
}

// ---- XOAUTH2 ----

const Credentials kOauth{"someuser@example.com", "ya29.s3cret-token"};
// base64("user=someuser@example.com\x01" "auth=Bearer ya29.s3cret-token\x01\x01")
constexpr const char* kXoauth2B64 =
    "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnMzY3JldC10b2tlbgEB";
// base64 of Google's error JSON:
// {"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}
constexpr const char* kXoauth2Error =
    "eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8i"
    "fQ==";

TEST(AuthenticateXoauth2, AnErrorChallengeIsAnsweredWithAnEmptyLineThenAuthFailed) {
  Greeted g("IMAP4rev1 SASL-IR AUTH=XOAUTH2");
  g.t.client("A0001 AUTHENTICATE XOAUTH2 " + std::string(kXoauth2B64) + "\r\n")
      .server("+ " + std::string(kXoauth2Error) + "\r\n")
      .client("\r\n")
      .server("A0001 NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)\r\n");
  const StepFailure f = step_failure(authenticate(g.client, Mechanism::XOAuth2, kOauth));
  EXPECT_EQ(f.reason, Reason::AuthFailed);
  EXPECT_EQ(f.message,
            "login as someuser@example.com failed: [AUTHENTICATIONFAILED] Invalid credentials "
            "(Failure) (token refused: status 400, schemes Bearer, scope "
            "https://mail.google.com/)");
  expect_no_secret(f.message, kOauth);
  expect_played(g.t);
  EXPECT_EQ(g.t.writes(),
            (Writes{"A0001 AUTHENTICATE XOAUTH2 " + std::string(kXoauth2B64) + "\r\n", "\r\n"}));
}

TEST(AuthenticateXoauth2, WithoutSaslIrTheTokenWaitsForThePlus) {
  Greeted g("IMAP4rev1 AUTH=XOAUTH2");
  g.t.client("A0001 AUTHENTICATE XOAUTH2\r\n")
      .server("+ \r\n")
      .client(std::string(kXoauth2B64) + "\r\n")
      .server("A0001 OK Thats all she wrote!\r\n");
  run_awaitable(authenticate(g.client, Mechanism::XOAuth2, kOauth));
  expect_played(g.t);
  EXPECT_EQ(imap::base64_decode(kXoauth2B64),
            "user=someuser@example.com\x01"
            "auth=Bearer ya29.s3cret-token\x01\x01");
}

// ---- CRAM-MD5 (RFC 2195 section 2) ----

TEST(AuthenticateCramMd5, Rfc2195Example) {
  // SASL-IR is offered but CRAM-MD5 has no initial response: the command
  // goes alone and the client answers the challenge.
  Greeted g("IMAP4rev1 SASL-IR AUTH=CRAM-MD5");
  const Credentials creds{"tim", "tanstaaftanstaaf"};
  const std::string challenge = "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+";
  const std::string response = "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw";
  EXPECT_EQ(imap::base64_decode(challenge), "<1896.697170952@postoffice.reston.mci.net>");
  EXPECT_EQ(imap::base64_decode(response), "tim b913a602c7eda7a495b4e6e7334d3890");
  g.t.client("A0001 AUTHENTICATE CRAM-MD5\r\n")
      .server("+ " + challenge + "\r\n")
      .client(response + "\r\n")
      .server("A0001 OK CRAM authentication successful\r\n");
  run_awaitable(authenticate(g.client, Mechanism::CramMD5, creds));
  expect_played(g.t);
  EXPECT_EQ(g.t.writes(), (Writes{"A0001 AUTHENTICATE CRAM-MD5\r\n", response + "\r\n"}));
}

TEST(AuthenticateCramMd5, ARefusedResponseIsAuthFailed) {
  Greeted g("IMAP4rev1 AUTH=CRAM-MD5");
  const Credentials creds{"tim", "tanstaaftanstaaf"};
  g.t.client("A0001 AUTHENTICATE CRAM-MD5\r\n")
      .server("+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n")
      .client("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n")
      .server("A0001 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
  const StepFailure f = step_failure(authenticate(g.client, Mechanism::CramMD5, creds));
  EXPECT_EQ(f.reason, Reason::AuthFailed);
  EXPECT_EQ(f.message, "login as tim failed: [AUTHENTICATIONFAILED] Authentication failed.");
  expect_no_secret(f.message, creds);
}

TEST(AuthenticateCramMd5, AChallengeThatIsNotBase64IsASaslErrorAndNothingIsAnswered) {
  Greeted g("IMAP4rev1 AUTH=CRAM-MD5");
  const Credentials creds{"tim", "tanstaaftanstaaf"};
  g.t.client("A0001 AUTHENTICATE CRAM-MD5\r\n").server("+ not*base64\r\n");
  try {
    run_awaitable(authenticate(g.client, Mechanism::CramMD5, creds));
    FAIL() << "no SaslError";
  } catch (const imap::SaslError& e) {
    EXPECT_NE(std::string(e.what()).find("\"not*base64\""), std::string::npos) << e.what();
    expect_no_secret(e.what(), creds);
  }
  EXPECT_EQ(g.t.sent(), "A0001 AUTHENTICATE CRAM-MD5\r\n");
}

// ---- SCRAM-SHA-256 (RFC 7677 section 3) ----

const Credentials kScram{"user", "pencil"};
constexpr const char* kScramNonce = "rOprNGfwEbeRWgbNEkqO";
// base64("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
constexpr const char* kClientFirst = "biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=";
// base64("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
constexpr const char* kServerFirst =
    "cj1yT3ByTkdmd0ViZVJXZ2JORWtxTyVodllEcFdVYTJSYVRDQWZ1eEZJbGopaE5sRiRrMCxzPVcyMlphSjBTTlk3c29F"
    "c1VFamI2Z1E9PSxpPTQwOTY=";
// base64("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
//        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
constexpr const char* kClientFinal =
    "Yz1iaXdzLHI9ck9wck5HZndFYmVSV2diTkVrcU8laHZZRHBXVWEyUmFUQ0FmdXhGSWxqKWhObEYkazAscD1kSHpiWmFw"
    "V0lrNGpVaE4rVXRlOXl0YWc5empmTUhnc3FtbWl6N0FuZFZRPQ==";
// base64("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
constexpr const char* kServerFinal =
    "dj02cnJpVFJCaTIzV3BSUi93dHVwK21NaFVaVW4vZEI1bkxUSlJzamw5NUc0PQ==";
// The same with the signature's last byte changed ("...95G8=").
constexpr const char* kWrongServerFinal =
    "dj02cnJpVFJCaTIzV3BSUi93dHVwK21NaFVaVW4vZEI1bkxUSlJzamw5NUc4PQ==";

// Up to and including the client's proof, without SASL-IR.
void script_scram_to_proof(testing::ScriptedTransport& t) {
  t.client("A0001 AUTHENTICATE SCRAM-SHA-256\r\n")
      .server("+ \r\n")
      .client(std::string(kClientFirst) + "\r\n")
      .server("+ " + std::string(kServerFirst) + "\r\n")
      .client(std::string(kClientFinal) + "\r\n");
}

TEST(AuthenticateScramSha256, Rfc7677ExchangeWithoutSaslIr) {
  Greeted g("IMAP4rev1 AUTH=SCRAM-SHA-256");
  script_scram_to_proof(g.t);
  g.t.server("+ " + std::string(kServerFinal) + "\r\n")
      .client("\r\n")
      .server("A0001 OK SCRAM-SHA-256 authentication successful\r\n");
  run_awaitable(authenticate(g.client, Mechanism::ScramSHA256, kScram, kScramNonce));
  expect_played(g.t);
  EXPECT_EQ(g.t.writes(),
            (Writes{"A0001 AUTHENTICATE SCRAM-SHA-256\r\n", std::string(kClientFirst) + "\r\n",
                    std::string(kClientFinal) + "\r\n", "\r\n"}));
}

TEST(AuthenticateScramSha256, Rfc7677ExchangeWithSaslIr) {
  Greeted g("IMAP4rev1 SASL-IR AUTH=SCRAM-SHA-256");
  g.t.client("A0001 AUTHENTICATE SCRAM-SHA-256 " + std::string(kClientFirst) + "\r\n")
      .server("+ " + std::string(kServerFirst) + "\r\n")
      .client(std::string(kClientFinal) + "\r\n")
      .server("+ " + std::string(kServerFinal) + "\r\n")
      .client("\r\n")
      .server("A0001 OK done\r\n");
  run_awaitable(authenticate(g.client, Mechanism::ScramSHA256, kScram, kScramNonce));
  expect_played(g.t);
  EXPECT_EQ(g.t.writes().size(), 3u);
}

TEST(AuthenticateScramSha256, AWrongServerSignatureIsASaslErrorAndNotAcknowledged) {
  Greeted g("IMAP4rev1 AUTH=SCRAM-SHA-256");
  script_scram_to_proof(g.t);
  g.t.server("+ " + std::string(kWrongServerFinal) + "\r\n");
  // The session maps imap::SaslError to AuthFailed ("SASL exchange failed: ...").
  try {
    run_awaitable(authenticate(g.client, Mechanism::ScramSHA256, kScram, kScramNonce));
    FAIL() << "no SaslError";
  } catch (const imap::SaslError& e) {
    EXPECT_STREQ(e.what(), "SCRAM: server signature mismatch (server does not know the password)");
  }
  expect_played(g.t);
  // The empty line that would accept the server's proof was not sent.
  EXPECT_EQ(g.t.writes().back(), std::string(kClientFinal) + "\r\n");
}

TEST(AuthenticateScramSha256, ATaggedOkWithoutTheServerSignatureIsAuthFailed) {
  Greeted g("IMAP4rev1 AUTH=SCRAM-SHA-256");
  script_scram_to_proof(g.t);
  g.t.server("A0001 OK logged in\r\n");
  const StepFailure f =
      step_failure(authenticate(g.client, Mechanism::ScramSHA256, kScram, kScramNonce));
  EXPECT_EQ(f.reason, Reason::AuthFailed);
  EXPECT_EQ(f.message, "server completed SCRAM without sending its signature");
  expect_played(g.t);
}

TEST(AuthenticateScramSha256, ATaggedNoAfterTheProofIsAuthFailed) {
  Greeted g("IMAP4rev1 AUTH=SCRAM-SHA-256");
  script_scram_to_proof(g.t);
  g.t.server("A0001 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
  const StepFailure f =
      step_failure(authenticate(g.client, Mechanism::ScramSHA256, kScram, kScramNonce));
  EXPECT_EQ(f.reason, Reason::AuthFailed);
  EXPECT_EQ(f.message, "login as user failed: [AUTHENTICATIONFAILED] Authentication failed.");
  expect_no_secret(f.message, kScram);
  expect_played(g.t);
}

TEST(AuthenticateScramSha256, AServerErrorInServerFinalIsASaslErrorNamingIt) {
  Greeted g("IMAP4rev1 AUTH=SCRAM-SHA-256");
  script_scram_to_proof(g.t);
  g.t.server("+ " + imap::base64_encode("e=invalid-proof") + "\r\n");
  try {
    run_awaitable(authenticate(g.client, Mechanism::ScramSHA256, kScram, kScramNonce));
    FAIL() << "no SaslError";
  } catch (const imap::SaslError& e) {
    EXPECT_STREQ(e.what(), "SCRAM: server error: invalid-proof");
    expect_no_secret(e.what(), kScram);
  }
}

// ---- mechanisms the server does not offer ----

TEST(Authenticate, AMechanismTheServerDoesNotOfferSendsNothingAndListsTheCapabilities) {
  const std::pair<Mechanism, std::string> cases[] = {
      {Mechanism::Plain, "PLAIN"},
      {Mechanism::XOAuth2, "XOAUTH2"},
      {Mechanism::CramMD5, "CRAM-MD5"},
      {Mechanism::ScramSHA256, "SCRAM-SHA-256"},
  };
  for (const auto& [mechanism, name] : cases) {
    Greeted g("IMAP4rev1 SASL-IR AUTH=GSSAPI");
    const StepFailure f = step_failure(authenticate(g.client, mechanism, kCreds));
    EXPECT_EQ(f.reason, Reason::AuthMechanismUnavailable) << name;
    EXPECT_EQ(f.message, "server does not offer AUTH=" + name +
                             " (capabilities: IMAP4REV1 SASL-IR AUTH=GSSAPI)");
    EXPECT_EQ(g.t.sent(), "") << name;
  }
}

TEST(Authenticate, APlainOfferDoesNotStandForAnother) {
  // AUTH=PLAIN-CLIENTTOKEN is not AUTH=PLAIN.
  Greeted g("IMAP4rev1 AUTH=PLAIN-CLIENTTOKEN AUTH=SCRAM-SHA-256-PLUS");
  for (Mechanism m : {Mechanism::Plain, Mechanism::ScramSHA256}) {
    const StepFailure f = step_failure(authenticate(g.client, m, kCreds));
    EXPECT_EQ(f.reason, Reason::AuthMechanismUnavailable) << f.message;
  }
  EXPECT_EQ(g.t.sent(), "");
}

// ---- the secret stays out of every message ----

struct Healthy {
  Mechanism mechanism;
  std::string capabilities;
  Credentials creds;
  void (*script)(testing::ScriptedTransport&);
  std::string scram_nonce = {};
};

TEST(Authenticate, AFailureAtAnyOperationNamesNoSecret) {
  const Healthy cases[] = {
      {Mechanism::Login, "IMAP4rev1", kCreds,
       [](testing::ScriptedTransport& t) {
         t.client("A0001 LOGIN \"probe\" \"s3cret-pw\"\r\n").server("A0001 OK\r\n");
       }},
      {Mechanism::Login, "IMAP4rev1", Credentials{"probe", "s3cret\xE4"},
       [](testing::ScriptedTransport& t) {
         t.client("A0001 LOGIN \"probe\" {7}\r\n")
             .server("+ \r\n")
             .client("s3cret\xE4\r\n")
             .server("A0001 OK\r\n");
       }},
      {Mechanism::Plain, "IMAP4rev1 AUTH=PLAIN", kCreds,
       [](testing::ScriptedTransport& t) {
         t.client("A0001 AUTHENTICATE PLAIN\r\n")
             .server("+ \r\n")
             .client(std::string(kPlainB64) + "\r\n")
             .server("A0001 OK\r\n");
       }},
      {Mechanism::XOAuth2, "IMAP4rev1 SASL-IR AUTH=XOAUTH2", kOauth,
       [](testing::ScriptedTransport& t) {
         t.client("A0001 AUTHENTICATE XOAUTH2 " + std::string(kXoauth2B64) + "\r\n")
             .server("+ " + std::string(kXoauth2Error) + "\r\n")
             .client("\r\n")
             .server("A0001 NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)\r\n");
       }},
      {Mechanism::CramMD5, "IMAP4rev1 AUTH=CRAM-MD5", Credentials{"tim", "tanstaaftanstaaf"},
       [](testing::ScriptedTransport& t) {
         t.client("A0001 AUTHENTICATE CRAM-MD5\r\n")
             .server("+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n")
             .client("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n")
             .server("A0001 OK\r\n");
       }},
      {Mechanism::ScramSHA256, "IMAP4rev1 AUTH=SCRAM-SHA-256", kScram,
       [](testing::ScriptedTransport& t) {
         script_scram_to_proof(t);
         t.server("+ " + std::string(kServerFinal) + "\r\n").client("\r\n").server("A0001 OK\r\n");
       },
       kScramNonce},
  };
  for (const Healthy& h : cases) {
    std::size_t operations = 0;
    {
      Greeted g(h.capabilities);
      h.script(g.t);
      try {
        run_awaitable(authenticate(g.client, h.mechanism, h.creds, h.scram_nonce));
      } catch (const StepFailure&) {
        // XOAUTH2's script ends in a refusal.
      }
      expect_played(g.t);
      operations = g.t.operations();
    }
    for (auto kind : {net::IoFailure::TimedOut, net::IoFailure::Closed, net::IoFailure::Reset,
                      net::IoFailure::Tls, net::IoFailure::Other}) {
      for (std::size_t op = 2; op <= operations; ++op) {
        SCOPED_TRACE(std::string(to_string(h.mechanism)) + " operation " + std::to_string(op) +
                     " kind " + std::to_string(static_cast<int>(kind)));
        Greeted g(h.capabilities);
        h.script(g.t);
        g.t.fail_at(op, kind);
        const StepFailure f =
            step_failure(authenticate(g.client, h.mechanism, h.creds, h.scram_nonce));
        EXPECT_NE(f.reason, Reason::InternalError);
        EXPECT_FALSE(f.message.empty());
        expect_no_secret(f.message, h.creds);
        if (kind == net::IoFailure::TimedOut) {
          EXPECT_EQ(f.reason, Reason::LoginTimeout);
        }
      }
    }
  }
}

}  // namespace
}  // namespace imapprobe::probe

namespace imapprobe::probe {
namespace {

const Credentials kBearer{"probe,1=x@example.com", "eyJhbGciOi.s3cret.token"};
// RFC 7628: gs2 header with the saslname-escaped authzid, then kvpairs.
const std::string kBearerB64 =
    imap::base64_encode(std::string("n,a=probe=2C1=3Dx@example.com,\x01"
                                    "auth=Bearer eyJhbGciOi.s3cret.token\x01\x01"));

TEST(AuthenticateOauthBearer, TheTokenGoesInTheFirstMessage) {
  Greeted g("IMAP4rev1 SASL-IR AUTH=OAUTHBEARER");
  g.t.client("A0001 AUTHENTICATE OAUTHBEARER " + kBearerB64 + "\r\n")
      .server("A0001 OK Logged in\r\n");
  testing::run_awaitable(authenticate(g.client, Mechanism::OAuthBearer, kBearer));
  EXPECT_EQ(g.t.mismatch(), "");
  EXPECT_TRUE(g.t.finished());
}

TEST(AuthenticateOauthBearer, ARefusedTokenIsAcknowledgedWithCtrlAAndItsErrorNamed) {
  Greeted g("IMAP4rev1 SASL-IR AUTH=OAUTHBEARER");
  g.t.client("A0001 AUTHENTICATE OAUTHBEARER " + kBearerB64 + "\r\n")
      .server("+ " + imap::base64_encode(R"({"status":"invalid_token","scope":"mail"})") + "\r\n")
      .client("AQ==\r\n")
      .server("A0001 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
  const StepFailure f = test::step_failure(authenticate(g.client, Mechanism::OAuthBearer, kBearer));
  EXPECT_EQ(f.reason, Reason::AuthFailed);
  EXPECT_EQ(f.message,
            "login as probe,1=x@example.com failed: [AUTHENTICATIONFAILED] Authentication failed. "
            "(token refused: status invalid_token, scope mail)");
  EXPECT_EQ(f.message.find("s3cret"), std::string::npos);
  EXPECT_TRUE(g.t.finished());
}

TEST(AuthenticateOauthBearer, NotOfferedIsAuthMechanismUnavailable) {
  Greeted g("IMAP4rev1 SASL-IR AUTH=XOAUTH2");
  EXPECT_EQ(test::step_failure(authenticate(g.client, Mechanism::OAuthBearer, kBearer)).reason,
            Reason::AuthMechanismUnavailable);
}

TEST(OauthErrorSummary, OnlyTheKnownFieldsOfJsonAreKept) {
  EXPECT_EQ(imap::oauth_error_summary(imap::base64_encode(
                R"({"status":"401","schemes":"bearer","scope":"mail","token":"leak"})")),
            "status 401, schemes bearer, scope mail");
  EXPECT_EQ(imap::oauth_error_summary(imap::base64_encode("not json")), "");
  EXPECT_EQ(imap::oauth_error_summary("***"), "");
}

}  // namespace
}  // namespace imapprobe::probe
