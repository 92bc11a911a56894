// SASL mechanisms an IMAP client needs, as pure functions over strings.
// Base64 framing is the caller's: these return and take decoded bytes.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace imapprobe::imap {

// The server's SASL exchange is malformed or its proof is wrong.
class SaslError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// encoding/base64 for SASL: strict syntax, and a decoding error is a
// SaslError quoting (an excerpt of) the server's text.
std::string base64_encode(std::string_view bytes);
std::string base64_decode(std::string_view text);

// RFC 4616: authzid NUL authcid NUL passwd.
std::string sasl_plain(std::string_view user, std::string_view password,
                       std::string_view authzid = {});

// RFC 2195: "user hex(hmac_md5(password, challenge))".
std::string cram_md5_response(std::string_view user, std::string_view password,
                              std::string_view challenge);

// Google/Microsoft XOAUTH2: "user=U\x01auth=Bearer T\x01\x01".
std::string xoauth2_initial(std::string_view user, std::string_view token);

// RFC 7628 OAUTHBEARER: "n,a=U,^Aauth=Bearer T^A^A" (no host or port: they
// are optional, and a probe would only repeat what TLS already checked).
std::string oauthbearer_initial(std::string_view user, std::string_view token);

// The error an OAuth SASL mechanism (XOAUTH2, OAUTHBEARER) sends as a
// challenge before failing, base64 JSON such as {"status":"invalid_token",
// "scope":"mail"}, as "status invalid_token, scope mail"; empty when it is not
// such JSON. Only those fields are kept: never a token.
std::string oauth_error_summary(std::string_view challenge_base64);

// RFC 5802 / RFC 7677 SCRAM-SHA-256 client, without channel binding ("n,,").
class ScramSha256Client {
 public:
  // An empty nonce means: generate 24 random bytes (tests pass a fixed one).
  ScramSha256Client(std::string user, std::string password, std::string nonce = {});
  std::string client_first();
  // Takes server-first-message, returns client-final-message.
  std::string client_final(std::string_view server_first);
  // Verifies the server signature in server-final-message; throws SaslError.
  void verify_server_final(std::string_view server_final) const;

 private:
  std::string user_;
  std::string password_;
  std::string nonce_;
  std::string client_first_bare_;
  std::string expected_server_signature_;
};

}  // namespace imapprobe::imap
