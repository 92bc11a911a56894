// What a token endpoint answered (RFC 6749 5.1, 5.2), read the way real
// providers answer: Hydra's lower-case "bearer", Azure AD v1's expires_in
// as a string, Microsoft's error objects with extra members, a proxy's HTML
// page in place of JSON. The token itself never reaches a message.
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

namespace imapprobe::oauth {

struct IssuedToken {
  std::string access_token;
  std::string token_type;  // as sent ("Bearer", "bearer")
  std::optional<std::chrono::seconds> expires_in;
  std::string refresh_token;  // empty when none was issued
  std::string scope;          // space-separated, empty when the server sent none
};

// RFC 6749 5.2.
struct TokenError {
  std::string code;         // "invalid_client", ... (printable, bounded)
  std::string description;  // error_description, printable, at most 300 chars
  int http_status = 0;

  // "invalid_client (HTTP 401): Client authentication failed ...", for
  // status messages.
  std::string summary() const;
};

class TokenResponseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// 2xx with a JSON object holding a non-empty string access_token and
// token_type Bearer (any case) -> IssuedToken (expires_in may be a number or
// a numeric string; negative or absurd values are refused). Any status with
// a JSON object holding a string "error" -> TokenError (the RFC says 400 or
// 401; providers differ). Anything else throws TokenResponseError describing
// the status, the content type and, only when the body is not a JSON
// object, a short printable excerpt of it. A message never contains an
// access_token or refresh_token value.
std::variant<IssuedToken, TokenError> parse_token_response(int http_status,
                                                           std::string_view content_type,
                                                           std::string_view body);

}  // namespace imapprobe::oauth
