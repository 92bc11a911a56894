#include "imap/sasl.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>

namespace imapprobe::imap {
namespace {

using namespace std::string_literals;

// ---- base64 ----

TEST(Base64, Rfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded), plain) << encoded;
  }
}

TEST(Base64, BinaryRoundTrips) {
  std::mt19937 rng(42);
  // Sizes cross the internal chunk boundaries of encoder and decoder.
  for (std::size_t size :
       {0u, 1u, 2u, 3u, 4u, 5u, 31u, 32u, 33u, 255u, 3071u, 3072u, 3073u, 4096u, 10000u}) {
    std::string bytes(size, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    const std::string encoded = base64_encode(bytes);
    EXPECT_EQ(encoded.size(), (size + 2) / 3 * 4);
    EXPECT_EQ(base64_decode(encoded), bytes) << size;
  }
  EXPECT_EQ(base64_decode("AA=="), "\0"s);
  EXPECT_EQ(base64_decode("AAA="), "\0\0"s);
  EXPECT_EQ(base64_decode("AAAA"), "\0\0\0"s);
}

TEST(Base64, RejectsInvalidInput) {
  for (const char* bad : {"Zg=", "Z", "Zm9", "Z===", "====", "=Zm9", "Zg=a", "Zm9v!", "Zm 9v",
                          "Zm9v\r\n", " Zm9v", "Zg==Zg==", "Zm9v-_==", "Zm\xc3\xa4"}) {
    EXPECT_THROW(base64_decode(bad), SaslError) << bad;
  }
  EXPECT_THROW(base64_decode("Zm9v\0\0\0\0"s), SaslError);
}

// ---- PLAIN, XOAUTH2, CRAM-MD5 ----

TEST(SaslPlain, ExactBytes) {
  EXPECT_EQ(sasl_plain("tim", "tanstaaftanstaaf"), "\0tim\0tanstaaftanstaaf"s);
  EXPECT_EQ(sasl_plain("tim", "secret", "admin"), "admin\0tim\0secret"s);
  EXPECT_EQ(base64_encode(sasl_plain("user", "pass")), "AHVzZXIAcGFzcw==");
}

TEST(SaslXoauth2, ExactBytes) {
  EXPECT_EQ(
      xoauth2_initial("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"),
      "user=someuser@example.com\x01"
      "auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"s);
  // The base64 form documented by Google for this example.
  EXPECT_EQ(base64_encode(xoauth2_initial("someuser@example.com",
                                          "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQm"
            "hkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
}

TEST(CramMd5, Rfc2195Example) {
  const std::string challenge =
      base64_decode("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+");
  EXPECT_EQ(challenge, "<1896.697170952@postoffice.reston.mci.net>");
  const std::string response = cram_md5_response("tim", "tanstaaftanstaaf", challenge);
  EXPECT_EQ(response, "tim b913a602c7eda7a495b4e6e7334d3890");
  EXPECT_EQ(base64_encode(response), "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
}

TEST(CramMd5, EmptyPasswordWorks) {
  // RFC 2104 test case 2 shape: HMAC-MD5 with a zero-length key is defined.
  EXPECT_EQ(cram_md5_response("u", "", "x").size(), 2u + 32u);
  // A default string_view has a null data pointer; OpenSSL must still see a key.
  EXPECT_EQ(cram_md5_response("u", std::string_view{}, "x"), cram_md5_response("u", "", "x"));
}

// ---- SCRAM-SHA-256 (RFC 7677 section 3) ----

constexpr const char* kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

TEST(ScramSha256, Rfc7677TestVector) {
  ScramSha256Client scram("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
  EXPECT_EQ(scram.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  EXPECT_EQ(scram.client_final(kServerFirst),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  EXPECT_NO_THROW(scram.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
}

TEST(ScramSha256, WrongServerSignatureRejected) {
  ScramSha256Client scram("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
  scram.client_first();
  scram.client_final(kServerFirst);
  // Last byte differs.
  EXPECT_THROW(scram.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G8="),
               SaslError);
  // Right length prefix only, and not base64 at all.
  EXPECT_THROW(scram.verify_server_final("v=6rriTRBi23WpRR/wtup+mA=="), SaslError);
  EXPECT_THROW(scram.verify_server_final("v=!!!!"), SaslError);
  EXPECT_THROW(scram.verify_server_final("v="), SaslError);
  EXPECT_THROW(scram.verify_server_final(""), SaslError);
  EXPECT_THROW(scram.verify_server_final("x=abcd"), SaslError);
}

TEST(ScramSha256, WrongPasswordGivesDifferentSignature) {
  ScramSha256Client scram("user", "pencil2", "rOprNGfwEbeRWgbNEkqO");
  scram.client_first();
  EXPECT_NE(scram.client_final(kServerFirst),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  EXPECT_THROW(scram.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
               SaslError);
}

TEST(ScramSha256, ServerFinalWithExtensionAccepted) {
  ScramSha256Client scram("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
  scram.client_first();
  scram.client_final(kServerFirst);
  EXPECT_NO_THROW(
      scram.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,x=ext"));
}

TEST(ScramSha256, ServerErrorReported) {
  ScramSha256Client scram("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
  scram.client_first();
  scram.client_final(kServerFirst);
  try {
    scram.verify_server_final("e=invalid-proof");
    FAIL() << "no SaslError";
  } catch (const SaslError& e) {
    EXPECT_NE(std::string(e.what()).find("invalid-proof"), std::string::npos) << e.what();
  }
}

TEST(ScramSha256, VerifyBeforeClientFinalRejected) {
  ScramSha256Client scram("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
  scram.client_first();
  EXPECT_THROW(scram.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
               SaslError);
}

TEST(ScramSha256, NonceMismatchRejected) {
  for (const char* server_first : {
           "r=XXprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
           "r=rOprNGfwEbeRWgbNEkq,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
           // An exact echo adds no server nonce.
           "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
       }) {
    ScramSha256Client scram("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
    scram.client_first();
    EXPECT_THROW(scram.client_final(server_first), SaslError) << server_first;
  }
}

TEST(ScramSha256, MalformedServerFirstRejected) {
  const std::string nonce = "r=rOprNGfwEbeRWgbNEkqOsrv";
  for (const std::string& server_first : {
           nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095",     // too few iterations
           nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000001",  // too many
           nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999",
           nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=",
           nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096x",
           nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-4096",
           nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==",             // no i=
           nonce + ",i=4096",                                 // no s=
           std::string("s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),  // no r=
           nonce + ",s=,i=4096",                              // empty salt
           nonce + ",s=not*base64,i=4096",
           "m=ext," + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  // mandatory extension
           nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,",            // empty attribute
           std::string(""),
           std::string("garbage"),
           std::string("e=other-error"),
       }) {
    ScramSha256Client scram("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
    scram.client_first();
    EXPECT_THROW(scram.client_final(server_first), SaslError) << server_first;
  }
}

TEST(ScramSha256, IterationBoundsInclusive) {
  ScramSha256Client scram("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
  scram.client_first();
  EXPECT_NO_THROW(scram.client_final("r=rOprNGfwEbeRWgbNEkqOx,s=c2FsdA==,i=4096"));
}

TEST(ScramSha256, UsernameEscaping) {
  ScramSha256Client scram("a=b,c", "pw", "abc");
  EXPECT_EQ(scram.client_first(), "n,,n=a=3Db=2Cc,r=abc");
}

TEST(ScramSha256, RandomNonce) {
  std::set<std::string> nonces;
  for (int i = 0; i < 20; ++i) {
    ScramSha256Client scram("user", "pencil");
    const std::string first = scram.client_first();
    ASSERT_EQ(first.rfind("n,,n=user,r=", 0), 0u) << first;
    const std::string nonce = first.substr(12);
    EXPECT_EQ(nonce.size(), 32u);  // base64 of 24 bytes
    EXPECT_EQ(nonce.find(','), std::string::npos);
    EXPECT_EQ(nonce.find('='), std::string::npos);
    nonces.insert(nonce);
  }
  EXPECT_EQ(nonces.size(), 20u);
}

TEST(ScramSha256, InvalidGivenNonceRejected) {
  EXPECT_THROW(ScramSha256Client("u", "p", "has,comma"), std::invalid_argument);
  EXPECT_THROW(ScramSha256Client("u", "p", "has space"), std::invalid_argument);
}

}  // namespace
}  // namespace imapprobe::imap
