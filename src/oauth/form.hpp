// The application/x-www-form-urlencoded body a token request is (RFC 6749
// 4.4, 6) and the HTTP Basic credentials of a confidential client (2.3.1).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imapprobe::oauth {

inline constexpr std::string_view kFormContentType = "application/x-www-form-urlencoded";

// WHATWG urlencoded byte serializer: ALPHA DIGIT * - . _ kept, space as '+',
// every other byte %XX in upper case (UTF-8 passes through byte by byte).
std::string form_encode(std::string_view value);

// name=value pairs joined with '&', both sides encoded, in the given order.
std::string form_body(const std::vector<std::pair<std::string, std::string>>& fields);

// RFC 6749 2.3.1: "Basic " + base64(form_encode(id) ":" form_encode(secret)).
// The encoding is what the RFC asks and what Hydra and Keycloak decode; it
// is also what keeps a ':' inside a client id from splitting the pair.
std::string basic_authorization(std::string_view client_id, std::string_view client_secret);

}  // namespace imapprobe::oauth
