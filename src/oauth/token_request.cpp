#include "oauth/token_request.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "oauth/excerpt.hpp"
#include "oauth/form.hpp"

namespace imapprobe::oauth {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
bool is_scope_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x21 && c <= 0x7e && c != '"' && c != '\\';
  });
}

}  // namespace

std::string_view to_string(Grant g) {
  return g == Grant::RefreshToken ? "RefreshToken" : "ClientCredentials";
}

std::string_view grant_type(Grant g) {
  return g == Grant::RefreshToken ? "refresh_token" : "client_credentials";
}

std::string_view to_string(ClientAuth a) {
  switch (a) {
    case ClientAuth::Post:
      return "Post";
    case ClientAuth::PrivateKeyJwt:
      return "PrivateKeyJwt";
    case ClientAuth::Basic:
      break;
  }
  return "Basic";
}

Grant parse_grant(std::string_view s) {
  for (const Grant g : {Grant::ClientCredentials, Grant::RefreshToken}) {
    if (iequals(s, to_string(g))) return g;
  }
  throw std::invalid_argument("unknown OAuth grant \"" + detail::printable(s, 40) +
                              "\" (expected ClientCredentials or RefreshToken)");
}

ClientAuth parse_client_auth(std::string_view s) {
  for (const ClientAuth a : {ClientAuth::Basic, ClientAuth::Post, ClientAuth::PrivateKeyJwt}) {
    if (iequals(s, to_string(a))) return a;
  }
  throw std::invalid_argument("unknown OAuth client authentication \"" + detail::printable(s, 40) +
                              "\" (expected Basic, Post or PrivateKeyJwt)");
}

FormRequest token_request(const TokenRequestParams& p) {
  if (p.client_id.empty()) throw std::invalid_argument("OAuth token request: client_id is empty");
  std::vector<std::pair<std::string, std::string>> fields;
  fields.emplace_back("grant_type", grant_type(p.grant));
  if (p.grant == Grant::RefreshToken) {
    if (p.refresh_token.empty()) {
      throw std::invalid_argument(
          "OAuth token request: the RefreshToken grant needs a refresh token");
    }
    fields.emplace_back("refresh_token", p.refresh_token);
  }
  if (!p.scopes.empty()) {
    std::string scope;
    for (const auto& s : p.scopes) {
      if (!is_scope_token(s)) {
        // Scopes are configuration, not secrets: quoted to be found.
        throw std::invalid_argument("OAuth token request: scope \"" + detail::printable(s, 60) +
                                    "\" is empty or has a space, quote or backslash");
      }
      if (!scope.empty()) scope += ' ';
      scope += s;
    }
    fields.emplace_back("scope", scope);
  }
  FormRequest out;
  switch (p.auth) {
    case ClientAuth::Basic:
      if (p.client_secret.empty()) {
        // A public client has no secret to put in a header (RFC 6749 3.2.1).
        fields.emplace_back("client_id", p.client_id);
      } else {
        out.headers.emplace_back("Authorization",
                                 basic_authorization(p.client_id, p.client_secret));
      }
      break;
    case ClientAuth::Post:
      fields.emplace_back("client_id", p.client_id);
      if (!p.client_secret.empty()) fields.emplace_back("client_secret", p.client_secret);
      break;
    case ClientAuth::PrivateKeyJwt:
      if (p.client_assertion.empty()) {
        throw std::invalid_argument("OAuth token request: PrivateKeyJwt needs a client assertion");
      }
      // client_id is optional in RFC 7523 but Microsoft Entra ID asks for it.
      fields.emplace_back("client_id", p.client_id);
      fields.emplace_back("client_assertion_type",
                          "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
      fields.emplace_back("client_assertion", p.client_assertion);
      break;
  }
  out.body = form_body(fields);
  return out;
}

}  // namespace imapprobe::oauth
