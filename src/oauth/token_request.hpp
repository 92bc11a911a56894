// The token request (RFC 6749 4.4 client credentials, 6 refresh) with the
// three ways a client proves who it is: HTTP Basic and form fields (2.3.1)
// and a signed JWT (RFC 7523 2.2, "private_key_jwt" in OpenID Connect,
// Microsoft Entra ID's certificate credentials).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imapprobe::oauth {

enum class Grant { ClientCredentials, RefreshToken };
enum class ClientAuth { Basic, Post, PrivateKeyJwt };

std::string_view to_string(Grant g);       // "ClientCredentials", "RefreshToken" (CRD spellings)
std::string_view grant_type(Grant g);      // "client_credentials", "refresh_token"
std::string_view to_string(ClientAuth a);  // "Basic", "Post", "PrivateKeyJwt"
// Case-insensitive CRD spellings; std::invalid_argument listing the allowed values.
Grant parse_grant(std::string_view);
ClientAuth parse_client_auth(std::string_view);

struct TokenRequestParams {
  Grant grant = Grant::ClientCredentials;
  ClientAuth auth = ClientAuth::Basic;
  std::string client_id;
  std::string client_secret;        // Basic, Post
  std::string client_assertion;     // PrivateKeyJwt: a JWT from client_assertion()
  std::string refresh_token;        // RefreshToken grant
  std::vector<std::string> scopes;  // joined with spaces; omitted when empty
};

struct FormRequest {
  std::string body;  // application/x-www-form-urlencoded (kFormContentType)
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. Authorization for Basic
};

// Fields in the order grant_type, refresh_token, scope, then the client's.
// Basic: Authorization header, client_id not in the body; Post: client_id
// and client_secret in the body; PrivateKeyJwt: client_id,
// client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer,
// client_assertion. A public client (empty secret, Basic or Post) sends
// client_id in the body only. Throws std::invalid_argument for a missing
// client_id, refresh token or assertion, or a scope that is not an RFC 6749
// 3.3 scope-token; the message names the field, never a secret's value.
FormRequest token_request(const TokenRequestParams& p);

}  // namespace imapprobe::oauth
